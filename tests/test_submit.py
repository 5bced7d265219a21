"""submit: validate, plan, check, lay out once, then one hand-off to the executor (a recording fake here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from energybench import executors
from energybench.errors import ResultsError, SubmitError
from energybench.executors.base import Outcome, Prepared, Selection
from energybench.paths import ResultsLayout, write_json
from energybench.states import State
from energybench.status import RunState
from energybench.submit import select_runs, submit

from .conftest import minimal_config


class Recorder:
    """An executor that records what submit hands it and runs nothing."""

    kind, verb = "local", "to run"
    calls: list[tuple[str, Any]] = []

    @classmethod
    def open(cls, exp: Any, *, dry_run: bool = False) -> "Recorder":
        cls.calls.append(("open", dry_run))
        return cls()

    def states(self, layout: ResultsLayout) -> list[RunState]:
        Recorder.calls.append(("states", layout.plan.exists() and layout.submit_lock.exists()))
        from energybench.status import run_states

        return run_states(layout)

    def run(self, prepared: Prepared, selection: Selection, *, echo: Any) -> Outcome:
        Recorder.calls.append(("run", (prepared.layout.plan.exists(), [s.run_id for s in selection.todo])))
        return Outcome(self.kind, len(selection.todo), waited=True)

    def dry_run(self, prepared: Prepared, selection: Selection, *, echo: Any) -> Outcome:
        Recorder.calls.append(("dry_run", len(selection.todo)))
        return Outcome(self.kind, len(selection.todo), waited=False)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> type[Recorder]:
    Recorder.calls = []
    monkeypatch.setitem(executors.EXECUTORS, "local", f"{__name__}:Recorder")
    return Recorder


def _state(run_id: str, state: State, job_id: str | None = None) -> RunState:
    return RunState(run_id, "pamap2-baseline", "cpu", 1, 1, state, job_id=job_id)


def test_submit_lays_out_once_then_hands_the_plan_to_the_executor(recorder: type[Recorder], tmp_path: Path,
                                                                  write_config: Any) -> None:
    config = write_config(minimal_config(tmp_path))
    lines: list[str] = []
    done = submit(config, tmp_path / "res", echo=lines.append)
    assert [c[0] for c in recorder.calls] == ["open", "states", "run"]  # one way through, no second check
    assert recorder.calls[1][1] is True  # the layout is written and the lock held before the executor is asked
    laid_out, todo = recorder.calls[2][1]
    assert laid_out and len(todo) == 4 and todo == [s.run_id for s in done.specs]
    assert done.outcome.waited and done.outcome.runs == 4
    assert lines == [f"t: 4 planned runs, 4 to run, executor local, results in {done.layout.root}"]
    plan = json.loads(done.layout.plan.read_text())
    assert plan["fingerprint"] and [r["run_id"] for r in plan["runs"]] == todo
    assert all(done.layout.run(r).spec.is_file() for r in todo)


def test_a_completed_run_is_not_handed_over_again(recorder: type[Recorder], tmp_path: Path,
                                                  write_config: Any) -> None:
    config = write_config(minimal_config(tmp_path))
    first = submit(config, tmp_path / "res", echo=lambda _: None)
    done_id = first.specs[0].run_id
    write_json(first.layout.run(done_id).started, {"attempt": 1, "time_s": 1e12})
    write_json(first.layout.run(done_id).done, {"attempt": 1})
    recorder.calls.clear()
    submit(config, tmp_path / "res", echo=lambda _: None)
    assert done_id not in recorder.calls[-1][1][1] and len(recorder.calls[-1][1][1]) == 3


def test_dry_run_writes_nothing_and_asks_no_scheduler(recorder: type[Recorder], tmp_path: Path,
                                                      write_config: Any) -> None:
    config = write_config(minimal_config(tmp_path))
    submit(config, tmp_path / "res", echo=lambda _: None, dry_run=True)
    assert [c[0] for c in recorder.calls] == ["open", "dry_run"] and recorder.calls[0][1] is True
    assert not (tmp_path / "res").exists()


def test_a_directory_of_another_config_is_refused_before_the_executor_opens(
        recorder: type[Recorder], tmp_path: Path, write_config: Any) -> None:
    submit(write_config(minimal_config(tmp_path)), tmp_path / "res", echo=lambda _: None)
    recorder.calls.clear()
    with pytest.raises(ResultsError, match="made by another config"):
        submit(write_config(minimal_config(tmp_path, repeats=2), "other.yaml"), tmp_path / "res",
               echo=lambda _: None)
    assert recorder.calls == []


def test_select_runs_skips_done_and_queued_runs_and_passes_queued_tasks_on() -> None:
    class Spec:
        def __init__(self, run_id: str) -> None:
            self.run_id = run_id

    specs = [Spec(r) for r in "abcdef"]
    states = [_state("a", State.COMPLETED, "5_0"), _state("b", State.RUNNING, "5_1"), _state("c", State.PENDING, "5_2"),
              _state("d", State.PENDING), _state("e", State.FAILED, "5_4"), _state("f", State.LOST)]
    sel = select_runs(specs, states)  # type: ignore[arg-type]
    assert [s.run_id for s in sel.todo] == ["d", "e", "f"]
    assert sel.queued == {"b": "5_1", "c": "5_2"}  # their dependants wait for these tasks


def test_force_refuses_while_runs_are_queued_or_running() -> None:
    class Spec:
        run_id = "a"

    with pytest.raises(SubmitError, match=r"res: --force would run 1 queued or running runs twice.*job 7_0.*"
                                          r"energybench cancel res"):
        select_runs([Spec()], [_state("a", State.PENDING, "7_0")], force=True, root=Path("res"))  # type: ignore[list-item]
    sel = select_runs([Spec()], [_state("a", State.COMPLETED, "7_0")], force=True)  # type: ignore[list-item]
    assert [s.run_id for s in sel.todo] == ["a"] and sel.queued == {}


def test_an_unknown_executor_is_one_line() -> None:
    class Exp:
        class executor:  # noqa: N801
            kind = "k8s"

    with pytest.raises(SubmitError, match="unknown executor 'k8s'; use 'local' or 'slurm'"):
        executors.open_executor(Exp())  # type: ignore[arg-type]
