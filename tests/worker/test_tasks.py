"""Every built-in workload's task trains on generated data; frozen means frozen."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from energybench.config import parse_config
from energybench.errors import WorkerError
from energybench.workloads import build_task, registry
from energybench.plan import RunSpec, plan
from energybench.worker.data.celeba import generate_celeba
from energybench.worker.data.pamap2 import generate_pamap2
from energybench.worker.models import model_characteristics
from energybench.worker.tasks import Task

CPU = torch.device("cpu")
BATCH = 8


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunSpec]:
    root = tmp_path_factory.mktemp("tasks")
    generate_pamap2(root / "pamap2", seconds_per_activity=3.0)
    generate_celeba(root / "celeba", identities=7, images_per_identity=5)
    cfg = {
        "name": "t", "grid": {"batch_sizes": [BATCH], "learning_rates": [0.001]},
        "paradigms": list(registry.builtins()), "hardware": ["cpu"],
        "training": {"multitask_alpha": 0.3},
        "data": {
            "pamap2": {"path": "pamap2", "window_samples": 64, "stride_samples": 32,
                       "max_windows": 120},
            "celeba": {"path": "celeba", "identities": 6, "image_size_px": 32, "weights": "none"},
        },
    }
    return {s.paradigm: s for s in plan(parse_config(cfg, root / "exp.yaml"))}


@pytest.fixture(scope="module")
def encoder_path(specs: dict[str, RunSpec], tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    task = build_task(specs["pamap2-autoencoder"], CPU)
    path = tmp_path_factory.mktemp("run") / "encoder.pt"
    task.save_artifacts(path)
    return path


def _steps(task: Task, n: int) -> list[float]:
    """``n`` optimiser steps on one fixed batch; the losses seen."""
    optimizer = torch.optim.Adam(task.parameters_to_train(), lr=1e-3)
    x, y = next(task.train_batches(BATCH, torch.Generator().manual_seed(0)))
    task.set_train_mode()
    losses = []
    for _ in range(n):
        optimizer.zero_grad(set_to_none=True)
        loss = task.loss(x, y)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize("paradigm", list(registry.builtins()))
def test_paradigm_trains_and_evaluates(paradigm: str, specs: dict[str, RunSpec],
                                       encoder_path: Path) -> None:
    torch.manual_seed(0)
    task = build_task(specs[paradigm], CPU, _upstream(encoder_path))
    assert task.monitor == registry.builtins()[paradigm].monitor
    assert task.example_input.shape[0] == 1 and task.n_train > BATCH and task.n_val > 0
    losses = _steps(task, 4)
    assert losses[-1] < losses[0], losses
    val_loss, val_accuracy = task.evaluate(BATCH)
    assert val_loss > 0
    if paradigm == "pamap2-autoencoder":
        assert val_accuracy is None
    else:
        assert val_accuracy is not None and 0.0 <= val_accuracy <= 1.0
    assert not task.model.training  # evaluate leaves eval mode
    assert model_characteristics(task.model, task.example_input)["macs_per_sample"] > 0


def test_frozen_encoder_stays_bit_identical(specs: dict[str, RunSpec], encoder_path: Path) -> None:
    task = build_task(specs["pamap2-frozen"], CPU, _upstream(encoder_path))
    encoder = task.model.encoder  # type: ignore[union-attr]
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    assert all(torch.equal(v, torch.load(encoder_path)[k]) for k, v in before.items())
    trained = {id(p) for p in task.parameters_to_train()}
    assert not trained & {id(p) for p in encoder.parameters()}
    assert all(not p.requires_grad for p in encoder.parameters())
    _steps(task, 3)
    assert not encoder.training and task.model.classifier.training  # type: ignore[union-attr]
    for k, v in encoder.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_unfrozen_encoder_is_fine_tuned(specs: dict[str, RunSpec], encoder_path: Path) -> None:
    task = build_task(specs["pamap2-unfrozen"], CPU, _upstream(encoder_path))
    encoder = task.model.encoder  # type: ignore[union-attr]
    first = next(encoder.parameters())
    before = first.detach().clone()
    assert id(first) in {id(p) for p in task.parameters_to_train()}
    _steps(task, 2)
    assert not torch.equal(first.detach(), before)


def test_pretrained_paradigms_need_the_encoder(specs: dict[str, RunSpec], tmp_path: Path) -> None:
    with pytest.raises(WorkerError, match="encoder"):
        build_task(specs["pamap2-frozen"], CPU, _upstream(None))
    with pytest.raises(WorkerError, match="missing.pt"):
        build_task(specs["pamap2-unfrozen"], CPU, _upstream(tmp_path / "missing.pt"))


def test_epoch_batches_cover_the_split_once(specs: dict[str, RunSpec]) -> None:
    task = build_task(specs["pamap2-baseline"], CPU)
    n = task.n_train
    batch = 7 if n % 7 == 1 else next(b for b in range(5, 50) if n % b == 1)  # leaves a single sample
    sizes, seen = [], []
    for x, y in task.train_batches(batch, torch.Generator().manual_seed(1)):
        sizes.append(len(x))
        seen.append(x.flatten(1)[:, :8])
    assert sum(sizes) == n and min(sizes) > 1  # the lone sample joined the last batch
    assert len(torch.unique(torch.cat(seen), dim=0)) == n
    assert [len(x) for x, _ in task.val_batches(10_000)] == [task.n_val]


def test_multitask_loss_is_alpha_weighted(specs: dict[str, RunSpec]) -> None:
    import torch.nn.functional as F

    task = build_task(specs["celeba-multitask"], CPU)
    task.model.eval()
    x, (identity, attributes) = next(task.val_batches(BATCH))
    with torch.no_grad():
        out = task.model(x)
        expected = (0.3 * F.binary_cross_entropy_with_logits(out["attributes"], attributes)
                    + 0.7 * F.cross_entropy(out["identity"], identity))
        assert torch.allclose(task.loss(x, (identity, attributes)), expected)
    assert x.dtype == torch.float32 and abs(float(x.mean())) < 3
    _, accuracy = task.evaluate(BATCH)
    assert accuracy == task.last_metrics["identity_accuracy"]
    assert 0 <= task.last_metrics["attribute_accuracy"] <= 1


def _upstream(encoder_path: Path | None) -> SimpleNamespace | None:
    """What a dependent workload is given: the upstream run's paths (here only its encoder)."""
    return SimpleNamespace(encoder=encoder_path) if encoder_path is not None else None
