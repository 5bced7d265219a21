"""The SLURM executor: one job array per (hardware, paradigm) through submitit, stage by stage.

``preflight`` validates the cluster profile (and, unless it is a dry run, the
profile against what ``sinfo``/``scontrol`` say) before anything is written.
``run_slurm`` submits the arrays that :func:`~energybench.slurm.arrays.group_arrays`
plans (downstream arrays wait for their encoders with ``aftercorr``), one
sbatch per array through submitit's ``map_array``, records every run in
``manifest.json`` and returns: it never waits for a job. ``dry_run`` writes
the same sbatch scripts to ``DIR/jobs/dry-run/`` and submits nothing.

The job of every task is :class:`~energybench.slurm.job.RunJob`, which calls
the worker's ``main(run_dir)`` like the local executor's subprocess does.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from submitit.core import utils as su
from submitit.slurm.slurm import SlurmExecutor, SlurmJob

from ..config import Experiment
from ..errors import ConfigError, SubmitError
from ..paths import ResultsLayout, write_json
from ..plan import RunSpec
from ..slurm.arrays import JobArray, group_arrays
from ..slurm.cluster import DEFAULT_MAX_ARRAY_SIZE, ClusterFacts, query_cluster, validate_against_cluster
from ..slurm.profile import HardwareProfile, Profile, check_hardware, load_profile
from ..slurm.shell import slurm

#: The signal SLURM sends before preemption and the time limit (the worker stops at a checkpoint on it).
STOP_SIGNAL = "USR2"


@dataclass(frozen=True)
class Target:
    """A validated profile and, for real submissions, what the cluster said."""

    profile: Profile
    facts: ClusterFacts | None  # None for a dry run (no cluster asked)

    @property
    def max_array_size(self) -> int:
        if self.facts is not None:
            return self.facts.max_array_size
        return self.profile.max_array_size or DEFAULT_MAX_ARRAY_SIZE


def preflight(exp: Experiment, dry_run: bool = False) -> Target:
    """Load the profile, check it maps every hardware name and (unless ``dry_run``) fits the cluster."""
    if exp.executor.profile is None:
        raise ConfigError("executor.profile: the slurm executor needs a cluster profile; copy "
                          "slurm_templates/profile.example.yaml, edit it, and set executor.profile "
                          "(or pass --profile)")
    profile = load_profile(exp.executor.profile)
    check_hardware(profile, exp.hardware)
    if dry_run:
        return Target(profile, None)
    facts = query_cluster()
    validate_against_cluster(profile, exp.hardware, exp.executor.timeout_min, facts)
    return Target(profile, facts)


# ----------------------------------------------------------------------------- submitit


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
        params["mem"] = f"{int(hw.mem_gb)}G" if hw.mem_gb == int(hw.mem_gb) else f"{int(hw.mem_gb * 1024)}M"
    if dependency is not None:
        params["dependency"] = dependency
        extra["kill-on-invalid-dep"] = "yes"  # a task whose encoder failed is cancelled, not stuck
    params["additional_parameters"] = extra
    return params


def _executor(exp: Experiment, layout: ResultsLayout, hw: HardwareProfile, arr: JobArray,
              dependency: str | None) -> ArrayExecutor:
    """A fresh executor for one array (parameters never leak from one array to the next)."""
    ex = ArrayExecutor(folder=layout.submitit_dir, python=hw.python, max_num_timeout=hw.max_attempts)
    ex.update_parameters(**_parameters(exp, hw, arr, dependency))
    return ex


def _private_dir(path: Path) -> None:
    """Create ``path`` readable by its owner only: submitit's pickles there execute code when loaded."""
    if path.is_symlink():
        raise SubmitError(f"{path}: is a symlink; the submitit folder must be a private directory")
    path.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(path, 0o700)
    except OSError as exc:
        raise SubmitError(f"{path}: cannot make it private (0700): {exc.strerror}") from None


def _check_path(layout: ResultsLayout) -> None:
    if any(c in str(layout.root) for c in "\n\r\t"):
        raise SubmitError(f"{layout.root!r}: a results path for SLURM must not contain control characters")


@contextmanager
def submission_lock(layout: ResultsLayout) -> Iterator[None]:
    """One ``submit`` at a time per results directory (no run is submitted twice)."""
    layout.jobs_dir.mkdir(parents=True, exist_ok=True)
    with open(layout.submit_lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SubmitError(f"{layout.root}: another `energybench submit` is submitting into this "
                              "directory; wait for it to return") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------- dry run


def dry_run(exp: Experiment, layout: ResultsLayout, specs: list[RunSpec], target: Target,
            echo: Callable[[str], None] = print) -> list[Path]:
    """Write one sbatch script per array to ``DIR/jobs/dry-run/`` (replacing an earlier dry run); submit nothing."""
    _check_path(layout)
    arrays = group_arrays(specs, target.max_array_size)
    tmp = layout.dry_run_dir.with_name(f".dry-run-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    index = []
    for arr in arrays:
        hw = target.profile.entry(arr.hardware)
        dep = arr.dependency.render(lambda name: f"<{name}>") if arr.dependency else None
        text = _executor(exp, layout, hw, arr, dep).script(len(arr.run_ids))
        (tmp / layout.dry_run_script(arr.name).name).write_text(text)
        index.append({"array": arr.name, "partition": hw.partition, "paradigm": arr.paradigm,
                      "hardware": arr.hardware, "dependency": dep, "run_ids": list(arr.run_ids)})
    write_json(tmp / layout.dry_run_index.name, {"max_array_size": target.max_array_size, "arrays": index})
    if layout.dry_run_dir.exists():
        shutil.rmtree(layout.dry_run_dir)
    tmp.rename(layout.dry_run_dir)
    echo(f"dry run: {len(arrays)} sbatch scripts for {len(specs)} runs in {layout.dry_run_dir} "
         f"(nothing submitted; MaxArraySize {target.max_array_size}"
         f"{'' if target.profile.max_array_size else ' (SLURM default)'}; partitions, time limits and "
         "data are checked at submission)")
    return [layout.dry_run_script(a.name) for a in arrays]


# ----------------------------------------------------------------------------- submission


def run_slurm(exp: Experiment, layout: ResultsLayout, specs: list[RunSpec], *, force: bool = False,
              echo: Callable[[str], None] = print, target: Target | None = None,
              queued_encoders: dict[str, tuple[str, int]] | None = None) -> dict[str, str]:
    """Submit ``specs`` as job arrays; returns array name -> SLURM job id. Never waits for a job.

    ``queued_encoders`` maps encoder run ids queued or running from an earlier
    submission to (array job id, index), so their downstream runs wait for them.
    """
    from ..slurm.accounting import forget
    from ..slurm.job import RunJob
    from ..slurm.manifest import Manifest
    from ..worker import markers

    _check_path(layout)
    target = target or preflight(exp)
    if force:
        from .local import _archive  # the same archiving as the local executor's --force

        for s in specs:
            _archive(layout, s)
    _private_dir(layout.submitit_dir)
    manifest = Manifest.load(layout.manifest)
    arrays = group_arrays(specs, target.max_array_size, queued_encoders)
    job_ids: dict[str, str] = {}
    try:
        for arr in arrays:
            hw = target.profile.entry(arr.hardware)
            dep = arr.dependency.render(job_ids.__getitem__) if arr.dependency else None
            ex = _executor(exp, layout, hw, arr, dep)
            run_dirs = [str(layout.run(rid).dir) for rid in arr.run_ids]
            jobs = ex.map_array(RunJob(hw.max_attempts), run_dirs)
            array_job_id = str(jobs[0].job_id).split("_")[0]
            job_ids[arr.name] = array_job_id
            attempts = {rid: markers.previous_attempts(layout.run(rid)) + 1 for rid in arr.run_ids}
            manifest.record_array(array_job_id, arr.name, hw.partition, list(arr.run_ids), attempts, dep)
            echo(f"submitted {arr.name}: job {array_job_id}, {len(arr.run_ids)} runs on partition "
                 f"{hw.partition}" + (f", after {dep}" if dep else ""))
    finally:
        forget(layout.scheduler_cache)
    return job_ids


def _select(planned: list[str], wanted: list[str]) -> set[str]:
    """Run ids for the user's ids or unique prefixes; an error names any that match none or several."""
    out = set()
    for w in wanted:
        hits = [r for r in planned if r.startswith(w)]
        if len(hits) != 1:
            what = "matches no planned run" if not hits else f"matches {len(hits)} runs"
            raise SubmitError(f"--run {w}: {what}; `energybench status DIR --json` lists the run ids")
        out.add(hits[0])
    return out


def cancel_runs(layout: ResultsLayout, run_ids: list[str]) -> tuple[int, list[str]]:
    """``scancel`` (one call) the queued and running jobs of ``run_ids`` (all runs if empty).

    Returns the number of runs and the SLURM ids cancelled: whole arrays when
    every run is cancelled, array tasks (``<job>_<index>``) otherwise.
    """
    from ..slurm.accounting import forget
    from ..slurm.manifest import Manifest
    from ..status import current_states

    states, _ = current_states(layout, max_age_s=0, required=True)
    if not Manifest.load(layout.manifest).array_job_ids():
        raise SubmitError(f"{layout.root}: no SLURM jobs recorded in {layout.manifest.name}; "
                          "runs of the local executor stop with Ctrl-C")
    chosen = _select([s.run_id for s in states], run_ids) if run_ids else None
    live = [s for s in states if s.job_id and s.state in ("PENDING", "RUNNING")
            and (chosen is None or s.run_id in chosen)]
    ids = sorted({s.job_id.split("_")[0] for s in live}, key=int) if chosen is None else \
        sorted((s.job_id for s in live), key=lambda j: tuple(map(int, j.split("_"))))
    if ids:
        slurm(["scancel", *ids], timeout_s=60)
    forget(layout.scheduler_cache)
    return len(live), ids
