"""The Slurm backend: a host-interpreter environment with `slurm:` runs its repeats as array job
tasks on a cluster's nodes, through sbatch (see execute.py)."""
