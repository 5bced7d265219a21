"""Stopping on request (SLURM's USR2): the epoch loop stops at the last checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from energybench.config import parse_config
from energybench.plan import plan

from ..slurm.conftest import small_demo


def test_epoch_loop_stops_at_the_last_checkpoint_on_request(tmp_path: Path) -> None:
    """USR2 mid-epoch: the epoch in progress is dropped, the checkpoint is the previous epoch's end."""
    import signal

    import pyarrow.parquet as pq
    import torch

    from energybench.paths import RunPaths
    from energybench.worker import signals
    from energybench.worker.checkpoint import load_checkpoint
    from energybench.worker.train import run_epochs

    class Task:
        monitor = "val_accuracy"
        model = torch.nn.Linear(2, 2)
        example_input = torch.zeros(1, 2)

        def __init__(self) -> None:
            self.epochs = 0

        def parameters_to_train(self) -> list[Any]:
            return list(self.model.parameters())

        def set_train_mode(self) -> None:
            self.epochs += 1

        def train_batches(self, bs: int, gen: Any) -> Any:
            for i in range(3):
                if self.epochs == 2 and i == 1:
                    signal.raise_signal(signal.SIGUSR2)  # SLURM's signal, in the middle of epoch 2
                yield torch.randn(4, 2), torch.zeros(4, dtype=torch.long)

        def loss(self, x: Any, y: Any) -> Any:
            return torch.nn.functional.cross_entropy(self.model(x), y)

        def evaluate(self, bs: int) -> tuple[float, float]:
            return 1.0, 0.5

    class Sampler:
        def begin(self, epoch: int, phase: str) -> None: ...

        def stats(self, epoch: int) -> None:
            return None

    cfg = small_demo(tmp_path, paradigms=["pamap2-baseline"], hardware=["h100"])
    cfg["early_stopping"] = {"threshold": 0.99, "max_epochs": 5}
    spec = plan(parse_config(cfg, tmp_path / "c.yaml"))[0]
    run = RunPaths(tmp_path / "run")
    old = signal.getsignal(signal.SIGUSR2)
    signals.STOP.clear()
    try:
        signals.stop_on_signal(signal.SIGUSR2)
        with pytest.raises(signals.Interrupted) as exc:
            run_epochs(spec, run, 1, Task(), Sampler(), torch.device("cpu"), None, lambda **k: None,
                       stop_requested=signals.STOP)
    finally:
        signal.signal(signal.SIGUSR2, old)
        signals.STOP.clear()
    assert exc.value.epoch == 1
    assert [r["epoch"] for r in pq.read_table(run.epochs(1)).to_pylist()] == [1]
    assert load_checkpoint(run.checkpoint)["epoch"] == 1
