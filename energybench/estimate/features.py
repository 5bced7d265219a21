"""Features and targets of the offline estimators, from the dataset's ``runs`` (pure).

Features (del Rey et al., plus Mavromatis et al.'s MACs per parameter, plus the
trainable parameters, without which a frozen and a fine-tuned encoder look
identical): the GPU as CUDA cores, memory and TDP (:mod:`.gpus`), MACs per
sample, parameters, MACs per parameter, training and validation samples,
batch size and input size; and every numeric extra grid axis (``grid.params``,
as ``param_<name>``: a width or a weight decay changes what a run costs). The
study's "total RAM" is not recorded by energybench and is left out.

Targets, per run over all its epochs (the study keeps the initial epochs):
average power (``energy_j / duration_s``), energy per epoch and, so that a
planned run's power can be turned into energy before it has a duration,
duration per epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from ..errors import EstimateError
from ..states import State
from .gpus import run_gpu

#: Every feature the regressors can use, with its unit in the name.
FEATURES: tuple[str, ...] = (
    "gpu_cuda_cores", "gpu_memory_gb", "gpu_tdp_w", "macs_per_sample", "params_total",
    "params_trainable", "macs_per_param", "n_train_samples", "n_val_samples", "batch_size",
    "input_size",
)
#: Per-run targets of the offline regressors.
TARGETS: tuple[str, ...] = ("mean_power_w", "epoch_energy_j", "epoch_duration_s")
#: Features a run's workload fixes (model and data), independent of grid point and GPU.
WORKLOAD_FEATURES: tuple[str, ...] = ("params_total", "params_trainable", "macs_per_sample",
                                      "n_train_samples", "n_val_samples", "input_size")


@dataclass(frozen=True)
class FeatureFrame:
    """Runs with their features (and targets where measured), in a stable order."""

    frame: pl.DataFrame  # run_id, hardware, paradigm, setup, ..., FEATURES, TARGETS
    features: tuple[str, ...]  # the features present for every run
    dropped: tuple[str, ...]  # features missing for some run (older datasets), left out

    def matrix(self, features: Sequence[str] | None = None) -> np.ndarray:
        """The feature matrix [runs, features], float64."""
        cols = list(features if features is not None else self.features)
        return self.frame.select(pl.col(c).cast(pl.Float64) for c in cols).to_numpy()


def usable_runs(runs: pl.DataFrame) -> pl.DataFrame:
    """COMPLETED runs with a measured energy, at least one epoch and a positive duration, sorted by id."""
    return runs.filter(
        (pl.col("status") == State.COMPLETED.value) & pl.col("energy_j").is_not_null() & (pl.col("energy_j") > 0)
        & (pl.col("epochs") > 0) & (pl.col("duration_s") > 0)
    ).sort("run_id")


def with_gpu(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` plus ``gpu`` (canonical name) and the GPU feature columns; unknown GPU -> EstimateError."""
    names, cores, mem, tdp = [], [], [], []
    gpu_names = frame["gpu_name"].to_list() if "gpu_name" in frame.columns else [None] * frame.height
    devices = frame["device"].to_list() if "device" in frame.columns else [None] * frame.height
    for run_id, hw, gname, device in zip(frame["run_id"].to_list(), frame["hardware"].to_list(),
                                         gpu_names, devices):
        spec = run_gpu(gname, hw, device, where=f"run {run_id}")
        names.append(spec.name)
        cores.append(spec.cuda_cores)
        mem.append(spec.memory_gb)
        tdp.append(spec.tdp_w)
    return frame.with_columns(
        gpu=pl.Series(names, dtype=pl.String), gpu_cuda_cores=pl.Series(cores, dtype=pl.Int64),
        gpu_memory_gb=pl.Series(mem, dtype=pl.Float64), gpu_tdp_w=pl.Series(tdp, dtype=pl.Float64),
    )


#: Prefix of the features made from the grid's numeric extra axes.
PARAM_PREFIX = "param_"


def param_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` plus ``param_<name>`` (Float64) for every numeric extra axis in its ``params`` column (JSON)."""
    if "params" not in frame.columns:
        return frame
    import json

    parsed = [json.loads(p) if p else {} for p in frame["params"].to_list()]
    names = sorted({k for d in parsed for k, v in d.items() if isinstance(v, (int, float))})
    return frame.with_columns(pl.Series(f"{PARAM_PREFIX}{k}", [_number(d.get(k)) for d in parsed], dtype=pl.Float64)
                              for k in names)


def _number(v: object) -> float | None:
    return float(v) if isinstance(v, (int, float)) else None


def derive(frame: pl.DataFrame) -> pl.DataFrame:
    """Derived features (MACs per parameter, the numeric extra axes) and, where measured, the targets."""
    out = param_columns(frame).with_columns(
        macs_per_param=pl.when(pl.col("params_total") > 0)
        .then(pl.col("macs_per_sample").cast(pl.Float64) / pl.col("params_total")),
    )
    if "energy_j" in out.columns:
        out = out.with_columns(
            mean_power_w=pl.col("energy_j") / pl.col("duration_s"),
            epoch_energy_j=pl.col("energy_j") / pl.col("epochs"),
            epoch_duration_s=pl.col("duration_s") / pl.col("epochs"),
        )
    return out


def run_features(runs: pl.DataFrame) -> FeatureFrame:
    """Features and targets of every usable run.

    Features missing for some run (a dataset collected before energybench
    recorded sample counts, say) are left out and named in ``dropped``.
    """
    usable = usable_runs(runs)
    if usable.height == 0:
        raise EstimateError("no COMPLETED run with a measured energy in the dataset")
    for col in WORKLOAD_FEATURES + ("gpu_name", "device"):
        if col not in usable.columns:
            usable = usable.with_columns(pl.lit(None).alias(col))
    frame = derive(with_gpu(usable))
    candidates = FEATURES + tuple(sorted(c for c in frame.columns if c.startswith(PARAM_PREFIX)))
    complete = tuple(f for f in candidates if frame[f].null_count() == 0)
    return FeatureFrame(frame, complete, tuple(f for f in candidates if f not in complete))


def transform(x: np.ndarray) -> np.ndarray:
    """log1p of every (non-negative) feature: counts span orders of magnitude."""
    return np.log1p(np.clip(x, 0.0, None))

