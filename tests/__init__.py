"""The test suite: `make test-fast` for units and contracts, `make test` for everything."""
