"""The loads of the power windows: back-to-back matrix products (steady) and random bursts of them.

On a GPU the products are bf16 on the device, synchronised in chunks of about 10 ms so the
queue never runs dry and the time checks stay fine-grained; with ``--fake`` they are float32
on the CPU (the simulated GPU's power follows this process's CPU use).
"""

from __future__ import annotations

import random
import time
from typing import Any


class MatmulLoad:
    """Square matrix products on ``device``, in chunks that take about ``chunk_s``."""

    def __init__(self, device: str, n: int, chunk_s: float = 0.01) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        g = torch.Generator(device="cpu").manual_seed(0)
        self.a = torch.randn(n, n, generator=g).to(self.device, dtype)
        self.b = torch.randn(n, n, generator=g).to(self.device, dtype)
        self.out = torch.empty_like(self.a)
        self.products = 0
        self.chunk = 1
        self._run_chunk()  # warm-up (kernel selection), then size the chunk
        t1 = time.perf_counter()
        self._run_chunk()
        per_product_s = max(time.perf_counter() - t1, 1e-6)
        self.chunk = max(1, int(chunk_s / per_product_s))

    def _sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def _run_chunk(self) -> None:
        for _ in range(self.chunk):
            self.torch.matmul(self.a, self.b, out=self.out)
        self._sync()
        self.products += self.chunk

    def busy_until(self, end_mono: float) -> None:
        """Run chunks until ``end_mono`` (``time.monotonic()``)."""
        while time.monotonic() < end_mono:
            self._run_chunk()

    def steady(self, seconds: float) -> list[dict[str, Any]]:
        """Busy for ``seconds``; returns the one phase, as :meth:`bursty` does."""
        t0 = time.monotonic()
        self.busy_until(t0 + seconds)
        return [{"start_s": 0.0, "end_s": time.monotonic() - t0, "busy": True}]

    def bursty(self, seconds: float, phase_s: tuple[float, float], seed: int = 0) -> list[dict[str, Any]]:
        """Busy and idle phases of random lengths drawn from ``phase_s``, alternating, for ``seconds``.

        Random lengths keep the bursts from beating with a sampler's fixed period.
        """
        rng = random.Random(seed)
        t0 = time.monotonic()
        end = t0 + seconds
        phases, busy = [], True
        while (now := time.monotonic()) < end:
            stop = min(now + rng.uniform(*phase_s), end)
            if busy:
                self.busy_until(stop)
            else:
                time.sleep(max(stop - time.monotonic(), 0.0))
            phases.append({"start_s": now - t0, "end_s": time.monotonic() - t0, "busy": busy})
            busy = not busy
        return phases
