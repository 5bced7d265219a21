"""Incremental ``collect``: a second collect reads only the runs whose files changed, and its dataset
equals a full collect's, file by file."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest

from energybench.collect import collect
from energybench.config import parse_config
from energybench.paths import DatasetPaths, ResultsLayout, read_json, write_json
from energybench.plan import RunSpec, plan
from energybench.planfile import write_plan
from energybench.shards import SampleShardWriter

from .conftest import eb, minimal_config
from .fabricate import fake_run, make_results


def _quiet(_: str) -> None:
    pass


def _contents(dataset: Path) -> dict[str, Any]:
    """Every file of a dataset directory but the manifest: Parquet as its table (with the footer's
    metadata), JSON parsed with the results directory's own path taken out, anything else as bytes."""
    root = str(dataset.parent)
    out: dict[str, Any] = {}
    for p in sorted(dataset.rglob("*")):
        name = p.relative_to(dataset).as_posix()
        if not p.is_file() or p == DatasetPaths(dataset).merged:
            continue
        if p.suffix == ".parquet":
            out[name] = pq.read_table(p)
        elif p.suffix == ".json":
            out[name] = json.loads(p.read_text().replace(root, "<results>"))
        else:
            out[name] = p.read_bytes()
    return out


def _assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        if name.endswith(".parquet"):
            assert got[name].equals(value, check_metadata=True), name
        else:
            assert got[name] == value, name


def _full_copy(layout: ResultsLayout, to: Path) -> dict[str, Any]:
    """A fresh full collect of a copy of the results directory (without its dataset and tables)."""
    shutil.copytree(layout.root, to, ignore=shutil.ignore_patterns("dataset", "tables", ".collect.lock"))
    rep = collect(to, echo=_quiet, warn=_quiet)
    assert rep.reused == 0 and rep.full_reason == "no previous dataset"
    return _contents(to / "dataset")


def _study(tmp_path: Path) -> tuple[ResultsLayout, list[RunSpec]]:
    """Six runs: four completed (one resumed, its shards merged into a file of its own, and one with a
    damaged epoch shard), one running (no done marker), one not started."""
    layout, specs = make_results(tmp_path, repeats=3)
    for s in specs[:5]:
        fake_run(layout, s, done=s is not specs[4])
    fake_run(layout, specs[1], epochs=2, attempt=2, first_epoch=3, t0=1_700_000_100.0)  # resumed: two parts
    (layout.run(specs[3].run_id).dir / "epochs-a009.parquet").write_bytes(b"PAR1 not parquet")
    return layout, specs


def test_incremental_collect_equals_a_full_one_and_reads_only_what_changed(tmp_path: Path) -> None:
    layout, specs = _study(tmp_path)
    first = collect(layout.root, echo=_quiet, warn=_quiet)
    assert first.reused == 0 and len(first.quarantined) == 1
    written = next(DatasetPaths(layout.dataset_dir).samples_dir.rglob(f"{specs[1].run_id}.parquet")).stat().st_ino
    # While the study runs: the running run appends a shard of a new attempt, the pending one finishes.
    fake_run(layout, specs[4], epochs=2, attempt=2, first_epoch=4, t0=1_700_000_200.0, done=False)
    fake_run(layout, specs[5], epochs=4)
    lines: list[str] = []
    warnings: list[str] = []
    rep = collect(layout.root, echo=lines.append, warn=warnings.append)
    assert rep.reused == 4 and rep.full_reason is None
    assert "collect: 2 of 6 runs changed since the last collect; reading those" in lines
    changed = [layout.run(s.run_id) for s in specs[4:]]
    assert rep.shards == sum(len(r.sample_files()) + len(r.epoch_shards()) for r in changed)  # nothing else read
    assert len(warnings) == 1 and "epochs-a009" in warnings[0]  # a kept run's quarantined shard, named again
    assert rep.runs == 6 and rep.samples == first.samples + 6 + 12
    kept = next(DatasetPaths(layout.dataset_dir).samples_dir.rglob(f"{specs[1].run_id}.parquet"))
    assert kept.stat().st_ino == written  # linked from the previous dataset, not merged again
    _assert_same(_contents(layout.dataset_dir), _full_copy(layout, tmp_path / "copy"))
    _assert_same(_contents(layout.tables_dir), _contents(tmp_path / "copy" / "tables"))  # tables: from the same data
    runs = {r["run_id"]: r for r in pq.read_table(DatasetPaths(layout.dataset_dir).runs).to_pylist()}
    assert runs[specs[5].run_id]["status"] == "COMPLETED" and runs[specs[4].run_id]["attempts"] == 2


def test_settled_run_directories_are_not_listed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import energybench.collect as collect_module

    layout, specs = _study(tmp_path)
    monkeypatch.setattr(collect_module, "SETTLED_S", 0.0)
    time.sleep(0.05)  # past the filesystem's timestamp tick: the run directories have settled
    collect(layout.root, echo=_quiet, warn=_quiet)
    listed: list[str] = []
    real = collect_module.run_files
    monkeypatch.setattr(collect_module, "run_files", lambda run: listed.append(run.dir.name) or real(run))
    assert collect(layout.root, echo=_quiet, warn=_quiet).reused == 6 and listed == []
    heartbeat = layout.run(specs[4].run_id).heartbeat
    write_json(heartbeat, read_json(heartbeat))  # a rename in the run's directory, no file collect reads
    fake_run(layout, specs[5], epochs=4)  # new shards and markers
    rep = collect(layout.root, echo=_quiet, warn=_quiet)
    assert sorted(listed) == sorted([specs[4].run_id, specs[5].run_id]) and rep.reused == 5
    _assert_same(_contents(layout.dataset_dir), _full_copy(layout, tmp_path / "copy"))


def test_a_run_whose_state_moved_gets_its_row_again_without_reading_shards(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    layout, specs = _study(tmp_path)
    collect(layout.root, echo=_quiet, warn=_quiet)
    heartbeat = layout.run(specs[4].run_id).heartbeat
    write_json(heartbeat, {**read_json(heartbeat), "time_s": 1_000.0})  # silent for ages: LOST, files as they were
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now)  # the reason says for how long: the same in both collects
    rep = collect(layout.root, echo=_quiet, warn=_quiet)
    assert rep.reused == 6 and rep.shards == 0
    runs = {r["run_id"]: r for r in pq.read_table(DatasetPaths(layout.dataset_dir).runs).to_pylist()}
    assert runs[specs[4].run_id]["status"] == "LOST" and "no heartbeat" in runs[specs[4].run_id]["stop_reason"]
    _assert_same(_contents(layout.dataset_dir), _full_copy(layout, tmp_path / "copy"))


def test_incremental_collect_with_a_search_equals_a_full_one(tmp_path: Path) -> None:
    cfg = minimal_config(tmp_path, repeats=2, early_stopping={"max_epochs": 20, "patience_epochs": 3},
                         search={"rung_epochs": 2, "eta": 2, "objective": "accuracy"})
    specs = plan(parse_config(cfg, tmp_path / "exp.yaml"))
    layout = ResultsLayout(tmp_path / "res")
    write_plan(layout, "t", specs)
    for s in specs:
        fake_run(layout, s, epochs=2, done=False)
    bracket = f"{specs[0].paradigm}.{specs[0].hardware}"
    write_json(layout.rung_decision(bracket, 0), {
        "bracket": bracket, "rung": 0, "ends_epoch": 2, "objective": "accuracy", "decided_at_s": 1.0,
        "candidates": [{"run_id": s.run_id, "setup": s.setup, "score": 0.7, "setup_score": 0.7,
                        "survived": s.setup <= 2, "epochs": 2, "energy_j": 400.0, "best_val_accuracy": 0.7,
                        "energy_to_threshold_j": None, "threshold_reached": False} for s in specs]})
    collect(layout.root, echo=_quiet, warn=_quiet)
    fake_run(layout, specs[0], epochs=3, attempt=2, first_epoch=3, t0=1_700_000_100.0)  # a survivor goes on
    rep = collect(layout.root, echo=_quiet, warn=_quiet)
    assert rep.reused == len(specs) - 1
    got = _contents(layout.dataset_dir)
    assert "search.parquet" in got and got["epochs.parquet"].column("rung").null_count == 0
    _assert_same(got, _full_copy(layout, tmp_path / "copy"))


def _damage_runs(layout: ResultsLayout) -> None:
    DatasetPaths(layout.dataset_dir).runs.write_bytes(b"PAR1 torn")


def _rewrite_summary(layout: ResultsLayout) -> None:
    path = DatasetPaths(layout.dataset_dir).epoch_summary
    pl.read_parquet(path).with_columns(epoch_energy_mwh=pl.lit(0.0)).write_parquet(path)


def _remove_dataset(layout: ResultsLayout) -> None:
    shutil.rmtree(layout.dataset_dir)


def _remove_manifest(layout: ResultsLayout) -> None:
    DatasetPaths(layout.dataset_dir).merged.unlink()


def _older_schema(layout: ResultsLayout) -> None:
    path = DatasetPaths(layout.dataset_dir).merged
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "schema_version": manifest["schema_version"] - 1}))


def _garbled_manifest(layout: ResultsLayout) -> None:
    DatasetPaths(layout.dataset_dir).merged.write_text('{"format": 1, "runs": ')


@pytest.mark.parametrize("damage, why", [
    (_damage_runs, "runs.parquet changed since the last collect"),
    (_rewrite_summary, ".epoch-summary.parquet changed since the last collect"),
    (_remove_dataset, "no previous dataset"),
    (_remove_manifest, "the previous dataset has no .merged.json"),
    (_older_schema, "the previous dataset's schema_version is"),
    (_garbled_manifest, ".merged.json unreadable"),
])
def test_a_previous_dataset_that_cannot_be_trusted_means_a_full_collect(tmp_path: Path, damage: Any,
                                                                         why: str) -> None:
    layout, specs = _study(tmp_path)
    collect(layout.root, echo=_quiet, warn=_quiet)
    damage(layout)
    rep = collect(layout.root, echo=_quiet, warn=_quiet)
    assert rep.reused == 0 and why in (rep.full_reason or "")
    _assert_same(_contents(layout.dataset_dir), _full_copy(layout, tmp_path / "copy"))
    again = collect(layout.root, echo=_quiet, warn=_quiet)  # and the next one is incremental again
    assert again.reused == len(specs) and again.shards == 0


def test_a_samples_file_gone_from_the_dataset_is_merged_again(tmp_path: Path) -> None:
    layout, specs = _study(tmp_path)
    collect(layout.root, echo=_quiet, warn=_quiet)
    next(DatasetPaths(layout.dataset_dir).samples_dir.rglob(f"{specs[1].run_id}.parquet")).unlink()
    rep = collect(layout.root, echo=_quiet, warn=_quiet)
    assert rep.reused == len(specs) - 1
    _assert_same(_contents(layout.dataset_dir), _full_copy(layout, tmp_path / "copy"))


def test_a_compaction_is_a_change(tmp_path: Path) -> None:
    layout, specs = _study(tmp_path)
    collect(layout.root, echo=_quiet, warn=_quiet)
    SampleShardWriter(layout.run(specs[1].run_id), 2).compact()  # only one part: nothing to do
    fake_run(layout, specs[1], epochs=1, attempt=2, first_epoch=5, t0=1_700_000_300.0)
    assert SampleShardWriter(layout.run(specs[1].run_id), 2).compact() is not None  # parts -> one segment
    rep = collect(layout.root, echo=_quiet, warn=_quiet)
    assert rep.reused == len(specs) - 1
    _assert_same(_contents(layout.dataset_dir), _full_copy(layout, tmp_path / "copy"))


def test_collect_full_flag_reads_every_run(tmp_path: Path) -> None:
    layout, specs = _study(tmp_path)
    collect(layout.root, echo=_quiet, warn=_quiet)
    r = eb("collect", "--full", str(layout.root), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "changed since the last collect" not in r.stdout
    manifest = json.loads(DatasetPaths(layout.dataset_dir).merged.read_text())
    assert sorted(manifest["runs"]) == sorted(s.run_id for s in specs)
    r = eb("collect", str(layout.root), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "collect: 0 of 6 runs changed since the last collect\n" in r.stdout


def _reference_latest(epochs: Any) -> Any:
    """What ``latest_attempt`` computed before its fast paths: a sort by the run id, then unique."""
    return (epochs.sort(["run_id", "epoch", "attempt", "start_s"], descending=[False, False, True, True],
                        maintain_order=True)
            .unique(subset=["run_id", "epoch"], keep="first", maintain_order=True))


@pytest.mark.parametrize("layout_of_rows", ["shuffled", "runs together", "sorted"])
def test_latest_attempt_fast_paths_agree_with_the_plain_sort(layout_of_rows: str) -> None:
    import numpy as np
    import polars as pl

    from energybench.merge import latest_attempt

    rng = np.random.default_rng(3)
    rows = [{"run_id": f"r{r:02d}", "attempt": a, "epoch": e, "start_s": float(rng.integers(0, 3))}
            for r in range(30) for a in range(1, int(rng.integers(1, 4)) + 1)
            for e in range(int(rng.integers(1, 5)), int(rng.integers(5, 9)))]
    frame = pl.DataFrame(rows).with_columns(pl.col("attempt", "epoch").cast(pl.Int32), tag=pl.int_range(pl.len()))
    if layout_of_rows == "shuffled":
        frame = frame.sample(fraction=1.0, shuffle=True, seed=1)
    elif layout_of_rows == "sorted":
        frame = _reference_latest(frame)
    assert latest_attempt(frame).equals(_reference_latest(frame))


def test_replace_runs_equals_filtering_and_sorting() -> None:
    import polars as pl

    from energybench.merge import replace_runs

    previous = pl.DataFrame({"run_id": [r for r in "abcdef" for _ in range(3)], "epoch": [1, 2, 3] * 6, "v": 0})
    fresh = pl.DataFrame({"run_id": ["a", "c", "c", "f", "g"], "epoch": [1, 1, 2, 1, 1], "v": 1})
    changed = ["a", "c", "e", "f", "g"]  # e: its rows are gone now; g: a run new to the dataset
    want = pl.concat([previous.filter(~pl.col("run_id").is_in(changed)), fresh]).sort("run_id", "epoch")
    assert replace_runs(previous, fresh, changed).equals(want)


def test_scale_bench_at_a_tiny_size(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from energybench.bench.collect_bench import print_scale, scale_bench

    r = scale_bench(scale=1, runs=40, total_samples=40_000, rounds=2, changed_frac=0.05, tmp_dir=str(tmp_path))
    assert r["changed"] == 2 and len(r["full_s"]) == len(r["incremental_s"]) == 2
    assert r["same_as_full"] == [True] and min(r["incremental_rss_bytes"]) > 10 * 1024**2
    print_scale(r)
    out = capsys.readouterr().out
    assert "incremental / full" in out and out.count("met") >= 3 and "MISMATCH" not in out
    assert list(tmp_path.iterdir()) == []  # cleaned up


def test_the_epochs_table_keeps_the_row_groups_of_unchanged_runs(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import energybench.collect_epochs as collect_epochs

    monkeypatch.setattr(collect_epochs, "BLOCK_RUNS", 2)  # three blocks of the six runs
    layout, specs = _study(tmp_path)
    collect(layout.root, echo=_quiet, warn=_quiet)
    epochs = DatasetPaths(layout.dataset_dir).epochs
    assert pq.ParquetFile(epochs).metadata.num_row_groups == 3
    fake_run(layout, specs[5], epochs=4)  # the pending run finishes: only its block is encoded again
    whole, encoded = collect_epochs.write, []
    monkeypatch.setattr(collect_epochs, "write", lambda *a: pytest.fail("the epochs table written whole"))
    real = collect_epochs._write_blocks
    monkeypatch.setattr(collect_epochs, "_write_blocks",
                        lambda path, frame, blocks: encoded.append(frame.height) or real(path, frame, blocks))
    assert collect(layout.root, echo=_quiet, warn=_quiet).reused == 5
    assert len(encoded) == 1 and encoded[0] < pq.ParquetFile(epochs).metadata.num_rows
    monkeypatch.setattr(collect_epochs, "write", whole)
    _assert_same(_contents(layout.dataset_dir), _full_copy(layout, tmp_path / "copy"))
    assert epochs.read_bytes() == DatasetPaths(tmp_path / "copy" / "dataset").epochs.read_bytes()
