"""The CNN, from torchvision's building blocks (imported only when a run builds it)."""

from __future__ import annotations

from typing import Any


def tiny_cnn(width: int, classes: int) -> Any:
    """Two conv-BN-ReLU blocks of ``width`` and ``2 * width`` channels, pooling, a linear head."""
    from torch import nn
    from torchvision.ops import Conv2dNormActivation

    if width < 1:
        raise ValueError(f"tiny-cnn: width must be at least 1, not {width}")
    return nn.Sequential(
        Conv2dNormActivation(3, width, kernel_size=3, stride=2),            # 32 -> 16
        Conv2dNormActivation(width, 2 * width, kernel_size=3, stride=2),    # 16 -> 8
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, classes),
    )
