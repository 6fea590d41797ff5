#!/usr/bin/env bash
# The main job: bootstrap, then run the pipeline end-to-end on the default data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/namegen run "$@"
