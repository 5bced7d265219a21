"""The local executor: each run is a worker subprocess, a few at a time.

Dependencies are respected (a run starts once the run holding its encoder has
completed; if that run failed, the dependent run fails without starting). On
GPUs each slot owns one device through ``CUDA_VISIBLE_DEVICES``. A worker
that ends without its done or failed marker (killed by a signal, the OOM
killer, a crash in native code) gets a failed marker from the executor, so
``status`` says FAILED with the reason and ``submit`` again resumes it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from ..config import Experiment
from ..errors import EnergybenchError, SubmitError
from ..paths import ResultsLayout, RunPaths, read_json
from ..plan import RunSpec
from ..search.rungs import experiment_schedule, settle
from ..states import State
from ..status import RunState, run_states
from ..units import S_PER_MIN
from ..worker import markers
from .base import Echo, Outcome, Prepared, Selection

POLL_S = 0.2


def visible_gpus() -> list[str]:
    """GPU ids this process may use (from CUDA_VISIBLE_DEVICES, else NVML); [] without GPUs."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g for g in env.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return [str(i) for i in range(pynvml.nvmlDeviceGetCount())]
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no driver, no library: a CPU machine
        return []


@dataclass
class _Running:
    spec: RunSpec
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    slot: str | None
    deadline_s: float
    started_s: float  # Unix time the worker process was started, seconds


class LocalExecutor:
    """The local backend of :class:`~energybench.executors.base.Executor`."""

    kind = "local"
    verb = "to run"

    def __init__(self, exp: Experiment) -> None:
        self.exp = exp

    @classmethod
    def open(cls, exp: Experiment, *, dry_run: bool = False) -> "LocalExecutor":
        if dry_run:
            raise SubmitError("--dry-run renders the SLURM job scripts; add --executor slurm "
                              "(`energybench plan CONFIG` lists the runs)")
        return cls(exp)

    def states(self, layout: ResultsLayout) -> list[RunState]:
        """The workers' markers: nothing else knows about local runs."""
        return run_states(layout)

    def run(self, prepared: Prepared, selection: Selection, *, echo: Echo = print) -> Outcome:
        """Execute the selected runs as worker subprocesses; returns when all have ended.

        With a search, in passes: after each, the rung's decisions are made and
        the survivors go on from their checkpoints (the pruned never start again).
        """
        todo = selection.todo
        sched = experiment_schedule(self.exp)
        for n in range(sched.passes + 1 if sched is not None else 1):
            if n:
                todo = settle(prepared.layout, todo)
                if not todo:
                    break
                echo(f"search: {len(todo)} runs go on from their checkpoints (pass {n + 1})")
            run_local(self.exp, prepared.layout, todo, echo=echo)
        return Outcome(self.kind, len(selection.todo), waited=True)

    def dry_run(self, prepared: Prepared, selection: Selection, *, echo: Echo = print) -> Outcome:
        raise SubmitError("--dry-run renders the SLURM job scripts; add --executor slurm")


def run_local(exp: Experiment, layout: ResultsLayout, specs: list[RunSpec],
              echo: Callable[[str], None] = print) -> None:
    """Execute ``specs`` as local worker subprocesses; returns when all have ended."""
    gpus = visible_gpus() if exp.training.device != "cpu" else []
    cap = exp.executor.max_parallel or max(1, len(gpus))
    free_slots: list[str | None] = list(gpus[:cap]) if gpus else [None] * cap
    if gpus and cap > len(gpus):
        free_slots += [gpus[i % len(gpus)] for i in range(len(gpus), cap)]
    queue = list(specs)
    running: list[_Running] = []
    done = 0
    try:
        while queue or running:
            for r in list(running):
                rc = r.proc.poll()
                timed_out = rc is None and time.time() > r.deadline_s
                if timed_out:
                    os.killpg(r.proc.pid, signal.SIGKILL)
                    r.proc.wait()
                    markers.mark_failed(layout.run(r.spec.run_id), f"timed out after {r.spec.timeout_min} min",
                                        state=State.TIMEOUT)
                elif rc is None:
                    continue
                else:
                    _record_exit(layout.run(r.spec.run_id), rc, r.started_s)
                r.log.close()
                running.remove(r)
                free_slots.append(r.slot)
                done += 1
                echo(f"[{done}/{len(specs)}] {_summary(layout, r.spec)}")
            for spec in list(queue):
                if not free_slots:
                    break
                if spec.depends_on and not layout.run(spec.depends_on).done.exists():
                    pending = {q.run_id for q in queue} | {r.spec.run_id for r in running}
                    if spec.depends_on in pending:
                        continue  # its encoder is still being trained
                    markers.mark_failed(layout.run(spec.run_id), f"dependency {spec.depends_on} "
                                        f"({spec.paradigm} needs its encoder) did not complete")
                    queue.remove(spec)
                    done += 1
                    echo(f"[{done}/{len(specs)}] {_summary(layout, spec)}")
                    continue
                queue.remove(spec)
                running.append(_start(layout, spec, free_slots.pop(0)))
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        for r in running:
            os.killpg(r.proc.pid, signal.SIGTERM)
        for r in running:
            _record_exit(layout.run(r.spec.run_id), r.proc.wait(), r.started_s)
        raise


def _record_exit(run: RunPaths, rc: int, started_s: float) -> None:
    """Write the failed marker of a worker that exited (return code ``rc``) without saying why.

    A marker written by this worker (not one left by an earlier attempt) is kept.
    """
    from ..worker import lease

    if run.done.exists() or rc == lease.HELD:  # another worker holds the run: it writes the markers
        return
    if rc == lease.LOST and lease.holder_alive(run):  # taken over: the run is the taker's now
        return
    for marker in (run.failed, run.paused):
        try:
            if marker.exists() and float(read_json(marker).get("time_s", 0)) >= started_s:
                return
        except (OSError, ValueError):
            pass
    if rc < 0:
        try:
            name = f" ({signal.Signals(-rc).name})"
        except ValueError:
            name = ""
        reason = f"worker killed by signal {-rc}{name}; submit again to resume from its last checkpoint"
    elif rc == lease.LOST:  # its lease lapsed (not renewed in time) and nobody took the run over
        reason = (f"worker stopped without writing more when its lease could not be renewed (exit {rc}); "
                  f"see {run.log}; submit again to resume from its last checkpoint")
    else:
        reason = f"worker exited with code {rc} without a done or failed marker; see {run.log}"
    try:
        markers.mark_failed(run, reason, attempt=markers.previous_attempts(run))
    except (OSError, EnergybenchError):  # e.g. a full disk: the summary line says "no marker"
        pass


def _start(layout: ResultsLayout, spec: RunSpec, slot: str | None) -> _Running:
    run = layout.run(spec.run_id)
    env = dict(os.environ)
    if slot is not None:
        env["CUDA_VISIBLE_DEVICES"] = slot
    log = open(run.log, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "energybench.launch", str(run.dir)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    now = time.time()
    return _Running(spec, proc, log, slot, now + spec.timeout_min * S_PER_MIN, now)


def _summary(layout: ResultsLayout, spec: RunSpec) -> str:
    run = layout.run(spec.run_id)
    what = f"{spec.paradigm} setup {spec.setup} repeat {spec.repeat} on {spec.hardware} ({spec.run_id})"
    if run.done.exists():
        d = read_json(run.done)
        pruned = f" (pruned after rung {d.get('rung')})" if d.get("pruned") else ""
        return f"COMPLETED {what}: {d.get('epochs')} epochs{pruned}"
    if run.paused.exists():
        p = read_json(run.paused)
        return f"PAUSED    {what}: end of rung {p.get('rung')} at epoch {p.get('epoch')}, waiting for its decision"
    reason = read_json(run.failed).get("reason") if run.failed.exists() else "no marker"
    return f"FAILED    {what}: {reason}; log: {run.log}"
