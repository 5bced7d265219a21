"""The search in the dataset: decisions as rows, the rung of every epoch, the rung and cost tables.

:func:`decision_rows` reads ``DIR/search/*/rung-*.json`` (I/O); the rest is
pure (polars). ``collect`` writes ``dataset/search.parquet`` and the
``search_rungs`` and ``search_cost`` tables from them.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from ..config import Search
from ..estimate import forecast as fc
from ..paths import ResultsLayout, read_json
from ..schema import SEARCH_COLUMNS, SEARCH_SCHEMA
from . import halving


def decision_rows(layout: ResultsLayout) -> list[dict[str, Any]]:
    """One row per candidate run of every published decision, in (bracket, rung) order."""
    rows = []
    if not layout.search_dir.is_dir():
        return rows
    for path in sorted(layout.search_dir.glob("*/rung-*.json"), key=lambda p: (p.parent.name, p.stem)):
        try:
            d = read_json(path)
        except (OSError, ValueError):
            continue
        paradigm, _, hardware = d["bracket"].partition(".")
        for c in d["candidates"]:
            rows.append({"paradigm": paradigm, "hardware": hardware, "rung": d["rung"], "ends_epoch": d["ends_epoch"],
                         "objective": d["objective"], "decided_at_s": d["decided_at_s"],
                         **{k: c.get(k) for k in ("run_id", "setup", "score", "setup_score", "survived", "epochs",
                                                  "energy_j", "best_val_accuracy", "energy_to_threshold_j",
                                                  "threshold_reached")}})
    return rows


def decisions_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The rows as the ``search.parquet`` frame (typed, also when empty)."""
    import pyarrow as pa

    table = pa.Table.from_pylist(rows, schema=SEARCH_SCHEMA) if rows else SEARCH_SCHEMA.empty_table()
    return pl.from_arrow(table.select([c.name for c in SEARCH_COLUMNS]))  # type: ignore[return-value]


def schedules(specs: list[dict[str, Any]]) -> dict[str, halving.Schedule]:
    """Run id -> the schedule of its bracket, for the searched runs of a plan."""
    n_setups: dict[tuple[str, str], int] = {}
    for s in specs:
        key = (s["paradigm"], s["hardware"])
        n_setups[key] = n_setups.get(key, 0) + (1 if s["repeat"] == 1 else 0)
    out = {}
    for s in specs:
        if s.get("search"):
            out[s["run_id"]] = halving.schedule(Search.model_validate(s["search"]), s["early_stopping"]["max_epochs"],
                                                n_setups[(s["paradigm"], s["hardware"])])
    return out


def with_rungs(epochs: pl.DataFrame, specs: list[dict[str, Any]]) -> pl.DataFrame:
    """``epochs`` with the ``rung`` column filled for searched runs (null for the others)."""
    sched = schedules(specs)
    if not sched or epochs.height == 0:
        return epochs
    by_ends: dict[tuple[int, ...], list[str]] = {}
    for rid, sc in sched.items():
        by_ends.setdefault(sc.ends_epoch, []).append(rid)
    rung = pl.lit(None, dtype=pl.Int32)
    for ends, ids in by_ends.items():
        count = pl.sum_horizontal([(pl.col("epoch") > e).cast(pl.Int32) for e in ends]) if ends else pl.lit(0)
        rung = pl.when(pl.col("run_id").is_in(ids)).then(count.cast(pl.Int32)).otherwise(rung)
    return epochs.with_columns(rung.alias("rung"))


def rung_table(epochs: pl.DataFrame, decisions: pl.DataFrame) -> pl.DataFrame:
    """``search_rungs``: per bracket and rung, the setups in, the survivors, and the energy spent (Wh)."""
    spent = (epochs.filter(pl.col("rung").is_not_null())
             .join(decisions.select("run_id", "paradigm", "hardware").unique(), on="run_id", how="inner")
             .group_by("paradigm", "hardware", "rung")
             .agg(pl.col("energy_j").sum().alias("energy_j"), pl.col("run_id").n_unique().alias("runs_trained")))
    decided = (decisions.group_by("paradigm", "hardware", "rung")
               .agg(pl.col("ends_epoch").first(), pl.col("objective").first(),
                    pl.col("setup").n_unique().alias("setups_in"),
                    pl.col("setup").filter(pl.col("survived")).n_unique().alias("survivors")))
    out = spent.join(decided, on=["paradigm", "hardware", "rung"], how="left").sort("paradigm", "hardware", "rung")
    return out.with_columns(
        (pl.col("energy_j") / 3600).alias("energy_wh"),
        (pl.col("energy_j").cum_sum().over("paradigm", "hardware") / 3600).alias("cumulative_energy_wh"),
    ).select("paradigm", "hardware", "rung", "ends_epoch", "objective", "setups_in", "survivors", "runs_trained",
             "energy_wh", "cumulative_energy_wh")


def _forecast_to_stop_j(rows: pl.DataFrame, es: dict[str, Any]) -> float | None:
    """A pruned run's forecast energy to its early stop, had it trained on (joules)."""
    e = rows["energy_j"].fill_null(0.0).to_list()
    acc = rows["val_accuracy"].to_list()
    n = len(e)
    window = max(1, min(es["window_epochs"], n // 2))
    stable = max(1, min(es["stable_epoch"], n - window + 1))
    f = fc.forecast(e, acc, threshold=es["threshold"], patience_epochs=es["patience_epochs"],
                    max_epochs=es["max_epochs"], min_delta=es.get("min_delta", 0.0), stable_epoch=stable,
                    window_epochs=window, n_boot=64) if n >= 3 else None
    if f is None:
        return float(sum(e)) + (float(e[-1]) if e else 0.0) * (es["max_epochs"] - n)
    return f.energy_to_stop_j


def cost_table(runs: pl.DataFrame, epochs: pl.DataFrame, specs: list[dict[str, Any]]) -> pl.DataFrame:
    """``search_cost``: what each bracket's search spent against the full grid's estimated energy (Wh).

    The full grid: every run that trained to its own stop as measured, plus each
    pruned run's measured epochs and the forecast of the rest to its early stop.
    """
    es_of = {s["run_id"]: s["early_stopping"] for s in specs if s.get("search")}
    searched = runs.filter(pl.col("run_id").is_in(list(es_of)))
    rows = []
    for (paradigm, hardware), group in searched.group_by("paradigm", "hardware", maintain_order=True):
        spent_j, full_j, chosen = 0.0, 0.0, None
        best = None
        for r in group.iter_rows(named=True):
            ep = epochs.filter(pl.col("run_id") == r["run_id"]).sort("epoch")
            e_j = float(ep["energy_j"].fill_null(0.0).sum())
            spent_j += e_j
            if r["stop_reason"] == "pruned":
                full_j += _forecast_to_stop_j(ep, es_of[r["run_id"]]) or e_j
            else:
                full_j += e_j
                if r["status"] == "COMPLETED" and r["threshold_epoch"] is not None:
                    to_thr = float(ep.filter(pl.col("epoch") <= r["threshold_epoch"])["energy_j"].fill_null(0.0).sum())
                    if best is None or to_thr < best:
                        best, chosen = to_thr, r["setup"]
        rows.append({"paradigm": paradigm, "hardware": hardware, "runs": group.height,
                     "pruned": group.filter(pl.col("stop_reason") == "pruned").height,
                     "chosen_setup": chosen, "chosen_energy_to_threshold_wh": best / 3600 if best is not None else None,
                     "search_energy_wh": spent_j / 3600, "full_grid_estimate_wh": full_j / 3600,
                     "share_frac": spent_j / full_j if full_j > 0 else None})
    schema = {"paradigm": pl.String, "hardware": pl.String, "runs": pl.Int64, "pruned": pl.Int64,
              "chosen_setup": pl.Int64, "chosen_energy_to_threshold_wh": pl.Float64, "search_energy_wh": pl.Float64,
              "full_grid_estimate_wh": pl.Float64, "share_frac": pl.Float64}
    return pl.DataFrame(rows, schema=schema)
