from __future__ import annotations

import time
from pathlib import Path

from energybench.paths import write_json
from energybench.status import all_completed, counts, run_states

from .fabricate import fake_run, make_results


def test_states_from_markers(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path, paradigms=["pamap2-baseline", "pamap2-autoencoder"], repeats=2)
    baseline = [s for s in specs if s.paradigm == "pamap2-baseline"]
    autoencoder = [s for s in specs if s.paradigm == "pamap2-autoencoder"]
    assert len(baseline) == len(autoencoder) == 4
    a, b = baseline[:2]
    c, d = autoencoder[:2]
    fake_run(layout, a)  # COMPLETED
    fake_run(layout, b, done=False)  # RUNNING (fresh heartbeat)
    fake_run(layout, c, done=False)
    write_json(layout.run(c.run_id).failed, {"reason": "CUDA out of memory", "time_s": time.time()})
    fake_run(layout, d, done=False)
    write_json(layout.run(d.run_id).heartbeat, {"time_s": time.time() - 3600})
    states = {s.run_id: s for s in run_states(layout)}
    assert states[a.run_id].state == "COMPLETED"
    assert states[b.run_id].state == "RUNNING" and states[b.run_id].epoch == 3
    assert states[c.run_id].state == "FAILED" and states[c.run_id].reason == "CUDA out of memory"
    assert states[d.run_id].state == "LOST" and "no heartbeat" in states[d.run_id].reason
    untouched = baseline[2:] + autoencoder[2:]
    assert [states[s.run_id].state for s in untouched] == ["PENDING"] * 4
    assert not all_completed(list(states.values()))
    assert counts(list(states.values())) == {
        ("cpu", "pamap2-baseline"): {"COMPLETED": 1, "RUNNING": 1, "PENDING": 2},
        ("cpu", "pamap2-autoencoder"): {"FAILED": 1, "LOST": 1, "PENDING": 2},
    }


def test_all_completed(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    for s in specs:
        fake_run(layout, s)
    assert all_completed(run_states(layout))
