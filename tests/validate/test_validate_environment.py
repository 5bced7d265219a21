"""The environment check: wheel tags, what gets installed (only what is missing), installing with and
without pip, and the folder `make wheels` fills, installed offline into a Python 3.12 target."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from energybench.validate import environment as env
from energybench.validate.__main__ import parse

from ..conftest import REPO

WHEELS = REPO / ".wheels"


def make_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel whose module ``name`` holds ``VERSION = version``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/__init__.py", f"VERSION = {version!r}\n")
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                   + "".join(f"Requires-Dist: {r}\n" for r in requires) + "\nA description.\nRequires-Dist: no\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", f"{name}/__init__.py,,\n{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n")
    return path


@pytest.mark.parametrize(("filename", "python", "machine", "fits"), [
    ("pydantic_core-2.50.5-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", (3, 12), "x86_64", True),
    ("pydantic_core-2.50.5-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", (3, 11), "x86_64", False),
    ("pydantic_core-2.50.5-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", (3, 12), "aarch64", False),
    ("polars_runtime_32-2.1.0-cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", (3, 12), "x86_64", True),
    ("polars_runtime_32-2.1.0-cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", (3, 10), "x86_64", False),
    ("pydantic-2.14.4-py3-none-any.whl", (3, 12), "x86_64", True),
    ("numpy-2.0.0-cp312-cp312-win_amd64.whl", (3, 12), "x86_64", False),
])
def test_wheel_tags(filename: str, python: tuple[int, int], machine: str, fits: bool) -> None:
    w = env.Wheel.parse(Path(filename))
    assert w is not None and w.fits(python, machine) is fits


def test_versions_compare_by_release_numbers() -> None:
    assert env.version_tuple("2.11.0+cu128") == (2, 11, 0) and env.version_tuple("1.0rc1") == (1, 0)
    assert env.at_least("2.11.0", "2.0") and not env.at_least("1.10.2", "2.5") and env.at_least("3", None)


def test_the_plan_takes_a_missing_requirement_and_only_its_missing_dependencies(tmp_path: Path) -> None:
    make_wheel(tmp_path, "ebtestpkg", "1.2", ("ebtestdep>=1.0", "pytest>=1", "ebtestextra; extra == 'x'",
                                               "ebtestwin; sys_platform == 'win32'"))
    make_wheel(tmp_path, "ebtestdep", "1.0")
    make_wheel(tmp_path, "ebtestdep", "0.9")
    plan = env.install_plan([env.Requirement("ebtestpkg", "ebtestpkg", "1.0", ship=True)], tmp_path)
    assert [(w.name, w.version) for w in plan] == [("ebtestdep", "1.0"), ("ebtestpkg", "1.2")]  # pytest is here
    with pytest.raises(env.MissingError, match=r"ebtestnone>=2 is needed .* `make wheels WHEELS_PYTHON="):
        env.install_plan([env.Requirement("ebtestnone", "ebtestnone", "2", ship=True)], tmp_path)


@pytest.mark.parametrize("use_pip", [True, False], ids=["pip", "unzip"])
def test_install_puts_the_packages_in_the_site_directory(tmp_path: Path, use_pip: bool) -> None:
    wheels = [env.Wheel.parse(make_wheel(tmp_path / "w", n, "1.0")) for n in ("ebtesta", "ebtestb")]
    site = tmp_path / "site"
    env.install([w for w in wheels if w is not None], site, use_pip=use_pip)
    code = "import ebtesta, ebtestb; from importlib.metadata import version; print(ebtesta.VERSION, version('ebtestb'))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(site)})
    assert r.stdout.split() == ["1.0", "1.0"], r.stderr


def test_ensure_installs_nothing_when_nothing_is_missing(tmp_path: Path) -> None:
    e = env.ensure(tmp_path / "no-wheels", tmp_path / "site")
    assert e.installed == [] and not e.missing and {s.action for s in e.statuses} == {"present"}


def test_ensure_says_what_is_missing_and_what_to_do(tmp_path: Path) -> None:
    reqs = (env.Requirement("ebtestabsent", "ebtestabsent", "1", ship=True),
            env.Requirement("ebtestgpu", "ebtestgpu"))
    with pytest.raises(env.MissingError, match=r"lacks ebtestabsent>=1, ebtestgpu, .*use a Python that has them"):
        env.ensure(tmp_path, tmp_path / "site", reqs)


def test_the_validation_imports_nothing_but_the_standard_library_before_its_environment_check() -> None:
    code = ("import sys; import energybench.validate.__main__ as m, energybench.validate.environment as e; "
            "m.parse(['--fake']); e.check(); "
            "bad = sorted(n for n in ('torch', 'pydantic', 'pyarrow', 'numpy', 'yaml') if n in sys.modules); "
            "print(bad)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


def test_fake_results_never_go_under_results_validation(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(["--fake", "--out", str(REPO / "results" / "validation" / "x")])
    assert exc.value.code == 2 and "never go under" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(["--fake-hide", "energy"])  # needs --fake


def test_no_gpu_is_found_without_nvml_or_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError

    def no_torch(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, 1, "", "ModuleNotFoundError: No module named 'torch'")

    monkeypatch.setattr(env.subprocess, "run", no_torch)
    n, why = env.visible_gpus()
    assert n == 0 and "no nvidia-ml-py" in why and "cannot import torch" in why
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert env.visible_gpus()[0] == 0


def test_one_gpu_is_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-abc,GPU-def")
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    assert env.pick_one_gpu() == "GPU-abc"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "GPU-abc" and os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


# ------------------------------------------------------------------ the folder `make wheels` fills

def _python312() -> str | None:
    pyenv = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
    candidates = [shutil.which("python3.12"), *pyenv]
    for c in candidates:
        if c and subprocess.run([c, "-c", "pass"], capture_output=True).returncode == 0:
            return c
    return None


needs_wheels = pytest.mark.skipif(not (WHEELS / ".complete").exists(),
                                  reason="no .wheels/ here: `make wheels` (make test runs it) needs the registry")


@needs_wheels
def test_the_wheel_folder_is_small_and_fits_python_312() -> None:
    assert env.check_wheel_dir(WHEELS, (3, 12)) == []
    assert sum(p.stat().st_size for p in WHEELS.glob("*.whl")) < env.MAX_WHEELS_BYTES


@needs_wheels
def test_the_wheels_install_offline_into_a_python_312_target(tmp_path: Path) -> None:
    target = tmp_path / "target"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(WHEELS),
                        "--target", str(target), "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
                        "--python-version", "3.12", "--implementation", "cp", *env.wheel_specs()],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (target / "pydantic").is_dir() and list(target.glob("pydantic_core/*cpython-312*.so"))
    py312 = _python312()
    if py312 is None:
        pytest.skip("no Python 3.12 here to import the target with")
    r = subprocess.run([py312, "-c", "import pydantic; print(pydantic.VERSION)"], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(target)})
    assert r.returncode == 0 and r.stdout.strip(), r.stderr


@needs_wheels
def test_a_python_312_without_pydantic_gets_it_from_the_folder(tmp_path: Path) -> None:
    py312 = _python312()
    if py312 is None:
        pytest.skip("no Python 3.12 here")
    code = ("import sys; from pathlib import Path; from energybench.validate import environment as e; "
            "ship = tuple(r for r in e.REQUIREMENTS if r.ship); "
            f"got = e.ensure(Path({str(WHEELS)!r}), Path({str(tmp_path / 'site')!r}), ship); "
            "import pydantic; print(sorted(got.installed)); print(pydantic.__file__)")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if subprocess.run([py312, "-c", "import pydantic"], capture_output=True, env=clean).returncode == 0:
        pytest.skip("this Python 3.12 has pydantic already")
    r = subprocess.run([py312, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300, env=clean)
    assert r.returncode == 0, r.stderr
    installed, where = r.stdout.strip().splitlines()
    assert "pydantic" in installed and where.startswith(str(tmp_path / "site"))
