"""energybench: measure how training setups change the energy a GPU spends.

The pipeline, one module (or package) per stage:
config -> plan -> submit (local / slurm) -> worker (sampler, training) -> shards
-> collect (dataset) -> tables -> figures.
"""

__version__ = "0.1.0"
