"""Drawing helpers both figure modules share (:mod:`.figures`, :mod:`.figures_study`). matplotlib is
imported inside the functions, so importing this stays instant."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import polars as pl

from .workloads.registry import headlines

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure on an Agg canvas, without touching pyplot's global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def slug(text: str) -> str:
    """``text`` as a file-name part."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "unnamed"


#: The heatmaps' rows and columns unless chosen otherwise (the study's Table 1 grid).
DEFAULT_AXES = ("batch_size", "learning_rate")


def axis_value(row: dict[str, Any], axis: str) -> Any:
    """The value of grid axis ``axis`` in a table row (batch_size, learning_rate, or an extra axis of ``params``)."""
    if axis in ("batch_size", "learning_rate"):
        return row[axis]
    return _params(row.get("params")).get(axis)


def _params(text: str | None) -> dict[str, Any]:
    import json

    return json.loads(text) if text else {}


def swept_axes(table: pl.DataFrame) -> list[str]:
    """batch_size, learning_rate and every extra axis present in ``table``'s ``params``."""
    extra = set()
    if "params" in table.columns:
        for text in table["params"].drop_nulls().unique().to_list():
            extra |= set(_params(text))
    return ["batch_size", "learning_rate", *sorted(extra)]


def facets(part: pl.DataFrame, axes: tuple[str, str] = DEFAULT_AXES) -> list[dict[str, Any]]:
    """One dict per facet of ``part``: a value of every swept axis that is not one of the heatmap's ``axes``."""
    others = [a for a in swept_axes(part) if a not in axes]
    if not others:
        return [{}]
    seen = {tuple(axis_value(r, a) for a in others) for r in part.iter_rows(named=True)}
    return [dict(zip(others, v)) for v in sorted(seen, key=lambda vs: [(x is None, str(type(x)), x) for x in vs])]


def facet_label(facet: dict[str, Any]) -> str:
    """``width=8, weight_decay=0.0001`` of a facet ('' without one)."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in facet.items())


def facet_suffix(facet: dict[str, Any], axes: tuple[str, str] = DEFAULT_AXES) -> str:
    """A file-name suffix for one heatmap ('' for the study's own, so its names stay)."""
    pair = "" if tuple(axes) == DEFAULT_AXES else f"_by_{slug(axes[0])}_{slug(axes[1])}"
    return pair + (f"_{slug(facet_label(facet).replace(', ', '_'))}" if facet else "")


def _in_facet(row: dict[str, Any], facet: dict[str, Any]) -> bool:
    return all(axis_value(row, k) == v for k, v in facet.items())


def axis_label(axis: str) -> str:
    """An axis label with its unit."""
    return {"batch_size": "batch size (samples)", "learning_rate": "learning rate (constant, dimensionless)"}.get(
        axis, axis.replace("_", " "))


def setup_grid(table: pl.DataFrame, part: pl.DataFrame, column: str, facet: dict[str, Any] | None = None,
               axes: tuple[str, str] = DEFAULT_AXES) -> tuple[str, list[Any], list[Any], np.ndarray]:
    """The main workload of ``part`` (one dataset x hardware) as an ``axes[0]`` x ``axes[1]`` grid of ``column``.

    Rows and columns span the dataset's whole grid in ``table`` (ascending; the learning rate
    descending, as Table 1), so a missing cell stays NaN; ``facet`` fixes every other swept axis
    (:func:`facets`). Returns (workload, row values, column values, grid).
    """
    import numpy as np

    dataset = part["dataset"][0]
    paradigms = sorted(part["paradigm"].unique())
    paradigm = headlines().get(dataset) if headlines().get(dataset) in paradigms else paradigms[0]
    rows = [r for r in part.filter(pl.col("paradigm") == paradigm).iter_rows(named=True) if _in_facet(r, facet or {})]
    whole = list(table.filter(pl.col("dataset") == dataset).iter_rows(named=True))

    def values(axis: str) -> list[Any]:
        found = {axis_value(r, axis) for r in whole} - {None}
        return sorted(found, key=lambda v: (str(type(v)), v), reverse=axis == "learning_rate")

    ys, xs = values(axes[0]), values(axes[1])
    grid = np.full((len(ys), len(xs)), np.nan)
    for row in rows:
        y, x = axis_value(row, axes[0]), axis_value(row, axes[1])
        if y in ys and x in xs and row[column] is not None:
            grid[ys.index(y), xs.index(x)] = row[column]
    return paradigm, ys, xs, grid
