"""Worker epoch time vs a bare torch loop on the same model and data.

The worker side is the real epoch loop (:func:`energybench.worker.train.run_epochs`)
with the sampler at its default 10 Hz, per-epoch shard writes, checkpoints and
heartbeats; the baseline is a plain loop (permutation, forward, backward, step,
then a no-grad validation pass). Blocks of epochs alternate; the figure is
wall time per epoch, worker / bare (target <= 1.10).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _spec(data_dir: Path, batch_size: int, epochs: int) -> Any:
    from ..config import parse_config
    from ..plan import plan

    cfg = {
        "name": "bench", "grid": {"batch_sizes": [batch_size], "learning_rates": [0.001]},
        "paradigms": ["pamap2-baseline"], "hardware": ["cpu"],
        "early_stopping": {"threshold": 1.0, "patience_epochs": 1000, "max_epochs": epochs},
        "training": {"device": "cpu", "threads": 1},
        "data": {"pamap2": {"path": str(data_dir), "generate": True}},
        "meter": {"kind": "auto", "period_s": 0.1, "flush_s": 5.0, "idle_s": 0},
    }
    return plan(parse_config(cfg, data_dir / "bench.yaml"))[0]


def _bare_epochs(task: Any, batch_size: int, epochs: int, seed: int) -> float:
    import torch
    import torch.nn.functional as F

    model = task.model
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    (xt, yt), (xv, yv) = task._train, task._val
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(xt), generator=g)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            correct = 0
            for i in range(0, len(xv), batch_size):
                correct += int((model(xv[i:i + batch_size]).argmax(1) == yv[i:i + batch_size]).sum())
    return (time.perf_counter() - t0) / epochs


def _worker_epochs(spec: Any, root: Path, epochs: int) -> float:
    import torch

    from ..meter import open_meter
    from ..meter.sampler import Sampler
    from ..paths import RunPaths, write_json
    from ..shards import SampleShardWriter
    from ..worker import markers
    from ..worker.tasks import build_task
    from ..worker.train import run_epochs

    run = RunPaths(root)
    write_json(run.spec, spec.to_dict())
    torch.manual_seed(spec.seed)
    task = build_task(spec, torch.device("cpu"))
    meter = open_meter("auto", device="cpu", log=lambda _: None)
    writer = SampleShardWriter(run, 1)
    sampler = Sampler(meter, run_id=spec.run_id, attempt=1, period_s=0.1, flush_s=5.0,
                      sink=writer.write)
    t0 = time.perf_counter()
    sampler.start()
    try:
        run_epochs(spec, run, 1, task, sampler, torch.device("cpu"), None,
                   lambda **p: markers.heartbeat(run, **p))
    finally:
        sampler.stop()
        meter.close()
    return (time.perf_counter() - t0) / epochs


def worker_overhead(batch_size: int = 256, epochs: int = 6, repeats: int = 3) -> dict[str, Any]:
    import torch

    from ..worker.data import ensure_data
    from ..worker.tasks import build_task

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "pamap2"
        spec = _spec(data_dir, batch_size, epochs)
        ensure_data("pamap2", spec.data)
        worker_s, bare_s = [], []
        for r in range(repeats):
            torch.manual_seed(spec.seed)
            bare_task = build_task(spec, torch.device("cpu"))
            blocks = [("worker", lambda: _worker_epochs(spec, Path(tmp) / f"run{r}", epochs)),
                      ("bare", lambda: _bare_epochs(bare_task, batch_size, epochs, spec.seed))]
            for name, fn in (blocks if r % 2 == 0 else blocks[::-1]):
                (worker_s if name == "worker" else bare_s).append(fn())
        n_train = bare_task.n_train
    return {"batch_size": batch_size, "train_windows": n_train, "epochs_per_block": epochs,
            "worker_epoch_s": statistics.median(worker_s), "bare_epoch_s": statistics.median(bare_s),
            "ratio": statistics.median(worker_s) / statistics.median(bare_s)}


def main() -> None:
    for bs in (64, 1024):
        r = worker_overhead(batch_size=bs)
        print(f"worker vs bare loop, pamap2-baseline, batch {bs}, {r['train_windows']} training windows, "
              f"CPU 1 thread: {r['worker_epoch_s'] * 1e3:.0f} ms vs {r['bare_epoch_s'] * 1e3:.0f} ms "
              f"per epoch, ratio {r['ratio']:.3f} (target <= 1.10)")
