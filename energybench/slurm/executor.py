"""The SLURM executor: one job array per (hardware, paradigm) through submitit, stage by stage.

:meth:`SlurmExecutor.open` validates the cluster profile (and, unless it is a
dry run, the profile against what ``sinfo``/``scontrol`` say) before anything
is written. :meth:`~SlurmExecutor.run` submits the arrays that
:func:`~energybench.slurm.arrays.group_arrays` plans (downstream arrays wait
for their encoders with ``aftercorr``, also for encoders an earlier
submission still has queued), one sbatch per array through submitit's
``map_array`` (:mod:`.sbatch`), records every run in ``manifest.json`` and
returns: it never waits for a job. :meth:`~SlurmExecutor.dry_run` writes the
same sbatch scripts to ``DIR/jobs/dry-run/`` and submits nothing.

The job of every task is :class:`~energybench.slurm.job.RunJob`, which calls
:func:`energybench.launch.main` like the local executor's subprocess does.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..config import Experiment
from ..errors import ConfigError, SubmitError
from ..executors.base import Echo, Outcome, Prepared, Selection
from ..paths import ResultsLayout, write_json
from ..plan import RunSpec
from ..status import RunState, current_states
from .arrays import JobArray, group_arrays, rung_arrays
from .cluster import DEFAULT_MAX_ARRAY_SIZE, ClusterFacts, query_cluster, validate_against_cluster
from .manifest import TaskId
from .profile import Profile, check_hardware, load_profile
from .sbatch import array_executor


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


class SlurmExecutor:
    """The SLURM backend of :class:`~energybench.executors.base.Executor`."""

    kind = "slurm"
    verb = "to submit"

    def __init__(self, exp: Experiment, target: Target) -> None:
        self.exp, self.target = exp, target

    @classmethod
    def open(cls, exp: Experiment, *, dry_run: bool = False) -> "SlurmExecutor":
        return cls(exp, preflight(exp, dry_run=dry_run))

    def states(self, layout: ResultsLayout) -> list[RunState]:
        """The markers joined with a fresh scheduler answer (one sacct, one squeue of the user's
        queue, which also counts the user's tasks for the limits); an error when SLURM cannot be asked."""
        from .accounting import scheduler_view
        from ..status import run_states
        from .limits import user
        from .manifest import Manifest

        ids = Manifest.load(layout.manifest).array_job_ids() if layout.manifest.exists() else []
        self.user_in_queue: int | None = None
        if not ids:
            return current_states(layout, max_age_s=0, required=True)[0]
        try:
            view = scheduler_view(ids, layout.scheduler_cache, 0, user=user())
        except SubmitError as exc:
            raise SubmitError(f"cannot tell which runs are queued or running: {exc}") from None
        self.user_in_queue = view.user_live
        return run_states(layout, view=view)

    def run(self, prepared: Prepared, selection: Selection, *, echo: Echo = print) -> Outcome:
        """Submit what fits the user's submission limits as job arrays; hold back the rest. Never waits."""
        take, held = self.fit_limits(selection, echo)
        job_ids = submit_arrays(self.exp, prepared.layout, Selection(take, selection.queued), self.target, echo)
        return Outcome(self.kind, len(take), waited=False, job_ids=job_ids, held=len(held))

    def fit_limits(self, selection: Selection, echo: Echo) -> tuple[list[RunSpec], list[RunSpec]]:
        """(submitted, held back) runs of ``selection`` under the user's association and QOS limits."""
        from ..search.rungs import experiment_schedule
        from .limits import fit, query_limits

        if not selection.todo:
            return [], []
        entries = [self.target.profile.entry(h) for h in sorted({s.hardware for s in selection.todo})]
        limits = min((query_limits(e.account, e.qos, [e.partition], getattr(self, "user_in_queue", None))
                      for e in {(e.account, e.qos, e.partition): e for e in entries}.values()),
                     key=lambda lim: lim.free if lim.free is not None else 10**12)
        sched = experiment_schedule(self.exp)
        take, held = fit(selection.todo, limits.free, sched.passes if sched else 1, whole_groups=sched is not None)
        if held:
            per = f" ({sched.passes} tasks per run, one per rung)" if sched else ""
            echo(f"held back {len(held)} of {len(selection.todo)} runs: {limits.why}, {limits.in_queue} of your "
                 f"tasks queued or running{per}; `energybench submit` again (or `submit --follow`) submits them "
                 "as slots free")
        if limits.max_running is not None:
            echo(f"at most {limits.max_running} of your tasks run at once ({limits.running_why}); the rest wait "
                 "in the queue")
        return take, held

    def dry_run(self, prepared: Prepared, selection: Selection, *, echo: Echo = print) -> Outcome:
        written = render_arrays(self.exp, prepared.layout, selection, self.target, echo)
        return Outcome(self.kind, len(selection.todo), waited=False, written=written)


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


def _queued_tasks(selection: Selection) -> dict[str, TaskId]:
    return {rid: TaskId.parse(job_id) for rid, job_id in selection.queued.items()}


def plan_arrays(exp: Experiment, selection: Selection, max_array_size: int) -> list[JobArray]:
    """The job arrays of ``selection``: grouped and split; with a search, one set per pass (rung)."""
    from ..search.rungs import experiment_schedule

    arrays = group_arrays(selection.todo, max_array_size, _queued_tasks(selection))
    sched = experiment_schedule(exp)
    return rung_arrays(arrays, sched.passes) if sched is not None else arrays


def render_arrays(exp: Experiment, layout: ResultsLayout, selection: Selection, target: Target,
                  echo: Echo = print) -> list[Path]:
    """Write one sbatch script per array to ``DIR/jobs/dry-run/`` (replacing an earlier dry run); submit nothing."""
    _check_path(layout)
    specs = selection.todo
    arrays = plan_arrays(exp, Selection(specs), target.max_array_size)
    tmp = layout.dry_run_dir.with_name(f".dry-run-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    index = []
    for arr in arrays:
        hw = target.profile.entry(arr.hardware)
        dep = arr.dependency.render(lambda name: f"<{name}>") if arr.dependency else None
        text = array_executor(exp, layout, hw, arr, dep).script(len(arr.run_ids))
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


def submit_arrays(exp: Experiment, layout: ResultsLayout, selection: Selection, target: Target,
                  echo: Echo = print) -> dict[str, str]:
    """Submit ``selection.todo`` as job arrays; returns array name -> SLURM job id. Never waits for a job.

    Downstream runs whose encoder an earlier submission still has queued or
    running (``selection.queued``) wait for that task.
    """
    from ..worker import markers
    from .accounting import forget
    from .job import RunJob
    from .manifest import Manifest

    _check_path(layout)
    _private_dir(layout.submitit_dir)
    manifest = Manifest.load(layout.manifest)
    arrays = plan_arrays(exp, selection, target.max_array_size)
    job_ids: dict[str, str] = {}
    try:
        for arr in arrays:
            hw = target.profile.entry(arr.hardware)
            dep = arr.dependency.render(job_ids.__getitem__) if arr.dependency else None
            ex = array_executor(exp, layout, hw, arr, dep)
            run_dirs = [str(layout.run(rid).dir) for rid in arr.run_ids]
            jobs = ex.map_array(RunJob(hw.max_attempts), run_dirs)
            array_job_id = TaskId.parse(str(jobs[0].job_id)).array_job_id
            job_ids[arr.name] = array_job_id
            attempts = {rid: markers.previous_attempts(layout.run(rid)) + 1 for rid in arr.run_ids}
            manifest.record_array(array_job_id, arr.name, hw.partition, list(arr.run_ids), attempts, dep)
            echo(f"submitted {arr.name}: job {array_job_id}, {len(arr.run_ids)} runs on partition "
                 f"{hw.partition}" + (f", after {dep}" if dep else ""))
    finally:
        forget(layout.scheduler_cache)
    return job_ids
