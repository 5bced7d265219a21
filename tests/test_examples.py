"""The shipped examples run: a built-in, the example workload package (entry point) and the example
command workload in one experiment, through the CLI on the local executor.

Two submissions, run at the same time (two workers on a 2-core machine): examples/config.yaml
(pamap2-baseline, tiny-cnn, examples/command/train.py), and examples/workload-package/config.yaml
with tiny-cnn's width axis (an extra grid axis must be accepted by every workload of a config,
and the built-in takes none). Both configs are the shipped files, shrunk: generated data in a
temporary directory, 2-3 epochs, the synthetic meter, and the command's interpreter and script
written as absolute paths.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from .conftest import REPO, eb, eb_args, write_yaml

EXAMPLES = REPO / "examples"
TRAIN_PY = EXAMPLES / "command" / "train.py"
EPOCHS = 3
#: Every run's meter: synthetic (no RAPL needed), no idle baseline.
METER = {"kind": "synthetic", "period_s": 0.05, "flush_s": 0.5, "idle_s": 0}

#: make install installs the example package; without it these tests fail (never skip) and say so.
INSTALLED = importlib.util.find_spec("energybench_tinycnn") is not None
NOT_INSTALLED = ("the example workload package is not installed (make install, or "
                 "pip install --no-build-isolation -e examples/workload-package)")


@pytest.fixture(autouse=True)
def _installed() -> None:
    assert INSTALLED, NOT_INSTALLED


def _command(template: str) -> str:
    """The shipped command with the script's absolute path (the test writes its config elsewhere)."""
    shipped = re.match(r"\{python\} \{config_dir\}/(command/)?train\.py", template)
    assert shipped, template
    return "{python} " + shlex.quote(str(TRAIN_PY)) + template[shipped.end():]


def all_config(tmp: Path) -> dict[str, Any]:
    """examples/config.yaml, shrunk: the three kinds of workload, one setup each."""
    cfg = yaml.safe_load((EXAMPLES / "config.yaml").read_text())
    assert [p if isinstance(p, str) else p["name"] for p in cfg["paradigms"]] == \
        ["pamap2-baseline", "tiny-cnn", "mlp-command"]
    cfg["paradigms"][2]["command"] = _command(cfg["paradigms"][2]["command"])
    cfg["data"]["pamap2"].update(path=str(tmp / "data" / "pamap2"), max_windows=200)
    cfg["early_stopping"] = {"threshold": 0.99, "patience_epochs": 50, "max_epochs": EPOCHS}
    cfg["meter"] = METER
    cfg["executor"] = {"kind": "local", "max_parallel": 1, "timeout_min": 5}
    return cfg


def width_config() -> dict[str, Any]:
    """examples/workload-package/config.yaml, shrunk: tiny-cnn at widths 4 and 8."""
    cfg = yaml.safe_load((EXAMPLES / "workload-package" / "config.yaml").read_text())
    assert cfg["paradigms"] == ["tiny-cnn"]
    cfg["grid"] = {"batch_sizes": [64], "learning_rates": [0.01], "params": {"width": [4, 8]}}
    cfg["early_stopping"] = {"threshold": 0.99, "patience_epochs": 50, "max_epochs": 2}
    cfg["meter"] = METER
    cfg["executor"] = {"kind": "local", "max_parallel": 1, "timeout_min": 5}
    return cfg


def _ok(r: subprocess.CompletedProcess[str], what: str) -> str:
    assert r.returncode == 0, f"{what} -> rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both examples submitted (at the same time) and collected: {"all": DIR, "width": DIR}."""
    tmp = tmp_path_factory.mktemp("examples")
    out = {"all": tmp / "res-all", "width": tmp / "res-width"}
    configs = {"all": write_yaml(tmp / "all.yaml", all_config(tmp)), "width": write_yaml(tmp / "width.yaml", width_config())}
    log = tmp / "width-submit.log"
    with open(log, "wb") as fh:
        width = subprocess.Popen(eb_args("submit", str(configs["width"]), "--results", str(out["width"])),
                                 stdout=fh, stderr=subprocess.STDOUT)
        try:
            _ok(eb("submit", str(configs["all"]), "--results", str(out["all"]), timeout=240), "submit all")
            rc = width.wait(timeout=240)
        finally:
            if width.poll() is None:
                width.kill()
    assert rc == 0, log.read_text()
    for d in out.values():
        _ok(eb("collect", str(d), timeout=120), f"collect {d}")
    return out


def _runs(d: Path) -> dict[str, list[dict[str, Any]]]:
    by: dict[str, list[dict[str, Any]]] = {}
    for r in pq.read_table(d / "dataset" / "runs.parquet").to_pylist():
        by.setdefault(r["paradigm"], []).append(r)
    return by


def test_three_kinds_of_workload_complete_with_their_source(results: dict[str, Path]) -> None:
    runs = _runs(results["all"])
    assert sorted(runs) == ["mlp-command", "pamap2-baseline", "tiny-cnn"]
    (builtin,), (pkg,), (cmd,) = runs["pamap2-baseline"], runs["tiny-cnn"], runs["mlp-command"]
    for r in (builtin, pkg, cmd):
        assert (r["status"], r["epochs"], r["attempts"]) == ("COMPLETED", EPOCHS, 1), r
        assert r["energy_j"] > 0 and r["duration_s"] > 0, r
    assert (builtin["workload_kind"], builtin["workload_source"]) == ("python", "built-in")
    assert (pkg["workload_kind"], pkg["workload_source"], pkg["workload_version"]) == \
        ("python", "entry point energybench-tinycnn", "0.1.0")
    assert (cmd["workload_kind"], cmd["workload_source"]) == ("command", "command")
    assert cmd["workload_version"].startswith("sha256:")
    assert json.loads(pkg["params"]) == {"width": 16}  # the workload's default, recorded
    assert builtin["params"] is None and cmd["params"] is None
    assert pkg["params_total"] > 0 and pkg["macs_per_sample"] > 0  # characterised like a built-in


def test_the_command_marks_every_epoch_once(results: dict[str, Path]) -> None:
    (cmd,) = _runs(results["all"])["mlp-command"]
    epochs = [e for e in pq.read_table(results["all"] / "dataset" / "epochs.parquet").to_pylist()
              if e["run_id"] == cmd["run_id"]]
    assert [e["epoch"] for e in sorted(epochs, key=lambda e: e["epoch"])] == list(range(1, EPOCHS + 1))
    for e in epochs:
        assert e["energy_j"] > 0 and e["samples"] >= 1, e
        assert 0 < e["val_accuracy"] <= 1 and e["train_loss"] > 0, e
    run_json = json.loads((results["all"] / "runs" / cmd["run_id"] / "run.json").read_text())
    assert run_json["epoch_marks"] is True and run_json["exit_status"] == 0, run_json
    assert (results["all"] / "runs" / cmd["run_id"] / "train_checkpoint.pt").exists()  # in the run directory


def test_width_axis_reaches_the_package_workload(results: dict[str, Path]) -> None:
    runs = _runs(results["width"])["tiny-cnn"]
    assert sorted(json.loads(r["params"])["width"] for r in runs) == [4, 8]
    assert all(r["status"] == "COMPLETED" and r["epochs"] == 2 for r in runs), runs
    by_width = {json.loads(r["params"])["width"]: r for r in runs}
    assert by_width[4]["params_total"] < by_width[8]["params_total"]  # the axis changed the model
    spec = json.loads((results["width"] / "runs" / by_width[4]["run_id"] / "spec.json").read_text())
    assert spec["params"] == {"width": 4}


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_tables_show_all_three(results: dict[str, Path]) -> None:
    tables = results["all"] / "tables"
    for name in ("total_energy", "energy_per_epoch"):
        rows = _csv(tables / f"{name}.csv")
        assert {r["paradigm"] for r in rows} >= {"pamap2-baseline", "tiny-cnn", "mlp-command"}, (name, rows)
    total = {r["paradigm"]: r for r in _csv(tables / "total_energy.csv")}
    assert json.loads(total["tiny-cnn"]["params"]) == {"width": 16}
    assert all(float(r["energy_mean_wh"]) > 0 for r in total.values())
    width_total = _csv(results["width"] / "tables" / "total_energy.csv")
    assert sorted(json.loads(r["params"])["width"] for r in width_total) == [4, 8]


def test_workloads_lists_the_entry_point() -> None:
    out = _ok(eb("workloads", timeout=120), "workloads")
    (line,) = [ln for ln in out.splitlines() if ln.split()[:1] == ["tiny-cnn"]]
    assert "entry point energybench-tinycnn 0.1.0" in line and "[params: width]" in line
    assert "(not loaded)" not in out
    described = {w["name"]: w for w in json.loads(_ok(eb("workloads", "--json", timeout=120), "workloads --json"))}
    assert described["tiny-cnn"]["params"] == {"width": {"kind": "int", "default": 16}}


def test_misspelt_workload_is_one_line_with_a_suggestion(tmp_path: Path) -> None:
    cfg = width_config()
    cfg["paradigms"] = ["tiny-cn"]
    r = eb("plan", str(write_yaml(tmp_path / "typo.yaml", cfg)), timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and "did you mean 'tiny-cnn'" in r.stderr, r.stderr


def test_the_package_declares_without_torch() -> None:
    """Importing the package and resolving its workload (a login node validating a config) imports
    neither torch nor torchvision."""
    code = ("import sys, energybench_tinycnn\n"
            "from energybench.workloads import registry\n"
            "assert registry.resolve('tiny-cnn').name == 'tiny-cnn'\n"
            "print([m for m in ('torch', 'torchvision') if m in sys.modules])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_the_package_characterises_its_model_for_the_estimators() -> None:
    import torch

    from energybench_tinycnn import WORKLOAD

    model, x, counts = WORKLOAD.build_model({"width": 4})
    assert tuple(x.shape) == (1, 3, 32, 32) and counts == (400, 200)
    with torch.no_grad():
        assert tuple(model.eval()(x).shape) == (1, 10)


def test_train_py_runs_standalone_and_resumes_from_its_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """In this process (torch is imported once): outside energybench every client call is a no-op."""
    import torch

    for k in [k for k in os.environ if k.startswith("ENERGYBENCH_")]:
        monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location("example_train", TRAIN_PY)
    assert spec is not None and spec.loader is not None
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    with torch.random.fork_rng():
        assert train.main(["--epochs", "1", "--no-marks", "--train-samples", "500"]) == 0
        first = capsys.readouterr().out
        assert train.main(["--epochs", "2", "--train-samples", "500"]) == 0
        second = capsys.readouterr().out
    assert "epochs 1..1" in first and "epoch 1: " in first
    assert "epochs 2..2" in second and "epoch 2: " in second and "epoch 1: " not in second
    assert (tmp_path / "train_checkpoint.pt").exists()
