"""Command workloads (energybench/worker/command.py): templates, and one attempt of small Python
programs that talk through energybench.client, metered by the synthetic meter and a real Sampler."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from energybench.config import parse_config
from energybench.errors import WorkerError
from energybench.meter.sampler import Sampler
from energybench.meter.synthetic import SyntheticMeter
from energybench.paths import ResultsLayout, RunPaths
from energybench.plan import RunSpec, plan
from energybench.worker.command import (CommandResult, TemplateError, check_placeholders, fill, placeholders,
                                        run_command)
from energybench.worker.signals import Interrupted

from ..conftest import minimal_config

NASTY = "1; rm -rf / $(echo hi) `id` 'q' \"d\" {x} \\ *"


def _spec(tmp: Path) -> RunSpec:
    cfg = minimal_config(tmp, early_stopping={"threshold": 0.8, "patience_epochs": 2, "max_epochs": 8})
    return plan(parse_config(cfg, tmp / "c.yaml"))[0]


# ---------------------------------------------------------------- templates


def test_placeholders_and_literal_braces() -> None:
    assert placeholders("python t.py --bs {batch_size} --lr {learning_rate:.0e} '{{x}}'") == {
        "batch_size", "learning_rate"}
    assert placeholders("echo no fields") == set()


def test_fill_quotes_every_value_into_one_word() -> None:
    out = fill("prog {a} --lr {lr:.1e} {{literal}} {none}", {"a": NASTY, "lr": 0.001, "none": None})
    assert shlex.split(out) == ["prog", NASTY, "--lr", "1.0e-03", "{literal}", ""]
    argv = subprocess.run(["/bin/sh", "-c", fill(f"{shlex.quote(sys.executable)} -c "
                                                  "'import sys, json; print(json.dumps(sys.argv[1:]))' {a} {b}",
                                                  {"a": NASTY, "b": 64})],
                          capture_output=True, text=True, check=True).stdout
    assert json.loads(argv) == [NASTY, "64"]


@pytest.mark.parametrize(("template", "why"), [
    ("prog {bogus}", "unknown placeholder(s) {bogus}"),
    ("prog {a!r}", "conversions"),
    ("prog {a.real}", "plain name"),
    ("prog {a[0]}", "plain name"),
    ("prog {}", "positional"),
    ("prog {a:{b}}", "nested"),
    ("prog {a", "literal brace"),
    ("prog }", "literal brace"),
])
def test_bad_templates_fail_clearly(template: str, why: str) -> None:
    with pytest.raises(TemplateError, match=".*".join(map(_re, why.split()))):
        check_placeholders(template, {"a", "b"})
    with pytest.raises(TemplateError):
        fill(template, {"a": 1, "b": 2})


def _re(word: str) -> str:
    import re
    return re.escape(word)


# ---------------------------------------------------------------- run_command

_PRELUDE = """
import json, os, sys, time
from energybench import client
"""

MARKING = _PRELUDE + """
json.dump({"argv": sys.argv[1:], "params": client.params(), "attempt": client.attempt(),
           "resume": client.resume_epoch(), "cwd": os.getcwd()}, open(f"seen-{client.attempt()}.json", "w"))
acc = {1: 0.5, 2: 0.9}
for epoch in range(client.resume_epoch() + 1, 20):
    client.epoch_begin()
    client.phase("train"); time.sleep(0.03)
    client.phase("eval"); time.sleep(0.02)
    if os.environ.get("PREEMPT_AT") == str(epoch):
        open("ready", "w").close()
        while not client.preempted():
            time.sleep(0.005)
        json.dump({"epoch": epoch - 1}, open("ckpt.json", "w"))
        sys.exit(0)
    client.epoch_end(val_accuracy=acc.get(epoch, 0.9), val_loss=1.0 / epoch, train_loss=2.0 / epoch, lr_now=0.1)
    if client.should_stop():
        break
print("trained to", epoch)
"""


class Run:
    """One run directory, its sampler per attempt and what progress() was told."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.spec = _spec(tmp)
        self.paths: RunPaths = ResultsLayout(tmp / "results").run(self.spec.run_id)
        self.paths.dir.mkdir(parents=True)
        self.progress: list[dict[str, Any]] = []

    def script(self, text: str, name: str = "child.py") -> str:
        path = self.tmp / name
        path.write_text(text)
        return f"{shlex.quote(sys.executable)} {shlex.quote(str(path))}".replace("{", "{{").replace("}", "}}")

    def attempt(self, command: str, attempt: int = 1, **kw: Any) -> CommandResult:
        sampler = Sampler(SyntheticMeter(), run_id=self.spec.run_id, attempt=attempt, period_s=0.01,
                          flush_s=30.0, sink=lambda batch: None)
        sampler.start()
        try:
            return run_command(self.spec, self.paths, attempt, command, sampler, 40.0,
                               lambda **p: self.progress.append(p), **{"monitor": "val_accuracy", **kw})
        finally:
            sampler.stop()

    def rows(self, attempt: int) -> list[dict[str, Any]]:
        return pq.read_table(self.paths.epochs(attempt)).to_pylist()


def test_marked_epochs_become_rows_and_should_stop_follows_the_threshold_rule(tmp_path: Path) -> None:
    r = Run(tmp_path)
    res = r.attempt(r.script(MARKING) + " {batch_size} {note}", params={"note": NASTY})
    # threshold 0.8 reached at epoch 2; patience 2 without improvement: stop after epoch 4
    assert (res.epochs, res.stop_reason, res.threshold_epoch, res.best_val_accuracy) == (4, "patience", 2, 0.9)
    assert res.marks and res.exit_status == 0 and res.resumed_from_epoch == 0
    assert "trained to 4" in res.output_tail and res.log == r.paths.command_log(1) and res.log.exists()
    assert res.metrics["lr_now"] == 0.1
    seen = json.loads((r.paths.dir / "seen-1.json").read_text())
    assert seen["argv"] == [str(r.spec.batch_size), NASTY]  # one argv element each, whatever it holds
    assert seen["params"]["note"] == NASTY and seen["params"]["batch_size"] == r.spec.batch_size
    assert seen["params"]["hardware"] == r.spec.hardware and seen["params"]["seed"] == r.spec.seed
    assert (seen["attempt"], seen["resume"], Path(seen["cwd"])) == (1, 0, r.paths.dir)
    rows = r.rows(1)
    assert [x["epoch"] for x in rows] == [1, 2, 3, 4]
    assert [x["val_accuracy"] for x in rows] == [0.5, 0.9, 0.9, 0.9]
    assert rows[1]["train_loss"] == 1.0 and rows[3]["val_loss"] == 0.25
    for x in rows:  # train + eval, not the program's startup nor what follows epoch_end
        assert 0.045 < x["duration_s"] < 0.5, x["duration_s"]
        assert x["samples"] >= 2 and x["energy_j"] > 0 and x["net_energy_j"] is not None
    assert [p["epoch"] for p in r.progress] == [1, 2, 3, 4]


def test_a_program_without_marks_is_one_row(tmp_path: Path) -> None:
    r = Run(tmp_path)
    res = r.attempt(r.script("import time; time.sleep(0.15); print('done')"))
    assert (res.marks, res.epochs, res.stop_reason, res.exit_status) == (False, 1, "exited", 0)
    (row,) = r.rows(1)
    assert row["epoch"] == 1 and row["val_accuracy"] is None and row["train_loss"] is None
    assert row["duration_s"] >= 0.15 and row["energy_j"] > 0 and res.output_tail == "done"


def test_a_failing_program_is_a_worker_error_with_its_status_and_last_line(tmp_path: Path) -> None:
    r = Run(tmp_path)
    with pytest.raises(WorkerError, match=r"exited with status 3; last output: boom"):
        r.attempt(r.script("import sys; print('x'); print('boom'); sys.exit(3)"))


def test_a_hanging_program_is_ended_at_the_time_limit(tmp_path: Path) -> None:
    r = Run(tmp_path)
    # It ignores SIGTERM and leaves a grandchild behind: both are gone afterwards.
    hang = r.script(_PRELUDE + """
import signal, subprocess
signal.signal(signal.SIGTERM, signal.SIG_IGN)
kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open("pids", "w").write(f"{os.getpid()} {kid.pid}")
print("hanging", flush=True)
time.sleep(60)
""")
    t0 = time.monotonic()
    with pytest.raises(WorkerError, match=r"ended at the time limit of 1 s; last output: hanging"):
        r.attempt(hang, timeout_s=1.0, kill_grace_s=0.3)
    assert time.monotonic() - t0 < 5
    assert all(_gone(int(pid)) for pid in (r.paths.dir / "pids").read_text().split())


def _gone(pid: int, within_s: float = 2.0) -> bool:
    """No such process within ``within_s``, or only its zombie (an orphan waits for init to reap it)."""
    end = time.monotonic() + within_s
    while True:
        try:
            os.kill(pid, 0)
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.01)


def test_preempted_program_is_interrupted_and_the_next_attempt_resumes(tmp_path: Path) -> None:
    r = Run(tmp_path)
    stop = threading.Event()

    def preempt_when_ready() -> None:
        while not (r.paths.dir / "ready").exists():
            time.sleep(0.005)
        stop.set()

    threading.Thread(target=preempt_when_ready, daemon=True).start()
    command = r.script(MARKING)
    with pytest.raises(Interrupted) as exc:
        r.attempt(command, stop_requested=stop, env={"PREEMPT_AT": "3"}, preempt_grace_s=5)
    assert exc.value.epoch == 2
    assert json.loads((r.paths.dir / "ckpt.json").read_text()) == {"epoch": 2}  # the program saw preempted()
    assert [x["epoch"] for x in r.rows(1)] == [1, 2]

    res = r.attempt(command, attempt=2)
    assert (res.resumed_from_epoch, res.epochs, res.stop_reason, res.threshold_epoch) == (2, 4, "patience", 2)
    seen = json.loads((r.paths.dir / "seen-2.json").read_text())
    assert (seen["attempt"], seen["resume"]) == (2, 2)
    assert [x["epoch"] for x in r.rows(2)] == [3, 4]
    assert {x["attempt"] for x in r.rows(2)} == {2}  # each epoch counted once over the attempts


@pytest.mark.parametrize("style", ["phases", "ends"])
def test_epochs_marked_by_phases_or_by_their_ends_alone(tmp_path: Path, style: str) -> None:
    """Marking phases opens each epoch at its first phase (the program's startup is in no epoch);
    marking only ends makes each epoch run from the previous end (the first from the start)."""
    r = Run(tmp_path)
    marks = 'client.phase("train"); time.sleep(0.02); client.phase("eval")' if style == "phases" else "pass"
    res = r.attempt(r.script(_PRELUDE + f"""
time.sleep(0.3)  # loading data
while True:
    {marks}
    time.sleep(0.02)
    client.epoch_end(train_loss=1.0)
    time.sleep(0.01)  # bookkeeping
    if client.should_stop():
        break
"""), monitor=None)
    assert (res.epochs, res.stop_reason, res.best_val_accuracy) == (8, "max_epochs", None)  # no monitor: max_epochs
    durations = [x["duration_s"] for x in r.rows(1)]
    assert len(durations) == 8 and all(x["energy_j"] > 0 for x in r.rows(1))
    if style == "phases":
        assert all(0.035 < d < 0.25 for d in durations), durations
    else:
        assert durations[0] > 0.3 and all(0.025 < d < 0.25 for d in durations[1:]), durations
