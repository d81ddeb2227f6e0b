#!/bin/sh
# Helper of hack/bench: enter a Debian rootfs the way every fake-root variant
# does, so that only the ID emulation differs between them.
#
# Usage (as uid 0 of a user namespace, inside a fresh mount namespace, i.e.
# after `unshare -Urm` or `rootlessrt fakeroot -- unshare -m`):
#   inroot.sh ROOTFS BIND|- CMD [ARG...]
# binds the host's /dev and /proc into ROOTFS (and the host directory BIND at
# the same path inside ROOTFS, for fakeroot's preload library), then execs
# CMD, which is expected to chroot (`chroot ROOTFS ...`, `fakeroot -- chroot`).
set -e
r=$1
b=$2
shift 2
mount --rbind /dev "$r/dev"
mount --rbind /proc "$r/proc"
if [ "$b" != - ]; then
  mount --bind "$b" "$r$b"
fi
exec "$@"
