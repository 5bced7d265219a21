"""The three ``energybench estimate`` commands as functions: fit, predict, evaluate (I/O at the edges)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import EstimateError
from ..paths import ResultsLayout, atomic_path, read_json, table_paths
from ..units import J_PER_WH
from . import budget, offline, online, workload
from .forecast import Forecast, forecast
from .evaluate import Evaluation, Settings, evaluate, figure, markdown
from .features import derive, run_features, with_gpu
from .source import open_source, utilisation

EVALUATION_TABLE, PREDICTIONS_TABLE = "estimate_evaluation", "predictions"
EVALUATION_FIGURE = "estimate_predicted_vs_actual"


def _layout_of(source_dir: Path, layout: ResultsLayout | None) -> ResultsLayout:
    """Where outputs go: the results directory, or the folder holding a bare dataset directory."""
    return layout if layout is not None else ResultsLayout(Path(source_dir).parent)


def fit_dir(path: Path, out: Path | None = None, method: str = offline.METHODS[0]) -> tuple[Path, offline.EstimatorModel]:
    """Fit the offline estimators on the dataset of ``path``; write the model file (default DIR/estimate/model.joblib)."""
    src = open_source(path)
    ff = run_features(src.runs)
    if ff.frame.height < 2:
        raise EstimateError(f"{path}: {ff.frame.height} usable run(s); fitting needs at least 2 completed runs "
                            "with a measured energy")
    model = offline.fit(ff, ff.frame["setup"].to_numpy(), method)
    model.catalogue = workload.catalogue(ff.frame, src.specs)
    model.epochs = workload.epochs_table(ff.frame, src.specs)
    model.trained_on = {
        "source": str(Path(path).absolute()), "runs": ff.frame.height,
        "hardware": sorted(set(ff.frame["hardware"].to_list())), "gpus": sorted(set(ff.frame["gpu"].to_list())),
        "paradigms": sorted(set(ff.frame["paradigm"].to_list())), "dropped_features": list(ff.dropped),
    }
    target = out if out is not None else _layout_of(src.dataset_dir, src.layout).estimator_model
    return offline.save(model, target), model


@dataclass(frozen=True)
class Prediction:
    """Predicted energy of every planned run, and what the numbers rest on."""

    runs: pl.DataFrame  # one row per planned run
    total_energy_wh: float  # epoch-energy-based
    total_energy_power_based_wh: float
    notes: tuple[str, ...]


def predict_config(config: Path, model_path: Path, epochs: int | None = None) -> Prediction:
    """Predict every planned run of ``config`` with the model file, before anything is submitted."""
    from ..config import load_config
    from ..plan import plan

    exp = load_config(config)
    specs = [s.to_dict() for s in plan(exp)]
    model = offline.load(model_path)
    frame = derive(with_gpu(workload.planned_frame(specs, model.catalogue, model.epochs, model.features, epochs)))
    missing = [f for f in model.features if f not in frame.columns or frame[f].null_count()]
    if missing:
        raise EstimateError(f"{model_path}: the model needs feature(s) {', '.join(missing)} that the planned runs lack")
    x = frame.select(pl.col(f).cast(pl.Float64) for f in model.features).to_numpy()
    pred = model.predict(x)
    n = frame["epochs"].to_numpy()
    frame = frame.with_columns(
        predicted_power_w=pred["mean_power_w"], predicted_epoch_energy_wh=pred["epoch_energy_j"] / J_PER_WH,
        predicted_epoch_duration_s=pred["epoch_duration_s"],
        energy_wh=pred["epoch_energy_j"] * n / J_PER_WH,
        energy_power_based_wh=pred["mean_power_w"] * pred["epoch_duration_s"] * n / J_PER_WH,
    )
    notes = _coverage_notes(frame, model)
    return Prediction(frame, float(frame["energy_wh"].sum()), float(frame["energy_power_based_wh"].sum()),
                      tuple(notes))


def _coverage_notes(frame: pl.DataFrame, model: offline.EstimatorModel) -> list[str]:
    """Where predictions extrapolate or rest on assumed epochs."""
    notes = []
    seen = model.trained_on
    for what, col, known in (("GPU", "gpu", seen.get("gpus", [])), ("paradigm", "paradigm", seen.get("paradigms", []))):
        new = sorted(set(frame[col].to_list()) - set(known))
        if new:
            notes.append(f"{what}(s) {', '.join(new)} not in the model's training data "
                         f"({', '.join(known)}): those predictions extrapolate")
    for source, n in sorted(frame.group_by("epochs_source").len().iter_rows()):
        notes.append(f"epochs of {n} run(s): {source}")
    published = frame.filter(pl.col("workload_source").str.starts_with("published catalogue"))
    for source, n in sorted(published.group_by("workload_source").len().iter_rows()):
        notes.append(f"workload of {n} run(s) from the {source} (energybench's characteristics of the study's "
                     "datasets at the paper's settings; no data read)")
    computed = frame.filter(pl.col("workload_source") == "characterised").height
    if computed:
        notes.append(f"{computed} run(s) characterised from the config (workload not in the model's catalogue)")
    return notes


def evaluate_dir(path: Path, settings: Settings = Settings()) -> tuple[Evaluation, list[Path]]:
    """Evaluate every estimator on the dataset of ``path``; write the tables, the figure and the Markdown section."""
    from ..figures import hardware_colours, save_figure

    src = open_source(path)
    util = utilisation(src.dataset_dir, src.runs["run_id"].to_list())
    ev = evaluate(src.runs, src.epochs, src.specs, util, settings)
    layout = _layout_of(src.dataset_dir, src.layout)
    written = []
    # The table joins the report (it lists DIR/tables); the per-run predictions stay beside the model.
    for folder, name, table in ((layout.tables_dir, EVALUATION_TABLE, ev.table),
                                (layout.estimate_dir, PREDICTIONS_TABLE, ev.predictions)):
        csv_path, parquet_path = table_paths(folder, name)
        with atomic_path(csv_path) as tmp:
            table.write_csv(tmp)
        with atomic_path(parquet_path) as tmp:
            table.write_parquet(tmp, compression="zstd")
        written += [csv_path, parquet_path]
    fig_rel = None
    if ev.predictions.height:
        fig = figure(ev.predictions, hardware_colours(ev.predictions["hardware"].unique().to_list()))
        paths = save_figure(fig, layout.figures_dir, EVALUATION_FIGURE)
        written += paths
        fig_rel = f"../figures/{paths[0].name}"
    with atomic_path(layout.estimate_report) as tmp:
        tmp.write_text(markdown(ev, settings, fig_rel))
    written.append(layout.estimate_report)
    return ev, written


def summary_lines(model: offline.EstimatorModel) -> list[str]:
    """What ``estimate fit`` prints about a model."""
    lines = [f"{model.method}: {model.trained_on.get('runs')} runs, GPUs {', '.join(model.trained_on.get('gpus', []))}, "
             f"features {', '.join(model.features)}"]
    for target, cv in model.cv.items():
        rmse = f"{cv['cv_rmse']:.4g}" if cv.get("cv_rmse") is not None else "n/a"
        lines.append(f"  {target}: {cv['folds']}-fold grouped CV RMSE {rmse}, params {cv['params']}")
    dropped = model.trained_on.get("dropped_features")
    if dropped:
        lines.append(f"  left out (missing for some runs): {', '.join(dropped)}")
    return lines



@dataclass(frozen=True)
class RunEstimate:
    """The online estimates of one run, finished or still training (then with its forecast)."""

    run_id: str
    finished: bool
    epochs_measured: int
    energy_so_far_j: float
    stable_epoch: int
    window_epochs: int
    estimate: online.OnlineEstimate | None  # n = the run's epochs, or the forecast stop epoch
    forecast: Forecast | None  # only while the run trains


def run_estimate(results: Path, run_id: str, stable_epoch: int | str = online.STABLE_EPOCH,
                 window_epochs: int = online.WINDOW_EPOCHS) -> RunEstimate:
    """Online estimates of one run of ``results`` from its epoch shards (no ``collect`` needed).

    A finished run's eqs. 1 and 2 use its epochs and time; a running run's use
    the forecast stop epoch and its time at the window's epoch duration.
    """
    layout = ResultsLayout(results)
    matches = [r for r in layout.run_dirs() if r.dir.name.startswith(run_id)]
    if len(matches) != 1:
        raise EstimateError(f"{results}: {'no' if not matches else len(matches)} run(s) match {run_id!r}; "
                            "give a unique prefix of a run id (`energybench status DIR --json` lists them)")
    run = matches[0]
    spec = read_json(run.spec)
    rows = budget.epoch_rows(run, ("energy_j", "duration_s", "mean_power_w", "val_accuracy"))
    if [r["epoch"] for r in rows] != list(range(1, len(rows) + 1)):
        raise EstimateError(f"{run.dir}: epochs {[r['epoch'] for r in rows][:5]}... are not 1..n; "
                            "the online estimators count epochs from the first")
    energy = [r["energy_j"] if r["energy_j"] is not None else float("nan") for r in rows]
    duration = [r["duration_s"] for r in rows]
    power = [r["mean_power_w"] if r["mean_power_w"] is not None else float("nan") for r in rows]
    k = online.stable_epoch_of(power, stable_epoch)
    finished = run.done.exists()
    fc = None
    n_total: int | None = len(rows)
    t_total = float(sum(duration))
    if not finished:
        es = spec["early_stopping"]
        fc = forecast(energy, [r["val_accuracy"] for r in rows], threshold=es["threshold"],
                      patience_epochs=es["patience_epochs"], max_epochs=es["max_epochs"],
                      min_delta=es.get("min_delta", 0.0), stable_epoch=k, window_epochs=window_epochs)
        n_total = fc.stop_epoch if fc is not None else None
        if n_total is not None:
            window_s = sum(duration[k - 1:k + window_epochs - 1]) / window_epochs
            t_total += window_s * (n_total - len(rows))
    est = (online.estimate(energy, duration, stable_epoch=k, window_epochs=window_epochs, total_epochs=n_total,
                           total_duration_s=t_total) if n_total is not None else None)
    return RunEstimate(run.dir.name, finished, len(rows), float(np.nansum(energy)), k, window_epochs, est, fc)
