"""The rungs of successive halving and the choice of survivors. Pure.

A bracket is the setups of one workload on one hardware (every repeat of a
setup goes on or stops together). Rung ``r`` ends at epoch
``ceil(first x eta^r)`` (capped at ``max_epochs``, strictly increasing); after
it, ``max(min_survivors, floor(n / eta))`` of the ``n`` setups still in go on.
Rungs are added while more than ``min_survivors`` setups are in and the next
rung ends before ``max_epochs``; the survivors of the last decision train to
early stopping (the final pass).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..config import Search


@dataclass(frozen=True)
class Schedule:
    """The rungs of one bracket: where each ends and how many setups it keeps."""

    ends_epoch: tuple[int, ...]  # the epoch rung r ends at (a decision follows), 1-based
    keep: tuple[int, ...]  # setups that go on after rung r
    n_setups: int

    @property
    def rungs(self) -> int:
        """Rungs that end in a decision (the final pass, to early stopping, is rung ``rungs``)."""
        return len(self.ends_epoch)

    @property
    def passes(self) -> int:
        """Worker launches a surviving run needs: one per rung, and the final one."""
        return self.rungs + 1

    def rung_of_epoch(self, epoch: int) -> int:
        """The rung epoch ``epoch`` belongs to (``rungs`` for epochs of the final pass)."""
        for r, end in enumerate(self.ends_epoch):
            if epoch <= end:
                return r
        return self.rungs

    def until_epoch(self, rung: int) -> int | None:
        """The last epoch of ``rung``; None for the final pass (early stopping decides)."""
        return self.ends_epoch[rung] if rung < self.rungs else None


def schedule(search: Search, max_epochs: int, n_setups: int) -> Schedule:
    """The rungs for ``n_setups`` setups of runs capped at ``max_epochs``."""
    first = search.first_rung_epochs(max_epochs)
    ends: list[int] = []
    keep: list[int] = []
    n, end = n_setups, first
    while n > search.min_survivors and end < max_epochs:
        ends.append(end)
        n = max(search.min_survivors, math.floor(n / search.eta))
        keep.append(n)
        end = max(end + 1, min(max_epochs, math.ceil(first * search.eta ** len(ends))))
    return Schedule(tuple(ends), tuple(keep), n_setups)


def select(scores: Mapping[int, float], keep: int) -> tuple[list[int], list[int]]:
    """(survivors, pruned) setups: the ``keep`` lowest scores; NaN ranks last, ties go to the lower setup."""
    def key(setup: int) -> tuple[bool, float, int]:
        s = scores[setup]
        return (s != s, s if s == s else 0.0, setup)

    ranked = sorted(scores, key=key)
    return sorted(ranked[:keep]), sorted(ranked[keep:])
