"""``DIR/manifest.json``: which SLURM job (array task) holds each run.

::

    {"version": 1,
     "runs":   {"<run id>": {"job_id": "123_4", "array_job_id": "123", "array_index": 4,
                             "array": "h100.<workload>.0", "attempt": 1, "partition": "h100",
                             "submit_time": "2026-01-01T12:00:00Z", "submit_time_s": 1767268800.0,
                             "history": [<earlier submissions of this run>]}},
     "arrays": {"123": {"name": "h100.<workload>.0", "partition": "h100", "tasks": 16,
                        "dependency": null, "submit_time": "..."}}}

``attempt`` is the worker attempt the job will start (1 + attempts before it);
requeues after that are counted by the worker in ``started.json``. Written
atomically after every sbatch, so a submission that fails half-way still
records what it submitted. No torch, no SLURM here.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import ResultsError
from ..paths import read_json, write_json

VERSION = 1


class TaskId(NamedTuple):
    """One SLURM array task, ``<array job id>_<index>``: the one parser of that form."""

    array_job_id: str
    index: int

    @classmethod
    def parse(cls, job_id: str) -> "TaskId":
        m = re.fullmatch(r"(\d+)_(\d+)", job_id.strip())
        if m is None:
            raise ValueError(f"{job_id!r} is not a SLURM array task id (<job>_<index>)")
        return cls(m.group(1), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.array_job_id}_{self.index}"

    def sort_key(self) -> tuple[int, int]:
        return int(self.array_job_id), self.index


@dataclass(frozen=True)
class JobRef:
    """Where one run was submitted."""

    run_id: str
    job_id: str  # "<array job id>_<index>"
    array_job_id: str
    array_index: int
    partition: str
    submit_time_s: float
    attempt: int

    @property
    def task(self) -> TaskId:
        return TaskId(self.array_job_id, self.array_index)


class Manifest:
    """The manifest of one results directory (an empty one when the file does not exist)."""

    def __init__(self, path: Path, data: dict[str, Any] | None = None) -> None:
        self.path = path
        self.data: dict[str, Any] = data or {"version": VERSION, "runs": {}, "arrays": {}}

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        if not path.exists():
            return cls(path)
        try:
            data = read_json(path)
        except (OSError, ValueError) as exc:
            raise ResultsError(f"{path}: unreadable manifest ({exc}); move it aside to resubmit everything") from None
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ResultsError(f"{path}: manifest version {data.get('version') if isinstance(data, dict) else '?'}"
                               f" is not {VERSION}; move it aside to resubmit everything")
        data.setdefault("runs", {})
        data.setdefault("arrays", {})
        return cls(path, data)

    def job(self, run_id: str) -> JobRef | None:
        e = self.data["runs"].get(run_id)
        if not e:
            return None
        return JobRef(run_id, e["job_id"], e["array_job_id"], int(e["array_index"]), e.get("partition", ""),
                      float(e.get("submit_time_s", 0.0)), int(e.get("attempt", 1)))

    def jobs(self) -> dict[str, JobRef]:
        return {rid: ref for rid in self.data["runs"] if (ref := self.job(rid)) is not None}

    def array_job_ids(self) -> list[str]:
        """Every array job id this directory has submitted (what one sacct query asks about)."""
        return sorted({e["array_job_id"] for e in self.data["runs"].values()}, key=lambda j: (len(j), j))

    def record_array(self, array_job_id: str, name: str, partition: str, run_ids: list[str],
                     attempts: dict[str, int], dependency: str | None, now_s: float | None = None) -> None:
        """Record one submitted array (task i = ``run_ids[i]``) and save the manifest."""
        now_s = time.time() if now_s is None else now_s
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_s))
        self.data["arrays"][array_job_id] = {"name": name, "partition": partition, "tasks": len(run_ids),
                                             "dependency": dependency, "submit_time": stamp}
        for i, rid in enumerate(run_ids):
            old = self.data["runs"].get(rid)
            history = []
            if old:
                history = old.pop("history", [])
                history.append(old)
            self.data["runs"][rid] = {
                "job_id": str(TaskId(array_job_id, i)), "array_job_id": array_job_id, "array_index": i,
                "array": name, "partition": partition, "attempt": attempts.get(rid, 1),
                "submit_time": stamp, "submit_time_s": now_s, "history": history}
        self.save()

    def save(self) -> None:
        write_json(self.path, self.data)
