"""The tables ``collect`` writes, computed from only the epochs columns they read.

:func:`energybench.tables.compute_tables` sorts and joins the whole epochs frame: at 10x the study
that is 1.9 million rows of 27 columns, and carrying the columns no table reads through those sorts
costs about twice the tables themselves (``make bench``). Which columns the tables read is found
once per process, without a list to keep in step with :mod:`energybench.tables`: the tables are
built lazily on empty frames, with the epochs behind a polars IO source that records the columns
the optimised plan asks of it (predicate pushdown off, so every filter's columns are asked for
too). Polars' projection pushdown drops only columns that cannot change a result, so the tables
computed eagerly from those columns are the tables computed from all of them, bit for bit
(``tests/test_collect_tables.py`` checks it on a dataset). Where the lazy build fails (a table
that needs an eager frame, a polars without IO sources), every column is passed: slower, the same
tables.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import polars as pl
import pyarrow as pa

from .schema import EPOCH_SCHEMA, RUN_SCHEMA


def _frame(schema: pa.Schema) -> pl.DataFrame:
    """An empty frame of ``schema`` (``Table.from_batches``: ``Schema.empty_table`` imports pandas)."""
    frame = pl.from_arrow(pa.Table.from_batches([], schema=schema))
    assert isinstance(frame, pl.DataFrame)
    return frame


@lru_cache(maxsize=1)
def epoch_columns() -> tuple[str, ...] | None:
    """The epochs columns :func:`energybench.tables.compute_tables` reads, in schema order; None if unknown."""
    from .tables import compute_tables

    epochs = _frame(EPOCH_SCHEMA)
    asked: set[str] = set()
    unknown: list[bool] = []

    def source(with_columns: list[str] | None, predicate: Any, n_rows: int | None,
               batch_size: int | None) -> Iterator[pl.DataFrame]:
        if predicate is not None:  # not expected with predicate pushdown off: then its columns are unknown
            unknown.append(True)
        asked.update(epochs.columns if with_columns is None else with_columns)
        yield epochs if with_columns is None else epochs.select(with_columns)

    try:
        from polars.io.plugins import register_io_source

        with warnings.catch_warnings():  # a LazyFrame's ``columns`` warns that it resolves the schema
            warnings.simplefilter("ignore")
            tables = compute_tables(_frame(RUN_SCHEMA).lazy(), register_io_source(source, schema=epochs.schema))
            frames = list(tables.values())
            if not all(isinstance(f, pl.LazyFrame) for f in frames):
                return None
            pl.collect_all(frames, optimizations=pl.QueryOptFlags(predicate_pushdown=False))
    except Exception:  # noqa: BLE001 - the tables need eager frames, or this polars lacks the API: use every column
        return None
    if unknown:
        return None
    return tuple(c for c in epochs.columns if c in asked)


def compute_tables(runs: pl.DataFrame, epochs: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """:func:`energybench.tables.compute_tables` of ``runs`` and ``epochs``, from the epochs columns it reads."""
    from .tables import compute_tables as compute

    columns = epoch_columns()
    return compute(runs, epochs.select(columns) if columns is not None else epochs)
