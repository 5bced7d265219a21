"""The workload protocol: what one run trains, declared once (the study's "paradigm").

A workload is one object. Its *declaration* (plain attributes, no torch) is
what planning, submission checks, the tables and the estimators ask about:

* ``name`` (what ``runs.parquet``'s ``paradigm`` column says), ``doc``;
* ``dataset``: the ``data:`` section of the config it reads (``None``: it
  brings its own data, as a command or a third-party workload may), and
  ``needs``: what the data must provide (``"identities"``: CelebA's identity
  file, which Kaggle's copy lacks);
* ``monitor``: the validation metric threshold early stopping watches
  (``"val_accuracy"``), ``"val_loss"`` (loss patience, the autoencoder), or
  ``None`` (no early stopping: the run ends at ``max_epochs`` or when a
  command exits);
* ``depends_on``: the workload whose run of the same setup, repeat and
  hardware must finish first (the SLURM ``aftercorr`` chain and the local
  ordering come from it), and ``artefacts``: the files its runs leave for
  dependants (``encoder.pt``);
* ``family``, ``role`` and ``label``: how the tables that pair workloads find
  them (break-even: a ``pretrain``, a ``frozen`` and a ``scratch`` workload of
  one family; freeze savings: ``frozen`` against ``unfrozen``; multitask: a
  ``multitask`` workload against the ``single`` ones, labelled);
  ``headline``: the workload that stands for its dataset where one is shown;
* ``params``: the extra grid axes (``grid.params``) it accepts, with defaults;
* ``synthetic``: the profile the synthetic generator simulates (None: it
  cannot be simulated).

Its *behaviour*: :meth:`Workload.check` and :meth:`Workload.prefetch` on the
login node before submission (data sections are located, generated or refused
for it); :meth:`Workload.build` (the task: model, optimiser's parameters, loss,
data), :meth:`Workload.build_model` (for the estimators) and
:meth:`Workload.save_artefacts` import torch and the worker's machinery only
when called, on the node that trains or characterises it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..paths import RunPaths

#: What a workload may be to the tables that pair workloads.
ROLES = ("scratch", "pretrain", "frozen", "unfrozen", "single", "multitask")
#: What early stopping may watch (None: nothing; the run ends at max_epochs or when its command exits).
MONITORS = ("val_accuracy", "val_loss", None)
#: Value types an extra grid axis may have.
PARAM_KINDS: dict[str, type | tuple[type, ...]] = {"float": (int, float), "int": int, "str": str, "bool": bool,
                                                   "any": (int, float, str, bool)}


@dataclass(frozen=True)
class Param:
    """An extra grid axis a workload accepts (``grid.params``): its type, default and meaning."""

    kind: str = "float"  # one of PARAM_KINDS
    default: Any = None
    doc: str = ""

    def problem(self, name: str, value: Any) -> str | None:
        """Why ``value`` is not a valid value of this axis, else None."""
        want = PARAM_KINDS.get(self.kind, object)
        if isinstance(value, bool) and self.kind != "bool":
            return f"{name}={value!r}: expected {self.kind}"
        if not isinstance(value, want):
            return f"{name}={value!r}: expected {self.kind}"
        return None


@dataclass(frozen=True)
class SyntheticProfile:
    """What the synthetic generator simulates for a workload (``energybench.estimate.synthetic``)."""

    params_total: int
    params_trainable: int
    macs_per_sample: int
    n_train: int
    n_val: int
    input_size: int
    overhead_s: float  # kernel launches and Python per training step, seconds
    b_half: float  # batch size at which a 10,000-core GPU is half occupied, samples
    start: float  # accuracy (or loss) at epoch 0
    best: float  # asymptote with the best learning rate
    tau_epochs: float  # epochs to 63 % of the way, at batch size 256 and learning rate 0.001
    train_cost: float | None = None  # MAC cost of a training step relative to a forward pass (None: 1 + 2 x trainable)


@dataclass(frozen=True)
class Workload:
    """One workload; subclass it and override :meth:`build` (and :meth:`build_model` for the estimators).

    See the module docstring for what each attribute means. ``source`` and
    ``version`` are filled in by the registry (built-in, entry point, module
    path) and recorded in every run's ``run.json`` and ``runs.parquet``.
    """

    name: str
    doc: str = ""
    dataset: str | None = None
    needs: frozenset[str] = frozenset()
    monitor: str | None = "val_accuracy"
    depends_on: str | None = None
    artefacts: tuple[str, ...] = ()
    family: str | None = None
    role: str | None = None
    label: str | None = None
    headline: bool = False
    params: Mapping[str, Param] = field(default_factory=dict)
    synthetic: SyntheticProfile | None = None
    source: str = "built-in"
    version: str | None = None

    #: "python": trained in the worker by :meth:`build`'s task; "command": a program the worker starts.
    kind = "python"

    @property
    def stage(self) -> int:
        """0 for a workload with no dependency, 1 for one that needs another's run first."""
        return 0 if self.depends_on is None else 1

    def declaration_problems(self) -> list[str]:
        """What is wrong with the declaration itself (the registry refuses such a workload)."""
        out = []
        if self.monitor not in MONITORS:
            out.append(f"monitor {self.monitor!r} is not one of val_accuracy, val_loss, none")
        if self.role is not None and self.role not in ROLES:
            out.append(f"role {self.role!r} is not one of {', '.join(ROLES)}")
        for name, p in self.params.items():
            if name in ("batch_size", "learning_rate") or not name.isidentifier():
                out.append(f"parameter name {name!r}: use an identifier other than batch_size, learning_rate")
            if p.kind not in PARAM_KINDS:
                out.append(f"parameter {name!r}: kind {p.kind!r} is not one of {', '.join(PARAM_KINDS)}")
        return out

    def param_problems(self, params: Mapping[str, Any]) -> list[str]:
        """Why ``params`` (one grid point's extra axes) do not suit this workload, else []."""
        out = []
        for key, value in params.items():
            spec = self.params.get(key)
            if spec is None:
                accepted = ", ".join(sorted(self.params)) or "none"
                out.append(f"workload {self.name!r} does not accept parameter {key!r} (it accepts: {accepted})")
            elif (why := spec.problem(key, value)) is not None:
                out.append(f"workload {self.name!r}: {why}")
        return out

    def resolved_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` with this workload's defaults for the axes the grid does not sweep."""
        return {**{k: p.default for k, p in self.params.items()}, **params}

    def build(self, spec: Any, device: Any, upstream: "RunPaths | None") -> Any:
        """The task (``energybench.worker.tasks.Task``) of one run: model, data, loss, on ``device``.

        ``upstream`` is the run directory of the ``depends_on`` run (its artefacts), else None.
        """
        raise NotImplementedError(f"workload {self.name!r} does not build a task")

    def build_model(self, data: Mapping[str, Any]) -> tuple[Any, Any, tuple[int, int]]:
        """(model on the CPU without weights, example input of one sample, (training, validation) samples).

        For the estimators' characterisation of a run before it trains; reads the data at ``data['path']``.
        """
        raise NotImplementedError(f"workload {self.name!r} cannot be characterised before it runs")

    def check(self, params: Mapping[str, Any]) -> str | None:
        """Before submission (on the login node): why this workload's own inputs are unusable, else None.

        A workload that reads a config ``data`` section is checked through it (the section is located,
        generated or refused, once per dataset); override this for inputs of your own (files,
        weights). ``params``: one grid point's extra axes with defaults.
        """
        return None

    def prefetch(self) -> str | None:
        """On a login node with internet (``energybench prefetch``): fetch what the runs will need; one line, or None."""
        return None

    def save_artefacts(self, task: Any, run: "RunPaths") -> None:
        """Write what a dependant workload needs into ``run`` (nothing, unless ``artefacts`` says so)."""

    def describe(self) -> dict[str, Any]:
        """The declaration as JSON (``run.json``'s ``workload``, ``energybench workloads --json``)."""
        return {"name": self.name, "kind": self.kind, "source": self.source, "version": self.version,
                "dataset": self.dataset, "monitor": self.monitor, "depends_on": self.depends_on,
                "params": {k: {"kind": p.kind, "default": p.default} for k, p in self.params.items()},
                "doc": self.doc}


def data_root(data: Mapping[str, Any]) -> Path:
    """The data folder of a data section (as JSON)."""
    return Path(data["path"])
