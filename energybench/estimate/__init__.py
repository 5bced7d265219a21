"""Energy estimation: a run's energy from a few epochs (online) or before it starts (offline).

Reproduces del Rey et al. ("How to use model architecture and training
environment to estimate the energy consumption of DL training"):

* :mod:`.online`: power-based and epoch-energy-based estimators over a stable
  window (fixed epoch or FLUSS), and a forecast to early stop for running runs;
* :mod:`.offline`: kernel ridge (and linear, SVR) regressors of power, energy
  and duration per epoch on :mod:`.features` (GPU specs from :mod:`.gpus`);
* :mod:`.baselines`: MLCO2 and Green Algorithms;
* :mod:`.evaluate`: every method on held-out runs, grouped by setup;
* :mod:`.budget`: energy-aware early stopping (off by default);
* :mod:`.synthetic`: a full-grid dataset with known true energy.

:mod:`.api` holds what the ``energybench estimate`` commands call.
"""
