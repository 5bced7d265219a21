"""Command workloads: any program run as the run (``{name: ..., command: "python train.py ..."}``).

The worker fills the command's ``{placeholders}`` (every value shell-quoted),
starts it in the run directory and meters the job's devices while it runs;
``energybench.client`` lets the program mark epochs and ask ``should_stop()``
(:mod:`energybench.worker.command`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .base import Param, Workload

#: What every command can use besides the grid's extra axes.
STANDARD_PLACEHOLDERS = ("batch_size", "learning_rate", "seed", "repeat", "setup", "run_id", "attempt", "run_dir",
                         "hardware", "python", "config_dir")


@dataclass(frozen=True)
class CommandWorkload(Workload):
    """A program as the run; ``command`` is a template, ``params`` the extra axes it accepts."""

    command: str = ""
    timeout_s: float | None = None  # ended (SIGTERM, then SIGKILL) after this long; None: the job's time limit
    env: Mapping[str, str] = field(default_factory=dict)

    kind = "command"

    def placeholders(self) -> set[str]:
        from ..templates import placeholders

        return placeholders(self.command)

    def declaration_problems(self) -> list[str]:
        out = super().declaration_problems()
        if not self.command.strip():
            out.append("command is empty")
            return out
        try:
            names = self.placeholders()
        except Exception as exc:  # a malformed template: one line
            return [*out, f"command {self.command!r}: {exc}"]
        unknown = sorted(names - set(STANDARD_PLACEHOLDERS) - set(self.params))
        if unknown:
            out.append(f"command has unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)} "
                       f"(known: {', '.join(STANDARD_PLACEHOLDERS)}, and the grid.params it lists under params)")
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "command": self.command, "timeout_s": self.timeout_s}


def from_config(entry: Mapping[str, Any]) -> CommandWorkload:
    """The workload of a config's ``{name, command, monitor, timeout_s, env, params}`` entry (validated by config)."""
    monitor = entry.get("monitor", "val_accuracy")
    return CommandWorkload(
        name=entry["name"], doc=entry.get("doc") or f"command: {entry['command']}",
        monitor=None if monitor in (None, "none") else monitor, command=entry["command"],
        timeout_s=entry.get("timeout_s"), env=dict(entry.get("env") or {}),
        params={p: Param(kind="any", doc="passed to the command") for p in entry.get("params") or []},
        source="command", version="sha256:" + hashlib.sha256(entry["command"].encode()).hexdigest()[:12])
