#!/usr/bin/env bash
# Regenerate requirements-current.lock (the current stack: Python 3.13, glibc >= 2.39) from
# pyproject.toml, with every distribution's hash. Run where uv is: .venv/bootstrap/bin/uv after a
# bootstrap, or any uv on PATH. The classic lock (requirements.lock) is kept as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=.venv/bootstrap/bin/uv
[ -x "$uv" ] || uv=uv
"$uv" pip compile --quiet pyproject.toml --extra test --generate-hashes \
  --python-version 3.13 --python-platform x86_64-manylinux_2_39 \
  --custom-compile-command "scripts/lock_current.sh" -o requirements-current.lock "$@"
