#!/usr/bin/env bash
# The project's test command: build, lint, and run every test (unit, tracer,
# end-to-end in all settings).
#
#   sudo hack/test.sh          # all settings: rootless v1-hybrid, rootless
#                              # cgroup v2 (simulated), root, root + userns
#   hack/test.sh               # as a user: only the rootless setting runs,
#                              # the others are reported SKIPPED
#
# As root it creates the unprivileged test user (hack/test-user.sh, no subuid
# entry; RLRT_TEST_USER overrides the name) and runs the runtime as that user.
# The checkout may live where that user cannot read (e.g. /root): the tests
# copy the binary and build bundles in a world-readable temp dir.
#
# Environment: RLRT_TEST_THREADS (default 4) parallel tests per test binary;
# RLRT_KEEP_TMP=1 keeps test directories; any cargo variables.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

say() { printf '\n=== %s\n' "$*" >&2; }
die() { echo "test.sh: $*" >&2; exit 1; }

if ! command -v cargo >/dev/null; then
  for f in "$HOME/.cargo/env" ${SUDO_USER:+"$(getent passwd "$SUDO_USER" | cut -d: -f6)/.cargo/env"}; do
    # shellcheck disable=SC1090
    [ -f "$f" ] && . "$f" && break
  done
fi
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) or put cargo in PATH"

dev_null_state() { stat -c '%F %u:%g %a %t:%T' /dev/null; }
want_dev_null='character special file 0:0 666 1:3'
[ "$(dev_null_state)" = "$want_dev_null" ] ||
  die "/dev/null is already wrong before the tests: $(dev_null_state) (want $want_dev_null)"

if [ "$(id -u)" = 0 ]; then
  RLRT_TEST_USER=$(hack/test-user.sh "${RLRT_TEST_USER:-rlrt-test}")
  export RLRT_TEST_USER
  say "test user: $RLRT_TEST_USER (uid $(id -u "$RLRT_TEST_USER"), no subuid)"
else
  echo "test.sh: not root: the root and cgroup-v2 settings will be SKIPPED (run with sudo for all)" >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rlrt-test.XXXXXX")
chmod 0755 "$tmp"
export RLRT_TEST_TMPDIR=$tmp
cleanup() {
  if [ -z "${RLRT_KEEP_TMP:-}" ]; then rm -rf --one-file-system "$tmp" 2>/dev/null || true; fi
}
trap cleanup EXIT

failed=()
step() {
  local name=$1; shift
  say "$name: $*"
  local t0=$SECONDS
  if "$@"; then
    echo "--- $name ok ($((SECONDS - t0))s)" >&2
  else
    echo "--- $name FAILED ($((SECONDS - t0))s)" >&2
    failed+=("$name")
  fi
}

say "build: cargo build --workspace"
cargo build --workspace || die "build failed"
step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  # The tracer's aarch64 side (its syscall table, registers, the stat shim)
  # is compiled and linted, not run: there is no aarch64 machine here.
  step clippy-aarch64 cargo clippy -p tracer --all-targets --target aarch64-unknown-linux-gnu -- -D warnings
fi
step test cargo test --workspace -- --test-threads="${RLRT_TEST_THREADS:-4}"
if [ "$(id -u)" = 0 ] && command -v containerd >/dev/null; then
  # A real containerd (runc v2 shim) driving the runtime as root.
  step containerd hack/containerd-smoke.sh "${CARGO_TARGET_DIR:-target}/debug/rootlessrt"
fi

if [ "$(dev_null_state)" != "$want_dev_null" ]; then
  echo "test.sh: the host's /dev/null was changed by the tests: $(dev_null_state)" >&2
  failed+=("/dev/null")
fi

if [ ${#failed[@]} -gt 0 ]; then
  say "FAILED: ${failed[*]}"
  exit 1
fi
say "all passed"
