"""Runs the steps in order, each within its time budget, and writes the results as each step ends.

* A step gets the smaller of its budget and what is left of the overall one, and is told its
  deadline (:attr:`Context.deadline_mono`) to end before. A timer (SIGALRM) a grace period
  later interrupts a step that does not: its checks end as ERROR, and the next step starts.
* A step that raises keeps the figures and tables it had filled in; every check it had not
  judged ends as ERROR (or SKIP, when it could not run here), and the traceback goes to
  ``validation.log``. The other steps go on.
* After every step its tables are written as Parquet and ``validation.md`` /
  ``validation.json`` are rewritten, each through a rename.
* A watchdog thread ends the process at the overall budget even when a step hangs in native
  code, out of the timer's reach: it writes what was measured, says where it stopped, and
  exits 3.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..paths import atomic_path
from . import report
from .context import Context, SkipStep, Step
from .report import StepResult

#: Seconds kept back from the overall budget for the last writes.
RESERVE_S = 3.0
#: A step is not started with less than this left of the overall budget, seconds.
MIN_STEP_S = 2.0
#: Least grace a step gets past its deadline before the timer interrupts it, seconds.
GRACE_MIN_S = 5.0
#: Exit code when the watchdog ended the validation.
EXIT_OVERALL_BUDGET = 3


class StepTimeout(BaseException):
    """A step ran past its deadline plus grace (a BaseException: no ``except Exception`` swallows it)."""


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise :class:`StepTimeout` in the main thread after ``seconds`` (nothing off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        raise StepTimeout(f"timed out after {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def git_commit(repo: Path) -> str | None:
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=5)
        return r.stdout.strip() or None if r.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def machine_meta(repo: Path) -> dict[str, Any]:
    """Where the validation ran: host, Python, torch, CUDA, the GPU visible."""
    import torch

    from .. import __version__

    return {"host": socket.gethostname(), "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "energybench": __version__, "git_commit": git_commit(repo),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "command": "python -m energybench.validate " + " ".join(sys.argv[1:])}


class Runner:
    """Drives :data:`steps` over one :class:`Context` (see the module docstring)."""

    def __init__(self, steps: tuple[Step, ...], ctx: Context, meta: dict[str, Any], deadline_mono: float,
                 started_mono: float, on_abort: Callable[[], None] = lambda: None) -> None:
        self.steps = steps
        self.ctx = ctx
        self.meta = meta
        self.deadline_mono = deadline_mono
        self.started_mono = started_mono
        self.on_abort = on_abort  # what the watchdog does before it ends the process
        self.results: list[StepResult] = []
        self._current: tuple[Step, StepResult, float] | None = None  # step, its result, its start
        self._lock = threading.Lock()

    # ------------------------------------------------------------ running
    def run(self) -> int:
        self._write("running")
        watchdog = threading.Timer(max(self.deadline_mono - time.monotonic(), 0.0), self._overall_budget_spent)
        watchdog.daemon = True
        watchdog.name = "energybench-validate-watchdog"
        watchdog.start()
        state = "interrupted"
        try:
            for step in self.steps:
                res = self._run_step(step)
                with self._lock:
                    self._current = None
                    self.results.append(res)
                    self._write_tables(res)
                    self._write(f"running (done: {step.name})")
                self._print(res)
            state = "complete"
        finally:
            watchdog.cancel()
            with self._lock:
                self._write(state)
        errors = sum(v.status == "ERROR" for r in self.results for v in r.verdicts)
        return 1 if errors else 0

    def _run_step(self, step: Step) -> StepResult:
        res = StepResult(step.name, step.title)
        left = self.deadline_mono - RESERVE_S - time.monotonic()
        if left < MIN_STEP_S:
            self._complete(res, step, "SKIP", "not run: the validation's overall budget is spent")
            return res
        budget = min(self.ctx.profile.budgets_s.get(step.name, left), left)
        grace = max(GRACE_MIN_S, 0.1 * budget)
        t0 = time.monotonic()
        self.ctx.deadline_mono = t0 + budget
        self._current = (step, res, t0)
        status, reason = "ERROR", "the step ended without judging this check"
        try:
            with _alarm(min(budget + grace, self.deadline_mono - RESERVE_S - t0)):
                step.run(self.ctx, res)
        except SkipStep as exc:
            status, reason = "SKIP", str(exc)
        except StepTimeout as exc:
            status, reason = "ERROR", f"the step {exc} (budget {budget:.0f} s)"
            self._log(step, exc)
        except Exception as exc:
            status, reason = "ERROR", f"the step failed: {type(exc).__name__}: {_first_line(exc)}"
            self._log(step, exc)
        res.wall_s = time.monotonic() - t0
        self._complete(res, step, status, reason)
        return res

    def _complete(self, res: StepResult, step: Step, status: str, reason: str) -> None:
        """One verdict for every check the step declares and did not judge."""
        judged = {v.check for v in res.verdicts}
        for check in step.checks(self.ctx.profile):
            if check not in judged:
                res.verdict(check, status, reason)

    def _overall_budget_spent(self) -> None:
        """Watchdog: write what was measured and end the process."""
        got = self._lock.acquire(timeout=5.0)
        try:
            current = self._current
            name = current[0].name if current else "between steps"
            done = {r.step for r in self.results}
            if current is not None:
                step, res, t0 = current
                res.wall_s = time.monotonic() - t0
                self._complete(res, step, "ERROR", "stopped by the validation's overall budget")
                self.results.append(res)
                self._write_tables(res)
                done.add(step.name)
            for step in self.steps:
                if step.name not in done:
                    res = StepResult(step.name, step.title)
                    self._complete(res, step, "SKIP", "not run: the validation's overall budget is spent")
                    self.results.append(res)
            budget = self.deadline_mono - self.started_mono
            self._write(f"stopped by its overall budget ({budget:.0f} s) during {name}")
            print(f"energybench validate: stopped by its overall budget ({budget:.0f} s) during {name}; "
                  f"results so far in {self.ctx.paths.dir}", file=sys.stderr, flush=True)
            self.ctx.log.flush()
            self.on_abort()
        finally:
            if got:
                self._lock.release()
            os._exit(EXIT_OVERALL_BUDGET)

    # ------------------------------------------------------------ writing
    def _write(self, state: str) -> None:
        self.meta["wall_s"] = time.monotonic() - self.started_mono
        report.write(self.ctx.paths.report, self.ctx.paths.figures, self.meta, self.results, state)

    def _write_tables(self, res: StepResult) -> None:
        for name, table in res.tables.items():
            path = self.ctx.paths.table(res.step, name)
            with atomic_path(path) as tmp:
                pq.write_table(table, tmp)
            if path.name not in res.raw_files:
                res.raw_files.append(path.name)

    def _log(self, step: Step, exc: BaseException) -> None:
        self.ctx.log.write(f"--- step {step.name} failed:\n")
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=self.ctx.log)
        self.ctx.log.flush()

    def _print(self, res: StepResult) -> None:
        elapsed = time.monotonic() - self.started_mono
        print(f"[{elapsed:5.0f} s] {res.step} ({res.wall_s:.1f} s)", flush=True)
        for v in res.verdicts:
            print(f"    {v.status:<10} {v.check}: {v.text}", flush=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"
