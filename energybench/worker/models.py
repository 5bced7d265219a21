"""The study's models: the PAMAP2 conv net (and its autoencoder) and the CelebA ResNet18.

PAMAP2 (paper: 141,293 parameters). With the 28 channels of
:mod:`.data.pamap2`, ``Pamap2Classifier`` has exactly **141,293** parameters:

* encoder, three blocks ``Conv1d(k=5, same padding) -> BatchNorm1d -> ReLU ->
  MaxPool1d(2)`` with 48, 128 and 128 channels: [B, 28, L] -> [B, 128, L/8]
  (120,272 parameters);
* classifier: global average pool -> ``Linear(128, 149)`` -> ReLU ->
  Dropout(0.2) -> ``Linear(149, 12)`` (21,021 parameters; the hidden width
  149 makes the total match the paper exactly);
* decoder (autoencoder only): the mirror, three ``ConvTranspose1d(k=4,
  stride 2)`` blocks back to length L and a ``Conv1d(48, C, k=5)``
  reconstructing the normalised window (the latent is 128 x L/8, a 1.75x
  compression of the 28 x L input).

CelebA (paper: heads of 20,520 parameters): timm ``resnet18`` without its
pooling and classifier as the encoder ([B, 512, h, w]); each head is
``Conv2d(512, 40, kernel_size=1)`` (20,520 parameters) then a global average
pool to 40 logits.

ImageNet weights never download at run time: ``weights: imagenet`` reads
:func:`imagenet_weights_file` (``energybench prefetch`` writes it with
:func:`prefetch_imagenet_weights`) or, failing that, timm's copy in the local
Hugging Face cache.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import DataError

PAMAP2_PARAMS_PAPER = 141_293
CELEBA_HEAD_PARAMS_PAPER = 20_520
ENCODER_CHANNELS: tuple[int, int, int] = (48, 128, 128)
KERNEL_SAMPLES = 5
CLASSIFIER_HIDDEN = 149
TIMM_RESNET18 = "resnet18.a1_in1k"  # timm's default pretrained tag of "resnet18"


# --- PAMAP2 ------------------------------------------------------------------------------

class Pamap2Encoder(nn.Module):
    """[B, C, L] -> [B, 128, L // 8]."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for ch in ENCODER_CHANNELS:
            layers += [nn.Conv1d(prev, ch, KERNEL_SAMPLES, padding=KERNEL_SAMPLES // 2),
                       nn.BatchNorm1d(ch), nn.ReLU(inplace=True), nn.MaxPool1d(2)]
            prev = ch
        self.blocks = nn.Sequential(*layers)
        self.out_channels = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class Pamap2Decoder(nn.Module):
    """[B, 128, L // 8] -> [B, C, L]: the encoder's mirror."""

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        chans = list(reversed(ENCODER_CHANNELS))  # 128, 128, 48
        layers: list[nn.Module] = []
        for a, b in zip(chans, [*chans[1:], chans[-1]]):
            layers += [nn.ConvTranspose1d(a, b, 4, stride=2, padding=1), nn.BatchNorm1d(b),
                       nn.ReLU(inplace=True)]
        self.blocks = nn.Sequential(*layers)
        self.out = nn.Conv1d(chans[-1], out_channels, KERNEL_SAMPLES, padding=KERNEL_SAMPLES // 2)

    def forward(self, z: torch.Tensor, length: int) -> torch.Tensor:
        y = self.out(self.blocks(z))
        if y.shape[-1] != length:  # L not a multiple of 8
            y = F.interpolate(y, size=length, mode="linear", align_corners=False)
        return y


class Pamap2Classifier(nn.Module):
    """Encoder + global-average-pool classifier: [B, C, L] -> [B, n_classes] logits."""

    def __init__(self, in_channels: int, n_classes: int = 12) -> None:
        super().__init__()
        self.encoder = Pamap2Encoder(in_channels)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool1d(1), nn.Flatten(),
            nn.Linear(self.encoder.out_channels, CLASSIFIER_HIDDEN), nn.ReLU(inplace=True),
            nn.Dropout(0.2), nn.Linear(CLASSIFIER_HIDDEN, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.encoder(x))


class Pamap2Autoencoder(nn.Module):
    """Encoder + decoder: [B, C, L] -> its reconstruction [B, C, L]."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.encoder = Pamap2Encoder(in_channels)
        self.decoder = Pamap2Decoder(in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x), x.shape[-1])


# --- CelebA ------------------------------------------------------------------------------

class ConvHead(nn.Module):
    """``Conv2d(512, 40, 1)`` then global average pool: [B, 512, h, w] -> [B, 40] (20,520 params)."""

    def __init__(self, in_channels: int = 512, outputs: int = 40) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, outputs, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.conv(features).mean(dim=(2, 3))


class CelebaNet(nn.Module):
    """ResNet18 encoder and named heads; returns {head name: logits [B, outputs]}.

    ``heads`` maps a head's name to its outputs (40 identities or 40 attributes).
    """

    def __init__(self, encoder: nn.Module, heads: dict[str, int]) -> None:
        super().__init__()
        self.encoder = encoder
        self.heads = nn.ModuleDict({name: ConvHead(512, n) for name, n in heads.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.encoder(x)
        return {name: head(features) for name, head in self.heads.items()}


def imagenet_weights_file() -> Path:
    """Where ``energybench prefetch`` keeps the ImageNet ResNet18 weights (safetensors).

    ``$ENERGYBENCH_WEIGHTS_DIR`` overrides the folder (default
    ``~/.cache/energybench/weights``).
    """
    folder = os.environ.get("ENERGYBENCH_WEIGHTS_DIR", "~/.cache/energybench/weights")
    return Path(folder).expanduser() / f"{TIMM_RESNET18}.safetensors"


def _hf_cached_weights() -> Path | None:
    """timm's ImageNet checkpoint in the local Hugging Face cache, without any network access."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(f"timm/{TIMM_RESNET18}", "model.safetensors")
    return Path(found) if isinstance(found, str) else None


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{path}: weights file missing; run `energybench prefetch CONFIG` "
                        f"or point data.celeba.weights at an existing file") from None
    except Exception as exc:  # corrupt or foreign files raise many different types
        raise DataError(f"{path}: not a readable state dict: {exc}".splitlines()[0]) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise DataError(f"{path}: not a state dict")
    return state


def _resnet18_encoder() -> nn.Module:
    import timm

    return timm.create_model("resnet18", pretrained=False, num_classes=0, global_pool="")


def build_resnet18(weights: str) -> nn.Module:
    """timm ResNet18 as a feature extractor ([B, 3, S, S] -> [B, 512, S/32, S/32]).

    ``weights``: "none" (random init), "imagenet" (local cache only, never
    downloaded) or the path of a state dict (``.safetensors`` or a torch file;
    classifier keys ``fc.*`` are ignored).
    """
    model = _resnet18_encoder()
    if weights == "none":
        return model
    if weights == "imagenet":
        path = imagenet_weights_file()
        if not path.is_file():
            path = _hf_cached_weights() or path
        if not path.is_file():
            raise DataError(f"{imagenet_weights_file()}: ImageNet weights ({TIMM_RESNET18}) not "
                            f"in the local cache; run `energybench prefetch CONFIG` on a login "
                            f"node with internet")
    else:
        path = Path(weights)
    state = {k: v for k, v in _load_state(path).items() if not k.startswith("fc.")}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise DataError(f"{path}: not a resnet18 state dict: "
                        f"{str(exc).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        bad = (missing or unexpected)[0]
        raise DataError(f"{path}: not a resnet18 state dict ({len(missing)} missing, "
                        f"{len(unexpected)} unexpected keys, e.g. {bad!r})")
    return model


def prefetch_imagenet_weights() -> Path:
    """Download timm's ImageNet ResNet18 once (login node, with internet) into the cache file."""
    import timm
    from safetensors.torch import save_file

    from ..paths import atomic_path

    target = imagenet_weights_file()
    if target.is_file():
        return target
    model = timm.create_model(TIMM_RESNET18, pretrained=True, num_classes=0, global_pool="")
    with atomic_path(target) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    return target


# --- characteristics ---------------------------------------------------------------------

def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def model_characteristics(model: nn.Module, example_input: torch.Tensor) -> dict[str, Any]:
    """Size and cost of ``model``: parameter counts, bytes, and MACs per sample.

    MACs are FLOPs / 2 as counted by ``torch.utils.flop_counter`` for one
    forward pass of ``example_input``, divided by its batch size.
    """
    from torch.utils.flop_counter import FlopCounterMode

    total, trainable = count_parameters(model)
    params_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers_bytes = sum(b.numel() * b.element_size() for b in model.buffers())
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(example_input)
        flops = counter.get_total_flops()
    finally:
        for m, training in modes:
            m.training = training
    return {
        "params_total": total,
        "params_trainable": trainable,
        "buffers_bytes": buffers_bytes,
        "model_size_bytes": params_bytes + buffers_bytes,
        "macs_per_sample": int(flops // 2 // max(1, example_input.shape[0])),
    }
