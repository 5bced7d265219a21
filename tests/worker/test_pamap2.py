"""PAMAP2 loader and generator, on small files in the real UCI format."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from energybench.errors import DataError
from energybench.worker import data as data_mod
from energybench.worker.data import SYNTHETIC_MARKER, ensure_data
from energybench.worker.data.cache import CACHE_DIR
from energybench.worker.data.pamap2 import (
    ACTIVITIES, CHANNELS, N_COLUMNS, SPLIT_SUBJECTS, generate_pamap2, interpolate_nans,
    load_pamap2, read_subject, subject_file, window_starts,
)

WINDOW, STRIDE = 64, 32


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pamap2")
    generate_pamap2(root, seconds_per_activity=3.0, seed=1)
    return root


def _copy(root: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(root / "Protocol", dst / "Protocol")
    return dst


def test_generated_files_are_in_the_upstream_format(root: Path) -> None:
    text = subject_file(root, 101).read_text()
    rows = [line.split(" ") for line in text.splitlines()]
    assert {len(r) for r in rows} == {N_COLUMNS}
    assert "nan" not in text and "NaN" in text
    activities = [int(r[1]) for r in rows]
    assert 0 in activities and set(activities) - {0} == set(ACTIVITIES)
    heart = [r[2] for r in rows]
    assert heart.count("NaN") > 0.8 * len(heart)  # ~9 Hz heart rate
    assert any(all(v == "NaN" for v in r[3:20]) for r in rows)  # an IMU drop-out


def test_read_subject_keeps_nans_and_activity_zero(root: Path) -> None:
    timestamp_s, activity, signals = read_subject(subject_file(root, 102))
    assert signals.shape == (len(activity), len(CHANNELS)) and signals.dtype == np.float32
    assert np.isnan(signals[:, 0]).mean() > 0.8 and (activity == 0).any()
    assert np.all(np.diff(timestamp_s) > 0)


def test_interpolation_is_linear_with_nearest_edges() -> None:
    x = np.array([[np.nan, 1.0], [1.0, np.nan], [np.nan, np.nan], [4.0, 7.0], [np.nan, np.nan]],
                 dtype=np.float32)
    out = interpolate_nans(x)
    np.testing.assert_allclose(out[:, 0], [1, 1, 2.5, 4, 4])
    np.testing.assert_allclose(out[:, 1], [1, 3, 5, 7, 7])


def test_windows_respect_activity_changes_gaps_and_transients() -> None:
    t = np.arange(40) * 0.01
    t[25:] += 0.5  # a gap inside activity 4 between rows 24 and 25
    act = np.array([1] * 10 + [0] * 5 + [4] * 25)
    starts, labels = window_starts(t, act, window_samples=4, stride_samples=2)
    # activity 1: rows 0..9; activity 0: none; activity 4: rows 15..24 and 25..39
    assert starts.tolist() == [0, 2, 4, 6, 15, 17, 19, 21, 25, 27, 29, 31, 33, 35]
    assert set(labels[:4].tolist()) == {0} and set(labels[4:].tolist()) == {ACTIVITIES.index(4)}


def test_load_shapes_classes_and_split(root: Path) -> None:
    s = load_pamap2(root, window_samples=WINDOW, stride_samples=STRIDE)
    assert s.channels == CHANNELS and len(CHANNELS) == 28 and s.n_classes == 12
    assert s.subjects == SPLIT_SUBJECTS
    for x, y in (s.train, s.val, s.test):
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape[1:] == (28, WINDOW) and len(x) == len(y) > 0
        assert np.isfinite(x).all()
        assert set(y.tolist()) == set(range(12))


def test_normalisation_uses_training_statistics(root: Path) -> None:
    x = load_pamap2(root, window_samples=WINDOW, stride_samples=STRIDE).train[0]
    assert np.abs(x.mean(axis=(0, 2))).max() < 0.15
    assert np.all(np.abs(x.std(axis=(0, 2)) - 1) < 0.2)


def test_max_windows_is_an_even_deterministic_subset(root: Path) -> None:
    full = load_pamap2(root, window_samples=WINDOW, stride_samples=STRIDE)
    capped = load_pamap2(root, window_samples=WINDOW, stride_samples=STRIDE, max_windows=50)
    n = len(full.train[0])
    assert len(capped.train[0]) == 50 and len(capped.val[0]) == min(50, len(full.val[0]))
    np.testing.assert_array_equal(capped.train[0], full.train[0][(np.arange(50) * n) // 50])


def test_cache_is_written_and_reused(root: Path) -> None:
    a = load_pamap2(root, window_samples=WINDOW, stride_samples=STRIDE)
    assert list((root / CACHE_DIR).glob("pamap2-*.npz"))
    b = load_pamap2(root, window_samples=WINDOW, stride_samples=STRIDE)
    np.testing.assert_array_equal(a.train[0], b.train[0])


def test_runs_of_spaces_parse_like_single_spaces(root: Path, tmp_path: Path) -> None:
    copy = _copy(root, tmp_path)
    f = subject_file(copy, 104)
    f.write_text("".join(" " + line.replace(" ", "  ") + " \n" for line in f.read_text().splitlines()))
    for a, b in zip(read_subject(subject_file(root, 104)), read_subject(f)):
        np.testing.assert_array_equal(a, b)


def test_missing_subject_file_names_it(root: Path, tmp_path: Path) -> None:
    copy = _copy(root, tmp_path)
    subject_file(copy, 103).unlink()
    with pytest.raises(DataError, match="subject103.dat"):
        load_pamap2(copy, window_samples=WINDOW, stride_samples=STRIDE)
    with pytest.raises(DataError, match="Protocol"):
        load_pamap2(tmp_path / "nowhere", window_samples=WINDOW, stride_samples=STRIDE)


def test_wrong_column_count_names_file_and_line(root: Path, tmp_path: Path) -> None:
    copy = _copy(root, tmp_path)
    f = subject_file(copy, 105)
    lines = f.read_text().splitlines()
    lines[2] = " ".join(lines[2].split()[:50])
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"subject105\.dat: line 3 has 50 columns, expected 54"):
        read_subject(f)


def test_ensure_data_generates_once_and_marks_synthetic(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_mod, "DEMO_PAMAP2_SECONDS_PER_ACTIVITY", 2.0)
    target = tmp_path / "data" / "pamap2"
    with pytest.raises(DataError, match="generate: true"):
        ensure_data("pamap2", {"path": str(target), "generate": False})
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(
        ensure_data("pamap2", {"path": str(target), "generate": True}))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True, True]
    assert (target / SYNTHETIC_MARKER).exists()
    assert sorted(p.name for p in (target / "Protocol").iterdir()) == \
        [f"subject{s}.dat" for s in range(101, 110)]
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(".tmp")] == []
    (target / SYNTHETIC_MARKER).unlink()  # now it looks like the real dataset
    assert ensure_data("pamap2", {"path": str(target), "generate": True}) is False
