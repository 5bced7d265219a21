"""``dataset/epochs.parquet`` in row groups of runs, so that a collect re-encodes only the groups that changed.

The epochs table is one file, sorted by run and epoch (1.9 million rows at 10x the study, 1.1 s to
encode and 1.2 s to decode on the 2-core machine: a third of what an incremental collect cost). Its rows
are written in one row group per block of :data:`BLOCK_RUNS` consecutive planned runs (in run id
order: the plan alone decides the blocks). An incremental collect decodes only the row groups of the
blocks that hold a changed run, encodes those blocks again, and copies every other row group byte for
byte from the previous file (:mod:`energybench.collect_parquet`); the file is the one a full collect
writes, row group for row group. The previous footer's layout is kept in the manifest
(:meth:`~energybench.collect_parquet.Footer.index`), so that it need not be parsed again.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .collect_parquet import Footer, Unsupported, concat, footer_bytes, read_footer
from .merge import _run_starts, replace_runs
from .schema import EPOCH_SCHEMA, with_version

#: Planned runs per row group of ``epochs.parquet`` (4,600 rows on average at 10x the study; 420 row groups).
#: Fewer re-encode less after a few changes but make the footer longer (every row group x 27 columns).
BLOCK_RUNS = 16


@dataclass(frozen=True)
class Blocks:
    """The blocks of a plan: consecutive runs in run id order, :data:`BLOCK_RUNS` each."""

    first: tuple[str, ...]  # the first run id of each block

    @staticmethod
    def of_plan(run_ids: list[str]) -> Blocks:
        return Blocks(tuple(sorted(run_ids)[::BLOCK_RUNS]))

    def block(self, run_id: str) -> int:
        return max(0, bisect.bisect_right(self.first, run_id) - 1)

    def bounds(self, frame: pl.DataFrame) -> list[tuple[int, int, int]]:
        """(block, first row, end row) of each block with rows in ``frame`` (sorted by run id), in order."""
        ids, starts = _run_starts(frame)
        out: list[tuple[int, int, int]] = []
        for i, rid in enumerate(ids):
            b = self.block(rid)
            if out and out[-1][0] == b:
                out[-1] = (b, out[-1][1], starts[i + 1])
            else:
                out.append((b, starts[i], starts[i + 1]))
        return out


def _arrow(frame: pl.DataFrame) -> pa.Table:
    """As :func:`energybench.merge.write_dataset_table` writes it: the contract's types and the schema version."""
    return (frame.to_arrow().select(EPOCH_SCHEMA.names).cast(EPOCH_SCHEMA)
            .replace_schema_metadata(with_version(EPOCH_SCHEMA).metadata))


def _write_blocks(path: Path, frame: pl.DataFrame, blocks: Blocks) -> list[int]:
    """``frame`` written to ``path``, one row group per block (zstd, dictionaries for strings only); its blocks."""
    table = _arrow(frame)
    strings = [f.name for f in EPOCH_SCHEMA if f.type == pa.string()]
    written = []
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, table.schema, compression="zstd", use_dictionary=strings) as writer:
        for b, lo, hi in blocks.bounds(frame):
            writer.write_table(table.slice(lo, hi - lo), row_group_size=hi - lo)
            written.append(b)
        if not written:
            writer.write_table(table)  # no rows: one empty row group, as pyarrow writes an empty table
    return written


def write(path: Path, frame: pl.DataFrame, blocks: Blocks) -> dict[str, Any] | None:
    """Write the whole epochs table (``frame``, sorted by run and epoch); returns its index for the manifest
    (None where the next collect cannot reuse the file: it writes it whole again)."""
    written = _write_blocks(path, frame, blocks)
    if not written:
        return None
    try:
        footer = read_footer(path)
    except Unsupported:  # not expected of pyarrow's writer
        return None
    return _index(written, footer)


def _index(blocks: list[int], footer: Footer) -> dict[str, Any] | None:
    if len(blocks) != len(footer.groups):  # a block split into several row groups (over the writer's maximum)
        return None
    return {"block_runs": BLOCK_RUNS, "blocks": blocks, "footer": footer.index()}


@dataclass
class Previous:
    """The previous ``epochs.parquet`` and its index (from the manifest)."""

    path: Path
    index: dict[str, Any]

    def footer(self) -> Footer:
        return Footer.from_index(footer_bytes(self.path), self.index["footer"])


def touched_rows(previous: Previous, fresh: pl.DataFrame, replaced: list[str], touched: set[str],
                 blocks: Blocks) -> tuple[pl.DataFrame, set[int]]:
    """The rows, every column, of the blocks of the runs ``touched``: ``previous``'s with the rows of the runs
    ``replaced`` by ``fresh``'s (sorted), and those blocks. Only those blocks' row groups are decoded.

    Raises :class:`Unsupported` where the previous file cannot be reused: the caller writes the table whole.
    """
    if previous.index.get("block_runs") != BLOCK_RUNS:
        raise Unsupported("blocks of another size")
    old_blocks: list[int] = previous.index["blocks"]
    if old_blocks != sorted(set(old_blocks)):
        raise Unsupported("an index of another form")
    redo = {blocks.block(r) for r in touched}
    group_of = {b: g for g, b in enumerate(old_blocks)}
    reread = [group_of[b] for b in sorted(redo) if b in group_of]
    if reread:
        rows = pl.from_arrow(pq.ParquetFile(previous.path).read_row_groups(reread, use_threads=True))
        assert isinstance(rows, pl.DataFrame)
        rows = rows.select(fresh.columns).cast(fresh.schema)
    else:
        rows = fresh.clear()
    return replace_runs(rows, fresh, replaced), redo


def write_update(path: Path, previous: Previous, rows: pl.DataFrame, redo: set[int], blocks: Blocks,
                 scratch: Path) -> dict[str, Any] | None:
    """Write the epochs table at ``path``: ``previous``'s row groups but those of the blocks ``redo``, which
    ``rows`` (:func:`touched_rows`) replaces, encoded again (through ``scratch``, removed after). Its index.

    Raises :class:`Unsupported` where the previous file's row groups cannot be copied; nothing is left at
    ``path`` then.
    """
    footer = previous.footer()
    old_blocks: list[int] = previous.index["blocks"]
    if len(old_blocks) != len(footer.groups):
        raise Unsupported("the index does not match the file")
    group_of = {b: g for g, b in enumerate(old_blocks)}
    try:
        new_blocks = _write_blocks(scratch, rows, blocks) if rows.height else []
        new_footer = read_footer(scratch) if new_blocks else footer
        if new_blocks and len(new_blocks) != len(new_footer.groups):
            raise Unsupported("a block in several row groups")
        new_group = {b: g for g, b in enumerate(new_blocks)}
        order = sorted((set(old_blocks) - redo) | set(new_blocks))
        if not order:
            raise Unsupported("no rows left")
        pieces: list[tuple[Path | str, Footer, int]] = [
            (scratch, new_footer, new_group[b]) if b in new_group else (previous.path, footer, group_of[b])
            for b in order]
        written = concat(path, pieces)
    finally:
        scratch.unlink(missing_ok=True)
    return _index(order, written)
