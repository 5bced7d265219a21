"""The worker's markers: small JSON files that tell ``status`` what a run is doing.

``started.json`` (attempt, host, pid, scheduler ids), ``heartbeat.json``
(refreshed at every shard flush and epoch), ``done.json`` and ``failed.json``
(with a one-line reason). All are written atomically. No torch here.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from ..paths import RunPaths, read_json, write_json

#: SLURM variables recorded as provenance when present.
SLURM_VARS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_PARTITION",
              "SLURMD_NODENAME", "SLURM_RESTART_COUNT")


def scheduler_ids() -> dict[str, str]:
    """The SLURM ids of this process's job, if any."""
    return {k.lower(): os.environ[k] for k in SLURM_VARS if k in os.environ}


def previous_attempts(run: RunPaths) -> int:
    """How many attempts this run has started before."""
    if not run.started.exists():
        return 0
    try:
        return int(read_json(run.started).get("attempt", 0))
    except (ValueError, OSError):
        return 0


def attempts_this_rung(run: RunPaths) -> int:
    """Attempts started since the run last paused at a search rung's end (all of them without a search).

    A searched run starts one attempt per rung; only requeues within a rung count against
    ``max_attempts``.
    """
    attempt = previous_attempts(run)
    try:
        rungs = read_json(run.rungs) if run.rungs.exists() else []
        last = max((int(r.get("attempt", 0)) for r in rungs), default=0) if isinstance(rungs, list) else 0
    except (OSError, ValueError):
        last = 0
    return attempt - last


def mark_started(run: RunPaths, attempt: int) -> dict[str, Any]:
    """Record that ``attempt`` started; clears a previous attempt's end markers."""
    info = {"attempt": attempt, "host": socket.gethostname(), "pid": os.getpid(),
            "time_s": time.time(), **scheduler_ids()}
    for stale in (run.done, run.failed, run.paused):
        stale.unlink(missing_ok=True)
    write_json(run.started, info)
    return info


def heartbeat(run: RunPaths, **progress: Any) -> None:
    """Refresh the heartbeat with the run's progress (epoch, accuracy, energy so far)."""
    write_json(run.heartbeat, {"time_s": time.time(), **progress})


def mark_done(run: RunPaths, **info: Any) -> None:
    write_json(run.done, {"time_s": time.time(), **info})


def mark_failed(run: RunPaths, reason: str, **info: Any) -> None:
    write_json(run.failed, {"time_s": time.time(), "reason": reason, **info})
