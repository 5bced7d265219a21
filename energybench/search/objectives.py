"""The scores successive halving ranks setups by after a rung. Pure (numpy). Lower is better.

Each objective sees every candidate's :class:`History` (one per run; repeats
of a setup are averaged after scoring) and the early-stopping settings:

* ``forecast``: the forecast energy to reach the accuracy threshold
  (:func:`energybench.estimate.forecast.forecast` on the rung's epochs, its
  stable window shortened to fit the rung; the measured energy once the
  threshold is reached; energy to ``max_epochs`` for a curve that never gets there).
* ``zeus``: Zeus's cost (You et al., NSDI 2023),
  ``eta_knob x ETA + (1 - eta_knob) x max_power_w x TTA``, ETA and TTA the
  forecast energy and time to the threshold; ``max_power_w`` the device's
  limit from the config, else the highest mean power any candidate drew.
* ``sm2``: SM2's score (Geissler et al., ARCS 2025) as docs/search.md states
  it: ``alpha x P - beta x E`` with P the best validation accuracy and E the
  energy per epoch, both min-max normalised over the rung's candidates;
  the cost is its negative.
* ``accuracy``: the best validation accuracy alone (plain successive halving), negated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..config import MIN_CURVE_EPOCHS as MIN_FORECAST_EPOCHS
from ..config import EarlyStopping, Search
from ..estimate import forecast as fc


@dataclass(frozen=True)
class History:
    """One run's epochs so far (all attempts, epoch 1 on)."""

    energy_j: tuple[float, ...]
    duration_s: tuple[float, ...]
    val_accuracy: tuple[float | None, ...]

    @property
    def epochs(self) -> int:
        return len(self.energy_j)

    @property
    def best_accuracy(self) -> float:
        accs = [a for a in self.val_accuracy if a is not None and a == a]
        return max(accs) if accs else 0.0


@dataclass(frozen=True)
class ToThreshold:
    """A run's (forecast) energy and time to its accuracy threshold."""

    energy_j: float
    time_s: float
    reached: bool  # measured (the threshold was reached), not forecast


def to_threshold(h: History, es: EarlyStopping) -> ToThreshold:
    """Energy and time to the threshold: measured if reached, else forecast from the epochs so far."""
    e = np.asarray(h.energy_j, dtype=float)
    d = np.asarray(h.duration_s, dtype=float)
    for i, a in enumerate(h.val_accuracy):
        if a is not None and a >= es.threshold:
            return ToThreshold(float(e[:i + 1].sum()), float(d[:i + 1].sum()), True)
    n = h.epochs
    window = max(1, min(es.window_epochs, n // 2))
    stable = max(1, min(es.stable_epoch, n - window + 1))
    f = fc.forecast(h.energy_j, h.val_accuracy, threshold=es.threshold, patience_epochs=es.patience_epochs,
                    max_epochs=es.max_epochs, min_delta=es.min_delta, stable_epoch=stable,
                    window_epochs=window, n_boot=64) if n >= MIN_FORECAST_EPOCHS else None
    epoch_j = float(e[stable - 1:].mean()) if n else 0.0
    epoch_s = float(d[stable - 1:].mean()) if n else 0.0
    if f is None:  # too few epochs to fit a curve: assume it runs to max_epochs
        rest = es.max_epochs - n
        return ToThreshold(float(e.sum()) + epoch_j * rest, float(d.sum()) + epoch_s * rest, False)
    target = f.threshold_epoch if f.threshold_epoch is not None else es.max_epochs
    rest = max(0, min(target, es.max_epochs) - n)
    return ToThreshold(f.energy_to_threshold_j, float(d.sum()) + epoch_s * rest, False)


def _minmax(v: np.ndarray) -> np.ndarray:
    span = float(v.max() - v.min()) if len(v) else 0.0
    return (v - v.min()) / span if span > 0 else np.zeros_like(v)


def scores(histories: Mapping[str, History], search: Search, es: EarlyStopping) -> dict[str, float]:
    """Each run's cost under ``search.objective`` (lower is better)."""
    ids = list(histories)
    hs = [histories[i] for i in ids]
    if not hs:
        return {}
    kind = search.objective
    if kind == "accuracy":
        return {i: -h.best_accuracy for i, h in zip(ids, hs)}
    if kind == "sm2":
        p = _minmax(np.array([h.best_accuracy for h in hs]))
        e = _minmax(np.array([sum(h.energy_j) / max(h.epochs, 1) for h in hs]))
        score = search.sm2.alpha * p - search.sm2.beta * e
        return {i: float(-s) for i, s in zip(ids, score)}
    tt = [to_threshold(h, es) for h in hs]
    if kind == "forecast":
        return {i: t.energy_j for i, t in zip(ids, tt)}
    max_power_w = search.zeus.max_power_w or max(
        (sum(h.energy_j) / sum(h.duration_s) for h in hs if sum(h.duration_s) > 0), default=0.0)
    k = search.zeus.eta_knob
    return {i: k * t.energy_j + (1 - k) * max_power_w * t.time_s for i, t in zip(ids, tt)}


def setup_scores(run_scores: Mapping[str, float], setup_of: Mapping[str, int]) -> dict[int, float]:
    """A setup's score: the mean of its runs' (repeats') scores."""
    by: dict[int, list[float]] = {}
    for rid, s in run_scores.items():
        by.setdefault(setup_of[rid], []).append(s)
    return {setup: float(np.mean(v)) for setup, v in by.items()}


def measures(h: History, es: EarlyStopping) -> dict[str, float | int | bool]:
    """What a decision records of one run besides its score."""
    t = to_threshold(h, es)
    return {"epochs": h.epochs, "energy_j": float(sum(h.energy_j)), "duration_s": float(sum(h.duration_s)),
            "best_val_accuracy": h.best_accuracy, "energy_to_threshold_j": t.energy_j,
            "time_to_threshold_s": t.time_s, "threshold_reached": t.reached}


def objective_needs_curve(search: Search) -> bool:
    """Whether the objective extrapolates a learning curve (needs :data:`MIN_FORECAST_EPOCHS`)."""
    return search.objective in ("forecast", "zeus")


__all__: Sequence[str] = ("History", "ToThreshold", "to_threshold", "scores", "setup_scores", "measures",
                          "MIN_FORECAST_EPOCHS", "objective_needs_curve")
