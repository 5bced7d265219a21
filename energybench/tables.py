"""The paper's tables as pure functions of the dataset (``runs``, ``epochs``).

Every table is a function ``(runs, epochs) -> DataFrame`` in :data:`TABLES`.
Only COMPLETED runs count. Repeats are averaged with their spread
(``*_mean_*``, ``*_std_*`` with ddof=1, ``n_*``); every column carries its unit
(``_j``, ``_wh``, ``_mwh``, ``_s``, ``_pct``, ``_frac``) and every table has a
fixed column order and sorted rows, so the same dataset gives byte-identical
files. Missing paradigms or a partial grid give fewer (or zero) rows, never an
error; ``energybench tables`` refuses a dataset with no COMPLETED run at all
(:func:`require_completed`), which would give only empty tables. ``net_*``
columns repeat a gross column with the idle power subtracted; they are null
where the dataset has no idle measurement.

Units: 1 Wh = 3600 J, 1 mWh = 3.6 J.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from .errors import ResultsError
from .paths import DatasetPaths, atomic_path, table_paths
from .schema import DOMAINS, EPOCH_SCHEMA, RUN_SCHEMA
from .states import State
from .units import J_PER_MWH, J_PER_WH
from .workloads import registry

#: Identifies one training setup of one workload on one hardware (Table 1); ``params`` carries the
#: grid's extra axes (canonical JSON; null without any).
SETUP_KEYS = ["dataset", "paradigm", "hardware", "setup", "batch_size", "learning_rate", "params"]
#: The same setup across workloads (for eq. 2, Table 2 and Table 3 pairings).
PAIR_KEYS = ["hardware", "setup", "batch_size", "learning_rate", "params"]



def transfer_roles() -> dict[str, str]:
    """role (pretrain, frozen, unfrozen, scratch) -> workload, for break-even and freeze savings.

    The registry's first family that has a pretraining workload, a frozen one and one from scratch.
    """
    sets = [s for s in registry.transfer_sets() if {"pretrain", "frozen", "scratch"} <= set(s)]
    return sets[0] if sets else {}


def multitask_types() -> dict[str, str]:
    """workload -> Table 3's row label (attribute, identity, both): the registry's multitask family."""
    for labels in registry.multitask_sets():
        if {"attribute", "identity", "both"} <= set(labels):
            return {labels[k]: k for k in ("attribute", "identity", "both")}
    return {}


def _role(role: str) -> str:
    return transfer_roles().get(role, f"<no {role} workload>")
NEVER_NOTE = "never (classifier on pretrained encoder costs >= training from scratch)"
NOT_MEASURED_NOTE = "no energy measured for one of the three paradigms"

_KEY_TYPES = {
    "dataset": pl.String, "paradigm": pl.String, "hardware": pl.String,
    "setup": pl.Int32, "batch_size": pl.Int32, "learning_rate": pl.Float64, "params": pl.String,
}
_F, _I, _S, _B = pl.Float64, pl.Int64, pl.String, pl.Boolean


def _cols(*names: str, dtype: pl.DataType = _F) -> dict[str, pl.DataType]:
    return {n: dtype for n in names}


# The output contract of each table: column order and types.
ENERGY_PER_EPOCH = {
    **_KEY_TYPES,
    **_cols("epoch_energy_mean_mwh", "epoch_energy_std_mwh", "net_epoch_energy_mean_mwh", "net_epoch_energy_std_mwh",
            "epoch_energy_eq1_mean_mwh", "epoch_energy_eq1_std_mwh", "epoch_duration_mean_s"),
    **_cols("n_runs", "n_epochs", "n_low_sample_epochs", dtype=_I),
}
TOTAL_ENERGY = {
    **_KEY_TYPES,
    **_cols("energy_mean_wh", "energy_std_wh", "net_energy_mean_wh", "net_energy_std_wh",
            "energy_of_worst_pct", "net_energy_of_worst_pct", "epochs_mean", "epochs_std",
            "duration_mean_s", "best_val_accuracy_mean_frac"),
    "n_runs": _I,
    # the per-domain split of energy_mean_wh (null where a domain was not metered), and what it sums
    **_cols(*(f"{d}_energy_mean_wh" for d in DOMAINS)),
    "energy_domains": _S,
}
_BREAK_EVEN_ENERGIES = ("enc_energy_wh", "class_energy_wh", "enc_class_energy_wh")
BREAK_EVEN = {
    "hardware": _S, "kind": _S, "setup": pl.Int32, "batch_size": pl.Int32, "learning_rate": _F, "params": _S,
    **{c: _F for e in _BREAK_EVEN_ENERGIES for c in (e, f"net_{e}")},
    "cycles": _F, "net_cycles": _F, "pays_off": _B, "net_pays_off": _B, "note": _S, "n_setups": _I,
}
FREEZE_SAVINGS = {
    "hardware": _S,
    **_cols("unfrozen_energy_mean_wh", "unfrozen_energy_std_wh", "net_unfrozen_energy_mean_wh",
            "frozen_energy_mean_wh", "frozen_energy_std_wh", "net_frozen_energy_mean_wh",
            "savings_frac", "net_savings_frac"),
    **_cols("n_setups", "n_runs_unfrozen", "n_runs_frozen", dtype=_I),
}
MULTITASK = {
    "hardware": _S, "type": _S, "paradigm": _S,
    **_cols("epoch_energy_mean_mwh", "epoch_energy_std_mwh", "net_epoch_energy_mean_mwh",
            "epochs_mean", "epochs_std", "energy_mean_wh", "energy_std_wh", "net_energy_mean_wh"),
    "n_runs": _I,
    **_cols("single_tasks_energy_mean_wh", "multitask_energy_mean_wh", "multitask_savings_frac",
            "net_single_tasks_energy_mean_wh", "net_multitask_energy_mean_wh", "net_multitask_savings_frac"),
    "n_paired_setups": _I,
}
ENERGY_TO_TARGET = {
    "run_id": _S, **_KEY_TYPES, "repeat": pl.Int32, "epochs": pl.Int32, "threshold_epoch": pl.Int32,
    "reached": _B, **_cols("energy_to_target_wh", "net_energy_to_target_wh", "energy_wh", "net_energy_wh",
                          "energy_to_target_frac"),
}


def _finish(df: pl.DataFrame, schema: dict[str, pl.DataType], sort: list[str]) -> pl.DataFrame:
    """``df`` sorted by ``sort`` (nulls last; helper columns allowed), in the table's column order and types."""
    return df.sort(sort, nulls_last=True, maintain_order=True).select(pl.col(n).cast(t) for n, t in schema.items())


def _completed(runs: pl.DataFrame) -> pl.DataFrame:
    # Sorted so float sums do not depend on the input's row order.
    return runs.filter(pl.col("status") == State.COMPLETED).sort("run_id")


def _marked(runs: pl.DataFrame) -> pl.DataFrame:
    """Runs with epoch rows (not a command that marked none: its one row is the whole run)."""
    return runs.filter(pl.col("epoch_marks").fill_null(True)) if "epoch_marks" in runs.columns else runs


def _mean_std(col: str, name: str, unit: str) -> list[pl.Expr]:
    return [pl.col(col).mean().alias(f"{name}_mean_{unit}"), pl.col(col).std().alias(f"{name}_std_{unit}")]


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """``num / den``; null (not inf) when ``den`` is null or not positive."""
    return pl.when(den > 0).then(num / den).otherwise(None)


def _in_epoch_order(epochs: pl.DataFrame) -> pl.DataFrame:
    """``epochs`` sorted by run, attempt and epoch: the order each run's sums add its rows in."""
    return epochs.sort("run_id", "attempt", "epoch", maintain_order=True)


#: The epochs columns :func:`epoch_summary` reads (the only epochs columns the tables read).
SUMMARY_READS = ("run_id", "attempt", "epoch", "duration_s", "energy_j", "energy_eq1_j", "low_samples",
                 "net_energy_j")
#: :func:`epoch_summary`'s columns: what the tables read of a run's epochs.
EPOCH_SUMMARY = {
    "run_id": _S, **_cols("epoch_energy_mwh", "net_epoch_energy_mwh", "epoch_energy_eq1_mwh", "epoch_duration_s"),
    "n_epochs": pl.UInt32, "n_low_sample_epochs": pl.UInt32, **_cols("energy_to_target_wh", "net_energy_to_target_wh"),
}


def _run_sums(values: pl.Series, keep: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per run (rows from each of ``starts`` to the next): the sum of ``values`` where ``keep`` and not null,
    and how many there were.

    numpy's ``add.reduceat`` sums each run's stretch on its own (pairwise, from its first row), so a run's sum
    is the same bits whichever other runs the frame holds; polars' ``sum`` and ``mean`` are not (they add in
    blocks whose split depends on the frame), and ``collect`` sums only the changed runs again.
    """
    kept = keep & values.is_not_null().to_numpy()
    floats = values.fill_null(0.0).cast(pl.Float64).to_numpy()
    return np.add.reduceat(np.where(kept, floats, 0.0), starts), np.add.reduceat(kept.astype(np.int64), starts)


def _mean_or_null(total: np.ndarray, n: np.ndarray) -> list[float | None]:
    return [float(t / k) if k > 0 else None for t, k in zip(total.tolist(), n.tolist())]


def epoch_summary(runs: pl.DataFrame, epochs: pl.DataFrame) -> pl.DataFrame:
    """One row per run with epochs, sorted by run id: what the tables read of its epochs (:data:`EPOCH_SUMMARY`).

    Its mean energy per epoch (mWh: gross, net, eq. 1), mean epoch duration, epochs and low-sample epochs, and
    its energy (Wh, gross and net) over epochs 1..``threshold_epoch`` (null where the threshold was not
    reached, or an epoch up to it is missing or has no energy). Each row is a function of that run's epochs
    and ``runs`` row alone, whichever other runs ``epochs`` holds: ``collect`` keeps the rows of unchanged
    runs and computes only the others' (:func:`_run_sums`).
    """
    runs, epochs = _conform(runs, _RUNS_TEMPLATE), _conform(epochs, _EPOCHS_TEMPLATE)
    ordered = _in_epoch_order(epochs.select(SUMMARY_READS)).join(
        runs.select("run_id", "threshold_epoch"), on="run_id", how="left", maintain_order="left")
    if ordered.height == 0:
        return pl.DataFrame(schema=EPOCH_SUMMARY)
    rid = ordered["run_id"]
    starts = np.flatnonzero(rid.ne_missing(rid.shift()).to_numpy())
    every = np.ones(ordered.height, dtype=bool)
    upto = (ordered["epoch"] <= ordered["threshold_epoch"]).fill_null(False).to_numpy()
    columns: dict[str, Any] = {"run_id": rid.gather(starts)}
    for name, col, unit in (("epoch_energy_mwh", "energy_j", J_PER_MWH),
                            ("net_epoch_energy_mwh", "net_energy_j", J_PER_MWH),
                            ("epoch_energy_eq1_mwh", "energy_eq1_j", J_PER_MWH),
                            ("epoch_duration_s", "duration_s", 1.0)):
        total, n = _run_sums(ordered[col], every, starts)
        columns[name] = _mean_or_null(total / unit, n)
    columns["n_epochs"] = np.diff(np.append(starts, ordered.height))
    columns["n_low_sample_epochs"] = np.add.reduceat(
        ordered["low_samples"].fill_null(False).to_numpy().astype(np.int64), starts)
    for p in ("", "net_"):
        columns[f"{p}upto_wh"] = _run_sums(ordered[f"{p}energy_j"], upto, starts)[0] / J_PER_WH
    # Whether every epoch up to the threshold is there with its energy: counts, exact whatever the order.
    complete = ordered.filter(pl.col("epoch") <= pl.col("threshold_epoch")).group_by("run_id").agg(
        *((pl.col(f"{p}energy_j").null_count() == 0).alias(f"{p}known") for p in ("", "net_")),
        (pl.col("epoch").n_unique() == pl.col("threshold_epoch").first()).alias("every_epoch"),
    )
    summary = pl.DataFrame(columns).join(complete, on="run_id", how="left", maintain_order="left").with_columns(
        pl.when(pl.col(f"{p}known") & pl.col("every_epoch")).then(pl.col(f"{p}upto_wh"))
        .alias(f"{p}energy_to_target_wh") for p in ("", "net_")
    )
    return summary.select(pl.col(n).cast(t) for n, t in EPOCH_SUMMARY.items())


def energy_per_epoch(runs: pl.DataFrame, epochs: pl.DataFrame) -> pl.DataFrame:
    """Fig. 3: mean energy per epoch (mWh) per setup; each run's epoch mean, then mean/std over repeats.

    Epochs flagged ``low_samples`` are kept (``energy_j`` is authoritative) and counted. A command
    that marked no epochs (``epoch_marks`` false: one row for the whole run) has no epochs to average.
    """
    return _energy_per_epoch(runs, epoch_summary(runs, epochs))


def _energy_per_epoch(runs: pl.DataFrame, summary: pl.DataFrame) -> pl.DataFrame:
    """:func:`energy_per_epoch` from the runs' :func:`epoch_summary`."""
    per_run = _marked(_completed(runs)).select([*SETUP_KEYS, "run_id"]).join(
        summary.select("run_id", "epoch_energy_mwh", "net_epoch_energy_mwh", "epoch_energy_eq1_mwh",
                       "epoch_duration_s", "n_epochs", "n_low_sample_epochs"), on="run_id", maintain_order="left"
    )
    out = per_run.group_by(SETUP_KEYS).agg(
        *_mean_std("epoch_energy_mwh", "epoch_energy", "mwh"),
        *_mean_std("net_epoch_energy_mwh", "net_epoch_energy", "mwh"),
        *_mean_std("epoch_energy_eq1_mwh", "epoch_energy_eq1", "mwh"),
        pl.col("epoch_duration_s").mean().alias("epoch_duration_mean_s"),
        pl.len().alias("n_runs"),
        pl.col("n_epochs").sum(),
        pl.col("n_low_sample_epochs").sum(),
    )
    return _finish(out, ENERGY_PER_EPOCH, SETUP_KEYS)


def total_energy(runs: pl.DataFrame, epochs: pl.DataFrame) -> pl.DataFrame:
    """Fig. 4: energy per run to early stop (Wh) per setup, and as a percentage of the worst setup.

    The worst setup is the one with the highest mean energy within the same
    dataset x paradigm x hardware.
    """
    runs = _completed(runs).with_columns(
        (pl.col("energy_j") / J_PER_WH).alias("energy_wh"),
        (pl.col("net_energy_j") / J_PER_WH).alias("net_energy_wh"),
        *((pl.col(f"{d}_energy_j") / J_PER_WH).alias(f"{d}_energy_wh") for d in DOMAINS),
    )
    out = runs.group_by(SETUP_KEYS).agg(
        *(pl.col(f"{d}_energy_wh").mean().alias(f"{d}_energy_mean_wh") for d in DOMAINS),
        pl.when(pl.col("energy_domains").count() > 0)
        .then(pl.col("energy_domains").drop_nulls().unique().sort().str.join("; ")).alias("energy_domains"),
        *_mean_std("energy_wh", "energy", "wh"),
        *_mean_std("net_energy_wh", "net_energy", "wh"),
        pl.col("epochs").mean().alias("epochs_mean"),
        pl.col("epochs").std().alias("epochs_std"),
        pl.col("duration_s").mean().alias("duration_mean_s"),
        pl.col("best_val_accuracy").mean().alias("best_val_accuracy_mean_frac"),
        pl.len().alias("n_runs"),
    )
    group = ["dataset", "paradigm", "hardware"]
    out = out.with_columns(
        (100 * _ratio(pl.col(f"{p}energy_mean_wh"), pl.col(f"{p}energy_mean_wh").max().over(group)))
        .alias(f"{p}energy_of_worst_pct")
        for p in ("", "net_")
    )
    return _finish(out, TOTAL_ENERGY, SETUP_KEYS)


def _setup_means(runs: pl.DataFrame, paradigm: str, prefix: str) -> pl.DataFrame:
    """Mean gross and net energy (Wh) over repeats, per hardware x setup, of one paradigm."""
    return (
        runs.filter(pl.col("paradigm") == paradigm)
        .group_by(PAIR_KEYS)
        .agg(
            (pl.col("energy_j").mean() / J_PER_WH).alias(f"{prefix}energy_wh"),
            (pl.col("net_energy_j").mean() / J_PER_WH).alias(f"net_{prefix}energy_wh"),
            pl.len().alias(f"n_runs_{prefix.rstrip('_')}"),
        )
        .sort(PAIR_KEYS)
    )


def _eq2(prefix: str) -> list[pl.Expr]:
    """Eq. 2, x = E_enc / (E_enc+class - E_class), for the gross or ``net_`` energies.

    Never a negative or infinite x: a saving per cycle <= 0 means the
    pretraining never pays off (``pays_off`` false, ``cycles`` null).
    """
    enc, cls, full = (pl.col(f"{prefix}{e}") for e in _BREAK_EVEN_ENERGIES)
    saving = full - cls
    known = enc.is_not_null() & saving.is_not_null()
    return [
        pl.when(known & (saving > 0)).then((enc / saving).clip(lower_bound=0.0)).alias(f"{prefix}cycles"),
        pl.when(known).then(saving > 0).otherwise(None).alias(f"{prefix}pays_off"),
    ]


def break_even(runs: pl.DataFrame, epochs: pl.DataFrame) -> pl.DataFrame:
    """Eq. 2 / Fig. 5: recycling cycles until the autoencoder pretraining pays off.

    ``kind`` = setup: one row per hardware x setup that has all three paradigms
    (autoencoder = E_enc, frozen = E_class, baseline = E_enc+class; mean Wh
    over repeats). Per hardware, ``best`` and ``worst`` copy the setup with the
    fewest and the most cycles (never = infinitely many; ties go to the lower
    setup) and ``average`` applies eq. 2 to the energies averaged over setups.
    """
    runs = _completed(runs)
    setups = (
        _setup_means(runs, _role("pretrain"), "enc_")
        .join(_setup_means(runs, _role("frozen"), "class_"), on=PAIR_KEYS, nulls_equal=True)
        .join(_setup_means(runs, _role("scratch"), "enc_class_"), on=PAIR_KEYS, nulls_equal=True)
        .sort(PAIR_KEYS)
        .with_columns(*_eq2(""), *_eq2("net_"), kind=pl.lit("setup"), n_setups=pl.lit(1, dtype=_I))
    )
    ranked = setups.filter(pl.col("pays_off").is_not_null()).with_columns(
        _rank=pl.col("cycles").fill_null(float("inf"))
    )
    first_per_hardware = pl.int_range(pl.len()).over("hardware") == 0
    best = ranked.sort(["hardware", "_rank", "setup"]).filter(first_per_hardware).with_columns(kind=pl.lit("best"))
    worst = (
        ranked.sort(["hardware", "_rank", "setup"], descending=[False, True, False])
        .filter(first_per_hardware)
        .with_columns(kind=pl.lit("worst"))
    )
    energies = [c for e in _BREAK_EVEN_ENERGIES for c in (e, f"net_{e}")]
    average = (
        ranked.group_by("hardware")
        .agg(*(pl.col(c).mean() for c in energies), pl.len().alias("n_setups"))
        .with_columns(*_eq2(""), *_eq2("net_"), kind=pl.lit("average"))
    )
    columns = [c for c in BREAK_EVEN if c != "note"]
    out = pl.concat(
        [f.select([pl.col(c).cast(BREAK_EVEN[c]) if c in f.columns else pl.lit(None, BREAK_EVEN[c]).alias(c)
                   for c in columns]) for f in (setups, best, worst, average)]
    ).with_columns(
        note=pl.when(pl.col("pays_off").is_null()).then(pl.lit(NOT_MEASURED_NOTE))
        .when(~pl.col("pays_off")).then(pl.lit(NEVER_NOTE)),
        _kind_order=pl.col("kind").replace_strict({"setup": 0, "best": 1, "worst": 2, "average": 3}),
    )
    return _finish(out, BREAK_EVEN, ["hardware", "_kind_order", "setup"])


def freeze_savings(runs: pl.DataFrame, epochs: pl.DataFrame) -> pl.DataFrame:
    """Table 2: mean Wh of the frozen vs the fine-tuned (unfrozen) pretrained encoder per hardware.

    Only setups present in both paradigms are compared; the mean and std are
    over those setups (each setup's repeats averaged first). savings_frac =
    1 - E_frozen / E_unfrozen.
    """
    runs = _completed(runs)
    paired = _setup_means(runs, _role("unfrozen"), "unfrozen_").join(_setup_means(runs, _role("frozen"), "frozen_"),
                                                                      on=PAIR_KEYS, nulls_equal=True)
    paired = paired.sort(PAIR_KEYS)
    out = paired.group_by("hardware").agg(
        *(e for p in ("unfrozen", "frozen") for e in (
            *_mean_std(f"{p}_energy_wh", f"{p}_energy", "wh"),
            pl.col(f"net_{p}_energy_wh").mean().alias(f"net_{p}_energy_mean_wh"),
            pl.col(f"n_runs_{p}").sum(),
        )),
        pl.len().alias("n_setups"),
    ).with_columns(
        (1 - _ratio(pl.col(f"{p}frozen_energy_mean_wh"), pl.col(f"{p}unfrozen_energy_mean_wh")))
        .alias(f"{p}savings_frac")
        for p in ("", "net_")
    )
    return _finish(out, FREEZE_SAVINGS, ["hardware"])


def multitask(runs: pl.DataFrame, epochs: pl.DataFrame) -> pl.DataFrame:
    """Table 3: mean energy per epoch (mWh) and mean epochs per hardware x type, plus the total comparison.

    Rows: hardware x type (attribute, identity, both), averaged over every
    completed run of that paradigm. The comparison columns are per hardware
    (repeated on its rows): over the setups where all three types completed,
    the mean Wh per setup of attribute + identity trained separately
    (``single_tasks_energy_mean_wh``) vs the multitask run, and
    ``multitask_savings_frac`` = 1 - multitask / single tasks.
    """
    return _multitask(runs, epoch_summary(runs, epochs))


def _multitask(runs: pl.DataFrame, summary: pl.DataFrame) -> pl.DataFrame:
    """:func:`multitask` from the runs' :func:`epoch_summary`."""
    types = multitask_types()
    runs = _completed(runs).filter(pl.col("paradigm").is_in(list(types)))
    means = summary.select("run_id", "epoch_energy_mwh", "net_epoch_energy_mwh")
    per_run = runs.join(means, on="run_id", how="left", maintain_order="left").with_columns(
        type=pl.col("paradigm").replace_strict(types, return_dtype=pl.String),
        energy_wh=pl.col("energy_j") / J_PER_WH,
        net_energy_wh=pl.col("net_energy_j") / J_PER_WH,
    )
    rows = per_run.group_by(["hardware", "type", "paradigm"]).agg(
        *_mean_std("epoch_energy_mwh", "epoch_energy", "mwh"),
        pl.col("net_epoch_energy_mwh").mean().alias("net_epoch_energy_mean_mwh"),
        pl.col("epochs").mean().alias("epochs_mean"),
        pl.col("epochs").std().alias("epochs_std"),
        *_mean_std("energy_wh", "energy", "wh"),
        pl.col("net_energy_wh").mean().alias("net_energy_mean_wh"),
        pl.len().alias("n_runs"),
    )
    by_type = {t: p for p, t in types.items()}
    attr, ident, both = (_setup_means(runs, by_type.get(t, f"<no {t} workload>"), f"{t}_")
                         for t in ("attribute", "identity", "both"))
    paired = attr.join(ident, on=PAIR_KEYS, nulls_equal=True).join(both, on=PAIR_KEYS, nulls_equal=True).sort(PAIR_KEYS)
    comparison = paired.group_by("hardware").agg(
        *(
            e for p in ("", "net_") for e in (
                (pl.col(f"{p}attribute_energy_wh") + pl.col(f"{p}identity_energy_wh")).mean()
                .alias(f"{p}single_tasks_energy_mean_wh"),
                pl.col(f"{p}both_energy_wh").mean().alias(f"{p}multitask_energy_mean_wh"),
            )
        ),
        pl.len().alias("n_paired_setups"),
    ).with_columns(
        (1 - _ratio(pl.col(f"{p}multitask_energy_mean_wh"), pl.col(f"{p}single_tasks_energy_mean_wh")))
        .alias(f"{p}multitask_savings_frac")
        for p in ("", "net_")
    )
    out = rows.join(comparison, on="hardware", how="left").with_columns(
        _type_order=pl.col("type").replace_strict({"attribute": 0, "identity": 1, "both": 2})
    )
    return _finish(out, MULTITASK, ["hardware", "_type_order"])


def energy_to_target(runs: pl.DataFrame, epochs: pl.DataFrame) -> pl.DataFrame:
    """Energy (Wh) each run spent until its validation accuracy first reached the threshold.

    The sum of ``epochs.energy_j`` over epochs 1..threshold_epoch (every attempt's
    rows). Null when the threshold was never reached, or when an epoch up to it
    is missing or has no energy. ``energy_to_target_frac`` is that energy over
    the run's total: what early stopping's patience added is 1 minus it.
    """
    return _energy_to_target(runs, epoch_summary(runs, epochs))


def _energy_to_target(runs: pl.DataFrame, summary: pl.DataFrame) -> pl.DataFrame:
    """:func:`energy_to_target` from the runs' :func:`epoch_summary`."""
    runs = _marked(_completed(runs))
    upto = summary.select("run_id", "energy_to_target_wh", "net_energy_to_target_wh")
    out = runs.join(upto, on="run_id", how="left").with_columns(
        reached=pl.col("threshold_epoch").is_not_null(),
        energy_wh=pl.col("energy_j") / J_PER_WH,
        net_energy_wh=pl.col("net_energy_j") / J_PER_WH,
    ).with_columns(energy_to_target_frac=_ratio(pl.col("energy_to_target_wh"), pl.col("energy_wh")))
    return _finish(out, ENERGY_TO_TARGET, [*SETUP_KEYS, "repeat", "run_id"])


#: Every table, by file name. Tests parametrise over it; add new tables here.
#: Tables ``collect`` adds for search configs (:mod:`energybench.search.record`; they need the decisions too).
SEARCH_TABLES = ("search_cost", "search_rungs")

TABLES: dict[str, Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame]] = {
    "energy_per_epoch": energy_per_epoch,
    "total_energy": total_energy,
    "break_even": break_even,
    "freeze_savings": freeze_savings,
    "multitask": multitask,
    "energy_to_target": energy_to_target,
}


def _conform(df: pl.DataFrame, template: pl.DataFrame) -> pl.DataFrame:
    """``df`` with every contract column (missing nullable ones added as nulls) in its contract type."""
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in template.schema.items() if name not in df.columns]
    df = df.with_columns(missing) if missing else df
    return df.with_columns(pl.col(name).cast(dtype) for name, dtype in template.schema.items())


def _empty(schema: pa.Schema) -> pl.DataFrame:
    """An empty frame of ``schema`` (``Table.from_batches``: ``Schema.empty_table`` imports pandas)."""
    frame = pl.from_arrow(pa.Table.from_batches([], schema=schema))
    assert isinstance(frame, pl.DataFrame)
    return frame


_RUNS_TEMPLATE = _empty(RUN_SCHEMA)
_EPOCHS_TEMPLATE = _empty(EPOCH_SCHEMA)


def load_dataset(dataset_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``runs`` and ``epochs`` frames of a dataset directory, in the contract's types."""
    paths = DatasetPaths(Path(dataset_dir))
    if not (paths.runs.is_file() and paths.epochs.is_file()):
        raise ResultsError(f"{dataset_dir}: no dataset here; run `energybench collect DIR` first")
    frames = []
    for path, template in ((paths.runs, _RUNS_TEMPLATE), (paths.epochs, _EPOCHS_TEMPLATE)):
        try:
            frames.append(_conform(pl.read_parquet(path), template))
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise ResultsError(f"{path}: unreadable dataset file ({type(exc).__name__}: {str(exc)[:80]}); "
                               "run `energybench collect DIR` again") from None
    return frames[0], frames[1]


def require_completed(runs: pl.DataFrame, source: Path) -> None:
    """Raise ResultsError, naming the runs and statuses found, when no run is COMPLETED.

    The tables count only COMPLETED runs; without one they would all be empty.
    """
    counts = runs.group_by("status").len().sort(["len", "status"], descending=[True, False], nulls_last=True)
    if any(status == State.COMPLETED for status in counts["status"]):
        return
    found = ", ".join(f"{n} {status if status in State.__members__ else repr(status)}" for status, n in counts.rows())
    foreign = [status for status in counts["status"] if status not in State.__members__]
    fix = (f"{', '.join(map(repr, foreign))} {'is not a status' if len(foreign) == 1 else 'are not statuses'} "
           f"of the schema ({', '.join(State)}); collect the dataset again with this energybench" if foreign
           else "see `energybench status DIR`, resubmit, then collect again")
    raise ResultsError(f"{source}: nothing to tabulate, no run is COMPLETED ({runs.height} runs"
                       + (f": {found}" if found else "") + f"); {fix}")


def compute_tables(runs: pl.DataFrame, epochs: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Every table of :data:`TABLES` for one dataset (each ``TABLES[name](runs, epochs)``)."""
    return tables_of(runs, epoch_summary(runs, epochs))


#: The tables that read the epochs, from the runs and their :func:`epoch_summary`; the others read the runs only.
_OF_SUMMARY: dict[str, Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame]] = {
    "energy_per_epoch": _energy_per_epoch, "multitask": _multitask, "energy_to_target": _energy_to_target,
}


def tables_of(runs: pl.DataFrame, summary: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Every table of :data:`TABLES` from the runs and their :func:`epoch_summary` (without the epochs: at 10x
    the study 6,720 rows instead of 1.9 million)."""
    runs = _conform(runs, _RUNS_TEMPLATE)
    return {name: _OF_SUMMARY[name](runs, summary) if name in _OF_SUMMARY else table(runs, _EPOCHS_TEMPLATE)
            for name, table in TABLES.items()}


def write_tables(tables: dict[str, pl.DataFrame], out_dir: Path) -> list[Path]:
    """Write each table as CSV and Parquet (atomically) under ``out_dir``; return the paths written."""
    written: list[Path] = []
    for name in sorted(tables):
        csv_path, parquet_path = table_paths(Path(out_dir), name)
        with atomic_path(csv_path) as tmp:
            tables[name].write_csv(tmp)
        with atomic_path(parquet_path) as tmp:
            tables[name].write_parquet(tmp, compression="zstd")
        written += [csv_path, parquet_path]
    return written
