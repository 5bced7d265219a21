"""Runs -> job arrays (pure): per hardware and paradigm, aligned aftercorr, split at MaxArraySize."""

from __future__ import annotations

from typing import Any


from energybench.plan import plan
from energybench.slurm import arrays

from .conftest import REPO


def _paper_specs() -> list[Any]:
    from energybench.config import load_config

    return plan(load_config(REPO / "configs" / "paper.yaml"))


def test_arrays_per_hardware_and_paradigm_with_aligned_aftercorr() -> None:
    specs = _paper_specs()
    by_id = {s.run_id: s for s in specs}
    arrs = arrays.group_arrays(specs, 1001)
    assert len(arrs) == 21 and sum(len(a.run_ids) for a in arrs) == 672
    names = [a.name for a in arrs]
    for a in arrs:
        if a.paradigm in ("pamap2-frozen", "pamap2-unfrozen"):
            assert a.dependency.kind == "aftercorr"
            enc = next(x for x in arrs if x.name == a.dependency.targets[0][0][1:])
            assert names.index(enc.name) < names.index(a.name)  # encoders are submitted first
            assert enc.paradigm == "pamap2-autoencoder" and enc.hardware == a.hardware
            assert [by_id[r].depends_on for r in a.run_ids] == list(enc.run_ids)  # index i <-> index i
        else:
            assert a.dependency is None


def test_arrays_split_at_max_array_size_and_stay_aligned() -> None:
    specs = [s for s in _paper_specs() if s.hardware == "h100" and s.paradigm.startswith("pamap2-")
             and s.paradigm != "pamap2-baseline"]
    by_id = {s.run_id: s for s in specs}
    arrs = arrays.group_arrays(specs, 10)  # 32 encoders -> 10 + 10 + 10 + 2
    enc = [a for a in arrs if a.paradigm == "pamap2-autoencoder"]
    assert [len(a.run_ids) for a in enc] == [10, 10, 10, 2]
    for a in arrs:
        if a.dependency:
            target = next(x for x in enc if f"@{x.name}" == a.dependency.targets[0][0])
            assert [by_id[r].depends_on for r in a.run_ids] == list(target.run_ids)


def test_partial_resubmission_and_queued_encoders() -> None:
    specs = [s for s in _paper_specs() if s.hardware == "a100" and s.paradigm in
             ("pamap2-autoencoder", "pamap2-frozen")][:48]
    enc = [s for s in specs if s.paradigm == "pamap2-autoencoder"]
    frozen = {s.depends_on: s for s in specs if s.paradigm == "pamap2-frozen"}
    # encoders 1 and 3 failed with their frozen runs; frozen of encoder 5 failed alone (encoder completed)
    todo = [enc[1], enc[3], frozen[enc[1].run_id], frozen[enc[3].run_id], frozen[enc[5].run_id]]
    arrs = arrays.group_arrays(todo, 1001)
    assert [(a.paradigm, len(a.run_ids), a.dependency.kind if a.dependency else None) for a in arrs] == [
        ("pamap2-autoencoder", 2, None), ("pamap2-frozen", 1, None), ("pamap2-frozen", 2, "aftercorr")]
    # the encoder of a resubmitted frozen run is still queued from an earlier submission at index 7
    todo = [frozen[enc[7].run_id], frozen[enc[0].run_id]]
    arrs = arrays.group_arrays(todo, 1001, {enc[7].run_id: ("555", 7), enc[0].run_id: ("555", 0)})
    deps = sorted(a.dependency.render(str) for a in arrs)
    assert deps == ["aftercorr:555", "afterok:555_7"]
