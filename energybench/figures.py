"""The paper's figures (PNG + PDF) from a dataset and its tables.

Each entry of :data:`FIGURES` turns a :class:`FigureContext` into zero or more
named matplotlib figures; a figure without data is skipped, never an error.
matplotlib is imported inside the functions (Agg canvas, no pyplot state), so
importing this module, and ``energybench --help``, stays instant. Every
hardware target keeps one colour in every figure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from . import figures_study
from .errors import ResultsError
from .figure_parts import (DEFAULT_AXES, axis_label, facet_label, facet_suffix, facets, new_figure, setup_grid, slug,
                           swept_axes)
from .paths import DatasetPaths, atomic_path, figure_paths, table_paths
from .states import State
from .tables import SEARCH_TABLES, TABLES, compute_tables, load_dataset

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Fixed colours (Okabe-Ito) of the study's hardware; other targets take FALLBACK_COLOURS in name order.
HARDWARE_COLOURS = {"h100": "#0072B2", "a100": "#D55E00", "rtx3090": "#009E73", "cpu": "#7F7F7F"}
FALLBACK_COLOURS = ("#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
#: Fig. 5's scenario lines (colours outside the hardware palette).
KIND_COLOURS = {"best": "#332288", "average": "#999933", "worst": "#AA4499"}
PHASE_COLOURS = {"idle": "#BBBBBB", "train": "#0072B2", "eval": "#E69F00", "checkpoint": "#CC79A7"}
#: The paradigm each dataset's Fig. 3 heatmap shows, when present.
MULTITASK_LABELS = {"attribute": "attribute", "identity": "identity", "both": "both (multitask)"}
MAX_POWER_POINTS = 20_000


def hardware_colours(names: list[str]) -> dict[str, str]:
    """One colour per hardware name: the known palette (also matched inside a name, e.g. ``gpu-h100``), else a cycle."""
    colours: dict[str, str] = {}
    others = []
    for name in sorted(set(names)):
        squashed = re.sub(r"[-_ ]", "", name.lower())
        known = next((c for key, c in HARDWARE_COLOURS.items() if key in squashed), None)
        if known:
            colours[name] = known
        else:
            others.append(name)
    for i, name in enumerate(others):
        colours[name] = FALLBACK_COLOURS[i % len(FALLBACK_COLOURS)]
    return colours


@dataclass(frozen=True)
class FigureContext:
    """Everything a figure may draw from."""

    runs: pl.DataFrame
    epochs: pl.DataFrame
    tables: dict[str, pl.DataFrame]
    samples_dir: Path
    colours: dict[str, str]
    run_id: str | None = None
    heatmap_axes: tuple[str, str] = DEFAULT_AXES  # the heatmaps' rows and columns; other swept axes are facets


def _grid(n: int, ncols: int, panel_in: tuple[float, float]) -> tuple[Figure, list]:
    ncols = min(n, ncols)
    nrows = math.ceil(n / ncols)
    fig = new_figure(panel_in[0] * ncols, panel_in[1] * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _hardware_legend(fig: Figure, hardware: list[str], colours: dict[str, str]) -> None:
    """One legend for the whole figure, above the panels."""
    from matplotlib.patches import Patch

    handles = [Patch(color=colours.get(hw, "black"), label=hw) for hw in hardware]
    fig.legend(handles=handles, title="hardware", loc="outside upper center", ncols=len(hardware), fontsize=8,
               title_fontsize=8)


def heatmap_name(dataset: str, hardware: str) -> str:
    """The name of the Fig. 3 heatmap of one dataset x hardware (the report links to it)."""
    return f"energy_per_epoch_{slug(dataset)}_{slug(hardware)}"


def _facetted(table: pl.DataFrame, axes: tuple[str, str]) -> Iterator[tuple[tuple[Any, ...], pl.DataFrame,
                                                                           dict[str, Any]]]:
    """(dataset, hardware), its rows and one facet (a value of every other swept axis), in a stable order."""
    for key, part in sorted(table.group_by(["dataset", "hardware"]), key=lambda kv: kv[0]):
        for facet in facets(part, axes):
            yield key, part, facet


def _tick(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def energy_per_epoch_figures(ctx: FigureContext) -> Iterator[tuple[str, Figure]]:
    """Fig. 3: heatmap of mean energy per epoch (mWh), batch size x learning rate, per dataset x hardware."""
    import matplotlib
    import numpy as np

    table = ctx.tables["energy_per_epoch"].filter(pl.col("epoch_energy_mean_mwh").is_not_null())
    axes = ctx.heatmap_axes
    for (dataset, hardware), part, facet in _facetted(table, axes):
        paradigm, batch_sizes, rates, grid = setup_grid(table, part, "epoch_energy_mean_mwh", facet, axes)
        fig = new_figure(1.3 * len(rates) + 2.2, 0.8 * len(batch_sizes) + 1.6)
        ax = fig.subplots()
        cmap = matplotlib.colormaps["YlOrRd"].with_extremes(bad="white")
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto")
        low, high = np.nanmin(grid), np.nanmax(grid)
        for (i, j), value in np.ndenumerate(grid):
            if not math.isnan(value):
                dark = high > low and (value - low) / (high - low) > 0.6
                text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
                ax.text(j, i, text, ha="center", va="center", color="white" if dark else "black", fontsize=9)
        ax.set_xticks(range(len(rates)), [_tick(r) for r in rates])
        ax.set_yticks(range(len(batch_sizes)), [_tick(b) for b in batch_sizes])
        ax.set_xlabel(axis_label(axes[1]))
        ax.set_ylabel(axis_label(axes[0]))
        where = f" ({facet_label(facet)})" if facet else ""
        ax.set_title(f"{paradigm} on {hardware}{where}: mean energy per epoch", color=ctx.colours.get(hardware, "black"))
        fig.colorbar(image, ax=ax, label="energy per epoch (mWh)")
        yield heatmap_name(dataset, hardware) + facet_suffix(facet, axes), fig


def total_energy_figure(ctx: FigureContext) -> Iterator[tuple[str, Figure]]:
    """Fig. 4: energy per run to early stop (Wh) per setup, grouped by batch size, one colour per hardware."""
    table = ctx.tables["total_energy"].filter(pl.col("energy_mean_wh").is_not_null())
    panels = sorted(table.select("dataset", "paradigm").unique().rows())
    if not panels:
        return
    fig, axes = _grid(len(panels), 2, (6.5, 3.4))
    hardware = sorted(table["hardware"].unique())
    width = 0.8 / len(hardware)
    for ax, (dataset, paradigm) in zip(axes, panels):
        # A slot for every setup of the dataset, so a setup missing in this paradigm shows as a gap.
        setups = table.filter(pl.col("dataset") == dataset).select("setup", "batch_size").unique().sort("setup").rows()
        part = table.filter((pl.col("dataset") == dataset) & (pl.col("paradigm") == paradigm))
        # A gap of one slot between batch-size groups, as the paper's dashed 4x4 grouping.
        x_of, x, previous = {}, 0.0, None
        for setup, batch_size in setups:
            if previous is not None and batch_size != previous:
                ax.axvline(x, color="0.6", linestyle="--", linewidth=0.8)
                x += 1
            x_of[setup], previous = x, batch_size
            x += 1
        for k, hw in enumerate(hardware):
            rows = part.filter(pl.col("hardware") == hw)
            if rows.height == 0:
                continue
            xs = [x_of[s] + (k - (len(hardware) - 1) / 2) * width for s in rows["setup"]]
            ax.bar(xs, rows["energy_mean_wh"].to_list(), width, color=ctx.colours.get(hw, "black"), label=hw,
                   yerr=rows["energy_std_wh"].fill_null(0.0).to_list(), capsize=2, error_kw={"linewidth": 0.8})
        for setup, batch_size in setups:
            if setup == min(s for s, b in setups if b == batch_size):
                ax.text(x_of[setup] - 0.4, 1.0, f"batch {batch_size}", transform=ax.get_xaxis_transform(),
                        va="bottom", fontsize=8)
        ax.set_xticks(list(x_of.values()), [str(s) for s in x_of])
        ax.set_xlabel("setup (Table 1 number, grouped by batch size in samples)")
        ax.set_ylabel("energy to early stop (Wh)")
        ax.set_title(f"{paradigm}", pad=14)
    _hardware_legend(fig, hardware, ctx.colours)
    yield "total_energy", fig


#: Colours of the energy domains in stacked bars.
DOMAIN_COLOURS = {"gpu": "#2f6f9f", "cpu": "#d98c2b", "dram": "#7a9a3a"}


def energy_by_domain_figure(ctx: FigureContext) -> Iterator[tuple[str, Figure]]:
    """Whole-job energy to early stop (Wh) per setup, stacked by domain (GPU, CPU, DRAM).

    Drawn only where at least two domains were metered: a one-domain split is
    the total energy figure again.
    """
    cols = [f"{d}_energy_mean_wh" for d in DOMAIN_COLOURS]
    table = ctx.tables["total_energy"]
    table = table.filter(pl.sum_horizontal(pl.col(c).is_not_null().cast(pl.Int32) for c in cols) >= 2)
    panels = sorted(table.select("dataset", "paradigm", "hardware").unique().rows())
    if not panels:
        return
    fig, axes = _grid(len(panels), 2, (6.0, 3.2))
    for ax, (dataset, paradigm, hw) in zip(axes, panels):
        part = table.filter((pl.col("dataset") == dataset) & (pl.col("paradigm") == paradigm)
                            & (pl.col("hardware") == hw)).sort("setup")
        xs = list(range(part.height))
        bottom = [0.0] * part.height
        for domain, colour in DOMAIN_COLOURS.items():
            values = [_nan(v) if v is not None else 0.0 for v in part[f"{domain}_energy_mean_wh"].to_list()]
            ax.bar(xs, values, 0.7, bottom=bottom, color=colour, label=domain)
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set_xticks(xs, [str(s) for s in part["setup"]])
        ax.set_xlabel("setup (Table 1 number)")
        ax.set_ylabel("energy to early stop (Wh)")
        ax.set_title(f"{paradigm} on {hw}")
    axes[0].legend(fontsize=8, title="domain")
    yield "energy_by_domain", fig


def break_even_figure(ctx: FigureContext) -> Iterator[tuple[str, Figure]]:
    """Fig. 5: cumulative energy over recycling cycles, with pretraining (solid) and from scratch (dashed)."""
    import numpy as np

    table = ctx.tables["break_even"].filter(
        pl.col("kind").is_in(list(KIND_COLOURS)) & pl.col("enc_energy_wh").is_not_null()
        & pl.col("class_energy_wh").is_not_null() & pl.col("enc_class_energy_wh").is_not_null()
    )
    hardware = sorted(table["hardware"].unique())
    if not hardware:
        return
    finite = [c for c in table["cycles"].to_list() if c is not None]
    n_cycles = int(min(100, max(5, math.ceil(1.25 * max(finite, default=8.0)))))
    cycles = np.arange(0, n_cycles + 1)
    fig, axes = _grid(len(hardware), 3, (4.6, 3.6))
    for ax, hw in zip(axes, hardware):
        for row in table.filter(pl.col("hardware") == hw).iter_rows(named=True):
            colour = KIND_COLOURS[row["kind"]]
            where = "" if row["setup"] is None else f", setup {row['setup']}"
            when = f"{row['cycles']:.1f} cycles" if row["pays_off"] else "never"
            ax.plot(cycles, row["enc_energy_wh"] + cycles * row["class_energy_wh"], color=colour,
                    label=f"{row['kind']}{where}: {when}")
            ax.plot(cycles, cycles * row["enc_class_energy_wh"], color=colour, linestyle="--")
            if row["pays_off"] and row["cycles"] <= n_cycles:
                ax.plot([row["cycles"]], [row["cycles"] * row["enc_class_energy_wh"]], "o", color=colour)
        ax.set_xlabel("recycling cycles of the encoder (count)")
        ax.set_ylabel("cumulative energy (Wh)")
        ax.set_title(f"{hw}: solid = pretrained, dashed = from scratch", fontsize=9, color=ctx.colours.get(hw, "black"))
        ax.legend(fontsize=7)
    yield "break_even", fig


def multitask_figure(ctx: FigureContext) -> Iterator[tuple[str, Figure]]:
    """Table 3 as bars: energy per epoch (mWh), epochs, and single tasks vs multitask (Wh) per hardware."""
    table = ctx.tables["multitask"]
    if table.height == 0:
        return
    hardware = sorted(table["hardware"].unique())
    types = [t for t in MULTITASK_LABELS if t in set(table["type"])]
    comparison = table.select("hardware", "single_tasks_energy_mean_wh", "multitask_energy_mean_wh").unique()
    panels = [("epoch_energy_mean_mwh", "epoch_energy_std_mwh", "energy per epoch (mWh)"),
              ("epochs_mean", "epochs_std", "epochs to early stop (count)")]
    has_comparison = comparison["single_tasks_energy_mean_wh"].is_not_null().any()
    fig, axes = _grid(len(panels) + has_comparison, 3, (4.4, 3.4))
    width = 0.8 / len(hardware)
    for ax, (mean, std, label) in zip(axes, panels):
        for k, hw in enumerate(hardware):
            offset = (k - (len(hardware) - 1) / 2) * width
            rows = {r["type"]: r for r in table.filter(pl.col("hardware") == hw).iter_rows(named=True)}
            heights = [_nan(rows.get(t, {}).get(mean)) for t in types]
            errors = [rows.get(t, {}).get(std) or 0.0 for t in types]
            ax.bar([i + offset for i in range(len(types))], heights, width, yerr=errors,
                   color=ctx.colours.get(hw, "black"), label=hw, capsize=2, error_kw={"linewidth": 0.8})
        ax.set_xticks(range(len(types)), [MULTITASK_LABELS[t] for t in types])
        ax.set_xlabel("task type")
        ax.set_ylabel(label)
    if has_comparison:
        ax = axes[-1]
        for k, hw in enumerate(hardware):
            offset = (k - (len(hardware) - 1) / 2) * width
            row = comparison.filter(pl.col("hardware") == hw).row(0, named=True)
            heights = [_nan(row["single_tasks_energy_mean_wh"]), _nan(row["multitask_energy_mean_wh"])]
            ax.bar([offset, 1 + offset], heights, width, color=ctx.colours.get(hw, "black"), label=hw)
        ax.set_xticks([0, 1], ["attribute + identity\n(separately)", "both (multitask)"])
        ax.set_xlabel("training (paired setups)")
        ax.set_ylabel("energy per setup (Wh)")
    _hardware_legend(fig, hardware, ctx.colours)
    yield "multitask", fig


def _pick_run(ctx: FigureContext, sampled: pl.LazyFrame) -> dict | None:
    """The chosen run, else the first completed run (in table order) that has samples."""
    if ctx.run_id is not None:
        candidates = ctx.runs.filter(pl.col("run_id") == ctx.run_id)
    else:
        with_samples = sampled.select("run_id").unique().collect()
        candidates = ctx.runs.filter(pl.col("status") == State.COMPLETED.value).join(with_samples, on="run_id")
    candidates = candidates.sort(["dataset", "paradigm", "hardware", "setup", "repeat", "run_id"], nulls_last=True)
    return candidates.row(0, named=True) if candidates.height else None


def power_figure(ctx: FigureContext) -> Iterator[tuple[str, Figure]]:
    """Power (W) over time (s) of one run, epoch boundaries as vertical lines, phases shaded.

    Long runs are thinned to at most MAX_POWER_POINTS points per attempt (every k-th sample).
    """
    if not ctx.samples_dir.is_dir() or not any(ctx.samples_dir.rglob("*.parquet")):
        return
    sampled = pl.scan_parquet(ctx.samples_dir, hive_partitioning=True)
    run = _pick_run(ctx, sampled)
    if run is None:
        return
    samples = (
        sampled.filter(pl.col("run_id") == run["run_id"])
        .select("attempt", "time_s", "epoch", "phase", "power_w")
        .sort("attempt", "time_s")
        .collect()
    )
    if samples.height == 0 or samples["power_w"].is_null().all():
        return
    start_s = samples["time_s"].min()
    samples = samples.with_columns(t_s=pl.col("time_s") - start_s)
    fig = new_figure(10, 3.6)
    ax = fig.subplots()
    # Shade each contiguous stretch of one phase.
    spans = (
        samples.with_columns(block=(pl.col("phase") != pl.col("phase").shift()).fill_null(True).cum_sum())
        .group_by("block", maintain_order=True)
        .agg(pl.col("phase").first(), pl.col("t_s").min().alias("t0"))
    )
    ends = spans["t0"].to_list()[1:] + [samples["t_s"].max()]
    for (phase, t0), t1 in zip(spans.select("phase", "t0").rows(), ends):
        ax.axvspan(t0, t1, color=PHASE_COLOURS.get(phase, "#DDDDDD"), alpha=0.15, linewidth=0)
    epochs = ctx.epochs.filter(pl.col("run_id") == run["run_id"])
    starts = epochs["start_s"] - start_s
    for t in sorted(set(starts.to_list() + (starts + epochs["duration_s"]).to_list())):
        ax.axvline(t, color="0.3", linestyle=":", linewidth=0.7)
    colour = ctx.colours.get(run["hardware"], "black")
    for _, part in samples.group_by("attempt", maintain_order=True):
        step = max(1, part.height // MAX_POWER_POINTS)
        part = part.gather_every(step)
        ax.plot(part["t_s"].to_list(), [_nan(p) for p in part["power_w"]], color=colour, linewidth=0.8)
    from matplotlib.patches import Patch

    present = [p for p in PHASE_COLOURS if p in set(samples["phase"])]
    ax.legend(handles=[Patch(color=PHASE_COLOURS[p], alpha=0.3, label=p) for p in present], fontsize=8,
              loc="lower right", title="phase", title_fontsize=8)
    ax.set_xlabel("time since the first sample (s)")
    ax.set_ylabel("power (W)")
    ax.set_title(f"{run['paradigm']} setup {run['setup']} repeat {run['repeat']} on {run['hardware']} "
                 f"({run['run_id']}); dotted lines: epoch boundaries", fontsize=9)
    ax.set_xlim(0, samples["t_s"].max() or 1.0)
    ax.set_ylim(bottom=0)
    yield f"power_{slug(run['run_id'])}", fig


#: Every figure family. Tests parametrise over it; add new figures here.
def search_figure(ctx: FigureContext) -> Iterator[tuple[str, Figure]]:
    """The search: energy spent per rung (Wh, bars) and the setups still in (line), one panel per bracket."""
    table = ctx.tables.get("search_rungs")
    if table is None or table.height == 0:
        return
    panels = sorted(table.select("paradigm", "hardware").unique().rows())
    fig, axes = _grid(len(panels), 2, (5.5, 3.2))
    for ax, (paradigm, hardware) in zip(axes, panels):
        rows = table.filter((pl.col("paradigm") == paradigm) & (pl.col("hardware") == hardware)).sort("rung")
        rungs = rows["rung"].to_list()
        ax.bar(rungs, rows["energy_wh"].to_list(), color=ctx.colours.get(hardware, "#2f6f9f"))
        ax.set_xticks(rungs, [str(r) for r in rungs])
        ax.set_xlabel("rung (the last survivors' final pass is the last)")
        ax.set_ylabel("energy spent in the rung (Wh)")
        ax.set_title(f"{paradigm} on {hardware}")
        twin = ax.twinx()
        twin.plot(rungs, rows["runs_trained"].to_list(), color="black", marker="o")
        twin.set_ylabel("runs trained in the rung")
        twin.set_ylim(bottom=0)
    yield "search", fig


FIGURES: dict[str, Callable[[FigureContext], Iterator[tuple[str, Figure]]]] = {
    "energy_per_epoch": energy_per_epoch_figures,
    "total_energy": total_energy_figure,
    "energy_by_domain": energy_by_domain_figure,
    "break_even": break_even_figure,
    "multitask": multitask_figure,
    "relative_energy": figures_study.relative_energy_figures,  # workshop Fig. 3
    "multitask_setups": figures_study.multitask_setup_figure,  # workshop Fig. 5
    "power": power_figure,
    "search": search_figure,
}


def _tables(runs: pl.DataFrame, epochs: pl.DataFrame, tables_dir: Path | None) -> dict[str, pl.DataFrame]:
    """The tables written by ``tables`` when all are there, else computed from the dataset."""
    if tables_dir is not None:
        paths = {name: table_paths(Path(tables_dir), name)[1] for name in TABLES}
        if all(p.is_file() for p in paths.values()):
            tables = {name: pl.read_parquet(p) for name, p in paths.items()}
            for extra in SEARCH_TABLES:  # written by collect for search configs only
                if table_paths(Path(tables_dir), extra)[1].is_file():
                    tables[extra] = pl.read_parquet(table_paths(Path(tables_dir), extra)[1])
            return tables
    return compute_tables(runs, epochs)


def save_figure(fig: Figure, out_dir: Path, name: str) -> list[Path]:
    """Write ``fig`` as PNG and PDF atomically, without timestamps (same data, same bytes)."""
    written = []
    for path, fmt, metadata in zip(figure_paths(out_dir, name), ("png", "pdf"),
                                   ({"Software": None}, {"CreationDate": None, "Creator": None, "Producer": None})):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, metadata=metadata)
        written.append(path)
    return written


def draw_figures(dataset_dir: Path, tables_dir: Path | None, out_dir: Path, *, run_id: str | None = None,
                 heatmap_axes: tuple[str, str] = DEFAULT_AXES) -> list[Path]:
    """Draw every figure of :data:`FIGURES` that has data into ``out_dir``; return the PNG and PDF paths.

    ``heatmap_axes``: the two grid axes the heatmaps show (rows, columns); every other swept axis
    is a facet (one heatmap per value).
    """
    runs, epochs = load_dataset(Path(dataset_dir))
    if run_id is not None and runs.filter(pl.col("run_id") == run_id).height == 0:
        raise ResultsError(f"{run_id}: no such run in {dataset_dir}; pick a run_id from runs.parquet")
    swept = swept_axes(runs) if "params" in runs.columns else list(DEFAULT_AXES)
    bad = [a for a in heatmap_axes if a not in swept]
    if bad or len(set(heatmap_axes)) != 2:
        raise ResultsError(f"--heatmap-axes {','.join(heatmap_axes)}: give two different axes of the grid "
                           f"({', '.join(swept)})")
    ctx = FigureContext(
        runs=runs, epochs=epochs, tables=_tables(runs, epochs, tables_dir),
        samples_dir=DatasetPaths(Path(dataset_dir)).samples_dir,
        colours=hardware_colours(runs["hardware"].drop_nulls().to_list()), run_id=run_id,
        heatmap_axes=tuple(heatmap_axes),  # type: ignore[arg-type]
    )
    written: list[Path] = []
    for family in FIGURES.values():
        for name, fig in family(ctx):
            written += save_figure(fig, Path(out_dir), name)
    return written
