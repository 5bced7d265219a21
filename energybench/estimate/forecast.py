"""Forecast of a running run's energy to its accuracy threshold and to its early stop. Pure (numpy).

Energy. Each epoch to come costs the mean energy of the latest
``window_epochs`` epochs from the stable epoch on: the latest complete
stable window, the regime the run will keep (del Rey et al.'s per-epoch
stability).

Epochs. The validation-accuracy curve so far (its last ``fit_epochs``
epochs) is fitted with two learning-curve families, as learning-curve
extrapolation does (Domhan et al. 2015 use an ensemble of such families):

* exponential saturation, ``acc = A - B exp(-e / tau)`` (A <= 1, B >= 0;
  tau on a log grid, A and B by least squares);
* a power law in the odds, ``logit(acc) = a + b log(e)``;

and the family with the smaller squared error extrapolates. The future is
then simulated (fixed seed): ``n_boot`` times the fitted curve, and
``n_boot`` times a curve refitted to resampled residuals, each plus Gaussian
noise of the residuals' standard deviation, are run through energybench's own threshold early stopping from the
run's current state (its best accuracy, threshold epoch and patience so
far). So a noisy plateau keeps setting records and extends patience, and a
curve levelling off just below the threshold can still cross it by chance,
as real runs do. The median over the fitted curve's simulations is the
forecast threshold epoch and stop epoch (at most ``max_epochs``); a run whose
median never reaches the threshold is forecast to run to ``max_epochs``.

Uncertainty. The 10th and 90th percentiles over all simulations give the
``*_low`` / ``*_high`` fields. They cover the curve's noise and the fit's
uncertainty only, not a change of regime (a late jump in accuracy) nor which
family is right; ``energybench estimate evaluate`` reports how often the
actual energy falls inside (``interval_coverage_frac``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..stopping import ThresholdEarlyStopping
from .online import STABLE_EPOCH, WINDOW_EPOCHS

FIT_EPOCHS = 20
BOOTSTRAP = 200
QUANTILES = (0.1, 0.9)
TAU_GRID = np.geomspace(0.5, 2000.0, 60)


@dataclass(frozen=True)
class Forecast:
    """Energy (joules) a running run will have spent at its threshold and at its early stop; epochs 1-based."""

    epochs_done: int
    energy_so_far_j: float
    epoch_energy_j: float  # per-epoch energy assumed for the epochs to come
    family: str  # "exponential" or "power-odds"
    threshold_reached: bool
    threshold_epoch: int | None  # reached, or forecast (median); None = not before max_epochs
    threshold_epoch_low: int | None
    threshold_epoch_high: int | None
    energy_to_threshold_j: float  # to the threshold epoch, or to max_epochs if it is never reached
    stop_epoch: int
    stop_epoch_low: int
    stop_epoch_high: int
    energy_to_stop_j: float
    energy_to_stop_low_j: float
    energy_to_stop_high_j: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _fit_power_odds(e: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Rows of ``acc`` [runs, epochs] -> parameters [runs, 2] (a, b) of logit(acc) = a + b log e."""
    x = np.column_stack([np.ones_like(e), np.log(e)])
    coef, *_ = np.linalg.lstsq(x, _logit(acc).T, rcond=None)
    return coef.T


def _fit_exponential(e: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Rows of ``acc`` -> parameters [runs, 3] (A, B, tau) of A - B exp(-e / tau), best tau on the grid."""
    best_sse = np.full(len(acc), np.inf)
    best = np.column_stack([acc.mean(axis=1), np.zeros(len(acc)), np.ones(len(acc))])  # flat if nothing fits
    for tau in TAU_GRID:
        x = np.column_stack([np.ones_like(e), -np.exp(-e / tau)])
        coef, *_ = np.linalg.lstsq(x, acc.T, rcond=None)
        a, b = coef
        sse = ((x @ coef - acc.T) ** 2).sum(axis=0)
        ok = (a <= 1.0) & (b >= 0) & (sse < best_sse)
        best_sse = np.where(ok, sse, best_sse)
        best[ok] = np.column_stack([a, b, np.full(len(a), tau)])[ok]
    return best


def _curve(family: str, params: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Accuracy [runs, len(e)] of each parameter row at epochs ``e``."""
    if family == "exponential":
        a, b, tau = params[:, :1], params[:, 1:2], params[:, 2:3]
        return a - b * np.exp(-e[None, :] / tau)
    a, b = params[:, :1], params[:, 1:2]
    return 1.0 / (1.0 + np.exp(-(a + b * np.log(e)[None, :])))


def _fit(family: str, e: np.ndarray, acc: np.ndarray) -> np.ndarray:
    return _fit_exponential(e, acc) if family == "exponential" else _fit_power_odds(e, acc)


def _simulate(curves: np.ndarray, noise: np.ndarray, first_epoch: int, state: ThresholdEarlyStopping,
              max_epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """Run the early-stopping rule on every row of ``curves + noise`` (epochs ``first_epoch``..).

    Vectorised over rows, the rule is :class:`ThresholdEarlyStopping`'s,
    started from ``state`` (the run's own, after the epochs measured).
    Returns (threshold epoch, stop epoch) per row; inf where never.
    """
    rows = len(curves)
    thr = np.full(rows, np.inf if state.threshold_epoch is None else float(state.threshold_epoch))
    best = np.full(rows, -np.inf if state.best is None else float(state.best))
    best_epoch = np.full(rows, 0.0 if state.best_epoch is None else float(state.best_epoch))
    stop = np.full(rows, float(max_epochs))
    running = np.ones(rows, dtype=bool)
    for j in range(curves.shape[1]):
        e = float(first_epoch + j)
        v = curves[:, j] + noise[:, j]
        crossing = running & np.isinf(thr) & (v >= state.threshold)
        improved = running & ~crossing & (v > best + state.min_delta)
        thr = np.where(crossing, e, thr)
        best = np.where(crossing | improved, v, best)
        best_epoch = np.where(crossing | improved, e, best_epoch)
        done = running & np.isfinite(thr) & (e - np.maximum(best_epoch, thr) >= state.patience_epochs)
        stop = np.where(done, e, stop)
        running &= ~done
        if not running.any():
            break
    return thr, stop


def forecast(energy_j: Sequence[float], val_accuracy: Sequence[float | None], *, threshold: float,
             patience_epochs: int, max_epochs: int, min_delta: float = 0.0,
             stable_epoch: int = STABLE_EPOCH, window_epochs: int = WINDOW_EPOCHS,
             fit_epochs: int = FIT_EPOCHS, n_boot: int = BOOTSTRAP, seed: int = 0) -> Forecast | None:
    """The forecast after the epochs given (see the module docstring); None before the stable window
    is complete, or without accuracies (the autoencoder)."""
    energy = np.asarray(energy_j, dtype=float)
    acc = np.array([np.nan if v is None else float(v) for v in val_accuracy], dtype=float)
    n, k, w = len(energy), int(stable_epoch), int(window_epochs)
    if n < k + w - 1 or len(acc) != n or not np.all(np.isfinite(energy)):
        return None
    epochs = np.arange(1, n + 1, dtype=float)
    sel = np.isfinite(acc) & (epochs > n - fit_epochs)
    if sel.sum() < 3:
        return None
    epoch_j = float(energy[max(k - 1, n - w):].mean())
    so_far_j = float(energy.sum())
    state = ThresholdEarlyStopping(monitor="val_accuracy", threshold=threshold, patience_epochs=patience_epochs,
                                   max_epochs=max_epochs, min_delta=min_delta)
    for v in acc:
        state.update(None if np.isnan(v) else float(v))

    e, y = epochs[sel], acc[sel]
    fits = {f: _fit(f, e, y[None, :]) for f in ("exponential", "power-odds")}
    sse = {f: float(((_curve(f, p, e) - y) ** 2).sum()) for f, p in fits.items()}
    family = min(sse, key=lambda f: sse[f])
    fitted = _curve(family, fits[family], e)[0]
    resid = y - fitted
    rng = np.random.default_rng(seed)
    boot = fitted[None, :] + rng.choice(resid, size=(n_boot, len(resid)), replace=True)
    # Rows 0..n_boot-1 follow the fitted curve (noise only: the point forecast); the rest a refitted one each.
    params = np.vstack([np.repeat(fits[family], n_boot, axis=0), _fit(family, e, np.clip(boot, 0.0, 1.0))])
    future = np.arange(n + 1, max_epochs + 1, dtype=float)
    if state.stop_reason is not None or len(future) == 0:
        thr = np.full(len(params), np.inf if state.threshold_epoch is None else float(state.threshold_epoch))
        stop = np.full(len(params), float(n))
    else:
        # Gaussian, not resampled residuals: a discrete noise plus a curve still creeping up would
        # set a record every few epochs forever.
        noise = rng.normal(0.0, max(float(resid.std(ddof=1)), 1e-6), size=(len(params), len(future)))
        thr, stop = _simulate(_curve(family, params, future), noise, n + 1, state, max_epochs)
    point = slice(0, n_boot)

    def energy_at(epoch: float) -> float:
        """Energy of epochs 1..epoch: measured up to now, forecast after."""
        if epoch <= n:
            return float(energy[:int(epoch)].sum())
        return so_far_j + epoch_j * (min(epoch, max_epochs) - n)

    lo, hi = QUANTILES
    stop_point = int(round(float(np.median(stop[point]))))
    stop_lo, stop_hi = (int(round(float(np.quantile(stop, q)))) for q in (lo, hi))
    stop_lo, stop_hi = min(stop_lo, stop_point), max(stop_hi, stop_point)
    never = float(max_epochs + 1)  # "never" as a number, so that quantiles stay finite
    thr = np.where(np.isfinite(thr), thr, never)
    thr_point = float(np.median(thr[point]))
    thr_lo, thr_hi = (float(np.quantile(thr, q)) for q in (lo, hi))

    def epoch_or_none(v: float) -> int | None:
        return int(round(v)) if v < never else None

    return Forecast(
        epochs_done=n, energy_so_far_j=so_far_j, epoch_energy_j=epoch_j, family=family,
        threshold_reached=state.threshold_epoch is not None,
        threshold_epoch=epoch_or_none(thr_point), threshold_epoch_low=epoch_or_none(thr_lo),
        threshold_epoch_high=epoch_or_none(thr_hi),
        energy_to_threshold_j=energy_at(min(thr_point, max_epochs)),
        stop_epoch=stop_point, stop_epoch_low=stop_lo, stop_epoch_high=stop_hi,
        energy_to_stop_j=energy_at(stop_point), energy_to_stop_low_j=energy_at(stop_lo),
        energy_to_stop_high_j=energy_at(stop_hi),
    )
