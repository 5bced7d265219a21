"""The sampler benchmark runs end to end (in miniature) and counts what it measures."""

from __future__ import annotations

import pytest

from energybench.bench.sampler_overhead import main, read_cost_us, stall_probe, training_loop


def test_training_loop_interleaves_every_mode_in_every_round() -> None:
    res = training_loop(seconds=0.0, batch_size=2, block_steps=2, rates_hz=(100.0, 1000.0), samplers=("thread",))
    rounds = res["rounds"]
    assert set(rounds) == {"off", "A/A", ("thread", 100.0), ("thread", 1000.0)}
    assert {len(r) for r in rounds.values()} == {3}  # at least three rounds, the same for all modes
    assert all(len(block) == 2 and all(t > 0 for t in block) for r in rounds.values() for block in r)
    assert res["readings"]["off"] == 0 and res["readings"][("thread", 1000.0)] > 0


def test_the_process_sampler_is_measured_in_the_same_rounds() -> None:
    res = training_loop(seconds=0.0, batch_size=2, block_steps=2, rates_hz=(1000.0,))
    rounds = res["rounds"]
    assert set(rounds) == {"off", "A/A", ("thread", 1000.0), ("process", 1000.0)}
    assert {len(r) for r in rounds.values()} == {3}
    assert res["readings"][("process", 1000.0)] > 0


def test_stall_probe_and_read_cost() -> None:
    probe = stall_probe(seconds=0.0, rate_hz=200.0, block_s=0.05)
    assert probe["rounds"] == 3
    for est, lo, hi in [*probe["lost_per_reading_s"].values(), probe["aa_lost_per_reading_s"]]:
        assert lo <= est <= hi
    assert set(probe["lost_per_reading_s"]) == {"thread", "process"}
    assert 0 < probe["held_per_reading_us"] < 10_000 and 0 < probe["process_begin_us"] < 10_000
    costs = read_cost_us(n=50)
    assert {"synthetic", "estimate", "rapl (fake sysfs)"} <= set(costs)
    assert all(us > 0 for us in costs.values())


def test_main_prints_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = main(seconds=0.0, probe_seconds=0.0, batch_size=2, probe_block_s=0.05)
    out = capsys.readouterr().out
    for needle in ("A/A", "thread 10 Hz", "process 100 Hz", "1000 Hz", "fewer than 20 rounds", "stall probe",
                   "holding the interpreter", "begin() holds", "process / thread", "process sampler targets",
                   "estimate", "projected, linear"):
        assert needle in out, needle
    assert set(verdicts) == {"direct 10 Hz no worse than thread", "direct 100 Hz no worse than thread",
                             "stall probe 100 Hz <= 1.005"}
