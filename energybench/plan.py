"""Planning: expand an experiment into run specs. Pure; no I/O, no SLURM.

A run's id is a hash of the resolved spec's *meaning* (what is trained and
how it is measured), not of where files live or how jobs are scheduled, so ids
are stable across processes, machines and key order, and a moved dataset does
not make every run "new".
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from .config import CelebaData, Data, EarlyStopping, Experiment, Meter, Pamap2Data, Search, Training
from .hashing import derive_seed, stable_hash

__all__ = ["DATA_SECTIONS", "RunSpec", "derive_seed", "plan", "stable_hash", "summarize"]


#: The config section of each dataset's data, by dataset name.
DATA_SECTIONS: dict[str, type[Pamap2Data] | type[CelebaData]] = {"pamap2": Pamap2Data, "celeba": CelebaData}
#: RunSpec fields that hold frozen config objects (written to JSON as their ``model_dump``).
_SECTIONS = ("early_stopping", "training", "data", "meter")


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to execute one run (written as ``spec.json``).

    The config sections are the validated, frozen config objects
    (``spec.meter.period_s``), not dicts; :meth:`to_dict` writes them as JSON.
    """

    run_id: str
    experiment: str
    paradigm: str  # the workload's name
    dataset: str | None  # the config's data section it reads (None: the workload brings its own data)
    stage: int
    setup: int
    batch_size: int
    learning_rate: float
    repeat: int
    hardware: str
    seed: int
    depends_on: str | None  # run id of the run that must finish first (its encoder)
    early_stopping: EarlyStopping
    training: Training
    data: Pamap2Data | CelebaData | None  # the workload's data section, paths absolute
    meter: Meter
    timeout_min: int  # wall-time limit of the run, minutes
    loader: str = "resident"  # the input pipeline (config data.loader): resident | dataloader
    loader_workers: int | None = None  # dataloader worker processes (None: the job's CPUs - 1)
    search: Search | None = None  # the config's search section (successive halving); None: the full grid
    params: dict[str, Any] = field(default_factory=dict)  # the grid's extra axes at this point (grid.params)
    workload: dict[str, Any] | None = None  # how the worker finds the workload again: name, kind, source, version, ref

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``spec.json``, ``plan.json``): sections as plain dicts."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in _SECTIONS:
            out[key] = out[key].model_dump(mode="json") if out[key] is not None else None
        out["search"] = self.search.model_dump(mode="json") if self.search is not None else None
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunSpec":
        """Read the JSON form back (keys it does not know, e.g. an old ``labels``, are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["early_stopping"] = EarlyStopping.model_validate(d["early_stopping"])
        values["training"] = Training.model_validate(d["training"])
        values["meter"] = Meter.model_validate(d["meter"])
        values["data"] = DATA_SECTIONS[d["dataset"]].model_validate(d["data"]) if d.get("dataset") else None
        values["search"] = Search.model_validate(d["search"]) if d.get("search") else None
        return cls(**values)


#: Keys of a data section that say where files are, not what is trained.
_LOCATION_KEYS = ("path", "generate")


def _identity(exp: Experiment, paradigm: str, setup: int, bs: int, lr: float,
              repeat: int, hardware: str, data: dict[str, Any] | None, params: dict[str, Any]) -> dict[str, Any]:
    # The input pipeline changes what is measured, so it is part of the meaning; at its default
    # (resident, no worker count) it is left out, so configs written before it keep their run ids.
    pipeline = {k: v for k, v in (("loader", exp.data.loader), ("loader_workers", exp.data.loader_workers))
                if v != Data.model_fields[k].default}
    # A search prunes runs, so it is part of the meaning too; without one, ids stay as they were.
    search = {"search": exp.search.model_dump(mode="json")} if exp.search is not None else {}
    # Likewise the extra grid axes, and a command (what it runs is what is measured).
    extra = {"params": params} if params else {}
    ref = exp.workload_ref(paradigm)
    command = {"command": ref["command"]["command"]} if ref.get("command") else {}
    data = data or {}
    return {**pipeline, **search, **extra, **command,
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
        "meter": _meter_identity(exp.meter),
    }


def _meter_identity(meter: Meter) -> dict[str, Any]:
    # Where the sampler runs is part of how a run is measured; at its default (a thread) it is left
    # out, so configs written before the choice existed keep their run ids.
    out = meter.model_dump(mode="json")
    if out.get("sampler") == Meter.model_fields["sampler"].default:
        del out["sampler"]
    return out


def plan(exp: Experiment) -> list[RunSpec]:
    """Every run of ``exp``: setups x workloads x repeats x hardware, dependencies first.

    Order: stage (runs with no dependency first), then hardware and workload as
    listed in the config, setup (numbered by :meth:`~energybench.config.Grid.points`,
    whatever the grid's order) and repeat.
    """
    specs: list[RunSpec] = []
    ids: dict[tuple[str, int, int, str], str] = {}
    workloads = exp.workloads
    names = list(workloads)
    ordered = sorted(names, key=lambda n: (workloads[n].stage, names.index(n)))
    for paradigm, hw, (setup, bs, lr, params), rep in itertools.product(
        ordered, exp.hardware, exp.grid.points(), range(1, exp.repeats + 1)
    ):
        w = workloads[paradigm]
        section = getattr(exp.data, w.dataset) if w.dataset else None
        ident = _identity(exp, paradigm, setup, bs, lr, rep, hw,
                          section.model_dump(mode="json") if section is not None else None, params)
        run_id = stable_hash(ident)
        ids[(paradigm, setup, rep, hw)] = run_id
        depends_on = ids[(w.depends_on, setup, rep, hw)] if w.depends_on else None
        specs.append(
            RunSpec(
                run_id=run_id,
                experiment=exp.name,
                paradigm=paradigm,
                dataset=w.dataset,
                stage=w.stage,
                setup=setup,
                batch_size=bs,
                learning_rate=lr,
                repeat=rep,
                hardware=hw,
                seed=derive_seed(exp.training.seed, paradigm, setup, rep),
                depends_on=depends_on,
                early_stopping=exp.early_stopping,
                training=exp.training,
                data=section,
                meter=exp.meter,
                timeout_min=exp.executor.timeout_min,
                loader=exp.data.loader,
                loader_workers=exp.data.loader_workers,
                search=exp.search,
                params=w.resolved_params(params),
                workload=exp.workload_ref(paradigm),
            )
        )
    return sorted(specs, key=lambda s: (s.stage, exp.hardware.index(s.hardware),
                                        names.index(s.paradigm), s.setup, s.repeat))


def summarize(specs: list[RunSpec]) -> dict[tuple[str, str], int]:
    """Runs per (paradigm, hardware)."""
    return dict(Counter((s.paradigm, s.hardware) for s in specs))
