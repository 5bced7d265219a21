"""Pure statistics for the benchmarks: paired ratios with bootstrap intervals, verdicts.

Benchmarks here interleave the modes they compare in *rounds* (every mode runs
once per round, in a shuffled order), so slow drift of a shared machine hits
all modes alike. Intervals resample whole rounds (a paired block bootstrap):
resampling single steps would pretend the steps of one round are independent.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence

Rounds = Sequence[Sequence[float]]  # per round, the values of one mode in that round


def _pooled(rounds: Rounds, idx: Sequence[int]) -> list[float]:
    return [v for i in idx for v in rounds[i]]


def paired_ratio(mode: Rounds, base: Rounds, stat: Callable[[list[float]], float] = statistics.median,
                 *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """``stat(mode) / stat(base)`` over all rounds, and its ``level`` interval from resampled rounds.

    ``mode`` and ``base`` hold the same rounds, in the same order. Returns (ratio, low, high).
    """
    if len(mode) != len(base) or not mode:
        raise ValueError("mode and base need the same, non-zero number of rounds")
    idx = list(range(len(mode)))
    ratio = stat(_pooled(mode, idx)) / stat(_pooled(base, idx))
    rng = random.Random(seed)
    boot = sorted(stat(_pooled(mode, s)) / stat(_pooled(base, s))
                  for s in (rng.choices(idx, k=len(idx)) for _ in range(n_boot)))
    tail = (1.0 - level) / 2.0
    return ratio, boot[int(tail * (n_boot - 1))], boot[int((1.0 - tail) * (n_boot - 1))]


def paired_difference_per_unit(mode: Sequence[float], base: Sequence[float], units: Sequence[float],
                               *, n_boot: int = 1000, seed: int = 0,
                               level: float = 0.95) -> tuple[float, float, float]:
    """``(sum(mode) - sum(base)) / sum(units)`` over rounds, and its interval from resampled rounds.

    E.g. interpreter time lost with a sampler minus without, per reading the sampler took.
    """
    if not (len(mode) == len(base) == len(units)) or not mode:
        raise ValueError("mode, base and units need the same, non-zero number of rounds")

    def est(ix: Sequence[int]) -> float:
        n = sum(units[i] for i in ix)
        return (sum(mode[i] for i in ix) - sum(base[i] for i in ix)) / n if n else float("nan")

    idx = list(range(len(mode)))
    rng = random.Random(seed)
    boot = sorted(est(rng.choices(idx, k=len(idx))) for _ in range(n_boot))
    tail = (1.0 - level) / 2.0
    return est(idx), boot[int(tail * (n_boot - 1))], boot[int((1.0 - tail) * (n_boot - 1))]


def verdict(low: float, high: float, target: float) -> str:
    """Whether an interval shows a ratio at most ``target``: met, NOT met, or not resolved."""
    if high <= target:
        return "met"
    if low > target:
        return "NOT met"
    return "not resolved (interval straddles the target)"
