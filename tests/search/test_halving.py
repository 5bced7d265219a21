"""Successive halving's pure parts: the config section, the rungs, the survivors, the objectives."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from energybench.config import EarlyStopping, Search, parse_config
from energybench.errors import ConfigError
from energybench.search import halving, objectives
from energybench.search.objectives import History

from ..conftest import minimal_config


def _config(tmp_path: Path, search: dict[str, Any], **over: Any) -> Any:
    cfg = minimal_config(tmp_path, early_stopping={"max_epochs": 20, "patience_epochs": 3}, search=search, **over)
    return parse_config(cfg, tmp_path / "exp.yaml")


@pytest.mark.parametrize("search, words", [
    ({"rung_epochs": 2, "eta": 1}, "eta 1.0: the reduction factor must be greater than 1"),
    ({"eta": 2}, "exactly one"),
    ({"rung_epochs": 2, "rung_fraction": 0.1}, "exactly one"),
    ({"rung_epochs": 20}, "the first rung (20 epochs) must be shorter than early_stopping.max_epochs (20)"),
    ({"rung_epochs": 2, "min_survivors": 4}, "search.min_survivors 4: the grid has 4 setups"),
    ({"rung_epochs": 2, "objective": "forecast"}, "the first rung needs at least 3 epochs (it has 2)"),
    ({"rung_epochs": 3, "objective": "cheapest"}, "search.objective"),
    ({"rung_epochs": 3, "speed": 1}, "unknown key"),
])
def test_impossible_settings_are_one_line_errors(tmp_path: Path, search: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, search)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_workloads_a_search_cannot_rank_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pretraining chain"):
        _config(tmp_path, {"rung_epochs": 3}, paradigms=["pamap2-autoencoder", "pamap2-frozen"])
    with pytest.raises(ConfigError, match="no accuracy threshold"):
        _config(tmp_path, {"rung_epochs": 3, "objective": "accuracy"}, paradigms=["pamap2-autoencoder"])


def test_a_search_changes_the_run_ids_and_none_keeps_them(tmp_path: Path) -> None:
    from energybench.plan import plan

    plain = plan(parse_config(minimal_config(tmp_path), tmp_path / "a.yaml"))
    searched = plan(_config(tmp_path, {"rung_epochs": 3}))
    assert {s.run_id for s in plain}.isdisjoint({s.run_id for s in searched})
    assert all(s.search is not None and s.search.rung_epochs == 3 for s in searched)
    assert plain == plan(parse_config(minimal_config(tmp_path), tmp_path / "a.yaml"))


def test_schedule_rungs_grow_by_eta_and_stop_at_min_survivors_or_max_epochs() -> None:
    s = halving.schedule(Search(rung_epochs=5, eta=2), max_epochs=1000, n_setups=16)
    assert s.ends_epoch == (5, 10, 20, 40) and s.keep == (8, 4, 2, 1) and s.passes == 5
    assert [s.rung_of_epoch(e) for e in (1, 5, 6, 10, 11, 40, 41, 999)] == [0, 0, 1, 1, 2, 3, 4, 4]
    assert s.until_epoch(0) == 5 and s.until_epoch(4) is None
    s3 = halving.schedule(Search(rung_epochs=4, eta=3, min_survivors=2), max_epochs=1000, n_setups=16)
    assert s3.ends_epoch == (4, 12) and s3.keep == (5, 2)
    capped = halving.schedule(Search(rung_epochs=5, eta=2), max_epochs=12, n_setups=16)
    assert capped.ends_epoch == (5, 10) and capped.keep == (8, 4)  # the next rung would reach max_epochs
    frac = halving.schedule(Search(rung_fraction=0.1, eta=2), max_epochs=50, n_setups=4)
    assert frac.ends_epoch == (5, 10) and frac.keep == (2, 1)
    slow = halving.schedule(Search(rung_epochs=1, eta=1.2), max_epochs=100, n_setups=4)
    assert all(b > a for a, b in zip(slow.ends_epoch, slow.ends_epoch[1:]))  # strictly increasing


def test_select_keeps_the_lowest_scores_nan_last_ties_to_the_lower_setup() -> None:
    assert halving.select({1: 3.0, 2: 1.0, 3: 2.0, 4: 0.5}, 2) == ([2, 4], [1, 3])
    assert halving.select({1: math.nan, 2: 5.0, 3: 5.0}, 1) == ([2], [1, 3])
    assert halving.select({1: 1.0}, 3) == ([1], [])


ES = EarlyStopping(threshold=0.8, patience_epochs=3, max_epochs=50, stable_epoch=2, window_epochs=2)


def _h(acc: list[float], e_j: float = 10.0, d_s: float = 1.0) -> History:
    return History(tuple([e_j] * len(acc)), tuple([d_s] * len(acc)), tuple(acc))


def test_energy_to_threshold_is_measured_once_reached_else_forecast() -> None:
    reached = objectives.to_threshold(_h([0.5, 0.7, 0.85, 0.9]), ES)
    assert reached.reached and reached.energy_j == pytest.approx(30.0) and reached.time_s == pytest.approx(3.0)
    rising = objectives.to_threshold(_h([0.4, 0.5, 0.6, 0.7, 0.75]), ES)
    flat = objectives.to_threshold(_h([0.3, 0.31, 0.3, 0.31, 0.3]), ES)
    assert not rising.reached and 50.0 < rising.energy_j < flat.energy_j
    assert flat.energy_j == pytest.approx(10.0 * 50)  # never: energy to max_epochs
    short = objectives.to_threshold(_h([0.3, 0.4]), ES)  # too few epochs to fit a curve
    assert short.energy_j == pytest.approx(10.0 * 50)


def test_objectives_rank_as_documented() -> None:
    hs = {"cheap-fast": _h([0.5, 0.7, 0.85], e_j=5.0), "dear-fast": _h([0.5, 0.7, 0.85], e_j=20.0),
          "cheap-slow": _h([0.3, 0.35, 0.4], e_j=5.0)}
    rank = lambda s: sorted(s, key=s.get)  # noqa: E731
    f = objectives.scores(hs, Search(rung_epochs=3, objective="forecast"), ES)
    assert rank(f)[0] == "cheap-fast" and f["dear-fast"] == pytest.approx(60.0)
    acc = objectives.scores(hs, Search(rung_epochs=3, objective="accuracy"), ES)
    assert acc["cheap-fast"] == acc["dear-fast"] == -0.85 and rank(acc)[-1] == "cheap-slow"
    sm2 = objectives.scores(hs, Search(rung_epochs=3, objective="sm2", sm2={"alpha": 0.5, "beta": 0.5}), ES)
    # normalised: accuracy 1, 1, 0 and energy per epoch 0, 1, 0 -> scores 0.5, 0, 0 -> costs -0.5, 0, 0
    assert sm2 == pytest.approx({"cheap-fast": -0.5, "dear-fast": 0.0, "cheap-slow": 0.0})
    energy_only = objectives.scores(hs, Search(rung_epochs=3, objective="zeus", zeus={"eta_knob": 1.0}), ES)
    assert energy_only == pytest.approx(f)
    time_only = objectives.scores(hs, Search(rung_epochs=3, objective="zeus", zeus={"eta_knob": 0.0,
                                                                                  "max_power_w": 100.0}), ES)
    assert time_only["cheap-fast"] == pytest.approx(100.0 * 3.0) == pytest.approx(time_only["dear-fast"])
    assert objectives.setup_scores({"a": 1.0, "b": 3.0, "c": 5.0}, {"a": 1, "b": 1, "c": 2}) == {1: 2.0, 2: 5.0}
