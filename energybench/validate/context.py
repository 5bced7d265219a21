"""What every validation step is given, and the step record the runner drives."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .layout import ValidationPaths
from .profiles import Profile
from .report import StepResult


@dataclass
class Context:
    """The validation's settings and what earlier steps left for later ones."""

    profile: Profile
    paths: ValidationPaths
    fake: bool
    data_dir: Path  # generated datasets (outside the results: not committed)
    log: TextIO  # validation.log
    deadline_mono: float = 0.0  # this step's end, time.monotonic(); set by the runner
    shared: dict[str, Any] = field(default_factory=dict)  # "environment", "probe", "data" ...

    def left_s(self) -> float:
        """Seconds until this step's deadline."""
        return self.deadline_mono - time.monotonic()


@dataclass(frozen=True)
class Step:
    """One step: ``run`` fills the result it is handed (so a failure keeps what it measured),
    ``checks`` names every verdict it ends with."""

    name: str
    title: str
    run: Callable[[Context, StepResult], None]
    checks: Callable[[Profile], list[str]]


class SkipStep(Exception):
    """A step cannot run here (e.g. NVML hides what it needs); its checks end as SKIP with this reason."""
