"""The workload registry: built-ins through the protocol only, entry points, module paths, commands, grid axes."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from energybench.config import parse_config
from energybench.errors import ConfigError
from energybench.plan import plan
from energybench.workloads import Workload, registry

PACKAGE = Path(__file__).resolve().parents[2] / "energybench"
BUILTIN_NAMES = ("pamap2-baseline", "pamap2-autoencoder", "pamap2-frozen", "pamap2-unfrozen",
                 "celeba-identity", "celeba-attributes", "celeba-multitask")


def test_the_seven_built_ins_are_the_registry_each_in_its_own_module() -> None:
    found = registry.builtins()
    assert tuple(found) == BUILTIN_NAMES
    for name, w in found.items():
        assert isinstance(w, Workload) and w.source == "built-in" and w.version
        module = sys.modules[type(w).__module__]
        assert Path(module.__file__).name == name.replace("-", "_") + ".py"  # one module per built-in
        assert w.declaration_problems() == []
    assert found["pamap2-frozen"].depends_on == "pamap2-autoencoder" and found["pamap2-frozen"].stage == 1
    assert found["pamap2-autoencoder"].monitor == "val_loss" and found["pamap2-autoencoder"].artefacts


def test_no_module_outside_the_workloads_names_a_built_in() -> None:
    pattern = re.compile("|".join(re.escape(n) for n in BUILTIN_NAMES))
    offenders = [f"{p.relative_to(PACKAGE.parent)}:{i}" for p in sorted(PACKAGE.rglob("*.py"))
                 if "workloads" not in p.relative_to(PACKAGE).parts
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


def test_pairing_tables_find_their_workloads_by_role() -> None:
    (transfer,) = registry.transfer_sets()
    assert transfer == {"pretrain": "pamap2-autoencoder", "frozen": "pamap2-frozen",
                        "unfrozen": "pamap2-unfrozen", "scratch": "pamap2-baseline"}
    (multi,) = registry.multitask_sets()
    assert multi == {"identity": "celeba-identity", "attribute": "celeba-attributes", "both": "celeba-multitask"}
    assert registry.headlines() == {"pamap2": "pamap2-baseline", "celeba": "celeba-identity"}


def _config(tmp_path: Path, paradigms: list, **extra: object) -> dict:
    return {"name": "w", "grid": {"batch_sizes": [8], "learning_rates": [0.01]}, "paradigms": paradigms,
            "hardware": ["cpu"], **extra}


def test_an_unknown_name_is_one_line_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(_config(tmp_path, ["pamap2-basline"]), tmp_path / "c.yaml")
    msg = str(exc.value)
    assert "\n" not in msg and "did you mean 'pamap2-baseline'?" in msg


MODULE = '''
from dataclasses import dataclass
from energybench.workloads import Param, Workload

__version__ = "1.2.3"


@dataclass(frozen=True)
class Mine(Workload):
    pass


WORKLOAD = Mine(name="mine", doc="my own", params={"width": Param("int", 16)})
'''


def test_a_module_path_is_imported_from_the_config_folder_and_recorded(tmp_path: Path) -> None:
    (tmp_path / "my_workloads.py").write_text(textwrap.dedent(MODULE))
    exp = parse_config(_config(tmp_path, ["my_workloads:WORKLOAD"], grid={
        "batch_sizes": [8], "learning_rates": [0.01], "params": {"width": [32, 8]}}), tmp_path / "c.yaml")
    specs = plan(exp)
    assert [s.params for s in specs] == [{"width": 8}, {"width": 32}]  # numbered by value, not listing order
    w = exp.workloads["mine"]
    assert w.version == "1.2.3" and w.source.startswith("module my_workloads:WORKLOAD")
    assert specs[0].workload["ref"] == "my_workloads:WORKLOAD"
    assert registry.resolve_ref(specs[0].workload, "mine").name == "mine"  # what a worker does
    with pytest.raises(ConfigError, match="does not accept parameter 'depth'"):
        parse_config(_config(tmp_path, ["my_workloads:WORKLOAD"], grid={
            "batch_sizes": [8], "learning_rates": [0.01], "params": {"depth": [1]}}), tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="width='wide': expected int"):
        parse_config(_config(tmp_path, ["my_workloads:WORKLOAD"], grid={
            "batch_sizes": [8], "learning_rates": [0.01], "params": {"width": [8, "wide"]}}), tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="no module named 'nope'"):
        parse_config(_config(tmp_path, ["nope:WORKLOAD"]), tmp_path / "c.yaml")


def test_an_entry_point_registers_a_workload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ep_pkg.py").write_text(textwrap.dedent(MODULE).replace('name="mine"', 'name="ep-mine"'))
    dist = tmp_path / "ep_pkg-0.7.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-pkg\nVersion: 0.7\n")
    (dist / "entry_points.txt").write_text(f"[{registry.GROUP}]\nep-mine = ep_pkg:WORKLOAD\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.installed.cache_clear()
    try:
        w = registry.resolve("ep-mine")
        assert (w.source, w.version) == ("entry point ep-pkg", "0.7")
        assert "ep-mine" in registry.known()
    finally:
        registry.installed.cache_clear()


def test_grid_axes_number_setups_over_the_full_product_independent_of_listing_order(tmp_path: Path) -> None:
    # built-ins take no extra axes
    with pytest.raises(ConfigError, match="does not accept parameter"):
        parse_config(_config(tmp_path, ["pamap2-baseline"], grid={
            "batch_sizes": [8], "learning_rates": [0.1], "params": {"wd": [0]}}, data={"pamap2": {"path": "p"}}),
            tmp_path / "c.yaml")
    from energybench.config import Grid

    g1 = Grid(batch_sizes=[64, 8], learning_rates=[0.001, 0.1], params={"wd": [0.1, 0], "act": ["relu", "gelu"]})
    g2 = Grid(batch_sizes=[8, 64], learning_rates=[0.1, 0.001], params={"act": ["gelu", "relu"], "wd": [0, 0.1]})
    assert g1.points() == g2.points()
    assert g1.points()[:3] == [(1, 8, 0.1, {"act": "gelu", "wd": 0}), (2, 8, 0.1, {"act": "gelu", "wd": 0.1}),
                               (3, 8, 0.1, {"act": "relu", "wd": 0})]
    assert len(g1.points()) == 16 and g1.axes == ["batch_size", "learning_rate", "act", "wd"]
    plain = Grid(batch_sizes=[64, 8], learning_rates=[0.001, 0.1])
    assert [p[:3] for p in plain.points()] == plain.setups()  # without axes: the study's numbers


def test_a_command_workload_validates_its_placeholders(tmp_path: Path) -> None:
    ok = {"name": "mytrain", "command": "python train.py --bs {batch_size} --lr {learning_rate} --w {width}",
          "params": ["width"]}
    exp = parse_config(_config(tmp_path, [ok], grid={"batch_sizes": [8], "learning_rates": [0.01],
                                                     "params": {"width": [4]}}), tmp_path / "c.yaml")
    (spec,) = plan(exp)
    assert spec.workload["kind"] == "command" and spec.dataset is None and spec.params == {"width": 4}
    bad = {"name": "mytrain", "command": "python train.py --bs {batchsize}"}
    with pytest.raises(ConfigError, match=r"unknown placeholder\(s\) \{batchsize\}") as exc:
        parse_config(_config(tmp_path, [bad]), tmp_path / "c.yaml")
    assert "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match="taken by a built-in"):
        parse_config(_config(tmp_path, [{"name": "pamap2-baseline", "command": "true"}]), tmp_path / "c.yaml")


CHECKED = '''
from dataclasses import dataclass
from energybench.workloads import Workload


@dataclass(frozen=True)
class Picky(Workload):
    def check(self, params):
        return "needs /nowhere/weights.pt (run energybench prefetch)"

    def prefetch(self):
        return "nothing to fetch"


WORKLOAD = Picky(name="picky")
'''


def test_a_workload_checks_its_own_inputs_before_submission(tmp_path: Path) -> None:
    from energybench.errors import DataError
    from energybench.inputs import check_data
    from energybench.prefetch import prefetch

    (tmp_path / "picky_mod.py").write_text(CHECKED)
    config = tmp_path / "c.yaml"
    import yaml

    config.write_text(yaml.safe_dump(_config(tmp_path, ["picky_mod:WORKLOAD"])))
    from energybench.config import load_config

    with pytest.raises(DataError, match=r"paradigms: picky: needs /nowhere/weights.pt"):
        check_data(load_config(config), config)
    said: list[str] = []
    with pytest.raises(DataError, match="paradigms: picky"):
        prefetch(config, echo=said.append)  # it fetches first, then checks as submit does
    assert said == ["workload picky: nothing to fetch"]


def test_a_search_over_a_command_is_refused_at_validation(tmp_path: Path) -> None:
    cmd = {"name": "mytrain", "command": "true {batch_size}"}
    with pytest.raises(ConfigError, match="'mytrain' is a command; successive halving"):
        parse_config(_config(tmp_path, [cmd], grid={"batch_sizes": [8, 16, 32], "learning_rates": [0.1]},
                             early_stopping={"max_epochs": 20}, search={"rung_epochs": 3}), tmp_path / "c.yaml")
