#!/usr/bin/env bash
# Create .venv for one of the two stacks (docs/SETUP.md) and install its lock with uv, once. Idempotent.
#   classic: Python 3.10 + requirements.lock (TFX 1.16, TF 2.16) - Debian 12, Ubuntu 22.04
#   current: Python 3.13 + requirements-current.lock (TFX 1.21, TF 2.21) - needs glibc >= 2.39,
#            because TFDV 1.21 ships Linux wheels for manylinux_2_39 only.
# The machine picks the stack (glibc and the Pythons present); NAMEGEN_STACK=classic|current
# overrides it and PYTHON overrides the interpreter. `--print-stack` prints the choice and stops.
# uv installs wheels in parallel; the few lock entries published only as sdists are built once
# into uv's cache (UV_CACHE_DIR, default ~/.cache/uv) and reused from there on.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9  # the installer itself, a prebuilt wheel from PyPI
CURRENT_MIN_GLIBC=2.39

glibc_version() {  # "2.41", or nothing when neither ldd nor getconf says
  local v
  v=$(ldd --version 2>/dev/null | awk 'NR == 1 {print $NF}') || true
  if [[ ! $v =~ ^[0-9]+\.[0-9]+$ ]]; then
    v=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}') || true
  fi
  if [[ $v =~ ^[0-9]+\.[0-9]+$ ]]; then echo "$v"; fi
}
version_key() { local IFS=.; set -- $1; echo $(( $1 * 1000 + $2 )); }
# Why $1 cannot make a venv, or nothing when it can. A pyenv shim of an inactive version exits 127.
python_problem() {
  if ! "$1" --version >/dev/null 2>&1; then echo "$1 not found"; return; fi
  if ! "$1" -c "import venv, ensurepip" >/dev/null 2>&1; then
    echo "$1 has no venv/ensurepip (Debian: apt-get install $(basename "$1")-venv)"
  fi
}
join_and() { local out=""; for part in "$@"; do [ -n "$part" ] && out="${out:+$out and }$part"; done; echo "$out"; }

glibc=$(glibc_version)
classic_python=python3.10
current_python=python3.13
if [ -z "$glibc" ]; then
  glibc_problem="glibc version unknown (neither ldd --version nor getconf GNU_LIBC_VERSION answered)"
elif [ "$(version_key "$glibc")" -lt "$(version_key $CURRENT_MIN_GLIBC)" ]; then
  glibc_problem="glibc $glibc < $CURRENT_MIN_GLIBC for the current stack"
else
  glibc_problem=""
fi
why_not_classic=$(python_problem $classic_python)
why_not_current=$(join_and "$(python_problem $current_python)" "$glibc_problem")

case "${NAMEGEN_STACK:-}" in
  classic|current)
    stack=$NAMEGEN_STACK
    problem=$([ "$stack" = classic ] && echo "$why_not_classic" || echo "$why_not_current")
    if [ -n "$problem" ]; then
      echo "bootstrap: NAMEGEN_STACK=$stack cannot install here: $problem" >&2
      exit 1
    fi
    reason="NAMEGEN_STACK=$stack";;
  "")
    if [ -z "$why_not_current" ]; then
      stack=current reason="glibc $glibc >= $CURRENT_MIN_GLIBC and $current_python found"
    elif [ -z "$why_not_classic" ]; then
      stack=classic reason="$classic_python found; not current: $why_not_current"
    else
      echo "bootstrap: neither stack can install here: $why_not_classic" \
        "(classic stack) and $why_not_current. Install Python 3.10 for the classic stack," \
        "or use a machine with glibc >= $CURRENT_MIN_GLIBC and Python 3.13 (docs/SETUP.md)." >&2
      exit 1
    fi;;
  *)
    echo "bootstrap: NAMEGEN_STACK must be classic or current, not '$NAMEGEN_STACK'" >&2
    exit 2;;
esac
if [ "$stack" = classic ]; then
  lock=requirements.lock python=$classic_python
else
  lock=requirements-current.lock python=$current_python
fi
python_version=${python#python}
if [ -n "${PYTHON:-}" ]; then  # another interpreter of the same version, e.g. a full path
  got=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
  if [ "$got" != "$python_version" ]; then
    echo "bootstrap: PYTHON=$PYTHON is Python ${got:-?}; the $stack stack needs $python_version" >&2
    exit 1
  fi
  python=$PYTHON
fi
echo "bootstrap: $stack stack (Python $python_version, $lock): $reason" >&2
if [ "${1:-}" = "--print-stack" ]; then echo "$stack"; exit 0; fi

stamp=.venv/.lock-sha256
want=$( (echo "$stack"; cat "$lock" pyproject.toml) | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
if [ -x .venv/bin/python ]; then
  have=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
  if [ "$have" != "$python_version" ]; then
    echo "bootstrap: .venv has Python ${have:-?}, the $stack stack needs $python_version: recreating it" >&2
    rm -rf .venv
  fi
fi
# A full install takes about 3.5 GiB; the install fails part-way ("No space left on device") with less.
need_mib=${BOOTSTRAP_MIN_FREE_MIB:-4096}
free_mib=$(df -Pm . | awk 'NR == 2 {print $4}')
if [ ! -x .venv/bin/python ] && [ "$free_mib" -lt "$need_mib" ]; then
  echo "bootstrap: only $free_mib MiB free on $(df -P . | awk 'NR == 2 {print $6}');" \
    "installing $lock into .venv needs about $need_mib MiB. Free some space and rerun." >&2
  exit 1
fi
echo "bootstrap: creating .venv with $("$python" --version) and installing $lock" >&2
start=$(date +%s)
[ -x .venv/bin/python ] || "$python" -m venv .venv
# uv goes beside the environment, not into it: .venv holds exactly the lock.
uv=.venv/bootstrap/bin/uv
if [ ! -x "$uv" ] || [ "$("$uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --only-binary :all: --target .venv/bootstrap "uv==$UV_VERSION" 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
fi
hashes=()
if grep -q -- "--hash=" "$lock"; then hashes=(--require-hashes); fi
"$uv" pip install --quiet --python .venv/bin/python --no-deps "${hashes[@]}" -r "$lock"
"$uv" pip install --quiet --python .venv/bin/python --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
echo "bootstrap: done in $(( $(date +%s) - start )) s" >&2
