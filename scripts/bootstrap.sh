#!/usr/bin/env bash
# Create .venv with Python 3.10 and install the pinned lock with uv, once. Idempotent.
# uv installs wheels in parallel; the few lock entries published only as sdists are built once
# into uv's cache (UV_CACHE_DIR, default ~/.cache/uv) and reused from there on.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.10}
UV_VERSION=0.13.9  # the installer itself, a prebuilt wheel from PyPI
stamp=.venv/.lock-sha256
want=$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
# A full install takes about 3.5 GiB; the install fails part-way ("No space left on device") with less.
need_mib=${BOOTSTRAP_MIN_FREE_MIB:-4096}
free_mib=$(df -Pm . | awk 'NR == 2 {print $4}')
if [ ! -x .venv/bin/python ] && [ "$free_mib" -lt "$need_mib" ]; then
  echo "bootstrap: only $free_mib MiB free on $(df -P . | awk 'NR == 2 {print $6}');" \
    "installing requirements.lock into .venv needs about $need_mib MiB. Free some space and rerun." >&2
  exit 1
fi
echo "bootstrap: creating .venv with $($PYTHON --version) and installing requirements.lock" >&2
start=$(date +%s)
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# uv goes beside the environment, not into it: .venv holds exactly the lock.
uv=.venv/bootstrap/bin/uv
if [ ! -x "$uv" ] || [ "$("$uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --only-binary :all: --target .venv/bootstrap "uv==$UV_VERSION" 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
fi
hashes=()
if grep -q -- "--hash=" requirements.lock; then hashes=(--require-hashes); fi
"$uv" pip install --quiet --python .venv/bin/python --no-deps "${hashes[@]}" -r requirements.lock
"$uv" pip install --quiet --python .venv/bin/python --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
echo "bootstrap: done in $(( $(date +%s) - start )) s" >&2
