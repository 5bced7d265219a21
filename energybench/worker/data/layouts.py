"""Where a dataset's files are: the layouts users actually download, found under ``data.*.path``.

Accepted, in the order they are looked for:

* CelebA, official (Google Drive / the project page): ``img_align_celeba/*.jpg``,
  ``list_attr_celeba.txt``, ``identity_CelebA.txt``, ``list_eval_partition.txt``.
* CelebA, torchvision (``torchvision.datasets.CelebA(root)``): the same files in
  ``<root>/celeba/``; the folder is found one level down and the note says so.
* CelebA, Kaggle ("CelebFaces Attributes", ``jessicali9530/celeba-dataset``):
  ``list_attr_celeba.csv``, ``list_eval_partition.csv`` and the images under
  ``img_align_celeba/img_align_celeba/``; it has no identity file, so it serves
  the attribute-only workload (on the official partition) unless the official
  ``identity_CelebA.txt`` is put beside the CSV files.
* PAMAP2, UCI: ``Protocol/subject101.dat ...``, at ``path`` or in
  ``path/PAMAP2_Dataset/`` (the published archive unzipped into ``path``).

Pure look-ups (no reads beyond listing); :func:`locate` returns None when no
layout matches, and :data:`EXPECTED` says what was looked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGES_DIR = "img_align_celeba"
ATTR_FILE = "list_attr_celeba.txt"
IDENTITY_FILE = "identity_CelebA.txt"
PARTITION_FILE = "list_eval_partition.txt"
ATTR_CSV = "list_attr_celeba.csv"
PARTITION_CSV = "list_eval_partition.csv"
#: Where the official identity file comes from (the Kaggle variant lacks it).
IDENTITY_SOURCE = ("the CelebA project page, https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html "
                   "(Google Drive: Anno/identity_CelebA.txt)")
#: The folder torchvision's CelebA keeps under its root.
TORCHVISION_DIR = "celeba"
#: The folder the published PAMAP2 archive unzips to.
PAMAP2_ARCHIVE_DIR = "PAMAP2_Dataset"

#: What each dataset's layouts look like, for messages.
EXPECTED = {
    "pamap2": "Protocol/subject101.dat ... subject109.dat (or PAMAP2_Dataset/Protocol/..., as unzipped)",
    "celeba": (f"{IMAGES_DIR}/, {ATTR_FILE}, {IDENTITY_FILE} (official; or the same in celeba/, torchvision's "
               f"layout; or Kaggle's {ATTR_CSV}, {PARTITION_CSV} and {IMAGES_DIR}/{IMAGES_DIR}/)"),
}


@dataclass(frozen=True)
class CelebaFiles:
    """The CelebA files of one layout. ``identity_file`` is None where the layout has none (Kaggle)."""

    root: Path  # the folder holding the lists
    layout: str  # "official" | "torchvision" | "kaggle"
    images_dir: Path
    attr_file: Path
    identity_file: Path | None
    partition_file: Path | None
    note: str | None  # what was found where, when it is not the official layout at ``path``

    @property
    def csv(self) -> bool:
        """Whether the list files are Kaggle's CSV files."""
        return self.attr_file.suffix == ".csv"


@dataclass(frozen=True)
class Pamap2Files:
    """The folder holding ``Protocol/`` and how it was found."""

    root: Path
    layout: str  # "uci" | "archive"
    note: str | None


def _celeba_at(root: Path) -> CelebaFiles | None:
    partition = root / PARTITION_FILE
    if (root / IMAGES_DIR).is_dir() and (root / ATTR_FILE).is_file() and (root / IDENTITY_FILE).is_file():
        return CelebaFiles(root, "official", root / IMAGES_DIR, root / ATTR_FILE, root / IDENTITY_FILE,
                           partition if partition.is_file() else None, None)
    nested = root / IMAGES_DIR / IMAGES_DIR
    if (root / ATTR_CSV).is_file() and nested.is_dir():
        identity = root / IDENTITY_FILE
        partition_csv = root / PARTITION_CSV
        note = (f"{root}: the Kaggle layout ({ATTR_CSV}, images in {IMAGES_DIR}/{IMAGES_DIR}/)"
                + ("" if identity.is_file() else f", no {IDENTITY_FILE}: attribute workloads only"))
        return CelebaFiles(root, "kaggle", nested, root / ATTR_CSV, identity if identity.is_file() else None,
                           partition_csv if partition_csv.is_file() else None, note)
    return None


def locate_celeba(path: Path) -> CelebaFiles | None:
    """CelebA at ``path`` (official or Kaggle), else one level down in ``celeba/`` (torchvision)."""
    path = Path(path)
    found = _celeba_at(path)
    if found is not None:
        return found
    below = _celeba_at(path / TORCHVISION_DIR)
    if below is None:
        return None
    layout = "torchvision" if below.layout == "official" else below.layout
    note = f"found CelebA one level down, in {below.root} (torchvision's layout: <root>/{TORCHVISION_DIR}/)"
    if below.note:
        note += f"; {below.note}"
    return CelebaFiles(below.root, layout, below.images_dir, below.attr_file, below.identity_file,
                       below.partition_file, note)


def _has_protocol(root: Path) -> bool:
    protocol = root / "Protocol"
    return protocol.is_dir() and any(protocol.glob("subject1*.dat"))


def locate_pamap2(path: Path) -> Pamap2Files | None:
    """PAMAP2's ``Protocol/`` at ``path``, else in ``path/PAMAP2_Dataset/`` (the archive unzipped into it)."""
    path = Path(path)
    if _has_protocol(path):
        return Pamap2Files(path, "uci", None)
    below = path / PAMAP2_ARCHIVE_DIR
    if _has_protocol(below):
        return Pamap2Files(below, "archive", f"found PAMAP2 one level down, in {below} (the published archive "
                                             "as unzipped)")
    return None


def locate(dataset: str, path: Path) -> CelebaFiles | Pamap2Files | None:
    """The files of ``dataset`` under ``path`` in any accepted layout, or None."""
    return locate_pamap2(path) if dataset == "pamap2" else locate_celeba(path)
