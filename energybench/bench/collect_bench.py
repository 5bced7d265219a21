"""``collect`` on synthetic shards of the study: the full study against pandas, and 10x the study.

The generator writes the plan of ``configs/paper.yaml`` (672 runs; ``scale=10``: ten times the
repeats, 6,720 runs) into a temporary results directory in the exact worker layout, through the
worker's own writers (:func:`energybench.shards.write_table`, :class:`SampleShardWriter`): per run
``spec.json``, markers, ``run.json``, ``epochs-a<attempt>.parquet`` and the samples of a 10 Hz
meter (about 25 million in all; 250 million at 10x). Most runs hold one compacted segment; 1 in 32
was killed once (attempt 1 left its 5-s flush parts uncompacted, attempt 2 re-measured the
interrupted epoch and compacted its own) and 1 in 97 crashed while compacting (a segment and some
of its parts, the same rows twice). Columns are vectorised numpy; runs are written by one process
per core.

The full study: ``energybench collect --full`` and the baseline (every shard read with
``pandas.read_parquet``, concatenated, written as one Parquet file: what a script without the
collector would do) run alternately in child processes. Figures: wall time of the child
(interpreter start included) and its peak RSS (``ru_maxrss`` from ``os.wait4``, per child).
Targets on a 2-core machine: collect <= 15 s, <= 2 GB, >= 5x faster than the baseline.

10x the study (:func:`scale_bench`, skipped without 8 GiB free in the temporary directory): rounds
of ``collect --full``, then 1 % of the runs resumed once more (:func:`change_runs`), then an
incremental ``collect``; each figure with its median and range over the rounds. Targets: full
collect <= 60 s (median) and <= 2 GiB (highest), incremental <= 10 % of the full collect's time
(median of the per-round ratios). Each round's full collect reads the files the incremental one
before it read: their datasets are compared.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..paths import ResultsLayout, write_json
from ..schema import EPOCH_SCHEMA, SAMPLE_SCHEMA
from ..shards import SampleShardWriter, write_table
from ..units import BYTES_PER_GIB, BYTES_PER_KIB

PAPER_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "paper.yaml"
PERIOD_S = 0.1  # 10 Hz, the sampler's default
FLUSH_ROWS = 50  # meter.flush_s = 5 s at 10 Hz
IDLE_ROWS = 100  # meter.idle_s = 10 s
T0_S = 1_700_000_000.0
PHASES = pa.array(["idle", "train", "eval", "checkpoint"])
TARGET_S, TARGET_RSS_BYTES, TARGET_SPEEDUP = 15.0, 2 * BYTES_PER_GIB, 5.0


@dataclass(frozen=True)
class Generated:
    """What :func:`generate` wrote."""

    root: Path
    runs: int
    samples: int
    shards: int
    bytes_on_disk: int
    seconds: float


def _samples(run_id: str, attempt: int, n: int, first_epoch: int, epoch_rows: int, t0_s: float,
             idle: bool, rng: np.random.Generator) -> pa.Table:
    """``n`` readings of one attempt: an idle stretch, then epochs of train, eval and one checkpoint reading."""
    i = np.arange(n)
    k = i - (IDLE_ROWS if idle else 0)
    in_epoch = k >= 0
    pos = np.where(in_epoch, k % epoch_rows, 0)
    epoch = np.where(in_epoch, first_epoch + k // epoch_rows, 0).astype(np.int32)
    eval_from = int(epoch_rows * 0.85)
    phase = np.where(~in_epoch, 0, np.where(pos == epoch_rows - 1, 3, np.where(pos >= eval_from, 2, 1)))
    busy = phase == 1
    power_w = np.where(busy, 250.0, 90.0) + rng.normal(0.0, 6.0, n).round(3)
    return _complete(pa.table({
        "run_id": pa.DictionaryArray.from_arrays(np.zeros(n, np.int8), pa.array([run_id])),
        "attempt": pa.array(np.full(n, attempt, np.int32)),
        "time_s": pa.array(t0_s + i * PERIOD_S + rng.uniform(0.0, 0.004, n)),
        "epoch": pa.array(epoch),
        "phase": pa.DictionaryArray.from_arrays(phase.astype(np.int8), PHASES),
        "power_w": pa.array(power_w),
        "energy_j": pa.array(np.cumsum(power_w * PERIOD_S).round(3)),
        "meter": pa.DictionaryArray.from_arrays(np.zeros(n, np.int8), pa.array(["nvml"])),
        "gpu_util_pct": pa.array(np.where(busy, 97.0, 35.0).astype(np.float32)),
        "mem_used_mib": pa.array(np.full(n, 10_240.0, np.float32)),
        "temperature_c": pa.array((55.0 + i * 1e-4).round(0).astype(np.float32)),
        "sm_clock_mhz": pa.array(np.where(busy, 1980.0, 1410.0).astype(np.float32)),
        "gpu_power_w": pa.array(power_w),
        "gpu_energy_j": pa.array(np.cumsum(power_w * PERIOD_S).round(3)),
    }), SAMPLE_SCHEMA)


def _complete(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with every other (nullable) column of ``schema`` as nulls: an NVML-only run."""
    for f in schema:
        if f.name not in table.column_names:
            table = table.append_column(f, pa.nulls(table.num_rows, f.type))
    return table


def _epochs(samples: pa.Table, run_id: str, attempt: int) -> pa.Table:
    """One row per complete epoch of ``samples`` (the worker writes an epoch when it ends)."""
    epoch = samples.column("epoch").to_numpy()
    t = samples.column("time_s").to_numpy()
    energy = samples.column("power_w").to_numpy() * PERIOD_S
    numbers = np.unique(epoch[epoch > 0])
    first = np.searchsorted(epoch, numbers)
    sums = np.add.reduceat(energy, first) if len(first) else np.array([])
    numbers, first, sums = numbers[:-1], first[:-1], sums[:-1]  # the last epoch may be cut short
    last = np.searchsorted(epoch, numbers, side="right") - 1
    m = len(numbers)
    return _complete(pa.table({
        "run_id": [run_id] * m, "attempt": np.full(m, attempt, np.int32), "epoch": numbers.astype(np.int32),
        "start_s": t[first], "duration_s": t[last] - t[first], "energy_j": sums, "energy_eq1_j": sums,
        "mean_power_w": sums / np.maximum(last - first + 1, 1) / PERIOD_S,
        "samples": (last - first + 1).astype(np.int32), "coverage_frac": np.ones(m),
        "low_samples": np.zeros(m, bool), "net_energy_j": sums * 0.6,
        "train_loss": 1.0 / (numbers + 1.0), "val_loss": 1.0 / (numbers + 1.0),
        "val_accuracy": np.minimum(0.5 + numbers / 100.0, 0.95),
        "gpu_energy_j": sums, "gpu_mean_power_w": sums / np.maximum(last - first + 1, 1) / PERIOD_S,
        "net_gpu_energy_j": sums * 0.6, "energy_domains": ["gpu"] * m,
    }), EPOCH_SCHEMA)


def _write_run(layout: ResultsLayout, spec: dict[str, Any], index: int, n: int) -> int:
    """Write one run's files; returns its number of shard files."""
    run = layout.run(spec["run_id"])
    rng = np.random.default_rng(index)
    write_json(run.spec, spec)
    epoch_rows = int(min(rng.integers(20, 400), max(10, (n - IDLE_ROWS) // 6)))  # 2 to 40 s, at least 5 epochs
    killed, torn = index % 32 == 7, index % 97 == 11
    attempts = []  # (attempt, rows, first epoch, start time)
    if killed:
        n1 = max(IDLE_ROWS + 2 * epoch_rows, n // 10)
        done_epochs = (n1 - IDLE_ROWS) // epoch_rows  # the last of these was cut short
        attempts = [(1, n1, 1, T0_S), (2, n - n1 + IDLE_ROWS, max(done_epochs, 1), T0_S + n1 * PERIOD_S + 60.0)]
    else:
        attempts = [(1, n, 1, T0_S)]
    shards = 0
    epoch_tables = []
    for attempt, rows, first_epoch, t0 in attempts:
        table = _samples(spec["run_id"], attempt, rows, first_epoch, epoch_rows, t0, True, rng)
        epoch_tables.append(_epochs(table, spec["run_id"], attempt))
        if killed and attempt == 1:
            writer = SampleShardWriter(run, attempt)
            for start in range(0, rows, FLUSH_ROWS):
                writer.write(table.slice(start, FLUSH_ROWS))
                shards += 1
        else:
            seqs = -(-rows // FLUSH_ROWS)
            write_table(run.sample_segment(attempt, 1, seqs), table, SAMPLE_SCHEMA)
            shards += 1
            if torn:  # crashed between writing the segment and removing the parts
                writer = SampleShardWriter(run, attempt)
                for start in range(0, 3 * FLUSH_ROWS, FLUSH_ROWS):
                    writer.write(table.slice(start, FLUSH_ROWS))
                    shards += 1
        write_table(run.epochs(attempt), epoch_tables[-1], EPOCH_SCHEMA)
        shards += 1
    last_attempt = attempts[-1][0]
    write_json(run.started, {"attempt": last_attempt, "host": "bench-node", "time_s": T0_S})
    write_json(run.heartbeat, {"time_s": T0_S, "epoch": len(epoch_tables[-1])})
    write_json(run.record, {"meter": "nvml", "stop_reason": "patience", "attempts": last_attempt,
                            "idle_power_w": 90.0, "data_synthetic": False, "params_total": 141_293,
                            "params_trainable": 141_293, "macs_per_sample": 12_000_000})
    write_json(run.done, {"attempt": last_attempt, "time_s": T0_S})
    return shards


def _write_runs(layout: ResultsLayout, specs: list[dict[str, Any]], first: int, sizes: list[int]) -> int:
    """Write the runs ``first``, ``first + 1``, ... (one process's share); returns their number of shard files."""
    return sum(_write_run(layout, spec, first + k, n) for k, (spec, n) in enumerate(zip(specs, sizes)))


def generate(root: Path, *, runs: int | None = None, total_samples: int = 25_000_000,
             processes: int | None = None, scale: int = 1) -> Generated:
    """Write the plan of ``configs/paper.yaml`` (its first ``runs`` runs, default all) under ``root``.

    ``scale``: the study with ``scale`` times its repeats (10: 6,720 runs). Each run gets between 0.4
    and 1.6 times its share of ``total_samples`` readings. Runs are written by ``processes`` worker
    processes (default: one per core; numpy and the Parquet encoder keep each busy), in blocks of runs.
    """
    from ..config import load_config
    from ..plan import plan
    from ..planfile import write_plan

    t0 = time.perf_counter()
    config = load_config(PAPER_CONFIG)
    planned = plan(config.model_copy(update={"repeats": config.repeats * scale}))[:runs]
    specs = [s.to_dict() for s in planned]
    layout = ResultsLayout(root)
    write_plan(layout, "paper", planned, run_specs=False)
    share = np.random.default_rng(0).uniform(0.4, 1.6, len(specs))
    sizes = [int(n) for n in np.maximum((share / share.sum() * total_samples).astype(int), IDLE_ROWS + 50)]
    workers = processes or os.cpu_count() or 1
    block = max(1, -(-len(specs) // (8 * workers)))  # several blocks per process: none waits for a slow one
    starts = range(0, len(specs), block)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        shards = sum(pool.map(_write_runs, [layout] * len(starts), [specs[a:a + block] for a in starts],
                              starts, [sizes[a:a + block] for a in starts]))
    size = sum(p.stat().st_size for p in layout.runs_dir.rglob("*.parquet"))
    return Generated(layout.root, len(specs), sum(sizes) + _resumed_overlap(len(sizes)), shards, size,
                     time.perf_counter() - t0)


def _resumed_overlap(runs: int) -> int:
    """Extra rows the killed runs' second idle stretch adds (the torn runs' duplicates are not counted)."""
    return IDLE_ROWS * sum(1 for i in range(runs) if i % 32 == 7)


_COLLECT = "from energybench.cli import main; main()"
_BASELINE = """
import sys, pathlib, pandas as pd
root, out = pathlib.Path(sys.argv[1]), sys.argv[2]
frames = [pd.read_parquet(p) for p in sorted(root.glob("runs/*/samples/*.parquet"))]
pd.concat(frames, ignore_index=True).to_parquet(out)
"""


def measure(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process; raises if it fails."""
    seconds, rss, _ = measure_cpu(argv)
    return seconds, rss


def measure_cpu(argv: list[str]) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (bytes) and CPU seconds (user + system, every thread) of one child process."""
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty child cannot block on it
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not every child's so far
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{argv[:3]} failed ({proc.returncode}): {err.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss * BYTES_PER_KIB, usage.ru_utime + usage.ru_stime  # Linux reports KiB


def collect_argv(root: Path, full: bool = True) -> list[str]:
    """``energybench collect ROOT``: ``--full`` (every run read) unless ``full`` is False (incremental)."""
    return [sys.executable, "-c", _COLLECT, "collect", *(["--full"] if full else []), str(root)]


def baseline_argv(root: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", _BASELINE, str(root), str(out)]


def collect_bench(runs: int | None = None, total_samples: int = 25_000_000, repeats: int = 2,
                  baseline: bool = True) -> dict[str, Any]:
    """Generate, then time collect (and the baseline) ``repeats`` times each, alternating; best of each."""
    with tempfile.TemporaryDirectory(prefix="eb-collect-bench-") as tmp:
        gen = generate(Path(tmp) / "study", runs=runs, total_samples=total_samples)
        collect_s, collect_rss, base_s, base_rss = [], [], [], []
        for r in range(repeats):
            order = ["collect", "baseline"] if r % 2 == 0 else ["baseline", "collect"]
            for name in order:
                if name == "collect":
                    s, rss = measure(collect_argv(gen.root))
                    collect_s.append(s)
                    collect_rss.append(rss)
                elif baseline:
                    out = Path(tmp) / "baseline.parquet"
                    s, rss = measure(baseline_argv(gen.root, out))
                    out.unlink()
                    base_s.append(s)
                    base_rss.append(rss)
        import pyarrow.dataset as ds

        collected = ds.dataset(ResultsLayout(gen.root).dataset_dir / "samples", partitioning="hive").count_rows()
        shutil.rmtree(gen.root, ignore_errors=True)
    return {"generated": gen, "collected_samples": collected,
            "collect_s": min(collect_s), "collect_rss_bytes": max(collect_rss),
            "baseline_s": min(base_s) if base_s else None, "baseline_rss_bytes": max(base_rss) if base_rss else None}


def _ok(good: bool) -> str:
    return "ok" if good else "MISSED"


def change_runs(layout: ResultsLayout, specs: list[dict[str, Any]], indexes: list[int], stamp: int) -> None:
    """What a collect finds changed while the study runs: each run of ``indexes`` resumed once more.

    A new attempt appends one flush part (300 readings) and its epochs shard, and finishes again
    (``started.json``, ``done.json``); the run then needs a real merge (several shards).
    """
    for i in indexes:
        spec = specs[i]
        run = layout.run(spec["run_id"])
        attempt = int(json.loads(run.started.read_text())["attempt"]) + 1
        t0 = T0_S + 10_000_000.0 + stamp * 100_000.0
        table = _samples(spec["run_id"], attempt, 300, 100_000 + stamp * 10, 100, t0, False,
                         np.random.default_rng([i, stamp]))
        SampleShardWriter(run, attempt).write(table)
        write_table(run.epochs(attempt), _epochs(table, spec["run_id"], attempt), EPOCH_SCHEMA)
        write_json(run.started, {"attempt": attempt, "host": "bench-node", "time_s": t0})
        write_json(run.done, {"attempt": attempt, "time_s": t0})


def _same_dataset(a: Path, b: Path) -> bool:
    """The runs and epochs tables equal, as many samples, and the same tables, bit for bit (results directories
    ``a`` and ``b``: the incremental collect's against a full one)."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from ..paths import DatasetPaths

    da, db = DatasetPaths(a / "dataset"), DatasetPaths(b / "dataset")
    count = [ds.dataset(d.samples_dir, partitioning="hive").count_rows() for d in (da, db)]
    tables = [{p.name: p.read_bytes() for p in sorted((root / "tables").iterdir())} for root in (a, b)]
    return (pq.read_table(da.runs).equals(pq.read_table(db.runs))
            and pq.read_table(da.epochs).equals(pq.read_table(db.epochs)) and count[0] == count[1]
            and bool(tables[0]) and tables[0] == tables[1])


def _same_in_child(a: Path, b: Path) -> bool:
    """:func:`_same_dataset` in a child process. Not in this one: a child's peak RSS (``ru_maxrss``) starts at
    its parent's resident size when it is started (Linux carries the forked address space's high-water mark
    over ``exec``), and the two epochs tables read here would add about 1 GiB to every collect measured after."""
    code = ("import sys; from pathlib import Path; from energybench.bench.collect_bench import _same_dataset; "
            "sys.exit(0 if _same_dataset(Path(sys.argv[1]), Path(sys.argv[2])) else 3)")
    rc = subprocess.run([sys.executable, "-c", code, str(a), str(b)], check=False).returncode
    if rc not in (0, 3):
        raise RuntimeError(f"comparing {a} and {b} failed ({rc})")
    return rc == 0


#: 10x the study: targets on the 2-core machine.
SCALE_TARGET_S, SCALE_TARGET_RSS_BYTES, INCREMENTAL_TARGET_FRAC = 60.0, 2 * BYTES_PER_GIB, 0.10
#: Disk the 10x study needs under the temporary directory: its shards (about 5.4 GiB) and a margin.
SCALE_DISK_BYTES = 8 * BYTES_PER_GIB


def scale_bench(scale: int = 10, runs: int | None = None, total_samples: int = 250_000_000, rounds: int = 3,
                changed_frac: float = 0.01, tmp_dir: str | None = None) -> dict[str, Any]:
    """The study at ``scale`` times its runs: full collects interleaved with incremental ones.

    Each round: ``collect --full``, then ``changed_frac`` of the runs (others each round) resumed once
    more (:func:`change_runs`), then ``collect`` (incremental). The next round's full collect reads the
    same files as the incremental one before it: their datasets are compared. Returns every round's
    figures; ``skipped`` says why when the disk is too small.
    """
    where = tmp_dir or tempfile.gettempdir()
    free, need = shutil.disk_usage(where).free, SCALE_DISK_BYTES * total_samples // 250_000_000
    if free < need:
        return {"skipped": f"needs {need / BYTES_PER_GIB:.1f} GiB free under {where}, "
                           f"{free / BYTES_PER_GIB:.1f} GiB there"}
    from ..planfile import load_plan

    with tempfile.TemporaryDirectory(prefix="eb-collect-scale-", dir=tmp_dir) as tmp:
        gen = generate(Path(tmp) / "study", runs=runs, total_samples=total_samples, scale=scale)
        layout = ResultsLayout(gen.root)
        specs = load_plan(layout)
        order = np.random.default_rng(1).permutation(len(specs))
        n_changed = max(1, round(changed_frac * len(specs)))
        full_s, full_rss, full_cpu, inc_s, inc_rss, inc_cpu, same = [], [], [], [], [], [], []
        previous: Path | None = None
        for r in range(rounds):
            s, rss, cpu = measure_cpu(collect_argv(gen.root))
            full_s.append(s)
            full_rss.append(rss)
            full_cpu.append(cpu)
            if previous is not None:  # the same files as the incremental collect before
                same.append(_same_in_child(previous, layout.root))
                shutil.rmtree(previous)
            change_runs(layout, specs, [int(i) for i in order[r * n_changed:(r + 1) * n_changed]], r)
            s, rss, cpu = measure_cpu(collect_argv(gen.root, full=False))
            inc_s.append(s)
            inc_rss.append(rss)
            inc_cpu.append(cpu)
            previous = Path(tmp) / "incremental"
            _keep(layout, previous)
        shutil.rmtree(gen.root, ignore_errors=True)
    return {"generated": gen, "changed": n_changed, "full_s": full_s, "full_rss_bytes": full_rss,
            "full_cpu_s": full_cpu, "incremental_s": inc_s, "incremental_rss_bytes": inc_rss,
            "incremental_cpu_s": inc_cpu, "same_as_full": same}


def _keep(layout: ResultsLayout, to: Path) -> None:
    """The dataset and tables as hard links under ``to`` (for :func:`_same_dataset`, after the next collect
    replaced them)."""
    for d in (layout.dataset_dir, layout.tables_dir):
        shutil.copytree(d, to / d.name, copy_function=os.link)


def _spread(values: list[float], unit: str, scale: float = 1.0, digits: int = 1) -> str:
    """``median unit (min-max, n rounds)``."""
    v = sorted(x / scale for x in values)
    return f"{statistics.median(v):.{digits}f} {unit} ({v[0]:.{digits}f}-{v[-1]:.{digits}f}, {len(v)} rounds)"


def _verdict(good: bool) -> str:
    return "met" if good else "NOT met"


def print_scale(r: dict[str, Any]) -> None:
    """The 10x figures, with their spread over rounds and a verdict per target."""
    if "skipped" in r:
        print(f"10x study: skipped ({r['skipped']})")
        return
    g: Generated = r["generated"]
    gib = BYTES_PER_GIB
    frac = [i / f for i, f in zip(r["incremental_s"], r["full_s"])]
    print(f"10x study: {g.runs:,} runs, {g.samples:,} samples in {g.shards:,} shard files "
          f"({g.bytes_on_disk / gib:.2f} GiB), generated in {g.seconds:.0f} s (not measured); rounds of "
          f"collect --full, then {r['changed']} runs ({r['changed'] / g.runs:.0%}) resumed, then collect")
    print(f"  full collect:        {_spread(r['full_s'], 's')}, "
          f"peak RSS {_spread(r['full_rss_bytes'], 'GiB', gib, 2)}")
    print(f"  incremental collect: {_spread(r['incremental_s'], 's')}, peak RSS "
          f"{_spread(r['incremental_rss_bytes'], 'GiB', gib, 2)}")
    print(f"  incremental / full (same round): {_spread([100 * x for x in frac], '%')}")
    print(f"  CPU time (user + system, all threads; less sensitive to other load): full "
          f"{_spread(r['full_cpu_s'], 's')}, incremental {_spread(r['incremental_cpu_s'], 's')}")
    print("  every round (full, incremental): " + ", ".join(
        f"{f:.1f} s / {i:.1f} s" for f, i in zip(r["full_s"], r["incremental_s"])))
    same = r["same_as_full"]
    print(f"  incremental dataset = the next full collect's (runs, epochs, sample count, tables): "
          f"{sum(same)} of {len(same)} rounds" + ("" if all(same) else "  <- MISMATCH"))
    full_ok = statistics.median(r["full_s"]) <= SCALE_TARGET_S
    rss_ok = max(r["full_rss_bytes"]) <= SCALE_TARGET_RSS_BYTES
    inc_ok = statistics.median(frac) <= INCREMENTAL_TARGET_FRAC
    print(f"  targets: full collect <= {SCALE_TARGET_S:.0f} s (median) {_verdict(full_ok)}, "
          f"<= {SCALE_TARGET_RSS_BYTES / gib:.0f} GiB (max) {_verdict(rss_ok)}; incremental <= "
          f"{INCREMENTAL_TARGET_FRAC:.0%} of full (median) {_verdict(inc_ok)}")


def main() -> None:
    print_1x(collect_bench())
    print_scale(scale_bench())


def print_1x(r: dict[str, Any]) -> None:
    """The full study's figures against the pandas baseline."""
    g: Generated = r["generated"]
    gib = BYTES_PER_GIB
    print(f"synthetic full study: {g.runs} runs, {g.samples:,} samples at 10 Hz in {g.shards:,} shard files "
          f"({g.bytes_on_disk / gib:.2f} GiB), generated in {g.seconds:.0f} s; collected {r['collected_samples']:,} "
          "samples (duplicates dropped)")
    print(f"  collect:                         {r['collect_s']:6.1f} s, peak RSS {r['collect_rss_bytes'] / gib:.2f} GiB")
    print(f"  pandas read + concat + write:    {r['baseline_s']:6.1f} s, peak RSS {r['baseline_rss_bytes'] / gib:.2f} GiB")
    speedup = r["baseline_s"] / r["collect_s"]
    print(f"  collect / baseline: time {r['collect_s'] / r['baseline_s']:.3f}x ({speedup:.1f}x faster), "
          f"peak RSS {r['collect_rss_bytes'] / r['baseline_rss_bytes']:.3f}x")
    print(f"  targets: time <= {TARGET_S:.0f} s {_ok(r['collect_s'] <= TARGET_S)}, "
          f"RSS <= {TARGET_RSS_BYTES / gib:.0f} GiB {_ok(r['collect_rss_bytes'] <= TARGET_RSS_BYTES)}, "
          f">= {TARGET_SPEEDUP:.0f}x faster {_ok(speedup >= TARGET_SPEEDUP)}")
