"""Everything energybench says to SLURM, in small modules: the one SLURM home.

``executor`` (the SLURM backend of the executor protocol: preflight, submit,
dry run), ``sbatch`` (submitit adapted: one array per sbatch), ``cancel``
(``energybench cancel``), ``shell`` (the one function that runs
sbatch/sacct/squeue/scontrol/sinfo/scancel), ``profile`` (the cluster profile
YAML), ``cluster`` (what sinfo/scontrol say about partitions and limits),
``arrays`` (pure: runs -> job arrays with dependencies), ``manifest`` (run id
-> job; ``TaskId`` parses ``<job>_<index>``), ``accounting`` (job states from
sacct or squeue), ``job`` (what an array task runs on the compute node).
"""
