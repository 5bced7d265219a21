"""The epochs table in row groups of runs (energybench/collect_epochs.py): updating the blocks of some runs
writes the file a whole write of the same rows writes, byte for byte, and decodes only those blocks."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from energybench import collect_epochs as E
from energybench.merge import replace_runs
from energybench.schema import EPOCH_SCHEMA


def _epochs(runs: list[str], epochs: int = 3, energy: float = 10.0) -> pl.DataFrame:
    rows = [{"run_id": r, "attempt": 1, "epoch": e, "start_s": float(e), "duration_s": 2.0, "energy_j": energy + e,
             "energy_eq1_j": energy, "samples": 3, "coverage_frac": 1.0, "low_samples": False,
             "energy_domains": "gpu"} for r in runs for e in range(1, epochs + 1)]
    return pl.from_arrow(pa.Table.from_pylist(rows, schema=EPOCH_SCHEMA))  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def _small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(E, "BLOCK_RUNS", 2)


def test_an_update_writes_what_a_whole_write_does(tmp_path: Path) -> None:
    planned = [f"run{i:02d}" for i in range(9)]
    blocks = E.Blocks.of_plan(planned)
    first = _epochs(planned[:7])  # two runs without epochs yet
    index = E.write(tmp_path / "old.parquet", first, blocks)
    assert index is not None and index["blocks"] == [0, 1, 2, 3]
    assert pq.ParquetFile(tmp_path / "old.parquet").metadata.num_row_groups == 4

    # run03 measured again, run08 new (its block had no rows), run04 gone (no epochs any more)
    fresh = pl.concat([_epochs(["run03"], epochs=5, energy=20.0), _epochs(["run08"])])
    replaced = ["run03", "run04", "run08"]
    previous = E.Previous(tmp_path / "old.parquet", index)
    rows, redo = E.touched_rows(previous, fresh, replaced, set(replaced), blocks)
    assert redo == {1, 2, 4} and sorted(set(rows["run_id"])) == ["run02", "run03", "run05", "run08"]
    new_index = E.write_update(tmp_path / "new.parquet", previous, rows, redo, blocks, tmp_path / "scratch.parquet")
    assert not (tmp_path / "scratch.parquet").exists()

    whole = replace_runs(first, fresh, replaced)
    want_index = E.write(tmp_path / "whole.parquet", whole, blocks)
    assert (tmp_path / "new.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    assert new_index == want_index
    assert pl.read_parquet(tmp_path / "new.parquet").equals(whole)

    # and again, from the updated file and its index
    fresh2 = _epochs(["run00"], epochs=1)
    again = E.Previous(tmp_path / "new.parquet", new_index)  # type: ignore[arg-type]
    rows2, redo2 = E.touched_rows(again, fresh2, ["run00"], {"run00"}, blocks)
    E.write_update(tmp_path / "new2.parquet", again, rows2, redo2, blocks, tmp_path / "scratch.parquet")
    E.write(tmp_path / "whole2.parquet", replace_runs(whole, fresh2, ["run00"]), blocks)
    assert (tmp_path / "new2.parquet").read_bytes() == (tmp_path / "whole2.parquet").read_bytes()


def test_an_index_of_other_blocks_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    planned = [f"run{i:02d}" for i in range(4)]
    index = E.write(tmp_path / "old.parquet", _epochs(planned), E.Blocks.of_plan(planned))
    monkeypatch.setattr(E, "BLOCK_RUNS", 3)
    with pytest.raises(E.Unsupported):
        E.touched_rows(E.Previous(tmp_path / "old.parquet", index), _epochs(["run00"]), ["run00"], {"run00"},
                       E.Blocks.of_plan(planned))  # type: ignore[arg-type]
