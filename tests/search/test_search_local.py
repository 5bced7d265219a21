"""A search: config end to end on the local executor: rungs, pruned runs, the record, the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from energybench.config import load_config
from energybench.search.rungs import experiment_schedule

from ..conftest import REPO, eb, status_json, write_yaml


def search_config(tmp: Path, **search: Any) -> dict[str, Any]:
    """configs/demo.yaml cut to one workload, a 2 x 2 grid and short rungs."""
    cfg = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    cfg["name"] = "search"
    cfg["paradigms"] = ["pamap2-baseline"]
    cfg["data"] = {"pamap2": {**cfg["data"]["pamap2"], "path": str(tmp / "data" / "pamap2"), "max_windows": 160}}
    cfg["early_stopping"] = {"threshold": 0.8, "patience_epochs": 3, "max_epochs": 8}
    cfg["meter"].update(idle_s=0, flush_s=1.0)
    cfg["executor"] = {"kind": "local", "max_parallel": 2, "timeout_min": 10}
    cfg["search"] = {"rung_epochs": 3, "eta": 2, "objective": "forecast", **search}
    return cfg


def check_search_record(results: Path, config: Path) -> dict[str, Any]:
    """What every finished search leaves, on either executor; returns the runs by id."""
    sched = experiment_schedule(load_config(config))
    assert sched is not None and sched.ends_epoch == (3, 6) and sched.keep == (2, 1)
    _, states = status_json(results)
    assert [s["state"] for s in states] == ["COMPLETED"] * 4, states
    r = eb("collect", str(results))
    assert r.returncode == 0, r.stdout + r.stderr
    runs = {x["run_id"]: x for x in pq.read_table(results / "dataset" / "runs.parquet").to_pylist()}
    pruned = [x for x in runs.values() if x["stop_reason"] == "pruned"]
    assert 1 <= len(pruned) <= 3 and all(x["pruned_rung"] in (0, 1) for x in pruned)
    assert all(x["pruned_rung"] is None for x in runs.values() if x["stop_reason"] != "pruned")
    for x in pruned:  # pruned exactly at its rung's end, its epochs kept
        assert x["epochs"] == sched.ends_epoch[x["pruned_rung"]] and x["energy_j"] > 0
    decisions = [json.loads(p.read_text()) for p in sorted((results / "search").glob("*/rung-*.json"))]
    assert [d["rung"] for d in decisions] == [0, 1]
    assert {s for d in decisions for s in d["pruned"]} == {x["setup"] for x in pruned}
    epochs = pq.read_table(results / "dataset" / "epochs.parquet").to_pylist()
    assert all(e["rung"] == sched.rung_of_epoch(e["epoch"]) for e in epochs)
    per_run: dict[str, list[int]] = {}
    for e in epochs:
        per_run.setdefault(e["run_id"], []).append(e["epoch"])
    assert all(v == list(range(1, len(v) + 1)) for v in per_run.values())  # no epoch twice, none missing
    rows = pq.read_table(results / "dataset" / "search.parquet").to_pylist()
    assert len(rows) == sum(len(d["candidates"]) for d in decisions)
    assert {(r["rung"], r["setup"], r["survived"]) for r in rows} == {
        (d["rung"], c["setup"], c["survived"]) for d in decisions for c in d["candidates"]}
    cost = (results / "tables" / "search_cost.csv").read_text().splitlines()
    assert len(cost) == 2 and (results / "tables" / "search_rungs.csv").exists()
    assert eb("figures", str(results)).returncode == 0 and (results / "figures" / "search.png").exists()
    assert eb("report", str(results)).returncode == 0
    report = (results / "report.md").read_text()
    assert "## Search" in report and "of the full grid's estimated" in report
    return runs


def test_search_runs_end_to_end_on_the_local_executor(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "search.yaml", search_config(tmp_path))
    results = tmp_path / "res"
    r = eb("submit", str(config), "--results", str(results), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "runs go on from their checkpoints (pass 2)" in r.stdout
    assert "PAUSED" in r.stdout and "end of rung 0 at epoch 3" in r.stdout
    runs = check_search_record(results, config)
    survivors = [x for x in runs.values() if x["stop_reason"] != "pruned"]
    assert all(x["attempts"] >= 2 for x in survivors if x["epochs"] > 3)  # one attempt per rung it trained
    again = eb("submit", str(config), "--results", str(results))
    assert again.returncode == 0 and "0 to run" in again.stdout, again.stdout
