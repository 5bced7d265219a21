"""The user's submission limits (association and QOS), and what of a submission fits them.

SLURM refuses an ``sbatch`` that would take the user past ``MaxSubmitJobs``
(association) or ``MaxSubmitJobsPerUser`` (QOS; ``MaxSubmitPU`` in
``sacctmgr``), and counts every array task as a job. ``MaxJobs`` /
``MaxJobsPerUser`` only cap how many run at once (SLURM keeps the rest
pending), so they are reported, not held back for. :func:`query_limits` asks
``sacctmgr`` (two calls) and ``squeue`` (one) on the login node; the rest is
pure: :func:`effective_limit`, :func:`fit`.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import SubmitError
from ..plan import RunSpec
from .shell import slurm

ASSOC_FORMAT = "Account,Partition,MaxJobs,MaxSubmit,QOS,DefaultQOS"
QOS_FORMAT = "Name,MaxJobsPU,MaxSubmitPU"


@dataclass(frozen=True)
class Assoc:
    """One association of the user (``sacctmgr show assoc``)."""

    account: str
    partition: str | None  # None: every partition
    max_jobs: int | None
    max_submit: int | None
    qos: tuple[str, ...]
    default_qos: str | None


@dataclass(frozen=True)
class Qos:
    name: str
    max_jobs_per_user: int | None
    max_submit_per_user: int | None


@dataclass(frozen=True)
class Limits:
    """What binds this user's next submission."""

    max_submit: int | None  # array tasks the user may have queued or running; None: no limit
    max_running: int | None  # tasks that run at once (the rest wait in the queue)
    in_queue: int  # the user's tasks queued or running now, all directories
    why: str  # the binding limit in words, e.g. "QOS normal MaxSubmitJobsPerUser 10"
    running_why: str | None = None  # the limit on running tasks in words, e.g. "QOS normal MaxJobsPerUser 4"

    @property
    def free(self) -> int | None:
        """Tasks that may still be submitted; None: no limit."""
        return None if self.max_submit is None else max(0, self.max_submit - self.in_queue)


def _int(v: str) -> int | None:
    v = v.strip()
    return int(v) if v.isdigit() else None


def parse_assoc(text: str) -> list[Assoc]:
    """Lines of ``sacctmgr -n -P show assoc where user=U format=`` :data:`ASSOC_FORMAT`."""
    out = []
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 6:
            continue
        account, partition, max_jobs, max_submit, qos, default_qos = (p.strip() for p in parts[:6])
        out.append(Assoc(account, partition or None, _int(max_jobs), _int(max_submit),
                         tuple(q for q in qos.split(",") if q), default_qos or None))
    return out


def parse_qos(text: str) -> dict[str, Qos]:
    """Lines of ``sacctmgr -n -P show qos format=`` :data:`QOS_FORMAT`."""
    out = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 3 or not parts[0].strip():
            continue
        name = parts[0].strip()
        out[name] = Qos(name, _int(parts[1]), _int(parts[2]))
    return out


def effective_limit(assocs: Sequence[Assoc], qos: dict[str, Qos], account: str | None, qos_name: str | None,
                    partitions: Sequence[str], in_queue: int) -> Limits:
    """The tightest submission limit over the associations a submission to ``partitions`` uses."""
    mine = [a for a in assocs if (account is None or a.account == account)
            and (a.partition is None or a.partition in partitions)]
    bounds: list[tuple[int, str]] = []
    running: list[tuple[int, str]] = []
    for a in mine:
        if a.max_submit is not None:
            bounds.append((a.max_submit, f"association {a.account} MaxSubmitJobs {a.max_submit}"))
        if a.max_jobs is not None:
            running.append((a.max_jobs, f"association {a.account} MaxJobs {a.max_jobs}"))
        names = [qos_name] if qos_name else ([a.default_qos] if a.default_qos else list(a.qos[:1]))
        for n in names:
            q = qos.get(n or "")
            if q is None:
                continue
            if q.max_submit_per_user is not None:
                bounds.append((q.max_submit_per_user, f"QOS {q.name} MaxSubmitJobsPerUser {q.max_submit_per_user}"))
            if q.max_jobs_per_user is not None:
                running.append((q.max_jobs_per_user, f"QOS {q.name} MaxJobsPerUser {q.max_jobs_per_user}"))
    submit = min(bounds) if bounds else None
    run = min(running) if running else None
    why = submit[1] if submit else "no submission limit"
    return Limits(submit[0] if submit else None, run[0] if run else None, in_queue, why, run[1] if run else None)


def user() -> str:
    """The user SLURM accounts this submission to."""
    return os.environ.get("SLURM_JOB_USER") or os.environ.get("USER") or getpass.getuser()


def query_limits(account: str | None, qos_name: str | None, partitions: Sequence[str],
                 in_queue: int | None = None) -> Limits:
    """The user's limits from ``sacctmgr`` (two calls) and, unless ``in_queue`` is given (the
    user's live tasks, counted by the states query's squeue), the user's tasks in ``squeue``.

    A cluster without accounting (``sacctmgr`` fails) has no limits we can read: none.
    """
    name = user()
    try:
        assoc = slurm(["sacctmgr", "-n", "-P", "show", "assoc", "where", f"user={name}", f"format={ASSOC_FORMAT}"],
                      timeout_s=60)
        qos = slurm(["sacctmgr", "-n", "-P", "show", "qos", f"format={QOS_FORMAT}"], timeout_s=60)
    except SubmitError:
        return Limits(None, None, 0, "no accounting (sacctmgr failed): no limits read")
    if in_queue is None:
        queue = slurm(["squeue", "-h", "-r", "-u", name, "-t", "PENDING,RUNNING,SUSPENDED,REQUEUED,CONFIGURING",
                       "-o", "%i"], timeout_s=60)
        in_queue = len([ln for ln in queue.stdout.splitlines() if ln.strip()])
    return effective_limit(parse_assoc(assoc.stdout), parse_qos(qos.stdout), account, qos_name, partitions,
                           in_queue)


def fit(todo: Sequence[RunSpec], free_tasks: int | None, tasks_per_run: int = 1,
        whole_groups: bool = False) -> tuple[list[RunSpec], list[RunSpec]]:
    """(submitted, held back): the longest prefix of ``todo`` (plan order) within ``free_tasks`` tasks.

    A run whose encoder is held back is held back too (it must not start without one).
    ``whole_groups`` (a search): a bracket (workload x hardware) goes whole or not at all,
    and each run takes ``tasks_per_run`` tasks (one per rung).
    """
    if free_tasks is None:
        return list(todo), []
    budget = free_tasks // max(1, tasks_per_run)
    if whole_groups:
        groups: dict[tuple[str, str], list[RunSpec]] = {}
        for s in todo:
            groups.setdefault((s.paradigm, s.hardware), []).append(s)
        take: list[RunSpec] = []
        for members in groups.values():
            if len(take) + len(members) > budget:
                break
            take += members
    else:
        take = list(todo[:budget])
    held = {s.run_id for s in todo} - {s.run_id for s in take}
    changed = True
    while changed:  # dependants of held-back encoders wait too
        changed = False
        for s in take:
            if s.depends_on in held and s.run_id not in held:
                held.add(s.run_id)
                changed = True
        take = [s for s in take if s.run_id not in held]
    return take, [s for s in todo if s.run_id in held]
