"""Stable hashes of JSON-able values: run ids, seeds, cache keys (no dependency on anything above)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def stable_hash(obj: Any, n: int = 16) -> str:
    """First ``n`` hex digits of the SHA-256 of ``obj``'s canonical JSON."""
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()[:n]


def derive_seed(base_seed: int, paradigm: str, setup: int, repeat: int) -> int:
    """A run's seed from the base seed and its (workload, setup, repeat): the same on every host."""
    return int(stable_hash([base_seed, paradigm, setup, repeat], 8), 16) & 0x7FFFFFFF
