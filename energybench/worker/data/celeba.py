"""CelebA, read from the official layout: the most frequent identities, split per identity.

Layout: ``<root>/img_align_celeba/000001.jpg ...`` (178 x 218 px, aligned
faces), ``list_attr_celeba.txt`` (image count; the 40 attribute names; one
row per image with values -1/1 separated by runs of spaces),
``identity_CelebA.txt`` (``000001.jpg 2880``) and ``list_eval_partition.txt``
(ignored: the official partition keeps identities apart, which makes it
useless for identity classification).

Choices:

* Identities: the ``identities`` (default 40) identities with the most images,
  ties broken by the smaller identity id; class index 0 is the most frequent.
* Split, per identity and deterministic (seed :data:`SPLIT_SEED`): of each
  identity's images (shuffled), 10 % go to validation, 10 % to test (each
  rounded, at least one; test is empty for an identity with 2 images) and the
  rest to training, so every identity is in training and validation.
* ``max_images`` keeps, per identity, a share of the images proportional to
  its count (largest remainder, at least 2), before splitting.
* Images (``image_size_px``): ``native`` keeps them as published, 218 x 178
  (height x width; the study's size, no crop, no resize); a side S
  centre-crops to a 178 x 178 square and resizes (bilinear, antialiased) to
  S x S; a pair [H, W] resizes to H x W without cropping. Kept as uint8
  [N, 3, H, W]. The models normalise with ImageNet statistics per batch.
* Without an identity file (Kaggle's variant, see :mod:`.layouts`) only the
  attributes can be trained: the split is then the official partition
  (``list_eval_partition``: 0 train, 1 validation, 2 test) and ``max_images``
  keeps an evenly strided subset of each split, in the same proportion.
* Attributes: -1/1 become 0/1 (float32).

Decoded arrays are cached as ``<root>/.energybench-cache/celeba-<hash>.npz``;
the hash covers the parameters (the image size as given: ``native``, S or
[H, W]) and the size and mtime of the list files read (replace the list
files, or delete the cache, after changing images). At native size the
40-identity subset (about 1,400 images) is about 165 MB.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ...errors import DataError
from .cache import cache_file, load_cached, save_cached
from .layouts import ATTR_FILE, IDENTITY_FILE, IDENTITY_SOURCE, IMAGES_DIR, PARTITION_FILE, CelebaFiles, \
    locate_celeba

ATTRIBUTE_NAMES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
IMAGE_WIDTH_PX, IMAGE_HEIGHT_PX = 178, 218
SPLIT_SEED = 0
VAL_FRACTION = 0.1
TEST_FRACTION = 0.1
_CACHE_VERSION = 1
_SPLITS = ("train", "val", "test")

Split = tuple[np.ndarray, np.ndarray, np.ndarray]  # x uint8 [N,3,H,W], identity int64, attrs f32
#: ``image_size_px`` as the config gives it: "native", a side, or [height, width] (pixels).
ImageSize = str | int | list[int] | tuple[int, int]


@dataclass(frozen=True)
class CelebaSplits:
    """x uint8 [N, 3, H, W]; identity int64 [N] (class 0..n-1, -1 without identities); attributes float32 {0,1} [N, 40]."""

    train: Split
    val: Split
    test: Split
    attribute_names: tuple[str, ...]
    identity_ids: tuple[int, ...]  # CelebA identity of each class index; () without an identity file
    image_hw: tuple[int, int]  # (height, width) of the arrays, pixels

    @property
    def image_bytes(self) -> int:
        """Bytes of every split's images (uint8), what a resident copy takes."""
        return sum(int(part[0].nbytes) for part in (self.train, self.val, self.test))


def _read_text(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: missing; expected the official CelebA layout "
                        f"({IMAGES_DIR}/, {ATTR_FILE}, {IDENTITY_FILE})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None


def read_identities(path: Path) -> dict[str, int]:
    """Image file name -> CelebA identity, from ``identity_CelebA.txt``."""
    out: dict[str, int] = {}
    for number, line in enumerate(_read_text(path), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 2 or not tokens[1].isdigit():
            raise DataError(f"{path}: line {number}: expected '<image>.jpg <identity>', "
                            f"got {line.strip()[:60]!r}")
        out[tokens[0]] = int(tokens[1])
    if not out:
        raise DataError(f"{path}: no rows")
    return out


def top_identities(identity_of: dict[str, int], n: int) -> list[int]:
    """The ``n`` identities with the most images, ties broken by the smaller id."""
    counts: dict[int, int] = {}
    for ident in identity_of.values():
        counts[ident] = counts.get(ident, 0) + 1
    ranked = sorted(counts, key=lambda i: (-counts[i], i))
    return ranked[:n]


def read_attributes(path: Path, wanted: set[str]) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    """Attribute names and the 0/1 rows of the ``wanted`` images from ``list_attr_celeba.txt``."""
    lines = _read_text(path)
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise DataError(f"{path}: line 1 must be the image count")
    names = tuple(lines[1].split())
    if len(names) != len(ATTRIBUTE_NAMES):
        raise DataError(f"{path}: line 2 lists {len(names)} attribute names, expected 40")
    rows: dict[str, np.ndarray] = {}
    n_rows = 0
    for number, line in enumerate(lines[2:], 3):
        head = line.split(None, 1)
        if not head:
            continue
        n_rows += 1
        if head[0] not in wanted:
            continue
        values = line.split()[1:]
        if len(values) != len(names) or any(v not in ("1", "-1") for v in values):
            raise DataError(f"{path}: line {number}: expected an image name and 40 values "
                            f"of -1 or 1")
        rows[head[0]] = (np.array(values, dtype=np.int8) > 0).astype(np.float32)
    if n_rows != int(lines[0]):
        raise DataError(f"{path}: line 1 says {int(lines[0])} images, found {n_rows} rows")
    missing = sorted(wanted - rows.keys())
    if missing:
        raise DataError(f"{path}: no attribute row for {missing[0]} "
                        f"(and {len(missing) - 1} more images)")
    return names, rows


def _quotas(counts: list[int], cap: int | None) -> list[int]:
    """Images kept per identity: proportional to ``counts`` (largest remainder), at least 2."""
    total = sum(counts)
    if cap is None or cap >= total:
        return list(counts)
    if cap < 2 * len(counts):
        raise DataError(f"data.celeba.max_images={cap} keeps fewer than 2 images for some of "
                        f"the {len(counts)} identities; raise it to at least {2 * len(counts)}")
    exact = [cap * c / total for c in counts]
    quota = [min(c, max(2, int(e))) for c, e in zip(counts, exact)]
    order = sorted(range(len(counts)), key=lambda i: (-(exact[i] - int(exact[i])), i))
    k = 0
    while sum(quota) < cap:  # hand out the remainder
        i = order[k % len(order)]
        if quota[i] < counts[i]:
            quota[i] += 1
        k += 1
    while sum(quota) > cap:  # the minimum of 2 overshot: take back from the largest
        i = max(range(len(quota)), key=lambda j: (quota[j], -j))
        quota[i] -= 1
    return quota


def split_images(images_by_class: list[list[str]], max_images: int | None,
                 seed: int = SPLIT_SEED) -> dict[str, list[tuple[str, int]]]:
    """(image, class) pairs per split, stratified per identity (see the module docstring)."""
    quotas = _quotas([len(v) for v in images_by_class], max_images)
    out: dict[str, list[tuple[str, int]]] = {s: [] for s in _SPLITS}
    for cls, (names, quota) in enumerate(zip(images_by_class, quotas)):
        if quota < 2:
            raise DataError(f"identity class {cls} has {quota} image(s); every identity needs "
                            f"at least 2 (one for training, one for validation)")
        order = np.random.default_rng([seed, cls]).permutation(sorted(names))[:quota]
        n_val = max(1, round(VAL_FRACTION * quota))
        n_test = max(1, round(TEST_FRACTION * quota)) if quota >= 3 else 0
        out["val"] += [(str(n), cls) for n in order[:n_val]]
        out["test"] += [(str(n), cls) for n in order[n_val:n_val + n_test]]
        out["train"] += [(str(n), cls) for n in order[n_val + n_test:]]
    for split in _SPLITS:
        out[split].sort()
    return out


def target_hw(image_size_px: ImageSize) -> tuple[int, int] | None:
    """(height, width) the images are resized to, or None for ``native``."""
    if image_size_px == "native":
        return None
    if isinstance(image_size_px, int):
        return (image_size_px, image_size_px)
    height, width = image_size_px
    return (int(height), int(width))


def _decode(path: Path, image_size_px: ImageSize) -> np.ndarray:
    try:
        with Image.open(path) as img:
            if isinstance(image_size_px, int):  # the square: centre crop, then resize
                img.draft("RGB", (image_size_px, image_size_px))  # JPEG: decode at a reduced scale when possible
                img = img.convert("RGB")
                w, h = img.size
                side = min(w, h)
                left, top = (w - side) / 2, (h - side) / 2
                img = img.resize((image_size_px, image_size_px), Image.Resampling.BILINEAR,
                                 box=(left, top, left + side, top + side))
            else:
                img = img.convert("RGB")
                hw = target_hw(image_size_px)
                if hw is None and img.size != (IMAGE_WIDTH_PX, IMAGE_HEIGHT_PX):
                    raise DataError(f"{path}: {img.size[0]} x {img.size[1]} px (width x height); image_size_px: "
                                    f"native needs the aligned images as published, {IMAGE_WIDTH_PX} x "
                                    f"{IMAGE_HEIGHT_PX}")
                if hw is not None and img.size != (hw[1], hw[0]):
                    img = img.resize((hw[1], hw[0]), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
    except FileNotFoundError:
        raise DataError(f"{path}: missing image (listed in the CelebA list files)") from None
    except OSError as exc:
        raise DataError(f"{path}: not a readable image: {exc}") from None


def decode_images(folder: Path, names: list[str], image_size_px: ImageSize) -> np.ndarray:
    """uint8 [N, 3, H, W]: each image decoded at ``image_size_px`` (see the module docstring)."""
    hw = target_hw(image_size_px) or (IMAGE_HEIGHT_PX, IMAGE_WIDTH_PX)
    out = np.empty((len(names), 3, *hw), dtype=np.uint8)
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL decodes without the GIL
        for i, arr in enumerate(pool.map(lambda n: _decode(folder / n, image_size_px), names)):
            out[i] = arr
    return out


def _stamp(f: Path) -> list[object]:
    return [f.name, f.stat().st_size, f.stat().st_mtime_ns]


def _size_key(image_size_px: ImageSize) -> object:
    return list(image_size_px) if isinstance(image_size_px, (list, tuple)) else image_size_px


def load_celeba(root: Path, *, identities: int, image_size_px: ImageSize,
                max_images: int | None = None, need_identities: bool = True) -> CelebaSplits:
    """The top-``identities`` images of ``root``, split per identity, decoded (and cached).

    ``root`` may hold any layout :mod:`.layouts` accepts. Without an identity
    file, ``need_identities=False`` (the attribute paradigm) trains on the
    official partition instead; ``True`` is a :class:`DataError` naming the file.
    """
    files = locate_celeba(Path(root))
    if files is None:
        raise DataError(f"{root}: no CelebA here; expected the official layout ({IMAGES_DIR}/, {ATTR_FILE}, "
                        f"{IDENTITY_FILE}), torchvision's (the same in celeba/) or Kaggle's (CSV lists)")
    if files.identity_file is None:
        if need_identities:
            raise DataError(f"{files.root}: no {IDENTITY_FILE} (the Kaggle variant has none); identity and "
                            f"multitask training need it: put the official file from {IDENTITY_SOURCE} beside "
                            f"{files.attr_file.name}")
        return _load_by_partition(files, image_size_px, max_images)
    id_file, attr_file = files.identity_file, files.attr_file
    stamps = [_stamp(f) for f in (id_file, attr_file)]
    key: list[object] = [_CACHE_VERSION, identities, _size_key(image_size_px), max_images, SPLIT_SEED, stamps]
    if files.csv:
        key.append("csv")
    cached = load_cached(cache_file(files.root, "celeba", key))
    if cached is not None:
        return _from_arrays(cached)

    identity_of = read_identities(id_file)
    top = top_identities(identity_of, identities)
    if len(top) < identities:
        raise DataError(f"{id_file}: only {len(top)} identities, data.celeba.identities asks "
                        f"for {identities}")
    class_of = {ident: cls for cls, ident in enumerate(top)}
    by_class: list[list[str]] = [[] for _ in top]
    for name, ident in identity_of.items():
        if ident in class_of:
            by_class[class_of[ident]].append(name)
    splits = split_images(by_class, max_images)
    wanted = {name for pairs in splits.values() for name, _ in pairs}
    names, attr_rows = (read_attributes_csv if files.csv else read_attributes)(attr_file, wanted)
    arrays: dict[str, np.ndarray] = {
        "identity_ids": np.array(top, dtype=np.int64),
        "attribute_names": np.array(names),
    }
    for split, pairs in splits.items():
        chosen = [n for n, _ in pairs]
        arrays[f"{split}_x"] = decode_images(files.images_dir, chosen, image_size_px)
        arrays[f"{split}_identity"] = np.array([c for _, c in pairs], dtype=np.int64)
        arrays[f"{split}_attributes"] = (np.stack([attr_rows[n] for n in chosen]) if chosen
                                         else np.zeros((0, len(names)), np.float32))
    for split in ("train", "val"):
        missing = set(range(len(top))) - set(arrays[f"{split}_identity"].tolist())
        if missing:
            raise DataError(f"{id_file}: identity {top[min(missing)]} has no {split} image")
    save_cached(cache_file(files.root, "celeba", key), arrays)
    return _from_arrays(arrays)


def read_attributes_csv(path: Path, wanted: set[str] | None) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    """Kaggle's ``list_attr_celeba.csv``: ``image_id,<40 names>`` then one row of -1/1 per image."""
    lines = _read_text(path)
    header = lines[0].strip().split(",") if lines else []
    if len(header) != len(ATTRIBUTE_NAMES) + 1:
        raise DataError(f"{path}: line 1 must be image_id and the 40 attribute names, comma-separated")
    names = tuple(h.strip() for h in header[1:])
    rows: dict[str, np.ndarray] = {}
    for number, line in enumerate(lines[1:], 2):
        cells = line.strip().split(",")
        if cells == [""] or (wanted is not None and cells[0] not in wanted):
            continue
        values = [c.strip() for c in cells[1:]]
        if len(values) != len(names) or any(v not in ("1", "-1") for v in values):
            raise DataError(f"{path}: line {number}: expected an image name and 40 values of -1 or 1")
        rows[cells[0]] = (np.array(values, dtype=np.int8) > 0).astype(np.float32)
    missing = sorted((wanted or set()) - rows.keys())
    if missing:
        raise DataError(f"{path}: no attribute row for {missing[0]} (and {len(missing) - 1} more images)")
    return names, rows


def read_partition(path: Path) -> dict[str, int]:
    """Image -> 0 (train) / 1 (validation) / 2 (test), from the official ``.txt`` or Kaggle's ``.csv``."""
    out: dict[str, int] = {}
    for number, line in enumerate(_read_text(path), 1):
        cells = line.strip().replace(",", " ").split()
        if not cells or (number == 1 and cells[0] == "image_id"):
            continue
        if len(cells) != 2 or cells[1] not in ("0", "1", "2"):
            raise DataError(f"{path}: line {number}: expected '<image>.jpg <0|1|2>'")
        out[cells[0]] = int(cells[1])
    return out


def _load_by_partition(files: CelebaFiles, image_size_px: ImageSize, max_images: int | None) -> CelebaSplits:
    """Attributes only: the official partition, ``max_images`` kept in proportion (evenly strided)."""
    if files.partition_file is None:
        raise DataError(f"{files.root}: no {IDENTITY_FILE} and no partition file; put the official "
                        f"{IDENTITY_FILE} from {IDENTITY_SOURCE} beside {files.attr_file.name}")
    stamps = [_stamp(f) for f in (files.attr_file, files.partition_file)]
    key = [_CACHE_VERSION, "partition", _size_key(image_size_px), max_images, stamps]
    cached = load_cached(cache_file(files.root, "celeba", key))
    if cached is not None:
        return _from_arrays(cached)
    part = read_partition(files.partition_file)
    names_by_split = {s: sorted(n for n, p in part.items() if p == i) for i, s in enumerate(_SPLITS)}
    total = sum(len(v) for v in names_by_split.values())
    if max_images is not None and max_images < total:
        for s, names in names_by_split.items():
            keep = max(1, round(max_images * len(names) / total)) if names else 0
            idx = np.linspace(0, len(names) - 1, keep).round().astype(int) if keep else []
            names_by_split[s] = [names[i] for i in idx]
    wanted = {n for v in names_by_split.values() for n in v}
    read = read_attributes_csv if files.csv else read_attributes
    attr_names, attr_rows = read(files.attr_file, wanted)
    arrays: dict[str, np.ndarray] = {"identity_ids": np.zeros(0, dtype=np.int64),
                                     "attribute_names": np.array(attr_names)}
    for s, chosen in names_by_split.items():
        arrays[f"{s}_x"] = decode_images(files.images_dir, chosen, image_size_px)
        arrays[f"{s}_identity"] = np.full(len(chosen), -1, dtype=np.int64)
        arrays[f"{s}_attributes"] = (np.stack([attr_rows[n] for n in chosen]) if chosen
                                     else np.zeros((0, len(attr_names)), np.float32))
    save_cached(cache_file(files.root, "celeba", key), arrays)
    return _from_arrays(arrays)


def _from_arrays(a: dict[str, np.ndarray]) -> CelebaSplits:
    parts = {s: (a[f"{s}_x"], a[f"{s}_identity"], a[f"{s}_attributes"]) for s in _SPLITS}
    return CelebaSplits(
        train=parts["train"], val=parts["val"], test=parts["test"],
        attribute_names=tuple(str(n) for n in a["attribute_names"]),
        identity_ids=tuple(int(i) for i in a["identity_ids"]),
        image_hw=(int(a["train_x"].shape[2]), int(a["train_x"].shape[3])),
    )


# --- synthetic files in the official format ------------------------------------------------

_HAIR = {"Black_Hair": (25, 20, 20), "Blond_Hair": (230, 200, 110), "Brown_Hair": (110, 70, 40),
         "Gray_Hair": (160, 160, 165)}
_SKIN = ((245, 215, 190), (225, 180, 140), (180, 130, 90), (120, 80, 55))
_PER_IMAGE = ("Smiling", "Eyeglasses", "Wearing_Hat", "Blurry", "Mouth_Slightly_Open")


def _draw(k: int, attrs: dict[str, bool], rng: np.random.Generator) -> Image.Image:
    """One synthetic aligned face of identity ``k``: its colours and shape, plus jitter."""
    hue = (k * 0.618034) % 1.0
    bg = tuple(int(c) for c in 255 * (0.5 + 0.45 * np.cos(2 * np.pi * (hue + np.array([0, 1, 2]) / 3))))
    img = Image.new("RGB", (IMAGE_WIDTH_PX, IMAGE_HEIGHT_PX), bg)
    d = ImageDraw.Draw(img)
    dx, dy = rng.integers(-8, 9, 2)
    half_w = 42 + 8 * ((k // 16) % 3)
    cx, cy = 89 + dx, 120 + dy
    hair = next((c for n, c in _HAIR.items() if attrs[n]), (70, 50, 30))
    if not attrs["Bald"]:
        d.ellipse((cx - half_w - 8, cy - 78, cx + half_w + 8, cy + 20), fill=hair)
    d.ellipse((cx - half_w, cy - 60, cx + half_w, cy + 62), fill=_SKIN[k % 4])
    for ex in (cx - 18, cx + 18):
        d.ellipse((ex - 5, cy - 15, ex + 5, cy - 7), fill=(30, 30, 30))
    if attrs["Eyeglasses"]:
        d.rectangle((cx - 30, cy - 19, cx + 30, cy - 4), outline=(0, 0, 0), width=3)
    if attrs["Smiling"]:
        d.arc((cx - 20, cy + 15, cx + 20, cy + 40), 20, 160, fill=(150, 30, 40), width=4)
    else:
        d.line((cx - 15, cy + 30, cx + 15, cy + 30), fill=(150, 30, 40), width=3)
    if attrs["Mouth_Slightly_Open"]:
        d.ellipse((cx - 6, cy + 26, cx + 6, cy + 36), fill=(60, 10, 10))
    if attrs["Wearing_Hat"]:
        d.rectangle((cx - half_w - 12, cy - 95, cx + half_w + 12, cy - 55), fill=(40, 40, 140))
    if attrs["Blurry"]:
        img = img.filter(ImageFilter.GaussianBlur(2.5))
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, 6, (IMAGE_HEIGHT_PX, IMAGE_WIDTH_PX, 3))
    return Image.fromarray(np.clip(arr * rng.uniform(0.9, 1.1), 0, 255).astype(np.uint8))


def generate_celeba(root: Path, *, identities: int = 45, images_per_identity: int = 12,
                    seed: int = 0) -> None:
    """Write synthetic 178 x 218 JPEGs and the three list files in the official format.

    Identities have different image counts (``images_per_identity`` +2 down to
    -2, at least 2, with ties) and random CelebA-like ids, so the top-N choice
    and its tie-break matter. Each identity has its own background colour,
    skin tone, face width and base attributes (hair colour among them); a few
    attributes (smiling, glasses, hat, blur, open mouth) vary per image and
    are drawn, so both tasks are learnable. The attribute file aligns its
    columns with runs of spaces, like the original.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.arange(1, 10178), identities, replace=False)
    counts = [max(2, images_per_identity + 2 - (5 * k) // identities) for k in range(identities)]
    base = rng.random((identities, len(ATTRIBUTE_NAMES))) < 0.3
    col = {n: i for i, n in enumerate(ATTRIBUTE_NAMES)}
    for k in range(identities):
        for n in (*_HAIR, "Bald"):
            base[k, col[n]] = False
        hair = (k // 4) % 5
        base[k, col[(*_HAIR, "Bald")[hair]]] = True
        base[k, col["Male"]] = k % 2 == 1
    owners = rng.permutation(np.repeat(np.arange(identities), counts))
    (root / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    attr_lines = [str(len(owners)), " ".join(ATTRIBUTE_NAMES) + " "]
    id_lines, part_lines = [], []
    partition = {k: 0 if k < 0.8 * identities else (1 if k < 0.9 * identities else 2)
                 for k in range(identities)}
    for i, k in enumerate(owners, 1):
        name = f"{i:06d}.jpg"
        row = base[k].copy()
        for n in _PER_IMAGE:
            row[col[n]] = rng.random() < 0.3
        _draw(int(k), dict(zip(ATTRIBUTE_NAMES, row)), rng).save(root / IMAGES_DIR / name, quality=90)
        attr_lines.append(name + "".join(f" {1 if v else -1:2d}" for v in row))
        id_lines.append(f"{name} {ids[k]}")
        part_lines.append(f"{name} {partition[int(k)]}")
    for fname, lines in ((ATTR_FILE, attr_lines), (IDENTITY_FILE, id_lines),
                         (PARTITION_FILE, part_lines)):
        (root / fname).write_text("\n".join(lines) + "\n")
