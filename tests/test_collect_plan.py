"""plan.json as collect reads it (energybench/collect_plan.py): specs and where each lies in the text, and the
kept runs from the manifest's index of the same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from energybench import collect_plan
from energybench.errors import ResultsError
from energybench.paths import ResultsLayout


def _plan(runs: list[dict], **extra: object) -> str:
    return json.dumps({"experiment": "runs", "fingerprint": "x", "runs": runs, **extra}, indent=2, sort_keys=True)


RUNS = [{"run_id": f"r{i}", "hardware": "h100", "dataset": "pamap2", "note": 'ü "runs" [', "n": [i, {"a": None}]}
        for i in range(4)]


@pytest.mark.parametrize("text", [_plan(RUNS), json.dumps({"runs": RUNS}), _plan([]), ' { "runs" : [ ] , "a": 1 } '])
def test_parse_gives_the_specs_json_gives_and_where_each_lies(text: str) -> None:
    parsed = collect_plan.parse(text)
    assert parsed is not None
    specs, spans = parsed
    assert specs == json.loads(text)["runs"]
    assert [json.loads(text[a:b]) for a, b in spans] == specs


@pytest.mark.parametrize("text", ["[]", '{"runs": 3}', '{"runs": [1, 2]}', '{"runs": [{}]', "not json"])
def test_what_is_not_a_plan_is_not_parsed(text: str) -> None:
    assert collect_plan.parse(text) is None


def test_the_index_gives_the_kept_runs_and_each_whole_spec(tmp_path: Path) -> None:
    layout = ResultsLayout(tmp_path)
    raw = _plan(RUNS).encode()
    full = collect_plan.read(layout, raw)
    assert not full.light and full.specs == RUNS
    index = json.loads(json.dumps(full.index()))
    light = collect_plan.read(layout, raw, index)
    assert light.light and light.specs == [{k: r[k] for k in collect_plan.LIGHT_KEYS} for r in RUNS]
    assert light.spec(2) == RUNS[2]
    searched_raw = _plan([{**RUNS[0], "search": {"eta": 2}}]).encode()
    searched = collect_plan.read(layout, searched_raw)
    assert searched.searched and not collect_plan.read(layout, searched_raw, searched.index()).light
    other = collect_plan.read(layout, _plan(list(reversed(RUNS))).encode(), index)  # not the bytes indexed
    with pytest.raises(ResultsError):
        other.spec(0)
