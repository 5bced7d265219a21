"""Steps about NVML and power: which quantities work, idle power, the counter's update period,
and the counter against the integrals of instant and average power under a steady and a bursty load."""

from __future__ import annotations

import time

import pyarrow as pa

from .context import Context, SkipStep, Step
from .loads import MatmulLoad
from .nvmlprobe import QUANTITIES, Probe, Recorder, poll, probe
from .power import agreement, every, mean, mean_power_w, update_period_s
from .profiles import Profile
from .report import StepResult

#: Sampler rates the windows are evaluated at; 10 Hz is the default period, 100 Hz the fastest advised.
RATES_HZ: tuple[float, ...] = (10.0, 100.0)
#: Power sources compared with the counter: check id suffix -> recorder column.
SOURCES = {"instant": "instant_power_w", "average": "average_power_w"}
#: Largest update period of the counter for a 10-Hz sampler to see a fresh value at every reading, s.
COUNTER_PERIOD_TARGET_S = 0.1


def _probe(ctx: Context) -> Probe:
    p = ctx.shared.get("probe")
    if p is None:
        raise SkipStep("the NVML probe did not run or failed")
    return p


# ------------------------------------------------------------------ nvml

def run_nvml(ctx: Context, res: StepResult) -> None:
    p = probe(settle_s=min(1.0, ctx.profile.idle_s / 4))
    ctx.shared["probe"] = p
    res.figures.update(gpu_name=p.name, gpu_uuid=p.uuid, power_limit_w=p.power_limit_w,
                       driver_version=p.driver_version, counter_advance_j=(p.counter_advance_mj or 0) / 1e3,
                       meter_counter_period_s=p.meter_counter_period_s)
    for q in QUANTITIES:
        v = p.values.get(q.name)
        res.figures[q.figure] = v
        if p.works(q.name):
            res.verdict(f"nvml.{q.name}", "PASS", f"{q.label}: works, {v:,.6g} {q.unit}")
        else:
            res.verdict(f"nvml.{q.name}", "FAIL", f"{q.label}: {p.problems[q.name]}")
    if p.meter_sources is not None:
        used = ", ".join(f"{k} <- {v}" for k, v in p.meter_sources.items())
        res.verdict("nvml.meter", "PASS", f"the NVML meter opens; its sources: {used}")
    else:
        res.verdict("nvml.meter", "FAIL", f"the NVML meter does not open: {p.meter_error}")
    res.tables["quantities"] = pa.table({
        "quantity": [q.name for q in QUANTITIES], "unit": [q.unit for q in QUANTITIES],
        "value": [p.values.get(q.name) for q in QUANTITIES],
        "problem": [p.problems.get(q.name) for q in QUANTITIES]})


def checks_nvml(profile: Profile) -> list[str]:
    return [f"nvml.{q.name}" for q in QUANTITIES] + ["nvml.meter"]


# ------------------------------------------------------------------ idle

def run_idle(ctx: Context, res: StepResult) -> None:
    p = _probe(ctx)
    seconds = min(ctx.profile.idle_s, ctx.left_s() - 1.0)
    with Recorder(p.handle, 10.0) as rec:
        time.sleep(max(seconds, 0.0))
    r = rec.rows
    res.tables["series"] = pa.table(r)
    counter_w = mean_power_w(r["time_s"], r["energy_counter_j"])
    inst_w, avg_w = mean(r["instant_power_w"]), mean(r["average_power_w"])
    window_s = r["time_s"][-1] - r["time_s"][0]
    res.figures.update(idle_window_s=window_s, idle_power_counter_w=counter_w, idle_power_instant_mean_w=inst_w,
                       idle_power_average_mean_w=avg_w, readings=len(r["time_s"]))
    short = f" (shorter than the planned {ctx.profile.idle_s:g} s)" if window_s < ctx.profile.idle_s - 1 else ""
    if counter_w is None and inst_w is None and avg_w is None:
        res.verdict("idle.power", "FAIL", "no power or energy reading in the idle window")
        return
    res.verdict("idle.power", "INFO",
                f"idle power over {window_s:.1f} s{short}: {_w(counter_w)} from the counter, "
                f"{_w(inst_w)} mean instant, {_w(avg_w)} mean average power")


def _w(x: float | None) -> str:
    return f"{x:.1f} W" if x is not None else "n/a"


# ------------------------------------------------------------------ counter update period

def run_counter_period(ctx: Context, res: StepResult) -> None:
    p = _probe(ctx)
    series = poll(p.handle, ctx.profile.poll_s, ctx.deadline_mono - 0.5)
    res.tables["poll"] = pa.table(series)
    counter_s = update_period_s(series["time_s"], series["energy_counter_j"])
    instant_s = update_period_s(series["time_s"], series["instant_power_w"])
    n = len(series["time_s"])
    rate = n / series["time_s"][-1] if n > 1 and series["time_s"][-1] > 0 else None
    res.figures.update(counter_update_period_s=counter_s, instant_power_update_period_s=instant_s,
                       polls=n, poll_rate_hz=rate)
    if counter_s is None:
        res.verdict("counter-period.energy", "FAIL" if p.works("energy_counter") else "SKIP",
                    "the energy counter did not change twice while polled" if p.works("energy_counter")
                    else "no energy counter here")
    else:
        ok = counter_s <= COUNTER_PERIOD_TARGET_S * 1.05  # scheduling jitter of a 100-ms period
        res.verdict("counter-period.energy", "PASS" if ok else "FAIL",
                    f"the energy counter updates every {counter_s * 1e3:.1f} ms (median, polled at {rate:.0f} Hz)",
                    f"<= {COUNTER_PERIOD_TARGET_S * 1e3:.0f} ms, so a 10-Hz sampler reads a fresh value each time")
    res.verdict("counter-period.instant_power", "INFO" if instant_s is not None else "SKIP",
                f"instant power changes every {instant_s * 1e3:.1f} ms (median)" if instant_s is not None
                else "instant power did not change twice while polled (or is not supported)")


# ------------------------------------------------------------------ load windows

def _window(ctx: Context, res: StepResult, kind: str) -> None:
    p = _probe(ctx)
    if not p.works("energy_counter"):
        raise SkipStep("no working energy counter to compare with")
    prof = ctx.profile
    load = MatmulLoad(prof.device, prof.matmul_n)
    load.busy_until(time.monotonic() + min(2.0, prof.window_s / 10))  # let power settle before the window
    seconds = min(prof.window_s, ctx.left_s() - 2.0)
    with Recorder(p.handle, prof.record_hz) as rec:
        phases = load.steady(seconds) if kind == "steady" else load.bursty(seconds, prof.burst_s)
    r = rec.rows
    res.tables["series"] = pa.table(r)
    res.tables["phases"] = pa.Table.from_pylist(phases)
    window_s = r["time_s"][-1] - r["time_s"][0]
    res.figures.update(window_s=window_s, readings=len(r["time_s"]), recorder_errors=rec.errors,
                       achieved_rate_hz=(len(r["time_s"]) - 1) / window_s if window_s > 0 else None,
                       busy_frac=sum(ph["end_s"] - ph["start_s"] for ph in phases if ph["busy"]) / window_s
                       if window_s > 0 else None, matmuls=load.products,
                       mean_power_counter_w=mean_power_w(r["time_s"], r["energy_counter_j"]))
    short = "" if window_s >= prof.window_s - 1 else f"; shorter than the planned {prof.window_s:g} s"
    for source, column in SOURCES.items():
        for rate in RATES_HZ:
            check = f"{kind}.{source}.{rate:g}hz"
            if not rec.supported[column]:
                res.verdict(check, "SKIP", f"{column} is not available here")
                continue
            a = agreement(r["time_s"], r["energy_counter_j"], r[column], every(rate, r["time_s"]))
            if a is None:
                res.verdict(check, "ERROR", "too few readings in the window")
                continue
            res.figures[f"{source}_{rate:g}hz_counter_j"] = a.counter_j
            res.figures[f"{source}_{rate:g}hz_integral_j"] = a.integral_j
            res.figures[f"{source}_{rate:g}hz_difference_pct"] = a.difference_pct
            text = (f"{kind} load, {a.window_s:.1f} s, {a.readings} readings at {rate:g} Hz: counter "
                    f"{a.counter_j:,.1f} J, integral of {source} power {a.integral_j:,.1f} J, "
                    f"difference {a.difference_pct:+.2f} %{short}")
            if kind == "steady" and source == "instant":
                ok = abs(a.difference_pct) <= prof.counter_target_pct and window_s >= min(prof.window_s, 60.0) - 1
                res.verdict(check, "PASS" if ok else "FAIL", text, f"within +-{prof.counter_target_pct:g} %")
            else:
                res.verdict(check, "INFO", text)


def run_steady(ctx: Context, res: StepResult) -> None:
    _window(ctx, res, "steady")


def run_bursty(ctx: Context, res: StepResult) -> None:
    _window(ctx, res, "bursty")


def _window_checks(kind: str) -> list[str]:
    return [f"{kind}.{s}.{r:g}hz" for s in SOURCES for r in RATES_HZ]


STEPS = (
    Step("nvml", "NVML quantities in this environment", run_nvml, checks_nvml),
    Step("idle", "Idle power", run_idle, lambda p: ["idle.power"]),
    Step("counter-period", "Update period of the energy counter", run_counter_period,
         lambda p: ["counter-period.energy", "counter-period.instant_power"]),
    Step("steady", "Counter vs power integrals, steady load", run_steady, lambda p: _window_checks("steady")),
    Step("bursty", "Counter vs power integrals, bursty load", run_bursty, lambda p: _window_checks("bursty")),
)
