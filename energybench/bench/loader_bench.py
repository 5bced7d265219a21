"""Input pipelines: step time and samples per second, ``resident`` vs ``dataloader``, on this machine.

The same task (PAMAP2-shaped windows and CelebA-shaped native images, random
data, the real models) trains a few steps per batch size with each
``data.loader``; the ratio dataloader / resident of the median step time says
what the DataLoader (worker processes from the job's CPUs, pinned memory on
CUDA, collation and a host-to-device copy per batch) adds to every step. On a
GPU this is the idle time the study blames for small batches; on a CPU the
copy is free and what remains is collation and worker hand-off.

``python -m energybench.bench loader``; ``EB_LOADER_BENCH_STEPS`` (default 8)
sets the measured steps per point.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

#: (paradigm, batch sizes) measured; CelebA at native size is slow on a CPU, so fewer and smaller batches.
POINTS: dict[str, tuple[int, ...]] = {"pamap2-baseline": (64, 256, 1024), "celeba-identity": (16,)}
WARMUP_STEPS = 2


def _task(paradigm: str, loader: str, n: int, device: Any) -> Any:
    import torch

    from ..worker import models
    from ..worker.tasks import CelebaTask, Pamap2ClassifierTask

    g = torch.Generator().manual_seed(0)
    if paradigm == "pamap2-baseline":
        train = (torch.randn(n, 28, 256, generator=g), torch.randint(0, 12, (n,), generator=g))
        return Pamap2ClassifierTask(paradigm, models.Pamap2Classifier(28, 12), train, train, device, loader=loader)
    x = torch.randint(0, 256, (n, 3, 218, 178), generator=g, dtype=torch.uint8)
    train = (x, torch.randint(0, 40, (n,), generator=g), torch.zeros(n, 40))
    net = models.CelebaNet(models.build_resnet18("none"), {"identity": 40})
    return CelebaTask(paradigm, net, train, train, device, alpha=0.5, loader=loader)


def step_times_s(paradigm: str, loader: str, batch_size: int, steps: int, device: Any) -> list[float]:
    """Wall time of each training step (batch fetch + forward + backward + update), seconds."""
    import torch

    task = _task(paradigm, loader, batch_size * (steps + WARMUP_STEPS), device)
    optimizer = torch.optim.Adam(task.parameters_to_train(), lr=1e-3)
    task.set_train_mode()
    times: list[float] = []
    gen = torch.Generator().manual_seed(1)
    batches = task.train_batches(batch_size, gen)
    t0 = time.perf_counter()
    for i, (x, y) in enumerate(batches):
        optimizer.zero_grad(set_to_none=True)
        task.loss(x, y).backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t1 = time.perf_counter()
        if i >= WARMUP_STEPS:
            times.append(t1 - t0)
        t0 = t1
    return times


def measure(steps: int) -> list[dict[str, Any]]:
    """One row per paradigm x batch size: median step time per loader, samples/s and the ratio."""
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for paradigm, sizes in POINTS.items():
        for bs in sizes:
            med = {lo: statistics.median(step_times_s(paradigm, lo, bs, steps, device))
                   for lo in ("resident", "dataloader")}
            rows.append({"paradigm": paradigm, "batch_size": bs, "device": device.type,
                         "resident_step_s": med["resident"], "dataloader_step_s": med["dataloader"],
                         "resident_samples_per_s": bs / med["resident"],
                         "dataloader_samples_per_s": bs / med["dataloader"],
                         "step_ratio": med["dataloader"] / med["resident"]})
    return rows


def main() -> None:
    from ..worker.tasks import job_cpus, loader_workers

    steps = int(os.environ.get("EB_LOADER_BENCH_STEPS", "8"))
    print(f"input pipelines, {steps} steps per point after {WARMUP_STEPS} warm-up; dataloader with "
          f"{loader_workers(None)} workers ({job_cpus()} job CPUs)")
    print(f"{'paradigm':<16} {'batch':>5} {'dev':>4} {'resident s/step':>15} {'dataloader s/step':>17} "
          f"{'resident samples/s':>18} {'dataloader samples/s':>20} {'ratio':>6}")
    for r in measure(steps):
        print(f"{r['paradigm']:<16} {r['batch_size']:>5} {r['device']:>4} {r['resident_step_s']:>15.4f} "
              f"{r['dataloader_step_s']:>17.4f} {r['resident_samples_per_s']:>18.0f} "
              f"{r['dataloader_samples_per_s']:>20.0f} {r['step_ratio']:>6.2f}")
    print("ratio = dataloader / resident median step time (> 1: the DataLoader makes each step slower)")
