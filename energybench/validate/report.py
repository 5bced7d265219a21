"""Verdicts, step results, and ``validation.md`` / ``validation.json`` written from them.

Every check a step declares ends as exactly one :class:`Verdict` line, whatever
happened: measured (PASS, FAIL, UNRESOLVED when a 95% interval straddles the
target, INFO for a figure without a target), SKIP (not possible here, e.g. a
quantity NVML hides) or ERROR (the step failed or ran out of time). The files are
rewritten through a rename after every step, so a killed validation keeps every
step that ended.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..paths import atomic_path

STATUSES = ("PASS", "FAIL", "UNRESOLVED", "INFO", "SKIP", "ERROR")


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check."""

    check: str  # stable id, "<step>.<what>" (e.g. "steady.instant.100hz")
    status: str  # one of STATUSES
    text: str  # what was found, figures with units
    target: str = ""  # what passes, when there is a target

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"verdict status {self.status!r} is not one of {', '.join(STATUSES)}")

    def line(self) -> str:
        target = f" (target: {self.target})" if self.target else ""
        return f"- **{self.status}** `{self.check}`: {self.text}{target}"


@dataclass
class StepResult:
    """What one step measured. Figures carry their unit in their name."""

    step: str
    title: str
    figures: dict[str, Any] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    tables: dict[str, Any] = field(default_factory=dict)  # name -> pyarrow.Table (raw data)
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    raw_files: list[str] = field(default_factory=list)  # file names of the tables, once written

    def verdict(self, check: str, status: str, text: str, target: str = "") -> None:
        self.verdicts.append(Verdict(check, status, text, target))

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "title": self.title, "wall_s": self.wall_s, "figures": _clean(self.figures),
                "verdicts": [asdict(v) for v in self.verdicts], "notes": self.notes, "raw_files": self.raw_files}


def _clean(x: Any) -> Any:
    """JSON-safe figures: NaN and infinities become null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def fmt(x: Any, digits: int = 4) -> str:
    """A figure for the report: floats with ``digits`` significant digits, None as "n/a"."""
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "n/a"
        return f"{x:.{digits}g}" if abs(x) < 10 ** digits else f"{x:,.0f}"
    if isinstance(x, (list, tuple)):
        return ", ".join(fmt(v, digits) for v in x)
    return str(x)


FAKE_BANNER = ("> **FAKE.** This validation ran against a simulated GPU behind a patched NVML "
               "(`--fake`): no number here is a measurement of hardware. It shows that the script "
               "works, not how a GPU behaves.")


def render(meta: dict[str, Any], results: list[StepResult], state: str) -> str:
    """The text of ``validation.md``."""
    title = f"# GPU validation: {meta.get('gpu_name', '?')} ({meta.get('date', '?')})"
    lines = [title, ""]
    if meta.get("fake"):
        lines += [FAKE_BANNER, ""]
    lines += [f"State: {state}.", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {fmt(v)} |" for k, v in meta.items() if k not in ("gpu_name", "date")]
    counts = {s: sum(v.status == s for r in results for v in r.verdicts) for s in STATUSES}
    lines += ["", "## Verdicts", "", ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none yet", ""]
    for r in results:
        lines += [v.line() for v in r.verdicts]
    lines += ["", "## Steps"]
    for i, r in enumerate(results, 1):
        lines += ["", f"### {i}. {r.title} (`{r.step}`, {r.wall_s:.1f} s)", ""]
        if r.figures:
            lines += ["| figure | value |", "|---|---|"]
            lines += [f"| `{k}` | {fmt(v)} |" for k, v in r.figures.items()]
            lines.append("")
        lines += [f"{n}" for n in r.notes]
        if r.notes:
            lines.append("")
        if r.raw_files:
            lines.append("Raw: " + ", ".join(f"`{f}`" for f in r.raw_files))
    return "\n".join(lines).rstrip() + "\n"


def write(report: Path, figures: Path, meta: dict[str, Any], results: list[StepResult], state: str) -> None:
    """Rewrite ``validation.md`` and ``validation.json`` (each through a rename)."""
    with atomic_path(figures) as tmp:
        tmp.write_text(json.dumps({"meta": _clean(meta), "state": state,
                                   "steps": [r.to_json() for r in results]}, indent=1, default=str) + "\n")
    with atomic_path(report) as tmp:
        tmp.write_text(render(meta, results, state))
