"""Run states from the worker's markers (and, on SLURM, the scheduler's view).

No torch and no SLURM calls here: ``status`` must answer instantly on a
login node. States: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT,
LOST (started, but no heartbeat for ``lost_after_s`` and no live process).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from .errors import ResultsError
from .paths import ResultsLayout, RunPaths, read_json

STATES = ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "LOST")
FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "LOST")

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
    state: str
    attempt: int = 0
    epoch: int | None = None
    val_accuracy: float | None = None
    energy_j: float | None = None
    reason: str | None = None
    heartbeat_age_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_plan(layout: ResultsLayout) -> list[dict[str, Any]]:
    """The planned run specs of a results directory."""
    if not layout.plan.exists():
        raise ResultsError(f"{layout.root}: not an energybench results directory (no plan.json); "
                           "run `energybench submit CONFIG --results DIR` first")
    return read_json(layout.plan)["runs"]


def _safe_json(path: Any) -> dict[str, Any]:
    try:
        data = read_json(path)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def run_state(spec: dict[str, Any], run: RunPaths, now: float,
              lost_after_s: float = DEFAULT_LOST_AFTER_S) -> RunState:
    """The state of one run from its markers."""
    base = {k: spec[k] for k in ("run_id", "paradigm", "hardware", "setup", "repeat")}
    if not run.started.exists():
        if run.failed.exists():  # failed before starting (e.g. its dependency failed)
            f = _safe_json(run.failed)
            return RunState(**base, state=f.get("state", "FAILED"), reason=f.get("reason"))
        return RunState(**base, state="PENDING")
    started = _safe_json(run.started)
    hb = _safe_json(run.heartbeat) if run.heartbeat.exists() else {}
    attempt = int(started.get("attempt", 1))
    last_s = float(hb.get("time_s", started.get("time_s", now)))
    common = dict(attempt=attempt, epoch=hb.get("epoch"), val_accuracy=hb.get("val_accuracy"),
                  energy_j=hb.get("energy_j_this_attempt"), heartbeat_age_s=max(0.0, now - last_s))
    if run.done.exists():
        return RunState(**base, state="COMPLETED", **common)
    if run.failed.exists():
        f = _safe_json(run.failed)
        return RunState(**base, state=f.get("state", "FAILED"), reason=f.get("reason"), **common)
    if now - last_s > lost_after_s:
        return RunState(**base, state="LOST", reason=f"no heartbeat for {now - last_s:.0f} s", **common)
    return RunState(**base, state="RUNNING", **common)


def run_states(layout: ResultsLayout, now: float | None = None,
               lost_after_s: float = DEFAULT_LOST_AFTER_S) -> list[RunState]:
    """The state of every planned run, in plan order."""
    now = time.time() if now is None else now
    return [run_state(s, layout.run(s["run_id"]), now, lost_after_s) for s in load_plan(layout)]


def counts(states: list[RunState]) -> dict[tuple[str, str], Counter[str]]:
    """State counts per (hardware, paradigm)."""
    out: dict[tuple[str, str], Counter[str]] = {}
    for s in states:
        out.setdefault((s.hardware, s.paradigm), Counter())[s.state] += 1
    return out


def all_completed(states: list[RunState]) -> bool:
    return bool(states) and all(s.state == "COMPLETED" for s in states)
