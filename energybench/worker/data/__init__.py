"""The study's datasets in their upstream layouts: presence checks, generation, caching.

``ensure_data`` makes sure a config's data section points at a dataset
(generating small synthetic files in the exact upstream format when the
section says ``generate: true``); the loaders live in :mod:`.pamap2` and
:mod:`.celeba`, and cache their decoded arrays beside the data (:mod:`.cache`).
This package is the worker's public seam for data: the estimators use it too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ...errors import DataError
from .celeba import generate_celeba, load_celeba
from .pamap2 import generate_pamap2, load_pamap2

__all__ = ["SYNTHETIC_MARKER", "ensure_data", "generate_celeba", "generate_pamap2", "is_present",
           "load_celeba", "load_pamap2"]

#: Written into a dataset folder that energybench generated (synthetic data).
SYNTHETIC_MARKER = ".energybench-synthetic"

#: Sizes of the generated data: small enough for a CPU demo, large enough to learn.
DEMO_PAMAP2_SECONDS_PER_ACTIVITY = 15.0
DEMO_CELEBA_IDENTITIES = 45
DEMO_CELEBA_IMAGES_PER_IDENTITY = 12

_LAYOUT = {
    "pamap2": "Protocol/subject101.dat ... subject109.dat",
    "celeba": "img_align_celeba/, list_attr_celeba.txt, identity_CelebA.txt",
}


def is_present(dataset: str, root: Path) -> bool:
    """Whether ``root`` holds (the top level of) the dataset's upstream layout."""
    root = Path(root)
    if dataset == "pamap2":
        protocol = root / "Protocol"
        return protocol.is_dir() and any(protocol.glob("subject1*.dat"))
    if dataset == "celeba":
        return ((root / "img_align_celeba").is_dir() and (root / "list_attr_celeba.txt").is_file()
                and (root / "identity_CelebA.txt").is_file())
    raise DataError(f"unknown dataset {dataset!r}; known: {', '.join(_LAYOUT)}")


def _generator(dataset: str) -> Callable[[Path], None]:
    if dataset == "pamap2":
        return lambda root: generate_pamap2(root, seconds_per_activity=DEMO_PAMAP2_SECONDS_PER_ACTIVITY)
    return lambda root: generate_celeba(root, identities=DEMO_CELEBA_IDENTITIES,
                                        images_per_identity=DEMO_CELEBA_IMAGES_PER_IDENTITY)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An advisory lock (best effort: file systems without flock still get the atomic rename)."""
    try:
        f = path.open("a")
    except OSError:
        yield
        return
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX)
        except OSError:
            pass
        yield


def _publish(tmp: Path, root: Path) -> None:
    """Move a generated tree into place: one rename, or entry by entry into an existing folder."""
    try:
        os.rename(tmp, root)
        return
    except OSError:
        pass
    root.mkdir(parents=True, exist_ok=True)
    entries = sorted(tmp.iterdir(), key=lambda p: p.name != SYNTHETIC_MARKER)  # marker first
    for entry in entries:
        if not (root / entry.name).exists():
            os.rename(entry, root / entry.name)


def ensure_data(dataset: str, section: dict[str, Any]) -> bool:
    """Make sure ``section['path']`` holds ``dataset``; True when the data are synthetic.

    Missing data are generated (small, upstream format, marked with
    ``.energybench-synthetic``) when ``section['generate']`` is true, else a
    :class:`DataError` says what to do. Concurrent callers are safe: the data
    are generated into a temporary folder and renamed into place.
    """
    root = Path(section["path"])
    if is_present(dataset, root):
        return (root / SYNTHETIC_MARKER).exists()
    if not section.get("generate", False):
        raise DataError(
            f"{root}: no {dataset} data here (expected {_LAYOUT[dataset]}); download the "
            f"published dataset there and fix data.{dataset}.path, or set "
            f"data.{dataset}.generate: true for small synthetic data")
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{root.parent}: cannot create the data folder: {exc.strerror}") from None
    with _lock(root.parent / f".{root.name}.lock"):
        if is_present(dataset, root):
            return (root / SYNTHETIC_MARKER).exists()
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".tmp", dir=root.parent))
        try:
            tmp.chmod(0o755)  # mkdtemp makes it private; the data are for everyone
            _generator(dataset)(tmp)
            (tmp / SYNTHETIC_MARKER).write_text(json.dumps(
                {"dataset": dataset, "generator": "energybench"}) + "\n")
            if not is_present(dataset, root):
                _publish(tmp, root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return (root / SYNTHETIC_MARKER).exists()
