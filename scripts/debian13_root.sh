#!/usr/bin/env bash
# A Debian 13 (trixie) root for the current stack (glibc 2.41, Python 3.13), built with debootstrap
# from the mirror in this machine's apt sources, cached as a tarball, and entered with chroot.
#   scripts/debian13_root.sh build DIR          build DIR, or unpack the cached tarball into it
#   scripts/debian13_root.sh copy DIR           copy this checkout (tracked and untracked files,
#                                               not ignored ones) to DIR/src/namegen, ../shared
#                                               to DIR/src/shared
#   scripts/debian13_root.sh run DIR CMD...     with DIR's /proc, /dev and uv cache mounted,
#                                               run CMD on this machine (e.g. chroot DIR ...);
#                                               everything is unmounted on any exit
# Needs root. NAMEGEN_CI_CACHE (default /var/cache/namegen-ci) holds the tarball and uv's cache;
# NAMEGEN_DEBIAN_MIRROR overrides the mirror read from /etc/apt/sources.list{,.d}.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${NAMEGEN_CI_CACHE:-/var/cache/namegen-ci}
PACKAGES=python3,python3-venv,python3-pip,python3-dev,ca-certificates,make,git,build-essential
SUITE=trixie

debian_mirror() {  # the first Debian archive (not -security) among this machine's apt sources
  if [ -n "${NAMEGEN_DEBIAN_MIRROR:-}" ]; then echo "$NAMEGEN_DEBIAN_MIRROR"; return; fi
  local found
  found=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
    /^URIs:/ {for (i = 2; i <= NF; i++) uris = uris " " $i}
    /^Suites:/ {suites = $0}
    /^[[:space:]]*$/ {flush()}
    END {flush()}
    function flush(  n, u, i) {
      if (suites !~ /-security/ && uris != "") {
        n = split(uris, u, " ")
        for (i = 1; i <= n; i++) if (u[i] ~ /\/debian\/?$/ && !done) {print u[i]; done = 1}
      }
      uris = ""; suites = ""
    }')
  if [ -z "$found" ]; then
    found=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | awk '$1 == "deb" && $3 !~ /-security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//)
             {if ($i ~ /\/debian\/?$/) {print $i; exit}}}')
  fi
  [ -n "$found" ] || { echo "debian13_root: no Debian mirror in /etc/apt/sources.list{,.d};" \
    "set NAMEGEN_DEBIAN_MIRROR" >&2; exit 1; }
  echo "$found"
}

build() {
  local dir=$1 key tarball
  key=$(echo "$SUITE $PACKAGES" | sha256sum | cut -c1-12)
  tarball=$CACHE/debian13-root-$key.tar  # uncompressed: restoring it is a plain copy
  mkdir -p "$CACHE"
  if [ -x "$dir/usr/bin/python3" ]; then echo "debian13_root: $dir exists, reused" >&2; return; fi
  if [ -f "$tarball" ]; then
    mkdir -p "$dir" && tar -xf "$tarball" -C "$dir"
    echo "debian13_root: unpacked $tarball into $dir" >&2
    return
  fi
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
  local mirror start=$SECONDS
  mirror=$(debian_mirror)
  echo "debian13_root: debootstrap $SUITE into $dir from the machine's mirror" >&2
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$dir" "$mirror" >/dev/null
  rm -rf "$dir"/var/cache/apt/archives/*.deb
  tar -cf "$tarball.part" -C "$dir" . && mv "$tarball.part" "$tarball"
  echo "debian13_root: built in $((SECONDS - start)) s, cached as $tarball" >&2
}

copy() {
  local dir=$1
  rm -rf "$dir/src/namegen" "$dir/src/shared"
  mkdir -p "$dir/src/namegen"
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar -cf - --null -T - | tar -xf - -C "$dir/src/namegen"
  if [ -d ../shared ]; then cp -rL ../shared "$dir/src/shared"; fi  # -L: a linked ../shared too
}

run() {
  local dir=$1; shift
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  mkdir -p "$dir/etc/ssl/certs" "$CACHE/uv" "$dir/root/.cache/uv"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
  mounted=()  # global: the EXIT trap reads it after run() returns
  # shellcheck disable=SC2317  # called by the trap
  unmount() {
    local i
    for (( i = ${#mounted[@]} - 1; i >= 0; i-- )); do
      umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" || true
    done
  }
  trap unmount EXIT
  trap 'exit 130' INT TERM
  mountpoint -q "$dir/proc" || { mount -t proc proc "$dir/proc"; mounted+=("$dir/proc"); }
  mountpoint -q "$dir/dev" || { mount --bind /dev "$dir/dev"; mounted+=("$dir/dev"); }
  mountpoint -q "$dir/root/.cache/uv" \
    || { mount --bind "$CACHE/uv" "$dir/root/.cache/uv"; mounted+=("$dir/root/.cache/uv"); }
  "$@"
}

if [ "$(id -u)" != 0 ] && [ "${1:-}" != copy ]; then
  echo "debian13_root: $1 needs root (debootstrap, mount, chroot)" >&2
  exit 1
fi
case "${1:-}" in
  build|copy) "$1" "${2:?usage: $0 $1 DIR}";;
  run) [ $# -ge 3 ] || { echo "usage: $0 run DIR CMD..." >&2; exit 2; }
       dir=$2; shift 2; run "$dir" "$@";;
  *) sed -n '2,12p' "$0" >&2; exit 2;;
esac
