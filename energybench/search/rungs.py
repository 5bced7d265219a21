"""Successive halving on the results directory: rung reports, decisions, and the gate. File I/O.

No daemon decides. A run that reaches the end of its rung writes
``runs/<id>/paused.json`` and appends the rung to ``runs/<id>/rungs.json``,
then its worker exits. The next time the run is launched (the local
executor's next pass, or the task of the next rung's SLURM array, which waits
with ``afterany`` for the whole rung), its :class:`SearchGate` looks up the
decision of that rung, ``search/<bracket>/rung-<r>.json``; the first launch
that finds it missing makes it from the rung's epoch shards (a pure
function of them: :mod:`.halving`, :mod:`.objectives`) and publishes it with
a hard link, which fails if another worker was first (atomic on NFS and
Lustre as on a local disk; no ``flock``). Everyone then reads the one
published file. A pruned run is finished on the spot: its record says
``stop_reason: pruned`` with the decision's scores, its data stay.

Runs of a bracket that reported neither the rung nor an early stop when the
decision is made (failed, or still running because a resubmission skipped
the dependency) are recorded as ``missing`` and leave the search.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Experiment, Search
from ..errors import EnergybenchError
from ..estimate.budget import epoch_rows
from ..paths import ResultsLayout, RunPaths, atomic_path, read_json, write_json
from ..plan import RunSpec
from ..planfile import load_plan
from ..states import State
from . import halving, objectives

PRUNED = "pruned"


def bracket_of(spec: RunSpec | dict[str, Any]) -> str:
    """``<workload>.<hardware>``: the runs that compete in one search."""
    d = spec if isinstance(spec, dict) else spec.to_dict()
    return f"{d['paradigm']}.{d['hardware']}"


def bracket_specs(layout: ResultsLayout, bracket: str) -> list[dict[str, Any]]:
    """The planned specs of one bracket, in plan order."""
    return [s for s in load_plan(layout) if bracket_of(s) == bracket]


def schedule_for(search: Search, early_stopping: dict[str, Any] | Any, specs: list[dict[str, Any]]) -> halving.Schedule:
    max_epochs = early_stopping["max_epochs"] if isinstance(early_stopping, dict) else early_stopping.max_epochs
    return halving.schedule(search, max_epochs, len({s["setup"] for s in specs}))


def experiment_schedule(exp: Experiment) -> halving.Schedule | None:
    """The schedule every bracket of ``exp`` follows (all have the grid's setups); None without a search."""
    if exp.search is None:
        return None
    n = len(exp.grid.batch_sizes) * len(exp.grid.learning_rates)
    return halving.schedule(exp.search, exp.early_stopping.max_epochs, n)


def finished_rungs(run: RunPaths) -> list[dict[str, Any]]:
    """The rungs this run reached the end of, in order (``rungs.json``)."""
    try:
        data = read_json(run.rungs) if run.rungs.exists() else []
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def record_pause(run: RunPaths, rung: int, epoch: int, attempt: int) -> None:
    """The worker reached the end of ``rung`` after ``epoch``: say so (idempotent per rung)."""
    entry = {"rung": rung, "epoch": epoch, "attempt": attempt, "time_s": time.time()}
    done = [r for r in finished_rungs(run) if r.get("rung") != rung]
    write_json(run.rungs, sorted([*done, entry], key=lambda r: r["rung"]))
    write_json(run.paused, entry)


def _history(run: RunPaths, until_epoch: int) -> objectives.History | None:
    rows = [r for r in epoch_rows(run, ("energy_j", "duration_s", "val_accuracy")) if r["epoch"] <= until_epoch]
    if not rows:
        return None
    return objectives.History(tuple(float(r["energy_j"] or 0.0) for r in rows),
                              tuple(float(r["duration_s"] or 0.0) for r in rows),
                              tuple(r["val_accuracy"] for r in rows))


def _reported(run: RunPaths, rung: int) -> bool:
    """The run finished ``rung``, or stopped on its own before its end (early stopping)."""
    if any(r.get("rung") == rung for r in finished_rungs(run)):
        return True
    return run.done.exists() and run.record.exists()


def make_decision(layout: ResultsLayout, bracket: str, rung: int) -> dict[str, Any]:
    """Compute the decision after ``rung`` of ``bracket`` from the runs' shards (nothing written)."""
    specs = bracket_specs(layout, bracket)
    if not specs or not specs[0].get("search"):
        raise EnergybenchError(f"{layout.root}: bracket {bracket!r} has no search in its plan")
    search = Search.model_validate(specs[0]["search"])
    es = RunSpec.from_dict(specs[0]).early_stopping
    sched = schedule_for(search, specs[0]["early_stopping"], specs)
    if rung >= sched.rungs:
        raise EnergybenchError(f"bracket {bracket!r} has {sched.rungs} rungs; there is no decision after rung {rung}")
    alive = set(s["setup"] for s in specs)
    if rung > 0:
        alive = set(decision(layout, bracket, rung - 1)["survivors"])
    until = sched.ends_epoch[rung]
    histories: dict[str, objectives.History] = {}
    setup_of: dict[str, int] = {}
    missing: list[str] = []
    for s in specs:
        if s["setup"] not in alive:
            continue
        run = layout.run(s["run_id"])
        h = _history(run, until) if _reported(run, rung) else None
        if h is None:
            missing.append(s["run_id"])
        else:
            histories[s["run_id"]], setup_of[s["run_id"]] = h, s["setup"]
    run_scores = objectives.scores(histories, search, es)
    by_setup = objectives.setup_scores(run_scores, setup_of)
    survivors, pruned = halving.select(by_setup, sched.keep[rung])
    pruned += sorted(alive - set(by_setup))  # setups with no run to score
    return {
        "bracket": bracket, "rung": rung, "ends_epoch": until, "objective": search.objective,
        "search": search.model_dump(mode="json"), "keep": sched.keep[rung],
        "candidates": [{"run_id": rid, "setup": setup_of[rid], "score": run_scores[rid],
                        "setup_score": by_setup[setup_of[rid]], "survived": setup_of[rid] in survivors,
                        **objectives.measures(h, es)} for rid, h in histories.items()],
        "survivors": survivors, "pruned": pruned, "missing": missing,
        "decided_at_s": time.time(), "decided_by": {"host": socket.gethostname(), "pid": os.getpid(),
                                                    "slurm_job_id": os.environ.get("SLURM_JOB_ID")},
    }


def decision(layout: ResultsLayout, bracket: str, rung: int) -> dict[str, Any]:
    """The published decision after ``rung``; made and published now if nobody has yet."""
    target = layout.rung_decision(bracket, rung)
    if not target.exists():
        publish(target, make_decision(layout, bracket, rung))
        finish_pruned(layout, read_json(target))
    return read_json(target)


def publish(target: Path, data: dict[str, Any]) -> bool:
    """Write ``data`` to ``target`` unless it exists; True if this call wrote it (a hard link: atomic, once)."""
    import json

    # A draft of this process and thread alone (two threads of one process must not share one).
    draft = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.draft")
    with atomic_path(draft) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    try:
        os.link(draft, target)
        return True
    except FileExistsError:
        return False
    finally:
        draft.unlink(missing_ok=True)


def prune(run: RunPaths, dec: dict[str, Any]) -> None:
    """Finish a run the decision pruned: ``stop_reason: pruned``, its measurements kept. Idempotent."""
    from ..worker import markers

    if run.done.exists():
        return
    rec = read_json(run.record) if run.record.exists() else read_json(run.spec)
    epochs = max((r["epoch"] for r in epoch_rows(run, ())), default=0)
    rec.update(status=State.COMPLETED, stop_reason=PRUNED, epochs=rec.get("epochs", epochs),
               search_decision={"bracket": dec["bracket"], "rung": dec["rung"], "objective": dec["objective"],
                       "score": next((c["setup_score"] for c in dec["candidates"]
                                      if c["run_id"] == run.dir.name), None)})
    write_json(run.record, rec)
    run.paused.unlink(missing_ok=True)
    markers.mark_done(run, epochs=rec["epochs"], pruned=True, rung=dec["rung"])


def finish_pruned(layout: ResultsLayout, dec: dict[str, Any]) -> None:
    """Finish every paused run of the pruned setups (a run that stopped early keeps its own reason)."""
    pruned = set(dec["pruned"])
    for s in bracket_specs(layout, dec["bracket"]):
        run = layout.run(s["run_id"])
        if s["setup"] in pruned and run.paused.exists():
            prune(run, dec)


@dataclass(frozen=True)
class Admission:
    """What one launch of a run may do (:class:`energybench.worker.rules.RungGate`)."""

    rung: int  # the rung this launch trains in (``schedule.rungs``: the final pass)
    until_epoch: int | None  # pause after this epoch; None: train to early stopping
    pruned: bool  # True: a decision pruned it (it is finished; nothing trains)


class SearchGate:
    """The gate one run passes at every launch (built by :func:`gate_for`)."""

    def __init__(self, spec: RunSpec, run: RunPaths) -> None:
        self.spec, self.run = spec, run
        self.layout = ResultsLayout(run.dir.parent.parent)  # DIR/runs/<id>
        self.bracket = bracket_of(spec)
        specs = bracket_specs(self.layout, self.bracket)
        self.schedule = schedule_for(spec.search, spec.early_stopping, specs)  # type: ignore[arg-type]

    def admit(self) -> Admission:
        """Decide (and, if first, publish) every rung this run has finished; where does it stand now?"""
        reached = {int(r["rung"]) for r in finished_rungs(self.run)}
        rung = 0
        while rung < self.schedule.rungs and rung in reached:
            dec = decision(self.layout, self.bracket, rung)
            if self.spec.setup not in dec["survivors"]:
                prune(self.run, dec)
                return Admission(rung, None, True)
            rung += 1
        if rung < self.schedule.rungs and self.layout.rung_decision(self.bracket, rung).exists():
            # the rung was decided without this run (it failed or was late): it left the search
            dec = read_json(self.layout.rung_decision(self.bracket, rung))
            if self.spec.setup not in dec["survivors"]:
                prune(self.run, dec)
                return Admission(rung, None, True)
        self.run.paused.unlink(missing_ok=True)
        return Admission(rung, self.schedule.until_epoch(rung), False)

    def paused(self, rung: int, epoch: int, attempt: int) -> None:
        record_pause(self.run, rung, epoch, attempt)

    def rung_of_epoch(self, epoch: int) -> int:
        return self.schedule.rung_of_epoch(epoch)


def gate_for(spec: RunSpec, run: RunPaths) -> SearchGate | None:
    """The gate of one run (a ``RungGateFactory``), or None when its config has no search."""
    return SearchGate(spec, run) if spec.search is not None else None


def settle(layout: ResultsLayout, specs: list[RunSpec]) -> list[RunSpec]:
    """Make the decisions that the paused runs among ``specs`` wait for; return the ones that go on.

    The local executor calls it between passes, so that pruned runs are
    finished without starting a worker.
    """
    made: set[tuple[str, int]] = set()
    for s in specs:
        run = layout.run(s.run_id)
        if not run.paused.exists() or run.done.exists():
            continue
        try:
            rung = int(read_json(run.paused)["rung"])
        except (OSError, ValueError, KeyError):
            continue
        if (bracket_of(s), rung) not in made:
            decision(layout, bracket_of(s), rung)
            made.add((bracket_of(s), rung))
    return [s for s in specs if layout.run(s.run_id).paused.exists() and not layout.run(s.run_id).done.exists()]
