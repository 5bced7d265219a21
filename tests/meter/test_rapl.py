"""The RAPL meter against a fake powercap tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from energybench.errors import MeterError
from energybench.meter import open_meter, rapl
from energybench.meter.rapl import RaplMeter

MAX_UJ = 262_143_328_850


class Clock:
    def __init__(self) -> None:
        self.t_s = 50.0

    def __call__(self) -> float:
        return self.t_s


def _zone(path: Path, name: str, energy_uj: int, max_uj: int = MAX_UJ) -> Path:
    path.mkdir(parents=True)
    (path / "name").write_text(name + "\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    (path / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return path


def _set(zone: Path, energy_uj: int) -> None:
    (zone / "energy_uj").write_text(f"{energy_uj}\n")


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """Two packages, each with core (nested) and dram; psys; an mmio twin of package 0.

    Subzones are nested in their package and linked flat beside it, as the kernel does.
    """
    root = tmp_path / "powercap"
    z = {
        "pkg0": _zone(root / "intel-rapl:0", "package-0", 1_000_000),
        "core0": _zone(root / "intel-rapl:0" / "intel-rapl:0:0", "core", 500_000),
        "dram0": _zone(root / "intel-rapl:0" / "intel-rapl:0:1", "dram", 200_000),
        "pkg1": _zone(root / "intel-rapl:1", "package-1", 3_000_000),
        "dram1": _zone(root / "intel-rapl:1" / "intel-rapl:1:0", "dram", 100_000),
        "psys": _zone(root / "intel-rapl:2", "psys", 9_000_000),
        "mmio": _zone(root / "intel-rapl-mmio:0", "package-0", 7_000_000),
    }
    for sub in ("intel-rapl:0/intel-rapl:0:0", "intel-rapl:0/intel-rapl:0:1", "intel-rapl:1/intel-rapl:1:0"):
        os.symlink(root / sub, root / sub.split("/")[1])
    z["root"] = root
    return z


def test_sums_packages_and_dram_only_once(tree: dict[str, Path]) -> None:
    clock = Clock()
    meter = RaplMeter(root=tree["root"], clock=clock)
    zones = sorted(d["zone"] for d in meter.info()["domains"])
    assert zones == ["intel-rapl:0", "intel-rapl:0:1", "intel-rapl:1", "intel-rapl:1:0"]
    assert any("core" in s for s in meter.info()["skipped"]) and any("psys" in s for s in meter.info()["skipped"])
    _set(tree["pkg0"], 1_000_000 + 10_000_000)  # 10 J
    _set(tree["core0"], 500_000 + 8_000_000)  # inside pkg0: must not be added
    _set(tree["dram0"], 200_000 + 2_000_000)  # 2 J
    _set(tree["pkg1"], 3_000_000 + 5_000_000)  # 5 J
    _set(tree["dram1"], 100_000 + 1_000_000)  # 1 J
    _set(tree["psys"], 9_000_000 + 99_000_000)  # the platform: contains everything
    _set(tree["mmio"], 7_000_000 + 10_000_000)  # same counter as pkg0
    clock.t_s += 2.0
    r = meter.read()
    assert r.energy_j == pytest.approx(18.0)
    assert r.power_w == pytest.approx(9.0)
    assert meter.kind == "rapl"
    meter.close()


def test_wraparound(tree: dict[str, Path]) -> None:
    clock = Clock()
    _set(tree["pkg0"], MAX_UJ - 1_000_000)
    meter = RaplMeter(root=tree["root"], clock=clock)
    _set(tree["pkg0"], 3_000_000)  # wrapped: 1 J before the wrap, 3 J after
    clock.t_s += 1.0
    r = meter.read()
    assert r.energy_j == pytest.approx(4.0)
    assert r.power_w == pytest.approx(4.0)
    _set(tree["pkg0"], 4_000_000)
    clock.t_s += 1.0
    assert meter.read().energy_j == pytest.approx(5.0)
    assert [d["wraps"] for d in meter.info()["domains"] if d["zone"] == "intel-rapl:0"] == [1]


def test_power_needs_a_window_of_a_few_ms(tree: dict[str, Path]) -> None:
    clock = Clock()
    meter = RaplMeter(root=tree["root"], clock=clock)
    assert meter.read().power_w is None  # no time has passed since open
    clock.t_s += 0.5
    _set(tree["pkg0"], 1_000_000 + 50_000_000)
    assert meter.read().power_w == pytest.approx(100.0)
    clock.t_s += 0.0001  # a read right after: keeps the last power, counter still exact
    _set(tree["pkg0"], 1_000_000 + 50_010_000)
    r = meter.read()
    assert r.power_w == pytest.approx(100.0) and r.energy_j == pytest.approx(50.01)


def test_permission_error_says_how_to_fix_it(tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, where chmod cannot make a file unreadable: the OS refusal is simulated.
    def refuse(path: Path) -> int:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(rapl, "_open_counter", refuse)
    with pytest.raises(MeterError, match=r"root only since Linux 5\.10.*chmod") as info:
        RaplMeter(root=tree["root"])
    assert "\n" not in str(info.value) and "energy_uj" in str(info.value)


def test_unreadable_counter_is_a_meter_error(tree: dict[str, Path]) -> None:
    (tree["pkg1"] / "energy_uj").unlink()
    (tree["pkg1"] / "energy_uj").mkdir()  # reading a directory fails like an unreadable file
    with pytest.raises(MeterError, match=r"cannot read .*intel-rapl:1/energy_uj"):
        RaplMeter(root=tree["root"])


def test_missing_interface_and_missing_package(tmp_path: Path) -> None:
    with pytest.raises(MeterError, match="no powercap interface"):
        RaplMeter(root=tmp_path / "nope")
    _zone(tmp_path / "intel-rapl:0", "psys", 1)
    with pytest.raises(MeterError, match="no package zone"):
        RaplMeter(root=tmp_path)


def test_explicit_rapl_that_cannot_open_fails_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(rapl, "DEFAULT_ROOT", tmp_path / "none")
    with pytest.raises(MeterError, match=r"^meter 'rapl' cannot open: RAPL: no powercap interface"):
        open_meter("rapl")
