from __future__ import annotations

import hashlib
import multiprocessing as mp
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from energybench.collect import collect, recompute_tables
from energybench.paths import DatasetPaths, read_json

from .fabricate import fake_run, make_results


def _quiet(_: str) -> None:
    pass


def _digest(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def test_collect_builds_dataset_with_every_run(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    for s in specs:
        fake_run(layout, s, epochs=3, power_w=50.0, epoch_s=2.0)
    rep = collect(layout.root, echo=_quiet, warn=_quiet)
    ds = DatasetPaths(layout.dataset_dir)
    runs = pq.read_table(ds.runs).to_pylist()
    assert rep.runs == len(specs) == len(runs) and rep.quarantined == []
    for r in runs:
        assert r["status"] == "COMPLETED" and r["epochs"] == 3
        assert r["energy_j"] == pytest.approx(3 * 50.0 * 2.0)
        assert r["duration_s"] == pytest.approx(6.0)
        assert r["meter"] == "synthetic"
    samples = pa.dataset.dataset(ds.samples_dir, partitioning="hive").to_table()
    assert samples.num_rows == len(specs) * 9
    assert set(samples.column("hardware").to_pylist()) == {"cpu"}
    assert (layout.tables_dir / "total_energy.csv").exists()
    assert read_json(ds.schema)["schema_version"] == 1


def test_resumed_run_has_each_epoch_once_latest_attempt_wins(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    s = specs[0]
    fake_run(layout, s, epochs=3, attempt=1, power_w=10.0, done=False)
    fake_run(layout, s, epochs=3, attempt=2, first_epoch=3, power_w=20.0)  # epoch 3 measured twice
    collect(layout.root, echo=_quiet, warn=_quiet)
    ep = pq.read_table(DatasetPaths(layout.dataset_dir).epochs).to_pylist()
    mine = [e for e in ep if e["run_id"] == s.run_id]
    assert [e["epoch"] for e in mine] == [1, 2, 3, 4, 5]
    assert [e["attempt"] for e in mine] == [1, 1, 2, 2, 2]
    run = next(r for r in pq.read_table(DatasetPaths(layout.dataset_dir).runs).to_pylist() if r["run_id"] == s.run_id)
    assert run["attempts"] == 2 and run["epochs"] == 5


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "foreign", "version", "columns"])
def test_bad_shards_are_quarantined_others_unaffected(tmp_path: Path, damage: str) -> None:
    layout, specs = make_results(tmp_path)
    for s in specs:
        fake_run(layout, s)
    victim = layout.run(specs[0].run_id).epochs(1)
    if damage == "corrupt":
        victim.write_bytes(b"PAR1" + b"\x00garbage" * 50 + b"PAR1")
    elif damage == "truncated":
        victim.write_bytes(victim.read_bytes()[:-40])
    elif damage == "foreign":
        pq.write_table(pa.table({"x": [1, 2]}), victim)
    elif damage == "version":
        t = pq.read_table(victim)
        pq.write_table(t.replace_schema_metadata({b"energybench.schema_version": b"999"}), victim)
    elif damage == "columns":
        t = pq.read_table(victim)
        pq.write_table(t.drop_columns(["energy_j"]), victim)
    before = victim.read_bytes()
    warnings: list[str] = []
    rep = collect(layout.root, echo=_quiet, warn=warnings.append)
    assert len(rep.quarantined) == 1 and rep.quarantined[0]["path"] == str(victim)
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert victim.read_bytes() == before  # never deleted or modified
    runs = {r["run_id"]: r for r in pq.read_table(DatasetPaths(layout.dataset_dir).runs).to_pylist()}
    assert runs[specs[1].run_id]["epochs"] == 3 and runs[specs[0].run_id]["epochs"] == 0
    assert read_json(layout.dataset_dir / "quarantine.json")[0]["path"] == str(victim)


def test_empty_and_pending_runs(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    fake_run(layout, specs[0])
    rep = collect(layout.root, echo=_quiet, warn=_quiet)
    runs = {r["run_id"]: r for r in pq.read_table(DatasetPaths(layout.dataset_dir).runs).to_pylist()}
    assert rep.runs == len(specs)
    assert runs[specs[1].run_id]["status"] == "PENDING" and runs[specs[1].run_id]["energy_j"] is None


def test_collect_is_idempotent(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    for s in specs:
        fake_run(layout, s)
    collect(layout.root, echo=_quiet, warn=_quiet)
    first = _digest(layout.dataset_dir)
    collect(layout.root, echo=_quiet, warn=_quiet)
    assert _digest(layout.dataset_dir) == first


def _collect_in_child(root: str) -> None:
    collect(Path(root), echo=_quiet, warn=_quiet)


def test_two_collects_racing_leave_a_valid_dataset(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path, repeats=3)
    for s in specs:
        fake_run(layout, s)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_collect_in_child, args=(str(layout.root),)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert pq.read_table(DatasetPaths(layout.dataset_dir).runs).num_rows == len(specs)
    leftovers = [p.name for p in layout.root.iterdir() if p.name.startswith(".dataset")]
    assert leftovers == []


def test_tables_from_a_dataset_dir_alone(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    for s in specs:
        fake_run(layout, s)
    collect(layout.root, echo=_quiet, warn=_quiet)
    moved = tmp_path / "imported"
    layout.dataset_dir.rename(moved)
    paths = recompute_tables(moved, tmp_path / "out")
    assert any(p.name == "total_energy.parquet" for p in paths)
    assert all(p.parent == tmp_path / "out" for p in paths)
