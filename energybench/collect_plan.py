"""``plan.json`` as ``collect`` reads it: every run's spec, or only the few a collect merges again.

At 10x the study the plan is 8.5 MB of JSON: decoding it and freeing its 6,720 specs costs a
collect about 0.2 s, while an incremental collect needs only the run id, hardware and dataset of
the runs it keeps. :func:`parse` decodes the plan spec by spec and notes where each one lies in the
text; the manifest keeps that (:meth:`Plan.index`). The next collect, given the same bytes (the
manifest records their SHA-256), takes the kept runs from the index and decodes only the specs it
needs in full (:meth:`Plan.spec`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import ResultsError
from .paths import ResultsLayout

_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
#: What a kept run's spec holds when it comes from the index: all that collect reads of it.
LIGHT_KEYS = ("run_id", "hardware", "dataset")


def parse(text: str) -> tuple[list[dict[str, Any]], list[tuple[int, int]]] | None:
    """The run specs of a plan's text and each one's [start, end) in it; None unless it is a JSON object whose
    ``runs`` is a list of objects (then :func:`energybench.planfile.load_plan` says what is wrong)."""
    runs: list[Any] | None = None
    spans: list[tuple[int, int]] = []
    try:
        pos = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
        if text[pos] != "{":
            return None
        pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        while text[pos] != "}":
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos] != ":":
                return None
            pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
            if key == "runs" and text[pos] == "[":
                runs, spans = [], []
                pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
                while text[pos] != "]":
                    start = pos
                    spec, pos = _DECODER.raw_decode(text, pos)
                    runs.append(spec)
                    spans.append((start, pos))
                    pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
                    if text[pos] == ",":
                        pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
                    elif text[pos] != "]":
                        return None
                pos += 1
            else:
                value, pos = _DECODER.raw_decode(text, pos)
                if key == "runs":
                    runs = value if isinstance(value, list) else None
                    spans = []
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos] == ",":
                pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
            elif text[pos] != "}":
                return None
    except (ValueError, IndexError, AttributeError):
        return None
    if runs is None or len(spans) != len(runs) or not all(isinstance(s, dict) for s in runs):
        return None
    return runs, spans


@dataclass
class Plan:
    """A plan's run specs: in full, or (``light``) only :data:`LIGHT_KEYS` of each, from the index."""

    text: str
    specs: list[dict[str, Any]]
    spans: list[tuple[int, int]] | None  # where each spec lies in ``text`` (None: unknown, no index is kept)
    searched: bool  # a run has a ``search`` section
    light: bool = False

    def spec(self, i: int) -> dict[str, Any]:
        """The ``i``-th run's whole spec."""
        if not self.light:
            return self.specs[i]
        start, end = self.spans[i]  # type: ignore[index]
        spec = json.loads(self.text[start:end])
        if not isinstance(spec, dict) or spec.get("run_id") != self.specs[i]["run_id"]:
            raise ResultsError("plan.json does not match its index in dataset/.merged.json; run "
                               "`energybench collect --full`")
        return spec

    def index(self) -> dict[str, Any] | None:
        """For the manifest: each run's :data:`LIGHT_KEYS` and span (None where the spans are unknown)."""
        if self.spans is None:
            return None
        return {"searched": self.searched,
                "runs": [[s.get(k) for k in LIGHT_KEYS] + [a, b] for s, (a, b) in zip(self.specs, self.spans)]}


def read(layout: ResultsLayout, raw: bytes, index: Any = None) -> Plan:
    """The plan of ``raw`` (``plan.json``'s bytes): from ``index`` (:meth:`Plan.index` of these same bytes, from
    the manifest) where it is one without searches, else decoded whole."""
    text = raw.decode("utf-8", errors="replace")
    if isinstance(index, dict) and index.get("searched") is False:
        try:
            runs = index["runs"]
            specs = [{k: v for k, v in zip(LIGHT_KEYS, r[:3]) if v is not None} for r in runs]
            spans = [(int(r[3]), int(r[4])) for r in runs]
            if all(isinstance(s.get("run_id"), str) for s in specs):
                return Plan(text, specs, spans, False, light=True)
        except (KeyError, IndexError, TypeError, ValueError):
            pass
    parsed = parse(text)
    if parsed is None:
        from .planfile import load_plan

        specs = load_plan(layout)  # raises where the plan is not one
        return Plan(text, specs, None, any(s.get("search") for s in specs))
    specs, spans = parsed
    return Plan(text, specs, spans, any(s.get("search") for s in specs))
