"""Rung reports, decisions published once, pruning that keeps the data, and the gate (no training)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from energybench.paths import ResultsLayout, write_json
from energybench.plan import RunSpec
from energybench.schema import EPOCH_SCHEMA
from energybench.search import rungs
from energybench.shards import write_table
from energybench.submit import prepare, write_layout
from energybench.worker import markers

from ..conftest import minimal_config

#: accuracy per epoch of each setup's runs (repeat 1, repeat 2): setup 4 is best, then 3, 2, 1
CURVES = {1: (0.30, 0.32), 2: (0.40, 0.38), 3: (0.55, 0.60), 4: (0.70, 0.72)}


@pytest.fixture
def planned(tmp_path: Path, write_config: Any) -> tuple[ResultsLayout, list[RunSpec]]:
    cfg = minimal_config(tmp_path, repeats=2, early_stopping={"max_epochs": 20, "patience_epochs": 3},
                         search={"rung_epochs": 2, "eta": 2, "objective": "accuracy"})
    p = prepare(write_config(cfg), tmp_path / "res", None)
    write_layout(p)
    return p.layout, p.specs


def _train(layout: ResultsLayout, spec: RunSpec, epochs: range, attempt: int, rung: int) -> None:
    """What a worker leaves at the end of a rung: epoch rows, a record, the pause."""
    run = layout.run(spec.run_id)
    markers.mark_started(run, attempt)
    acc = CURVES[spec.setup][spec.repeat - 1]
    rows = [{"run_id": spec.run_id, "attempt": attempt, "epoch": e, "start_s": float(e), "duration_s": 1.0,
             "energy_j": 10.0 * spec.setup, "samples": 10, "coverage_frac": 1.0, "low_samples": False,
             "val_accuracy": acc + 0.01 * e} for e in epochs]
    write_table(run.epochs(attempt), pa.Table.from_pylist(rows, schema=EPOCH_SCHEMA), EPOCH_SCHEMA)
    write_json(run.record, {**spec.to_dict(), "status": "PENDING", "epochs": epochs[-1], "stop_reason": "rung_end"})
    rungs.record_pause(run, rung, epochs[-1], attempt)


def test_first_rung_decision_keeps_the_best_setups_by_their_repeats_mean(planned: Any) -> None:
    layout, specs = planned
    for s in specs:
        _train(layout, s, range(1, 3), 1, 0)
    dec = rungs.decision(layout, "pamap2-baseline.cpu", 0)
    assert dec["survivors"] == [3, 4] and dec["pruned"] == [1, 2] and dec["missing"] == []
    assert dec["ends_epoch"] == 2 and dec["keep"] == 2 and len(dec["candidates"]) == 8
    by_run = {c["run_id"]: c for c in dec["candidates"]}
    s4 = [s for s in specs if s.setup == 4]
    assert by_run[s4[0].run_id]["setup_score"] == pytest.approx(-(0.70 + 0.72) / 2 - 0.02)
    for s in specs:
        run = layout.run(s.run_id)
        if s.setup in (1, 2):  # finished as pruned, every measurement kept
            rec = json.loads(run.record.read_text())
            assert rec["stop_reason"] == "pruned" and rec["status"] == "COMPLETED"
            assert rec["search_decision"]["rung"] == 0 and run.done.exists() and not run.paused.exists()
            assert pq.read_table(run.epochs(1)).num_rows == 2
        else:
            assert run.paused.exists() and not run.done.exists()
    gate = rungs.SearchGate(s4[0], layout.run(s4[0].run_id))
    assert gate.admit() == rungs.Admission(rung=1, until_epoch=4, pruned=False)
    assert not layout.run(s4[0].run_id).paused.exists()  # it trains again
    loser = next(s for s in specs if s.setup == 1)
    assert rungs.SearchGate(loser, layout.run(loser.run_id)).admit().pruned


def test_a_decision_is_published_once_and_everyone_reads_that_one(planned: Any) -> None:
    layout, specs = planned
    for s in specs:
        _train(layout, s, range(1, 3), 1, 0)
    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: results.append(rungs.decision(layout, "pamap2-baseline.cpu", 0)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({json.dumps(r, sort_keys=True) for r in results}) == 1
    target = layout.rung_decision("pamap2-baseline.cpu", 0)
    assert not rungs.publish(target, {"rung": 0, "forged": True})  # the first one stays
    assert "forged" not in json.loads(target.read_text())
    assert not list(target.parent.glob(".*draft"))


def test_runs_without_a_report_are_missing_and_leave_the_search(planned: Any) -> None:
    layout, specs = planned
    late = next(s for s in specs if s.setup == 4 and s.repeat == 2)
    gone = [s for s in specs if s.setup == 3]
    for s in specs:
        if s is not late and s not in gone:
            _train(layout, s, range(1, 3), 1, 0)
    dec = rungs.decision(layout, "pamap2-baseline.cpu", 0)
    assert set(dec["missing"]) == {late.run_id, *(s.run_id for s in gone)}
    assert dec["survivors"] == [2, 4] and 3 in dec["pruned"]  # setup 3 had no run to score
    assert rungs.SearchGate(late, layout.run(late.run_id)).admit() == rungs.Admission(0, 2, False)


def test_later_rungs_and_the_final_pass(planned: Any) -> None:
    layout, specs = planned
    for s in specs:
        _train(layout, s, range(1, 3), 1, 0)
    rungs.decision(layout, "pamap2-baseline.cpu", 0)
    for s in specs:
        if s.setup in (3, 4):
            _train(layout, s, range(3, 5), 2, 1)
    dec1 = rungs.decision(layout, "pamap2-baseline.cpu", 1)
    assert dec1["survivors"] == [4] and dec1["pruned"] == [3] and dec1["ends_epoch"] == 4
    best = next(s for s in specs if s.setup == 4)
    gate = rungs.SearchGate(best, layout.run(best.run_id))
    assert gate.admit() == rungs.Admission(rung=2, until_epoch=None, pruned=False)
    assert markers.attempts_this_rung(layout.run(best.run_id)) == 0  # requeues count per rung
    with pytest.raises(Exception, match="no decision after rung 2"):
        rungs.make_decision(layout, "pamap2-baseline.cpu", 2)
    # between passes: the survivors still paused go on (repeat 1 was let through by its gate already)
    assert [(s.setup, s.repeat) for s in rungs.settle(layout, specs)] == [(4, 2)]
