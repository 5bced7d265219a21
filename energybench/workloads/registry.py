"""The registry of workloads: built-ins, entry points, ``module:attribute`` references.

* **Built-ins**: every module of this package whose name does not start with
  ``_`` and that defines ``WORKLOAD`` (adding a built-in means adding one module).
* **Entry points**: a package registers workloads in the group
  ``energybench.workloads`` (``name = "pkg.module:WORKLOAD"``); the object may
  be a :class:`~.base.Workload` or a callable returning one.
* **Module paths**: a config may name ``module:attribute``, importable from
  the config's folder or the environment (``PYTHONPATH``, installed packages).

Every workload the registry hands out carries its ``source`` (``built-in``,
``entry point <distribution>``, ``module <file>``) and ``version``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import importlib
import pkgutil
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ConfigError
from .base import Workload

#: The entry-point group third-party packages register workloads in.
GROUP = "energybench.workloads"
#: Modules of this package that are not workloads.
_NOT_WORKLOADS = {"base", "registry", "command"}


class WorkloadError(ConfigError):
    """A workload that cannot be found, loaded or accepted; the message is one line."""


@functools.lru_cache(maxsize=1)
def builtins() -> dict[str, Workload]:
    """The built-in workloads by name, in a stable order (dataset, stage, name)."""
    package = importlib.import_module(__package__)
    found: list[Workload] = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name in _NOT_WORKLOADS:
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        w = getattr(module, "WORKLOAD", None)
        if isinstance(w, Workload):
            found.append(dataclasses.replace(w, source="built-in", version=__version__))
    order = {"pamap2": 0, "celeba": 1}
    found.sort(key=lambda w: (order.get(w.dataset or "", 2), w.dataset or "", w.stage, not w.headline, w.name))
    return {w.name: _checked(w, "built-in") for w in found}


def _checked(w: Any, where: str) -> Workload:
    if not isinstance(w, Workload):
        raise WorkloadError(f"{where}: not an energybench workload (got {type(w).__name__}; "
                            "subclass energybench.workloads.Workload)")
    problems = w.declaration_problems()
    if problems:
        raise WorkloadError(f"workload {w.name!r} ({where}): " + "; ".join(problems))
    return w


def _entry_points() -> list[metadata.EntryPoint]:
    try:
        return sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name)
    except Exception:  # a broken installation's metadata: no third-party workloads, not a crash
        return []


def _load_entry_point(ep: metadata.EntryPoint) -> Workload:
    dist = getattr(ep, "dist", None)
    where = f"entry point {ep.name} = {ep.value}"
    try:
        obj = ep.load()
        obj = obj() if callable(obj) and not isinstance(obj, Workload) else obj
    except Exception as exc:
        raise WorkloadError(f"{where}: cannot be loaded: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    w = _checked(obj, where)
    if w.name != ep.name:
        raise WorkloadError(f"{where}: the workload is named {w.name!r}; the entry point must have its name")
    source = f"entry point {dist.name}" if dist is not None else "entry point"
    return dataclasses.replace(w, source=source, version=dist.version if dist is not None else w.version)


@functools.lru_cache(maxsize=1)
def installed() -> dict[str, Workload]:
    """Workloads registered by installed packages (entry points); broken ones are left out (see :func:`broken`)."""
    out: dict[str, Workload] = {}
    for ep in _entry_points():
        if ep.name in builtins() or ep.name in out:
            continue
        try:
            out[ep.name] = _load_entry_point(ep)
        except WorkloadError:
            continue
    return out


def broken() -> list[str]:
    """One line per registered entry point that cannot be loaded."""
    out = []
    for ep in _entry_points():
        if ep.name in builtins():
            out.append(f"entry point {ep.name} = {ep.value}: shadowed by the built-in of that name")
            continue
        try:
            _load_entry_point(ep)
        except WorkloadError as exc:
            out.append(str(exc))
    return out


def known() -> dict[str, Workload]:
    """Every workload a config can name without a module path: built-ins, then entry points."""
    return {**builtins(), **installed()}


@contextmanager
def _importable_from(folder: Path | None) -> Iterator[None]:
    added = folder is not None and str(folder) not in sys.path
    if added:
        sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        if added:
            sys.path.remove(str(folder))


def _file_version(module: Any) -> str | None:
    version = getattr(module, "__version__", None)
    if isinstance(version, str):
        return version
    path = getattr(module, "__file__", None)
    try:
        return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12] if path else None
    except OSError:
        return None


def _load_module_ref(ref: str, folder: Path | None) -> Workload:
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr or not all(p.isidentifier() for p in [*module_name.split("."), *attr.split(".")]):
        raise WorkloadError(f"workload {ref!r}: a module path is written module:attribute (e.g. mypkg.train:WORKLOAD)")
    with _importable_from(folder):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            where = f" (looked in {folder} and the environment)" if folder is not None else ""
            raise WorkloadError(f"workload {ref!r}: no module named {exc.name!r}{where}") from None
        except Exception as exc:
            raise WorkloadError(f"workload {ref!r}: importing {module_name} failed: "
                                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise WorkloadError(f"workload {ref!r}: module {module_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if callable(obj) and not isinstance(obj, Workload) and not isinstance(obj, type):
        obj = obj()
    w = _checked(obj, f"module {ref}")
    return dataclasses.replace(w, source=f"module {ref} ({getattr(module, '__file__', '?')})",
                               version=w.version or _file_version(module))


def is_module_ref(ref: str) -> bool:
    """Whether ``ref`` names a workload by ``module:attribute`` rather than by name."""
    return ":" in ref


def resolve(ref: str, folder: Path | None = None) -> Workload:
    """The workload ``ref`` names: a built-in or installed name, or ``module:attribute`` (from ``folder`` too)."""
    if is_module_ref(ref):
        return _load_module_ref(ref, folder)
    every = known()
    if ref in every:
        return every[ref]
    close = difflib.get_close_matches(ref, list(every), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise WorkloadError(f"unknown workload {ref!r}{hint}; known: {', '.join(every)} "
                        "(or a module path module:attribute, or a command workload; `energybench workloads` lists them)")


def get(name: str) -> Workload | None:
    """A built-in or installed workload by name, else None (no import of module paths, no error)."""
    return known().get(name)


def headline(dataset: str, among: Iterable[str] | None = None) -> str | None:
    """The workload that stands for ``dataset`` (its ``headline`` one), else the first of ``among`` on it."""
    names = list(among) if among is not None else None
    for w in builtins().values():
        if w.dataset == dataset and w.headline and (names is None or w.name in names):
            return w.name
    for n in names or []:
        w = get(n)
        if w is not None and w.dataset == dataset:
            return n
    return None


def by_role(names: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
    """family -> role -> workload name, over ``names`` (default: every known workload)."""
    pool = [get(n) for n in names] if names is not None else list(known().values())
    out: dict[str, dict[str, str]] = {}
    for w in pool:
        if w is not None and w.family is not None and w.role is not None:
            out.setdefault(w.family, {}).setdefault(w.role, w.name)
    return out


def transfer_sets(names: Iterable[str] | None = None) -> list[dict[str, str]]:
    """Per family, the workloads of a pretraining comparison: ``pretrain``, ``frozen``, ``unfrozen``, ``scratch``.

    Only the roles that exist are in each dict (the tables say what is lacking).
    """
    keys = ("pretrain", "frozen", "unfrozen", "scratch")
    return [{k: roles[k] for k in keys if k in roles} for roles in by_role(names).values()
            if "pretrain" in roles or "frozen" in roles]


def multitask_sets(names: Iterable[str] | None = None) -> list[dict[str, str]]:
    """Per family with a ``multitask`` workload: label -> workload name, the single tasks and the multitask one."""
    pool = [get(n) for n in names] if names is not None else list(known().values())
    families: dict[str, dict[str, str]] = {}
    for w in pool:
        if w is not None and w.family is not None and w.role in ("single", "multitask"):
            families.setdefault(w.family, {})[w.label or w.name] = w.name
    multi = {w.family for w in pool if w is not None and w.role == "multitask"}
    return [labels for fam, labels in families.items() if fam in multi]


def resolve_entry(entry: Any, folder: Path | None = None) -> Workload:
    """The workload of one ``paradigms`` entry of a config: a name, a module path, or a command mapping."""
    if isinstance(entry, str):
        return resolve(entry, folder)
    from .command import from_config

    data = entry.model_dump() if hasattr(entry, "model_dump") else dict(entry)
    if data.get("name") in known():
        raise WorkloadError(f"command workload {data['name']!r}: the name is taken by a "
                            f"{known()[data['name']].source} workload; choose another")
    return _checked(from_config(data), f"command workload {data.get('name')!r}")


def entry_ref(entry: Any, w: Workload, folder: Path | None = None) -> dict[str, Any]:
    """What a worker needs to find ``w`` again (``spec.json``'s ``workload``): its ref, source and version."""
    ref: dict[str, Any] = {"name": w.name, "kind": w.kind, "source": w.source, "version": w.version}
    if isinstance(entry, str) and is_module_ref(entry):
        ref.update(ref=entry, folder=str(folder) if folder is not None else None)
    elif not isinstance(entry, str):
        ref["command"] = entry.model_dump(mode="json") if hasattr(entry, "model_dump") else dict(entry)
        ref["folder"] = str(folder) if folder is not None else None  # {config_dir}
    return ref


def resolve_ref(ref: dict[str, Any] | None, name: str) -> Workload:
    """The workload a run's ``spec.json`` names (``ref`` from :func:`entry_ref`; None: by ``name``, old specs)."""
    if not ref:
        return resolve(name)
    if ref.get("command") is not None:
        from .command import from_config

        return _checked(from_config(ref["command"]), f"command workload {name!r}")
    if ref.get("ref"):
        folder = ref.get("folder")
        return resolve(ref["ref"], Path(folder) if folder else None)
    return resolve(name)


def artefacts_of(name: str) -> tuple[str, ...]:
    """The artefacts a known workload leaves for its dependants (empty if unknown)."""
    w = get(name)
    return w.artefacts if w is not None else ()


def headlines() -> dict[str, str]:
    """dataset -> the built-in workload that stands for it where one is shown (the study's headline runs)."""
    return {w.dataset: w.name for w in builtins().values() if w.headline and w.dataset}
