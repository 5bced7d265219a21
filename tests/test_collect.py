from __future__ import annotations

import hashlib
import multiprocessing as mp
from pathlib import Path

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.dataset  # noqa: F401 - pa.dataset
import pyarrow.parquet as pq
import pytest

from energybench.collect import collect, recompute_tables
from energybench.schema import SCHEMA_VERSION
from energybench.paths import DatasetPaths, read_json, write_json
from energybench.schema import SAMPLE_SCHEMA
from energybench.shards import SampleShardWriter, write_table

from .conftest import eb
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
    assert read_json(ds.schema)["schema_version"] == SCHEMA_VERSION


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
    assert collect(layout.root, echo=_quiet, warn=_quiet).reused == len(specs)
    # Every file the same, but the manifest: it records the inode and mtime of runs.parquet and epochs.parquet,
    # which are written again.
    merged = DatasetPaths(layout.dataset_dir).merged.name
    assert {k: v for k, v in _digest(layout.dataset_dir).items() if k != merged} == \
        {k: v for k, v in first.items() if k != merged}


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
    # collect computes them from its epoch summary (dataset/.epoch-summary.parquet): the same files
    assert all(p.read_bytes() == (layout.tables_dir / p.name).read_bytes() for p in paths)


def _samples(layout, run_id: str) -> pa.Table:
    ds_dir = DatasetPaths(layout.dataset_dir).samples_dir
    return pa.dataset.dataset(ds_dir, partitioning="hive").to_table(filter=pa.compute.field("run_id") == run_id)


def test_run_directory_not_in_the_plan_is_reported_in_one_line(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    for s in specs:
        fake_run(layout, s)
    stray = layout.runs_dir / "0123456789abcdef"
    (stray / "samples").mkdir(parents=True)
    (layout.runs_dir / "empty-stray").mkdir()
    fake_run(layout, specs[0])  # shards are valid, but the directory name is not a planned run
    for p in layout.run(specs[0].run_id).dir.glob("*.parquet"):
        (stray / p.name).write_bytes(p.read_bytes())
    warnings: list[str] = []
    rep = collect(layout.root, echo=_quiet, warn=warnings.append)
    assert rep.unplanned == ["0123456789abcdef", "empty-stray"] and rep.runs == len(specs)
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "2 run directories not in plan.json" in warnings[0] and "0123456789abcdef" in warnings[0]
    runs = pq.read_table(DatasetPaths(layout.dataset_dir).runs).column("run_id").to_pylist()
    assert sorted(runs) == sorted(s.run_id for s in specs)


def test_samples_shard_of_another_schema_version_is_quarantined(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    for s in specs:
        fake_run(layout, s)
    run = layout.run(specs[0].run_id)
    fake_run(layout, specs[0], attempt=2, first_epoch=4, t0=1_700_000_100.0)  # a second, valid part
    victim = run.sample_parts(1)[0]
    t = pq.read_table(victim)
    pq.write_table(t.replace_schema_metadata({b"energybench.schema_version": b"99"}), victim)  # a newer version
    warnings: list[str] = []
    rep = collect(layout.root, echo=_quiet, warn=warnings.append)
    assert [q["path"] for q in rep.quarantined] == [str(victim)]
    assert "schema version 99" in warnings[0] and "reads 1, 2" in warnings[0]
    kept = _samples(layout, specs[0].run_id)
    assert kept.num_rows == 9 and set(kept.column("attempt").to_pylist()) == {2}  # the other attempt's part
    assert _samples(layout, specs[1].run_id).num_rows == 9


def test_empty_run_directories(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    fake_run(layout, specs[1])
    for p in layout.run(specs[0].run_id).dir.iterdir():  # planned, directory there, nothing in it
        p.unlink()
    (layout.run(specs[0].run_id).dir / "samples").mkdir()
    rep = collect(layout.root, echo=_quiet, warn=_quiet)
    runs = {r["run_id"]: r for r in pq.read_table(DatasetPaths(layout.dataset_dir).runs).to_pylist()}
    assert rep.quarantined == [] and rep.unplanned == []
    assert runs[specs[0].run_id]["status"] == "PENDING" and runs[specs[0].run_id]["epochs"] == 0
    assert runs[specs[1].run_id]["epochs"] == 3


def test_torn_compaction_and_resume_give_each_sample_once_in_order(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    s = specs[0]
    run = layout.run(s.run_id)
    fake_run(layout, s, epochs=2, attempt=1, done=False)
    fake_run(layout, s, epochs=2, attempt=2, first_epoch=2, t0=1_700_000_000.0 + 3600)
    parts = run.sample_parts(2)
    SampleShardWriter(run, 2).compact()  # the segment ...
    for p in parts:  # ... and its parts again: a crash between writing it and removing them
        write_table(p, pq.read_table(run.sample_files()[-1]), SAMPLE_SCHEMA)
    collect(layout.root, echo=_quiet, warn=_quiet)
    got = _samples(layout, s.run_id)
    pairs = list(zip(got.column("attempt").to_pylist(), got.column("time_s").to_pylist()))
    assert pairs == sorted(set(pairs)) and len(pairs) == 12


def test_a_run_in_one_clean_shard_enters_the_dataset_as_that_file(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    fake_run(layout, specs[0])
    collect(layout.root, echo=_quiet, warn=_quiet)
    (shard,) = layout.run(specs[0].run_id).sample_files()
    (copy,) = DatasetPaths(layout.dataset_dir).samples_dir.rglob(f"{specs[0].run_id}.parquet")
    assert copy.read_bytes() == shard.read_bytes()
    assert copy.parent.name == "dataset=pamap2" and copy.parent.parent.name == "hardware=cpu"


def test_a_single_shard_out_of_order_is_written_again_sorted(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    fake_run(layout, specs[0])
    (shard,) = layout.run(specs[0].run_id).sample_files()
    t = pq.read_table(shard)
    write_table(shard, pa.concat_tables([t.slice(5), t.slice(0, 5), t.slice(0, 1)]), SAMPLE_SCHEMA)  # + a repeat
    collect(layout.root, echo=_quiet, warn=_quiet)
    got = _samples(layout, specs[0].run_id)
    assert got.column("time_s").to_pylist() == sorted(t.column("time_s").to_pylist())


def test_every_runs_column_is_filled_from_record_markers_or_epochs() -> None:
    from energybench.merge import EPOCH_STAT_COLUMNS, RUN_META_SCHEMA
    from energybench.schema import RUN_SCHEMA

    assert set(RUN_META_SCHEMA.names) - {"threshold_frac"} | set(EPOCH_STAT_COLUMNS) == set(RUN_SCHEMA.names)


def test_collect_fills_model_characteristics_from_the_record(tmp_path: Path) -> None:
    from energybench.merge import RUN_META_SCHEMA, run_meta

    layout, specs = make_results(tmp_path)
    fake_run(layout, specs[0])
    record = read_json(layout.run(specs[0].run_id).record)
    write_json(layout.run(specs[0].run_id).record, {**record, "input_size": 7168, "provenance": {"gpu_name": "X"}})
    meta = run_meta(specs[0].to_dict(), layout.run(specs[0].run_id), "COMPLETED", None)
    assert set(meta) == set(RUN_META_SCHEMA.names)  # a column added to the schema must be filled here
    collect(layout.root, echo=_quiet, warn=_quiet)
    row = next(r for r in pq.read_table(DatasetPaths(layout.dataset_dir).runs).to_pylist()
               if r["run_id"] == specs[0].run_id)
    assert (row["input_size"], row["gpu_name"], row["params_total"]) == (7168, "X", 10)


def test_progress_on_a_pipe_is_plain_lines(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path, repeats=3)
    for s in specs:
        fake_run(layout, s)
    r = eb("collect", str(layout.root), timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"collect: {len(specs)}/{len(specs)} runs read" in r.stdout
    assert "\x1b" not in r.stdout + r.stderr and "\r" not in r.stdout + r.stderr


def test_progress_bar_forced_on_a_non_terminal_still_collects(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    layout, specs = make_results(tmp_path)
    for s in specs:
        fake_run(layout, s)
    layout.run(specs[0].run_id).epochs(1).write_bytes(b"PAR1 not parquet")
    lines: list[str] = []
    rep = collect(layout.root, echo=lines.append, warn=lines.append, progress=True)
    err = capsys.readouterr().err
    assert rep.runs == len(specs) and len(rep.quarantined) == 1
    assert lines == []  # the bar replaced the periodic lines; the warning went above the bar
    assert "quarantined:" in err and f"{len(specs)}/{len(specs)}" in err


def test_runs_progress_lines_every_n_runs() -> None:
    from energybench.progress import RunProgress

    lines: list[str] = []
    with RunProgress(5, "collect", lines.append, tty=False, every=2) as bar:
        for _ in range(5):
            bar.advance(shards=2, samples=10)
        bar.note("a warning", lines.append)
    assert lines == ["collect: 2/5 runs read (4 shards, 20 samples)", "collect: 4/5 runs read (8 shards, 40 samples)",
                     "collect: 5/5 runs read (10 shards, 50 samples)", "a warning"]


def test_bench_generator_and_collect_at_a_tiny_size() -> None:
    from energybench.bench.collect_bench import collect_bench

    r = collect_bench(runs=10, total_samples=10_000, repeats=1, baseline=False)
    gen = r["generated"]
    assert gen.runs == 10 and gen.shards > 10 and r["collected_samples"] == gen.samples
    assert r["collect_s"] > 0 and r["collect_rss_bytes"] > 10 * 1024**2 and r["baseline_s"] is None
