"""The workshop version's two figures that the journal drops, drawn from the ``total_energy`` table.

* Workshop Fig. 3 (:func:`relative_energy_figures`): each setup's energy to
  early stop as a percent of the worst setup, batch size x learning rate, per
  dataset x hardware (the main paradigm of the dataset).
* Workshop Fig. 5 (:func:`multitask_setup_figure`): per setup, attribute and
  identity trained separately (stacked) beside the multitask run, one panel
  per hardware.

Registered in :data:`energybench.figures.FIGURES`; this module takes the
figure context duck-typed (``tables``, ``colours``) and imports nothing above it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import polars as pl

from .figure_parts import DEFAULT_AXES, axis_label, facet_label, facet_suffix, facets, new_figure, setup_grid, slug
from .tables import multitask_types

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Workshop Fig. 5's bars by Table 3 type, in stacking order, and their colours.
MULTITASK_BARS = {"attribute": ("attribute", "#56B4E9"), "identity": ("identity", "#E69F00"),
                  "both": ("both (multitask)", "#009E73")}


def relative_name(dataset: str, hardware: str) -> str:
    return f"relative_energy_{slug(dataset)}_{slug(hardware)}"


def relative_energy_figures(ctx: Any) -> Iterator[tuple[str, Figure]]:
    """Workshop Fig. 3: energy to early stop as % of the worst setup, batch size x learning rate."""
    import matplotlib
    import numpy as np

    table = ctx.tables["total_energy"].filter(pl.col("energy_of_worst_pct").is_not_null())
    axes = getattr(ctx, "heatmap_axes", DEFAULT_AXES)
    for (dataset, hardware), part, facet in ((k, p, f) for k, p in sorted(table.group_by(["dataset", "hardware"]),
                                                                     key=lambda kv: kv[0]) for f in facets(p, axes)):
        paradigm, batch_sizes, rates, grid = setup_grid(table, part, "energy_of_worst_pct", facet, axes)
        fig = new_figure(1.3 * len(rates) + 2.2, 0.8 * len(batch_sizes) + 1.6)
        ax = fig.subplots()
        cmap = matplotlib.colormaps["Blues"].with_extremes(bad="white")
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=100, aspect="auto")
        for (i, j), value in np.ndenumerate(grid):
            if not math.isnan(value):
                ax.text(j, i, f"{value:.0f} %", ha="center", va="center",
                        color="white" if value > 60 else "black", fontsize=9)
        ax.set_xticks(range(len(rates)), [f"{r:g}" if isinstance(r, float) else str(r) for r in rates])
        ax.set_yticks(range(len(batch_sizes)), [f"{b:g}" if isinstance(b, float) else str(b) for b in batch_sizes])
        ax.set_xlabel(axis_label(axes[1]))
        ax.set_ylabel(axis_label(axes[0]))
        where = f" ({facet_label(facet)})" if facet else ""
        ax.set_title(f"{paradigm} on {hardware}{where}: energy to early stop, % of the worst setup",
                     color=ctx.colours.get(hardware, "black"), fontsize=9)
        fig.colorbar(image, ax=ax, label="energy (% of the worst setup)")
        yield relative_name(dataset, hardware) + facet_suffix(facet, axes), fig


def multitask_setup_figure(ctx: Any) -> Iterator[tuple[str, Figure]]:
    """Workshop Fig. 5: per setup, attribute + identity trained separately (stacked) beside multitask (Wh)."""
    by_type = {t: p for p, t in multitask_types().items()}
    table = ctx.tables["total_energy"].filter(pl.col("paradigm").is_in(list(by_type.values()))
                                              & pl.col("energy_mean_wh").is_not_null())
    if by_type.get("both") not in set(table["paradigm"]):  # nothing to set the single tasks against
        return
    hardware = sorted(table["hardware"].unique())
    fig = new_figure(max(6.0, 0.45 * table["setup"].n_unique() + 2.5), 3.2 * len(hardware))
    axes = fig.subplots(len(hardware), 1, squeeze=False)[:, 0]
    for ax, hw in zip(axes, hardware):
        part = table.filter(pl.col("hardware") == hw)
        setups = sorted(part["setup"].unique())
        energy = {(r["paradigm"], r["setup"]): r["energy_mean_wh"] for r in part.iter_rows(named=True)}
        bottom = [0.0] * len(setups)
        for kind in ("attribute", "identity"):
            paradigm = by_type.get(kind)
            label, colour = MULTITASK_BARS[kind]
            heights = [energy.get((paradigm, s), 0.0) for s in setups]
            ax.bar([i - 0.2 for i in range(len(setups))], heights, 0.4, bottom=bottom, color=colour,
                   label=f"{label} (separately)")
            bottom = [b + h for b, h in zip(bottom, heights)]
        label, colour = MULTITASK_BARS["both"]
        ax.bar([i + 0.2 for i in range(len(setups))], [energy.get((by_type["both"], s), math.nan) for s in setups],
               0.4, color=colour, label=label)
        ax.set_xticks(range(len(setups)), [str(s) for s in setups])
        ax.set_xlabel("setup (Table 1 number)")
        ax.set_ylabel("energy to early stop (Wh)")
        ax.set_title(f"{hw}: single tasks vs multitask per setup", color=ctx.colours.get(hw, "black"), fontsize=9)
        ax.legend(fontsize=7)
    yield "multitask_setups", fig
