"""energybench.search.evaluate: the strategies on hand-made grids and on the simulator, the table, the CLI."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from energybench.bench.__main__ import BENCHMARKS
from energybench.config import EarlyStopping
from energybench.search import evaluate as ev
from energybench.search import halving

REPO = Path(__file__).resolve().parents[2]
ES = EarlyStopping(threshold=0.8, patience_epochs=3, max_epochs=20)
#: Two cheap variants (one learning-curve objective) for the simulator tests.
FEW = (ev.Variant("accuracy", 2.0, 10), ev.Variant("forecast", 3.0, 10))


def _ramp(setup: int, epochs: int, per_epoch_j: float, slope: float, start: float = 0.3) -> ev.Trajectory:
    """A fake run: constant energy and time per epoch, accuracy rising by ``slope`` per epoch (capped at 0.95)."""
    acc = [min(0.95, start + slope * e) for e in range(1, epochs + 1)]
    return ev.trajectory(setup, [per_epoch_j] * epochs, [1.0] * epochs, acc, ES.threshold)


def _tiny_grid() -> list[ev.Trajectory]:
    """Six setups; setup 3 is the best (fast and cheap), setup 6 stops after 3 epochs without the threshold."""
    return [
        _ramp(1, 14, 10.0, 0.06),
        _ramp(2, 17, 5.0, 0.04),
        _ramp(3, 9, 2.0, 0.10),
        _ramp(4, 20, 1.0, 0.01),
        _ramp(5, 12, 8.0, 0.08),
        ev.trajectory(6, [4.0] * 3, [1.0] * 3, [0.1, 0.1, 0.1], ES.threshold),
    ]


@pytest.fixture(scope="module")
def small() -> ev.Evaluation:
    return ev.evaluate(2, ("pamap2-baseline",), FEW, jobs=1)


def test_trajectory_truth() -> None:
    t = _ramp(3, 9, 2.0, 0.10)
    assert t.threshold_epoch == 5 and t.true_e2t_j == pytest.approx(10.0) and t.total_j == pytest.approx(18.0)
    assert t.energy_to_j(4) == pytest.approx(8.0) and t.energy_to_j(99) == pytest.approx(18.0)
    assert t.prefix(4).epochs == 4 and t.prefix(99).epochs == 9
    assert math.isinf(_tiny_grid()[5].true_e2t_j)


@pytest.mark.parametrize("objective", ["accuracy", "sm2", "forecast", "zeus"])
def test_halving_on_a_tiny_grid_spends_the_prefixes_it_trained(objective: str) -> None:
    grid = _tiny_grid()
    variant = ev.Variant(objective, 2.0, 4)
    sched = halving.schedule(variant.search(), ES.max_epochs, len(grid))
    assert sched.ends_epoch == (4, 8) and sched.keep == (3, 1)
    out = ev.successive_halving(grid, variant, ES, max_power_w=300.0)
    by_setup = {t.setup: t for t in grid}
    survivors = [s for s in by_setup if s not in out.pruned_after]
    assert len(survivors) == 1 and out.chosen == survivors[0]
    for s, rung in out.pruned_after.items():  # a pruned setup trained to its rung's end (or its own stop)
        assert out.trained_epochs[s] == min(sched.ends_epoch[rung], by_setup[s].stop_epoch)
    assert out.trained_epochs[out.chosen] == by_setup[out.chosen].stop_epoch
    assert out.trained_epochs[6] == 3  # stopped before the first rung's end: its own epochs only
    assert out.spent_j == pytest.approx(sum(by_setup[s].energy_to_j(n) for s, n in out.trained_epochs.items()))
    full = ev.full_grid(grid)
    assert out.spent_j < full.spent_j and full.chosen == 3


def test_halving_with_two_survivors_chooses_the_least_energy_to_threshold() -> None:
    grid = _tiny_grid()
    out = ev.successive_halving(grid, ev.Variant("accuracy", 2.0, 4, min_survivors=2), ES)
    survivors = sorted(s for s in out.trained_epochs if s not in out.pruned_after)
    assert len(survivors) == 2
    assert out.chosen == min(survivors, key=lambda s: grid[s - 1].true_e2t_j)


def test_halving_without_rungs_is_the_full_grid() -> None:
    grid = _tiny_grid()
    out = ev.successive_halving(grid, ev.Variant("accuracy", 2.0, 25), ES)
    assert not out.pruned_after and out.spent_j == pytest.approx(ev.full_grid(grid).spent_j)


def test_random_search_stays_within_its_budget() -> None:
    grid = _tiny_grid()
    smallest = min(t.total_j for t in grid)
    for seed in range(30):
        for budget_j in (0.0, smallest, 60.0, 150.0, 1e9):
            out = ev.random_search(grid, budget_j, np.random.default_rng(seed))
            ran = [s for s, n in out.trained_epochs.items() if n > 0]
            assert ran and out.chosen in ran
            assert out.spent_j <= budget_j or len(ran) == 1  # the one-setup minimum may overrun
            assert out.spent_j == pytest.approx(sum(grid[s - 1].total_j for s in ran))
    assert len([n for n in ev.random_search(grid, 1e9, np.random.default_rng(0)).trained_epochs.values() if n]) == 6


def test_random_search_picks_the_most_accurate_when_none_reached() -> None:
    grid = [ev.trajectory(1, [1.0] * 3, [1.0] * 3, [0.2, 0.3, 0.4], 0.8),
            ev.trajectory(2, [1.0] * 3, [1.0] * 3, [0.5, 0.6, 0.7], 0.8)]
    assert ev.random_search(grid, 1e9, np.random.default_rng(0)).chosen == 2


def test_memoised_scores_match_objectives_scores() -> None:
    grid = ev.simulate_grid(7, "celeba-identity", es=ev.EVAL_EARLY_STOPPING)
    plain, memo = ev.plain_scorer(ev.EVAL_EARLY_STOPPING), ev.memo_scorer(ev.EVAL_EARLY_STOPPING)
    for n in (5, 12):
        hs = {t.setup: t.prefix(n) for t in grid[:6]}
        for variant in (ev.Variant(o) for o in ev.OBJECTIVE_ORDER):
            for power_w in (None, 700.0):
                search = variant.search(power_w)
                want, got = plain(hs, search), memo(hs, search)
                assert got.keys() == want.keys()
                assert all(got[s] == pytest.approx(want[s], rel=1e-12) for s in want), (variant.name, power_w, n)


def test_full_grid_has_regret_one_and_spends_everything(small: ev.Evaluation) -> None:
    full = [r for r in small.rows if r.strategy == ev.FULL_GRID]
    assert len(full) == 2
    assert all(r.regret == 1.0 and r.spend_frac == 1.0 and r.chosen_setup == r.best_setup for r in full)
    sh = [r for r in small.rows if r.strategy.startswith("sh-")]
    assert sh and all(0 < r.spend_frac < 1 for r in sh) and all(r.regret >= 1.0 for r in sh)
    rand = [r for r in small.rows if r.strategy == ev.RANDOM]
    budget = {r.seed: r.spent_j for r in small.rows if r.strategy == small.verdict.random_budget_of}
    assert len(rand) == 2 and all(r.spent_j <= budget[r.seed] or r.spent_j < r.full_grid_j for r in rand)


def test_seeds_are_fresh_draws_and_the_table_is_deterministic(small: ev.Evaluation) -> None:
    again = ev.evaluate(2, ("pamap2-baseline",), FEW, jobs=2)
    assert ev.format_table(again) == ev.format_table(small) and again.rows == small.rows
    full_j = {r.seed: r.full_grid_j for r in small.rows if r.strategy == ev.FULL_GRID}
    assert full_j[0] != full_j[1]


def test_format_table_has_a_row_per_strategy_and_a_verdict(small: ev.Evaluation) -> None:
    text = ev.format_table(small)
    for name in (ev.FULL_GRID, ev.RANDOM, *(v.name for v in FEW)):
        assert name in text
    verdict = [line for line in text.splitlines() if line.startswith("verdict: ")]
    assert len(verdict) == 1 and ("verdict: met" in verdict[0] or "verdict: NOT met" in verdict[0])
    assert "plain SH on accuracy (sh-accuracy-e2-r10)" in verdict[0]  # no same-rung twin: the best plain variant


def test_quantile_is_inf_safe() -> None:
    assert ev.quantile([1.0, 2.0, 3.0], 0.5) == 2.0
    assert ev.quantile([1.0, 2.0], 0.5) == 1.5
    assert ev.quantile([1.0, math.inf], 0.9) == math.inf and ev.quantile([1.0, math.inf, math.inf], 0.0) == 1.0
    assert math.isnan(ev.quantile([], 0.5))


def test_main_prints_the_tables_and_a_verdict(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert ev.main(["--seeds", "3", "--first-rungs", "10", "--out", str(tmp_path)]) == 0  # 8 variants: fast
    out = capsys.readouterr().out
    assert "== pamap2-baseline on h100: 3 seeds ==" in out and "== celeba-identity on h100: 3 seeds ==" in out
    assert sum(line.startswith("verdict: ") for line in out.splitlines()) == 1
    rows = (tmp_path / "search_evaluation.csv").read_text().splitlines()
    assert rows[0].startswith("workload,hardware,seed,strategy") and len(rows) == 1 + 2 * 3 * (2 + 8)
    assert (tmp_path / "search_evaluation_summary.csv").read_text().count("\n") == 1 + 3 * (2 + 8)


@pytest.mark.parametrize("argv", [["--seeds", "0"], ["--seeds", "many"], ["--workloads", "pamap2-autoencoder"],
                                  ["--etas", "1"], ["--first-rungs", "300"], ["--objectives", "speed"],
                                  ["--hardware", "tpu"], ["--bogus"]])
def test_bad_arguments_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert ev.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("energybench.search.evaluate: ") and "Traceback" not in err


def test_module_entry_point_rejects_bad_arguments_without_a_traceback() -> None:
    r = subprocess.run([sys.executable, "-m", "energybench.search.evaluate", "--seeds", "-1"], check=False,
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_constants_follow_the_paper_config_and_bench_lists_it() -> None:
    paper = yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())
    assert sorted(paper["grid"]["batch_sizes"]) == sorted(ev.PAPER_GRID.batch_sizes)
    assert sorted(paper["grid"]["learning_rates"]) == sorted(ev.PAPER_GRID.learning_rates)
    stop = paper["early_stopping"]
    assert (stop["threshold"], stop["patience_epochs"], stop["max_epochs"]) == (
        ev.PAPER_EARLY_STOPPING.threshold, ev.PAPER_EARLY_STOPPING.patience_epochs, ev.PAPER_EARLY_STOPPING.max_epochs)
    assert BENCHMARKS["search"] == "energybench.search.evaluate"
