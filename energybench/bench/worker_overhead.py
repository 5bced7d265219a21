"""Worker epoch time against a bare loop doing the same work, in interleaved rounds with an A/A control.

Both loops train one task (:func:`energybench.workloads.build_task`: the same model, the
same resident data, the same batches from the same seeded permutation, the same loss and the
optimiser of :func:`energybench.worker.train.make_optimizer`) and end every epoch with the same
evaluation (``Task.evaluate``). What differs is only what the worker adds around that work:
the sampler (10 Hz, with its boundary readings), the epoch row written to Parquet, the
early-stopping update, the checkpoint and the heartbeat. The worker side is the real epoch loop
(:func:`energybench.worker.train.run_epochs`); its epoch time runs from one epoch's end (its
heartbeat) to the next, so it includes all of that.

Modes run in rounds (one block of epochs each, in a shuffled order per round); the bare loop
runs twice per round ("bare" and "bare A/A"), so the A/A ratio shows the noise floor. Figures:
median epoch time worker / bare with a 95% interval from resampled rounds
(:func:`energybench.bench.stats.paired_ratio`), and a verdict against :data:`TARGET` (aim:
:data:`AIM`); no verdict from fewer than :data:`MIN_ROUNDS` rounds.
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..workloads.registry import headlines
from .stats import paired_ratio, verdict

TARGET = 1.10  # largest acceptable median epoch-time ratio, worker / bare
AIM = 1.05
MIN_ROUNDS = 20
MODES = ("worker", "bare", "bare A/A")

#: What both loops train: the study's headline PAMAP2 workload (a small conv net: the loop's overhead shows).
WORKLOAD = headlines()["pamap2"]


def bench_spec(data_dir: Path, batch_size: int, epochs: int, device: str = "cpu",
               threads: int | None = 1, generate: bool = True, max_windows: int | None = None) -> Any:
    """The run spec both loops train: :data:`WORKLOAD`, one batch size, ``epochs`` epochs, never stopping early."""
    from ..config import parse_config
    from ..plan import plan

    cfg = {
        "name": "bench", "grid": {"batch_sizes": [batch_size], "learning_rates": [0.001]},
        "paradigms": [WORKLOAD], "hardware": ["bench"],
        "early_stopping": {"threshold": 1.0, "patience_epochs": 1000, "max_epochs": epochs},
        "training": {"device": device, **({"threads": threads} if threads else {})},
        "data": {"pamap2": {"path": str(data_dir), "generate": generate,
                              **({"max_windows": max_windows} if max_windows else {})}},
        "meter": {"kind": "auto", "period_s": 0.1, "flush_s": 5.0, "idle_s": 0},
    }
    return plan(parse_config(cfg, Path(data_dir).parent / "bench.yaml"))[0]


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_block(spec: Any, task: Any, device: Any) -> list[float]:
    """Epoch wall times, seconds, of the plain loop: train, then ``task.evaluate``; nothing else."""
    import torch

    from ..worker.train import make_optimizer

    times = []
    _sync(device)
    t0 = time.perf_counter()
    optimizer = make_optimizer(spec, task.parameters_to_train())
    generator = torch.Generator(device="cpu").manual_seed(spec.seed)
    for _ in range(spec.early_stopping.max_epochs):
        task.set_train_mode()
        for x, y in task.train_batches(spec.batch_size, generator):
            optimizer.zero_grad(set_to_none=True)
            loss = task.loss(x, y)
            loss.backward()
            optimizer.step()
        _sync(device)
        task.evaluate(spec.batch_size)
        _sync(device)
        t1 = time.perf_counter()
        times.append(t1 - t0)
        t0 = t1
    return times


def worker_block(spec: Any, task: Any, device: Any, meter: Any, run_dir: Path) -> list[float]:
    """Epoch wall times, seconds, of the worker's epoch loop, wired as ``worker.entry`` wires it."""
    from ..meter.sampler import Sampler
    from ..paths import RunPaths
    from ..shards import SampleShardWriter
    from ..worker import markers
    from ..worker.train import run_epochs

    run = RunPaths(run_dir)
    writer = SampleShardWriter(run, 1)
    progress: dict[str, Any] = {"attempt": 1, "epoch": 0}
    stamps: list[float] = []

    def sink(batch: Any) -> None:
        writer.write(batch)
        markers.heartbeat(run, **progress)

    def on_epoch(**p: Any) -> None:
        progress.update(p)
        markers.heartbeat(run, **progress)
        stamps.append(time.perf_counter())

    sampler = Sampler(meter, run_id=spec.run_id, attempt=1, period_s=spec.meter.period_s,
                      flush_s=spec.meter.flush_s, sink=sink)
    sampler.start()  # once per run in the worker too: not part of any epoch
    try:
        _sync(device)
        t0 = time.perf_counter()
        run_epochs(spec, run, 1, task, sampler, device, None, on_epoch)
    finally:
        sampler.stop()
        shutil.rmtree(run.dir, ignore_errors=True)  # checkpoints add up over rounds; not timed
    return [b - a for a, b in zip([t0, *stamps], stamps)]


def worker_overhead(batch_size: int = 64, *, seconds: float = 60.0, epochs_per_block: int = 1,
                    device: str = "cpu", data_dir: Path | None = None, meter_kind: str = "auto",
                    threads: int | None = 1, max_windows: int | None = None, min_rounds: int = 3,
                    seed: int = 0, deadline_mono: float | None = None) -> dict[str, Any]:
    """Interleaved rounds of the worker, the bare loop and the bare loop again, for ``seconds``.

    ``data_dir``: PAMAP2 to train on (default: small generated data in a temporary folder);
    ``max_windows`` caps its windows per split.
    ``deadline_mono`` (``time.monotonic()``): no round starts that could end after it.
    Returns the rounds, per-mode median epoch times and the ratios with their 95% intervals.
    """
    import torch

    from ..meter import open_meter
    from ..worker.data import ensure_data
    from ..workloads import build_task

    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    with tempfile.TemporaryDirectory(prefix="eb-worker-bench-") as tmp:
        spec = bench_spec(Path(data_dir) if data_dir else Path(tmp) / "pamap2", batch_size, epochs_per_block,
                          device, threads, generate=data_dir is None, max_windows=max_windows)
        ensure_data("pamap2", spec.data.model_dump(mode="json"))
        torch.manual_seed(spec.seed)
        task = build_task(spec, dev)
        meter = open_meter(meter_kind, device=device, log=lambda _: None)
        blocks: dict[str, Callable[[int], list[float]]] = {
            "worker": lambda r: worker_block(spec, task, dev, meter, Path(tmp) / "runs" / f"round-{r:05d}"),
            "bare": lambda r: bare_block(spec, task, dev),
            "bare A/A": lambda r: bare_block(spec, task, dev),
        }
        rounds: dict[str, list[list[float]]] = {m: [] for m in MODES}
        try:
            for m in MODES:  # warm-up: allocator, kernels, pyarrow's and torch.save's first calls
                blocks[m](-1)
            rng = random.Random(seed)
            t_end = time.monotonic() + seconds
            round_s = block_s = 0.0
            while len(rounds["bare"]) < min_rounds or time.monotonic() + round_s < t_end:
                t_round = time.monotonic()
                order = list(MODES)
                rng.shuffle(order)
                for m in order:
                    if deadline_mono is not None and time.monotonic() + block_s > deadline_mono:
                        break  # an incomplete round is dropped below
                    t_block = time.monotonic()
                    rounds[m].append(blocks[m](len(rounds[m])))
                    block_s = max(block_s, time.monotonic() - t_block)
                else:
                    round_s = time.monotonic() - t_round
                    continue
                break
        finally:
            meter.close()
    n = min(len(r) for r in rounds.values())
    rounds = {m: r[:n] for m, r in rounds.items()}
    out: dict[str, Any] = {"batch_size": batch_size, "device": device, "threads": threads,
                           "train_windows": task.n_train, "epochs_per_block": epochs_per_block,
                           "rounds": n, "meter": meter.kind, "samples": rounds,
                           "epoch_s": {m: statistics.median(v for r in rounds[m] for v in r) if n else None
                                       for m in MODES}}
    if n:
        out["ratio"] = paired_ratio(rounds["worker"], rounds["bare"])
        out["aa_ratio"] = paired_ratio(rounds["bare A/A"], rounds["bare"])
    return out


def judge(result: dict[str, Any], target: float = TARGET) -> str:
    """"met", "NOT met", "not resolved ..." or "fewer than N rounds" for one result."""
    if result["rounds"] < MIN_ROUNDS or "ratio" not in result:
        return f"no verdict from fewer than {MIN_ROUNDS} rounds"
    _, lo, hi = result["ratio"]
    return verdict(lo, hi, target)


def describe(r: dict[str, Any]) -> list[str]:
    """The lines ``make bench`` prints for one result."""
    ep = r["epoch_s"]
    lines = [f"worker vs bare loop, {WORKLOAD}, batch {r['batch_size']}, {r['train_windows']} training "
             f"windows, {r['device']}" + (f" {r['threads']} thread(s)" if r["threads"] else "")
             + f", {r['meter']} meter; {r['rounds']} interleaved rounds x {r['epochs_per_block']} epoch(s) "
             f"per mode; median epoch: worker {ep['worker'] * 1e3:.1f} ms, bare {ep['bare'] * 1e3:.1f} ms"]
    if "ratio" in r:
        ratio, lo, hi = r["ratio"]
        aa, aa_lo, aa_hi = r["aa_ratio"]
        lines.append(f"  worker / bare   {ratio:.3f} [{lo:.3f}, {hi:.3f}]  target <= {TARGET:g}: {judge(r)}"
                     f"; aim <= {AIM:g}: {judge(r, AIM)}")
        lines.append(f"  bare A/A / bare {aa:.3f} [{aa_lo:.3f}, {aa_hi:.3f}]  (the noise floor)")
    return lines


#: Training windows of the CPU benchmark: an epoch of well under a second, so 20 rounds fit a minute.
CPU_MAX_WINDOWS = 128


def main(seconds: float = 60.0, batch_sizes: tuple[int, ...] = (64, 1024)) -> None:
    """``make bench``: both batch sizes on the CPU, one torch thread, ``seconds`` of rounds each."""
    for bs in batch_sizes:
        r = worker_overhead(bs, seconds=seconds, max_windows=CPU_MAX_WINDOWS, min_rounds=MIN_ROUNDS)
        print("\n".join(describe(r)), flush=True)
