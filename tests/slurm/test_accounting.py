"""Job states from sacct and squeue (fake SLURM), the cache, and the one SLURM shell seam."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from energybench.errors import SubmitError
from energybench.slurm import accounting, shell
from energybench.status import _ended

from .fakes import FakeSlurm


def test_sacct_and_squeue_parsing() -> None:
    jobs = accounting.parse_sacct(
        "18_0|COMPLETED|0:0|h100|None|2026-01-01T10:00:00|2026-01-01T10:00:03\n"
        "18_[1-3%1]|PENDING|0:0|h100|JobArrayTaskLimit|Unknown|Unknown\n"
        "19_2|CANCELLED by 0|0:15|a100|None|2026-01-01T10:00:00|2026-01-01T10:00:05\n")
    assert set(jobs) == {"18_0", "18_1", "18_2", "18_3", "19_2"}
    assert jobs["18_2"].state == "PENDING" and jobs["18_2"].reason == "JobArrayTaskLimit"
    assert jobs["19_2"].state == "CANCELLED" and jobs["19_2"].exit_code == "0:15"
    q = accounting.parse_squeue("20_[0-1]|PENDING|Dependency|h100\n21_4|RUNNING|None|a100\n")
    assert q["20_1"].reason == "Dependency" and q["21_4"].state == "RUNNING"


def test_scheduler_view_falls_back_to_squeue_and_caches(fake_slurm: FakeSlurm, tmp_path: Path) -> None:
    fake_slurm.sacct_error = "sacct: error: Slurm accounting storage is disabled"
    fake_slurm.squeue = "7_0|RUNNING|None|h100\n"
    cache = tmp_path / "scheduler.json"
    view = accounting.scheduler_view(["7"], cache, max_age_s=30)
    assert view.source == "squeue" and view.get("7_0").state == "RUNNING"
    n = len(fake_slurm.calls)
    assert accounting.scheduler_view(["7"], cache, max_age_s=30).get("7_0").state == "RUNNING"
    assert len(fake_slurm.calls) == n  # answered from the cache: one query per interval
    accounting.scheduler_view(["7"], cache, max_age_s=0)
    assert len(fake_slurm.calls) > n


SCONTROL = ("JobId=9 ArrayJobId=9 ArrayTaskId=0 JobName=eb UserId=root(0) JobState=FAILED Reason=None "
            "Requeue=1 Restarts=0 BatchFlag=1 ExitCode=0:9 RunTime=00:00:04\n"
            "JobId=11 ArrayJobId=9 ArrayTaskId=1 JobName=eb JobState=RUNNING Reason=None ExitCode=0:0\n"
            "JobId=12 JobName=plain JobState=CANCELLED Reason=None ExitCode=0:15\n")


def test_scontrol_lines_give_each_tasks_exit_code() -> None:
    assert accounting.parse_scontrol_jobs(SCONTROL + "garbage\n") == {"9_0": "0:9", "9_1": "0:0", "12": "0:15"}


def test_a_task_only_squeue_knows_as_ended_gets_its_exit_code_from_scontrol(fake_slurm: FakeSlurm) -> None:
    fake_slurm.sacct = ""  # accounting lags: slurmdbd has not recorded the task yet
    fake_slurm.squeue = "9_0|FAILED|NonZeroExitCode|h100\n9_1|RUNNING|None|h100\n"
    fake_slurm.scontrol_jobs = SCONTROL
    view = accounting.scheduler_view(["9"])
    assert (view.get("9_0").state, view.get("9_0").exit_code) == ("FAILED", "0:9")
    assert view.get("9_1").exit_code is None  # live: not asked about
    assert _ended(view.get("9_0")) == "SLURM FAILED: killed by signal 9 (SIGKILL)"
    assert fake_slurm.tool_calls("scontrol") == [["scontrol", "-o", "show", "job", "9"]]


def test_scontrol_is_asked_only_about_failed_tasks_and_its_silence_costs_nothing(
        fake_slurm: FakeSlurm, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_slurm.squeue = "9_0|CANCELLED|None|h100\n9_1|TIMEOUT|None|h100\n"
    accounting.scheduler_view(["9"])
    assert fake_slurm.tool_calls("scontrol") == []  # their state says why they ended

    def silent(args: Sequence[str], timeout_s: float, stdin: str | None) -> shell.Result:
        if args[0] == "scontrol":
            raise subprocess.TimeoutExpired(list(args), timeout_s)
        return fake_slurm(args, timeout_s, stdin)

    fake_slurm.squeue = "9_0|FAILED|NonZeroExitCode|h100\n"
    monkeypatch.setattr(shell, "RUNNER", silent)
    assert accounting.scheduler_view(["9"]).get("9_0") == accounting.JobRecord("9_0", "FAILED", "NonZeroExitCode",
                                                                              None, "h100")


def test_scontrol_is_not_asked_when_accounting_has_the_exit_codes(fake_slurm: FakeSlurm) -> None:
    fake_slurm.sacct = "9_0|FAILED|0:9|h100|None|2026-01-01T10:00:00|2026-01-01T10:00:04\n"
    fake_slurm.squeue = "9_0|FAILED|NonZeroExitCode|h100\n"
    assert accounting.scheduler_view(["9"]).get("9_0").exit_code == "0:9"
    assert fake_slurm.tool_calls("scontrol") == []


def test_missing_slurm_tool_is_one_actionable_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(args: Sequence[str], timeout_s: float, stdin: str | None) -> shell.Result:
        raise FileNotFoundError(args[0])

    monkeypatch.setattr(shell, "RUNNER", missing)
    with pytest.raises(SubmitError, match="sbatch: not found on PATH; run this on a SLURM login node"):
        shell.slurm(["sbatch", "x.sh"])
    with pytest.raises(ValueError):
        shell.slurm(["rm", "-rf", "/"])


def test_consumed_energy_parses_accounted_and_unaccounted_tasks() -> None:
    # as sacct -X -n -P --duplicates -o JobID,ConsumedEnergyRaw prints it: an energy plugin on some nodes only
    recorded = "812_0|153234\n812_1|\n812_2|0\n812_[3-4]|\n813_0|2000\n813_0|4100\n812_0.batch|99\n"
    energy = accounting.parse_sacct_energy(recorded)
    assert energy == {"812_0": 153234.0, "812_1": None, "812_2": None, "812_3": None, "812_4": None,
                      "813_0": 4100.0}  # the latest run of a requeued task wins; steps are not jobs


def test_consumed_energy_asks_sacct_once(fake_slurm: FakeSlurm) -> None:
    fake_slurm.sacct = "7_0|\n7_1|\n"
    assert accounting.consumed_energy(["7"]) == {"7_0": None, "7_1": None}  # the dev cluster: not accounted
    (call,) = fake_slurm.tool_calls("sacct")
    assert "JobID,ConsumedEnergyRaw" in call and call[-1] == "7"
