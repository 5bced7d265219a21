"""The tables collect writes (energybench/collect_tables.py): computed from the epochs columns they read,
found from the tables' own query plans, and equal to the tables computed from every column."""

from __future__ import annotations

from energybench import tables
from energybench.collect_tables import compute_tables, epoch_columns
from energybench.schema import EPOCH_SCHEMA

from .test_tables import Dataset


def test_the_tables_read_some_epochs_columns_and_equal_those_from_all_of_them() -> None:
    columns = epoch_columns()
    assert columns is not None, "energybench.tables no longer builds lazily: collect decodes every epochs column"
    assert {"run_id", "epoch", "energy_j"} <= set(columns) < set(EPOCH_SCHEMA.names)
    runs, epochs = Dataset().frames()
    want, got = tables.compute_tables(runs, epochs), compute_tables(runs, epochs)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name].equals(want[name], null_equal=True), name
