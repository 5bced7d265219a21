"""CelebA loader and generator, on small files in the official layout."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from energybench.errors import DataError
from energybench.worker import data as data_mod
from energybench.worker.data import SYNTHETIC_MARKER, ensure_data
from energybench.worker.data.cache import CACHE_DIR
from energybench.worker.data.celeba import (
    ATTR_FILE, ATTRIBUTE_NAMES, IDENTITY_FILE, IMAGE_HEIGHT_PX, IMAGE_WIDTH_PX, IMAGES_DIR,
    PARTITION_FILE, generate_celeba, load_celeba, split_images,
)

N_IDS = 10


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("celeba")
    generate_celeba(root, identities=14, images_per_identity=5, seed=3)
    return root


def _copy(root: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(root, dst, ignore=shutil.ignore_patterns(CACHE_DIR))
    return dst


def _identity_rows(root: Path) -> list[tuple[str, int]]:
    lines = (root / IDENTITY_FILE).read_text().splitlines()
    return [(a, int(b)) for a, b in (line.split() for line in lines)]


def test_generated_layout_matches_the_official_one(root: Path) -> None:
    from PIL import Image

    lines = (root / ATTR_FILE).read_text().splitlines()
    assert int(lines[0]) == len(lines) - 2
    assert tuple(lines[1].split()) == ATTRIBUTE_NAMES
    assert "  1" in lines[2] or "  1" in lines[3]  # values aligned with runs of spaces
    with Image.open(root / IMAGES_DIR / "000001.jpg") as img:
        assert img.size == (IMAGE_WIDTH_PX, IMAGE_HEIGHT_PX) and img.format == "JPEG"
    assert len((root / PARTITION_FILE).read_text().splitlines()) == int(lines[0])
    counts = Counter(i for _, i in _identity_rows(root))
    assert len(counts) == 14 and len(set(counts.values())) > 1


def test_top_identities_most_frequent_ties_by_smaller_id(root: Path) -> None:
    counts = Counter(i for _, i in _identity_rows(root))
    expected = sorted(counts, key=lambda i: (-counts[i], i))[:N_IDS]
    boundary = counts[expected[-1]]
    assert sum(c == boundary for c in counts.values()) > sum(counts[i] == boundary for i in expected)
    s = load_celeba(root, identities=N_IDS, image_size_px=32)
    assert s.identity_ids == tuple(expected)


def test_attributes_parse_from_irregular_spacing(root: Path) -> None:
    s = load_celeba(root, identities=N_IDS, image_size_px=32)
    lines = (root / ATTR_FILE).read_text().splitlines()[2:]
    table = {ln.split()[0]: [int(v) > 0 for v in ln.split()[1:]] for ln in lines}
    ids = dict(_identity_rows(root))
    allowed = {tuple(table[n]) for n, i in ids.items() if i in s.identity_ids}
    attrs = np.concatenate([s.train[2], s.val[2], s.test[2]])
    assert attrs.dtype == np.float32 and attrs.shape[1] == 40 and set(np.unique(attrs)) <= {0.0, 1.0}
    assert {tuple(bool(v) for v in row) for row in attrs} <= allowed
    assert s.attribute_names == ATTRIBUTE_NAMES


def test_split_is_stratified_per_identity(root: Path) -> None:
    s = load_celeba(root, identities=N_IDS, image_size_px=32)
    for x, identity, _ in (s.train, s.val, s.test):
        assert x.dtype == np.uint8 and x.shape[1:] == (3, 32, 32)
        assert identity.dtype == np.int64
    assert set(s.train[1].tolist()) == set(s.val[1].tolist()) == set(range(N_IDS))
    total = len(s.train[1]) + len(s.val[1]) + len(s.test[1])
    counts = Counter(i for _, i in _identity_rows(root))
    assert total == sum(counts[i] for i in s.identity_ids)


def test_split_images_ratios_disjoint_and_deterministic() -> None:
    by_class = [[f"{c}_{i:03d}.jpg" for i in range(n)] for c, n in enumerate((30, 12, 3, 2))]
    a, b = split_images(by_class, None), split_images(by_class, None)
    assert a == b
    per = {sp: Counter(c for _, c in pairs) for sp, pairs in a.items()}
    assert [per["val"][c] for c in range(4)] == [3, 1, 1, 1]
    assert [per["test"][c] for c in range(4)] == [3, 1, 1, 0]
    names = [n for pairs in a.values() for n, _ in pairs]
    assert len(names) == len(set(names)) == 47
    capped = split_images(by_class, 20)
    kept = Counter(c for pairs in capped.values() for _, c in pairs)
    assert sum(kept.values()) == 20 and min(kept.values()) >= 2
    assert {c for _, c in capped["val"]} == set(range(4))
    with pytest.raises(DataError, match="max_images"):
        split_images(by_class, 7)


def test_max_images_and_cache(root: Path) -> None:
    s = load_celeba(root, identities=N_IDS, image_size_px=24, max_images=30)
    assert len(s.train[1]) + len(s.val[1]) + len(s.test[1]) == 30
    assert set(s.val[1].tolist()) == set(range(N_IDS))
    assert len(list((root / CACHE_DIR).glob("celeba-*.npz"))) >= 1
    again = load_celeba(root, identities=N_IDS, image_size_px=24, max_images=30)
    np.testing.assert_array_equal(s.train[0], again.train[0])
    assert again.identity_ids == s.identity_ids


def test_missing_files_are_named(root: Path, tmp_path: Path) -> None:
    copy = _copy(root, tmp_path)
    (copy / ATTR_FILE).unlink()
    with pytest.raises(DataError, match=ATTR_FILE):
        load_celeba(copy, identities=N_IDS, image_size_px=32)
    copy2 = _copy(root, tmp_path / "b")
    name = next(n for n, _ in _identity_rows(root))
    (copy2 / IMAGES_DIR / name).unlink()
    with pytest.raises(DataError, match=name):
        load_celeba(copy2, identities=14, image_size_px=32)


def test_bad_rows_and_too_few_identities(root: Path, tmp_path: Path) -> None:
    copy = _copy(root, tmp_path)
    lines = (copy / ATTR_FILE).read_text().splitlines()
    lines[4] = lines[4].rsplit(" ", 3)[0]
    (copy / ATTR_FILE).write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=f"{ATTR_FILE}: line 5"):
        load_celeba(copy, identities=14, image_size_px=32)
    with pytest.raises(DataError, match="only 14 identities"):
        load_celeba(root, identities=40, image_size_px=32)


def test_ensure_data_generates_celeba(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_mod, "DEMO_CELEBA_IDENTITIES", 6)
    monkeypatch.setattr(data_mod, "DEMO_CELEBA_IMAGES_PER_IDENTITY", 3)
    target = tmp_path / "celeba"
    target.mkdir()  # an existing empty folder is fine
    with pytest.raises(DataError, match="download the published dataset"):
        ensure_data("celeba", {"path": str(target)})
    assert ensure_data("celeba", {"path": str(target), "generate": True}) is True
    assert (target / SYNTHETIC_MARKER).exists() and (target / IDENTITY_FILE).exists()
    assert ensure_data("celeba", {"path": str(target), "generate": False}) is True
