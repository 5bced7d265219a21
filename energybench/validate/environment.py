"""What the validation needs from the Python it runs on, and installing what is missing from ``.wheels/``.

The GPU machines the validation is written for have a system Python with torch, timm,
nvidia-ml-py, pyarrow and PyYAML, but no package registry and no pydantic. ``make wheels``
downloads, here, the wheels of :data:`REQUIREMENTS` marked ``ship`` (for CPython 3.12 on
manylinux x86_64) into ``.wheels/``; on the GPU machine :func:`ensure` checks every
requirement, installs only the missing ones (and their missing dependencies) from that folder
into a private site directory and puts it first on ``sys.path``. No venv, no network.

Standard library only: this module runs before anything imports torch or pydantic, and
``python -m energybench.validate.environment`` serves ``make wheels``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as md
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

#: Largest wheel folder ``make wheels`` may produce, bytes (the working tree travels with it).
MAX_WHEELS_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Requirement:
    """One distribution the validation imports."""

    dist: str  # distribution name, as pip knows it
    module: str  # what the validation imports
    minimum: str | None = None  # lowest version that works (the same floor as pyproject.toml)
    ship: bool = False  # True: the GPU machine lacks it, ``make wheels`` downloads it
    why: str = ""


#: What ``python -m energybench.validate`` imports. The rest of energybench's dependencies
#: (polars, submitit, stumpy) are not needed to validate a GPU, and a test keeps it so:
#: polars' wheel alone (54 MB for 2.1) would not fit the 50-MiB wheel folder.
REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("torch", "torch", "2.0", why="training, loads"),
    Requirement("timm", "timm", "0.9", why="the CelebA ResNet18"),
    Requirement("nvidia-ml-py", "pynvml", "12", why="the NVML meter"),
    Requirement("pyarrow", "pyarrow", "14", why="shards and raw Parquet"),
    Requirement("numpy", "numpy", why="generated data"),
    Requirement("pillow", "PIL", why="generated CelebA JPEGs"),
    Requirement("pyyaml", "yaml", "6", why="configs"),
    Requirement("pydantic", "pydantic", "2.5", ship=True, why="configs and run specs"),
)


def wheel_specs(requirements: tuple[Requirement, ...] = REQUIREMENTS) -> list[str]:
    """pip requirement strings of what ``make wheels`` downloads."""
    return [f"{r.dist}>={r.minimum}" if r.minimum else r.dist for r in requirements if r.ship]


# ------------------------------------------------------------------ versions and names

def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def version_tuple(version: str) -> tuple[int, ...]:
    """The leading release numbers of a version ("2.11.0+cu128" -> (2, 11, 0))."""
    nums = []
    for part in version.split("+")[0].split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        nums.append(int(m.group()))
        if m.group() != part:  # "0rc1": the release number ends here
            break
    return tuple(nums)


def at_least(version: str, minimum: str | None) -> bool:
    return minimum is None or version_tuple(version) >= version_tuple(minimum)


def installed_version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


@dataclass
class Status:
    """One requirement in this interpreter."""

    requirement: Requirement
    found: str | None  # installed version, None when absent
    action: str = ""  # "present" | "installed from <folder>" | "MISSING: ..."

    @property
    def ok(self) -> bool:
        return self.found is not None and at_least(self.found, self.requirement.minimum)


def check(requirements: tuple[Requirement, ...] = REQUIREMENTS) -> list[Status]:
    """Each requirement's installed version (metadata only: nothing is imported)."""
    out = []
    for r in requirements:
        s = Status(r, installed_version(r.dist))
        s.action = "present" if s.ok else ("too old" if s.found else "absent")
        out.append(s)
    return out


# ------------------------------------------------------------------ wheels

#: name-version(-build)?-python-abi-platform.whl (PEP 427)
_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?"
                    r"-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$")


@dataclass(frozen=True)
class Wheel:
    path: Path
    name: str  # normalised distribution name
    version: str
    py: str
    abi: str
    plat: str

    @classmethod
    def parse(cls, path: Path) -> Wheel | None:
        m = _WHEEL.match(path.name)
        if not m:
            return None
        return cls(path, normalize(m["name"]), m["version"], m["py"], m["abi"], m["plat"])

    def fits(self, python: tuple[int, int], machine: str) -> bool:
        """Whether this wheel installs on CPython ``python`` (major, minor) on Linux ``machine``."""
        cp = f"cp{python[0]}{python[1]}"
        pys = set(self.py.split("."))
        abis = set(self.abi.split("."))
        if abis & {"abi3"}:  # stable ABI: any CPython at least as new as the tag
            ok_py = any(p.startswith("cp3") and int(p[3:] or 0) <= python[1] for p in pys)
        else:
            ok_py = bool(pys & {cp, f"py{python[0]}", f"py{python[0]}{python[1]}"})
            ok_py = ok_py and bool(abis & {"none", cp})
        plats = self.plat.split(".")
        ok_plat = "any" in plats or any(p.startswith(("manylinux", "linux")) and p.endswith(machine)
                                        for p in plats)
        return ok_py and ok_plat

    def requires(self) -> list[tuple[str, str]]:
        """(normalised name, requirement text) of each dependency outside extras."""
        with zipfile.ZipFile(self.path) as z:
            meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
            text = z.read(meta).decode()
        out = []
        for line in text.splitlines():
            if not line.startswith("Requires-Dist:"):
                if not line.strip():  # the headers end at the first blank line
                    break
                continue
            req = line.split(":", 1)[1].strip()
            spec, _, marker = req.partition(";")
            if "extra" in marker or not _marker_applies(marker.strip()):
                continue
            name = re.match(r"[A-Za-z0-9._-]+", spec.strip())
            if name:
                out.append((normalize(name.group()), spec.strip()))
        return out


def _marker_applies(marker: str) -> bool:
    """Whether an environment marker holds here (pip's own evaluator; without pip: assume it does)."""
    if not marker:
        return True
    try:
        from pip._vendor.packaging.markers import Marker
    except ImportError:  # pragma: no cover - a Python without pip: take the dependency if we have it
        return True
    return Marker(marker).evaluate()


def _satisfied(spec: str) -> bool:
    """Whether an installed distribution satisfies ``spec`` (a requirement without marker)."""
    name = re.match(r"[A-Za-z0-9._-]+", spec).group()  # type: ignore[union-attr]
    found = installed_version(name)
    if found is None:
        return False
    try:
        from pip._vendor.packaging.requirements import Requirement as PipRequirement
    except ImportError:  # pragma: no cover - without pip: presence is enough
        return True
    return PipRequirement(spec).specifier.contains(found, prereleases=True)


def wheels_in(folder: Path, python: tuple[int, int] | None = None, machine: str | None = None) -> dict[str, Wheel]:
    """The newest wheel per distribution in ``folder`` that installs here (or on ``python``/``machine``)."""
    python = python or (sys.version_info.major, sys.version_info.minor)
    machine = machine or platform.machine()
    best: dict[str, Wheel] = {}
    for p in sorted(Path(folder).glob("*.whl")):
        w = Wheel.parse(p)
        if w is None or not w.fits(python, machine):
            continue
        if w.name not in best or version_tuple(w.version) > version_tuple(best[w.name].version):
            best[w.name] = w
    return best


class MissingError(Exception):
    """A requirement is missing and the wheel folder cannot supply it (the message says what to do)."""


def install_plan(missing: list[Requirement], folder: Path) -> list[Wheel]:
    """The wheels to install for ``missing``: each one and its dependencies not already satisfied here."""
    available = wheels_in(folder)
    plan: dict[str, Wheel] = {}
    todo = [(normalize(r.dist), f"{r.dist}>={r.minimum}" if r.minimum else r.dist) for r in missing]
    while todo:
        name, spec = todo.pop()
        if name in plan:
            continue
        w = available.get(name)
        if w is None:
            where = f"{folder}/" if Path(folder).is_dir() else f"{folder}/ (absent)"
            py = f"{sys.version_info.major}.{sys.version_info.minor}"
            raise MissingError(f"{spec} is needed and {where} has no wheel of it for Python {py} on "
                               f"{platform.machine()}: run `make wheels WHEELS_PYTHON={py}` where "
                               f"the package registry is reachable, or install it")
        plan[name] = w
        todo += [(n, s) for n, s in w.requires() if n not in plan and not _satisfied(s)]
    return sorted(plan.values(), key=lambda w: w.name)


def _has_pip() -> bool:
    return subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0


def install(wheels: list[Wheel], site_dir: Path, use_pip: bool | None = None) -> None:
    """Install ``wheels`` (no dependency resolution: :func:`install_plan` did it) into ``site_dir``."""
    site_dir.mkdir(parents=True, exist_ok=True)
    if not wheels:
        return
    if use_pip is None:
        use_pip = _has_pip()
    if use_pip:
        cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--no-compile",
               "--disable-pip-version-check", "--quiet", "--upgrade", "--target", str(site_dir),
               *[str(w.path) for w in wheels]]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode == 0:
            return
        # e.g. a distribution's pip configured against it: unpack the wheels ourselves
        why = ((r.stderr or r.stdout).strip().splitlines() or ["no message"])[-1]
        print(f"energybench validate: pip could not install into {site_dir} ({why}); unpacking the wheels",
              file=sys.stderr)
    for w in wheels:  # a wheel is a zip laid out as site-packages (+ <name>.data/ for scripts etc.)
        with zipfile.ZipFile(w.path) as z:
            z.extractall(site_dir)
        for data in site_dir.glob("*.data"):
            for sub in ("purelib", "platlib"):
                if (data / sub).is_dir():
                    for entry in (data / sub).iterdir():
                        shutil.move(str(entry), str(site_dir / entry.name))
            shutil.rmtree(data, ignore_errors=True)


def activate(site_dir: Path) -> None:
    """Put ``site_dir`` first on ``sys.path`` (and on PYTHONPATH, for child processes)."""
    path = str(site_dir)
    if path not in sys.path:
        sys.path.insert(0, path)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if path not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([path, *parts])
    importlib.invalidate_caches()


@dataclass
class Environment:
    """What :func:`ensure` found and did."""

    statuses: list[Status]
    installed: list[str] = field(default_factory=list)  # "name version" of each wheel installed
    site_dir: Path | None = None

    @property
    def missing(self) -> list[Status]:
        return [s for s in self.statuses if not s.ok]


def default_site_dir(repo: Path) -> Path:
    """Where missing packages go: git-ignored, one folder per Python version."""
    return repo / ".cache" / "validate" / f"site-py{sys.version_info.major}.{sys.version_info.minor}"


def ensure(wheel_dir: Path, site_dir: Path, requirements: tuple[Requirement, ...] = REQUIREMENTS) -> Environment:
    """Check ``requirements``; install the missing ones from ``wheel_dir``; activate ``site_dir``.

    A site directory left by an earlier call is activated first, so a second run installs
    nothing. Raises :class:`MissingError` when something is missing that the folder cannot supply.
    """
    if site_dir.is_dir():
        activate(site_dir)
    statuses = check(requirements)
    missing = [s.requirement for s in statuses if not s.ok]
    env = Environment(statuses, site_dir=site_dir)
    if not missing:
        return env
    available = wheels_in(wheel_dir)
    absent = [r for r in missing if normalize(r.dist) not in available]
    if absent:
        names = ", ".join(f"{r.dist}>={r.minimum}" if r.minimum else r.dist for r in absent)
        fix = ("run `make wheels` where the package registry is reachable" if all(r.ship for r in absent)
               else "use a Python that has them (the GPU machines' system Python has torch, timm, "
                    "nvidia-ml-py, pyarrow and pyyaml), or install them")
        raise MissingError(f"this Python ({sys.executable}) lacks {names}, and {wheel_dir}/ holds no wheel "
                           f"of {'it' if len(absent) == 1 else 'them'} for it: {fix}")
    plan = install_plan(missing, wheel_dir)
    install(plan, site_dir)
    activate(site_dir)
    env.installed = [f"{w.name} {w.version}" for w in plan]
    env.statuses = check(requirements)
    for s in env.statuses:
        if s.requirement in missing:
            s.action = f"installed from {wheel_dir}/" if s.ok else "MISSING after install"
    if env.missing:
        raise MissingError(f"installed {', '.join(env.installed)} into {site_dir}, but "
                           f"{', '.join(s.requirement.dist for s in env.missing)} still cannot be found")
    return env


def visible_gpus() -> tuple[int, str]:
    """How many NVIDIA GPUs this job can use, and how that was found out.

    NVML first (the GPUs it can open, limited by ``CUDA_VISIBLE_DEVICES``); when NVML is not
    there or sees none, torch in a child process (so this process imports nothing heavy).
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and (not visible.strip() or visible.strip().startswith("-")):
        return 0, f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
    why = ""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            count = 0
            for i in range(pynvml.nvmlDeviceGetCount()):
                try:
                    pynvml.nvmlDeviceGetHandleByIndex(i)
                    count += 1
                except pynvml.NVMLError:
                    pass
        finally:
            pynvml.nvmlShutdown()
        if count:
            n = min(count, len(visible.split(","))) if visible else count
            return n, f"NVML sees {n}"
        why = "NVML sees no GPU"
    except ImportError:
        why = "no nvidia-ml-py"
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        why = f"NVML: {exc}"
    try:
        r = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.device_count())"],
                           capture_output=True, text=True, timeout=120)
        n = int(r.stdout.strip() or 0) if r.returncode == 0 else 0
        why += "; torch sees " + (str(n) if r.returncode == 0 else "nothing (cannot import torch)")
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        n, why = 0, f"{why}; torch: {exc}"
    return n, why


def pick_one_gpu() -> str | None:
    """Restrict this process (and its children) to the first visible GPU; returns what it chose.

    The meter sums every visible GPU while the loads run on one: both must see the same single
    GPU. Integer indices follow PCI bus order, as NVML and SLURM number GPUs.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    first = visible.split(",")[0].strip() if visible else "0"
    os.environ["CUDA_VISIBLE_DEVICES"] = first
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    return first


def check_wheel_dir(folder: Path, python: tuple[int, int], machine: str = "x86_64") -> list[str]:
    """Problems of a wheel folder for ``python`` on ``machine`` (empty: fine): size, tags, completeness."""
    problems = []
    files = sorted(Path(folder).glob("*.whl"))
    size = sum(p.stat().st_size for p in files)
    if size > MAX_WHEELS_BYTES:
        problems.append(f"{folder}/ holds {size / 2**20:.1f} MiB of wheels, more than "
                        f"{MAX_WHEELS_BYTES / 2**20:.0f} MiB")
    fitting = wheels_in(folder, python, machine)
    for p in files:
        w = Wheel.parse(p)
        if w is None or w.name not in fitting:
            problems.append(f"{p.name}: does not install on CPython {python[0]}.{python[1]} {machine}")
    for spec in wheel_specs():
        if normalize(re.match(r"[A-Za-z0-9._-]+", spec).group()) not in fitting:  # type: ignore[union-attr]
            problems.append(f"{spec}: no wheel in {folder}/")
    return problems


def main(argv: list[str] | None = None) -> int:
    """``make wheels`` helper: ``--wheel-specs`` prints what to download; ``--check DIR`` checks a folder."""
    ap = argparse.ArgumentParser(prog="python -m energybench.validate.environment")
    ap.add_argument("--wheel-specs", action="store_true", help="print the requirements make wheels downloads")
    ap.add_argument("--check", type=Path, metavar="DIR", help="check a wheel folder (size, tags, contents)")
    ap.add_argument("--python-version", default="3.12", help="the GPU machine's Python (default 3.12)")
    args = ap.parse_args(argv)
    if args.wheel_specs:
        print(" ".join(wheel_specs()))
        return 0
    if args.check:
        major, minor = (int(x) for x in args.python_version.split(".")[:2])
        problems = check_wheel_dir(args.check, (major, minor))
        size = sum(p.stat().st_size for p in args.check.glob("*.whl"))
        for p in problems:
            print(f"energybench wheels: {p}", file=sys.stderr)
        if not problems:
            print(f"{args.check}/: {len(list(args.check.glob('*.whl')))} wheels, {size / 2**20:.1f} MiB, "
                  f"for CPython {major}.{minor} on manylinux x86_64")
        return 1 if problems else 0
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
