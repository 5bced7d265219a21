"""Online estimators: a run's energy from a few measured epochs (del Rey et al., eqs. 1 and 2). Pure.

Epochs are numbered from 1. The *stable window* is ``window_epochs`` epochs
starting at the stable epoch k (default 10: the study found power stable
after ten epochs for 90 % of its runs); epochs 1..k-1 are the unstable ones.
With a run of n epochs, s = n - k + 1 stable epochs and t its training time:

* power-based (eq. 1): ``E = P_w x t``, P_w the window's average power
  (its energy over its duration, so short and long epochs weigh right);
* epoch-energy-based (eq. 2): ``E = E_w x s / w + E_u``, E_w the window's
  energy and E_u the measured energy of the unstable epochs.

The stable epoch is either fixed or where FLUSS (Gharghabi et al., via
``stumpy.fluss``) finds the per-epoch power series changing regime.

For a run still training, :func:`forecast` adds the epochs it has yet to run,
from its validation-accuracy curve relative to the early-stopping threshold
(see its docstring for the method and its uncertainty).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: The study's stabilising epoch and window size.
STABLE_EPOCH = 10
WINDOW_EPOCHS = 5
#: FLUSS: subsequence length (epochs) and the largest corrected arc curve value that counts as a change.
FLUSS_M = 3
FLUSS_MAX_CAC = 0.4
#: Learning-curve fit: how many recent epochs, how many bootstrap resamples, which quantiles.
FIT_EPOCHS = 10
BOOTSTRAP = 200
QUANTILES = (0.1, 0.9)


@dataclass(frozen=True)
class OnlineEstimate:
    """Both online estimates of one run's energy, and what they used."""

    stable_epoch: int  # first epoch of the window, 1-based
    window_epochs: int
    epochs: int  # n: epochs of the run (measured or assumed)
    window_energy_j: float  # E_w
    window_power_w: float  # P_w = E_w / window duration
    unstable_energy_j: float  # E_u: epochs 1..k-1
    power_based_j: float  # eq. 1
    epoch_energy_based_j: float  # eq. 2


def power_based_j(window_power_w: float, duration_s: float) -> float:
    """Eq. 1: E = P_w x t (joules = watts x seconds)."""
    return window_power_w * duration_s


def epoch_energy_based_j(window_energy_j: float, window_epochs: int, stable_epochs: int,
                         unstable_energy_j: float) -> float:
    """Eq. 2: E = E_w x s / w + E_u, joules."""
    return window_energy_j * stable_epochs / window_epochs + unstable_energy_j


def estimate(energy_j: Sequence[float], duration_s: Sequence[float], *, stable_epoch: int = STABLE_EPOCH,
             window_epochs: int = WINDOW_EPOCHS, total_epochs: int | None = None,
             total_duration_s: float | None = None) -> OnlineEstimate | None:
    """Both online estimates from the measured epochs 1..len(energy_j); None if the window is not complete.

    Only epochs 1..k+w-1 are used. ``total_epochs`` and ``total_duration_s``
    are the run's n and t (default: the epochs given, all of them).
    """
    e = np.asarray(energy_j, dtype=float)
    d = np.asarray(duration_s, dtype=float)
    k, w = int(stable_epoch), int(window_epochs)
    last = k + w - 1
    if k < 1 or w < 1 or len(e) < last or not np.all(np.isfinite(e[:last])) or d[k - 1:last].sum() <= 0:
        return None
    n = int(total_epochs) if total_epochs is not None else len(e)
    t = float(total_duration_s) if total_duration_s is not None else float(d.sum())
    e_w = float(e[k - 1:last].sum())
    p_w = e_w / float(d[k - 1:last].sum())
    e_u = float(e[:k - 1].sum())
    return OnlineEstimate(stable_epoch=k, window_epochs=w, epochs=n, window_energy_j=e_w, window_power_w=p_w,
                          unstable_energy_j=e_u, power_based_j=power_based_j(p_w, t),
                          epoch_energy_based_j=epoch_energy_based_j(e_w, w, n - k + 1, e_u))


# --- where power stabilises ---------------------------------------------------------------

def _matrix_profile_index(series: np.ndarray, m: int) -> np.ndarray:
    """Nearest-neighbour index of every length-``m`` subsequence (plain Euclidean, not z-normalised).

    Power *levels* are what changes between regimes, so subsequences are not
    z-normalised (that would make a warm-up ramp look like any other slope).
    Exclusion zone m/4 either side, as stumpy's. The series here are
    per-epoch, so an O(n^2) distance matrix is small and needs no JIT.
    """
    windows = np.lib.stride_tricks.sliding_window_view(series, m)
    dist = np.sqrt(((windows[:, None, :] - windows[None, :, :]) ** 2).sum(-1))
    excl = int(math.ceil(m / 4))
    idx = np.arange(len(windows))
    dist[np.abs(idx[:, None] - idx[None, :]) <= excl] = np.inf
    return dist.argmin(axis=1).astype(np.int64)


def fluss_change_epoch(power_w: Sequence[float], *, m: int = FLUSS_M,
                       max_cac: float = FLUSS_MAX_CAC) -> int | None:
    """First epoch (1-based) of the stable regime after a warm-up, as FLUSS sees it; None without one.

    ``power_w`` is one value per epoch from epoch 1. FLUSS counts nearest-
    neighbour arcs crossing each point; a corrected arc curve (CAC) below
    ``max_cac`` (1 = as many crossings as a series without regimes) marks a
    regime boundary. A warm-up ramp keeps the CAC low all along (its
    neighbours are local), so the stable regime starts where the CAC rises
    above ``max_cac`` again after FLUSS's boundary: a few epochs late rather
    than early, which only moves measured epochs into E_u. A change in the
    second half of the series is not a warm-up and is ignored. The
    idealised arc curve is the analytic parabola 2i(n-i)/n (stumpy's default
    estimates it by sampling, which is slow).
    """
    import stumpy

    p = np.asarray(power_w, dtype=float)
    if len(p) < 4 * m or not np.all(np.isfinite(p)):
        return None
    index = _matrix_profile_index(p, m)
    k = len(index)
    i = np.arange(k, dtype=float)
    iac = 2.0 * i * (k - i) / k
    iac[iac == 0] = 1.0
    cac, locs = stumpy.fluss(index, L=m, n_regimes=2, excl_factor=1, custom_iac=iac)
    end = int(locs[0])
    if cac[end] >= max_cac:
        return None
    while end + 1 < k and cac[end + 1] < max_cac:
        end += 1
    epoch = end + 1
    return epoch if epoch <= len(p) // 2 else None


def stable_epoch_of(power_w: Sequence[float], how: int | str, *, default: int = STABLE_EPOCH) -> int:
    """The stable epoch: ``how`` itself when an int; with ``"fluss"`` the detected change, else ``default``."""
    if isinstance(how, int):
        return how
    change = fluss_change_epoch(power_w)
    return change if change is not None else default


# --- forecasting a running run -------------------------------------------------------------

@dataclass(frozen=True)
class Forecast:
    """Energy a running run will have spent at the threshold and at its early stop.

    ``*_low`` / ``*_high`` are the 10th / 90th percentiles of the bootstrap
    (see :func:`forecast`); epoch numbers are 1-based, energies joules.
    """

    epochs_done: int
    energy_so_far_j: float
    epoch_energy_j: float  # per-epoch energy assumed for the epochs to come
    threshold_reached: bool
    threshold_epoch: float | None  # reached, or forecast; None = not before max_epochs
    threshold_epoch_low: float | None
    threshold_epoch_high: float | None
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


def _sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-x))


def _fit_curve(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least squares y = a + b x; slope 0 when x has no spread."""
    if np.ptp(x) == 0:
        return float(y.mean()), 0.0
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)


def _crossing(a: float, b: float, threshold: float) -> float:
    """Epoch at which logit(acc) = a + b log(epoch) reaches ``threshold``; inf if it never does."""
    if b <= 0:
        return math.inf
    log_epoch = (float(_logit(np.array([threshold]))[0]) - a) / b
    return float(math.exp(log_epoch)) if log_epoch < 30 else math.inf


def _plateau(a: float, b: float, start: float, patience: int, gain: float, max_epochs: int) -> float:
    """First epoch >= ``start`` after which the fitted curve gains less than ``gain`` over ``patience`` epochs."""
    if b <= 0:
        return start
    e = np.arange(max(1, math.ceil(start)), max_epochs + 1, dtype=float)
    if len(e) == 0:
        return start
    acc = _sigmoid(a + b * np.log(e))
    ahead = _sigmoid(a + b * np.log(e + patience))
    flat = np.nonzero(ahead - acc <= gain)[0]
    return float(e[flat[0]]) if len(flat) else float(max_epochs)


def forecast(energy_j: Sequence[float], val_accuracy: Sequence[float | None], *, threshold: float,
             patience_epochs: int, max_epochs: int, min_delta: float = 0.0,
             stable_epoch: int = STABLE_EPOCH, window_epochs: int = WINDOW_EPOCHS,
             fit_epochs: int = FIT_EPOCHS, n_boot: int = BOOTSTRAP, seed: int = 0) -> Forecast | None:
    """Forecast of a running run's energy to the threshold and to its early stop.

    Method. The energy of each epoch to come is the mean of the latest
    ``window_epochs`` epochs from the stable epoch on (the latest complete
    window: the regime it will keep). The learning curve is modelled as a
    power law in the odds of validation accuracy, ``logit(acc) = a + b
    log(epoch)``, fitted by least squares to the last ``fit_epochs`` epochs;
    it gives the epoch the threshold is crossed (if not yet) and the *plateau*:
    the first epoch after which the curve gains less than the noise
    (residual standard deviation, at least ``min_delta``) over
    ``patience_epochs``. The run is forecast to stop ``patience_epochs``
    after the later of its best epoch so far and that plateau (the study's
    patience rule), capped at ``max_epochs``; a curve that never reaches the
    threshold runs to ``max_epochs``.

    Uncertainty. The fit's residuals are resampled ``n_boot`` times (fixed
    ``seed``) and the fit repeated; the 10th and 90th percentiles of the
    threshold and stop epochs give the ``*_low``/``*_high`` fields. They
    cover the learning curve's noise only, not a change of regime (a late
    jump in accuracy) or of power; the evaluation reports the errors seen.

    None until the stable window is complete or without accuracies (the
    autoencoder).
    """
    e = np.asarray(energy_j, dtype=float)
    acc = np.array([np.nan if v is None else float(v) for v in val_accuracy], dtype=float)
    n = len(e)
    k, w = int(stable_epoch), int(window_epochs)
    if n < k + w - 1 or len(acc) != n or not np.isfinite(acc).any() or not np.all(np.isfinite(e)):
        return None
    epoch_j = float(e[max(k - 1, n - w):].mean())
    so_far_j = float(e.sum())
    epochs = np.arange(1, n + 1, dtype=float)
    ok = np.isfinite(acc)
    reached_at = next((int(i + 1) for i in range(n) if ok[i] and acc[i] >= threshold), None)
    best_epoch = int(np.nanargmax(np.where(ok, acc, -np.inf)) + 1)
    if reached_at is not None:  # patience runs from the best epoch at or after the threshold
        after = np.where(ok & (epochs >= reached_at), acc, -np.inf)
        best_epoch = int(np.argmax(after + 0.0) + 1)

    sel = ok & (epochs > n - fit_epochs)
    x, y = np.log(epochs[sel]), _logit(acc[sel])
    a, b = _fit_curve(x, y)
    resid = y - (a + b * x)
    noise = max(float(np.std(_sigmoid(a + b * x) - acc[sel])), min_delta)

    def stop_and_cross(a_: float, b_: float) -> tuple[float, float]:
        cross = float(reached_at) if reached_at is not None else _crossing(a_, b_, threshold)
        if cross > max_epochs:
            return math.inf, float(max_epochs)
        plateau = _plateau(a_, b_, max(cross, n), patience_epochs, noise, max_epochs)
        return cross, float(min(max_epochs, max(best_epoch, plateau) + patience_epochs))

    cross, stop = stop_and_cross(a, b)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot if len(resid) > 2 else 0):
        yb = a + b * x + rng.choice(resid, size=len(resid), replace=True)
        boots.append(stop_and_cross(*_fit_curve(x, yb)))
    crosses = np.array([c for c, _ in boots] or [cross])
    stops = np.array([s for _, s in boots] or [stop])
    lo_q, hi_q = QUANTILES

    def q(v: np.ndarray, p: float) -> float:
        return float(np.quantile(v, p)) if np.isfinite(v).any() else math.inf

    stop_lo, stop_hi = max(n, int(round(q(stops, lo_q)))), max(n, int(round(q(stops, hi_q))))
    stop_i = max(n, int(round(stop)))

    def energy_at(epoch: float) -> float:
        return so_far_j + epoch_j * max(0.0, min(epoch, max_epochs) - n)

    finite = math.isfinite(cross)
    return Forecast(
        epochs_done=n, energy_so_far_j=so_far_j, epoch_energy_j=epoch_j,
        threshold_reached=reached_at is not None,
        threshold_epoch=cross if finite else None,
        threshold_epoch_low=q(crosses, lo_q) if finite else None,
        threshold_epoch_high=q(crosses, hi_q) if finite and math.isfinite(q(crosses, hi_q)) else None,
        energy_to_threshold_j=energy_at(math.ceil(cross) if finite else max_epochs),
        stop_epoch=stop_i, stop_epoch_low=min(stop_lo, stop_i), stop_epoch_high=max(stop_hi, stop_i),
        energy_to_stop_j=energy_at(stop_i), energy_to_stop_low_j=energy_at(min(stop_lo, stop_i)),
        energy_to_stop_high_j=energy_at(max(stop_hi, stop_i)),
    )
