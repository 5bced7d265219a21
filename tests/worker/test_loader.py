"""data.loader: the DataLoader pipeline trains on the same batches as the resident one; mps is chosen, not guessed."""

from __future__ import annotations

from unittest import mock

import pytest
import torch

from energybench.errors import EnergybenchError, WorkerError
from energybench.worker import models
from energybench.worker.entry import _device
from energybench.worker.tasks import CelebaTask, Pamap2ClassifierTask, batch_bounds, loader_workers

CPU = torch.device("cpu")


def _pamap2(loader: str, workers: int | None = 0) -> Pamap2ClassifierTask:
    g = torch.Generator().manual_seed(0)
    train = (torch.randn(41, 28, 64, generator=g), torch.randint(0, 12, (41,), generator=g))
    torch.manual_seed(0)
    return Pamap2ClassifierTask("pamap2-baseline", models.Pamap2Classifier(28, 12), train, train, CPU,
                                loader=loader, workers=workers)


def _losses(task: Pamap2ClassifierTask, epochs: int = 2) -> list[float]:
    opt = torch.optim.Adam(task.parameters_to_train(), lr=1e-3)
    gen = torch.Generator().manual_seed(3)
    out = []
    for _ in range(epochs):
        task.set_train_mode()
        for x, y in task.train_batches(8, gen):
            opt.zero_grad()
            loss = task.loss(x, y)
            loss.backward()
            opt.step()
            out.append(loss.item())
    out.append(task.evaluate(8)[0])
    return out


@pytest.mark.parametrize("workers", [0, 1])
def test_dataloader_trains_on_the_resident_batches(workers: int) -> None:
    assert _losses(_pamap2("dataloader", workers)) == pytest.approx(_losses(_pamap2("resident")), rel=1e-6)


def test_dataloader_keeps_the_last_batch_rule_and_host_memory() -> None:
    task = _pamap2("dataloader")
    sizes = [len(x) for x, _ in task.train_batches(8, torch.Generator().manual_seed(0))]
    assert sizes == [8, 8, 8, 8, 9] == [e - s for s, e in batch_bounds(41, 8)]  # a last batch of one joins
    assert task.loader == "dataloader" and task.loader_workers == 0


def test_celeba_dataloader_yields_normalised_batches_with_both_targets() -> None:
    n = 6
    train = (torch.randint(0, 256, (n, 3, 218, 178), dtype=torch.uint8), torch.arange(n) % 2, torch.zeros(n, 40))
    net = models.CelebaNet(models.build_resnet18("none"), {"identity": 2, "attributes": 40})
    task = CelebaTask("celeba-multitask", net, train, train, CPU, alpha=0.5, loader="dataloader", workers=0)
    x, (ident, attrs) = next(iter(task.train_batches(4, torch.Generator().manual_seed(0))))
    assert x.dtype == torch.float32 and x.shape == (4, 3, 218, 178) and attrs.shape == (4, 40)


def test_loader_workers_come_from_the_job_cpus() -> None:
    with mock.patch("energybench.worker.tasks.job_cpus", return_value=8):
        assert loader_workers(None) == 7
    with mock.patch("energybench.worker.tasks.job_cpus", return_value=1):
        assert loader_workers(None) == 0
    assert loader_workers(3) == 3
    with pytest.raises(WorkerError, match="data.loader"):
        _pamap2("prefetch")


def test_mps_is_used_when_torch_has_it_and_refused_otherwise() -> None:
    with mock.patch("torch.backends.mps.is_available", return_value=True), \
            mock.patch("torch.device", side_effect=lambda kind: f"device:{kind}"):
        assert _device("mps") == "device:mps"
    with mock.patch("torch.backends.mps.is_available", return_value=False):
        with pytest.raises(EnergybenchError, match="MPS backend is not available"):
            _device("mps")
    with mock.patch("torch.backends.mps.is_available", return_value=True), \
            mock.patch("torch.cuda.is_available", return_value=False):
        assert _device("auto").type == "cpu"  # auto never picks mps


def test_mps_runs_get_the_labelled_estimate_meter() -> None:
    from energybench.errors import MeterError
    from energybench.meter import open_meter

    lines: list[str] = []
    with mock.patch("energybench.meter.rapl.RaplMeter", side_effect=MeterError("RAPL: not on macOS")):
        meter = open_meter("auto", device="mps", log=lines.append)
    try:
        assert meter.kind == "estimate" and "mps device is not metered" in lines[0]
    finally:
        meter.close()
