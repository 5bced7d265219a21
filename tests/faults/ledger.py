"""The fault table: every fault test adds one row; tests/faults/conftest.py prints them after the run.

"Samples lost beyond the flush window" is measured, not assumed. The sampler
flushes after the first reading at least ``flush_s`` after the last flush, and
a write takes a moment, so a reading older than ``cut_s - window``, window =
``flush_s + period_s + WRITE_ALLOWANCE_S`` (``cut_s``: when the run was killed
or failed), must be on disk. Two checks: the attempt's part files are numbered
without a hole (no flushed part went missing: :func:`part_times`), and the
sampler slots between the last persisted reading and ``cut_s - window`` are
counted (:func:`lost_beyond_flush`). It must be 0; the table also shows the
measured span. (A long gap between readings while every part is there is a
sampler thread the OS did not schedule on a loaded machine: readings not
taken, not readings lost.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.parquet as pq


#: Time to write one part file and the heartbeat on a loaded 2-core machine: a kill during that
#: write loses the part being written, which still belongs to the flush window (seconds).
WRITE_ALLOWANCE_S = 0.25


@dataclass(frozen=True)
class Row:
    fault: str
    runs_affected: int
    runs_recovered: int
    samples_lost_beyond_flush: int
    detail: str = ""  # what was measured (e.g. the unflushed span at the kill)


ROWS: list[Row] = []


def record(fault: str, *, affected: int, recovered: int, lost_beyond_flush: int, detail: str = "") -> None:
    ROWS.append(Row(fault, affected, recovered, lost_beyond_flush, detail))


def lost_beyond_flush(times_s: Sequence[float], cut_s: float, flush_s: float, period_s: float) -> tuple[int, float]:
    """(sampler slots older than the flush window before ``cut_s`` after the last persisted reading,
    seconds from that reading to ``cut_s``)."""
    if not times_s:
        raise AssertionError("no samples persisted at all")
    unflushed_s = cut_s - max(times_s)
    window_s = flush_s + period_s + WRITE_ALLOWANCE_S
    return max(0, math.floor((unflushed_s - window_s) / period_s)), unflushed_s


def part_times(samples_dir: Path, attempt: int) -> list[float]:
    """Reading times in one attempt's part files, after checking no part is missing (sequence 1..N)."""
    parts = sorted(samples_dir.glob(f"part-a{attempt:03d}-*.parquet"))
    seqs = [int(p.stem.rsplit("-", 1)[1]) for p in parts]
    assert seqs == list(range(1, len(seqs) + 1)), f"a flushed part is missing: {[p.name for p in parts]}"
    times: list[float] = []
    for p in parts:
        times += pq.read_table(p, columns=["time_s"]).column("time_s").to_pylist()
    return times


def as_dicts() -> list[dict[str, object]]:
    return [asdict(r) for r in ROWS]
