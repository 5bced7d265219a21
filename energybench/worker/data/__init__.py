"""The study's datasets in their upstream layouts: presence checks, generation, caching.

``ensure_data`` makes sure a config's data section points at a dataset
(generating small synthetic files in the exact upstream format when the
section says ``generate: true``); the layouts users download (official,
torchvision, Kaggle, the PAMAP2 archive) are found by :mod:`.layouts`; the
loaders live in :mod:`.pamap2` and :mod:`.celeba`, and cache their decoded
arrays beside the data (:mod:`.cache`).
This package is the worker's public seam for data: the estimators use it too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ...errors import DataError
from .celeba import IMAGE_HEIGHT_PX, IMAGE_WIDTH_PX, generate_celeba, load_celeba, target_hw
from .layouts import EXPECTED, locate
from .pamap2 import generate_pamap2, load_pamap2

__all__ = ["IMAGE_HEIGHT_PX", "IMAGE_WIDTH_PX", "SYNTHETIC_MARKER", "target_hw", "ensure_data", "generate_celeba", "generate_pamap2", "is_present",
           "celeba_choices", "layout_note", "load_celeba", "load_pamap2", "locate", "pamap2_choices", "unusable"]

#: Written into a dataset folder that energybench generated (synthetic data).
SYNTHETIC_MARKER = ".energybench-synthetic"

#: Sizes of the generated data: small enough for a CPU demo, large enough to learn.
DEMO_PAMAP2_SECONDS_PER_ACTIVITY = 15.0
DEMO_CELEBA_IDENTITIES = 45
DEMO_CELEBA_IMAGES_PER_IDENTITY = 12

_LAYOUT = EXPECTED


def is_present(dataset: str, root: Path) -> bool:
    """Whether ``root`` holds the dataset in a layout :mod:`.layouts` accepts."""
    if dataset not in _LAYOUT:
        raise DataError(f"unknown dataset {dataset!r}; known: {', '.join(_LAYOUT)}")
    return locate(dataset, Path(root)) is not None


def layout_note(dataset: str, root: Path) -> str | None:
    """What was found where, when it is not the plain upstream layout at ``root`` (else None)."""
    found = locate(dataset, Path(root))
    return found.note if found is not None else None


def pamap2_choices() -> dict[str, str]:
    """The PAMAP2 choices the code fixes (channels, split), for the report's choices section."""
    from .pamap2 import CHANNELS, SPLIT_SUBJECTS

    split = ", ".join(f"{s} {'/'.join(map(str, ids))}" for s, ids in SPLIT_SUBJECTS.items())
    return {"channels": f"{len(CHANNELS)}: heart rate + the ±16 g accelerometer, gyroscope and magnetometer "
                        "(x, y, z) of the hand, chest and ankle IMUs",
            "split": f"by subject: {split}"}


def celeba_choices() -> dict[str, str]:
    """The CelebA choices the code fixes (the split)."""
    from .celeba import TEST_FRACTION, VAL_FRACTION

    train = 1 - VAL_FRACTION - TEST_FRACTION
    return {"split": f"per identity {train:.0%}/{VAL_FRACTION:.0%}/{TEST_FRACTION:.0%} train/validation/test "
                     "(official partition unused: it separates identities)"}


def unusable(dataset: str, root: Path, needs: dict[str, frozenset[str] | set[str]]) -> str | None:
    """Why the data at ``root`` cannot serve some workloads (Kaggle's CelebA has no identities), else None.

    ``needs``: workload name -> what it needs of the data (``"identities"``).
    """
    found = locate(dataset, Path(root))
    if dataset != "celeba" or found is None or getattr(found, "identity_file", True) is not None:
        return None
    needing = [name for name, wants in needs.items() if "identities" in wants]
    if not needing:
        return None
    from .layouts import IDENTITY_FILE, IDENTITY_SOURCE

    return (f"{found.root}: no {IDENTITY_FILE} (Kaggle's CelebA has none), which {', '.join(needing)} "
            f"need(s); put the official file from {IDENTITY_SOURCE} beside list_attr_celeba.csv")


def _synthetic(dataset: str, root: Path) -> bool:
    found = locate(dataset, root)
    return (root / SYNTHETIC_MARKER).exists() or (found is not None and (found.root / SYNTHETIC_MARKER).exists())


def _present(dataset: str, root: Path) -> bool:
    """Present; a layout found elsewhere than at ``root`` is said once on stderr (the run's log)."""
    note = layout_note(dataset, root) if is_present(dataset, root) else None
    if note:
        print(f"energybench: data.{dataset}.path: {note}", file=sys.stderr, flush=True)
    return is_present(dataset, root)


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
    if _present(dataset, root):
        return _synthetic(dataset, root)
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
