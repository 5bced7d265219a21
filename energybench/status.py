"""Run states from the worker's markers, joined with the scheduler's view on SLURM.

No torch here, and at most one (cached) scheduler query: ``status`` must
answer instantly on a login node. States: PENDING, RUNNING, COMPLETED, FAILED,
CANCELLED, TIMEOUT, LOST (no heartbeat for ``lost_after_s`` and no scheduler
record, or SLURM says the run's node failed). The worker's ``done.json``
always wins; a queued or running job wins over markers of an earlier
submission; a job that ended without the worker saying why is reported with
SLURM's state and exit (e.g. "killed by signal 9").
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from .errors import SubmitError
from .paths import ResultsLayout, RunPaths, read_json
from .planfile import load_plan
from .states import FINISHED, ORDER, State

if TYPE_CHECKING:
    from .slurm.accounting import JobRecord, SchedulerView
    from .slurm.manifest import JobRef

STATES = ORDER  # kept for readers of older code: the states in display order

#: A started run whose heartbeat is older than this is LOST (seconds).
DEFAULT_LOST_AFTER_S = 600.0


@dataclass(frozen=True)
class RunState:
    """What is known about one planned run."""

    run_id: str
    paradigm: str
    hardware: str
    setup: int
    repeat: int
    state: State
    attempt: int = 0
    epoch: int | None = None
    val_accuracy: float | None = None
    energy_j: float | None = None
    reason: str | None = None
    heartbeat_age_s: float | None = None
    job_id: str | None = None  # SLURM array task holding the run ("<array job id>_<index>")
    scheduler: str | None = None  # SLURM's state of that task, when it was asked

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _safe_json(path: Any) -> dict[str, Any]:
    try:
        data = read_json(path)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def run_state(spec: dict[str, Any], run: RunPaths, now: float,
              lost_after_s: float = DEFAULT_LOST_AFTER_S, job: "JobRef | None" = None,
              record: "JobRecord | None" = None, asked: bool = False, queue_complete: bool = False) -> RunState:
    """The state of one run: its markers, joined with its SLURM job if it has one.

    ``job`` is the run's manifest entry, ``record`` the scheduler's answer for
    it, ``asked`` whether the scheduler was asked at all (a missing record
    only counts when it was) and ``queue_complete`` whether squeue answered
    (then a missing record means the task is no longer queued).
    """
    state = _marker_state(spec, run, now, lost_after_s)
    if job is None:
        return state
    return _join(state, run, now, lost_after_s, job, record, asked, queue_complete)


_RUNNING_LIKE = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING", "CONFIGURING"}
#: SLURM's terminal states (left) as run states.
_SCHED_TERMINAL = {"CANCELLED": State.CANCELLED, "TIMEOUT": State.TIMEOUT, "PREEMPTED": State.CANCELLED,
                   "DEADLINE": State.TIMEOUT, "NODE_FAIL": State.LOST, "BOOT_FAIL": State.LOST}
#: How SLURM's terminal states read in a reason.
_SCHED_WHY = {"NODE_FAIL": "its node failed (SLURM NODE_FAIL)",
              "BOOT_FAIL": "its node failed to boot (SLURM BOOT_FAIL)"}


def _ended(record: "JobRecord") -> str:
    """Why a task ended, from SLURM's record: its state and exit code (``exit:signal``) in words."""
    detail = _SCHED_WHY.get(record.state, f"SLURM {record.state}")
    code = record.exit_code or "0:0"
    _, _, signal_s = code.partition(":")
    if signal_s.isdigit() and int(signal_s) and record.state == "FAILED":
        try:
            name = f" ({signal.Signals(int(signal_s)).name})"
        except ValueError:
            name = ""
        detail += f": killed by signal {signal_s}{name}"
    elif code != "0:0":
        detail += f" (exit {code})"
    return detail


def _join(m: RunState, run: RunPaths, now: float, lost_after_s: float, job: "JobRef",
          record: "JobRecord | None", asked: bool, queue_complete: bool) -> RunState:
    from .slurm.accounting import LIVE

    m = replace(m, job_id=job.job_id, scheduler=record.state if record else None)
    if m.state == State.COMPLETED:
        return m
    failed = _safe_json(run.failed) if run.failed.exists() else None
    fresh_failure = failed is not None and float(failed.get("time_s", 0)) >= job.submit_time_s
    started = _safe_json(run.started) if run.started.exists() else {}
    this_job_started = bool(started) and float(started.get("time_s", 0)) >= job.submit_time_s
    if record is not None and record.state in LIVE:
        if record.state in _RUNNING_LIKE:
            return replace(m, state=State.RUNNING, reason=None)
        if run.paused.exists():  # the task of its next rung waits for the rung to end
            return replace(m, state=State.PENDING)
        if m.state == State.RUNNING and this_job_started and record.reason == "Dependency":
            return replace(m, reason=None)  # a search: this rung's task runs, the next rung's waits
        why = f"requeued after attempt {m.attempt}" if this_job_started else None
        if why and record.previous_state in _SCHED_WHY:  # SLURM requeued it after a node failure
            why = f"{_SCHED_WHY[record.previous_state]} during attempt {m.attempt}; requeued by SLURM"
        if record.reason and record.reason not in ("Priority", "Resources"):
            why = (f"{why}; " if why else "") + f"waiting: {record.reason}"
        return replace(m, state=State.PENDING, reason=why)
    if fresh_failure:
        return m  # the worker said why (FAILED or TIMEOUT, with its reason)
    if run.paused.exists():
        return m  # paused at a rung's end: a later submission goes on
    if record is not None:
        detail = _ended(record)
        if record.state == "COMPLETED":
            detail = "the job ended without the worker's done marker"
        state = _SCHED_TERMINAL.get(record.state, State.FAILED)
        hint = "; submit again to resume" if state in (State.FAILED, State.LOST) and this_job_started else ""
        return replace(m, state=state, reason=f"{detail}; job {job.job_id}{hint}")
    if this_job_started:
        age = m.heartbeat_age_s or 0.0
        if age > lost_after_s:
            return replace(m, state=State.LOST, reason=f"no heartbeat for {age:.0f} s and no scheduler record "
                                                   f"of job {job.job_id}")
        return replace(m, state=State.RUNNING, reason=None)
    if queue_complete:  # not queued, never started, and no accounting record: cancelled while pending
        return replace(m, state=State.CANCELLED, reason=f"job {job.job_id} left the queue before it started "
                                                    "(cancelled while pending)")
    since = now - job.submit_time_s
    if asked and since > lost_after_s:
        return replace(m, state=State.LOST, reason=f"submitted {since:.0f} s ago as job {job.job_id}, never "
                                               "started, and SLURM has no record of it")
    return replace(m, state=State.PENDING, reason=None)


def _marked(failed: dict[str, Any]) -> State:
    """The state a ``failed.json`` names (FAILED or TIMEOUT); FAILED for anything else."""
    try:
        return State(failed.get("state", State.FAILED))
    except ValueError:
        return State.FAILED


def _marker_state(spec: dict[str, Any], run: RunPaths, now: float, lost_after_s: float) -> RunState:
    """The state of one run from its markers alone."""
    base = {k: spec[k] for k in ("run_id", "paradigm", "hardware", "setup", "repeat")}
    if not run.started.exists():
        if run.failed.exists():  # failed before starting (e.g. its dependency failed)
            f = _safe_json(run.failed)
            return RunState(**base, state=_marked(f), reason=f.get("reason"))
        return RunState(**base, state=State.PENDING)
    started = _safe_json(run.started)
    hb = _safe_json(run.heartbeat) if run.heartbeat.exists() else {}
    attempt = int(started.get("attempt", 1))
    last_s = float(hb.get("time_s", started.get("time_s", now)))
    common = dict(attempt=attempt, epoch=hb.get("epoch"), val_accuracy=hb.get("val_accuracy"),
                  energy_j=hb.get("energy_j_this_attempt"), heartbeat_age_s=max(0.0, now - last_s))
    if run.done.exists():
        return RunState(**base, state=State.COMPLETED, **common)
    if run.failed.exists():
        f = _safe_json(run.failed)
        return RunState(**base, state=_marked(f), reason=f.get("reason"), **common)
    if run.paused.exists():
        p = _safe_json(run.paused)
        return RunState(**base, state=State.PENDING, reason=f"search: paused at the end of rung {p.get('rung')} "
                        f"(epoch {p.get('epoch')}), waiting for the rung's decision", **common)
    if now - last_s > lost_after_s:
        return RunState(**base, state=State.LOST, reason=f"no heartbeat for {now - last_s:.0f} s", **common)
    return RunState(**base, state=State.RUNNING, **common)


def run_states(layout: ResultsLayout, now: float | None = None, lost_after_s: float = DEFAULT_LOST_AFTER_S,
               view: "SchedulerView | None" = None) -> list[RunState]:
    """The state of every planned run, in plan order.

    Runs recorded in ``manifest.json`` are joined with ``view`` (the
    scheduler's answer); without a view, with what the markers tell.
    """
    from .slurm.manifest import Manifest

    now = time.time() if now is None else now
    jobs = Manifest.load(layout.manifest).jobs() if layout.manifest.exists() else {}
    out = []
    for s in load_plan(layout):
        job = jobs.get(s["run_id"])
        record = view.get(job.job_id) if (view is not None and job is not None) else None
        out.append(run_state(s, layout.run(s["run_id"]), now, lost_after_s, job, record, view is not None,
                             view is not None and view.queue_complete))
    return out


def current_states(layout: ResultsLayout, max_age_s: float = 5.0, lost_after_s: float = DEFAULT_LOST_AFTER_S,
                   required: bool = False) -> tuple[list[RunState], str | None]:
    """Every run's state, asking the scheduler once (answers up to ``max_age_s`` old are reused).

    Returns the states and a note when the scheduler could not be asked (then
    the markers alone decide). With ``required``, that is an error instead.
    """
    from .slurm.accounting import scheduler_view
    from .slurm.manifest import Manifest

    load_plan(layout)  # a clear error for a directory that is not ours
    manifest = Manifest.load(layout.manifest)
    view, note = None, None
    if manifest.array_job_ids():
        try:
            view = scheduler_view(manifest.array_job_ids(), layout.scheduler_cache, max_age_s)
        except SubmitError as exc:
            if required:
                raise SubmitError(f"cannot tell which runs are queued or running: {exc}") from None
            note = f"scheduler not asked ({exc}); states from the workers' markers only"
    return run_states(layout, lost_after_s=lost_after_s, view=view), note


def counts(states: list[RunState]) -> dict[tuple[str, str], Counter[str]]:
    """State counts per (hardware, paradigm)."""
    out: dict[tuple[str, str], Counter[str]] = {}
    for s in states:
        out.setdefault((s.hardware, s.paradigm), Counter())[s.state] += 1
    return out


def all_completed(states: list[RunState]) -> bool:
    return bool(states) and all(s.state == State.COMPLETED for s in states)


def all_finished(states: list[RunState]) -> bool:
    """True when no run is pending or running any more."""
    return all(s.state in FINISHED for s in states)
