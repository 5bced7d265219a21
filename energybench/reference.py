"""The study's published values (``results/reference/``) side by side with measured tables.

Pure functions from a measured table and the published values to one
comparison frame. Hardware names differ between a cluster and the papers
(``gpu-h100`` vs H100, a demo's ``cpu`` vs nothing): a measured name is paired
with the published hardware whose name it contains once lower-cased and
stripped of ``-_`` and spaces, unless the caller pairs them explicitly. Every
published hardware gets rows (with nulls where nothing was measured) and so
does every measured hardware (with nulls where nothing was published).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .errors import ResultsError
from .workloads.registry import headlines
from .tables import ENERGY_PER_EPOCH, FREEZE_SAVINGS, MULTITASK

#: The repository's copy of the published values.
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "results" / "reference"
#: File and required columns of each kind of published value.
REFERENCE_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "hardware": ("hardware.csv", ("hardware", "paper_label", "device", "source")),
    "freeze_savings": ("freeze_savings.csv", ("source", "hardware", "unfrozen_energy_wh", "frozen_energy_wh",
                                              "savings_frac", "rows_swapped")),
    "multitask": ("multitask.csv", ("source", "hardware", "type", "epoch_energy_mwh", "epochs")),
    "energy_per_epoch": ("energy_per_epoch.csv", ("source", "hardware", "dataset", "paradigm", "batch_size",
                                                  "learning_rate", "epoch_energy_mwh")),
}


@dataclass(frozen=True)
class Reference:
    """The published values, one frame per kind (columns as in ``results/reference/README.md``)."""

    dir: Path
    hardware: pl.DataFrame
    freeze_savings: pl.DataFrame
    multitask: pl.DataFrame
    energy_per_epoch: pl.DataFrame

    def published_hardware(self) -> list[str]:
        """Published hardware names in the files' order (journal first)."""
        return self.hardware["hardware"].to_list()


def load_reference(ref_dir: Path = REFERENCE_DIR) -> Reference:
    """Read every file of :data:`REFERENCE_FILES`; a missing file or column is a :class:`ResultsError`."""
    frames = {}
    for kind, (name, columns) in REFERENCE_FILES.items():
        path = Path(ref_dir) / name
        try:
            frame = pl.read_csv(path)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise ResultsError(f"{path}: cannot read the published values ({type(exc).__name__}); "
                               "pass --reference DIR pointing at a copy of results/reference") from None
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ResultsError(f"{path}: missing columns {', '.join(missing)} (see results/reference/README.md)")
        frames[kind] = frame
    return Reference(dir=Path(ref_dir), **frames)


def _squash(name: str) -> str:
    return re.sub(r"[-_ ]", "", name.lower())


def match_hardware(measured: list[str], published: list[str],
                   pairs: dict[str, str] | None = None) -> dict[str, str]:
    """Measured hardware name -> published hardware name, for the names that have a counterpart.

    ``pairs`` (published -> measured) wins; otherwise the longest published name
    contained in the squashed measured name (``gpu-h100`` -> ``h100``).
    """
    explicit = {m: p for p, m in (pairs or {}).items()}
    out = {}
    for name in sorted(set(measured)):
        if name in explicit:
            out[name] = explicit[name]
            continue
        hits = [p for p in published if _squash(p) in _squash(name) and p not in explicit.values()]
        if hits:
            out[name] = max(hits, key=len)
    return out


def hardware_rows(published: list[str], measured: list[str], matches: dict[str, str]) -> pl.DataFrame:
    """Pairs (``published_hardware``, ``hardware``): each published one with its measured ones (or null),
    then each measured one without a counterpart (published null)."""
    rows = []
    for p in published:
        mine = sorted(m for m, q in matches.items() if q == p and m in measured)
        rows += [(p, m) for m in mine] or [(p, None)]
    rows += [(None, m) for m in sorted(set(measured)) if matches.get(m) not in published]
    return pl.DataFrame(rows, schema={"published_hardware": pl.String, "hardware": pl.String}, orient="row")


def _ratio(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)


def _measured(table: pl.DataFrame | None, columns: list[str], contract: dict[str, pl.DataType]) -> pl.DataFrame:
    """``table``'s ``columns``; an empty frame of the table's contract when the table is absent."""
    if table is None or not set(columns) <= set(table.columns):
        return pl.DataFrame(schema={c: contract[c] for c in columns})
    return table.select(columns)


def compare_freeze_savings(measured: pl.DataFrame | None, ref: Reference,
                           pairs: dict[str, str] | None = None) -> pl.DataFrame:
    """Journal Table 2 / workshop Table 3 vs the ``freeze_savings`` table, one row per hardware pair.

    Published values are the ones the text means (frozen = the smaller energy;
    see ``rows_swapped``); ``savings_diff_frac`` = measured - published saving.
    """
    mine = _measured(measured, ["hardware", "unfrozen_energy_mean_wh", "frozen_energy_mean_wh", "savings_frac",
                                "n_setups"], FREEZE_SAVINGS)
    pub = ref.freeze_savings.select(
        pl.col("hardware").alias("published_hardware"), "source", pl.col("rows_swapped").alias("published_rows_swapped"),
        pl.col("unfrozen_energy_wh").alias("published_unfrozen_wh"),
        pl.col("frozen_energy_wh").alias("published_frozen_wh"),
        pl.col("savings_frac").alias("published_savings_frac"),
    )
    rows = hardware_rows(ref.published_hardware(), mine["hardware"].to_list(),
                         match_hardware(mine["hardware"].to_list(), ref.published_hardware(), pairs))
    out = rows.join(pub, on="published_hardware", how="left", maintain_order="left").join(
        mine, on="hardware", how="left", maintain_order="left")
    return out.with_columns(
        unfrozen_ratio=_ratio("unfrozen_energy_mean_wh", "published_unfrozen_wh"),
        frozen_ratio=_ratio("frozen_energy_mean_wh", "published_frozen_wh"),
        savings_diff_frac=pl.col("savings_frac") - pl.col("published_savings_frac"),
    )


def compare_multitask(measured: pl.DataFrame | None, ref: Reference,
                      pairs: dict[str, str] | None = None) -> pl.DataFrame:
    """Journal Table 3 vs the ``multitask`` table: energy per epoch (mWh) and epochs per hardware pair x type."""
    mine = _measured(measured, ["hardware", "type", "epoch_energy_mean_mwh", "epochs_mean"], MULTITASK)
    pub = ref.multitask.select(pl.col("hardware").alias("published_hardware"), "source", "type",
                               pl.col("epoch_energy_mwh").alias("published_epoch_energy_mwh"),
                               pl.col("epochs").cast(pl.Int64).alias("published_epochs"))
    published = pub["published_hardware"].unique(maintain_order=True).to_list()
    rows = hardware_rows(published, mine["hardware"].to_list(),
                         match_hardware(mine["hardware"].to_list(), ref.published_hardware(), pairs))
    types = pl.DataFrame({"type": ["attribute", "identity", "both"]})  # journal Table 3's rows
    keys = rows.join(types, how="cross")
    out = keys.join(pub, on=["published_hardware", "type"], how="left", maintain_order="left").join(
        mine.with_columns(_measured=pl.lit(True)), on=["hardware", "type"], how="left", maintain_order="left")
    out = out.filter(pl.col("source").is_not_null() | pl.col("_measured").is_not_null()).drop("_measured")
    return out.with_columns(
        epoch_energy_ratio=_ratio("epoch_energy_mean_mwh", "published_epoch_energy_mwh"),
        epochs_ratio=_ratio("epochs_mean", "published_epochs"),
    )


def compare_energy_per_epoch(measured: pl.DataFrame | None, ref: Reference,
                             pairs: dict[str, str] | None = None) -> pl.DataFrame:
    """Workshop Table 2 vs the ``energy_per_epoch`` table (the paradigm each matrix trained), per cell.

    One row per hardware pair x dataset x batch size x learning rate present in
    the published matrix or the measured grid. The study computed its values
    with eq. 1 (mean sampled power x epoch time), so the measured eq. 1 value
    stands beside the authoritative (counter) one: ``eq1_ratio`` = eq. 1 /
    published, ``eq1_over_counter_ratio`` = eq. 1 / counter.
    """
    columns = ["hardware", "dataset", "paradigm", "batch_size", "learning_rate", "epoch_energy_mean_mwh",
               "epoch_energy_eq1_mean_mwh"]
    mine = _measured(measured, columns, ENERGY_PER_EPOCH)
    mine = mine.filter(pl.col("paradigm") == pl.col("dataset").replace_strict(headlines(), default=None))
    mine = mine.with_columns(pl.col("batch_size").cast(pl.Int64), pl.col("learning_rate").cast(pl.Float64))
    pub = ref.energy_per_epoch.select(pl.col("hardware").alias("published_hardware"), "source", "dataset",
                                      "batch_size", "learning_rate",
                                      pl.col("epoch_energy_mwh").alias("published_epoch_energy_mwh"))
    published = pub["published_hardware"].unique(maintain_order=True).to_list()
    rows = hardware_rows(published, mine["hardware"].to_list(),
                         match_hardware(mine["hardware"].to_list(), ref.published_hardware(), pairs))
    cell = ["dataset", "batch_size", "learning_rate"]
    cells = pl.concat([rows.join(pub.select("published_hardware", *cell), on="published_hardware"),
                       rows.join(mine.select("hardware", *cell), on="hardware")]).unique(maintain_order=True)
    out = cells.join(pub, on=["published_hardware", *cell], how="left").join(
        mine.drop("paradigm"), on=["hardware", *cell], how="left")
    order = {name: i for i, name in enumerate(published)}
    out = out.with_columns(
        _p=pl.col("published_hardware").replace_strict(order, default=len(order), return_dtype=pl.Int64),
        paradigm=pl.col("dataset").replace_strict(headlines(), default=None),
        epoch_energy_ratio=_ratio("epoch_energy_mean_mwh", "published_epoch_energy_mwh"),
        eq1_ratio=_ratio("epoch_energy_eq1_mean_mwh", "published_epoch_energy_mwh"),
        eq1_over_counter_ratio=_ratio("epoch_energy_eq1_mean_mwh", "epoch_energy_mean_mwh"),
    ).sort(["dataset", "_p", "hardware", "batch_size", "learning_rate"], descending=[False, False, False, False, True],
           nulls_last=True)
    return out.select("dataset", "paradigm", "published_hardware", "hardware", "source", "batch_size",
                      "learning_rate", "published_epoch_energy_mwh", "epoch_energy_mean_mwh", "epoch_energy_ratio",
                      "epoch_energy_eq1_mean_mwh", "eq1_ratio", "eq1_over_counter_ratio")

