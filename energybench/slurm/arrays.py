"""Runs -> job arrays, with dependencies. Pure: no SLURM, no files.

One array per (hardware, paradigm), split at MaxArraySize, submitted stage by
stage. A run that trains on an encoder waits for exactly its own encoder:
its array depends on the encoder's array with ``aftercorr`` and index i of
both arrays holds the same setup and repeat, so each downstream task starts as
soon as its own encoder task is done. Downstream runs that cannot be aligned
(their encoder sits at another index, e.g. after a partial resubmission) get
a one-task array each with ``afterok`` on that encoder task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..plan import RunSpec

#: A dependency target: ("@<array name>" of this submission, or a SLURM array job id; task index or None).
Target = tuple[str, "int | None"]


@dataclass(frozen=True)
class Dependency:
    """``aftercorr`` (task i waits for task i of the target array) or ``afterok`` (waits for the targets)."""

    kind: str
    targets: tuple[Target, ...]

    def render(self, job_id_of: Callable[[str], str]) -> str:
        """The ``--dependency`` value; ``job_id_of`` maps an array name of this submission to its job id."""
        ids = []
        for ref, index in self.targets:
            job = job_id_of(ref[1:]) if ref.startswith("@") else ref
            ids.append(job if index is None else f"{job}_{index}")
        return f"{self.kind}:" + ":".join(ids)


@dataclass(frozen=True)
class JobArray:
    """One sbatch: the runs of one hardware and paradigm, array index = position in ``run_ids``."""

    name: str  # "<hardware>.<paradigm>.<n>", unique within one submission
    hardware: str
    paradigm: str
    stage: int
    run_ids: tuple[str, ...]
    dependency: Dependency | None = None


def _chunks(ids: list[str], size: int) -> list[list[str]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def group_arrays(todo: list[RunSpec], max_array_size: int,
                 queued_encoders: Mapping[str, tuple[str, int]] | None = None) -> list[JobArray]:
    """Job arrays for ``todo`` (in plan order), in submission order.

    ``queued_encoders`` maps the run id of an encoder that is queued or running
    from an earlier submission to its (array job id, index). A downstream run
    whose encoder is neither in ``todo`` nor queued has a completed encoder and
    needs no dependency.
    """
    if max_array_size < 1:
        raise ValueError("max_array_size must be positive")
    queued = dict(queued_encoders or {})
    groups: dict[tuple[int, str, str], list[RunSpec]] = {}
    for s in todo:  # plan order: stage, hardware, paradigm, setup, repeat
        groups.setdefault((s.stage, s.hardware, s.paradigm), []).append(s)
    arrays: list[JobArray] = []
    where: dict[str, Target] = {}  # run id -> (@array, index) of this submission
    counters: dict[tuple[str, str], int] = {}

    def add(hw: str, paradigm: str, stage: int, ids: list[str], dep: Dependency | None) -> None:
        n = counters.get((hw, paradigm), 0)
        counters[(hw, paradigm)] = n + 1
        arr = JobArray(f"{hw}.{paradigm}.{n}", hw, paradigm, stage, tuple(ids), dep)
        arrays.append(arr)
        for i, rid in enumerate(ids):
            where[rid] = (f"@{arr.name}", i)

    for (stage, hw, paradigm), specs in sorted(groups.items(), key=lambda kv: kv[0][0]):
        free: list[str] = []
        by_encoder_array: dict[str, list[tuple[int, str]]] = {}
        for s in specs:
            enc = where.get(s.depends_on) if s.depends_on else None
            if enc is None and s.depends_on in queued:
                job, idx = queued[s.depends_on]
                enc = (job, idx)
            if enc is None:
                free.append(s.run_id)
            else:
                by_encoder_array.setdefault(enc[0], []).append((int(enc[1]), s.run_id))
        for ids in _chunks(free, max_array_size):
            add(hw, paradigm, stage, ids, None)
        for ref, members in by_encoder_array.items():
            members.sort()
            n_aligned = 0
            while n_aligned < len(members) and members[n_aligned][0] == n_aligned:
                n_aligned += 1
            if n_aligned:
                add(hw, paradigm, stage, [rid for _, rid in members[:n_aligned]],
                    Dependency("aftercorr", ((ref, None),)))
            for idx, rid in members[n_aligned:]:
                add(hw, paradigm, stage, [rid], Dependency("afterok", ((ref, idx),)))
    return arrays


def rung_arrays(arrays: list[JobArray], passes: int) -> list[JobArray]:
    """A search's arrays: ``arrays`` (its first rung), then one copy per later pass.

    The copy for pass ``k`` (named ``<name>.r<k>``) waits with ``afterany`` for
    every array of the same hardware and workload in pass ``k - 1``: a rung is
    decided once all its runs have ended, and each task's gate then either
    continues its run from the checkpoint or finds it pruned and exits.
    """
    out = list(arrays)
    previous = list(arrays)
    for k in range(1, passes):
        current = []
        for arr in arrays:
            peers = [p for p in previous if (p.hardware, p.paradigm) == (arr.hardware, arr.paradigm)]
            dep = Dependency("afterany", tuple((f"@{p.name}", None) for p in peers))
            current.append(JobArray(f"{arr.name}.r{k}", arr.hardware, arr.paradigm, arr.stage, arr.run_ids, dep))
        out += current
        previous = current
    return out
