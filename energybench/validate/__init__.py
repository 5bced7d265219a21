"""GPU validation in one command: ``make validate-gpu`` (``python -m energybench.validate``).

What energybench assumes about NVML and about its own cost, measured on the GPU it runs on,
in at most 8 minutes, into ``results/validation/<gpu>-<date>/`` (docs/validation.md):

environment (what is missing, installed from ``.wheels/``) -> nvml (each quantity works?)
-> idle (power) -> counter-period -> steady / bursty (counter vs power integrals at 10 and
100 Hz) -> sampler-overhead (training loop, A/A, 95% intervals) -> study (energy per epoch by
batch size, generated data) -> worker (against a bare loop).

Modules: ``environment`` (stdlib only: requirements, wheels, GPU presence), ``profiles``
(durations and sizes), ``nvmlprobe`` and ``power`` (reading NVML; pure integrals), ``loads``,
``steps_power`` and ``steps_training`` (the steps), ``studydata`` (data, in a child process),
``runner`` (budgets, timeouts, writing as each step ends), ``report`` and ``layout`` (the
files), ``fakegpu`` (``--fake``), ``session`` (one validation, the step list).
Importing this package imports nothing outside the standard library.
"""
