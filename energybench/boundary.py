"""The measurement boundary, generated from the data: what was measured, by what, how often, and what not.

For the report: which energy domains the runs' ``energy_j`` sums and by which
meter; at which sampling period; the CPU share attributed on shared nodes;
what lies outside (power-supply losses, network, storage, cooling, unless a
PUE converts to facility energy); the scheduler's own energy figure beside
energybench's; and how each run stands against MLPerf Power's sampling rules
(at least one sample per second, at least 60 samples per measured window:
here, an epoch). Pure: frames in, report blocks out.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from .render import Block, Grid, Heading, Text
from .schema import DOMAINS
from .states import State
from .units import J_PER_WH

TITLE = "Measurement boundary"
CONVERSIONS_TITLE = "Facility energy and carbon (conversions)"
#: MLPerf Power's rules for a measured window.
MIN_SAMPLES_PER_S = 1.0
MIN_SAMPLES_PER_WINDOW = 60
#: Epochs listed one by one where they fall short (the rest are counted).
MAX_LISTED = 10

OUTSIDE = ("power-supply (PSU) and voltage-regulator losses outside the metered devices, fans, network, "
           "storage, and the data centre's cooling and power distribution")
_SOURCES = {"nvml": "NVML energy counter of the job's GPUs", "rapl": "RAPL counters of the CPU packages and DRAM",
            "estimate": "an estimate (CPU TDP x utilisation), not a measurement",
            "synthetic": "a synthetic trace, not a measurement"}


def _completed(runs: pl.DataFrame) -> pl.DataFrame:
    return runs.filter(pl.col("status") == State.COMPLETED.value)


def domains_table(runs: pl.DataFrame) -> pl.DataFrame:
    """Per meter and domain set: runs, period, CPU share and the energy split (Wh, summed over runs)."""
    cols = runs.columns
    have = lambda c: pl.col(c) if c in cols else pl.lit(None, pl.Float64)  # noqa: E731 (schema-1 datasets)
    return (_completed(runs).with_columns(
        pl.col("energy_domains").fill_null("(one meter, not split)") if "energy_domains" in cols
        else pl.lit("(one meter, not split)").alias("energy_domains"))
        .group_by("meter", "energy_domains").agg(
            pl.len().alias("n_runs"),
            have("sample_period_s").min().alias("sample_period_min_s"),
            have("cpu_share_frac").min().alias("cpu_share_min_frac"),
            (pl.col("energy_j").sum() / J_PER_WH).alias("energy_wh"),
            *((have(f"{d}_energy_j").sum() / J_PER_WH).alias(f"{d}_energy_wh") for d in DOMAINS))
        .sort("meter", "energy_domains"))


def short_epochs(epochs: pl.DataFrame) -> pl.DataFrame:
    """Epochs that break MLPerf Power's rules: fewer than 60 samples, or fewer than 1 per second."""
    rate = pl.col("samples") / pl.col("duration_s")
    return (epochs.with_columns(rate.alias("samples_per_s"))
            .filter((pl.col("samples") < MIN_SAMPLES_PER_WINDOW) | (pl.col("samples_per_s") < MIN_SAMPLES_PER_S))
            .select("run_id", "epoch", "samples", "duration_s", "samples_per_s")
            .sort("run_id", "epoch"))


def boundary_blocks(runs: pl.DataFrame | None, epochs: pl.DataFrame | None) -> list[Block]:
    """The report's boundary section (a note where the dataset is missing)."""
    blocks: list[Block] = [Heading(TITLE, 2)]
    if runs is None or runs.height == 0:
        return blocks + [Text("No dataset here: run `energybench collect DIR` first.")]
    done = _completed(runs)
    meters = sorted(set(done["meter"].drop_nulls().to_list()))
    kinds = sorted({k for m in meters for k in m.split("+")})
    blocks.append(Text("Measured: " + "; ".join(f"`{k}`: {_SOURCES.get(k, k)}" for k in kinds) + ". "
                       f"Outside the boundary: {OUTSIDE} (a `report.pue` converts to facility energy, below)."))
    blocks.append(Grid(domains_table(runs), null_text={"cpu_share_min_frac": "no RAPL",
                                                        "sample_period_min_s": "not recorded"}))
    if "cpu_share_frac" in runs.columns:
        shared = done.filter(pl.col("cpu_share_frac").is_not_null() & (pl.col("cpu_share_frac") < 1.0))
        blocks.append(Text(f"{shared.height} of {done.height} runs shared their node: their CPU and DRAM energy is "
                           "the sockets' energy x the job's share of the node's CPUs (`cpu_attribution` in "
                           "`run.json`)." if shared.height else
                           "No run shared a node with RAPL counters: CPU and DRAM energy, where measured, is the "
                           "whole sockets'."))
    if "sched_energy_j" in runs.columns:
        accounted = done.filter(pl.col("sched_energy_j").is_not_null())
        if accounted.height:
            ratio = (accounted["sched_energy_j"] / accounted["energy_j"]).median()
            blocks.append(Text(f"The scheduler's ConsumedEnergy (node-level; meaningless on shared nodes) was "
                               f"accounted for {accounted.height} runs; median ratio to energybench's energy "
                               f"{ratio:.3g}."))
        else:
            blocks.append(Text("The scheduler's energy (sacct ConsumedEnergyRaw): not accounted, or not a SLURM "
                               "directory. SLURM's NVIDIA GPU energy plugin is a stub, and its figure is "
                               "node-level: energybench's in-job NVML is the GPU energy source."))
    if epochs is not None and epochs.height:
        bad = short_epochs(epochs.filter(pl.col("run_id").is_in(done["run_id"].to_list())))
        n_runs = bad["run_id"].n_unique() if bad.height else 0
        blocks.append(Text(f"MLPerf Power's sampling rules (at least {MIN_SAMPLES_PER_S:g} sample per second and "
                           f"{MIN_SAMPLES_PER_WINDOW} samples per measured window, here an epoch): "
                           + (f"{bad.height} epochs of {n_runs} runs fall short; the first {min(MAX_LISTED, bad.height)}:"
                              if bad.height else "every epoch meets them.")))
        if bad.height:
            blocks.append(Grid(bad.head(MAX_LISTED), total_rows=bad.height if bad.height > MAX_LISTED else None))
    return blocks


def conversions_blocks(tables: dict[str, pl.DataFrame] | Sequence[str]) -> list[Block]:
    """The conversions section: the ``conversions`` table where ``report.pue`` or a carbon intensity is set."""
    blocks: list[Block] = [Heading(CONVERSIONS_TITLE, 2)]
    table = tables.get("conversions") if isinstance(tables, dict) else None
    if table is None:
        return blocks + [Text("None configured: set `report.pue` and/or `report.carbon_intensity_g_per_kwh` (with "
                              "`report.carbon_source`) in the config and collect again.")]
    return blocks + [Text("Conversions of the measured energy, not measurements: facility energy = energy x PUE; "
                          "CO2e = (facility) energy x the grid's carbon intensity (CodeCarbon, Green Algorithms and "
                          "perun conventions)."), Grid(table)]
