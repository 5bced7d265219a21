"""The two estimators del Rey et al. compare against, as they are used after training. Pure.

* MLCO2 (Lacoste et al., the ML CO2 Impact calculator): the GPU draws its
  TDP for the whole training time, ``E = TDP x t``.
* Green Algorithms (Lannelongue et al.): ``E = t x (n_c x P_c x u_c + n_m x
  P_m) x PUE x PSF``, with one GPU (n_c = 1, P_c = its TDP), u_c its mean
  utilisation (``samples.gpu_util_pct`` of the train and eval phases; 1 where
  unknown, as the calculator assumes), n_m the memory *requested* in GB
  (Green Algorithms counts the memory available to the job, not used: the
  run's ``host_mem_gb``, SLURM's ``--mem`` or the host's RAM; datasets from
  before schema 2 lack it and fall back to the GPU's memory) and P_m = 0.3725 W/GB.

Both estimate the device's energy like energybench measures it: PUE = 1 and
PSF = 1 (one run).
"""

from __future__ import annotations

#: Green Algorithms' memory power, watts per GB.
GA_MEMORY_W_PER_GB = 0.3725


def mlco2_j(tdp_w: float, duration_s: float, pue: float = 1.0) -> float:
    """MLCO2: TDP x time (x PUE), joules."""
    return tdp_w * duration_s * pue


def green_algorithms_j(tdp_w: float, duration_s: float, *, utilisation_frac: float | None,
                       memory_gb: float, n_cores: int = 1, pue: float = 1.0, psf: float = 1.0) -> float:
    """Green Algorithms: t x (n_c x P_c x u_c + n_m x P_m) x PUE x PSF, joules (u_c = 1 when unknown)."""
    u = 1.0 if utilisation_frac is None else min(max(utilisation_frac, 0.0), 1.0)
    return duration_s * (n_cores * tdp_w * u + memory_gb * GA_MEMORY_W_PER_GB) * pue * psf
