"""The pipeline's TFX components and executors, one folder per stage."""
