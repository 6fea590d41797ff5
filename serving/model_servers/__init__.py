"""The TF Serving stand-in behind `namegen serve`, one seam per file (serving/README.md)."""
