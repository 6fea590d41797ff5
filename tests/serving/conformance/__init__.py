"""TF Serving's own test cases, re-expressed as data."""
