"""The dataset contract: every column, its Arrow type and its unit.

Shards written by workers and the dataset written by ``collect`` use these
schemas. Later versions add columns; they never rename or drop one. Units are
part of every column name (``_s``, ``_w``, ``_j``, ``_mib``, ``_pct``...).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

#: Bumped whenever columns are added. Version 2 added the per-domain energy columns
#: (gpu/cpu/dram), the energy counter's update period, the scheduler's energy, host memory,
#: the sampling period and the input pipeline (loader, image size).
#: Version 3 added the search's columns (epochs.rung, runs.pruned_rung) and dataset/search.parquet.
#: Version 4 added the workload's provenance (runs.workload_kind, workload_source, workload_version), the
#: grid's extra axes (runs.params) and whether a command marked its epochs (runs.epoch_marks).
SCHEMA_VERSION = 4
#: The energy domains a reading, an epoch and a run split into, in the order columns and tables show them.
DOMAINS: tuple[str, ...] = ("gpu", "cpu", "dram")
#: Versions whose shards this version reads (columns added since are null there).
READABLE_VERSIONS = frozenset({1, 2, 3, 4})


@dataclass(frozen=True)
class Column:
    """One column of the contract."""

    name: str
    type: pa.DataType
    doc: str
    nullable: bool = False
    since: int = 1  # schema version that added the column (older shards lack it: null)


def _schema(columns: tuple[Column, ...]) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in columns])


SAMPLE_COLUMNS: tuple[Column, ...] = (
    Column("run_id", pa.string(), "stable run id (hash of the resolved run spec)"),
    Column("attempt", pa.int32(), "1 for the first attempt, +1 per resume"),
    Column("time_s", pa.float64(), "Unix time of the reading, seconds"),
    Column("epoch", pa.int32(), "training epoch (1-based); 0 before training"),
    Column("phase", pa.string(), "idle | train | eval | checkpoint; a command workload: the phases it marks, and run (before its first mark, or all of it without marks)"),
    Column("power_w", pa.float64(), "power of the metered devices, watts", nullable=True),
    Column("energy_j", pa.float64(), "cumulative meter counter since the meter opened, joules; null without a counter", nullable=True),
    Column("meter", pa.string(), "nvml | rapl | estimate | synthetic: what produced this reading"),
    Column("gpu_util_pct", pa.float32(), "GPU (or CPU for estimate) utilisation, percent", nullable=True),
    Column("mem_used_mib", pa.float32(), "device memory in use, MiB", nullable=True),
    Column("temperature_c", pa.float32(), "device temperature, degrees Celsius", nullable=True),
    Column("sm_clock_mhz", pa.float32(), "SM clock, MHz", nullable=True),
    *(c for d, what in (("gpu", "the job's GPUs (NVML)"), ("cpu", "CPU packages (RAPL, attributed to the job; or the estimate)"),
                        ("dram", "DRAM (RAPL, attributed to the job)"))
      for c in (Column(f"{d}_power_w", pa.float64(), f"power of {what}, watts", nullable=True, since=2),
                Column(f"{d}_energy_j", pa.float64(), f"cumulative counter of {what} since the meter opened, joules",
                       nullable=True, since=2))),
    Column("gpu_power_avg_w", pa.float64(), "NVML's averaged power (about 1 s on Ampere and later), watts", nullable=True, since=2),
    Column("gpu_mem_power_w", pa.float64(), "GPU memory power where the GPU reports it (Hopper and later), watts", nullable=True, since=2),
)

EPOCH_COLUMNS: tuple[Column, ...] = (
    Column("run_id", pa.string(), "stable run id"),
    Column("attempt", pa.int32(), "attempt that measured this epoch"),
    Column("epoch", pa.int32(), "epoch number, 1-based"),
    Column("start_s", pa.float64(), "Unix time the epoch started, seconds"),
    Column("duration_s", pa.float64(), "wall time of the epoch (train + eval), seconds"),
    Column("energy_j", pa.float64(), "authoritative epoch energy: counter delta where a counter exists, else trapezoid integral of power, joules", nullable=True),
    Column("energy_eq1_j", pa.float64(), "the paper's eq. 1: mean sampled power x epoch time, joules", nullable=True),
    Column("mean_power_w", pa.float64(), "mean of the power samples in the epoch, watts", nullable=True),
    Column("samples", pa.int32(), "number of power samples in the epoch"),
    Column("coverage_frac", pa.float64(), "fraction of the epoch's wall time spanned by its samples, 0..1"),
    Column("low_samples", pa.bool_(), "true when the epoch had fewer than 2 samples (energy unreliable)"),
    Column("net_energy_j", pa.float64(), "energy_j minus idle_power_w x duration_s, joules", nullable=True),
    Column("train_loss", pa.float64(), "mean training loss", nullable=True),
    Column("val_loss", pa.float64(), "validation loss", nullable=True),
    Column("val_accuracy", pa.float64(), "monitored validation accuracy, 0..1 (null for the autoencoder)", nullable=True),
    *(c for d in ("gpu", "cpu", "dram")
      for c in (Column(f"{d}_energy_j", pa.float64(), f"energy of the {d} domain in the epoch (counter delta, else power integral), joules", nullable=True, since=2),
                Column(f"{d}_mean_power_w", pa.float64(), f"mean {d} power of the epoch's samples, watts", nullable=True, since=2),
                Column(f"net_{d}_energy_j", pa.float64(), f"{d}_energy_j minus the {d} idle power x duration_s, joules", nullable=True, since=2))),
    Column("energy_domains", pa.string(), "the domains energy_j sums, e.g. gpu+cpu+dram", nullable=True, since=2),
    Column("short_for_counter", pa.bool_(), "true when the epoch lasted fewer than 5 updates of the GPU energy counter", nullable=True, since=2),
    Column("rung", pa.int32(), "search: the successive-halving rung the epoch belongs to (0 = the first; the last survivors' final pass is the number of rungs); null without a search", nullable=True, since=3),
)

RUN_COLUMNS: tuple[Column, ...] = (
    Column("run_id", pa.string(), "stable run id"),
    Column("experiment", pa.string(), "experiment name from the config"),
    Column("dataset", pa.string(), "the config's data section the workload reads (pamap2 | celeba); a workload that brings its own data: its own name"),
    Column("paradigm", pa.string(), "workload name (the study's paradigm; `energybench workloads` lists them)"),
    Column("setup", pa.int32(), "setup number 1..N, batch-major (the paper's Table 1)"),
    Column("batch_size", pa.int32(), "training batch size, samples"),
    Column("learning_rate", pa.float64(), "constant learning rate"),
    Column("repeat", pa.int32(), "repeat index, 1-based"),
    Column("hardware", pa.string(), "hardware target name (partition label)"),
    Column("meter", pa.string(), "meter kind that produced the energy numbers"),
    Column("status", pa.string(), "COMPLETED | FAILED | ... (final worker state)"),
    Column("epochs", pa.int32(), "epochs trained"),
    Column("threshold_epoch", pa.int32(), "first epoch whose monitored accuracy reached the threshold; null if never", nullable=True),
    Column("stop_reason", pa.string(), "patience | max_epochs | energy_budget | pruned (search) | failed: ...", nullable=True),
    Column("best_val_accuracy", pa.float64(), "best monitored validation accuracy, 0..1", nullable=True),
    Column("duration_s", pa.float64(), "wall time of training (all epochs, all attempts), seconds"),
    Column("energy_j", pa.float64(), "gross energy of all epochs, joules", nullable=True),
    Column("idle_power_w", pa.float64(), "idle power measured before training, watts", nullable=True),
    Column("net_energy_j", pa.float64(), "energy_j minus idle power x duration, joules", nullable=True),
    Column("attempts", pa.int32(), "number of attempts (1 + resumes)"),
    Column("device", pa.string(), "torch device the run trained on (cpu, cuda)"),
    Column("host", pa.string(), "host name of the (last) attempt", nullable=True),
    Column("data_synthetic", pa.bool_(), "true when the data were generated (not the published dataset)"),
    Column("params_total", pa.int64(), "model parameters, count", nullable=True),
    Column("params_trainable", pa.int64(), "trainable parameters, count", nullable=True),
    Column("buffers_bytes", pa.int64(), "bytes of model buffers", nullable=True),
    Column("model_size_bytes", pa.int64(), "bytes of parameters + buffers", nullable=True),
    Column("macs_per_sample", pa.int64(), "multiply-accumulates of one forward pass per sample", nullable=True),
    Column("n_train_samples", pa.int64(), "training samples per epoch, count", nullable=True),
    Column("n_val_samples", pa.int64(), "validation samples per epoch, count", nullable=True),
    Column("input_size", pa.int64(), "elements of one input sample as the model takes it, count", nullable=True),
    Column("gpu_name", pa.string(), "GPU name as the driver reports it (null on CPU)", nullable=True),
    Column("loader", pa.string(), "input pipeline: resident (splits on the device) | dataloader (torch DataLoader); null before it was recorded", nullable=True, since=2),
    Column("loader_workers", pa.int32(), "DataLoader worker processes (0 for resident), count", nullable=True, since=2),
    Column("image_size", pa.string(), "CelebA input as configured: native (178 x 218 as published) | S (square, centre crop) | HxW, pixels; null for PAMAP2", nullable=True, since=2),
    *(c for d in ("gpu", "cpu", "dram")
      for c in (Column(f"{d}_energy_j", pa.float64(), f"energy of the {d} domain, all epochs, joules", nullable=True, since=2),
                Column(f"idle_{d}_power_w", pa.float64(), f"idle {d} power measured before training, watts", nullable=True, since=2),
                Column(f"net_{d}_energy_j", pa.float64(), f"{d}_energy_j minus idle_{d}_power_w x duration, joules", nullable=True, since=2))),
    Column("energy_domains", pa.string(), "the domains energy_j sums, e.g. gpu+cpu+dram", nullable=True, since=2),
    Column("cpu_share_frac", pa.float64(), "share of the sockets' CPU and DRAM energy attributed to the job, 0..1 (run.json cpu_attribution says the rule)", nullable=True, since=2),
    Column("counter_period_s", pa.float64(), "update period of the GPU energy counter, measured at open, seconds", nullable=True, since=2),
    Column("sample_period_s", pa.float64(), "the sampler's period, seconds", nullable=True, since=2),
    Column("host_mem_gb", pa.float64(), "host memory the job requested (SLURM --mem), else the host's RAM, GB", nullable=True, since=2),
    Column("pruned_rung", pa.int32(), "search: the rung after which the run was pruned (stop_reason pruned); null otherwise", nullable=True, since=3),
    Column("params", pa.string(), "the grid's extra axes at this setup (grid.params) as canonical JSON, e.g. {\"weight_decay\":0.0001}; null without extra axes", nullable=True, since=4),
    Column("workload_kind", pa.string(), "python (trained in the worker) | command (a program run as the run)", nullable=True, since=4),
    Column("workload_source", pa.string(), "where the workload came from: built-in | entry point <distribution> | module <path> | command", nullable=True, since=4),
    Column("workload_version", pa.string(), "the workload's version: energybench's for built-ins, the distribution's, the module's __version__ or a hash of its file or command", nullable=True, since=4),
    Column("epoch_marks", pa.bool_(), "false for a command that marked no epochs (one row for the whole run: total-energy tables only); true otherwise", nullable=True, since=4),
    Column("sched_energy_j", pa.float64(), "the scheduler's ConsumedEnergyRaw of the run's job (node-level: meaningless on shared nodes), joules", nullable=True, since=2),
)

SEARCH_COLUMNS: tuple[Column, ...] = (
    Column("paradigm", pa.string(), "the bracket's workload"),
    Column("hardware", pa.string(), "the bracket's hardware"),
    Column("rung", pa.int32(), "the rung decided (0 = the first)"),
    Column("ends_epoch", pa.int32(), "the rung's last epoch, 1-based"),
    Column("objective", pa.string(), "forecast | sm2 | zeus | accuracy"),
    Column("run_id", pa.string(), "a candidate run of the rung"),
    Column("setup", pa.int32(), "its setup"),
    Column("score", pa.float64(), "the run's cost under the objective (lower is better; joules for forecast and zeus, unitless for sm2 and accuracy)", nullable=True),
    Column("setup_score", pa.float64(), "the setup's cost: the mean over its repeats", nullable=True),
    Column("survived", pa.bool_(), "the setup went on to the next rung"),
    Column("epochs", pa.int32(), "epochs the run had trained when the rung was decided"),
    Column("energy_j", pa.float64(), "energy of those epochs, joules"),
    Column("best_val_accuracy", pa.float64(), "best validation accuracy of those epochs, 0..1", nullable=True),
    Column("energy_to_threshold_j", pa.float64(), "energy to the accuracy threshold: measured if reached, else forecast, joules", nullable=True),
    Column("threshold_reached", pa.bool_(), "the run had reached the threshold by then"),
    Column("decided_at_s", pa.float64(), "Unix time of the decision, seconds"),
)


def added_since(columns: tuple[Column, ...], version: int) -> frozenset[str]:
    """Names of the columns a shard of schema ``version`` cannot have (added later)."""
    return frozenset(c.name for c in columns if c.since > version)


SAMPLE_SCHEMA = _schema(SAMPLE_COLUMNS)
EPOCH_SCHEMA = _schema(EPOCH_COLUMNS)
RUN_SCHEMA = _schema(RUN_COLUMNS)
SEARCH_SCHEMA = _schema(SEARCH_COLUMNS)

#: Metadata key under which every shard records the schema version.
VERSION_KEY = b"energybench.schema_version"


def with_version(schema: pa.Schema) -> pa.Schema:
    """``schema`` with the schema version stamped into its metadata."""
    return schema.with_metadata({VERSION_KEY: str(SCHEMA_VERSION).encode()})


def describe() -> dict[str, list[dict[str, object]]]:
    """A JSON-able description of the contract (written as ``dataset/schema.json``)."""

    def rows(cols: tuple[Column, ...]) -> list[dict[str, object]]:
        return [{"name": c.name, "type": str(c.type), "nullable": c.nullable, "doc": c.doc} for c in cols]

    return {
        "schema_version": SCHEMA_VERSION,  # type: ignore[dict-item]
        "runs": rows(RUN_COLUMNS),
        "epochs": rows(EPOCH_COLUMNS),
        "samples": rows(SAMPLE_COLUMNS),
        "search": rows(SEARCH_COLUMNS),
    }


def markdown() -> str:
    """The contract as Markdown tables (the README's dataset schema section is this text)."""
    out = []
    for title, cols in (("dataset/runs.parquet", RUN_COLUMNS), ("dataset/epochs.parquet", EPOCH_COLUMNS),
                        ("dataset/samples/ (partitioned by hardware and dataset)", SAMPLE_COLUMNS),
                        ("dataset/search.parquet (search: configs only; one row per candidate run and rung decision)",
                         SEARCH_COLUMNS)):
        out += [f"`{title}`", "", "| column | type | meaning (unit) |", "|---|---|---|"]
        for c in cols:
            doc = c.doc.replace("|", "\\|")
            out.append(f"| `{c.name}` | {c.type}{' (nullable)' if c.nullable else ''} | {doc} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
