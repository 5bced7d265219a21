"""Checkpoints (energybench/worker/checkpoint.py): atomic, and a resumed run draws the same random numbers."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from energybench.worker.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


def _draws(generator: torch.Generator) -> tuple[float, float, float, float]:
    return (random.random(), float(np.random.rand()), float(torch.rand(1)),
            float(torch.rand(1, generator=generator)))


def test_rng_state_restores_every_generator() -> None:
    generator = torch.Generator().manual_seed(3)
    state = rng_state(generator)
    first = _draws(generator)
    assert _draws(generator) != first  # the generators moved on
    set_rng_state(state, generator)
    assert _draws(generator) == first


def test_checkpoint_round_trip_through_a_file(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    assert load_checkpoint(path) is None
    model = torch.nn.Linear(3, 2)
    generator = torch.Generator().manual_seed(1)
    save_checkpoint(path, model=model.state_dict(), rng=rng_state(generator), epoch=4)
    expected = _draws(generator)
    ckpt = load_checkpoint(path)
    assert ckpt is not None and ckpt["epoch"] == 4
    restored = torch.nn.Linear(3, 2)
    restored.load_state_dict(ckpt["model"])
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), restored.state_dict().values()))
    other = torch.Generator()
    set_rng_state(ckpt["rng"], other)
    assert _draws(other) == expected


class _FailsMidWrite:
    def __reduce__(self) -> tuple:
        raise RuntimeError("killed mid-write")


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, epoch=1)
    with pytest.raises(RuntimeError, match="killed mid-write"):
        save_checkpoint(path, model=torch.zeros(1000), epoch=2, last=_FailsMidWrite())
    assert load_checkpoint(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
