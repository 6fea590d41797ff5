"""The namegen command line: run, generate, score, serve, rollback, report and the benches."""
