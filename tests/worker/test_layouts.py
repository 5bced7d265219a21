"""The datasets as users download them: torchvision's and Kaggle's CelebA, the PAMAP2 archive; native images."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from energybench.errors import DataError
from energybench.worker.data import ensure_data, is_present, layout_note, unusable
from energybench.worker.data.cache import CACHE_DIR
from energybench.worker.data.celeba import (
    ATTR_FILE, ATTRIBUTE_NAMES, IDENTITY_FILE, IMAGE_HEIGHT_PX, IMAGE_WIDTH_PX, IMAGES_DIR, PARTITION_FILE,
    generate_celeba, load_celeba,
)
from energybench.worker.data.layouts import locate_celeba
from energybench.worker.data.pamap2 import generate_pamap2, load_pamap2

N_IDS = 5


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("celeba")
    generate_celeba(root, identities=8, images_per_identity=4, seed=1)
    return root


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(CACHE_DIR))
    return dst


def _to_kaggle(official: Path, dst: Path, identity: bool = False) -> Path:
    """Kaggle's variant: CSV lists, images one folder deeper, no identity file (unless asked)."""
    dst.mkdir(parents=True)
    shutil.copytree(official / IMAGES_DIR, dst / IMAGES_DIR / IMAGES_DIR)
    lines = (official / ATTR_FILE).read_text().splitlines()
    rows = ["image_id," + ",".join(ATTRIBUTE_NAMES)] + [",".join(line.split()) for line in lines[2:]]
    (dst / "list_attr_celeba.csv").write_text("\r\n".join(rows) + "\r\n")
    part = ["image_id,partition"] + [",".join(line.split()) for line in (official / PARTITION_FILE).read_text().splitlines()]
    (dst / "list_eval_partition.csv").write_text("\n".join(part) + "\n")
    if identity:
        shutil.copy(official / IDENTITY_FILE, dst / IDENTITY_FILE)
    return dst


def test_native_images_are_kept_as_published(official: Path) -> None:
    s = load_celeba(official, identities=N_IDS, image_size_px="native")
    assert s.train[0].shape[1:] == (3, IMAGE_HEIGHT_PX, IMAGE_WIDTH_PX) and s.image_hw == (218, 178)
    from PIL import Image

    from energybench.worker.data.celeba import decode_images

    name = sorted((official / IMAGES_DIR).iterdir())[0]
    with Image.open(name) as img:
        raw = np.asarray(img.convert("RGB")).transpose(2, 0, 1)
    assert np.array_equal(decode_images(official / IMAGES_DIR, [name.name], "native")[0], raw)  # no crop, no resize
    assert s.image_bytes == sum(p[0].shape[0] for p in (s.train, s.val, s.test)) * 3 * 218 * 178


def test_height_width_pair_resizes_without_crop_and_caches_apart(official: Path) -> None:
    pair = load_celeba(official, identities=N_IDS, image_size_px=[109, 89])
    square = load_celeba(official, identities=N_IDS, image_size_px=32)
    assert pair.train[0].shape[1:] == (3, 109, 89) and square.train[0].shape[1:] == (3, 32, 32)
    again = load_celeba(official, identities=N_IDS, image_size_px=(109, 89))  # from the cache
    assert np.array_equal(again.train[0], pair.train[0])
    assert len(list((official / CACHE_DIR).glob("celeba-*.npz"))) >= 3


def test_native_refuses_images_of_another_size(official: Path, tmp_path: Path) -> None:
    from PIL import Image

    root = _copy(official, tmp_path / "c")
    for f in (root / IMAGES_DIR).iterdir():
        Image.new("RGB", (64, 64)).save(f)
    with pytest.raises(DataError, match="native needs the aligned images as published"):
        load_celeba(root, identities=N_IDS, image_size_px="native")


def test_torchvision_layout_is_found_one_level_down(official: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "tv"
    _copy(official, root / "celeba")
    assert is_present("celeba", root)
    assert "one level down" in (layout_note("celeba", root) or "")
    assert ensure_data("celeba", {"path": str(root), "generate": False}) is False  # present: nothing generated
    assert "found CelebA one level down" in capsys.readouterr().err
    s = load_celeba(root, identities=N_IDS, image_size_px=32)
    ref = load_celeba(official, identities=N_IDS, image_size_px=32)
    assert np.array_equal(s.train[0], ref.train[0]) and s.identity_ids == ref.identity_ids


def test_kaggle_variant_serves_attributes_on_the_official_partition(official: Path, tmp_path: Path) -> None:
    root = _to_kaggle(official, tmp_path / "kaggle")
    files = locate_celeba(root)
    assert files is not None and files.layout == "kaggle" and files.identity_file is None
    s = load_celeba(root, identities=N_IDS, image_size_px=32, need_identities=False)
    partition = [line.split() for line in (official / PARTITION_FILE).read_text().splitlines()]
    assert len(s.train[0]) == sum(p == "0" for _, p in partition)
    assert s.identity_ids == () and (s.train[1] == -1).all()
    assert s.train[2].shape[1] == 40 and set(np.unique(s.train[2])) <= {0.0, 1.0}
    capped = load_celeba(root, identities=N_IDS, image_size_px=32, max_images=12, need_identities=False)
    assert 10 <= sum(len(p[0]) for p in (capped.train, capped.val, capped.test)) <= 14


def test_kaggle_variant_names_the_missing_identity_file(official: Path, tmp_path: Path) -> None:
    root = _to_kaggle(official, tmp_path / "kaggle")
    with pytest.raises(DataError, match=r"no identity_CelebA\.txt .*mmlab\.ie\.cuhk\.edu\.hk") as err:
        load_celeba(root, identities=N_IDS, image_size_px=32)
    assert "\n" not in str(err.value)
    why = unusable("celeba", root, _needs("celeba-attributes", "celeba-multitask"))
    assert why and "celeba-multitask" in why and "identity_CelebA.txt" in why
    assert unusable("celeba", root, _needs("celeba-attributes")) is None


def test_kaggle_variant_with_the_identity_file_serves_identities(official: Path, tmp_path: Path) -> None:
    root = _to_kaggle(official, tmp_path / "kaggle", identity=True)
    s = load_celeba(root, identities=N_IDS, image_size_px=32)
    ref = load_celeba(official, identities=N_IDS, image_size_px=32)
    assert s.identity_ids == ref.identity_ids
    assert np.array_equal(s.train[2], ref.train[2]) and np.array_equal(s.train[0], ref.train[0])


@pytest.mark.parametrize("level", ["archive", "inside"])
def test_pamap2_archive_as_unzipped_at_either_level(tmp_path: Path, level: str) -> None:
    generate_pamap2(tmp_path / "PAMAP2_Dataset", seconds_per_activity=2.0)
    root = tmp_path if level == "archive" else tmp_path / "PAMAP2_Dataset"
    assert is_present("pamap2", root)
    assert (layout_note("pamap2", root) is not None) == (level == "archive")
    s = load_pamap2(root, window_samples=64, stride_samples=32)
    assert s.train[0].shape[1:] == (28, 64)


def test_missing_data_name_every_accepted_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="torchvision.*Kaggle"):
        ensure_data("celeba", {"path": str(tmp_path / "none")})
    with pytest.raises(DataError, match="PAMAP2_Dataset/Protocol"):
        ensure_data("pamap2", {"path": str(tmp_path / "none")})


def _needs(*names: str) -> dict[str, frozenset[str]]:
    from energybench.workloads import registry

    return {n: registry.resolve(n).needs for n in names}
