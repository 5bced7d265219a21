"""Array caches beside the data: ``<path>/.energybench-cache/<name>-<hash>.npz``.

Best effort: a read-only dataset folder goes uncached; an unreadable cache is
recomputed.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ...paths import atomic_path
from ...hashing import stable_hash

CACHE_DIR = ".energybench-cache"


def cache_file(root: Path, name: str, key: Any) -> Path:
    """``<root>/.energybench-cache/<name>-<hash of key>.npz``."""
    return Path(root) / CACHE_DIR / f"{name}-{stable_hash(key)}.npz"


def load_cached(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or None when it is absent or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def save_cached(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a cache file atomically; silently skipped where the folder is not writable."""
    try:
        with atomic_path(path) as tmp:
            with tmp.open("wb") as f:
                np.savez(f, **arrays)
            tmp.chmod(0o644)  # shared datasets: other users may reuse the cache
    except OSError:
        pass
