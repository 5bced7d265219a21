"""Workload features of planned runs (catalogue or characterised) and features of older datasets."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from energybench.config import parse_config
from energybench.errors import EstimateError
from energybench.estimate.features import run_features
from energybench.estimate.workload import characterise, expected_epochs, planned_frame, workload_key
from energybench.plan import plan
from energybench.worker.data.pamap2 import generate_pamap2


def _specs(tmp: Path, data_path: Path) -> dict[str, dict]:
    cfg = {"name": "w", "grid": {"batch_sizes": [8], "learning_rates": [0.001]},
           "paradigms": ["pamap2-baseline", "pamap2-autoencoder", "pamap2-frozen"], "hardware": ["h100"],
           "early_stopping": {"max_epochs": 77},
           "data": {"pamap2": {"path": str(data_path), "window_samples": 64, "stride_samples": 32,
                               "max_windows": 50}}}
    return {s.paradigm: s.to_dict() for s in plan(parse_config(cfg, tmp / "w.yaml"))}


def test_characterise_builds_and_counts_the_model_and_reads_the_data(tmp_path: Path) -> None:
    generate_pamap2(tmp_path / "pamap2", seconds_per_activity=3.0)
    specs = _specs(tmp_path, tmp_path / "pamap2")
    base, frozen, auto = (characterise(specs[p]) for p in ("pamap2-baseline", "pamap2-frozen", "pamap2-autoencoder"))
    assert base["params_total"] == base["params_trainable"] == 141_293  # the paper's model
    assert frozen["params_total"] == 141_293 and frozen["params_trainable"] == 21_021
    assert auto["macs_per_sample"] > base["macs_per_sample"] > 0
    assert base["input_size"] == 28 * 64 and 0 < base["n_train_samples"] <= 50 and base["n_val_samples"] > 0

    frame = planned_frame(specs.values(), {}, {})
    assert (frame["workload_source"] == "characterised").all()
    assert (frame["epochs_source"] == "max_epochs (upper bound)").all() and (frame["epochs"] == 77).all()


def test_missing_data_without_a_catalogue_entry_is_a_clear_error(tmp_path: Path) -> None:
    spec = _specs(tmp_path, tmp_path / "nowhere")["pamap2-baseline"]
    with pytest.raises(EstimateError, match="not in the model's catalogue and its data are missing"):
        characterise(spec)
    known = {workload_key(spec["paradigm"], spec["data"]): {
        "params_total": 1, "params_trainable": 1, "macs_per_sample": 2, "n_train_samples": 3, "n_val_samples": 4,
        "input_size": 5}}
    frame = planned_frame([spec], known, {}, override_epochs=9)
    assert frame["workload_source"].to_list() == ["catalogue"] and frame["epochs"].to_list() == [9.0]


def test_expected_epochs_prefers_the_same_setup(tmp_path: Path) -> None:
    spec = _specs(tmp_path, tmp_path / "p")["pamap2-baseline"]
    moved = {**spec, "data": {**spec["data"], "path": "/elsewhere"}}  # data location is not the workload
    assert workload_key(spec["paradigm"], spec["data"]) == workload_key(moved["paradigm"], moved["data"])
    from energybench.estimate.workload import _epochs_keys

    exact, workload = _epochs_keys(spec)
    assert expected_epochs(moved, {exact: 42.0, workload: 50.0}) == (42.0, "same setup")
    assert expected_epochs(moved, {workload: 50.0}) == (50.0, "same workload")


def test_older_datasets_lose_the_missing_features_and_say_so() -> None:
    runs = pl.DataFrame({
        "run_id": ["a", "b"], "status": ["COMPLETED"] * 2, "energy_j": [100.0, 200.0], "epochs": [2, 4],
        "duration_s": [10.0, 20.0], "hardware": ["a100", "rtx3090"], "device": ["cuda"] * 2,
        "gpu_name": [None, None], "setup": [1, 2], "batch_size": [64, 256], "params_total": [10, 10],
        "params_trainable": [10, 10], "macs_per_sample": [100, 100], "n_train_samples": [None, None],
        "n_val_samples": [None, None], "input_size": [None, None],
    }, schema_overrides={"gpu_name": pl.String, "n_train_samples": pl.Int64, "n_val_samples": pl.Int64,
                         "input_size": pl.Int64})
    ff = run_features(runs)
    assert ff.dropped == ("n_train_samples", "n_val_samples", "input_size")
    assert ff.frame["epoch_energy_j"].to_list() == [50.0, 50.0] and ff.frame["mean_power_w"].to_list() == [10.0] * 2
    assert ff.frame["gpu"].to_list() == ["a100-sxm-40gb", "rtx3090"]
    with pytest.raises(EstimateError, match="no COMPLETED run"):
        run_features(runs.with_columns(status=pl.lit("FAILED")))
