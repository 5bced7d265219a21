"""The cluster profile: what each hardware name of a config means on one SLURM cluster.

A YAML file (``slurm_templates/profile.example.yaml``) maps every hardware name
to a partition and the job's resources. ``defaults`` is merged under every
entry. Validated as a whole like configs; every error names the file and the
field. ``setup`` and ``python`` are shell text the user writes for their own
jobs and are pasted into the batch script verbatim; every other value reaches
the script quoted (``#SBATCH --key='value'``).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..config import read_yaml
from ..errors import ConfigError

PositiveInt = Annotated[int, Field(gt=0)]

#: sbatch options energybench sets itself; ``sbatch:`` extras may not override them.
RESERVED_SBATCH = {
    "array": "(set by energybench from the runs)", "dependency": "(set by energybench)",
    "signal": "signal_delay_s", "output": "(the submitit folder)", "error": "(the submitit folder)",
    "open-mode": "(append, for requeued jobs)", "job-name": "(set by energybench)",
    "partition": "partition", "time": "time_limit_min", "gres": "gpus / gpu_type",
    "gpus-per-node": "gpus", "cpus-per-task": "cpus_per_task", "mem": "mem_gb",
    "account": "account", "qos": "qos", "constraint": "constraint", "requeue": "(always on)",
    "wrap": "(not a batch option)",
}


class HardwareProfile(BaseModel):
    """How one hardware name runs: partition and per-run resources (one run = one array task)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    partition: str  # SLURM partition (sbatch --partition)
    gpus: int = Field(1, ge=0)  # GPUs per run (--gres=gpu[:type]:N); 0 for CPU partitions
    gpu_type: str | None = None  # GRES type, e.g. "a100" -> --gres=gpu:a100:1
    constraint: str | None = None  # node features (--constraint)
    account: str | None = None  # --account
    qos: str | None = None  # --qos
    time_limit_min: PositiveInt | None = None  # job wall time, minutes; default executor.timeout_min
    cpus_per_task: PositiveInt = 4  # CPUs per run
    mem_gb: float | None = Field(None, gt=0)  # memory per run, GB (None = the partition's default)
    array_throttle: PositiveInt = 16  # at most this many tasks of one array run at once (--array=...%N)
    signal_delay_s: int = Field(120, ge=10, le=3600)  # USR2 this many seconds before the time limit
    max_attempts: PositiveInt = 4  # attempts per run: 1 + requeues after preemption or time limit
    setup: list[str] = []  # shell lines run before the worker (module loads, venv): your own shell, verbatim
    python: str | None = None  # interpreter on the compute node (shell text); default: the submitting one
    sbatch: dict[str, str | int | bool] = {}  # extra sbatch options, e.g. {reservation: x, exclusive: true}

    @field_validator("partition", "gpu_type", "constraint", "account", "qos")
    @classmethod
    def _no_space(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or any(c in v for c in "\n\r\t")):
            raise ValueError("must be a non-empty single line")
        return v

    @field_validator("sbatch")
    @classmethod
    def _sbatch(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in v:
            if not re.fullmatch(r"[a-z][a-z0-9-]*", key):
                raise ValueError(f"{key!r}: write sbatch long options without dashes, e.g. 'reservation'")
            if key in RESERVED_SBATCH:
                raise ValueError(f"{key!r} is set by energybench; use the profile field {RESERVED_SBATCH[key]}")
            if isinstance(v[key], str) and any(c in v[key] for c in "\n\r"):
                raise ValueError(f"{key!r}: the value must be a single line")
        return v

    @property
    def gres(self) -> str | None:
        """The ``--gres`` value, or None without GPUs."""
        if self.gpus == 0:
            return None
        return f"gpu:{self.gpu_type}:{self.gpus}" if self.gpu_type else f"gpu:{self.gpus}"

    def time_min(self, timeout_min: int) -> int:
        """The job's wall time: this profile's limit, else the config's per-run timeout."""
        return self.time_limit_min or timeout_min


class Profile(BaseModel):
    """A cluster profile (validated; ``defaults`` already merged into ``hardware``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Path  # the YAML file, for messages
    cluster: str | None = None  # a label for humans
    max_array_size: PositiveInt | None = None  # --dry-run only; a real submission asks scontrol
    hardware: dict[str, HardwareProfile]

    def entry(self, hardware: str) -> HardwareProfile:
        return self.hardware[hardware]

    def field(self, hardware: str, name: str) -> str:
        """How a field is named in messages (``hardware.h100.partition``)."""
        return f"hardware.{hardware}.{name}"


def _merge(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, set[str]]]:
    """Merge ``defaults`` under each hardware entry; remember which fields came from defaults."""
    defaults = raw.get("defaults") or {}
    merged, inherited = {}, {}
    hw = raw.get("hardware")
    if not isinstance(defaults, dict):
        raise ValueError("defaults: expected a mapping of fields")
    if not isinstance(hw, dict) or not hw:
        raise ValueError("hardware: expected a mapping of hardware names to partitions, e.g. "
                         "{h100: {partition: gpu_h100}}")
    for name, entry in hw.items():
        entry = entry if isinstance(entry, dict) else {}
        merged[str(name)] = {**defaults, **entry}
        inherited[str(name)] = set(defaults) - set(entry)
    return merged, inherited


def _message(err: dict[str, Any], inherited: dict[str, set[str]]) -> str:
    loc = [str(x) for x in err["loc"]]
    if len(loc) >= 3 and loc[0] == "hardware" and loc[2] in inherited.get(loc[1], set()):
        loc = ["defaults", *loc[2:]]  # report a bad default once, where it is written
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        known = list(HardwareProfile.model_fields) if loc[0] in ("hardware", "defaults") else \
            [f for f in Profile.model_fields if f != "source"] + ["defaults"]
        close = difflib.get_close_matches(loc[-1], known, n=1)
        msg = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "") + f"; allowed: {', '.join(known)}"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{'.'.join(loc)}: {msg}"


def parse_profile(raw: Any, source: Path) -> Profile:
    """Validate an already-parsed profile document; ``source`` names it in errors."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with a 'hardware' section")
    try:
        merged, inherited = _merge(raw)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    doc = {k: v for k, v in raw.items() if k != "defaults"} | {"hardware": merged, "source": source}
    try:
        return Profile.model_validate(doc)
    except ValidationError as exc:
        lines = list(dict.fromkeys(_message(e, inherited) for e in exc.errors()))
        raise ConfigError(f"{source}: {len(lines)} error(s): " + " | ".join(lines)) from None


def load_profile(path: Path | str) -> Profile:
    """Read and validate a cluster profile YAML file."""
    path = Path(path)
    raw = read_yaml(path, "cluster profile", "no such cluster profile; copy slurm_templates/profile.example.yaml "
                    "and point executor.profile (or --profile) at it")
    return parse_profile(raw, path)


def check_hardware(profile: Profile, hardware: list[str], config: Path | None = None) -> None:
    """Every hardware name of the config must be mapped by the profile."""
    missing = [h for h in hardware if h not in profile.hardware]
    if missing:
        where = f"{config}: hardware" if config else "hardware"
        raise ConfigError(f"{where}: {', '.join(map(repr, missing))} not in the cluster profile "
                          f"{profile.source} (it maps {', '.join(sorted(profile.hardware))}); "
                          f"add an entry under hardware: in the profile")
