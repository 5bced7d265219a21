"""Drawing helpers both figure modules share (:mod:`.figures`, :mod:`.figures_study`). matplotlib is
imported inside the functions, so importing this stays instant."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import polars as pl

from .paradigms import MAIN_PARADIGM

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


def setup_grid(table: pl.DataFrame, part: pl.DataFrame, column: str) -> tuple[str, list[Any], list[Any], np.ndarray]:
    """The main paradigm of ``part`` (one dataset x hardware) as a batch size x learning rate grid of ``column``.

    Rows and columns span the dataset's whole grid in ``table`` (batch size ascending, learning rate
    descending, as Table 1), so a missing cell stays NaN. Returns (paradigm, batch sizes, rates, grid).
    """
    import numpy as np

    dataset = part["dataset"][0]
    paradigms = sorted(part["paradigm"].unique())
    paradigm = MAIN_PARADIGM.get(dataset) if MAIN_PARADIGM.get(dataset) in paradigms else paradigms[0]
    part = part.filter(pl.col("paradigm") == paradigm)
    whole = table.filter(pl.col("dataset") == dataset)
    batch_sizes = sorted(whole["batch_size"].unique())
    rates = sorted(whole["learning_rate"].unique(), reverse=True)
    grid = np.full((len(batch_sizes), len(rates)), np.nan)
    for row in part.iter_rows(named=True):
        grid[batch_sizes.index(row["batch_size"]), rates.index(row["learning_rate"])] = row[column]
    return paradigm, batch_sizes, rates, grid
