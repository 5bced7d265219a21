"""Input pipelines: step time and samples per second, ``resident`` vs ``dataloader``, on this machine.

The same task (PAMAP2-shaped windows and CelebA-shaped native images, random
data, the real models) trains a few steps per batch size with each
``data.loader``; the ratio dataloader / resident of the median step time says
what the DataLoader (worker processes from the job's CPUs, pinned memory on
CUDA, collation and a host-to-device copy per batch) adds to every step. On a
GPU this is the idle time the study blames for small batches; on a CPU the
copy is free and what remains is collation and worker hand-off.

``python -m energybench.bench loader``: interleaved rounds with an A/A
control (resident against itself) and 95 % intervals from resampled rounds;
``EB_LOADER_BENCH_STEPS`` (default 3) and ``EB_LOADER_BENCH_ROUNDS`` (default 4)
set the measured steps per mode and round and the rounds.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from ..workloads.registry import headlines

#: (dataset, batch sizes) measured with its headline workload; CelebA at native size is slow on a CPU,
#: so fewer and smaller batches.
POINTS: dict[str, tuple[int, ...]] = {"pamap2": (64, 256), "celeba": (16,)}
WARMUP_STEPS = 2


def _task(paradigm: str, loader: str, n: int, device: Any) -> Any:
    import torch

    from ..worker import models
    from ..worker.tasks import CelebaTask, Pamap2ClassifierTask

    g = torch.Generator().manual_seed(0)
    if paradigm == headlines()["pamap2"]:
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


MODES = ("resident", "resident (A/A)", "dataloader")


def measure(steps: int, rounds: int, seed: int = 0) -> list[dict[str, Any]]:
    """One row per paradigm x batch size: each mode's per-step times in interleaved, shuffled rounds.

    A round runs ``steps`` measured steps of every mode (a fresh task each, its
    warm-up steps dropped) in random order; ``resident (A/A)`` is resident
    again, the control that shows this machine's noise.
    """
    import random

    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rng = random.Random(seed)
    rows = []
    for dataset, sizes in POINTS.items():
        paradigm = headlines()[dataset]
        for bs in sizes:
            per_mode: dict[str, list[list[float]]] = {m: [] for m in MODES}
            for _ in range(rounds):
                order = list(MODES)
                rng.shuffle(order)
                for mode in order:
                    loader = "dataloader" if mode == "dataloader" else "resident"
                    per_mode[mode].append(step_times_s(paradigm, loader, bs, steps, device))
            rows.append({"paradigm": paradigm, "batch_size": bs, "device": device.type, "rounds": per_mode})
    return rows


def main() -> None:
    from ..worker.tasks import job_cpus, loader_workers
    from .stats import paired_ratio

    steps = int(os.environ.get("EB_LOADER_BENCH_STEPS", "3"))
    rounds = int(os.environ.get("EB_LOADER_BENCH_ROUNDS", "4"))
    print(f"input pipelines: {rounds} interleaved rounds x {steps} steps per mode and point (after {WARMUP_STEPS} "
          f"warm-up steps); dataloader with {loader_workers(None)} workers ({job_cpus()} job CPUs)")
    print(f"{'paradigm':<16} {'batch':>5} {'dev':>4} {'resident s/step':>15} {'dataloader s/step':>17} "
          f"{'res. samples/s':>14} {'dl samples/s':>12}  {'dataloader/resident [95%]':>26}  {'A/A [95%]':>22}")
    for r in measure(steps, rounds):
        rs = r["rounds"]
        med = {m: statistics.median(t for block in rs[m] for t in block) for m in MODES}
        ratio, lo, hi = paired_ratio(rs["dataloader"], rs["resident"])
        aa, aa_lo, aa_hi = paired_ratio(rs["resident (A/A)"], rs["resident"])
        print(f"{r['paradigm']:<16} {r['batch_size']:>5} {r['device']:>4} {med['resident']:>15.4f} "
              f"{med['dataloader']:>17.4f} {r['batch_size'] / med['resident']:>14.0f} "
              f"{r['batch_size'] / med['dataloader']:>12.0f}  {ratio:>8.3f} [{lo:.3f}, {hi:.3f}]  "
              f"{aa:>6.3f} [{aa_lo:.3f}, {aa_hi:.3f}]")
    print("ratio = dataloader / resident median step time (> 1: the DataLoader makes each step slower); a ratio "
          "whose interval overlaps the A/A control's is not resolved on this machine")
