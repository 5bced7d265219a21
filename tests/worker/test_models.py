"""Model sizes (the paper's parameter counts), weight loading and characteristics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from energybench.errors import DataError
from energybench.worker import models
from energybench.worker.data.pamap2 import CHANNELS
from energybench.worker.models import (
    CelebaNet, ConvHead, Pamap2Autoencoder, Pamap2Classifier, build_resnet18, count_parameters,
    model_characteristics,
)


def test_pamap2_classifier_has_the_paper_size() -> None:
    assert count_parameters(Pamap2Classifier(len(CHANNELS), 12)) == (models.PAMAP2_PARAMS_PAPER,) * 2


@pytest.mark.parametrize("length", [256, 100])
def test_pamap2_shapes(length: int) -> None:
    x = torch.randn(3, len(CHANNELS), length)
    assert Pamap2Classifier(len(CHANNELS)).eval()(x).shape == (3, 12)
    ae = Pamap2Autoencoder(len(CHANNELS)).eval()
    assert ae(x).shape == x.shape
    assert ae.encoder(x).shape[:2] == (3, 128)


def test_celeba_head_has_the_paper_size() -> None:
    assert count_parameters(ConvHead(512, 40)) == (models.CELEBA_HEAD_PARAMS_PAPER,) * 2


def test_resnet18_feature_map_and_heads() -> None:
    net = CelebaNet(build_resnet18("none"), {"identity": 40, "attributes": 40}).eval()
    with torch.no_grad():
        features = net.encoder(torch.randn(2, 3, 64, 32))
        out = net(torch.randn(2, 3, 64, 32))
    assert features.shape == (2, 512, 2, 1)
    assert {k: v.shape for k, v in out.items()} == {"identity": (2, 40), "attributes": (2, 40)}


def test_resnet18_from_a_state_dict_file(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = build_resnet18("none")
    path = tmp_path / "w.pt"
    torch.save({**source.state_dict(), "fc.weight": torch.zeros(3, 512)}, path)
    loaded = build_resnet18(str(path))
    for a, b in zip(source.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(DataError, match="prefetch"):
        build_resnet18(str(tmp_path / "missing.pt"))
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(DataError, match="bad.pt"):
        build_resnet18(str(tmp_path / "bad.pt"))


def test_imagenet_weights_come_from_the_local_cache_only(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors.torch import save_file

    monkeypatch.setenv("ENERGYBENCH_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setattr(models, "_hf_cached_weights", lambda: None)
    with pytest.raises(DataError, match="not in the local cache; run `energybench prefetch"):
        build_resnet18("imagenet")
    torch.manual_seed(2)
    source = build_resnet18("none")
    save_file(dict(source.state_dict()), str(models.imagenet_weights_file()))
    loaded = build_resnet18("imagenet")
    assert torch.equal(loaded.conv1.weight, source.conv1.weight)


def test_model_characteristics() -> None:
    model = Pamap2Classifier(len(CHANNELS))
    model.encoder.requires_grad_(False)
    model.train()
    c = model_characteristics(model, torch.randn(1, len(CHANNELS), 256))
    assert c["params_total"] == models.PAMAP2_PARAMS_PAPER
    assert c["params_trainable"] == count_parameters(model.classifier)[0]
    assert c["buffers_bytes"] > 0 and c["model_size_bytes"] > 4 * c["params_total"]
    assert c["macs_per_sample"] > 1_000_000
    assert model.training  # restored
    two = model_characteristics(model, torch.randn(2, len(CHANNELS), 256))
    assert two["macs_per_sample"] == c["macs_per_sample"]
