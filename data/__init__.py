"""Data: finding the default names file, and other name lists made at run time."""
