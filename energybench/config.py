"""Experiment configs: one YAML file, validated as a whole into frozen objects.

Every error of a file is reported at once, each naming its field, before
anything runs. Relative paths are resolved against the config file's folder.
"""

from __future__ import annotations

import difflib
import itertools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, PlainValidator, PrivateAttr, \
    StrictBool, StrictFloat, StrictInt, StrictStr, Tag, ValidationError, ValidationInfo, field_validator, \
    model_validator

if TYPE_CHECKING:
    from .workloads.base import Workload

from .errors import ConfigError
from .units import BYTES_PER_MIB


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
#: A value of an extra grid axis.
GridValue = Annotated[StrictBool | StrictInt | StrictFloat | StrictStr, Field(union_mode="left_to_right")]
#: Names a grid axis may not take (they are what every run already has).
_PLACEHOLDERS_TAKEN = ("seed", "repeat", "setup", "run_id", "attempt", "run_dir", "hardware", "python", "config_dir")


class Grid(_Frozen):
    """The hyperparameter grid; setups are numbered 1..N batch-major (paper, Table 1)."""

    batch_sizes: list[PositiveInt] = Field(min_length=1)  # samples per batch
    learning_rates: list[PositiveFloat] = Field(min_length=1)  # constant learning rate
    # further named axes passed to the workload, e.g. {weight_decay: [0, 0.0001], width: [32, 64]}
    params: dict[str, list[GridValue]] = {}

    @field_validator("batch_sizes", "learning_rates")
    @classmethod
    def _unique(cls, v: list[Any]) -> list[Any]:
        if len(set(v)) != len(v):
            raise ValueError("values must be unique")
        return v

    @field_validator("params")
    @classmethod
    def _axes(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, values in v.items():
            if not name.isidentifier() or name in ("batch_size", "learning_rate") or name in _PLACEHOLDERS_TAKEN:
                raise ValueError(f"axis {name!r}: use an identifier other than batch_size, learning_rate, "
                                 f"{', '.join(_PLACEHOLDERS_TAKEN)}")
            if not values:
                raise ValueError(f"axis {name!r} has no values")
            if len({(type(x).__name__, x) for x in values}) != len(values):
                raise ValueError(f"axis {name!r}: values must be unique")
        return v

    def setups(self) -> list[tuple[int, int, float]]:
        """(setup number, batch size, learning rate) of the batch size x learning rate grid, 1-based.

        Batch size ascending, then learning rate descending (the study's Table 1
        order), whatever order the config lists them in. With ``params``, use
        :meth:`points`: there a setup is one point of the full product.
        """
        rates = sorted(self.learning_rates, reverse=True)
        return [
            (i * len(rates) + j + 1, bs, lr)
            for i, bs in enumerate(sorted(self.batch_sizes))
            for j, lr in enumerate(rates)
        ]

    def points(self) -> list[tuple[int, int, float, dict[str, Any]]]:
        """(setup, batch size, learning rate, extra axes) over the full product, numbered 1..N.

        Order: batch size ascending, learning rate descending, then each extra
        axis in name order with its values ascending (numbers before strings),
        the last axis fastest; listing order in the config does not matter.
        Without ``params`` the numbers are those of :meth:`setups`.
        """
        axes = [(name, sorted(values, key=_value_order)) for name, values in sorted(self.params.items())]
        combos = [dict(zip([a for a, _ in axes], vals)) for vals in itertools.product(*[v for _, v in axes])]
        out = []
        for bs in sorted(self.batch_sizes):
            for lr in sorted(self.learning_rates, reverse=True):
                for extra in combos:
                    out.append((len(out) + 1, bs, lr, extra))
        return out

    @property
    def axes(self) -> list[str]:
        """Every swept axis: batch_size, learning_rate, then the extra ones in name order."""
        return ["batch_size", "learning_rate", *sorted(self.params)]


def _value_order(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, str(v))


class EarlyStopping(_Frozen):
    """Threshold early stopping: patience counts only once the threshold is reached."""

    threshold: float = Field(0.8, gt=0, le=1)  # validation accuracy, 0..1
    patience_epochs: PositiveInt = 40  # epochs without improvement, counted after the threshold
    max_epochs: PositiveInt = 1000  # hard cap, epochs
    min_delta: float = Field(0.0, ge=0)  # smallest change that counts as an improvement
    # Energy-aware early stopping (energybench.estimate.budget), off unless one of these is set:
    # after the stable window, stop a run whose forecast energy to reach the threshold exceeds
    # energy_budget_wh, or energy_budget_factor x the best completed run of its family
    # (same paradigm and hardware). Off by default: the study's protocol stays exact.
    energy_budget_wh: PositiveFloat | None = None  # budget per run, watt-hours
    energy_budget_factor: float | None = Field(None, gt=1)  # k x the family's best energy to the threshold
    stable_epoch: PositiveInt = 10  # first epoch of the stable window (del Rey et al.), 1-based
    window_epochs: PositiveInt = 5  # epochs in the stable window


class Training(_Frozen):
    """Optimiser and device settings shared by every run."""

    optimizer: Literal["adam", "sgd"] = "adam"
    momentum: float = Field(0.9, ge=0, lt=1)  # sgd only
    weight_decay: float = Field(0.0, ge=0)
    multitask_alpha: float = Field(0.5, ge=0, le=1)  # loss = alpha * L_attr + (1 - alpha) * L_id
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"  # mps: Apple GPUs (torch's MPS backend)
    seed: int = 0  # base seed; each run derives its own from (paradigm, setup, repeat)
    threads: PositiveInt | None = None  # torch CPU threads; None = torch default


class Pamap2Data(_Frozen):
    """PAMAP2 in the UCI layout (``Protocol/subject1NN.dat``)."""

    path: Path  # folder holding Protocol/ (or PAMAP2_Dataset/Protocol/, as unzipped)
    generate: bool = False  # write small synthetic files in the UCI format when missing
    window_samples: PositiveInt = 256  # window length at 100 Hz, samples
    stride_samples: PositiveInt = 128  # hop between windows, samples
    max_windows: PositiveInt | None = None  # cap on windows per split (demos)


#: ``image_size_px`` value that keeps the published images as they are (178 x 218, no crop, no resize).
NATIVE = "native"


def _image_size(v: Any) -> str | int | list[int]:
    """``native``, a square side (128), or a height x width pair ([218, 178] or "218x178"), checked."""
    hint = "use 'native', a side in pixels (128) or [height, width] in pixels ([218, 178] or '218x178')"
    if v == NATIVE:
        return NATIVE
    if isinstance(v, str):
        parts = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", v)
        if not parts:
            raise ValueError(f"{v!r}: {hint}")
        v = [int(parts[1]), int(parts[2])]
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(n, int) and not isinstance(n, bool)
                                                            and n > 0 for n in v):
        return int(v[0]) if v[0] == v[1] else [int(v[0]), int(v[1])]  # a square pair is the square: one run id
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return v
    raise ValueError(f"{v!r}: {hint}")


#: ``native`` | side (pixels) | [height, width] (pixels).
ImageSize = Annotated[str | int | list[int], PlainValidator(_image_size)]


class CelebaData(_Frozen):
    """CelebA in the official layout (img_align_celeba/ + the list files)."""

    path: Path  # folder holding img_align_celeba/ and the lists (or celeba/ with them, torchvision's layout)
    generate: bool = False  # write small synthetic JPEGs and lists when missing
    identities: PositiveInt = 40  # keep the N most frequent identities
    # "native": the published 178 x 218 images as they are; N: centre-cropped to a square, resized to N x N
    # pixels; [H, W]: resized to H x W pixels (no crop)
    image_size_px: ImageSize = 128
    weights: str = "imagenet"  # "imagenet" (prefetched cache), "none", or a file path
    max_images: PositiveInt | None = None  # cap on images (demos)


    def image_hw(self) -> tuple[int, int] | None:
        """(height, width) in pixels the images are resized to; None for ``native`` (kept as published)."""
        size = self.image_size_px
        if size == NATIVE:
            return None
        if isinstance(size, int):
            return (size, size)
        return (int(size[0]), int(size[1]))


#: How batches reach the model: ``resident`` (each split on the device, indexed with a permutation) or
#: ``dataloader`` (a torch DataLoader from host memory, workers from the job's CPUs, pinned memory).
LOADERS = ("resident", "dataloader")


class Data(_Frozen):
    pamap2: Pamap2Data | None = None
    celeba: CelebaData | None = None
    loader: Literal["resident", "dataloader"] = "resident"  # the input pipeline, see LOADERS
    loader_workers: Annotated[int, Field(ge=0)] | None = None  # dataloader: worker processes (None: job CPUs - 1)


#: The study's sampling period (the workshop version: "a sampling rate of one second"), seconds.
STUDY_PERIOD_S = 1.0


def _period(v: Any) -> Any:
    return STUDY_PERIOD_S if v == "study" else v


class Meter(_Frozen):
    """How energy is measured."""

    kind: Literal["auto", "nvml", "rapl", "estimate", "synthetic"] = "auto"
    # sampler period, seconds; "study" = STUDY_PERIOD_S, Carbontracker's one-second sampling (workshop version)
    period_s: Annotated[float, BeforeValidator(_period), Field(ge=0.01, le=10)] = 0.1
    flush_s: float = Field(5.0, gt=0, le=300)  # longest time between shard writes, seconds
    idle_s: float = Field(10.0, ge=0)  # idle baseline before training, seconds (0 = off)
    tdp_w: PositiveFloat | None = None  # estimate meter: device TDP, watts (None = guess)
    # where the sampler runs: a thread of the worker, or a process of its own (the GIL cannot delay it)
    sampler: Literal["thread", "process"] = "thread"


class Executor(_Frozen):
    """Where runs execute."""

    kind: Literal["local", "slurm"] = "local"
    max_parallel: PositiveInt | None = None  # local: concurrent runs (None = GPUs or 1)
    timeout_min: PositiveInt = 240  # per-run wall time limit, minutes
    profile: Path | None = None  # slurm: cluster profile YAML


class Report(_Frozen):
    """Conversions the tables and report add, labelled as conversions (not measurements)."""

    pue: float | None = Field(None, ge=1)  # facility energy / IT energy (power usage effectiveness); None: none
    carbon_intensity_g_per_kwh: float | None = Field(None, ge=0)  # grid carbon intensity, g CO2e per kWh
    carbon_source: str | None = None  # where the intensity comes from (region, year, publisher)

    @model_validator(mode="after")
    def _sourced(self) -> "Report":
        if self.carbon_intensity_g_per_kwh is not None and not self.carbon_source:
            raise ValueError("carbon_intensity_g_per_kwh needs carbon_source (region, year, publisher)")
        return self


#: Fewest epochs a first rung needs for the objectives that extrapolate a learning curve (forecast, zeus).
MIN_CURVE_EPOCHS = 3


class Sm2Objective(_Frozen):
    """SM2's weights (Geissler et al., ARCS 2025; see docs/search.md): performance vs energy."""

    alpha: float = Field(0.5, ge=0, le=1)  # weight of the (normalised) validation accuracy
    beta: float = Field(0.5, ge=0, le=1)  # weight of the (normalised) energy per epoch


class ZeusObjective(_Frozen):
    """Zeus's cost: eta_knob x energy to accuracy + (1 - eta_knob) x max_power_w x time to accuracy."""

    eta_knob: float = Field(0.5, ge=0, le=1)  # 1: energy only, 0: time only
    max_power_w: PositiveFloat | None = None  # the device's power limit, watts; None: the highest measured


class Search(_Frozen):
    """Successive halving over the grid's setups, one bracket per (workload, hardware).

    Rung r ends at ``rung_epochs x eta^r`` epochs (capped at ``max_epochs``); after it,
    the best ``max(min_survivors, n // eta)`` setups go on from their checkpoints and
    the others stop as ``pruned``. The last survivors train to early stopping.
    """

    strategy: Literal["successive-halving"] = "successive-halving"
    rung_epochs: PositiveInt | None = None  # epochs of the first rung
    rung_fraction: float | None = Field(None, gt=0, le=1)  # ... or as a fraction of max_epochs
    eta: float = 2.0  # reduction factor: keep 1 / eta of the setups after each rung
    min_survivors: PositiveInt = 1  # setups left when the search stops pruning
    objective: Literal["forecast", "sm2", "zeus", "accuracy"] = "forecast"
    sm2: Sm2Objective = Sm2Objective()
    zeus: ZeusObjective = ZeusObjective()

    @model_validator(mode="after")
    def _rung(self) -> "Search":
        if self.eta <= 1:
            raise ValueError(f"eta {self.eta}: the reduction factor must be greater than 1 (2 halves, 3 keeps a third)")
        if (self.rung_epochs is None) == (self.rung_fraction is None):
            raise ValueError("give the first rung's length as rung_epochs (epochs) or rung_fraction "
                             "(of early_stopping.max_epochs), exactly one")
        return self

    def first_rung_epochs(self, max_epochs: int) -> int:
        """Epochs of the first rung, at least 1."""
        if self.rung_epochs is not None:
            return self.rung_epochs
        return max(1, round(float(self.rung_fraction or 0) * max_epochs))


def _plain_name(v: str) -> str:
    """An experiment's or a workload's name: it names folders and table rows."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", v):
        raise ValueError("use letters, digits, '_', '.', '-' only")
    return v


class Command(_Frozen):
    """A command workload: a program run as the run (``energybench.worker.command``)."""

    name: str  # the workload's name in tables (letters, digits, '_', '.', '-')
    command: str = Field(min_length=1)  # e.g. "python train.py --batch-size {batch_size} --lr {learning_rate}"
    monitor: Literal["val_accuracy", "val_loss", "none"] = "val_accuracy"  # what should_stop() watches
    timeout_s: PositiveFloat | None = None  # ended after this long (None: the job's time limit)
    env: dict[str, str] = Field(default_factory=dict)  # extra environment of the program
    params: list[str] = Field(default_factory=list)  # grid.params axes it takes (placeholders or client.params())
    doc: str | None = None  # one line for `energybench workloads` and the report

    _name = field_validator("name")(classmethod(lambda cls, v: _plain_name(v)))


#: One ``paradigms`` entry: a name (built-in, installed, ``module:attribute``) or a command mapping;
#: a mapping is validated as a command only, so its errors name its fields and nothing else.
WorkloadEntry = Annotated[
    Annotated[str, Tag("name")] | Annotated[Command, Tag("command")],
    Discriminator(lambda v: "command" if isinstance(v, (dict, Command)) else "name"),
]


class Experiment(_Frozen):
    """One experiment: the grid x workloads x repeats x hardware."""

    name: str
    grid: Grid
    # workloads: built-in or installed names, module:attribute paths, or {name, command, ...} mappings
    paradigms: list[WorkloadEntry] = Field(min_length=1)
    repeats: PositiveInt = 1
    hardware: list[str] = Field(min_length=1)
    early_stopping: EarlyStopping = EarlyStopping()
    training: Training = Training()
    data: Data = Field(default_factory=lambda: Data())
    meter: Meter = Meter()
    executor: Executor = Executor()
    report: Report = Report()
    search: Search | None = None  # absent: the full grid
    _workloads: dict[str, "Workload"] = PrivateAttr(default_factory=dict)
    _refs: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)

    _name = field_validator("name")(classmethod(lambda cls, v: _plain_name(v)))

    @field_validator("hardware")
    @classmethod
    def _hardware(cls, v: list[str]) -> list[str]:
        for h in v:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", h):
                raise ValueError(f"hardware name {h!r}: use letters, digits, '_', '-' only")
        if len(set(v)) != len(v):
            raise ValueError("values must be unique")
        return v

    @field_validator("paradigms")
    @classmethod
    def _paradigms(cls, v: list[Any], info: ValidationInfo) -> list[Any]:
        from .workloads import registry

        folder = (info.context or {}).get("folder")
        problems, names = [], []
        for entry in v:
            try:
                names.append(registry.resolve_entry(entry, folder).name)
            except registry.WorkloadError as exc:
                problems.append(str(exc))
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(f"workload(s) listed twice: {', '.join(dupes)}")
        if problems:
            raise ValueError("; ".join(problems))
        return v

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> "Experiment":
        from .workloads import registry

        folder = (info.context or {}).get("folder")
        for entry in self.paradigms:
            w = registry.resolve_entry(entry, folder)
            self._workloads[w.name] = w
            self._refs[w.name] = registry.entry_ref(entry, w, folder)
        problems = []
        for w in self._workloads.values():
            if w.depends_on and w.depends_on not in self._workloads:
                problems.append(f"workload {w.name!r} needs {w.depends_on!r} in paradigms (it trains on its "
                                f"{', '.join(registry.artefacts_of(w.depends_on)) or 'output'})")
            if w.dataset and getattr(self.data, w.dataset, None) is None:
                problems.append(f"workload {w.name!r} needs a data.{w.dataset} section")
            swept = {k: self.grid.params[k][0] for k in self.grid.params}
            problems += w.param_problems(swept) if swept else []
            for axis, values in self.grid.params.items():
                spec = w.params.get(axis)
                problems += [why for x in values[1:] if spec is not None and (why := spec.problem(axis, x))]
        if self.training.device == "mps" and self.meter.kind in ("nvml", "rapl"):
            problems.append(f"meter.kind {self.meter.kind!r} cannot meter training.device 'mps' (Apple GPUs have "
                            "no NVML or RAPL counters); use 'auto' or 'estimate' (a labelled estimate)")
        problems += self._search_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _search_problems(self) -> list[str]:
        s = self.search
        if s is None:
            return []
        es, out = self.early_stopping, []
        first = s.first_rung_epochs(es.max_epochs)
        if first >= es.max_epochs:
            out.append(f"search: the first rung ({first} epochs) must be shorter than early_stopping.max_epochs "
                       f"({es.max_epochs}), or nothing is pruned before every run has ended")
        if s.objective in ("forecast", "zeus") and first < MIN_CURVE_EPOCHS:
            out.append(f"search: objective {s.objective!r} extrapolates each run's learning curve; the first rung "
                       f"needs at least {MIN_CURVE_EPOCHS} epochs (it has {first})")
        n_setups = len(self.grid.points())
        if s.min_survivors >= n_setups:
            out.append(f"search.min_survivors {s.min_survivors}: the grid has {n_setups} setups; "
                       "keep fewer than that or nothing is pruned")
        for w in self._workloads.values():
            if w.kind == "command":
                out.append(f"search: workload {w.name!r} is a command; successive halving pauses runs at rung "
                           "ends, which only in-process workloads can (leave it out of this config)")
            elif w.depends_on or any(q.depends_on == w.name for q in self._workloads.values()):
                out.append(f"search: workload {w.name!r} is part of a pretraining chain; successive halving "
                           "searches workloads that train on their own (leave the chain out of this config)")
            elif w.monitor != "val_accuracy":
                out.append(f"search: workload {w.name!r} has no accuracy threshold (it monitors {w.monitor}); "
                           "successive halving ranks accuracy-monitored workloads")
        return out

    @property
    def workloads(self) -> dict[str, "Workload"]:
        """The resolved workloads by name, in config order."""
        return dict(self._workloads)

    @property
    def workload_names(self) -> list[str]:
        """The workloads' names, in config order (what ``runs.parquet``'s ``paradigm`` says)."""
        return list(self._workloads)

    def workload_ref(self, name: str) -> dict[str, Any]:
        """How a worker finds workload ``name`` again (``spec.json``'s ``workload``)."""
        return dict(self._refs[name])

    @property
    def datasets(self) -> list[str]:
        """Datasets used by the workloads, in the order of the ``data`` section's fields."""
        used = {w.dataset for w in self._workloads.values() if w.dataset}
        return [d for d in Data.model_fields if d in used]


def _format_error(path: Path, err: dict[str, Any], raw: dict[str, Any]) -> str:
    loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        parent: Any = raw
        for key in err["loc"][:-1]:
            parent = parent.get(key, {}) if isinstance(parent, dict) else {}
        model: Any = Experiment
        for key in err["loc"][:-1]:
            field = model.model_fields.get(key) if hasattr(model, "model_fields") else None
            ann = field.annotation if field else None
            model = next((a for a in getattr(ann, "__args__", (ann,)) if hasattr(a, "model_fields")), None)
        known = list(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
        msg = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
        if known:
            msg += f"; allowed: {', '.join(known)}"
    elif err["type"] == "model_type":  # e.g. "grid:" left empty, or a list where a mapping belongs
        got = err.get("input")
        msg = "expected a mapping of keys, got " + ("nothing (the key is empty)" if got is None
                                                    else f"a {type(got).__name__}")
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{loc}: {msg}"


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make data paths and the profile path absolute, relative to the config's folder."""
    data = raw.get("data")
    if isinstance(data, dict):
        for section in data.values():
            if isinstance(section, dict) and isinstance(section.get("path"), str):
                section["path"] = str((base / Path(section["path"]).expanduser()).resolve())
            if isinstance(section, dict):
                w = section.get("weights")
                if isinstance(w, str) and w not in ("imagenet", "none"):
                    section["weights"] = str((base / Path(w).expanduser()).resolve())
    ex = raw.get("executor")
    if isinstance(ex, dict) and isinstance(ex.get("profile"), str):
        ex["profile"] = str((base / Path(ex["profile"]).expanduser()).resolve())
    return raw


def parse_config(raw: Any, source: Path) -> Experiment:
    """Validate an already-parsed YAML document; ``source`` names it in errors."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    raw = _resolve_paths(raw, source.parent.absolute())
    try:
        return Experiment.model_validate(raw, context={"folder": source.parent.absolute()})
    except ValidationError as exc:
        lines = [_format_error(source, e, raw) for e in exc.errors()]
        raise ConfigError(f"{source}: {len(lines)} error(s): " + " | ".join(lines)) from None


#: Largest config or profile file read, bytes (real ones are a few KiB).
MAX_YAML_BYTES = 4 * BYTES_PER_MIB


def read_yaml(path: Path, what: str, missing: str) -> Any:
    """The YAML document in ``path``; every way the file can be unreadable is one ConfigError naming it.

    ``what`` names the file in messages ("config", "cluster profile"); ``missing`` is the message
    when it does not exist. An empty file (or one of comments only) is an error too.
    """
    try:
        with path.open("rb") as f:
            data = f.read(MAX_YAML_BYTES + 1)  # a checkpoint passed by mistake is not read whole
    except FileNotFoundError:
        raise ConfigError(f"{path}: {missing}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; give the path of a {what} file (YAML)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror}") from None
    if len(data) > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: over {MAX_YAML_BYTES // BYTES_PER_MIB} MiB, too large for a {what}; "
                          "is it the right file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file (byte {exc.start} is not UTF-8); "
                          f"a {what} is a YAML text file") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or "invalid YAML"
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    if raw is None:
        raise ConfigError(f"{path}: the {what} file is empty (no YAML keys in it)")
    return raw


def load_config(path: Path | str) -> Experiment:
    """Read and validate an experiment config file."""
    path = Path(path)
    return parse_config(read_yaml(path, "config", "no such config file"), path)


def override_executor(exp: Experiment, kind: str | None) -> Experiment:
    """``exp`` with the executor kind replaced (the CLI's ``--executor``)."""
    if kind is None or kind == exp.executor.kind:
        return exp
    return exp.model_copy(update={"executor": exp.executor.model_copy(update={"kind": kind})})
