"""The files of one validation directory (``results/validation/<gpu>-<date>/``); nobody else names them.

::

    validation.md             every figure and one verdict line per check (rewritten as each step ends)
    validation.json           the same, machine-readable
    validation.log            tracebacks of failed steps, the runs' stderr
    <step>-<table>.parquet    raw measurements of a step (units in the column names)
    runs/<case>/              the study's runs as the worker writes them (checkpoints removed)

A ``--fake`` validation never goes under ``results/validation/``: its default home is
``results/validation-fake/`` (git-ignored), and its files say FAKE.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

#: Where real validations go (tracked in git) and where fake ones go (ignored), under the repository.
REAL_ROOT = Path("results") / "validation"
FAKE_ROOT = Path("results") / "validation-fake"


def slug(text: str) -> str:
    """A folder-name form of a GPU name ("NVIDIA H100 80GB HBM3" -> "nvidia-h100-80gb-hbm3")."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "gpu"


@dataclass(frozen=True)
class ValidationPaths:
    """Every file of one validation directory."""

    dir: Path

    @classmethod
    def new(cls, root: Path, gpu_name: str, date: str | None = None) -> ValidationPaths:
        """A fresh ``<root>/<gpu>-<date>`` (``-2``, ``-3`` ... when that day has one already)."""
        date = date or time.strftime("%Y-%m-%d")
        base = Path(root) / f"{slug(gpu_name)}-{date}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        return cls(path)

    @property
    def report(self) -> Path:
        return self.dir / "validation.md"

    @property
    def figures(self) -> Path:
        return self.dir / "validation.json"

    @property
    def log(self) -> Path:
        return self.dir / "validation.log"

    def table(self, step: str, name: str) -> Path:
        return self.dir / f"{step}-{name}.parquet"

    @property
    def runs_dir(self) -> Path:
        return self.dir / "runs"

    def run(self, case: str) -> Path:
        return self.runs_dir / case


def is_under(path: Path, root: Path) -> bool:
    """Whether ``path`` lies inside ``root`` (both resolved)."""
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
        return True
    except ValueError:
        return False
