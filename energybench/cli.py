"""The ``energybench`` command line: thin click commands over the pipeline modules.

Heavy libraries (torch, timm, matplotlib, polars) are imported inside the
commands that need them, so ``--help`` and ``status`` answer instantly.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path

import click

from . import __version__
from .errors import ArgumentError, EnergybenchError


def _err(msg: str) -> None:
    click.echo(msg, err=True)


class _Group(click.Group):
    """Turns every :class:`EnergybenchError` into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except EnergybenchError as exc:
            _err(f"energybench: error: {str(exc).splitlines()[0]}")
            sys.exit(exc.exit_code)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            # A write outside energybench's atomic writers (e.g. collect's dataset) hit a full disk.
            _err(f"energybench: error: {os.strerror(exc.errno)}"
                 + (f" while writing {exc.filename}" if exc.filename else "") + "; free some space and retry")
            sys.exit(1)
        except KeyboardInterrupt:
            _err("energybench: interrupted")
            sys.exit(130)


class _PathArg(click.Path):
    """A path whose wrong kind (or, for an input, absence) is one ``energybench: error:`` line and
    exit 2 like every other mistake, instead of click's three-line usage message."""

    def __init__(self, directory: bool, must_exist: bool = False, hint: str = "") -> None:
        super().__init__(path_type=Path, file_okay=not directory, dir_okay=directory)  # for shell completion
        self.directory, self.must_exist, self.hint = directory, must_exist, hint

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = Path(str(value))
        name = "/".join(param.opts) if isinstance(param, click.Option) else (param.human_readable_name if param
                                                                            else "the path")
        hint = f"; {name} is {self.hint}" if self.hint else ""
        if self.directory and path.exists() and not path.is_dir():
            raise ArgumentError(f"{path}: is a file, not a directory{hint}")
        if not self.directory and path.is_dir():
            raise ArgumentError(f"{path}: is a directory, not a file{hint}")
        if self.must_exist and not path.exists():
            raise ArgumentError(f"{path}: no such {'directory' if self.directory else 'file'}{hint}")
        return path


#: A config or cluster profile: load_config and load_profile name every way the file can be wrong.
CONFIG_FILE = click.Path(path_type=Path)
#: Output paths, and inputs whose loader says what is missing: only the kind is checked.
FILE, DIR = _PathArg(directory=False), _PathArg(directory=True)
RESULTS_DIR = _PathArg(directory=True, must_exist=True, hint="the --results directory of `energybench submit`")
DATASET_DIR = _PathArg(directory=True, must_exist=True,
                       hint="a dataset directory (RESULTS/dataset, written by `energybench collect`)")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="energybench")
def cli() -> None:
    """Measure how training setups change the energy a GPU spends.

    Pipeline: plan -> submit -> status -> collect -> tables -> figures.
    """


@cli.command("plan")
@click.argument("config", type=CONFIG_FILE)
@click.option("--json", "as_json", is_flag=True, help="Print every run spec as JSON.")
def plan_cmd(config: Path, as_json: bool) -> None:
    """Expand CONFIG into runs; print runs per workload x hardware and the total."""
    from .config import load_config
    from .plan import plan, summarize

    exp = load_config(config)
    specs = plan(exp)
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in specs], indent=2))
        return
    axes = f" ({' x '.join(exp.grid.axes)})" if exp.grid.params else ""
    click.echo(f"experiment {exp.name}: {len(exp.grid.points())} setups{axes} x {len(exp.paradigms)} workloads "
               f"x {exp.repeats} repeats x {len(exp.hardware)} hardware")
    for (paradigm, hw), n in sorted(summarize(specs).items()):
        click.echo(f"  {paradigm:<22} {hw:<10} {n:>5} runs")
    click.echo(f"total: {len(specs)} runs")
    if exp.search is not None:
        from .search.rungs import experiment_schedule

        sched = experiment_schedule(exp)
        assert sched is not None
        click.echo(f"search: successive halving on {exp.search.objective}; rungs end at epochs "
                   f"{', '.join(map(str, sched.ends_epoch)) or '(none)'}, keeping "
                   f"{', '.join(map(str, sched.keep)) or '-'} setups; the last train to early stopping")


@cli.command("workloads")
@click.option("--config", "config", type=CONFIG_FILE, default=None,
              help="Also list CONFIG's own workloads (module paths, commands).")
@click.option("--json", "as_json", is_flag=True, help="Print each workload's declaration as JSON.")
def workloads_cmd(config: Path | None, as_json: bool) -> None:
    """List the workloads a config can name, and where each comes from (built-in, entry point, module)."""
    from .workloads import registry

    found = dict(registry.known())
    if config is not None:
        from .config import load_config

        found.update(load_config(config).workloads)
    if as_json:
        click.echo(json.dumps([w.describe() for w in found.values()], indent=2))
        return
    for w in found.values():
        extra = f" [params: {', '.join(sorted(w.params))}]" if w.params else ""
        needs = f"; after {w.depends_on}" if w.depends_on else ""
        click.echo(f"  {w.name:<22} {w.source}{' ' + w.version if w.version else ''}: {w.doc}{needs}{extra}")
    for line in registry.broken():
        click.echo(f"  (not loaded) {line}")


@cli.command("submit")
@click.argument("config", type=CONFIG_FILE)
@click.option("--results", type=DIR, default=None, help="Results directory (default results/<name>).")
@click.option("--executor", type=click.Choice(["local", "slurm"]), default=None,
              help="Override the config's executor.")
@click.option("--force", is_flag=True, help="Rerun every run, completed ones too (earlier data archived).")
@click.option("--dry-run", is_flag=True,
              help="SLURM: write the sbatch scripts to DIR/jobs/dry-run/ and submit nothing.")
@click.option("--profile", type=CONFIG_FILE, default=None,
              help="SLURM: the cluster profile YAML (overrides executor.profile).")
@click.option("--follow", is_flag=True,
              help="SLURM: keep topping up what the submission limits hold back until all is submitted (Ctrl-C stops).")
@click.option("--interval", "interval_s", type=float, default=60.0, show_default=True,
              help="--follow: seconds between two top-ups (at least 10).")
def submit_cmd(config: Path, results: Path | None, executor: str | None, force: bool, dry_run: bool,
               profile: Path | None, follow: bool, interval_s: float) -> None:
    """Validate CONFIG, plan it and execute (or, on SLURM, submit) the runs that are not done yet."""
    from .status import all_completed, run_states
    from .states import State
    from .submit import follow as follow_submit
    from .submit import submit

    if follow and (force or dry_run):
        raise ArgumentError("--follow tops up a submission; it does not go with --force or --dry-run")
    if follow:
        try:
            done = follow_submit(config, results, executor, interval_s=interval_s, echo=click.echo, profile=profile)
        except KeyboardInterrupt:
            click.echo("follow: stopped; what was submitted stays queued (`energybench submit` again tops up)")
            sys.exit(130)
    else:
        done = submit(config, results, executor, force=force, echo=click.echo, dry_run=dry_run, profile=profile)
    if dry_run:
        return
    if not done.outcome.waited:
        click.echo(f"next: energybench status {done.layout.root} --watch")
    else:
        states = run_states(done.layout)
        n_ok = sum(s.state == State.COMPLETED for s in states)
        click.echo(f"{n_ok}/{len(states)} runs completed; next: energybench collect {done.layout.root}")
        if not all_completed(states):
            sys.exit(1)


#: ``status`` exit codes: all completed / still pending or running / finished, not all completed.
EXIT_COMPLETED, EXIT_UNFINISHED, EXIT_INCOMPLETE = 0, 3, 1


@cli.command("status")
@click.argument("results", type=RESULTS_DIR)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
@click.option("--watch", "watch_s", type=click.FloatRange(min=5), default=None, is_flag=False, flag_value=30.0,
              help="Redraw every N seconds (default 30) until every run has finished.")
def status_cmd(results: Path, as_json: bool, watch_s: float | None) -> None:
    """Runs of RESULTS by state (markers joined with SLURM's view).

    Exit 0 when every run completed, 3 while runs are pending or running,
    1 when all finished but some did not complete.
    """
    import time

    from .paths import ResultsLayout
    from .status import all_completed, all_finished, current_states

    layout = ResultsLayout(results)
    while True:
        states, note = current_states(layout, max_age_s=min(5.0, watch_s or 5.0))
        if as_json:
            click.echo(json.dumps([s.to_dict() for s in states], indent=2))
        else:
            _print_status(results, states, note, clear=watch_s is not None)
        if watch_s is None or all_finished(states):
            break
        time.sleep(watch_s)
    if all_completed(states):
        sys.exit(EXIT_COMPLETED)
    sys.exit(EXIT_INCOMPLETE if all_finished(states) else EXIT_UNFINISHED)


def _progress(running: list) -> str:
    """One cell for the runs in progress: epochs, best accuracy, energy so far."""
    if not running:
        return ""
    epochs = sorted(s.epoch for s in running if s.epoch is not None)
    accs = [s.val_accuracy for s in running if s.val_accuracy is not None]
    energy_j = sum(s.energy_j or 0.0 for s in running)
    parts = [f"epoch {epochs[0]}-{epochs[-1]}" if epochs and epochs[0] != epochs[-1]
             else f"epoch {epochs[0]}" if epochs else "starting"]
    if accs:
        parts.append(f"acc max {max(accs):.2f}")
    if energy_j:
        parts.append(f"{energy_j / 1000:.1f} kJ")
    return ", ".join(parts)


#: Runs listed one by one under the status table (the rest: --json).
_SHOWN_PROBLEMS = 20


def _print_status(results: Path, states: list, note: str | None, clear: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    from .states import ORDER, PROBLEMS, State
    from .status import counts

    console = Console()
    if clear:
        console.clear()
    table = Table(title=f"{results}: {len(states)} runs")
    table.add_column("hardware")
    table.add_column("paradigm")
    shown = [s for s in ORDER if any(x.state == s for x in states)]
    for s in shown:
        table.add_column(s, justify="right")
    table.add_column("running: progress")
    for (hw, paradigm), c in sorted(counts(states).items()):
        running = [s for s in states if s.hardware == hw and s.paradigm == paradigm and s.state == State.RUNNING]
        table.add_row(hw, paradigm, *[str(c.get(s, 0)) for s in shown], _progress(running))
    console.print(table)
    bad = [s for s in states if s.state in PROBLEMS]
    for s in bad[:_SHOWN_PROBLEMS]:
        job = f" [job {s.job_id}]" if s.job_id else ""
        click.echo(f"{s.state} {s.run_id} {s.paradigm} setup {s.setup} repeat {s.repeat}{job}: {s.reason}")
    if len(bad) > _SHOWN_PROBLEMS:
        click.echo(f"... and {len(bad) - _SHOWN_PROBLEMS} more (energybench status {results} --json)")
    if note:
        click.echo(f"note: {note}", err=True)


@cli.command("cancel")
@click.argument("results", type=RESULTS_DIR)
@click.option("--run", "run_ids", multiple=True, metavar="ID",
              help="Cancel only this run (a unique prefix of its id is enough); repeatable.")
def cancel_cmd(results: Path, run_ids: tuple[str, ...]) -> None:
    """Cancel the queued and running SLURM jobs of RESULTS (or of the given runs)."""
    from .slurm.cancel import cancel_runs
    from .paths import ResultsLayout

    n, jobs = cancel_runs(ResultsLayout(results), list(run_ids))
    click.echo(f"cancelled {n} runs ({len(jobs)} jobs)" + (f": {' '.join(jobs)}" if jobs else "")
               + f"; `energybench submit CONFIG --results {results}` resubmits them")


@cli.command("prefetch")
@click.argument("config", type=CONFIG_FILE)
def prefetch_cmd(config: Path) -> None:
    """On a login node with internet: cache the weights CONFIG needs and check its data."""
    from .prefetch import prefetch

    prefetch(config, echo=click.echo)


@cli.command("collect")
@click.argument("results", type=RESULTS_DIR)
@click.option("--full", is_flag=True, help="Read every run again (default: only runs changed since the last collect).")
def collect_cmd(results: Path, full: bool) -> None:
    """Merge every run's shards into RESULTS/dataset and write RESULTS/tables."""
    from .collect import collect

    rep = collect(results, echo=click.echo, warn=_err, full=full)
    click.echo(f"dataset: {rep.dataset_dir} ({rep.runs} runs, {rep.epochs} epochs, {rep.samples} samples, "
               f"{len(rep.quarantined)} files quarantined)")
    if rep.scheduler_energy and not rep.scheduler_energy.startswith("not asked (no SLURM"):
        click.echo(f"scheduler energy (sacct ConsumedEnergyRaw, node-level): {rep.scheduler_energy}")


@cli.command("tables")
@click.argument("dataset", type=DATASET_DIR)
@click.option("--out", type=DIR, default=None, help="Output directory (default: beside the dataset).")
def tables_cmd(dataset: Path, out: Path | None) -> None:
    """Recompute the tables from a DATASET directory alone."""
    from .collect import recompute_tables

    paths = recompute_tables(dataset, out)
    click.echo(f"{len(paths)} table files in {paths[0].parent if paths else out}")


@cli.command("figures")
@click.argument("results", type=RESULTS_DIR)
@click.option("--run", "run_id", default=None, help="Run id for the power-over-time figure.")
@click.option("--heatmap-axes", "heatmap_axes", default="batch_size,learning_rate", show_default=True,
              help="The two grid axes the heatmaps show (rows,columns); every other swept axis is a facet.")
def figures_cmd(results: Path, run_id: str | None, heatmap_axes: str) -> None:
    """Draw the figures of RESULTS (after collect) into RESULTS/figures."""
    from .figures import draw_figures
    from .paths import ResultsLayout

    axes = tuple(a.strip() for a in heatmap_axes.split(",") if a.strip())
    if len(axes) != 2:
        raise ArgumentError(f"--heatmap-axes {heatmap_axes!r}: give two axes, e.g. batch_size,learning_rate")
    layout = ResultsLayout(results)
    paths = draw_figures(layout.dataset_dir, layout.tables_dir, layout.figures_dir, run_id=run_id,
                         heatmap_axes=axes)  # type: ignore[arg-type]
    click.echo(f"{len(paths)} figure files in {layout.figures_dir}")


@cli.command("report")
@click.argument("results", type=RESULTS_DIR)
@click.option("--reference", type=_PathArg(directory=True, must_exist=True), default=None,
              help="Folder of the study's published values (default: the repository's results/reference).")
@click.option("--hardware", "pairs", multiple=True, metavar="PUBLISHED=MEASURED",
              help="Compare measured hardware MEASURED with published PUBLISHED, e.g. h100=gpu-h100; repeatable.")
def report_cmd(results: Path, reference: Path | None, pairs: tuple[str, ...]) -> None:
    """Write RESULTS/report.md and report.html: every table and figure, side by side with the study."""
    from .report import parse_pairs, write_report

    md, page = write_report(results, reference, parse_pairs(pairs))
    click.echo(f"report: {md} (open {page} in a browser)")


@cli.group("estimate")
def estimate_group() -> None:
    """Estimate energy: from a few epochs (online) or before a run starts (offline)."""


@estimate_group.command("fit")
@click.argument("results", type=RESULTS_DIR)
@click.option("--out", type=FILE, default=None,
              help="Model file (default RESULTS/estimate/model.joblib).")
@click.option("--method", type=click.Choice(["kernel-ridge", "linear", "svr"]), default="kernel-ridge",
              show_default=True, help="Regressor.")
def estimate_fit_cmd(results: Path, out: Path | None, method: str) -> None:
    """Fit the offline estimators on the dataset of RESULTS (a results or dataset directory)."""
    from .estimate.api import fit_dir, summary_lines

    path, model = fit_dir(results, out, method)
    for line in summary_lines(model):
        click.echo(line)
    click.echo(f"model: {path}; next: energybench estimate predict CONFIG --model {path}")


@estimate_group.command("predict")
@click.argument("config", type=CONFIG_FILE)
@click.option("--model", "model_path", type=FILE, required=True,
              help="Model file from `energybench estimate fit`.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Assume N epochs per run (default: the training data's mean for the setup).")
@click.option("--csv", "csv_path", type=FILE, default=None,
              help="Also write every run's prediction to this CSV file.")
def estimate_predict_cmd(config: Path, model_path: Path, epochs: int | None, csv_path: Path | None) -> None:
    """Predict the energy of every planned run of CONFIG and the grid's total, before submitting."""
    from .estimate.api import predict_config

    pred = predict_config(config, model_path, epochs)
    click.echo(f"{'run_id':<16} {'paradigm':<20} {'hardware':<9} {'setup':>5} {'epochs':>7} "
               f"{'power_w':>8} {'epoch_wh':>10} {'energy_wh':>11} {'power_based_wh':>15}")
    for r in pred.runs.iter_rows(named=True):
        click.echo(f"{r['run_id']:<16} {r['paradigm']:<20} {r['hardware']:<9} {r['setup']:>5} {r['epochs']:>7.1f} "
                   f"{r['predicted_power_w']:>8.1f} {r['predicted_epoch_energy_wh']:>10.4g} "
                   f"{r['energy_wh']:>11.4g} {r['energy_power_based_wh']:>15.4g}")
    click.echo(f"total: {pred.runs.height} runs, {pred.total_energy_wh:.4g} Wh (epoch-energy-based), "
               f"{pred.total_energy_power_based_wh:.4g} Wh (power-based)")
    for note in pred.notes:
        click.echo(f"note: {note}")
    if csv_path is not None:
        from .paths import atomic_path

        with atomic_path(csv_path) as tmp:
            pred.runs.write_csv(tmp)
        click.echo(f"written: {csv_path}")


@estimate_group.command("evaluate")
@click.argument("results", type=RESULTS_DIR)
@click.option("--stable-epoch", default="10", show_default=True, metavar="N|fluss",
              help="First epoch of the online stable window, or 'fluss' to detect it per run.")
@click.option("--window-epochs", type=click.IntRange(min=1), default=5, show_default=True,
              help="Epochs in the online stable window.")
@click.option("--group-by", type=click.Choice(["setup", "batch_size", "hardware", "paradigm"]), default="setup",
              show_default=True, help="What no two cross-validation folds share.")
@click.option("--regressor", "regressors", type=click.Choice(["kernel-ridge", "linear", "svr"]), multiple=True,
              help="Offline regressors to evaluate (repeatable; default all three).")
def estimate_evaluate_cmd(results: Path, stable_epoch: str, window_epochs: int, group_by: str,
                          regressors: tuple[str, ...]) -> None:
    """RMSE, MAE and MAPE of every estimator on the runs of RESULTS; table, figure, Markdown."""
    from .errors import EstimateError
    from .estimate.api import evaluate_dir
    from .estimate.evaluate import Settings

    if stable_epoch != "fluss" and not (stable_epoch.isdigit() and int(stable_epoch) >= 1):
        raise EstimateError(f"--stable-epoch: {stable_epoch!r} is neither a positive epoch number nor 'fluss'")
    settings = Settings(stable_epoch=stable_epoch if stable_epoch == "fluss" else int(stable_epoch),
                        window_epochs=window_epochs, group_by=group_by,
                        regressors=regressors or ("kernel-ridge", "linear", "svr"))
    ev, written = evaluate_dir(results, settings)
    click.echo(f"{'method':<27} {'regressor':<12} {'scope':<18} {'n':>4} {'rmse_wh':>10} {'mae_wh':>10} "
               f"{'mape_pct':>9} {'bias_pct':>9}  target")
    for r in ev.table.iter_rows(named=True):
        met = "" if r["target_met"] is None else (" met" if r["target_met"] else " NOT met")
        click.echo(f"{r['method']:<27} {r['regressor']:<12} {r['scope']:<18} {r['n_runs']:>4} {r['rmse_wh']:>10.4g} "
                   f"{r['mae_wh']:>10.4g} {r['mape_pct']:>9.3g} {r['bias_pct']:>9.3g}  {r['target'] or ''}{met}")
    for note in ev.notes:
        click.echo(f"note: {note}")
    click.echo(f"{len(written)} files written, the report section: {written[-1]}")


@estimate_group.command("run")
@click.argument("results", type=RESULTS_DIR)
@click.argument("run_id")
@click.option("--stable-epoch", default="10", show_default=True, metavar="N|fluss",
              help="First epoch of the stable window, or 'fluss' to detect it.")
@click.option("--window-epochs", type=click.IntRange(min=1), default=5, show_default=True,
              help="Epochs in the stable window.")
def estimate_run_cmd(results: Path, run_id: str, stable_epoch: str, window_epochs: int) -> None:
    """Online estimates of one run of RESULTS, finished or still training (then with its forecast)."""
    from .errors import EstimateError
    from .estimate.api import run_estimate
    from .units import J_PER_WH

    if stable_epoch != "fluss" and not (stable_epoch.isdigit() and int(stable_epoch) >= 1):
        raise EstimateError(f"--stable-epoch: {stable_epoch!r} is neither a positive epoch number nor 'fluss'")
    r = run_estimate(results, run_id, stable_epoch if stable_epoch == "fluss" else int(stable_epoch), window_epochs)
    click.echo(f"run {r.run_id} ({'finished' if r.finished else 'training'}): {r.epochs_measured} epochs measured, "
               f"{r.energy_so_far_j / J_PER_WH:.4g} Wh so far")
    if r.estimate is None:
        window = f"epochs {r.stable_epoch}..{r.stable_epoch + r.window_epochs - 1}"
        click.echo(f"online estimates: none, the run has fewer epochs than the stable window ({window})" if r.finished
                   else f"online estimates: none yet (the stable window is {window}; a forecast needs accuracies)")
        return
    e = r.estimate
    n_note = "its epochs" if r.finished else "forecast stop epoch"
    click.echo(f"stable window: epochs {e.stable_epoch}..{e.stable_epoch + e.window_epochs - 1}, "
               f"{e.window_power_w:.4g} W, {e.window_energy_j / e.window_epochs / J_PER_WH:.4g} Wh per epoch")
    click.echo(f"online estimate for {e.epochs} epochs ({n_note}): "
               f"epoch-energy-based {e.epoch_energy_based_j / J_PER_WH:.4g} Wh, "
               f"power-based {e.power_based_j / J_PER_WH:.4g} Wh")
    if r.forecast is not None:
        f = r.forecast
        thr = ("reached" if f.threshold_reached else
               f"epoch {f.threshold_epoch} [{f.threshold_epoch_low}, {f.threshold_epoch_high}]"
               if f.threshold_epoch is not None else "not before max_epochs")
        click.echo(f"forecast ({f.family} learning curve): threshold {thr}; stop at epoch {f.stop_epoch} "
                   f"[{f.stop_epoch_low}, {f.stop_epoch_high}]; energy to stop {f.energy_to_stop_j / J_PER_WH:.4g} Wh "
                   f"[{f.energy_to_stop_low_j / J_PER_WH:.4g}, {f.energy_to_stop_high_j / J_PER_WH:.4g}] "
                   "(10th-90th percentile)")


@cli.group("profile")
def profile_group() -> None:
    """The cluster profile: what each hardware name means on your SLURM cluster."""


@profile_group.command("init")
@click.option("--out", type=FILE, default=None, help="Write the profile to FILE (default: print it).")
@click.option("--force", is_flag=True, help="Overwrite an existing --out FILE.")
def profile_init_cmd(out: Path | None, force: bool) -> None:
    """Write a cluster profile from sinfo and scontrol: one hardware entry per partition and GPU type."""
    from .slurm.profile_init import init_profile, refuse_overwrite, write_profile

    if out is not None:
        refuse_overwrite(out, force)  # before asking the cluster anything
    text = init_profile()
    if out is None:
        click.echo(text, nl=False)
        return
    write_profile(text, out, force=force)
    click.echo(f"written: {out}; check it, fill in account/setup, then: "
               f"energybench submit CONFIG --executor slurm --profile {out}")


@cli.group("search")
def search_group() -> None:
    """Energy-aware successive halving (the config's search: section runs through submit)."""


@search_group.command("evaluate", context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                                    "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def search_evaluate_cmd(args: tuple[str, ...]) -> None:
    """The search strategies on the synthetic simulator over many seeds (energy spent, regret, verdict).

    Options (`energybench search evaluate -h`): --seeds N, --workloads, --hardware, --objectives,
    --etas, --first-rungs, --max-epochs, --jobs, --out DIR.
    """
    from .search.evaluate import main as evaluate_main

    sys.exit(evaluate_main(list(args)))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="energybench")
