"""The runner never hangs and never loses what it measured: budgets, failures, skips, the watchdog."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pytest

from energybench.validate import runner
from energybench.validate.context import Context, SkipStep, Step
from energybench.validate.layout import ValidationPaths
from energybench.validate.profiles import FAKE
from energybench.validate.report import StepResult

from ..conftest import REPO


def _ok(ctx: Context, res: StepResult) -> None:
    res.figures["answer_w"] = 42.0
    res.tables["series"] = pa.table({"time_s": [0.0, 1.0], "power_w": [1.0, 2.0]})
    res.verdict("ok.a", "PASS", "fine")


def _boom(ctx: Context, res: StepResult) -> None:
    res.figures["measured_j"] = 7.0
    res.tables["partial"] = pa.table({"x": [1]})
    res.verdict("boom.a", "INFO", "measured before the failure")
    raise RuntimeError("the GPU fell off the bus\nsecond line")


def _slow(ctx: Context, res: StepResult) -> None:
    time.sleep(30)


def _skip(ctx: Context, res: StepResult) -> None:
    raise SkipStep("NVML hides the counter")


def _silent(ctx: Context, res: StepResult) -> None:
    pass


STEPS = (
    Step("ok", "OK", _ok, lambda p: ["ok.a"]),
    Step("boom", "Boom", _boom, lambda p: ["boom.a", "boom.b"]),
    Step("slow", "Slow", _slow, lambda p: ["slow.a"]),
    Step("skip", "Skip", _skip, lambda p: ["skip.a"]),
    Step("silent", "Silent", _silent, lambda p: ["silent.a"]),
)


def test_failures_timeouts_and_skips_end_as_verdicts_and_the_rest_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "GRACE_MIN_S", 0.3)
    profile = dataclasses.replace(FAKE, budgets_s={"slow": 0.2})
    paths = ValidationPaths(tmp_path / "v")
    paths.dir.mkdir()
    log = io.StringIO()
    ctx = Context(profile, paths, True, tmp_path, log)
    t0 = time.monotonic()
    code = runner.Runner(STEPS, ctx, {"gpu_name": "test"}, t0 + 60, t0).run()
    assert time.monotonic() - t0 < 10
    assert code == 1  # some step errored
    data = json.loads(paths.figures.read_text())
    assert data["state"] == "complete"
    got = {v["check"]: (v["status"], v["text"]) for s in data["steps"] for v in s["verdicts"]}
    assert got["ok.a"] == ("PASS", "fine")
    assert got["boom.a"] == ("INFO", "measured before the failure")
    assert got["boom.b"] == ("ERROR", "the step failed: RuntimeError: the GPU fell off the bus")
    assert got["slow.a"][0] == "ERROR" and "timed out" in got["slow.a"][1]
    assert got["skip.a"] == ("SKIP", "NVML hides the counter")
    assert got["silent.a"] == ("ERROR", "the step ended without judging this check")
    boom = next(s for s in data["steps"] if s["step"] == "boom")
    assert boom["figures"] == {"measured_j": 7.0} and boom["raw_files"] == ["boom-partial.parquet"]
    assert paths.table("ok", "series").exists() and paths.table("boom", "partial").exists()
    assert "RuntimeError: the GPU fell off the bus" in log.getvalue()  # the traceback, in the log
    assert "**ERROR** `boom.b`" in paths.report.read_text()


def test_a_step_is_not_started_without_time_left(tmp_path: Path) -> None:
    paths = ValidationPaths(tmp_path / "v")
    paths.dir.mkdir()
    ctx = Context(FAKE, paths, True, tmp_path, io.StringIO())
    t0 = time.monotonic()
    runner.Runner(STEPS[:1], ctx, {}, t0 + runner.RESERVE_S, t0).run()
    data = json.loads(paths.figures.read_text())
    assert data["steps"][0]["verdicts"][0]["status"] == "SKIP"


WATCHDOG = """
import io, sys, time
from pathlib import Path
from energybench.validate import runner
from energybench.validate.context import Context, Step
from energybench.validate.layout import ValidationPaths
from energybench.validate.profiles import FAKE

def stubborn(ctx, res):  # ignores the timer, as a hang in native code would
    res.verdict("hang.a", "INFO", "started")
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            time.sleep(30)
        except BaseException:
            pass

runner.RESERVE_S, runner.GRACE_MIN_S = 0.5, 0.2
paths = ValidationPaths(Path(sys.argv[1]))
paths.dir.mkdir()
ctx = Context(FAKE, paths, True, paths.dir, io.StringIO())
steps = (Step("hang", "Hang", stubborn, lambda p: ["hang.a", "hang.b"]),
         Step("after", "After", lambda c, r: None, lambda p: ["after.a"]))
t0 = time.monotonic()
runner.Runner(steps, ctx, {}, t0 + 4.0, t0, on_abort=lambda: print("aborted", flush=True)).run()
"""


def test_the_watchdog_ends_a_hung_validation_at_its_overall_budget_keeping_what_it_had(tmp_path: Path) -> None:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(WATCHDOG), str(tmp_path / "v")], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == runner.EXIT_OVERALL_BUDGET, r.stderr
    assert time.monotonic() - t0 < 20
    assert "aborted" in r.stdout and "stopped by its overall budget" in r.stderr
    data = json.loads((tmp_path / "v" / "validation.json").read_text())
    assert data["state"].startswith("stopped by its overall budget") and "during hang" in data["state"]
    got = {v["check"]: v["status"] for s in data["steps"] for v in s["verdicts"]}
    assert got == {"hang.a": "INFO", "hang.b": "ERROR", "after.a": "SKIP"}
