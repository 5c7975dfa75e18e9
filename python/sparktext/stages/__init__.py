"""One module per Spark ML stage: Params and the transform, nothing else."""
