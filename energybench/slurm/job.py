"""What one SLURM array task runs on the compute node: the worker, plus requeue on USR2.

The batch script ``exec``s Python (submitit's ``_submit``), so the batch shell
*is* the worker process and ``--signal=B:USR2@<delay>`` reaches it (submitit's
default ``--signal=USR2@90`` would only reach srun steps, and there are none).
:class:`RunJob` then replaces submitit's USR2 handler with the worker's
:func:`~energybench.worker.signals.stop_on_signal`: the epoch loop stops at the
last checkpoint, the sampler flushes, and the job requeues itself with
``scontrol requeue``; the next attempt resumes from the checkpoint. Before
our handler is installed (interpreter start-up), submitit's own handler
requeues through :meth:`checkpoint` (this is a submitit ``Checkpointable``).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from submitit.helpers import Checkpointable

from ..errors import SubmitError
from ..paths import RunPaths
from ..states import State


class RunJob(Checkpointable):
    """The job function: ``RunJob(max_attempts)(run_dir)`` executes one run, like the local executor does."""

    def __init__(self, max_attempts: int = 4) -> None:
        self.max_attempts = max_attempts

    def __call__(self, run_dir: str) -> int:
        from .. import launch
        from ..worker import markers, signals

        signals.stop_on_signal(signal.SIGUSR2)
        rc = launch.main(run_dir)
        if rc == 0:
            return 0
        run = RunPaths(Path(run_dir))
        if rc == signals.REQUEUE:
            attempt = markers.previous_attempts(run)
            if markers.attempts_this_rung(run) >= self.max_attempts:
                markers.mark_failed(run, f"stopped by SLURM's signal (preemption or time limit) on attempt "
                                         f"{attempt} of max_attempts {self.max_attempts}; raise time_limit_min "
                                         "or max_attempts in the cluster profile", state=State.TIMEOUT,
                                    attempt=attempt)
                raise RuntimeError(f"run {run.dir.name}: out of attempts ({attempt})")
            requeue()
            print(f"energybench job: run {run.dir.name} requeued after attempt {attempt}", file=sys.stderr,
                  flush=True)
            sys.exit(-1)  # like submitit: no result pickle, the requeued job starts over
        from ..worker.lease import HELD, LOST

        if rc == HELD:  # another worker holds the run's lease: it finishes the run; no requeue
            raise RuntimeError(f"run {run.dir.name}: another worker holds its lease (worker exit {rc}); "
                               "this task wrote nothing")
        if rc == LOST:  # taken over (or not renewed in time): never requeue beside the worker that took it
            raise RuntimeError(f"run {run.dir.name}: this task lost its lease mid-run (worker exit {rc}) and "
                               "stopped without writing more; see the worker's log")
        raise RuntimeError(f"run {run.dir.name} failed (worker exit {rc}); see {run.failed}")


def requeue() -> None:
    """Put this job back in the queue (it keeps its job id and array index)."""
    from .shell import slurm

    job_id = os.environ.get("SLURM_JOB_ID")
    if not job_id:
        raise SubmitError("not inside a SLURM job (no SLURM_JOB_ID); cannot requeue")
    slurm(["scontrol", "requeue", job_id], timeout_s=60, retries=2)
