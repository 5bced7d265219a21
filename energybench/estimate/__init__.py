"""Energy estimation: a run's energy from a few epochs (online) or before it starts (offline).

Reproduces del Rey et al. ("How to use model architecture and training
environment to estimate the energy consumption of DL training"):

* :mod:`.online`: power-based and epoch-energy-based estimators over a stable
  window (fixed epoch or FLUSS); :mod:`.forecast`: energy to early stop of a
  run still training;
* :mod:`.offline`: kernel ridge (and linear, SVR) regressors of power, energy
  and duration per epoch on :mod:`.features` (GPU specs from :mod:`.gpus`;
  planned runs' workloads from :mod:`.workload`);
* :mod:`.baselines`: MLCO2 and Green Algorithms;
* :mod:`.evaluate`: every method on the runs, offline ones cross-validated by setup;
* :mod:`.budget`: energy-aware early stopping (off by default);
* :mod:`.synthetic`: a full-grid dataset with known true energy.

:mod:`.source` reads datasets; :mod:`.api` is what ``energybench estimate`` calls.
"""
