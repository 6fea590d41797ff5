#!/usr/bin/env bash
# Create .venv with Python 3.10 and install the pinned lock, once. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.10}
stamp=.venv/.lock-sha256
want=$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
# A full install takes about 3.5 GiB; pip fails part-way ("No space left on device") with less.
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
.venv/bin/pip install --quiet --disable-pip-version-check --no-cache-dir --no-deps -r requirements.lock 2>&1 \
  | { grep -v "^WARNING: Location" || true; }
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 \
  | { grep -v "^WARNING: Location" || true; }
echo "$want" > "$stamp"
echo "bootstrap: done in $(( $(date +%s) - start )) s" >&2
