from __future__ import annotations

import time
from pathlib import Path

from energybench.paths import write_json
from energybench.status import all_completed, counts, run_states

from .fabricate import fake_run, make_results


def test_states_from_markers(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path, paradigms=["pamap2-baseline", "pamap2-autoencoder"])
    a, b, c, d = specs[:4]
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
    rest = [s for s in specs[4:]]
    assert all(states[s.run_id].state == "PENDING" for s in rest)
    assert not all_completed(list(states.values()))
    per = counts(list(states.values()))
    assert sum(sum(c.values()) for c in per.values()) == len(specs)


def test_all_completed(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    for s in specs:
        fake_run(layout, s)
    assert all_completed(run_states(layout))
