"""`make validate-gpu ARGS=--fake` end to end: every output file and every verdict line, against a
simulated GPU behind the patched NVML, with polars, submitit and stumpy made unimportable (the GPU
machines lack them); and without a GPU and without --fake, one line and nothing measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from energybench.validate.profiles import FAKE
from energybench.validate.report import FAKE_BANNER, STATUSES
from energybench.validate.session import NOT_NEEDED, STEPS
from energybench.validate.steps_training import pipelines, study_cases

from ..conftest import REPO

#: Raw tables the fake validation writes: <step>-<table>.parquet.
TABLES = {"nvml-quantities", "idle-series", "counter-period-poll", "steady-series", "steady-phases",
          "bursty-series", "bursty-phases", "sampler-overhead-rounds", "study-epochs", "worker-rounds"}

BLOCKER = f"""
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NOT_NEEDED!r}:
            raise ImportError(name + " is blocked by the test: the validation must run without it")
        return None
sys.meta_path.insert(0, _Blocked())
"""


def _make(args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", "validate-gpu", f"PYTHON={sys.executable}",
                           f"ARGS={args}"], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


def _real_validations() -> list[str]:
    root = REPO / "results" / "validation"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    block = tmp_path_factory.mktemp("block")
    (block / "sitecustomize.py").write_text(BLOCKER)
    out = tmp_path_factory.mktemp("fake") / "validation"
    before = _real_validations()
    t0 = time.monotonic()
    r = _make(f"--fake --out {out}", {"PYTHONPATH": str(block)}, timeout=300)
    return {"proc": r, "out": out, "wall_s": time.monotonic() - t0, "before": before}


def test_it_runs_in_under_two_minutes_and_exits_0(fake_run: dict[str, Any]) -> None:
    r = fake_run["proc"]
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert fake_run["wall_s"] < 120, fake_run["wall_s"]
    assert "FAKE (simulated GPU)" in r.stdout
    assert _real_validations() == fake_run["before"], "a --fake run must never write under results/validation/"


def test_every_declared_check_has_one_verdict_and_none_failed_to_run(fake_run: dict[str, Any]) -> None:
    data = json.loads((fake_run["out"] / "validation.json").read_text())
    assert data["state"] == "complete" and data["meta"]["fake"] is True
    verdicts = [v for s in data["steps"] for v in s["verdicts"]]
    declared = [c for step in STEPS for c in step.checks(FAKE)]
    assert sorted(v["check"] for v in verdicts) == sorted(declared)
    assert [s["step"] for s in data["steps"]] == [s.name for s in STEPS]
    assert all(v["status"] in STATUSES for v in verdicts)
    errors = [v for v in verdicts if v["status"] in ("ERROR", "SKIP")]
    assert not errors, errors
    text = (fake_run["out"] / "validation.md").read_text()
    assert FAKE_BANNER in text.split("## Verdicts")[0]
    for v in verdicts:
        assert f"- **{v['status']}** `{v['check']}`: " in text, v["check"]
    for step in STEPS:
        assert f"(`{step.name}`, " in text


def test_every_raw_table_is_written_and_readable(fake_run: dict[str, Any]) -> None:
    out: Path = fake_run["out"]
    data = json.loads((out / "validation.json").read_text())
    listed = {f for s in data["steps"] for f in s["raw_files"]}
    assert {p.name for p in out.glob("*.parquet")} == listed == {f"{t}.parquet" for t in TABLES}
    for name in listed:
        assert pq.read_table(out / name).num_rows > 0, name
    epochs = pq.read_table(out / "study-epochs.parquet").to_pylist()
    seen = {(e["case"], e["pipeline"], e["batch_size"]) for e in epochs}
    assert seen == {(c.name, p, bs) for c in study_cases(FAKE) for p in pipelines() for bs in FAKE.study_batch_sizes}
    assert all(e["energy_j"] is not None and e["energy_j"] > 0 for e in epochs)
    runs = sorted(p for p in (out / "runs").iterdir())
    assert len(runs) == len(seen)
    for run in runs:
        assert (run / "run.json").exists() and (run / "epochs-a001.parquet").exists(), run
        assert list((run / "samples").glob("*.parquet")), run
        assert not (run / "checkpoint.pt").exists(), "checkpoints are not kept"
        assert json.loads((run / "run.json").read_text())["meter"] == "nvml"
    assert (out / "validation.log").exists()


def test_without_a_gpu_it_says_so_in_one_line_and_measures_nothing(tmp_path: Path) -> None:
    out = tmp_path / "validation"
    r = subprocess.run([sys.executable, "-m", "energybench.validate", "--out", str(out)], cwd=REPO,
                       capture_output=True, text=True, timeout=120, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1 and "no NVIDIA GPU visible" in r.stdout and "--fake" in r.stdout
    assert not out.exists()
