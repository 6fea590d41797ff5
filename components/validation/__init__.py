"""Validation: TFDV statistics and schema, our name rules, and drift between spans."""
