"""One validation: the fake NVML for ``--fake``, the output folder, the data child, then the steps.

:data:`STEPS` is the whole validation, in order; each step names the checks it ends with.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from . import nvmlprobe, steps_power, steps_training
from .context import Context, Step
from .environment import Environment, installed_version
from .layout import FAKE_ROOT, REAL_ROOT, ValidationPaths
from .profiles import FAKE, GPU
from .report import StepResult
from .runner import Runner, machine_meta
from .studydata import DataJob

#: energybench's dependencies the validation does not import (kept that way by a test).
NOT_NEEDED = ("polars", "submitit", "stumpy")


def run_environment(ctx: Context, res: StepResult) -> None:
    env: Environment = ctx.shared["environment"]
    for s in env.statuses:
        res.figures[s.requirement.dist] = f"{s.found or 'absent'} ({s.action})"
    for dist in NOT_NEEDED:
        res.figures[dist] = f"{installed_version(dist) or 'absent'} (not needed by the validation)"
    installed = ", ".join(env.installed) or "nothing"
    py = ".".join(map(str, sys.version_info[:3]))
    res.verdict("environment.python", "PASS",
                f"Python {py} ({sys.executable}) has every requirement; installed from the wheel folder: "
                f"{installed}" + (f" (into {env.site_dir})" if env.installed else ""))


STEPS: tuple[Step, ...] = (
    Step("environment", "Python environment", run_environment, lambda p: ["environment.python"]),
    *steps_power.STEPS,
    *steps_training.STEPS,
)


def _gpu_name() -> str:
    """The first visible GPU's name (for the folder), from NVML, else from torch, else "gpu"."""
    from ..meter import nvml

    try:
        nvml.pynvml.nvmlInit()
        try:
            gpus = nvml.select_gpus(nvmlprobe._visible())
            return nvml._text(nvml.pynvml.nvmlDeviceGetName(gpus[0].handle))
        finally:
            nvml.pynvml.nvmlShutdown()
    except Exception:  # NVML hidden or broken: the nvml step will say how
        try:
            import torch

            return torch.cuda.get_device_name(0)
        except Exception:
            return "gpu"


def run_validation(*, fake: bool, out: Path | None, hidden: tuple[str, ...], env: Environment,
                   started_mono: float, repo: Path, keep_data: bool = False) -> int:
    """Run :data:`STEPS` and write ``validation.md``; the exit code (0: every step ran)."""
    profile = FAKE if fake else GPU
    with ExitStack() as stack:
        if fake:
            from .fakegpu import patched_nvml

            stack.enter_context(patched_nvml(hidden))
        import torch

        cuda_error = None
        if fake:
            torch.set_num_threads(1)  # the simulated GPU's power follows one core's use
        else:
            try:  # a CUDA context before idle power, as the worker has one
                torch.zeros(1, device=profile.device)
            except Exception as exc:  # the NVML steps still run; those that need CUDA fail on their own
                cuda_error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        gpu_name = _gpu_name()
        date = time.strftime("%Y-%m-%d")
        paths = ValidationPaths(out) if out else ValidationPaths.new(repo / (FAKE_ROOT if fake else REAL_ROOT),
                                                                       gpu_name, date)
        paths.dir.mkdir(parents=True, exist_ok=True)
        log = stack.enter_context(paths.log.open("a"))
        data_dir = Path(tempfile.mkdtemp(prefix="eb-validate-data-"))
        if not keep_data:
            stack.callback(shutil.rmtree, data_dir, True)
        stack.callback(steps_training.remove_checkpoints, paths.runs_dir)
        stack.callback(nvmlprobe.shutdown)
        ctx = Context(profile, paths, fake, data_dir, log, shared={"environment": env})
        job = DataJob(data_dir, profile, log)
        stack.callback(job.stop)
        ctx.shared["data"] = job
        meta = {"gpu_name": gpu_name, "date": date, "fake": fake, "profile": profile.name,
                "overall_budget_s": profile.total_budget_s, **machine_meta(repo)}
        if hidden:
            meta["fake_hidden"] = ", ".join(hidden)
        if cuda_error:
            meta["cuda_error"] = cuda_error
            print(f"energybench validate: CUDA does not initialise ({cuda_error}); measuring what NVML allows",
                  file=sys.stderr, flush=True)
        if keep_data:
            meta["data_dir"] = str(data_dir)
        print(f"energybench validate: {'FAKE (simulated GPU) ' if fake else ''}{gpu_name}, at most "
              f"{profile.total_budget_s:.0f} s; results in {paths.dir}", flush=True)

        def abort() -> None:  # the watchdog ends the process: no ExitStack unwinding
            job.stop()
            steps_training.remove_checkpoints(paths.runs_dir)
            if not keep_data:
                shutil.rmtree(data_dir, ignore_errors=True)

        runner = Runner(STEPS, ctx, meta, started_mono + profile.total_budget_s, started_mono, on_abort=abort)
        code = runner.run()
        print(f"energybench validate: {paths.report}", flush=True)
        return code
