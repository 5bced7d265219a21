"""How well every estimator predicts a run's energy to early stop, on runs it did not learn from.

Methods (del Rey et al., Table 10, plus the forecast of :mod:`.online`):

* ``MLCO2`` and ``Green Algorithms``, from the run's TDP, time and utilisation;
* ``online power-based`` and ``online epoch-energy-based``, from the run's
  own stable window, with its actual epochs and time (the study's use);
* ``online forecast``: the energy to early stop forecast once the window is
  complete (from the fixed stable epoch), from the epochs measured by then
  only (epochs to go forecast too);
* ``offline power-based`` (predicted power x actual time) and ``offline
  epoch-energy-based`` (predicted energy per epoch x actual epochs), for each
  regressor, *cross-validated by setup*: runs are split into folds by their
  setup (batch size x learning rate, Table 1), so no setup (no repeat, no
  other paradigm or GPU of it) is in the training folds of its own
  prediction; hyperparameters are chosen by a second grouped CV inside.

Errors are RMSE and MAE (Wh), MAPE, the median absolute percentage error
and the mean signed error (bias, %) over each method's runs. Targets: online epoch-energy-based within 5 % MAPE on
runs of at least 20 epochs; offline (kernel ridge) RMSE at most half of
both baselines' on the same runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from ..units import J_PER_WH
from . import baselines, forecast, offline, online
from .features import FeatureFrame, run_features

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MLCO2, GA = "MLCO2", "Green Algorithms"
ONLINE_POWER, ONLINE_EPOCH, ONLINE_FORECAST = "online power-based", "online epoch-energy-based", "online forecast"
OFFLINE_POWER, OFFLINE_EPOCH = "offline power-based", "offline epoch-energy-based"
#: Row order of the table and panel order of the figure.
METHOD_ORDER = (MLCO2, GA, ONLINE_POWER, ONLINE_EPOCH, ONLINE_FORECAST, OFFLINE_POWER, OFFLINE_EPOCH)
ALL_RUNS = "all runs"
GROUP_KEY = "setup"

EVALUATION = {
    "method": pl.String, "regressor": pl.String, "scope": pl.String, "n_runs": pl.Int64,
    "rmse_wh": pl.Float64, "mae_wh": pl.Float64, "mape_pct": pl.Float64, "median_ape_pct": pl.Float64,
    "bias_pct": pl.Float64,
    "interval_coverage_frac": pl.Float64, "target": pl.String, "target_met": pl.Boolean,
}
PREDICTIONS = {
    "run_id": pl.String, "hardware": pl.String, "paradigm": pl.String, "setup": pl.Int32,
    "epochs": pl.Int32, "method": pl.String, "regressor": pl.String, "predicted_energy_j": pl.Float64,
    "actual_energy_j": pl.Float64, "low_energy_j": pl.Float64, "high_energy_j": pl.Float64,
}


@dataclass(frozen=True)
class Settings:
    """Evaluation settings."""

    stable_epoch: int | str = online.STABLE_EPOCH  # first window epoch, or "fluss"
    window_epochs: int = online.WINDOW_EPOCHS
    min_epochs: int = 20  # the online target's scope: runs of at least this many epochs
    regressors: tuple[str, ...] = offline.METHODS
    group_by: str = GROUP_KEY  # what no two folds share: setup, or batch_size, hardware, paradigm


@dataclass(frozen=True)
class Evaluation:
    """The table (one row per method x regressor x scope) and every prediction behind it."""

    table: pl.DataFrame
    predictions: pl.DataFrame
    notes: tuple[str, ...]


def _row(run: dict[str, Any], method: str, predicted_j: float, regressor: str = "",
         low_j: float | None = None, high_j: float | None = None) -> dict[str, Any]:
    return {"run_id": run["run_id"], "hardware": run["hardware"], "paradigm": run["paradigm"],
            "setup": run["setup"], "epochs": run["epochs"], "method": method, "regressor": regressor,
            "predicted_energy_j": float(predicted_j), "actual_energy_j": float(run["energy_j"]),
            "low_energy_j": low_j, "high_energy_j": high_j}


def baseline_rows(frame: pl.DataFrame, util: dict[str, float]) -> list[dict[str, Any]]:
    """MLCO2 and Green Algorithms for every run of ``frame`` (features attached)."""
    rows = []
    for run in frame.iter_rows(named=True):
        rows.append(_row(run, MLCO2, baselines.mlco2_j(run["gpu_tdp_w"], run["duration_s"])))
        rows.append(_row(run, GA, baselines.green_algorithms_j(
            run["gpu_tdp_w"], run["duration_s"], utilisation_frac=util.get(run["run_id"]),
            memory_gb=run.get("host_mem_gb") or run["gpu_memory_gb"])))  # GA charges requested host memory
    return rows


def _per_run_epochs(epochs: pl.DataFrame, run_ids: Sequence[str]) -> dict[str, pl.DataFrame]:
    wanted = epochs.filter(pl.col("run_id").is_in(list(run_ids))).sort("run_id", "epoch")
    return {k[0]: g for k, g in wanted.group_by(["run_id"], maintain_order=True)}


def online_rows(frame: pl.DataFrame, epochs: pl.DataFrame, specs: dict[str, dict[str, Any]],
                settings: Settings) -> list[dict[str, Any]]:
    """Both online estimates and the forecast for every run long enough for its window."""
    rows = []
    by_run = _per_run_epochs(epochs, frame["run_id"].to_list())
    for run in frame.iter_rows(named=True):
        ep = by_run.get(run["run_id"])
        if ep is None or ep["epoch"].to_list() != list(range(1, ep.height + 1)):
            continue  # a gap: the epochs cannot be counted from 1
        energy = ep["energy_j"].fill_null(float("nan")).to_numpy()
        power = ep["mean_power_w"].fill_null(float("nan")).to_numpy()
        k = online.stable_epoch_of(power, settings.stable_epoch)
        est = online.estimate(energy, ep["duration_s"].to_numpy(), stable_epoch=k,
                              window_epochs=settings.window_epochs)
        if est is None and settings.stable_epoch == "fluss" and k != online.STABLE_EPOCH:
            k = online.STABLE_EPOCH  # the detected epoch leaves no room for the window: the study's
            est = online.estimate(energy, ep["duration_s"].to_numpy(), stable_epoch=k,
                                  window_epochs=settings.window_epochs)
        if est is None:
            continue
        rows.append(_row(run, ONLINE_POWER, est.power_based_j))
        rows.append(_row(run, ONLINE_EPOCH, est.epoch_energy_based_j))
        # The forecast is made as soon as the window is complete, so it cannot use FLUSS on the whole run.
        k_now = settings.stable_epoch if isinstance(settings.stable_epoch, int) else online.STABLE_EPOCH
        first = k_now + settings.window_epochs - 1
        spec = specs.get(run["run_id"])
        if spec is None or ep.height <= first or ep["val_accuracy"].null_count() == ep.height:
            continue
        es = spec["early_stopping"]
        fc = forecast.forecast(energy[:first], ep["val_accuracy"].to_list()[:first], threshold=es["threshold"],
                               patience_epochs=es["patience_epochs"], max_epochs=es["max_epochs"],
                               min_delta=es.get("min_delta", 0.0), stable_epoch=k_now,
                               window_epochs=settings.window_epochs)
        if fc is not None:
            rows.append(_row(run, ONLINE_FORECAST, fc.energy_to_stop_j, low_j=fc.energy_to_stop_low_j,
                             high_j=fc.energy_to_stop_high_j))
    return rows


def grouped_folds(groups: np.ndarray, max_folds: int = offline.MAX_FOLDS) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs of a k-fold split in which no group is on both sides; [] under 2 groups."""
    from sklearn.model_selection import GroupKFold

    n_groups = len(np.unique(groups))
    if n_groups < 2:
        return []
    return list(GroupKFold(n_splits=min(max_folds, n_groups)).split(np.zeros(len(groups)), groups=groups))


def offline_rows(ff: FeatureFrame, regressors: Sequence[str],
                 group_by: str = GROUP_KEY) -> tuple[list[dict[str, Any]], list[str]]:
    """Offline estimates of every run, each from a model fitted without the run's group (its setup)."""
    frame = ff.frame
    groups = frame[group_by].to_numpy()
    folds = grouped_folds(groups)
    if not folds:
        return [], [f"offline estimators not evaluated: the runs have {len(np.unique(groups))} {group_by} "
                    "value(s), a held-out fold needs 2"]
    x = ff.matrix()
    rows: list[dict[str, Any]] = []
    runs = frame.to_dicts()
    for method in regressors:
        for train, test in folds:
            preds = {}
            for target in ("mean_power_w", "epoch_energy_j"):
                y = frame[target].to_numpy().astype(float)
                model, _ = offline.fit_regressor(x[train], y[train], groups[train], method)
                preds[target] = np.asarray(model.predict(x[test]), dtype=float)
            for j, i in enumerate(test):
                run = runs[i]
                rows.append(_row(run, OFFLINE_POWER, preds["mean_power_w"][j] * run["duration_s"], method))
                rows.append(_row(run, OFFLINE_EPOCH, preds["epoch_energy_j"][j] * run["epochs"], method))
    return rows, []


def _errors(pred: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    err = pred - actual
    return {"rmse_wh": float(np.sqrt(np.mean(err ** 2))) / J_PER_WH, "mae_wh": float(np.mean(np.abs(err))) / J_PER_WH,
            "mape_pct": float(100 * np.mean(np.abs(err) / actual)),
            "median_ape_pct": float(100 * np.median(np.abs(err) / actual)),
            "bias_pct": float(100 * np.mean(err / actual))}


def metrics(predictions: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """The evaluation table: errors per method x regressor over its runs, plus the targets."""
    rows = []
    groups = predictions.group_by(["method", "regressor"], maintain_order=True)
    for (method, regressor), g in groups:
        scopes = [(ALL_RUNS, g)]
        if method in (ONLINE_POWER, ONLINE_EPOCH, ONLINE_FORECAST):
            scopes.append((f"runs >= {settings.min_epochs} epochs", g.filter(pl.col("epochs") >= settings.min_epochs)))
        for scope, s in scopes:
            if s.height == 0:
                continue
            pred, actual = s["predicted_energy_j"].to_numpy(), s["actual_energy_j"].to_numpy()
            cover = None
            if s["low_energy_j"].null_count() < s.height:
                inside = (s["low_energy_j"] <= s["actual_energy_j"]) & (s["actual_energy_j"] <= s["high_energy_j"])
                cover = float(inside.mean())
            rows.append({"method": method, "regressor": regressor, "scope": scope, "n_runs": s.height,
                         **_errors(pred, actual), "interval_coverage_frac": cover, "target": None,
                         "target_met": None})
    table = pl.DataFrame(rows, schema=EVALUATION) if rows else pl.DataFrame(schema=EVALUATION)
    return _targets(table, settings)


def _targets(table: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """Fill ``target`` / ``target_met`` for the two rows the issue sets targets for."""
    def rmse(method: str) -> float | None:
        r = table.filter((pl.col("method") == method) & (pl.col("scope") == ALL_RUNS))["rmse_wh"]
        return float(r[0]) if len(r) else None

    limit = min((v for v in (rmse(MLCO2), rmse(GA)) if v is not None), default=None)
    targets, met = [], []
    for row in table.iter_rows(named=True):
        t, m = None, None
        if row["method"] == ONLINE_EPOCH and row["scope"] != ALL_RUNS:
            t, m = "MAPE <= 5 %", row["mape_pct"] <= 5.0
        elif row["method"] in (OFFLINE_POWER, OFFLINE_EPOCH) and row["regressor"] == offline.METHODS[0] \
                and limit is not None:
            t, m = "RMSE <= 1/2 of both baselines'", row["rmse_wh"] <= 0.5 * limit
        targets.append(t)
        met.append(m)
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    reg_order = {r: i for i, r in enumerate(("", *offline.METHODS))}
    return (table.with_columns(target=pl.Series(targets, dtype=pl.String), target_met=pl.Series(met, dtype=pl.Boolean))
            .with_columns(_m=pl.col("method").replace_strict(order, default=99),
                          _r=pl.col("regressor").replace_strict(reg_order, default=99),
                          _s=(pl.col("scope") != ALL_RUNS).cast(pl.Int8))
            .sort("_m", "_r", "_s").drop("_m", "_r", "_s"))


def evaluate(runs: pl.DataFrame, epochs: pl.DataFrame, specs: dict[str, dict[str, Any]],
             util: dict[str, float], settings: Settings = Settings()) -> Evaluation:
    """Every method on every run it applies to; see the module docstring."""
    ff = run_features(runs)
    notes = [f"features left out (missing for some runs): {', '.join(ff.dropped)}"] if ff.dropped else []
    rows = baseline_rows(ff.frame, util)
    online_part = online_rows(ff.frame, epochs, specs, settings)
    if not online_part:
        notes.append(f"online estimators not evaluated: no run has the {settings.window_epochs}-epoch window "
                     f"from epoch {settings.stable_epoch} (try --stable-epoch / --window-epochs)")
    offline_part, offline_notes = offline_rows(ff, settings.regressors, settings.group_by)
    notes += offline_notes
    predictions = pl.DataFrame(rows + online_part + offline_part, schema=PREDICTIONS).sort("method", "regressor", "run_id")
    if not util:
        notes.append("no utilisation samples: Green Algorithms assumes 100 % utilisation (as its calculator)")
    return Evaluation(metrics(predictions, settings), predictions, tuple(notes))


def figure(predictions: pl.DataFrame, colours: dict[str, str]) -> Figure:
    """Predicted vs actual energy (Wh, log-log), one panel per method (the kernel-ridge regressor offline)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = predictions.filter(pl.col("regressor").is_in(["", offline.METHODS[0]]))
    methods = [m for m in METHOD_ORDER if m in set(shown["method"].to_list())]
    ncols = min(4, max(1, len(methods)))
    nrows = max(1, math.ceil(len(methods) / ncols))
    fig = Figure(figsize=(3.2 * ncols, 3.1 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, method in zip(axes, methods):
        m = shown.filter(pl.col("method") == method)
        actual, pred = m["actual_energy_j"].to_numpy() / J_PER_WH, m["predicted_energy_j"].to_numpy() / J_PER_WH
        for hw in sorted(set(m["hardware"].to_list())):
            sel = (m["hardware"] == hw).to_numpy()
            ax.scatter(actual[sel], pred[sel], s=8, alpha=0.7, color=colours.get(hw, "#000000"), label=hw)
        lo = float(min(actual.min(), pred.min())) * 0.8
        hi = float(max(actual.max(), pred.max())) * 1.25
        ax.plot([lo, hi], [lo, hi], color="#CC0000", linewidth=1)
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), title=method,
               xlabel="actual energy (Wh)", ylabel="predicted energy (Wh)")
    for ax in axes[len(methods):]:
        ax.set_axis_off()
    if methods:
        axes[0].legend(fontsize=7, loc="upper left")
    return fig


def markdown(ev: Evaluation, settings: Settings, figure_path: str | None) -> str:
    """The evaluation as a Markdown section (table, settings, notes, figure)."""
    cols = ["method", "regressor", "scope", "n_runs", "rmse_wh", "mae_wh", "mape_pct", "median_ape_pct", "bias_pct",
            "interval_coverage_frac", "target", "target_met"]

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "yes" if v else "**no**"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["## Energy estimation", "",
             f"Stable window: {settings.window_epochs} epochs from epoch {settings.stable_epoch}; offline "
             f"estimators cross-validated by {settings.group_by} (no {settings.group_by} in its own training "
             "folds). Energies in Wh.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in ev.table.iter_rows(named=True):
        lines.append("| " + " | ".join(cell(row[c]) for c in cols) + " |")
    lines.append("")
    lines += [f"- {n}" for n in ev.notes]
    if figure_path:
        lines += ["", f"![predicted vs actual energy]({figure_path})"]
    return "\n".join(lines) + "\n"
