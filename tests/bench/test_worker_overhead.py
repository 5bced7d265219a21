"""The worker benchmark: both loops do the same work, every mode runs in every round, and the
figures come with intervals and a verdict (in miniature: tiny data, three rounds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from energybench.bench import worker_overhead as wo
from energybench.meter import open_meter
from energybench.worker.data import generate_pamap2
from energybench.workloads import build_task


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("worker-bench")
    generate_pamap2(root / "pamap2", seconds_per_activity=4.0)  # small: a few hundred windows
    return wo.bench_spec(root / "pamap2", batch_size=16, epochs=2, generate=False, max_windows=40)


def _recording(task: Any) -> list[tuple[str, int, float]]:
    """Wrap the task's loss and evaluation: every call, with its batch size and input sum."""
    calls: list[tuple[str, int, float]] = []
    loss, evaluate = task.loss, task.evaluate

    def counted_loss(x: torch.Tensor, y: Any) -> torch.Tensor:
        calls.append(("loss", len(x), round(float(x.sum()), 3)))
        return loss(x, y)

    def counted_evaluate(batch_size: int) -> Any:
        calls.append(("evaluate", batch_size, 0.0))
        return evaluate(batch_size)

    task.loss, task.evaluate = counted_loss, counted_evaluate
    return calls


def test_the_worker_and_the_bare_loop_do_identical_work(spec: Any, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    dev = torch.device("cpu")
    task = build_task(spec, dev)
    calls = _recording(task)
    bare = wo.bare_block(spec, task, dev)
    bare_calls = list(calls)
    calls.clear()
    meter = open_meter("synthetic", log=lambda _: None)
    worker = wo.worker_block(spec, task, dev, meter, tmp_path / "run")
    assert len(bare) == len(worker) == 2 and all(t > 0 for t in bare + worker)
    assert bare_calls == calls  # the same batches (same permutation), the same losses, the same evaluations
    assert [c[0] for c in calls].count("evaluate") == 2
    assert not (tmp_path / "run").exists()  # the round's checkpoints are removed


def test_rounds_interleave_every_mode_and_give_ratios_with_intervals(spec: Any) -> None:
    r = wo.worker_overhead(16, seconds=0.0, data_dir=spec.data.path, meter_kind="synthetic", max_windows=40)
    assert r["rounds"] == 3 and {len(v) for v in r["samples"].values()} == {3}
    assert set(r["samples"]) == set(wo.MODES)
    ratio, lo, hi = r["ratio"]
    assert lo <= ratio <= hi and r["aa_ratio"][0] > 0
    assert wo.judge(r) == f"no verdict from fewer than {wo.MIN_ROUNDS} rounds"
    lines = wo.describe(r)
    assert "worker / bare" in lines[1] and "target <= 1.1" in lines[1] and "A/A" in lines[2]
    enough = {**r, "rounds": wo.MIN_ROUNDS, "ratio": (1.02, 1.01, 1.03)}
    assert wo.judge(enough) == "met" and wo.judge({**enough, "ratio": (1.2, 1.15, 1.25)}) == "NOT met"
