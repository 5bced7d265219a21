"""Generated images that a small CNN can learn: one colour and stripe pattern per class, plus noise."""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=4)
def images(n_train: int, n_val: int, classes: int, size: int, seed: int) -> tuple[Any, Any]:
    """((x, y), (x, y)) float32 images [N, 3, size, size] and int64 labels, the same for a given seed.

    Class ``c`` has its own colour and stripes (horizontal, vertical or diagonal at one of a few
    frequencies) with a random phase per image, plus Gaussian noise: learnable in a few epochs,
    not at once.
    """
    import math

    import torch

    g = torch.Generator().manual_seed(seed)
    colours = torch.rand(classes, 3, 1, 1, generator=g) * 0.8 + 0.2
    n = n_train + n_val
    y = torch.arange(n) % classes
    y = y[torch.randperm(n, generator=g)]
    r = torch.arange(size, dtype=torch.float32)
    rows, cols = r.view(size, 1), r.view(1, size)
    x = torch.empty(n, 3, size, size)
    phase = torch.rand(n, generator=g) * 2 * math.pi
    for i in range(n):
        c = int(y[i])
        freq = 2 * math.pi * (1 + c // 3) / size * 2
        coord = (rows, cols, rows + cols)[c % 3]
        stripes = 0.5 + 0.5 * torch.sin(freq * coord + phase[i])
        x[i] = colours[c] * stripes
    x += 0.3 * torch.randn(x.shape, generator=g)
    return (x[:n_train].contiguous(), y[:n_train].contiguous()), (x[n_train:].contiguous(), y[n_train:].contiguous())
