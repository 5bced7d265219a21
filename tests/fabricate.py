"""Build results directories by hand (no training) for status and collect tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from energybench.config import parse_config
from energybench.paths import ResultsLayout, write_json
from energybench.plan import RunSpec, plan
from energybench.schema import EPOCH_SCHEMA, SAMPLE_SCHEMA
from energybench.shards import SampleShardWriter, write_table
from energybench.planfile import write_plan


def make_results(root: Path, paradigms: list[str] | None = None, repeats: int = 1) -> tuple[ResultsLayout, list[RunSpec]]:
    cfg: dict[str, Any] = {
        "name": "fab", "grid": {"batch_sizes": [64, 256], "learning_rates": [0.01]},
        "paradigms": paradigms or ["pamap2-baseline"], "repeats": repeats, "hardware": ["cpu"],
        "data": {"pamap2": {"path": str(root / "data")}, "celeba": {"path": str(root / "data")}},
    }
    exp = parse_config(cfg, root / "fab.yaml")
    specs = plan(exp)
    layout = ResultsLayout(root / "res")
    write_plan(layout, "fab", specs)
    return layout, specs


def fake_run(layout: ResultsLayout, spec: RunSpec, *, epochs: int = 3, attempt: int = 1,
             first_epoch: int = 1, power_w: float = 100.0, epoch_s: float = 2.0,
             done: bool = True, t0: float = 1_700_000_000.0, accs: list[float] | None = None) -> None:
    """Write the shards and markers a worker would write for ``epochs`` epochs of one attempt."""
    run = layout.run(spec.run_id)
    rows, samples = [], []
    for i, ep in enumerate(range(first_epoch, first_epoch + epochs)):
        start = t0 + (ep - 1) * epoch_s
        acc = accs[i] if accs else 0.5 + 0.1 * ep
        rows.append({"run_id": spec.run_id, "attempt": attempt, "epoch": ep, "start_s": start,
                     "duration_s": epoch_s, "energy_j": power_w * epoch_s, "energy_eq1_j": power_w * epoch_s,
                     "mean_power_w": power_w, "samples": 3, "coverage_frac": 1.0, "low_samples": False,
                     "net_energy_j": None, "train_loss": 1.0 / ep, "val_loss": 1.0 / ep, "val_accuracy": acc})
        for k in range(3):
            samples.append({"run_id": spec.run_id, "attempt": attempt, "time_s": start + k * epoch_s / 3,
                            "epoch": ep, "phase": "train", "power_w": power_w, "energy_j": None,
                            "meter": "synthetic", "gpu_util_pct": None, "mem_used_mib": None,
                            "temperature_c": None, "sm_clock_mhz": None})
    write_table(run.epochs(attempt), pa.Table.from_pylist(rows, schema=EPOCH_SCHEMA), EPOCH_SCHEMA)
    SampleShardWriter(run, attempt).write(pa.Table.from_pylist(samples, schema=SAMPLE_SCHEMA))
    write_json(run.started, {"attempt": attempt, "host": "fab", "time_s": time.time()})
    write_json(run.heartbeat, {"time_s": time.time(), "epoch": first_epoch + epochs - 1})
    if done:
        write_json(run.record, {"meter": "synthetic", "stop_reason": "patience", "attempts": attempt,
                                "idle_power_w": None, "data_synthetic": True, "params_total": 10})
        write_json(run.done, {"attempt": attempt})
