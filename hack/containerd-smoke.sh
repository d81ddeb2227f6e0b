#!/usr/bin/env bash
# Drive rootlessrt from a real containerd (Debian's 1.6 + runc v2 shim), as
# root, in a private mount namespace with a private containerd: create,
# start, exec, ps (via `ctr task ps`), kill, delete. Exits non-zero on any
# mismatch. Usage: hack/containerd-smoke.sh [RUNTIME_BINARY]
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "containerd-smoke: must run as root" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
rt=$(readlink -f "${1:-$here/../target/debug/rootlessrt}")
command -v containerd >/dev/null || { echo "containerd-smoke: containerd not installed" >&2; exit 1; }

if [ -z "${RLRT_IN_NS:-}" ]; then
  exec unshare -m --propagation private env RLRT_IN_NS=1 "$0" "$@"
fi
work=$(mktemp -d /tmp/rlrt-ctrd.XXXXXX)
mount -t tmpfs tmpfs /run/containerd 2>/dev/null || { mkdir -p /run/containerd && mount -t tmpfs tmpfs /run/containerd; }
cat >"$work/config.toml" <<CFG
version = 2
root = "$work/root"
state = "$work/state"
[grpc]
  address = "$work/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  disable_cgroup = true
CFG
containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
cpid=$!
cleanup() { kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null; umount -l /run/containerd 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$work/containerd.sock" ] && break; sleep 0.1; done
ctr() { command ctr --address "$work/containerd.sock" "$@"; }

mkdir -p "$work/rootfs"
"$here/busybox-bundle.sh" "$work/b" >/dev/null
cp -a "$work/b/rootfs/." "$work/rootfs/"

fail() { echo "containerd-smoke: FAIL: $*" >&2; tail -20 "$work/containerd.log" >&2; exit 1; }
out=$(ctr run --rm --runc-binary "$rt" --rootfs "$work/rootfs" smoke1 sh -c 'echo hello-from-containerd; exit 0') \
  || fail "ctr run: $out"
[[ $out == *hello-from-containerd* ]] || fail "ctr run output: $out"
echo "ok: ctr run prints the workload's output"

ctr run -d --runc-binary "$rt" --rootfs "$work/rootfs" smoke2 sleep 1000 >/dev/null || fail "ctr run -d"
out=$(ctr task exec --exec-id e1 smoke2 sh -c 'echo exec-ok') || fail "ctr task exec: $out"
[[ $out == *exec-ok* ]] || fail "exec output: $out"
echo "ok: ctr task exec"
ctr task ps smoke2 | grep -q sleep || ctr task ps smoke2 | awk 'NR>1' | grep -q . || fail "ctr task ps"
echo "ok: ctr task ps"
ctr task pause smoke2 && ctr task resume smoke2 || fail "pause/resume"
echo "ok: ctr task pause/resume"
ctr task kill -s SIGKILL smoke2 || fail "kill"
for _ in $(seq 50); do ctr task ls | grep -q 'smoke2.*STOPPED' && break; sleep 0.1; done
ctr task delete smoke2 >/dev/null || fail "task delete"
ctr container delete smoke2 || fail "container delete"
echo "ok: ctr task kill/delete"
echo "containerd-smoke: all passed"
