"""The measurement boundary and the conversions: generated from the data, labelled, and checked."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from energybench.boundary import boundary_blocks, conversions_blocks, domains_table, short_epochs
from energybench.collect import collect
from energybench.config import Report, parse_config
from energybench.conversions import conversions
from energybench.errors import ConfigError
from energybench.render import Grid, to_markdown

from .fabricate import fake_run, make_results

WH = 3600.0


def _runs() -> pl.DataFrame:
    return pl.DataFrame({
        "run_id": ["a", "b", "c"], "status": ["COMPLETED", "COMPLETED", "FAILED"],
        "meter": ["nvml+rapl", "nvml+rapl", "nvml+rapl"], "energy_domains": ["gpu+cpu+dram"] * 3,
        "energy_j": [10 * WH, 20 * WH, 99 * WH], "gpu_energy_j": [8 * WH, 16 * WH, None],
        "cpu_energy_j": [1.5 * WH, 3 * WH, None], "dram_energy_j": [0.5 * WH, 1 * WH, None],
        "cpu_share_frac": [1.0, 0.25, None], "sample_period_s": [0.1, 0.1, 0.1], "sched_energy_j": [None, None, None],
    })


def test_domains_table_sums_completed_runs_per_meter() -> None:
    (row,) = domains_table(_runs()).to_dicts()
    assert (row["meter"], row["n_runs"], row["energy_wh"]) == ("nvml+rapl", 2, pytest.approx(30.0))
    assert (row["gpu_energy_wh"], row["cpu_energy_wh"], row["dram_energy_wh"]) == pytest.approx((24.0, 4.5, 1.5))
    assert row["cpu_share_min_frac"] == 0.25


def test_short_epochs_follow_mlperf_powers_rules() -> None:
    epochs = pl.DataFrame({"run_id": ["a"] * 3, "epoch": [1, 2, 3], "samples": [600, 59, 100],
                           "duration_s": [60.0, 5.9, 200.0]})
    assert short_epochs(epochs)["epoch"].to_list() == [2, 3]  # 59 samples; 0.5 samples per second


def test_boundary_section_says_what_is_in_and_out() -> None:
    epochs = pl.DataFrame({"run_id": ["a", "b"], "epoch": [1, 1], "samples": [10, 600], "duration_s": [1.0, 60.0]})
    md = to_markdown(boundary_blocks(_runs(), epochs))
    assert "## Measurement boundary" in md and "NVML energy counter" in md and "RAPL counters" in md
    assert "power-supply (PSU)" in md and "report.pue" in md
    assert "1 of 2 runs shared their node" in md
    assert "not accounted" in md
    assert "1 epochs of 1 runs fall short" in md
    assert "No dataset here" in to_markdown(boundary_blocks(None, None))


def test_conversions_are_energy_times_pue_times_intensity() -> None:
    total = pl.DataFrame({"dataset": ["pamap2"], "paradigm": ["pamap2-baseline"], "hardware": ["h100"],
                          "setup": [1], "energy_mean_wh": [100.0]})
    (row,) = conversions(total, Report(pue=1.5, carbon_intensity_g_per_kwh=400.0, carbon_source="test grid")).to_dicts()
    assert row["facility_energy_mean_wh"] == pytest.approx(150.0) and row["co2e_mean_g"] == pytest.approx(60.0)
    (row,) = conversions(total, Report(carbon_intensity_g_per_kwh=400.0, carbon_source="x")).to_dicts()
    assert row["facility_energy_mean_wh"] is None and row["co2e_mean_g"] == pytest.approx(40.0)
    blocks = conversions_blocks({"conversions": conversions(total, Report(pue=1.2))})
    assert any(isinstance(b, Grid) for b in blocks) and "not measurements" in to_markdown(blocks)
    assert "None configured" in to_markdown(conversions_blocks({}))


def test_report_settings_are_validated(tmp_path: Path) -> None:
    base = {"name": "x", "grid": {"batch_sizes": [1], "learning_rates": [0.1]}, "paradigms": ["pamap2-baseline"],
            "hardware": ["cpu"], "data": {"pamap2": {"path": "d"}}}
    with pytest.raises(ConfigError, match="carbon_source"):
        parse_config({**base, "report": {"carbon_intensity_g_per_kwh": 300}}, tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="pue"):
        parse_config({**base, "report": {"pue": 0.9}}, tmp_path / "c.yaml")


def test_collect_writes_the_conversions_table_when_configured(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    for s in specs:
        fake_run(layout, s)
    layout.experiment.write_text(yaml.safe_dump({
        "name": "fab", "grid": {"batch_sizes": [64, 256], "learning_rates": [0.01]},
        "paradigms": ["pamap2-baseline"], "hardware": ["cpu"], "data": {"pamap2": {"path": "data"}},
        "report": {"pue": 1.4, "carbon_intensity_g_per_kwh": 250, "carbon_source": "a test grid, 2026"}}))
    collect(layout.root, echo=lambda _: None, warn=lambda _: None)
    table = pl.read_csv(layout.tables_dir / "conversions.csv")
    total = pl.read_csv(layout.tables_dir / "total_energy.csv")
    assert table.height == total.height and table["pue"].to_list() == [1.4] * table.height
    assert table["facility_energy_mean_wh"].to_list() == pytest.approx((total["energy_mean_wh"] * 1.4).to_list())
    assert set(table["carbon_source"].to_list()) == {"a test grid, 2026"}
