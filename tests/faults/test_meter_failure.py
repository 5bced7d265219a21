"""NVML failing mid-run, in process: ``pynvml`` patched with autospec drives the real worker.

``entry.execute`` runs the real epoch loop with the real NVML meter and
sampler; only the driver answers are scripted. Transient NVML errors are
counted and the sampler goes on; a GPU that falls off the bus ends sampling
cleanly. Either way training is not interrupted, the run COMPLETES, and
``run.json`` records what happened (``meter_errors``).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import pynvml as real

from energybench.config import parse_config
from energybench.paths import ResultsLayout, RunPaths, write_json
from energybench.plan import plan
from energybench.schema import SAMPLE_SCHEMA
from energybench.shards import read_shard
from energybench import launch

from ..meter.test_nvml import FakeGpus, nvml_error, pynvml_mock, pynvml_spec  # noqa: F401 (fixtures)
from .conftest import tiny_config
from .ledger import record

EPOCHS = 4


def _run(tmp: Path, pamap2: Path) -> RunPaths:
    cfg = tiny_config(pamap2, meter={"kind": "nvml", "period_s": 0.01, "flush_s": 0.2, "idle_s": 0})
    cfg["early_stopping"]["max_epochs"] = EPOCHS
    (spec,) = plan(parse_config(cfg, tmp / "nvml.yaml"))
    run = ResultsLayout(tmp / "res").run(spec.run_id)
    write_json(run.spec, spec.to_dict())
    return run


class _Script:
    """The energy counter: readings ``fail_from`` .. ``fail_to`` (exclusive) raise ``error``."""

    def __init__(self, error: int, fail_from: int, fail_to: int | None) -> None:
        self.error, self.fail_from, self.fail_to = error, fail_from, fail_to
        self.calls = self.ok = 0
        self.lock = threading.Lock()

    def __call__(self, handle: str) -> int:
        with self.lock:
            self.calls += 1
            if self.calls >= self.fail_from and (self.fail_to is None or self.calls < self.fail_to):
                raise nvml_error(self.error)
            self.ok += 1
            return 1_000 + 500 * self.calls


@pytest.mark.parametrize("fault, error, fail_to", [
    pytest.param("transient NVML errors", real.NVML_ERROR_UNKNOWN, 60, id="transient"),
    pytest.param("GPU lost (NVML_ERROR_GPU_IS_LOST)", real.NVML_ERROR_GPU_IS_LOST, None, id="gpu-lost"),
])
def test_nvml_failing_mid_run_is_recorded_and_the_run_completes(
        fault: str, error: int, fail_to: int | None, pynvml_mock: Any, pamap2_dir: Path, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    FakeGpus(pynvml_mock)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    script = _Script(error, fail_from=20, fail_to=fail_to)
    pynvml_mock.nvmlDeviceGetTotalEnergyConsumption.side_effect = script
    run = _run(tmp_path, pamap2_dir)

    assert launch.main(run.dir) == 0  # training was never interrupted
    rec = json.loads(run.record.read_text())
    assert rec["status"] == "COMPLETED" and rec["epochs"] == EPOCHS and rec["meter"] == "nvml"
    assert run.done.exists() and not run.failed.exists()
    (err,) = rec["meter_errors"]
    samples = pa.concat_tables(read_shard(p, SAMPLE_SCHEMA) for p in run.sample_files())
    energy = [e for e in samples.column("energy_j").to_pylist() if e is not None]
    if fail_to is None:
        assert err.startswith("DeviceLostError: NVML") and "(x" not in err  # sampling ended at the loss
        assert script.calls == script.ok + 1
    else:
        assert err.startswith("MeterError: NVML energy_mj") and f"(x{fail_to - 20})" in err
        assert script.calls > fail_to  # ... and went on after the errors
    # every successful reading is in the shards (the probe at open is not a sample)
    assert samples.num_rows == script.ok - 1 == len(energy)
    assert energy == sorted(energy)
    record(f"NVML failing mid-run: {fault}", affected=1, recovered=1, lost_beyond_flush=script.ok - 1 - len(energy),
           detail=f"run COMPLETED; run.json meter_errors: {err[:60]}")
