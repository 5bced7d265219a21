"""Planning: expand an experiment into run specs. Pure; no I/O, no SLURM.

A run's id is a hash of the resolved spec's *meaning* (what is trained and
how it is measured), not of where files live or how jobs are scheduled, so ids
are stable across processes, machines and key order, and a moved dataset does
not make every run "new".
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .config import Experiment
from .paradigms import PARADIGMS, stage


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def stable_hash(obj: Any, n: int = 16) -> str:
    """Hex digest of the canonical JSON of ``obj`` (key order does not matter)."""
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()[:n]


def derive_seed(base_seed: int, paradigm: str, setup: int, repeat: int) -> int:
    """Seed of one run: repeats differ, reruns of the same run match."""
    return int(stable_hash([base_seed, paradigm, setup, repeat], 8), 16) & 0x7FFFFFFF


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to execute one run (written as ``spec.json``)."""

    run_id: str
    experiment: str
    paradigm: str
    dataset: str
    stage: int
    setup: int
    batch_size: int
    learning_rate: float
    repeat: int
    hardware: str
    seed: int
    depends_on: str | None  # run id of the run that must finish first (its encoder)
    early_stopping: dict[str, Any]
    training: dict[str, Any]
    data: dict[str, Any]  # the paradigm's dataset section, paths absolute
    meter: dict[str, Any]
    timeout_min: int
    labels: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunSpec":
        return cls(**d)


#: Keys of a data section that say where files are, not what is trained.
_LOCATION_KEYS = ("path", "generate")


def _identity(exp: Experiment, paradigm: str, setup: int, bs: int, lr: float,
              repeat: int, hardware: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "experiment": exp.name,
        "paradigm": paradigm,
        "setup": setup,
        "batch_size": bs,
        "learning_rate": lr,
        "repeat": repeat,
        "hardware": hardware,
        "early_stopping": exp.early_stopping.model_dump(mode="json"),
        "training": exp.training.model_dump(mode="json"),
        "data": {k: v for k, v in data.items() if k not in _LOCATION_KEYS and k != "weights"},
        "weights": data.get("weights"),
        "meter": exp.meter.model_dump(mode="json"),
    }


def plan(exp: Experiment) -> list[RunSpec]:
    """Every run of ``exp``: setups x paradigms x repeats x hardware, dependencies first.

    Order: stage (runs with no dependency first), then hardware, paradigm,
    setup and repeat, as listed in the config.
    """
    specs: list[RunSpec] = []
    ids: dict[tuple[str, int, int, str], str] = {}
    ordered = sorted(exp.paradigms, key=lambda p: (stage(p), exp.paradigms.index(p)))
    for paradigm, hw, (setup, bs, lr), rep in itertools.product(
        ordered, exp.hardware, exp.grid.setups(), range(1, exp.repeats + 1)
    ):
        p = PARADIGMS[paradigm]
        section = getattr(exp.data, p.dataset)
        data = section.model_dump(mode="json")
        ident = _identity(exp, paradigm, setup, bs, lr, rep, hw, data)
        run_id = stable_hash(ident)
        ids[(paradigm, setup, rep, hw)] = run_id
        depends_on = ids[(p.depends_on, setup, rep, hw)] if p.depends_on else None
        specs.append(
            RunSpec(
                run_id=run_id,
                experiment=exp.name,
                paradigm=paradigm,
                dataset=p.dataset,
                stage=stage(paradigm),
                setup=setup,
                batch_size=bs,
                learning_rate=lr,
                repeat=rep,
                hardware=hw,
                seed=derive_seed(exp.training.seed, paradigm, setup, rep),
                depends_on=depends_on,
                early_stopping=exp.early_stopping.model_dump(mode="json"),
                training=exp.training.model_dump(mode="json"),
                data=data,
                meter=exp.meter.model_dump(mode="json"),
                timeout_min=exp.executor.timeout_min,
            )
        )
    return sorted(specs, key=lambda s: (s.stage, exp.hardware.index(s.hardware),
                                        exp.paradigms.index(s.paradigm), s.setup, s.repeat))


def summarize(specs: list[RunSpec]) -> dict[tuple[str, str], int]:
    """Runs per (paradigm, hardware)."""
    return dict(Counter((s.paradigm, s.hardware) for s in specs))
