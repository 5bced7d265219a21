"""Facility energy and carbon, as *conversions* of the measured energy (never measurements).

With ``report.pue`` the facility energy is the measured energy x PUE (the
data centre's cooling, power distribution and the rest, as one factor); with
``report.carbon_intensity_g_per_kwh`` (and its ``carbon_source``) CO2e is the
facility energy (or, without a PUE, the measured energy) x the intensity.
These are the CodeCarbon, Green Algorithms and perun conventions. Pure.
"""

from __future__ import annotations

import polars as pl

from .config import Report

#: The conversions table's columns and types.
CONVERSIONS = {
    "dataset": pl.String, "paradigm": pl.String, "hardware": pl.String, "setup": pl.Int32,
    "energy_mean_wh": pl.Float64, "pue": pl.Float64, "facility_energy_mean_wh": pl.Float64,
    "carbon_intensity_g_per_kwh": pl.Float64, "co2e_mean_g": pl.Float64, "carbon_source": pl.String,
}
WH_PER_KWH = 1000.0


def enabled(report: Report) -> bool:
    """Whether the config asks for any conversion."""
    return report.pue is not None or report.carbon_intensity_g_per_kwh is not None


def conversions(total_energy: pl.DataFrame, report: Report) -> pl.DataFrame:
    """Facility energy (Wh) and CO2e (g) of each setup's mean energy to early stop, where configured."""
    pue = report.pue
    intensity = report.carbon_intensity_g_per_kwh
    facility = pl.col("energy_mean_wh") * pue if pue is not None else pl.lit(None, pl.Float64)
    basis = pl.col("energy_mean_wh") * (pue if pue is not None else 1.0)
    co2e = basis / WH_PER_KWH * intensity if intensity is not None else pl.lit(None, pl.Float64)
    out = total_energy.select(
        "dataset", "paradigm", "hardware", "setup", "energy_mean_wh",
        pl.lit(pue, pl.Float64).alias("pue"), facility.alias("facility_energy_mean_wh"),
        pl.lit(intensity, pl.Float64).alias("carbon_intensity_g_per_kwh"), co2e.alias("co2e_mean_g"),
        pl.lit(report.carbon_source, pl.String).alias("carbon_source"),
    )
    return out.sort("dataset", "paradigm", "hardware", "setup").select(
        pl.col(n).cast(t) for n, t in CONVERSIONS.items())
