#!/usr/bin/env bash
# Build a Debian bookworm minbase rootfs with debootstrap and pack it as a
# tarball that keeps real owners, set-id bits and device nodes.
#
# Usage (as root): hack/debian-rootfs.sh [--force]
#
# Environment:
#   RLRT_CACHE          cache directory           (default /var/cache/rootlessrt)
#   RLRT_DEBIAN_SUITE   suite                     (default bookworm)
#   RLRT_DEBIAN_ROOTFS  rootfs directory          (default $RLRT_CACHE/debian-$SUITE)
#   RLRT_DEBIAN_TAR     output tarball            (default $RLRT_CACHE/debian-$SUITE.tar)
#   RLRT_DEBIAN_MIRROR  mirror URL                (default: the one the host's apt sources name,
#                                                  else http://deb.debian.org/debian)
#
# The tarball is reused when it exists and is newer than this script (--force
# rebuilds). The last line on stdout is the tarball's path; progress goes to
# stderr. The rootfs gets the host's resolv.conf and apt sources pointing at
# the same mirror, so apt works in a container on the host network.
# Turn it into a rootless bundle with hack/debian-bundle.sh.
set -euo pipefail

say() { echo "debian-rootfs: $*" >&2; }
die() { say "error: $*"; exit 1; }

force=0
case "${1:-}" in
  --force) force=1 ;;
  '') ;;
  *) die "usage: debian-rootfs.sh [--force]" ;;
esac

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap creates device nodes and real owners)"
command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install -y debootstrap"

suite=${RLRT_DEBIAN_SUITE:-bookworm}
cache=${RLRT_CACHE:-/var/cache/rootlessrt}
rootfs=${RLRT_DEBIAN_ROOTFS:-$cache/debian-$suite}
tarball=${RLRT_DEBIAN_TAR:-$cache/debian-$suite.tar}
self=$(readlink -f "${BASH_SOURCE[0]}")

if [ "$force" = 0 ] && [ -s "$tarball" ] && [ "$tarball" -nt "$self" ]; then
  say "cached: $tarball (newer than $self; --force rebuilds)"
  echo "$tarball"
  exit 0
fi

# --- mirror: the first Debian archive the host's apt sources name ----------
# Prints "URI SUITE" pairs from one-line (*.list) and deb822 (*.sources) files.
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI suite components...
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && NF >= 3 { print $2, $3 }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled !~ /^[Nn]o/)
          for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print u[i], s[j]
        types = ""; enabled = ""; nu = 0; ns = 0
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      {
        key = tolower($1); sub(/:$/, "", key)
        if (key == "types")   { types = ""; for (i = 2; i <= NF; i++) types = types " " $i; types = types " " }
        if (key == "enabled") { enabled = $2 }
        if (key == "uris")    { for (i = 2; i <= NF; i++) u[++nu] = $i }
        if (key == "suites")  { for (i = 2; i <= NF; i++) s[++ns] = $i }
      }
      END { flush() }' "$f"
  done
}

pick_mirror() {
  local pairs
  pairs=$(apt_sources | sed 's:/*\( \):\1:' || true)
  # Prefer an archive that carries exactly our suite, then any .../debian.
  awk -v s="$suite" '$2 == s { print $1; exit }' <<<"$pairs" | grep . && return
  awk '$1 ~ /\/debian$/ { print $1; exit }' <<<"$pairs" | grep . && return
  echo http://deb.debian.org/debian
}
pick_security() {
  local pairs
  pairs=$(apt_sources | sed 's:/*\( \):\1:' || true)
  awk -v s="$suite-security" '$2 == s { print $1; exit }' <<<"$pairs" | grep . && return
  echo http://deb.debian.org/debian-security
}

mirror=${RLRT_DEBIAN_MIRROR:-$(pick_mirror)}
security=$(pick_security)
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
say "suite $suite ($arch), mirror $mirror"

# --- debootstrap (skipped when a complete rootfs is already there) --------
marker=$rootfs/.rlrt-debootstrap-complete
mkdir -p "$cache"
if [ "$force" = 1 ] || [ ! -f "$marker" ]; then
  if [ -e "$rootfs" ]; then
    say "removing incomplete or stale $rootfs"
    # a killed debootstrap may leave proc/sys mounted inside
    for m in proc sys dev/pts dev; do umount -l "$rootfs/$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$rootfs"
  fi
  mkdir -p "$rootfs"
  log=$cache/debootstrap-$suite.log
  say "running debootstrap --variant=minbase (takes a few minutes; full log: $log)"
  start=$(date +%s)
  set +e
  debootstrap --variant=minbase --arch="$arch" "$suite" "$rootfs" "$mirror" 2>&1 |
    tee "$log" |
    while IFS= read -r line; do
      case "$line" in
        I:*|W:*|E:*)
          if [ -t 2 ]; then
            printf '\r\033[K[%4ss] %s' "$(( $(date +%s) - start ))" "${line:0:100}" >&2
          else
            printf '[%4ss] %s\n' "$(( $(date +%s) - start ))" "$line" >&2
          fi ;;
      esac
    done
  rc=${PIPESTATUS[0]}
  set -e
  [ -t 2 ] && echo >&2
  if [ "$rc" != 0 ]; then
    tail -n 30 "$log" >&2
    die "debootstrap failed (exit $rc); see $log"
  fi
  touch "$marker"
  say "debootstrap done in $(( $(date +%s) - start ))s"
fi

# --- make apt usable in a container on the host network -------------------
say "configuring apt sources and resolv.conf"
rm -f "$rootfs/etc/apt/sources.list.d/"*.sources 2>/dev/null || true
cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
chmod 0644 "$rootfs/etc/apt/sources.list"

resolv=
for f in /etc/resolv.conf /run/systemd/resolve/resolv.conf; do
  if [ -s "$f" ] && grep -q '^nameserver' "$f"; then resolv=$f; break; fi
done
rm -f "$rootfs/etc/resolv.conf"    # may be a dangling symlink
if [ -n "$resolv" ]; then
  grep -E '^(nameserver|search|domain|options)' "$resolv" >"$rootfs/etc/resolv.conf"
else
  say "warning: the host has no usable resolv.conf; the container will have none"
  : >"$rootfs/etc/resolv.conf"
fi
chmod 0644 "$rootfs/etc/resolv.conf"
echo "$suite" >"$rootfs/etc/hostname"
# Not part of the image: downloaded package files and our own marker.
rm -f "$rootfs/var/cache/apt/archives/"*.deb

# --- pack ------------------------------------------------------------------
say "packing $tarball"
tmp=$tarball.tmp.$$
trap 'rm -f "$tmp"' EXIT
tar --numeric-owner --one-file-system -cpf "$tmp" -C "$rootfs" \
  --exclude=./.rlrt-debootstrap-complete --exclude='./proc/*' --exclude='./sys/*' .
mv -f "$tmp" "$tarball"
trap - EXIT
chmod 0644 "$tarball"
say "done: $(du -h "$tarball" | cut -f1) in $tarball"
echo "$tarball"
