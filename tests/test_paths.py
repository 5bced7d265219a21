"""The results layout (energybench/paths.py)."""

from __future__ import annotations

import inspect
import re
import typing
from pathlib import Path

import pytest

from energybench import paths
from energybench.paths import LAYOUT, DatasetPaths, ResultsLayout, RunPaths, layout_markdown

from .conftest import REPO

#: Sample arguments of the path methods, by parameter name (else by type: "x" or 1).
_SAMPLE_ARGS = {"run_id": "0123456789abcdef", "stamp": "20260101T120000", "job_id": "123_4",
                "array_name": "h100.pamap2-baseline.0", "pid": 4242, "attempt": 1, "seq": 1,
                "first_seq": 1, "last_seq": 3, "name": "energy_per_epoch"}


def test_results_layout_doc_is_generated() -> None:
    text = (REPO / "docs" / "results-layout.md").read_text()
    assert text == layout_markdown(), "regenerate with: python -m energybench.paths > docs/results-layout.md"


def _pattern(entry: str) -> re.Pattern[str]:
    """A LAYOUT entry as a regular expression over relative paths (``<name>``: one path component)."""
    return re.compile(re.sub(r"<[^>]+>", "[^/]+", re.escape(entry.rstrip("/"))))


def _paths_built(obj: object, root: Path, prefix: str = "") -> dict[str, str]:
    """Every path ``obj``'s public properties and Path-returning methods build, relative to ``root``.

    Methods returning a RunPaths or DatasetPaths are followed; globs (lists) are not paths.
    """
    out: dict[str, str] = {}
    cls = type(obj)
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        where = f"{prefix or cls.__name__}.{name}"
        if isinstance(member, property):
            value = member.fget(obj)  # type: ignore[misc]
        elif inspect.isfunction(member):
            hints = typing.get_type_hints(member)
            if hints.get("return") not in (Path, RunPaths, DatasetPaths):
                continue
            params = list(inspect.signature(member).parameters.values())[1:]
            args = [_SAMPLE_ARGS.get(p.name, 1 if hints.get(p.name) is int else "x") for p in params]
            value = member(obj, *args)
        else:
            continue
        if isinstance(value, (RunPaths, DatasetPaths)):
            if isinstance(obj, RunPaths):
                continue  # a sibling run: the same files again
            out[f"{where} (dir)"] = value.dir.relative_to(root).as_posix()
            out |= _paths_built(value, root, where)
        elif isinstance(value, Path):
            out[where] = value.relative_to(root).as_posix()
    return out


def test_every_path_of_the_layout_classes_is_in_layout() -> None:
    root = Path("/results/exp")
    layout = ResultsLayout(root)
    built = _paths_built(layout, root)
    built |= _paths_built(DatasetPaths(layout.dataset_dir), root)
    for folder, fn in ((layout.tables_dir, paths.table_paths), (layout.figures_dir, paths.figure_paths),
                       (layout.estimate_dir, paths.table_paths)):
        for p in fn(folder, "predictions" if folder == layout.estimate_dir else "energy_per_epoch"):
            built[f"{fn.__name__}({folder.name}){p.suffix}"] = p.relative_to(root).as_posix()
    # The classes are really walked: a broken walk must not pass as an empty one.
    assert {"ResultsLayout.plan", "ResultsLayout.run.spec", "ResultsLayout.run.sample_part",
            "DatasetPaths.quarantine"} <= set(built)
    patterns = [_pattern(entry) for entry, _ in LAYOUT]
    missing = {where: rel for where, rel in built.items() if not any(p.fullmatch(rel) for p in patterns)}
    assert not missing, f"paths not in energybench.paths.LAYOUT (add them, then regenerate the doc): {missing}"


def test_layout_entries_are_unique_and_described() -> None:
    entries = [entry for entry, _ in LAYOUT]
    assert len(entries) == len(set(entries))
    assert all(what.strip() for _, what in LAYOUT)


# --- Crash-safe writes and the layout's listings ------------------------------------------------------------------


def test_atomic_path_renames_over_the_target_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.json"
    with paths.atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target  # beside it: the rename stays on one filesystem
        tmp.write_text("new")
        assert not target.exists()  # a reader sees nothing until the rename
    assert target.read_text() == "new"
    with pytest.raises(RuntimeError), paths.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "new"  # the previous content survives a failed write
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.json"]  # and no temporary is left


def test_write_json_is_stable_and_read_json_reads_it_back(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    paths.write_json(target, {"b": 1, "a": [Path("/p"), 2]})
    first = target.read_bytes()
    paths.write_json(target, {"a": [Path("/p"), 2], "b": 1})
    assert target.read_bytes() == first  # key order does not change the bytes
    assert first.endswith(b"\n")
    assert paths.read_json(target) == {"a": ["/p", 2], "b": 1}  # a Path is written as its text


def test_layout_root_is_absolute_and_run_dirs_lists_directories_only(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    layout = ResultsLayout(Path("res"))
    assert layout.root == tmp_path / "res"
    assert layout.run_dirs() == []  # no runs/ yet
    for run_id in ("b", "a"):
        layout.run(run_id).dir.mkdir(parents=True)
    (layout.runs_dir / "notes.txt").write_text("not a run")
    assert [r.dir.name for r in layout.run_dirs()] == ["a", "b"]
    assert [r.dir.name for r in layout.run("a").siblings()] == ["b"]
    assert layout.run("a").sibling("b") == layout.run("b")


def test_run_shard_listings_are_sorted_and_filter_by_attempt(tmp_path: Path) -> None:
    run = ResultsLayout(tmp_path).run("r")
    assert run.sample_parts() == [] and run.sample_files() == [] and run.epoch_shards() == []
    run.samples_dir.mkdir(parents=True)
    made = [run.sample_part(2, 1), run.sample_part(1, 2), run.sample_part(1, 1), run.sample_segment(1, 3, 9),
            run.epochs(2), run.epochs(1)]
    for p in made:
        p.write_bytes(b"")
    assert run.sample_parts(1) == [run.sample_part(1, 1), run.sample_part(1, 2)]
    assert run.sample_parts() == [run.sample_part(1, 1), run.sample_part(1, 2), run.sample_part(2, 1)]
    assert run.sample_files() == sorted(made[:4])
    assert run.epoch_shards() == [run.epochs(1), run.epochs(2)]
