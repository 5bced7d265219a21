"""Successive halving against the full grid and random search, on the synthetic simulator.

``python -m energybench.search.evaluate [--seeds N] [--out DIR]`` (also
``python -m energybench.bench search``). For every seed and workload the
whole grid (configs/paper.yaml's 16 setups, one repeat) is simulated with
:func:`energybench.estimate.synthetic.simulate`, each setup to its threshold
early stop (the paper's threshold and patience; runs capped at 300 epochs
rather than its 1000, see :data:`DEFAULT_MAX_EPOCHS`); the run ids depend on
the seed, so each seed is a fresh draw.
A setup's truth is its energy to the threshold (epochs 1..threshold epoch;
inf if it never gets there). Each strategy returns the energy it spent and
the setup it chose:

* ``full-grid``: every setup to its early stop; it chooses the true best.
* successive halving (``sh-<objective>-e<eta>-r<first rung>``): the rungs of
  :func:`.halving.schedule`; at rung r every setup still in has trained epochs
  1..min(rung end, its own stop) (one that stopped early keeps competing with
  its full history), is scored with :func:`.objectives.scores` on that
  prefix and kept by :func:`.halving.select`; the survivors of the last
  decision train to their early stop and the one with the least measured
  energy to the threshold is chosen. Spent: every setup's epochs trained.
  Zeus's ``max_power_w`` is the simulated GPU's board power (Zeus's MAXPOWER).
* ``random``: setups in a seeded random order, each to its early stop, while
  the spend stays within what the winning energy-aware variant spent on that
  seed (at least one setup; a setup that would overrun is not started, which
  is generous to random search); it chooses the least energy to the threshold
  among those that reached it.

Per strategy and workload: the spend as a share of the full grid's energy
(median, 10th and 90th percentiles) and the regret, true energy to the
threshold of the chosen setup over the best setup's (median, 90th
percentile, share of seeds within 10 %). The target, for the energy-aware
objectives (forecast, sm2, zeus): median spend share <= 0.35 AND regret <=
1.10 in >= 90 % of seeds, on every workload.

Pure computation; the only I/O is in :func:`main`. The simulator's runs are
synthetic: the figures say how the strategies rank on the simulator's model
of the study, not how they do on measured runs.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..bench.stats import paired_difference_per_unit, paired_ratio
from ..config import EarlyStopping, Grid, Search, ZeusObjective
from ..estimate.gpus import lookup
from ..estimate.synthetic import profiles, simulate
from ..workloads import registry
from ..plan import stable_hash
from . import halving, objectives

#: The study's grid and early stopping (configs/paper.yaml).
PAPER_GRID = Grid(batch_sizes=[64, 256, 1024, 4096], learning_rates=[0.1, 0.01, 0.001, 0.0001])
PAPER_EARLY_STOPPING = EarlyStopping(threshold=0.8, patience_epochs=40, max_epochs=1000)
#: The evaluation's cap on a run, epochs: the paper's 1000 doubles the cost of every learning-curve forecast (its
#: simulated future runs to the cap) for the few setups that need more (``--max-epochs 1000`` runs it).
DEFAULT_MAX_EPOCHS = 300
EVAL_EARLY_STOPPING = PAPER_EARLY_STOPPING.model_copy(update={"max_epochs": DEFAULT_MAX_EPOCHS})
DEFAULT_SEEDS = 200
DEFAULT_WORKLOADS = tuple(registry.headlines().values())  # the study's headline workload of each dataset
DEFAULT_HARDWARE = "h100"
OBJECTIVE_ORDER = ("accuracy", "forecast", "sm2", "zeus")
ENERGY_AWARE = ("forecast", "sm2", "zeus")
DEFAULT_ETAS = (2.0, 3.0)
DEFAULT_FIRST_RUNGS = (5, 10)  # epochs of the first rung
#: The target: regret <= TARGET_REGRET in >= TARGET_WITHIN_FRAC of seeds, median spend share <= TARGET_SPEND_FRAC.
TARGET_REGRET = 1.10
TARGET_WITHIN_FRAC = 0.90
TARGET_SPEND_FRAC = 0.35
TARGET_TEXT = (f"median spend share <= {TARGET_SPEND_FRAC:.2f} AND regret <= {TARGET_REGRET:.2f} in "
               f">= {100 * TARGET_WITHIN_FRAC:.0f} % of seeds, on every workload")
FULL_GRID = "full-grid"
RANDOM = "random"


# ---------------------------------------------------------------------------------------------- trajectories


@dataclass(frozen=True)
class Trajectory:
    """One setup's full run to its early stop: per-epoch energy, time and validation accuracy."""

    setup: int
    energy_j: tuple[float, ...]
    duration_s: tuple[float, ...]
    val_accuracy: tuple[float | None, ...]
    threshold_epoch: int | None  # first epoch at the accuracy threshold, 1-based; None: never
    _cum_j: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (len(self.energy_j) == len(self.duration_s) == len(self.val_accuracy)) or not self.energy_j:
            raise ValueError(f"setup {self.setup}: energy, duration and accuracy need the same, non-zero length")
        object.__setattr__(self, "_cum_j", tuple(float(v) for v in np.cumsum(self.energy_j)))

    @property
    def stop_epoch(self) -> int:
        """The epoch early stopping ended the run at."""
        return len(self.energy_j)

    @property
    def total_j(self) -> float:
        """Energy of the whole run, joules."""
        return self._cum_j[-1]

    @property
    def true_e2t_j(self) -> float:
        """Energy of epochs 1..threshold epoch, joules; inf if the threshold is never reached."""
        return self._cum_j[self.threshold_epoch - 1] if self.threshold_epoch else math.inf

    @property
    def best_accuracy(self) -> float:
        """Best validation accuracy of the run."""
        return max((a for a in self.val_accuracy if a is not None and not math.isnan(a)), default=0.0)

    def energy_to_j(self, epochs: int) -> float:
        """Energy of epochs 1..``epochs`` (capped at the stop epoch), joules."""
        n = min(epochs, self.stop_epoch)
        return self._cum_j[n - 1] if n > 0 else 0.0

    def prefix(self, epochs: int) -> objectives.History:
        """The history of epochs 1..``epochs`` (capped at the stop epoch)."""
        n = min(epochs, self.stop_epoch)
        return objectives.History(self.energy_j[:n], self.duration_s[:n], self.val_accuracy[:n])


@dataclass(frozen=True)
class SetupTruth:
    """What the full-grid and random strategies and the regret need of a setup's run."""

    setup: int
    stop_epoch: int
    total_j: float
    true_e2t_j: float  # inf: the threshold is never reached
    best_accuracy: float


def truth(t: Trajectory | SetupTruth) -> SetupTruth:
    """The summary of a trajectory (small enough to travel between processes)."""
    return SetupTruth(t.setup, t.stop_epoch, t.total_j, t.true_e2t_j, t.best_accuracy)


def trajectory(setup: int, energy_j: Sequence[float], duration_s: Sequence[float],
               val_accuracy: Sequence[float | None], threshold: float) -> Trajectory:
    """A :class:`Trajectory` whose threshold epoch is the first epoch with accuracy >= ``threshold``."""
    thr = next((i + 1 for i, a in enumerate(val_accuracy) if a is not None and a >= threshold), None)
    return Trajectory(setup, tuple(float(v) for v in energy_j), tuple(float(v) for v in duration_s),
                      tuple(val_accuracy), thr)


def run_id(seed: int, workload: str, hardware: str, setup: int) -> str:
    """The simulated run's id: a fresh draw per seed, the same draw for the same seed."""
    return stable_hash(["search-evaluate", seed, workload, hardware, setup])


def simulate_grid(seed: int, workload: str, hardware: str = DEFAULT_HARDWARE, grid: Grid = PAPER_GRID,
                  es: EarlyStopping = EVAL_EARLY_STOPPING) -> list[Trajectory]:
    """Every setup of ``grid`` (one repeat) simulated to its early stop, in setup order."""
    es_dict = {"threshold": es.threshold, "patience_epochs": es.patience_epochs, "max_epochs": es.max_epochs,
               "min_delta": es.min_delta}
    out = []
    for setup, batch_size, lr in grid.setups():
        spec = {"run_id": run_id(seed, workload, hardware, setup), "experiment": "search-evaluate",
                "dataset": registry.resolve(workload).dataset, "paradigm": workload, "setup": setup,
                "batch_size": batch_size, "learning_rate": lr, "repeat": 1, "hardware": hardware,
                "early_stopping": es_dict}
        run, epochs, _ = simulate(spec)
        out.append(Trajectory(setup, tuple(r["energy_j"] for r in epochs), tuple(r["duration_s"] for r in epochs),
                              tuple(r["val_accuracy"] for r in epochs), run["threshold_epoch"]))
    return out


# ---------------------------------------------------------------------------------------------- strategies


@dataclass(frozen=True)
class Variant:
    """One successive-halving configuration."""

    objective: str  # "accuracy" | "forecast" | "sm2" | "zeus"
    eta: float = 2.0  # reduction factor
    first_rung_epochs: int = 5
    min_survivors: int = 1

    @property
    def name(self) -> str:
        """``sh-<objective>-e<eta>-r<first rung epochs>`` (plus ``-k<min survivors>`` when above 1)."""
        extra = f"-k{self.min_survivors}" if self.min_survivors > 1 else ""
        return f"sh-{self.objective}-e{self.eta:g}-r{self.first_rung_epochs}{extra}"

    @property
    def energy_aware(self) -> bool:
        """Whether the objective weighs energy (everything but plain accuracy)."""
        return self.objective in ENERGY_AWARE

    def search(self, max_power_w: float | None = None) -> Search:
        """The config section; ``max_power_w`` is Zeus's power limit (None: the highest measured)."""
        return Search(rung_epochs=self.first_rung_epochs, eta=self.eta, min_survivors=self.min_survivors,
                      objective=self.objective, zeus=ZeusObjective(max_power_w=max_power_w))


def default_variants(objectives_: Sequence[str] = OBJECTIVE_ORDER, etas: Sequence[float] = DEFAULT_ETAS,
                     first_rungs: Sequence[int] = DEFAULT_FIRST_RUNGS) -> tuple[Variant, ...]:
    """Every objective x eta x first rung, objective-major, each once."""
    return tuple(dict.fromkeys(Variant(o, float(eta), int(r)) for o in objectives_ for eta in etas
                               for r in first_rungs))


@dataclass(frozen=True)
class Outcome:
    """What one strategy did on one grid."""

    spent_j: float
    chosen: int  # setup number
    trained_epochs: Mapping[int, int]  # setup -> epochs it trained (0: never started)
    pruned_after: Mapping[int, int] = field(default_factory=dict)  # setup -> the rung after which it stopped


Scorer = Callable[[Mapping[int, objectives.History], Search], dict[int, float]]


def plain_scorer(es: EarlyStopping) -> Scorer:
    """Scores straight from :func:`.objectives.scores` (one run per setup)."""
    def score(histories: Mapping[int, objectives.History], search: Search) -> dict[int, float]:
        run_scores = objectives.scores({str(s): h for s, h in histories.items()}, search, es)
        return objectives.setup_scores(run_scores, {str(s): s for s in histories})
    return score


def memo_scorer(es: EarlyStopping) -> Scorer:
    """:func:`plain_scorer`'s scores, with each prefix's energy and time to the threshold computed once.

    For one grid only (a setup's history of n epochs is always the same prefix there). ``forecast`` and ``zeus``
    with a fixed ``max_power_w`` score each candidate from its own :func:`.objectives.to_threshold` (a learning-curve
    fit, the evaluation's cost), and the same prefixes recur across objectives, variants and rungs; their scores
    are :func:`.objectives.scores`' formulas on the memoised values (a test checks they match). ``accuracy``,
    ``sm2`` and ``zeus`` without a power limit (normalised over the candidates) go to :func:`plain_scorer`.
    """
    plain = plain_scorer(es)
    memo: dict[tuple[int, int], objectives.ToThreshold] = {}

    def to_threshold(s: int, h: objectives.History) -> objectives.ToThreshold:
        key = (s, h.epochs)
        if key not in memo:
            memo[key] = objectives.to_threshold(h, es)
        return memo[key]

    def score(histories: Mapping[int, objectives.History], search: Search) -> dict[int, float]:
        if search.objective == "forecast":
            return {s: to_threshold(s, h).energy_j for s, h in histories.items()}
        if search.objective == "zeus" and search.zeus.max_power_w is not None:
            k, power_w = search.zeus.eta_knob, search.zeus.max_power_w
            return {s: k * t.energy_j + (1 - k) * power_w * t.time_s
                    for s, t in ((s, to_threshold(s, h)) for s, h in histories.items())}
        return plain(histories, search)
    return score


Run = Trajectory | SetupTruth


def _pick(trajs: Sequence[Run]) -> int:
    """The least energy to the threshold among those that reached it; else the highest accuracy (ties: lower setup)."""
    reached = [t for t in trajs if math.isfinite(t.true_e2t_j)]
    if reached:
        return min(reached, key=lambda t: (t.true_e2t_j, t.setup)).setup
    return min(trajs, key=lambda t: (-t.best_accuracy, t.setup)).setup


def full_grid(grid: Sequence[Run]) -> Outcome:
    """Every setup to its early stop; the true best is chosen."""
    return Outcome(sum(t.total_j for t in grid), _pick(grid), {t.setup: t.stop_epoch for t in grid})


def successive_halving(grid: Sequence[Trajectory], variant: Variant, es: EarlyStopping,
                       scorer: Scorer | None = None, max_power_w: float | None = None) -> Outcome:
    """Successive halving over ``grid`` (see the module docstring); ``scorer`` defaults to :func:`plain_scorer`."""
    score = scorer or plain_scorer(es)
    search = variant.search(max_power_w)
    by_setup = {t.setup: t for t in grid}
    sched = halving.schedule(search, es.max_epochs, len(grid))
    trained = {t.setup: 0 for t in grid}
    alive = sorted(by_setup)
    pruned_after: dict[int, int] = {}
    for r, (end, keep) in enumerate(zip(sched.ends_epoch, sched.keep)):
        for s in alive:
            trained[s] = min(end, by_setup[s].stop_epoch)
        costs = score({s: by_setup[s].prefix(trained[s]) for s in alive}, search)
        alive, pruned = halving.select(costs, keep)
        pruned_after.update({s: r for s in pruned})
    for s in alive:
        trained[s] = by_setup[s].stop_epoch
    spent_j = sum(by_setup[s].energy_to_j(n) for s, n in trained.items())
    return Outcome(spent_j, _pick([by_setup[s] for s in alive]), trained, pruned_after)


def random_search(grid: Sequence[Run], budget_j: float, rng: np.random.Generator) -> Outcome:
    """Setups in random order, each to its early stop, while the spend stays within ``budget_j`` (at least one)."""
    order = [grid[i] for i in rng.permutation(len(grid))]
    ran: list[Run] = []
    spent_j = 0.0
    for t in order:
        if ran and spent_j + t.total_j > budget_j:
            break
        ran.append(t)
        spent_j += t.total_j
    trained = {t.setup: 0 for t in grid} | {t.setup: t.stop_epoch for t in ran}
    return Outcome(spent_j, _pick(ran), trained)


def random_rng(seed: int, workload: str, hardware: str) -> np.random.Generator:
    """Random search's generator for one seed and workload."""
    return np.random.default_rng(int(stable_hash(["search-evaluate-random", seed, workload, hardware], 8), 16))


# ---------------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class SeedRow:
    """One strategy on one seed's grid."""

    workload: str
    hardware: str
    seed: int
    strategy: str
    spent_j: float
    full_grid_j: float
    spend_frac: float  # spent / the full grid's energy
    chosen_setup: int
    chosen_e2t_j: float  # true energy to the threshold of the chosen setup (inf: never reached)
    best_setup: int
    best_e2t_j: float
    regret: float  # chosen_e2t_j / best_e2t_j; nan where no setup reached the threshold


@dataclass(frozen=True)
class SummaryRow:
    """One strategy over the seeds of one workload (``workload`` "all": pooled)."""

    workload: str
    strategy: str
    seeds: int
    spend_median_frac: float
    spend_p10_frac: float
    spend_p90_frac: float
    regret_median: float
    regret_p90: float
    within_target_frac: float  # share of seeds with regret <= TARGET_REGRET
    energy_aware: bool
    meets_target: bool  # median spend and share within the target (this workload only)


@dataclass(frozen=True)
class Comparison:
    """The winner against a baseline, pooled over workloads and seeds (paired, 95 % intervals from resampled seeds)."""

    baseline: str
    within_diff_pp: tuple[float, float, float]  # percentage points of seeds within the regret target, (est, lo, hi)
    spend_ratio: tuple[float, float, float]  # median spend winner / baseline, (est, lo, hi)
    regret_median: tuple[float, float]  # (winner, baseline)


@dataclass(frozen=True)
class Verdict:
    """Whether the best energy-aware variant meets the target on every workload."""

    met: bool
    winner: str
    workloads_met: int
    workloads: int
    pooled: SummaryRow
    random_budget_of: str
    versus: tuple[Comparison, ...]


@dataclass(frozen=True)
class Evaluation:
    """Everything :func:`evaluate` computed."""

    seeds: tuple[int, ...]
    workloads: tuple[str, ...]
    hardware: str
    early_stopping: EarlyStopping
    variants: tuple[Variant, ...]
    rows: tuple[SeedRow, ...]
    summary: tuple[SummaryRow, ...]  # per workload, then pooled ("all")
    verdict: Verdict | None  # None without an energy-aware variant


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (linear interpolation) of ``values``, inf-safe; nan when empty."""
    v = sorted(values)
    if not v:
        return math.nan
    pos = q * (len(v) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    if v[lo] == v[hi] or math.isinf(v[hi]):
        return v[hi] if pos > lo else v[lo]
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


@dataclass(frozen=True)
class _GridResult:
    workload: str
    seed: int
    grid: tuple[SetupTruth, ...]
    outcomes: dict[str, Outcome]  # full-grid and every variant


def _evaluate_grid(workload: str, seed: int, hardware: str, es: EarlyStopping,
                   variants: tuple[Variant, ...], max_power_w: float | None) -> _GridResult:
    grid = simulate_grid(seed, workload, hardware, PAPER_GRID, es)
    score = memo_scorer(es)
    outcomes = {FULL_GRID: full_grid(grid)}
    for v in variants:
        outcomes[v.name] = successive_halving(grid, v, es, score, max_power_w)
    return _GridResult(workload, seed, tuple(truth(t) for t in grid), outcomes)


def _row(res: _GridResult, hardware: str, strategy: str, out: Outcome) -> SeedRow:
    by_setup = {t.setup: t for t in res.grid}
    full_j = sum(t.total_j for t in res.grid)
    best = by_setup[_pick(res.grid)]
    chosen_e2t = by_setup[out.chosen].true_e2t_j
    regret = chosen_e2t / best.true_e2t_j if math.isfinite(best.true_e2t_j) else math.nan
    return SeedRow(res.workload, hardware, res.seed, strategy, out.spent_j, full_j, out.spent_j / full_j,
                   out.chosen, chosen_e2t, best.setup, best.true_e2t_j, regret)


def summarise(workload: str, strategy: str, rows: Sequence[SeedRow], energy_aware: bool) -> SummaryRow:
    """The metrics of one strategy over ``rows`` (its seeds)."""
    spend = [r.spend_frac for r in rows]
    regret = [r.regret for r in rows if not math.isnan(r.regret)]
    within = sum(r <= TARGET_REGRET for r in regret) / len(regret) if regret else math.nan
    median_spend = quantile(spend, 0.5)
    meets = median_spend <= TARGET_SPEND_FRAC and within >= TARGET_WITHIN_FRAC
    return SummaryRow(workload, strategy, len(rows), median_spend, quantile(spend, 0.1), quantile(spend, 0.9),
                      quantile(regret, 0.5), quantile(regret, 0.9), within, energy_aware, meets)


def _shortfall(s: SummaryRow) -> float:
    """How far a summary misses the target, relative to it (0: met)."""
    return (max(0.0, TARGET_WITHIN_FRAC - s.within_target_frac) / TARGET_WITHIN_FRAC
            + max(0.0, s.spend_median_frac - TARGET_SPEND_FRAC) / TARGET_SPEND_FRAC)


def pick_best(summary: Sequence[SummaryRow], workloads: Sequence[str], energy_aware: bool = True) -> str | None:
    """The best variant (energy-aware ones, or the plain ones): the target met on most workloads; then the
    smallest shortfall, the larger share within the regret target (pooled), the lower median spend (pooled), the
    name. None when no such variant was evaluated."""
    mine = [s for s in summary if s.strategy.startswith("sh-") and s.energy_aware == energy_aware]
    per = [s for s in mine if s.workload in workloads]
    pooled = {s.strategy: s for s in mine if s.workload == "all"}
    names = sorted({s.strategy for s in per})
    if not names:
        return None

    def key(name: str) -> tuple[float, float, float, float, str]:
        rows = [s for s in per if s.strategy == name]
        p = pooled[name]
        return (-sum(s.meets_target for s in rows), sum(_shortfall(s) for s in rows), -p.within_target_frac,
                p.spend_median_frac, name)
    return min(names, key=key)


def _compare(rows: Sequence[SeedRow], winner: str, baseline: str) -> Comparison:
    """Paired comparison over every (workload, seed) both strategies ran on."""
    def by(strategy: str) -> dict[tuple[str, int], SeedRow]:
        return {(r.workload, r.seed): r for r in rows if r.strategy == strategy}
    w, b = by(winner), by(baseline)
    keys = sorted(k for k in w if k in b and not math.isnan(w[k].regret))
    if not keys:  # no grid had a setup that reached the threshold
        nan3 = (math.nan, math.nan, math.nan)
        return Comparison(baseline, nan3, nan3, (math.nan, math.nan))
    hit_w = [100.0 * (w[k].regret <= TARGET_REGRET) for k in keys]
    hit_b = [100.0 * (b[k].regret <= TARGET_REGRET) for k in keys]
    diff = paired_difference_per_unit(hit_w, hit_b, [1.0] * len(keys))
    spend = paired_ratio([[w[k].spend_frac] for k in keys], [[b[k].spend_frac] for k in keys])
    return Comparison(baseline, diff, spend,
                      (quantile([w[k].regret for k in keys], 0.5), quantile([b[k].regret for k in keys], 0.5)))


def _plain_baseline(winner: Variant, sh_names: Sequence[str], summary: Sequence[SummaryRow],
                    workloads: Sequence[str]) -> str | None:
    """Plain successive halving (accuracy) on the winner's rungs; else the best plain variant evaluated."""
    twin = Variant("accuracy", winner.eta, winner.first_rung_epochs, winner.min_survivors).name
    return twin if twin in sh_names else pick_best(summary, workloads, energy_aware=False)


def _summaries(rows: Sequence[SeedRow], workloads: Sequence[str], strategies: Sequence[str],
               aware: set[str]) -> list[SummaryRow]:
    out = []
    for wl in (*workloads, "all"):
        for st in strategies:
            sel = [r for r in rows if r.strategy == st and (wl == "all" or r.workload == wl)]
            if sel:
                out.append(summarise(wl, st, sel, st in aware))
    return out


def evaluate(seeds: int | Sequence[int] = DEFAULT_SEEDS, workloads: Sequence[str] = DEFAULT_WORKLOADS,
             variants: Sequence[Variant] | None = None, *, hardware: str = DEFAULT_HARDWARE,
             early_stopping: EarlyStopping = EVAL_EARLY_STOPPING, jobs: int = 1) -> Evaluation:
    """Every strategy on every seed's grid of every workload (see the module docstring).

    ``seeds``: a count (0..N-1) or the seeds. ``jobs``: worker processes for the grids (the result does not
    depend on it). Zeus's power limit is the simulated GPU's board power (Zeus's MAXPOWER).
    """
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else tuple(dict.fromkeys(int(s) for s in seeds))
    workloads = tuple(dict.fromkeys(workloads))
    vs = tuple(dict.fromkeys(variants)) if variants is not None else default_variants()
    gpu = lookup(hardware)
    max_power_w = gpu.tdp_w if gpu is not None else None
    tasks = [(wl, s, hardware, early_stopping, vs, max_power_w) for wl in workloads for s in seed_list]
    if jobs > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_evaluate_grid, *zip(*tasks), chunksize=max(1, len(tasks) // (4 * jobs))))
    else:
        results = [_evaluate_grid(*t) for t in tasks]

    rows = [_row(res, hardware, name, out) for res in results for name, out in res.outcomes.items()]
    aware = {v.name for v in vs if v.energy_aware}
    sh_names = [v.name for v in vs]
    summary = _summaries(rows, workloads, [FULL_GRID, *sh_names], aware)
    winner = pick_best(summary, workloads)
    verdict = None
    if winner is not None:
        spent = {(r.workload, r.seed): r.spent_j for r in rows if r.strategy == winner}
        for res in results:
            out = random_search(res.grid, spent[(res.workload, res.seed)], random_rng(res.seed, res.workload, hardware))
            rows.append(_row(res, hardware, RANDOM, out))
        summary = _summaries(rows, workloads, [FULL_GRID, RANDOM, *sh_names], aware)
        per = [s for s in summary if s.strategy == winner and s.workload != "all"]
        pooled = next(s for s in summary if s.strategy == winner and s.workload == "all")
        win = next(v for v in vs if v.name == winner)
        plain = _plain_baseline(win, sh_names, summary, workloads)
        baselines = ([plain] if plain else []) + [RANDOM]
        verdict = Verdict(all(s.meets_target for s in per), winner, sum(s.meets_target for s in per), len(per),
                          pooled, winner, tuple(_compare(rows, winner, b) for b in baselines))
    order = {name: i for i, name in enumerate([FULL_GRID, RANDOM, *sh_names])}
    rows.sort(key=lambda r: (list(workloads).index(r.workload), r.seed, order[r.strategy]))
    return Evaluation(seed_list, tuple(workloads), hardware, early_stopping, vs, tuple(rows), tuple(summary), verdict)


# ---------------------------------------------------------------------------------------------- output


def _num(v: float, fmt: str = ".2f") -> str:
    if math.isnan(v):
        return "n/a"
    return "inf" if math.isinf(v) else format(v, fmt)


def _table(rows: Sequence[SummaryRow], random_label: str) -> list[str]:
    head = ("strategy", "spend med", "spend p10", "spend p90", "regret med", "regret p90",
            f"regret<={TARGET_REGRET:.2f}", "target")
    body = []
    for s in rows:
        name = random_label if s.strategy == RANDOM else s.strategy
        target = ("met" if s.meets_target else "NOT met") + ("" if s.energy_aware else " (baseline)")
        body.append((name, _num(s.spend_median_frac), _num(s.spend_p10_frac), _num(s.spend_p90_frac),
                     _num(s.regret_median, ".3f"), _num(s.regret_p90, ".3f"), _num(100 * s.within_target_frac, ".1f")
                     + " %", target))
    widths = [max(len(r[i]) for r in (head, *body)) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i in (0, len(cells) - 1) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return [line(head), line(["-" * w for w in widths]), *(line(r) for r in body)]


def _verdict_line(v: Verdict) -> str:
    p = v.pooled
    parts = [(f"verdict: {'met' if v.met else 'NOT met'}: best energy-aware variant {v.winner} meets the target on "
              f"{v.workloads_met}/{v.workloads} workloads (pooled: median spend {p.spend_median_frac:.2f} of the full "
              f"grid, regret <= {TARGET_REGRET:.2f} in {100 * p.within_target_frac:.1f} % of seeds)")]
    for c in v.versus:
        d, r = c.within_diff_pp, c.spend_ratio
        label = "random search at its budget" if c.baseline == RANDOM else f"plain SH on accuracy ({c.baseline})"
        parts.append(f"vs {label}: {d[0]:+.1f} pp of seeds within {100 * (TARGET_REGRET - 1):.0f} % regret "
                     f"[95 % CI {d[1]:+.1f}, {d[2]:+.1f}], median regret {_num(c.regret_median[0], '.3f')} vs "
                     f"{_num(c.regret_median[1], '.3f')}, median spend ratio x{r[0]:.2f} [{r[1]:.2f}, {r[2]:.2f}]")
    return "; ".join(parts)


def format_table(ev: Evaluation) -> str:
    """The report: settings, one aligned table per workload, the verdict line."""
    es = ev.early_stopping
    random_label = f"random (budget {ev.verdict.random_budget_of})" if ev.verdict else RANDOM
    grid = (f"batch {'/'.join(map(str, PAPER_GRID.batch_sizes))} x lr "
            f"{'/'.join(f'{x:g}' for x in PAPER_GRID.learning_rates)}")
    out = [
        ("Successive halving vs the full grid and random search, on the synthetic simulator "
         "(energybench.estimate.synthetic; simulated runs, not measurements)"),
        (f"{len(ev.seeds)} seeds per workload, hardware {ev.hardware}, {len(PAPER_GRID.setups())} setups ({grid}), "
         f"one repeat; early stopping: threshold {es.threshold:g}, patience {es.patience_epochs} epochs, "
         f"max {es.max_epochs} epochs"),
        ("spend = energy spent / the full grid's; regret = true energy to the threshold of the chosen setup / the "
         "best setup's; med/p10/p90 over seeds"),
        (f"variants sh-<objective>-e<eta>-r<first rung epochs>; target for the energy-aware ones "
         f"({', '.join(ENERGY_AWARE)}): {TARGET_TEXT}"),
        ("random: setups in random order, each to its early stop, while the spend stays within the named "
         "variant's spend on that seed (at least one setup)"),
    ]
    for wl in ev.workloads:
        rows = [s for s in ev.summary if s.workload == wl]
        out += ["", f"== {wl} on {ev.hardware}: {rows[0].seeds if rows else 0} seeds ==", *_table(rows, random_label)]
    out.append("")
    out.append(_verdict_line(ev.verdict) if ev.verdict else "verdict: NOT met: no energy-aware variant was evaluated")
    return "\n".join(out)


def _write_csv(path: Path, rows: Sequence[Any]) -> None:
    dicts = [asdict(r) for r in rows]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(dicts[0]) if dicts else [])
        w.writeheader()
        w.writerows(dicts)


# ---------------------------------------------------------------------------------------------- CLI


class _ArgError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _ArgError(message)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v}: must be at least 1")
    return v


def _list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _parser() -> _Parser:
    p = _Parser(prog="python -m energybench.search.evaluate",
                description="Evaluate successive-halving strategies on the synthetic simulator.")
    p.add_argument("--seeds", type=_positive_int, default=DEFAULT_SEEDS, help="seeds per workload (0..N-1)")
    p.add_argument("--workloads", type=_list, default=list(DEFAULT_WORKLOADS), help="comma-separated paradigms")
    p.add_argument("--hardware", default=DEFAULT_HARDWARE, help="a GPU the simulator knows (h100, a100, rtx3090)")
    p.add_argument("--objectives", type=_list, default=list(OBJECTIVE_ORDER), help="comma-separated objectives")
    p.add_argument("--etas", type=_list, default=[f"{e:g}" for e in DEFAULT_ETAS], help="reduction factors")
    p.add_argument("--first-rungs", type=_list, default=[str(r) for r in DEFAULT_FIRST_RUNGS],
                   help="epochs of the first rung")
    p.add_argument("--max-epochs", type=_positive_int, default=DEFAULT_MAX_EPOCHS,
                   help=f"cap on a run, epochs (the paper: {PAPER_EARLY_STOPPING.max_epochs})")
    p.add_argument("--jobs", type=_positive_int, default=min(2, os.cpu_count() or 1), help="worker processes")
    p.add_argument("--out", type=Path, default=None, help="write search_evaluation.csv and _summary.csv here")
    return p


def _check(args: argparse.Namespace) -> tuple[list[Variant], EarlyStopping]:
    """The variants and early stopping of valid arguments; raises _ArgError naming the first bad one."""
    for wl in args.workloads or [""]:
        info = registry.get(wl)
        if wl not in profiles() or info is None or info.monitor != "val_accuracy":
            ok = ", ".join(n for n, p in registry.known().items() if p.monitor == "val_accuracy" and n in profiles())
            raise _ArgError(f"--workloads: {wl!r} is not an accuracy-monitored workload; known: {ok}")
    gpu = lookup(args.hardware)
    if gpu is None or gpu.cuda_cores == 0:
        raise _ArgError(f"--hardware {args.hardware!r}: the simulator knows GPUs only (e.g. h100, a100, rtx3090)")
    bad = [o for o in args.objectives if o not in OBJECTIVE_ORDER]
    if bad or not args.objectives:
        raise _ArgError(f"--objectives: unknown {', '.join(bad) or '(none)'}; known: {', '.join(OBJECTIVE_ORDER)}")
    try:
        etas = [float(e) for e in args.etas]
        rungs = [int(r) for r in args.first_rungs]
    except ValueError as exc:
        raise _ArgError(f"--etas / --first-rungs: {exc}") from None
    if not etas or any(not e > 1 for e in etas):
        raise _ArgError("--etas: every reduction factor must be greater than 1")
    if not rungs or any(r < 1 or r >= args.max_epochs for r in rungs):
        raise _ArgError(f"--first-rungs: every first rung must be 1..{args.max_epochs - 1} epochs (below --max-epochs)")
    es = PAPER_EARLY_STOPPING.model_copy(update={"max_epochs": args.max_epochs})
    return list(default_variants(args.objectives, etas, rungs)), es


def main(argv: list[str] | None = None) -> int:
    """``python -m energybench.search.evaluate``: print the tables and the verdict; exit 0 either way, 2 for bad
    arguments. ``argv`` None means no arguments (the defaults)."""
    try:
        args = _parser().parse_args([] if argv is None else argv)
        variants, es = _check(args)
    except _ArgError as exc:
        print(f"energybench.search.evaluate: {exc}", file=sys.stderr)
        return 2
    ev = evaluate(args.seeds, args.workloads, variants, hardware=args.hardware, early_stopping=es, jobs=args.jobs)
    print(format_table(ev), flush=True)
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
            _write_csv(args.out / "search_evaluation.csv", ev.rows)
            _write_csv(args.out / "search_evaluation_summary.csv", ev.summary)
        except OSError as exc:
            print(f"energybench.search.evaluate: cannot write to {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.out / 'search_evaluation.csv'} and {args.out / 'search_evaluation_summary.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
