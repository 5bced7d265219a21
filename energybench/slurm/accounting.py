"""Job states from the scheduler: one ``sacct`` query for all arrays, plus one ``squeue``.

``sacct`` knows every task that started (and keeps them after they end);
``squeue`` is fresher for live tasks (accounting lags by seconds) and is the
only source when accounting is missing; a FAILED task only squeue knows gets
its exit code from ``scontrol``. Together they also tell that a task
is gone: SLURM writes no accounting record for an array task cancelled
before it started, so "in neither" means "no longer queued". The answer is
cached in ``DIR/jobs/scheduler.json`` for a few seconds, so ``status --watch``
and many concurrent ``status`` calls cost one query pair per interval. No
torch here.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from ..errors import SubmitError
from ..paths import read_json, write_json
from .shell import slurm

#: Scheduler states in which a job still holds (or will hold) its run.
LIVE = frozenset({"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED",
                  "CONFIGURING", "COMPLETING", "STAGE_OUT", "SIGNALING", "STOPPED"})

SACCT_FIELDS = "JobID,State,ExitCode,Partition,Reason,Start,End"
SQUEUE_FORMAT = "%i|%T|%r|%P"


@dataclass(frozen=True)
class JobRecord:
    """The scheduler's view of one array task."""

    job_id: str  # "<array job id>_<index>"
    state: str  # first word of SLURM's state: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ...
    reason: str | None = None
    exit_code: str | None = None
    partition: str | None = None
    start: str | None = None  # ISO time or None
    end: str | None = None
    #: state of the task's run before the latest (a requeued task's earlier run: REQUEUED, NODE_FAIL, ...)
    previous_state: str | None = None


@dataclass(frozen=True)
class SchedulerView:
    """One answer of the scheduler for a set of array jobs."""

    source: str  # "sacct+squeue", "sacct" or "squeue"
    time_s: float
    job_ids: tuple[str, ...]  # the array job ids asked about
    jobs: dict[str, JobRecord]
    #: squeue answered: a task in no record is not queued or running any more
    queue_complete: bool = False
    #: asked with a user: that user's tasks queued or running, every directory (the submission limits)
    user_live: int | None = None

    def get(self, job_id: str) -> JobRecord | None:
        return self.jobs.get(job_id)


def _expand(job_id: str) -> list[str]:
    """``123_4`` -> [123_4]; ``123_[5-7,9%2]`` -> [123_5, 123_6, 123_7, 123_9]; ``123`` -> [123]."""
    m = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job_id)
    if not m:
        return [job_id]
    base, spec = m.group(1), m.group(2).split("%", 1)[0]
    out = []
    for part in spec.split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            out += [f"{base}_{i}" for i in range(int(lo), int(hi) + 1)]
        elif part:
            out.append(f"{base}_{int(part)}")
    return out


def _clean(v: str) -> str | None:
    v = v.strip()
    return None if v in ("", "None", "Unknown", "(null)", "N/A") else v


def parse_sacct(text: str) -> dict[str, JobRecord]:
    """Lines of ``sacct -X -n -P --duplicates -o JobID,State,ExitCode,Partition,Reason,Start,End``.

    A requeued task has one line per run, oldest first: the latest wins and
    keeps the state of the one before (``previous_state``).
    """
    jobs: dict[str, JobRecord] = {}
    for line in text.splitlines():
        f = line.split("|")
        if len(f) < 7 or not f[0].strip() or "." in f[0]:
            continue
        state = f[1].split()[0] if f[1].strip() else "UNKNOWN"
        for jid in _expand(f[0].strip()):
            old = jobs.get(jid)
            jobs[jid] = JobRecord(jid, state, _clean(f[4]), _clean(f[2]), _clean(f[3]), _clean(f[5]), _clean(f[6]),
                                  old.state if old is not None else None)
    return jobs


def parse_squeue(text: str) -> dict[str, JobRecord]:
    """Lines of ``squeue -h -r -o '%i|%T|%r|%P'`` (one line per array task)."""
    jobs: dict[str, JobRecord] = {}
    for line in text.splitlines():
        f = line.split("|")
        if len(f) < 4 or not f[0].strip():
            continue
        for jid in _expand(f[0].strip()):
            jobs[jid] = JobRecord(jid, f[1].strip().split()[0] if f[1].strip() else "UNKNOWN",
                                  _clean(f[2]), None, _clean(f[3]))
    return jobs


def _ask(job_ids: list[str], user: str | None = None) -> SchedulerView:
    ids = ",".join(job_ids)
    now = time.time()
    sacct_error: SubmitError | None = None
    try:
        out = slurm(["sacct", "-X", "-n", "-P", "--duplicates", "-o", SACCT_FIELDS, "-j", ids], timeout_s=60)
        jobs = parse_sacct(out.stdout)
    except SubmitError as exc:  # no accounting on this cluster: squeue alone
        sacct_error, jobs = exc, {}
    # With a user, one squeue answers for both: this directory's tasks and the user's whole queue.
    scope = ["-u", user] if user else ["-j", ids]
    res = slurm(["squeue", "-h", "-r", "-t", "all", "-o", SQUEUE_FORMAT, *scope], timeout_s=60, check=False)
    queue_ok = res.returncode == 0 or "invalid job id" in res.stderr.lower()  # the latter: none known now
    if not queue_ok and sacct_error is not None:
        raise SubmitError(f"{sacct_error}; squeue: {res.stderr.strip() or res.returncode}") from None
    user_live = None
    if res.returncode == 0:
        queued = parse_squeue(res.stdout)
        if user:
            user_live = sum(1 for r in queued.values() if r.state in LIVE)
            mine = set(job_ids)
            queued = {jid: r for jid, r in queued.items() if jid.split("_")[0] in mine}
        for jid, rec in queued.items():
            old = jobs.get(jid)
            if old is None or rec.state in LIVE:  # squeue is fresher about live tasks
                jobs[jid] = rec if old is None else replace(old, state=rec.state, reason=rec.reason)
    jobs = _with_exit_codes(jobs)
    source = "squeue" if sacct_error else ("sacct+squeue" if queue_ok else "sacct")
    return SchedulerView(source, now, tuple(job_ids), jobs, queue_complete=queue_ok, user_live=user_live)


#: At most this many arrays are asked ``scontrol`` for exit codes in one view (one call each).
MAX_EXIT_CODE_QUERIES = 8
_SCONTROL_FIELD = re.compile(r"(?:^|\s)(JobId|ArrayJobId|ArrayTaskId|ExitCode)=(\S+)")


def parse_scontrol_jobs(text: str) -> dict[str, str]:
    """Task id -> ``ExitCode`` from lines of ``scontrol -o show job`` (one line per task)."""
    codes: dict[str, str] = {}
    for line in text.splitlines():
        f = dict(_SCONTROL_FIELD.findall(line))
        if "ExitCode" not in f or "JobId" not in f:
            continue
        task = f.get("ArrayTaskId", "")
        codes[f"{f['ArrayJobId']}_{task}" if task.isdigit() and "ArrayJobId" in f else f["JobId"]] = f["ExitCode"]
    return codes


def _with_exit_codes(jobs: dict[str, JobRecord]) -> dict[str, JobRecord]:
    """Fill in the exit code of FAILED tasks only squeue knows (accounting lags, or there is none): ``scontrol``
    has it while slurmctld keeps the job (MinJobAge), so a killed task reads "killed by signal 9" at once."""
    failed = [r for r in jobs.values() if r.exit_code is None and r.state == "FAILED"]
    arrays = sorted({r.job_id.split("_")[0] for r in failed})[:MAX_EXIT_CODE_QUERIES]
    codes: dict[str, str] = {}
    for array in arrays:
        try:
            res = slurm(["scontrol", "-o", "show", "job", array], timeout_s=30, check=False)
        except SubmitError:  # slurmctld does not answer: the reasons without exit codes, as before
            break
        if res.returncode == 0:
            codes.update(parse_scontrol_jobs(res.stdout))
    filled = {r.job_id: replace(r, exit_code=codes[r.job_id]) for r in failed if r.job_id in codes}
    return {**jobs, **filled}


def _load_cache(path: Path, job_ids: list[str], max_age_s: float) -> SchedulerView | None:
    if max_age_s <= 0 or not path.exists():
        return None
    try:
        d = read_json(path)
        if time.time() - float(d["time_s"]) > max_age_s or not set(job_ids) <= set(d["job_ids"]):
            return None
        return SchedulerView(d["source"], float(d["time_s"]), tuple(d["job_ids"]),
                             {k: JobRecord(**v) for k, v in d["jobs"].items()}, bool(d.get("queue_complete")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def scheduler_view(job_ids: list[str], cache: Path | None = None, max_age_s: float = 5.0,
                   user: str | None = None) -> SchedulerView:
    """States of every task of the given array jobs: one query, or the cached answer if fresh enough.

    ``user``: ask squeue for that user's whole queue (never cached), which also counts the
    user's live tasks for the submission limits (:mod:`.limits`).
    """
    if not job_ids:
        return SchedulerView("none", time.time(), (), {})
    if cache is not None and user is None:
        hit = _load_cache(cache, job_ids, max_age_s)
        if hit is not None:
            return hit
    view = _ask(job_ids, user)
    if cache is not None:
        try:
            write_json(cache, {"source": view.source, "time_s": view.time_s, "job_ids": list(view.job_ids),
                               "jobs": {k: asdict(v) for k, v in view.jobs.items()},
                               "queue_complete": view.queue_complete})
        except OSError:  # a read-only results directory still gets an answer
            pass
    return view


def forget(cache: Path) -> None:
    """Drop the cached answer (after scancel or sbatch, the next status asks again)."""
    cache.unlink(missing_ok=True)


#: What SLURM's energy accounting says about each task (``ConsumedEnergyRaw``: joules).
SACCT_ENERGY_FIELDS = "JobID,ConsumedEnergyRaw"


def parse_sacct_energy(text: str) -> dict[str, float | None]:
    """Lines of ``sacct -X -n -P -o JobID,ConsumedEnergyRaw``: task id -> joules, None when not accounted.

    SLURM writes an empty field, or 0, when no ``acct_gather_energy`` plugin
    measured the job; the latest line of a requeued task wins.
    """
    out: dict[str, float | None] = {}
    for line in text.splitlines():
        f = line.split("|")
        if len(f) < 2 or not f[0].strip() or "." in f[0]:
            continue
        raw = f[1].strip()
        try:
            value: float | None = float(raw) if raw else None
        except ValueError:
            value = None
        for jid in _expand(f[0].strip()):
            out[jid] = value if value else None
    return out


def consumed_energy(job_ids: list[str]) -> dict[str, float | None]:
    """The scheduler's energy of every task of ``job_ids`` (one sacct call). Node-level: SLURM's
    ConsumedEnergy is the node's energy while the job ran, meaningful only on exclusive nodes."""
    if not job_ids:
        return {}
    out = slurm(["sacct", "-X", "-n", "-P", "--duplicates", "-o", SACCT_ENERGY_FIELDS, "-j", ",".join(job_ids)],
                timeout_s=60)
    return parse_sacct_energy(out.stdout)
