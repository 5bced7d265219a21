"""submitit, adapted: one job array per sbatch, through energybench's one SLURM function.

:class:`ArrayExecutor` is submitit's ``SlurmExecutor`` with three changes (see
its docstring); :func:`array_executor` builds a fresh one for one
:class:`~energybench.slurm.arrays.JobArray` from the cluster profile.
"""

from __future__ import annotations

import uuid
from typing import Any

from submitit.core import utils as su
from submitit.slurm.slurm import SlurmExecutor, SlurmJob

from ..config import Experiment
from ..paths import ResultsLayout
from ..units import MIB_PER_GIB
from .arrays import JobArray
from .profile import HardwareProfile
from .shell import slurm

#: The signal SLURM sends before preemption and the time limit (the worker stops at a checkpoint on it).
STOP_SIGNAL = "USR2"


class ArrayExecutor(SlurmExecutor):
    """submitit's SlurmExecutor with three changes.

    (1) Every submission is an array, one task too, so ids are always
    ``<job>_<index>`` and ``aftercorr`` applies; (2) sbatch runs through
    energybench's one SLURM function (timeouts, one-line errors); (3) the batch
    shell ``exec``s Python, so ``--signal=B:USR2`` reaches the worker.
    """

    @classmethod
    def affinity(cls) -> int:
        return 2  # a missing sbatch is reported by slurm() with a message a user can act on

    @property
    def _submitit_command_str(self) -> str:
        return "exec " + super()._submitit_command_str

    def _internal_process_submissions(self, delayed: list[Any]) -> list[Any]:
        # submitit's own array branch (SlurmExecutor._internal_process_submissions), for n >= 1 tasks
        folder = su.JobPaths.get_first_id_independent_folder(self.folder)
        folder.mkdir(parents=True, exist_ok=True)
        pickles = []
        try:
            for d in delayed:
                path = folder / f"{uuid.uuid4().hex}.pkl"
                d.set_timeout(self.parameters.get("time", 5), self.max_num_timeout)
                d.dump(path)
                pickles.append(path)
            self.parameters["map_count"] = len(delayed)
            first = self._submit_command(self._submitit_command_str)
        except BaseException:
            for path in pickles:
                path.unlink(missing_ok=True)
            raise
        finally:
            self.parameters.pop("map_count", None)
        jobs = [SlurmJob(folder=self.folder, job_id=f"{first.job_id}_{i}", tasks=[0]) for i in range(len(delayed))]
        for job, path in zip(jobs, pickles):
            job.paths.move_temporary_file(path, "submitted_pickle")
        return jobs

    def _submit_command(self, command: str) -> Any:
        folder = su.JobPaths.get_first_id_independent_folder(self.folder)
        script = folder / f".submission_file_{uuid.uuid4().hex}.sh"
        script.write_text(self._make_submission_file_text(command, script.stem))
        try:
            out = slurm(["sbatch", str(script)], timeout_s=120)
            job_id = self._get_job_id_from_submission_command(out.stdout)
        except BaseException:
            script.unlink(missing_ok=True)
            raise
        job = SlurmJob(folder=self.folder, job_id=job_id, tasks=[0])
        job.paths.move_temporary_file(script, "submission_file")
        return job

    def script(self, n_tasks: int) -> str:
        """The sbatch script an array of ``n_tasks`` would be submitted with (for --dry-run)."""
        self.parameters["map_count"] = n_tasks
        try:
            return self._make_submission_file_text(self._submitit_command_str, "dry-run")
        finally:
            self.parameters.pop("map_count", None)


def _parameters(exp: Experiment, hw: HardwareProfile, arr: JobArray, dependency: str | None) -> dict[str, Any]:
    """submitit parameters of one array; every value is quoted by submitit except ``setup``."""
    extra: dict[str, Any] = {"signal": f"B:{STOP_SIGNAL}@{hw.signal_delay_s}", "requeue": True, **hw.sbatch}
    params: dict[str, Any] = {
        "job_name": f"eb-{exp.name}-{arr.hardware}-{arr.paradigm}",
        "partition": hw.partition,
        "time": hw.time_min(exp.executor.timeout_min),
        "cpus_per_task": hw.cpus_per_task,
        "array_parallelism": hw.array_throttle,
        "use_srun": False,  # the batch shell execs Python: B:USR2 must reach the worker itself
        "stderr_to_stdout": True,
        "wckey": None,
        "setup": list(hw.setup),
    }
    for key, value in (("gres", hw.gres), ("account", hw.account), ("qos", hw.qos),
                       ("constraint", hw.constraint)):
        if value is not None:
            params[key] = value
    if hw.mem_gb is not None:
        params["mem"] = f"{int(hw.mem_gb)}G" if hw.mem_gb == int(hw.mem_gb) else f"{int(hw.mem_gb * MIB_PER_GIB)}M"
    if dependency is not None:
        params["dependency"] = dependency
        extra["kill-on-invalid-dep"] = "yes"  # a task whose encoder failed is cancelled, not stuck
    params["additional_parameters"] = extra
    return params


def array_executor(exp: Experiment, layout: ResultsLayout, hw: HardwareProfile, arr: JobArray,
              dependency: str | None) -> ArrayExecutor:
    """A fresh executor for one array (parameters never leak from one array to the next)."""
    ex = ArrayExecutor(folder=layout.submitit_dir, python=hw.python, max_num_timeout=hw.max_attempts)
    ex.update_parameters(**_parameters(exp, hw, arr, dependency))
    return ex


