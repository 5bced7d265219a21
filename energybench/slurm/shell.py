"""The one function that runs SLURM's command-line tools.

Every sbatch, sacct, squeue, scontrol, sinfo and scancel call of energybench
goes through :func:`slurm` (ReFrame keeps one such function too): arguments
are a list (never a shell string), every call has a timeout, read-only queries
are retried, and every failure becomes one :class:`SubmitError` line naming
the command and SLURM's own message. Tests replace :data:`RUNNER` to fake the
cluster.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import SubmitError

#: Tools energybench calls; anything else is a bug.
TOOLS = ("sbatch", "sacct", "squeue", "scontrol", "sinfo", "scancel", "sacctmgr")
#: Commands that only read: safe to retry after a timeout or a transient error.
_READ_ONLY = {"sacct", "squeue", "sinfo", "sacctmgr"}
#: Fragments of SLURM messages that mean "try again", not "you asked for something wrong".
_TRANSIENT = ("timed out", "unable to contact", "connection refused", "temporarily unavailable",
              "try again", "slurm_persist_conn_open")


@dataclass(frozen=True)
class Result:
    """What a SLURM command printed and returned."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def _subprocess_runner(args: Sequence[str], timeout_s: float, stdin: str | None) -> Result:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout_s, input=stdin)
    return Result(tuple(args), proc.returncode, proc.stdout, proc.stderr)


#: The runner behind :func:`slurm`: ``(args, timeout_s, stdin) -> Result``; tests swap it.
RUNNER: Callable[[Sequence[str], float, str | None], Result] = _subprocess_runner


def _first_line(text: str) -> str:
    """The line that says what went wrong (an error line before any warnings)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or [""])[0]


def slurm(args: Sequence[str], *, timeout_s: float = 30.0, check: bool = True, retries: int | None = None,
          stdin: str | None = None) -> Result:
    """Run one SLURM command (``args[0]`` in :data:`TOOLS`) and return its output.

    ``retries`` (after a timeout or a transient error) defaults to 2 for
    read-only queries and 0 otherwise (a retried sbatch could submit twice). With ``check``, a non-zero exit raises
    :class:`SubmitError`; a missing tool or a timeout always does.
    """
    tool = args[0]
    if tool not in TOOLS:
        raise ValueError(f"not a SLURM tool: {tool!r}")
    attempts = 1 + (retries if retries is not None else (2 if tool in _READ_ONLY else 0))
    shown = " ".join(args[:3]) + (" ..." if len(args) > 3 else "")
    for i in range(attempts):
        last = i == attempts - 1
        try:
            res = RUNNER(args, timeout_s, stdin)
        except FileNotFoundError:
            raise SubmitError(f"{tool}: not found on PATH; run this on a SLURM login node "
                              "(or use --dry-run / --executor local)") from None
        except subprocess.TimeoutExpired:
            if last:
                raise SubmitError(f"{shown}: no answer from SLURM within {timeout_s:.0f} s; "
                                  "is slurmctld up? try again later") from None
            time.sleep(1.0 + i)
            continue
        if res.returncode == 0 or not check:
            return res
        msg = _first_line(res.stderr) or _first_line(res.stdout) or f"exit code {res.returncode}"
        if last or not any(t in msg.lower() for t in _TRANSIENT):
            raise SubmitError(f"{shown}: {msg}")
        time.sleep(1.0 + i)
    raise AssertionError("unreachable")
