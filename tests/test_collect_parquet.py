"""Parquet files made of other files' row groups (energybench/collect_parquet.py): read back as the rows of
their sources, with a footer that round-trips through its index; files it cannot copy are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from energybench.collect_parquet import Footer, Unsupported, concat, footer_bytes, parse_footer, read_footer


def _table(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"run_id": pa.array([f"r{seed}"] * n), "attempt": pa.array(np.full(n, seed, np.int32)),
                     "time_s": pa.array(np.arange(n) + 1000.0 * seed),
                     "power_w": pa.array(rng.normal(100.0, 5.0, n)),
                     "energy_j": pa.array([None if i % 7 == 0 else float(i) for i in range(n)]),
                     "phase": pa.array(rng.choice(["train", "eval"], n))},
                    metadata={b"energybench.schema_version": b"4"})


def _write(path: Path, tables: list[pa.Table], **kw: object) -> Path:
    with pq.ParquetWriter(path, tables[0].schema, compression="zstd", use_dictionary=["run_id", "phase"],
                          **kw) as w:  # type: ignore[arg-type]
        for t in tables:
            w.write_table(t, row_group_size=t.num_rows)
    return path


def test_row_groups_of_several_files_read_back_as_their_rows_in_order(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.parquet", [_table(300, 1), _table(50, 2)])
    b = _write(tmp_path / "b.parquet", [_table(70_000, 3)])  # offsets past 2^16: longer varints after moving
    fa, fb = read_footer(a), read_footer(b)
    assert [fa.rows(g) for g in range(2)] == [300, 50]
    out = tmp_path / "out.parquet"
    written = concat(out, [(b, fb, 0), (a, fa, 1), (a, fa, 0)])
    want = pa.concat_tables([pq.read_table(b), pq.read_table(a).slice(300), pq.read_table(a).slice(0, 300)])
    got = pq.read_table(out)
    assert got.equals(want, check_metadata=True)
    assert pl.read_parquet(out).equals(pl.from_arrow(want))  # type: ignore[arg-type]
    assert pq.ParquetFile(out).metadata.num_row_groups == 3
    # The footer written is the one parsed back, and its index gives it back without parsing.
    raw = footer_bytes(out)
    assert written.encode() == raw and parse_footer(raw).index() == written.index()
    assert Footer.from_index(raw, json.loads(json.dumps(written.index()))).encode() == raw
    # Row groups moved twice.
    again = tmp_path / "again.parquet"
    concat(again, [(out, written, 2), (out, written, 0)])
    assert pq.read_table(again).equals(pa.concat_tables([pq.read_table(a).slice(0, 300), pq.read_table(b)]))


def test_a_footer_parses_back_to_the_same_bytes(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.parquet", [_table(20, 1), _table(5, 2), _table(9, 3)])
    raw = footer_bytes(path)
    assert parse_footer(raw).encode() == raw


def test_files_it_cannot_copy_are_refused(tmp_path: Path) -> None:
    indexed = _write(tmp_path / "indexed.parquet", [_table(10, 1)], write_page_index=True)
    with pytest.raises(Unsupported):
        read_footer(indexed)
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not parquet at all")
    with pytest.raises(Unsupported):
        read_footer(tmp_path / "junk.parquet")
    a = _write(tmp_path / "a.parquet", [_table(10, 1)])
    other = tmp_path / "other.parquet"
    pq.write_table(_table(10, 1).replace_schema_metadata({b"energybench.schema_version": b"3"}), other)
    with pytest.raises(Unsupported):  # other key-value metadata: not one file's row groups
        concat(tmp_path / "out.parquet", [(a, read_footer(a), 0), (other, read_footer(other), 0)])
    assert not (tmp_path / "out.parquet").exists()
