"""PAMAP2 Physical Activity Monitoring, read from the UCI layout, cut into windows.

Layout: ``<root>/Protocol/subject101.dat`` ... ``subject109.dat`` (or
``<root>/PAMAP2_Dataset/Protocol/...``, the archive as unzipped); one row per
10 ms (100 Hz), 54 columns separated by single spaces, ``NaN`` where a value
is missing: timestamp (s), activity id, heart rate (bpm, ~9 Hz, NaN between
readings), then the hand, chest and ankle IMUs, 17 columns each: temperature
(degC), acceleration +-16 g (3, m/s^2), acceleration +-6 g (3), gyroscope
(3, rad/s), magnetometer (3, uT), orientation (4, invalid).

Preprocessing (the choices, in order):

* Channels (28): heart rate, and for each IMU (hand, chest, ankle) the +-16 g
  accelerometer, the gyroscope and the magnetometer (x, y, z). Temperature,
  the saturating +-6 g accelerometer and the invalid orientation are dropped.
* Missing values: linear interpolation over time per channel within each
  subject; NaNs before the first / after the last reading take the nearest
  valid value (a channel with no reading at all for a subject becomes 0 after
  normalisation).
* Classes: the 12 protocol activities 1, 2, 3, 4, 5, 6, 7, 12, 13, 16, 17, 24
  map to class 0..11 in that order; activity 0 (transient) and the optional
  activities are dropped.
* Windows: ``window_samples`` long (default 256 = 2.56 s), a new one every
  ``stride_samples`` (default 128 = 50 % overlap). A window never crosses an
  activity change, a subject boundary or a timestamp gap (consecutive rows
  more than 15 ms apart).
* Split, subject-wise (Hammerla et al., IJCAI 2016): validation = subject
  105, test = subject 106, training = 101, 102, 103, 104, 107, 108, 109.
* Normalisation: per-channel z-score with mean and standard deviation taken
  over the training subjects' samples that lie in a training window (the
  validation and test subjects never contribute).
* ``max_windows`` keeps an evenly strided, deterministic subset of each
  split after normalisation (statistics still use every training window).

Loaded splits are cached as ``<root>/.energybench-cache/pamap2-<hash>.npz``
(the hash covers the parameters and the size and mtime of every file read);
a read-only dataset folder simply goes uncached.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from ...errors import DataError
from .cache import cache_file, load_cached, save_cached
from .layouts import locate_pamap2

#: Protocol activity ids, in class-index order: lying, sitting, standing, walking, running, cycling,
#: nordic walking, ascending stairs, descending stairs, vacuum cleaning, ironing, rope jumping.
ACTIVITIES: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 12, 13, 16, 17, 24)
SUBJECTS: tuple[int, ...] = tuple(range(101, 110))
SPLIT_SUBJECTS: dict[str, tuple[int, ...]] = {
    "train": (101, 102, 103, 104, 107, 108, 109),
    "val": (105,),
    "test": (106,),
}
N_COLUMNS = 54
SAMPLE_RATE_HZ = 100.0
_MAX_STEP_S = 0.015  # consecutive rows further apart than this are a gap
_IMUS = ("hand", "chest", "ankle")
_IMU_FIRST_COLUMN = {"hand": 3, "chest": 20, "ankle": 37}
# offsets inside an IMU block of 17 columns
_SENSORS = (("acc", 1, "ms2"), ("gyro", 7, "rads"), ("mag", 10, "ut"))
_CACHE_VERSION = 1


def _channel_columns() -> tuple[tuple[str, ...], tuple[int, ...]]:
    names, cols = ["heart_rate_bpm"], [2]
    for imu in _IMUS:
        for sensor, offset, unit in _SENSORS:
            for i, axis in enumerate("xyz"):
                names.append(f"{imu}_{sensor}_{axis}_{unit}")
                cols.append(_IMU_FIRST_COLUMN[imu] + offset + i)
    return tuple(names), tuple(cols)


CHANNELS, CHANNEL_COLUMNS = _channel_columns()

Split = tuple[np.ndarray, np.ndarray]  # x float32 [N, C, L], y int64 [N]


@dataclass(frozen=True)
class Pamap2Splits:
    """Windowed, normalised PAMAP2: x float32 [N, C, L], y int64 [N] (class 0..11)."""

    train: Split
    val: Split
    test: Split
    channels: tuple[str, ...]
    n_classes: int
    subjects: dict[str, tuple[int, ...]]  # split name -> subject ids
    channel_mean: np.ndarray  # float64 [C], training statistics, channel units
    channel_std: np.ndarray  # float64 [C]


def subject_file(root: Path, subject: int) -> Path:
    """``<root>/Protocol/subject1NN.dat``."""
    return Path(root) / "Protocol" / f"subject{subject}.dat"


# --- reading ---------------------------------------------------------------------------

def _bad_line(path: Path) -> tuple[int, int] | None:
    """First (line number, column count) whose count is not 54, if any."""
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            n = len(line.split())
            if n != N_COLUMNS and (n or number == 1):
                return number, n
    return None


def _parse(data: bytes) -> pa.Table:
    names = [f"c{i}" for i in range(N_COLUMNS)]
    keep = [names[0], names[1], *(names[c] for c in CHANNEL_COLUMNS)]
    types = {n: pa.float32() for n in keep}
    types[names[0]] = pa.float64()
    types[names[1]] = pa.int32()
    return pcsv.read_csv(
        io.BytesIO(data),
        read_options=pcsv.ReadOptions(column_names=names, block_size=1 << 24),
        parse_options=pcsv.ParseOptions(delimiter=" "),
        convert_options=pcsv.ConvertOptions(column_types=types, include_columns=keep,
                                            null_values=["NaN", "nan"], strings_can_be_null=False),
    )


def read_subject(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One subject file: timestamp_s float64 [T], activity int32 [T], signals float32 [T, C].

    Signals are the :data:`CHANNELS`, NaN where missing (not yet interpolated).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: missing; expected the PAMAP2 layout Protocol/subject101.dat "
                        f"... subject109.dat") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    if not data.strip():
        raise DataError(f"{path}: empty file")
    try:
        table = _parse(data)
    except pa.ArrowInvalid:
        bad = _bad_line(path)
        if bad is not None:
            raise DataError(f"{path}: line {bad[0]} has {bad[1]} columns, expected {N_COLUMNS} "
                            f"(PAMAP2 Protocol format)") from None
        # runs of spaces or tabs: normalise the separators once and retry
        data = re.sub(rb"[ \t]+", b" ", data)
        data = re.sub(rb"(?m)^ | $", b"", data.replace(b"\r", b""))
        try:
            table = _parse(data)
        except pa.ArrowInvalid as exc2:
            msg = str(exc2).splitlines()[0]
            raise DataError(f"{path}: not PAMAP2 numeric data: {msg}") from None
    cols = table.column_names
    timestamp_s = table.column(cols[0]).to_numpy()
    activity = table.column(cols[1]).to_numpy(zero_copy_only=False)
    if table.column(cols[1]).null_count:
        raise DataError(f"{path}: missing activity ids (column 2 must be an integer on every row)")
    signals = np.empty((table.num_rows, len(CHANNELS)), dtype=np.float32)
    for j, name in enumerate(cols[2:]):
        signals[:, j] = table.column(name).to_numpy(zero_copy_only=False)
    return timestamp_s, activity.astype(np.int32), signals


def interpolate_nans(signals: np.ndarray) -> np.ndarray:
    """Fill NaNs per channel by linear interpolation over rows (nearest value at the edges).

    A channel without any valid value stays NaN.
    """
    out = signals.copy()
    rows = np.arange(len(out), dtype=np.float64)
    for j in range(out.shape[1]):
        col = out[:, j]
        bad = np.isnan(col)
        if bad.any() and not bad.all():
            col[bad] = np.interp(rows[bad], rows[~bad], col[~bad])
    return out


def window_starts(timestamp_s: np.ndarray, activity: np.ndarray, window_samples: int,
                  stride_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Start rows and class labels of every window that stays inside one activity segment.

    A segment ends at an activity change or where the timestamp steps by more
    than 15 ms (or goes backwards). Only protocol activities yield windows.
    """
    step = np.diff(timestamp_s)
    breaks = np.flatnonzero((activity[1:] != activity[:-1]) | (step > _MAX_STEP_S) | (step <= 0)) + 1
    seg_start = np.concatenate([[0], breaks])
    seg_end = np.concatenate([breaks, [len(activity)]])
    class_of = {a: i for i, a in enumerate(ACTIVITIES)}
    starts, labels = [], []
    for s, e in zip(seg_start, seg_end):
        label = class_of.get(int(activity[s]))
        if label is None or e - s < window_samples:
            continue
        first = np.arange(s, e - window_samples + 1, stride_samples)
        starts.append(first)
        labels.append(np.full(len(first), label, dtype=np.int64))
    if not starts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(starts).astype(np.int64), np.concatenate(labels)


def _covered(n_rows: int, starts: np.ndarray, window_samples: int) -> np.ndarray:
    """Boolean mask of rows that lie in at least one window."""
    edges = np.zeros(n_rows + 1, dtype=np.int64)
    np.add.at(edges, starts, 1)
    np.add.at(edges, starts + window_samples, -1)
    return np.cumsum(edges[:-1]) > 0


def _subsample(n: int, cap: int | None) -> np.ndarray:
    if cap is None or n <= cap:
        return np.arange(n)
    return (np.arange(cap) * n) // cap


def _file_stamp(path: Path) -> list[object]:
    st = path.stat()
    return [path.name, st.st_size, st.st_mtime_ns]


def load_pamap2(root: Path, *, window_samples: int, stride_samples: int,
                max_windows: int | None = None) -> Pamap2Splits:
    """Read ``<root>/Protocol``, window it and normalise it (see the module docstring).

    ``root`` may also hold the published archive as unzipped, ``PAMAP2_Dataset/Protocol/`` (:mod:`.layouts`).
    """
    root = Path(root)
    found = locate_pamap2(root)
    root = found.root if found is not None else root
    if not (root / "Protocol").is_dir():
        raise DataError(f"{root / 'Protocol'}: missing; expected the PAMAP2 layout "
                        f"<path>/Protocol/subject101.dat ... subject109.dat")
    files = {s: subject_file(root, s) for s in SUBJECTS}
    for s, f in files.items():
        if not f.is_file():
            raise DataError(f"{f}: missing; the subject-wise split needs subjects 101..109")
    key = [_CACHE_VERSION, window_samples, stride_samples, max_windows,
           *(_file_stamp(f) for f in files.values())]
    cached = load_cached(cache_file(root, "pamap2", key))
    if cached is not None:
        return _from_arrays(cached)

    windows: dict[str, list[np.ndarray]] = {k: [] for k in SPLIT_SUBJECTS}
    labels: dict[str, list[np.ndarray]] = {k: [] for k in SPLIT_SUBJECTS}
    total = np.zeros(len(CHANNELS))
    total_sq = np.zeros(len(CHANNELS))
    count = np.zeros(len(CHANNELS))
    for split, subjects in SPLIT_SUBJECTS.items():
        for s in subjects:
            timestamp_s, activity, raw = read_subject(files[s])
            signals = interpolate_nans(raw)
            starts, y = window_starts(timestamp_s, activity, window_samples, stride_samples)
            if len(starts) == 0:
                continue
            if split == "train":
                rows = signals[_covered(len(signals), starts, window_samples)].astype(np.float64)
                valid = ~np.isnan(rows)
                total += np.where(valid, rows, 0).sum(0)
                total_sq += np.where(valid, rows * rows, 0).sum(0)
                count += valid.sum(0)
            by_channel = np.ascontiguousarray(signals.T)  # [C, T]
            view = np.lib.stride_tricks.sliding_window_view(by_channel, window_samples, axis=1)
            windows[split].append(np.ascontiguousarray(view[:, starts].transpose(1, 0, 2)))
            labels[split].append(y)
    if not windows["train"]:
        raise DataError(f"{root / 'Protocol'}: no training window of {window_samples} samples "
                        f"(subjects {SPLIT_SUBJECTS['train']}); lower data.pamap2.window_samples")
    mean = total / np.maximum(count, 1)
    std = np.sqrt(np.maximum(total_sq / np.maximum(count, 1) - mean**2, 0.0))
    std = np.where(std > 1e-6, std, 1.0)
    arrays: dict[str, np.ndarray] = {"mean": mean, "std": std}
    for split in SPLIT_SUBJECTS:
        if windows[split]:
            x = np.concatenate(windows[split])
            y = np.concatenate(labels[split])
        else:
            x = np.zeros((0, len(CHANNELS), window_samples), np.float32)
            y = np.zeros(0, np.int64)
        keep = _subsample(len(x), max_windows)
        x = x[keep]
        x -= mean[None, :, None].astype(np.float32)
        x /= std[None, :, None].astype(np.float32)
        arrays[f"{split}_x"] = np.nan_to_num(x, nan=0.0).astype(np.float32, copy=False)
        arrays[f"{split}_y"] = y[keep].astype(np.int64)
    save_cached(cache_file(root, "pamap2", key), arrays)
    return _from_arrays(arrays)


def _from_arrays(a: dict[str, np.ndarray]) -> Pamap2Splits:
    return Pamap2Splits(
        train=(a["train_x"], a["train_y"]), val=(a["val_x"], a["val_y"]),
        test=(a["test_x"], a["test_y"]), channels=CHANNELS, n_classes=len(ACTIVITIES),
        subjects=dict(SPLIT_SUBJECTS), channel_mean=a["mean"], channel_std=a["std"],
    )


# --- synthetic files in the upstream format ----------------------------------------------

# Difficulty of the synthetic task. Activities come in 6 look-alike pairs (like sitting and
# standing); _PAIR_DELTA is how far a pair's members differ, _SUBJECT_SHIFT_SD each subject's
# own offset and _NOISE_SD the white noise, all in units of a channel's scale.
_PAIR_DELTA, _SUBJECT_SHIFT_SD, _NOISE_SD = 0.08, 0.3, 0.5


def _activity_patterns(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-activity signal recipe shared by every subject (what makes the task learnable)."""
    n_act, n_cols = len(ACTIVITIES), 36  # per IMU: acc16, acc6, gyro, mag (x, y, z each)
    scale = np.tile(np.array([4.0] * 3 + [4.0] * 3 + [1.0] * 3 + [20.0] * 3), 3)
    pair = rng.permutation(np.repeat(np.arange(n_act // 2), 2))  # activity -> its look-alike pair
    sign = np.where(np.arange(n_act) % 2 == 0, -1.0, 1.0)
    delta = _PAIR_DELTA * rng.normal(0, 1, (n_act, n_cols))
    return {
        "freq_hz": rng.permutation(np.linspace(0.5, 3.0, n_act // 2))[pair]
        * (1 + 0.3 * _PAIR_DELTA * sign),
        "offset": (rng.normal(0, 1, (n_act // 2, n_cols))[pair] + delta) * scale,
        "amp": rng.uniform(0.3, 1.5, (n_act // 2, n_cols))[pair] * np.exp(delta) * scale,
        "phase": rng.uniform(0, 2 * np.pi, (n_act, n_cols)),
        "scale": scale,
        "heart_bpm": np.linspace(75, 160, n_act // 2)[rng.permutation(n_act // 2)][pair]
        + 10 * _PAIR_DELTA * sign,
    }


def _format_rows(table: np.ndarray) -> bytes:
    buf = io.BytesIO()
    fmt = ["%.2f", "%d", "%g"] + ["%.5g"] * (N_COLUMNS - 3)
    np.savetxt(buf, table, fmt=fmt, delimiter=" ")
    return buf.getvalue().replace(b"nan", b"NaN")


def _subject_rows(subject: int, pat: dict[str, np.ndarray], seconds_per_activity: float,
                  rng: np.random.Generator) -> np.ndarray:
    n_act = len(ACTIVITIES)
    gain = rng.uniform(0.85, 1.15)
    shift = rng.normal(0, _SUBJECT_SHIFT_SD, pat["offset"].shape[1]) * pat["scale"]
    subject_bpm = rng.normal(0, 8)  # resting heart rates differ between people
    gap_activity = rng.integers(n_act)
    blocks, t0 = [], 5.0 + rng.uniform(0, 3)
    for a in range(-1, n_act):
        if a >= 0:  # a protocol activity, preceded by a transient (activity 0)
            n = int(seconds_per_activity * SAMPLE_RATE_HZ)
            t = t0 + np.arange(n) / SAMPLE_RATE_HZ
            if a == gap_activity:  # a recording gap inside one activity
                t[n // 2:] += 1.5
            f = pat["freq_hz"][a] * rng.uniform(0.93, 1.07)
            w = 2 * np.pi * f * t[:, None]
            imu = (pat["offset"][a] + shift + gain * pat["amp"][a] * np.sin(w + pat["phase"][a])
                   + 0.3 * gain * pat["amp"][a] * np.sin(2 * w))
            imu += rng.normal(0, _NOISE_SD, imu.shape) * pat["scale"]
            heart = pat["heart_bpm"][a] + subject_bpm + rng.normal(0, 2, n)
            label = ACTIVITIES[a]
        else:
            n = int(rng.uniform(3, 6) * SAMPLE_RATE_HZ)
            t = t0 + np.arange(n) / SAMPLE_RATE_HZ
            imu = np.cumsum(rng.normal(0, 0.05, (n, pat["offset"].shape[1])), 0) * pat["scale"]
            heart = 80 + rng.normal(0, 1, n)
            label = 0
        rows = np.full((n, N_COLUMNS), np.nan)
        rows[:, 0], rows[:, 1] = t, label
        hr_rows = np.arange(rng.integers(0, 11), n, 11)  # ~9 Hz, NaN in between
        rows[hr_rows, 2] = heart[hr_rows]
        for k, imu_name in enumerate(_IMUS):
            c0 = _IMU_FIRST_COLUMN[imu_name]
            block = imu[:, 12 * k:12 * (k + 1)]
            rows[:, c0] = 32 + rng.normal(0, 0.1)  # temperature, degC
            rows[:, c0 + 1:c0 + 4] = block[:, 0:3]
            rows[:, c0 + 4:c0 + 7] = np.clip(block[:, 3:6], -58.8, 58.8)
            rows[:, c0 + 7:c0 + 13] = block[:, 6:12]
            rows[:, c0 + 13:c0 + 17] = (1.0, 0.0, 0.0, 0.0)  # orientation: invalid
        blocks.append(rows)
        t0 = t[-1] + 1 / SAMPLE_RATE_HZ
    table = np.concatenate(blocks)
    table[:5, 2] = np.nan  # the file starts before the first heart-rate reading
    for _ in range(6):  # wireless drop-outs: one IMU missing for a short run
        c0 = _IMU_FIRST_COLUMN[_IMUS[rng.integers(3)]]
        start = rng.integers(0, len(table) - 60)
        table[start:start + rng.integers(5, 60), c0:c0 + 17] = np.nan
    start = rng.integers(0, len(table) - 400)
    table[start:start + 300, 2] = np.nan  # heart-rate monitor drop-out
    return table


def generate_pamap2(root: Path, *, subjects: Sequence[int] = range(101, 110),
                    seconds_per_activity: float = 20.0, seed: int = 0) -> None:
    """Write synthetic ``Protocol/subject1NN.dat`` files in exactly the UCI format.

    Every subject performs the 12 protocol activities in order, each for
    ``seconds_per_activity`` seconds at 100 Hz, separated by transient
    (activity 0) rows; heart rate is read every 11th row; a few IMU and
    heart-rate drop-outs and one timestamp gap per subject are included. Each
    activity has its own frequency, amplitudes and offsets per channel, so a
    small conv net separates them, across subjects, within a few epochs.
    """
    protocol = Path(root) / "Protocol"
    protocol.mkdir(parents=True, exist_ok=True)
    pat = _activity_patterns(np.random.default_rng(seed))
    for s in subjects:
        rng = np.random.default_rng([seed, s])
        table = _subject_rows(s, pat, seconds_per_activity, rng)
        subject_file(root, s).write_bytes(_format_rows(table))
