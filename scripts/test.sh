#!/usr/bin/env bash
# The test suite: bootstrap, lint, then pytest. Extra arguments go to pytest.
# Tests run on every core (pytest-xdist); each file stays on one worker, in file order, since
# tests/e2e/test_pipeline_faults.py builds each stage on the last. NAMEGEN_TEST_WORKERS=0 runs
# everything in one process, NAMEGEN_TEST_WORKERS=N on N workers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -n "${NAMEGEN_TEST_WORKERS:-auto}" --dist loadfile "$@"
