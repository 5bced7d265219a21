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
from dataclasses import dataclass

import numpy as np

#: The study's stabilising epoch and window size.
STABLE_EPOCH = 10
WINDOW_EPOCHS = 5
#: FLUSS: subsequence length (epochs) and the largest corrected arc curve value that counts as a change.
FLUSS_M = 3
FLUSS_MAX_CAC = 0.4


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
