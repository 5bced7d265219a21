"""Submission limits: sacctmgr's association and QOS limits parsed, the tightest one found, what fits
submitted and the rest held back (fake SLURM), ``--follow`` topping up, max_array_tasks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from energybench.errors import SubmitError
from energybench.slurm.cluster import parse_max_array_size
from energybench.slurm.limits import Assoc, effective_limit, fit, parse_assoc, parse_qos

from .conftest import small_demo
from .fakes import FakeSlurm

ASSOC = "dev|||12|normal,long|normal\ndev|gpu|||normal|\nother||||normal|\n"
QOS = "normal|4|10\nlong||\nscavenger|2|3\n"


def test_sacctmgr_output_is_parsed_and_the_tightest_limit_binds() -> None:
    assocs, qos = parse_assoc(ASSOC), parse_qos(QOS)
    assert assocs[0] == Assoc("dev", None, None, 12, ("normal", "long"), "normal")
    assert assocs[1].partition == "gpu" and qos["long"].max_submit_per_user is None
    lim = effective_limit(assocs, qos, "dev", None, ["h100"], in_queue=7)
    assert (lim.max_submit, lim.free, lim.why) == (10, 3, "QOS normal MaxSubmitJobsPerUser 10")
    assert lim.max_running == 4 and lim.running_why == "QOS normal MaxJobsPerUser 4"
    assert effective_limit(assocs, qos, "dev", "scavenger", ["h100"], 0).max_submit == 3
    assert effective_limit(assocs, qos, "dev", "long", ["h100"], 20).free == 0  # association MaxSubmitJobs 12
    assert effective_limit([], {}, None, None, ["h100"], 5).free is None  # no limits: everything fits


def test_fit_takes_a_prefix_and_never_a_dependant_without_its_encoder(tmp_path: Path) -> None:
    from energybench.config import parse_config
    from energybench.plan import plan

    cfg = small_demo(tmp_path, paradigms=["pamap2-autoencoder", "pamap2-frozen"], hardware=["h100"])
    cfg["grid"] = {"batch_sizes": [64, 256], "learning_rates": [0.01]}
    specs = plan(parse_config(cfg, tmp_path / "x.yaml"))  # 2 encoders, then their 2 frozen runs
    assert fit(specs, None) == (specs, [])
    take, held = fit(specs, 3)
    assert [s.paradigm for s in take] == ["pamap2-autoencoder"] * 2 + ["pamap2-frozen"] and len(held) == 1
    take, held = fit(specs, 1)
    assert len(take) == 1 and all(s.depends_on != take[0].run_id for s in take)
    assert {s.run_id for s in held} == {s.run_id for s in specs[1:]}
    searched = [s for s in specs if s.paradigm == "pamap2-autoencoder"]
    assert fit(searched, 5, tasks_per_run=3, whole_groups=True) == ([], searched)  # a bracket needs 6
    assert fit(searched, 6, tasks_per_run=3, whole_groups=True) == (searched, [])


def test_max_array_tasks_caps_the_array_size() -> None:
    assert parse_max_array_size("MaxArraySize            = 1001\n") == 1001
    text = "MaxArraySize = 1001\nSchedulerParameters     = bf_continue,max_array_tasks=200,sched_interval=2\n"
    assert parse_max_array_size(text) == 200


def _limited(fake_slurm: FakeSlurm, free: int) -> None:
    fake_slurm.assoc = "dev|||||normal\n"
    fake_slurm.qos = f"normal||{free}\n"


def test_a_submission_over_the_limit_submits_what_fits_and_says_what_waits(
        fake_slurm: FakeSlurm, tmp_path: Path, write_config: Any) -> None:
    from energybench.submit import submit

    cfg = small_demo(tmp_path, paradigms=["pamap2-baseline"], hardware=["h100"])
    cfg["grid"] = {"batch_sizes": [64, 256], "learning_rates": [0.01, 0.001]}
    config = write_config(cfg)
    _limited(fake_slurm, 3)
    lines: list[str] = []
    sub = submit(config, tmp_path / "res", echo=lines.append)
    assert (sub.outcome.runs, sub.outcome.held) == (3, 1)
    held = [ln for ln in lines if ln.startswith("held back")]
    assert held == ["held back 1 of 4 runs: QOS normal MaxSubmitJobsPerUser 3, 0 of your tasks queued or "
                    "running; `energybench submit` again (or `submit --follow`) submits them as slots free"]
    man = json.loads((tmp_path / "res" / "manifest.json").read_text())
    assert len(man["runs"]) == 3
    # the three are queued (they count against the limit); nothing else fits yet
    task_ids = [e["job_id"] for e in man["runs"].values()]
    fake_slurm.squeue = "".join(f"{j}|PENDING|Priority|h100\n" for j in task_ids)
    again = submit(config, tmp_path / "res", echo=lines.append)
    assert (again.outcome.runs, again.outcome.held) == (0, 1)
    # slots free (the three run to completion, they leave the queue): the top-up submits the last one
    fake_slurm.squeue = ""
    fake_slurm.sacct = "".join(f"{j}|RUNNING|0:0|h100|None|x|y\n" for j in task_ids)
    top = submit(config, tmp_path / "res", echo=lines.append)
    assert (top.outcome.runs, top.outcome.held) == (1, 0)
    assert len(json.loads((tmp_path / "res" / "manifest.json").read_text())["runs"]) == 4


def test_follow_tops_up_until_nothing_is_held_back(fake_slurm: FakeSlurm, tmp_path: Path, write_config: Any) -> None:
    from energybench.submit import follow

    cfg = small_demo(tmp_path, paradigms=["pamap2-baseline"], hardware=["h100"])
    cfg["grid"] = {"batch_sizes": [64, 256], "learning_rates": [0.01, 0.001]}
    config = write_config(cfg)
    _limited(fake_slurm, 2)
    sleeps: list[float] = []

    def sleep(s: float) -> None:  # between two rounds the submitted tasks start: they leave the queue count
        sleeps.append(s)
        man = json.loads((tmp_path / "res" / "manifest.json").read_text())
        fake_slurm.sacct = "".join(f"{e['job_id']}|RUNNING|0:0|h100|None|x|y\n" for e in man["runs"].values())
        fake_slurm.squeue = ""

    lines: list[str] = []
    sub = follow(config, tmp_path / "res", interval_s=30, echo=lines.append, sleep=sleep, max_rounds=4)
    assert sub.outcome.held == 0 and sleeps == [30]
    assert sum(ln.startswith("follow: 2 runs held back") for ln in lines) == 1
    squeues = fake_slurm.tool_calls("squeue")
    assert len(squeues) <= 2 * 2  # at most one squeue per round (two rounds; the first has no states query)
    with pytest.raises(SubmitError, match="at least 10 s"):
        follow(config, tmp_path / "res", interval_s=1)
