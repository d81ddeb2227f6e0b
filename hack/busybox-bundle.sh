#!/usr/bin/env bash
# Build a minimal OCI bundle around Debian's busybox-static.
#
# Usage: hack/busybox-bundle.sh [--spec] DIR
#
#   DIR/rootfs gets /bin/busybox, a symlink for every applet, /etc/passwd and
#   /etc/group (root, nobody), and empty /tmp /proc /dev /sys /root dirs.
#   No config.json is written unless --spec is given: then
#   `${RLRT:-rootlessrt} spec --rootless` runs in DIR, as a user would.
#
# Needs no root: run it as the user who will own the bundle. The script never
# refers to its own path, so it can also be fed on stdin (`bash -s -- DIR`),
# which the integration tests do when the checkout is not readable by the
# test user.
set -euo pipefail

die() { echo "busybox-bundle.sh: $*" >&2; exit 1; }

spec=0
dir=
while [ $# -gt 0 ]; do
  case "$1" in
    --spec) spec=1 ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]:-/dev/null}" 2>/dev/null || true; exit 0 ;;
    --) shift; dir=${1:-}; break ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$dir" ] || die "only one DIR allowed"; dir=$1 ;;
  esac
  shift
done
[ -n "$dir" ] || die "usage: busybox-bundle.sh [--spec] DIR"

bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || die "$bb not found: install Debian's busybox-static (apt-get install busybox-static)"
# A dynamically linked busybox (Debian's `busybox` package) would not run in a
# rootfs without a libc.
if LC_ALL=C grep -aqE '/lib(64)?/ld-linux|ld-musl' "$bb"; then
  die "$bb is dynamically linked: install busybox-static instead of busybox"
fi

rootfs=$dir/rootfs
mkdir -p "$dir"
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,proc,dev,sys,root,home,var/tmp,tmp}
chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
chmod 0700 "$rootfs/root"

cp -f "$bb" "$rootfs/bin/busybox.new"
chmod 0755 "$rootfs/bin/busybox.new"
mv -f "$rootfs/bin/busybox.new" "$rootfs/bin/busybox"

# One symlink per applet, at the path busybox itself prefers (bin/sh,
# usr/bin/awk, ...), pointing at the in-container absolute path.
n=0
while IFS= read -r applet; do
  case "$applet" in ''|bin/busybox) continue ;; esac
  mkdir -p "$rootfs/$(dirname "$applet")"
  ln -sfn /bin/busybox "$rootfs/$applet"
  n=$((n + 1))
done < <("$bb" --list-full)
[ -L "$rootfs/bin/sh" ] || die "busybox has no sh applet?"

cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nogroup:x:65534:
EOF
echo busybox >"$rootfs/etc/hostname"
: >"$rootfs/etc/resolv.conf"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/hostname" "$rootfs/etc/resolv.conf"

if [ "$spec" = 1 ]; then
  rm -f "$dir/config.json"
  (cd "$dir" && "${RLRT:-rootlessrt}" spec --rootless)
  [ -f "$dir/config.json" ] || die "${RLRT:-rootlessrt} spec --rootless wrote no config.json"
fi
echo "busybox-bundle.sh: bundle in $dir ($n applets)" >&2
