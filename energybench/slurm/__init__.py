"""Everything energybench says to SLURM, in small modules.

``shell`` (the one function that runs sbatch/sacct/squeue/scontrol/sinfo/scancel),
``profile`` (the cluster profile YAML), ``cluster`` (what sinfo/scontrol say
about partitions and limits), ``arrays`` (pure: runs -> job arrays with
dependencies), ``manifest`` (run id -> job), ``accounting`` (job states from
sacct or squeue), ``job`` (the function a job runs on the compute node).
"""
