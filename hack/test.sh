#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run calls it):
# installs what the tests need, builds, lints, runs every test (unit, tracer,
# end-to-end in all settings, Debian/apt, a real containerd), and ends with
# one summary line, counted over every test binary and this script's steps:
#
#   test.sh: 155 passed, 0 failed, 0 skipped in 198s
#
#   hack/test.sh    # as root (Debian): installs the packages below and, when no
#                   # Rust >= Cargo.toml's rust-version is here, Debian's
#                   # cargo-web with its rustfmt and clippy; creates the test
#                   # user rlrt-test (no /etc/subuid); runs every setting
#   hack/test.sh    # as a user: nothing is installed (a missing package stops
#                   # it at once); the root settings are SKIPPED and counted
#
# No test passes by skipping: a missing prerequisite is installed here or the
# test fails; a deliberate skip (not root) prints "SKIPPED <test>: <why>",
# counted in the summary, and fails under CI=true (.ci/run).
#
# Environment: RLRT_TEST_THREADS (default 4) parallel tests per test binary;
# RLRT_KEEP_TMP=1 keeps every test directory (a failed test keeps its own
# anyway, and so does this script); CI=true; RLRT_TEST_USER; cargo's.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
repo=$(pwd)
t_start=$SECONDS

say() { printf '\n=== %s\n' "$*" >&2; }
die() { echo "test.sh: $*" >&2; exit 1; }

# What the tests use. busybox-static: test bundles; libseccomp-dev pkg-config
# gcc libc6-dev: building libcontainer, the tracer's C test programs; jq attr
# util-linux: scripts, xattrs, unshare/runuser; runc crun: comparisons;
# proot fakeroot: the fake-root comparisons; debootstrap ca-certificates: the
# Debian rootfs; umoci: rootless import; containerd podman buildah conmon
# slirp4netns uidmap fuse-overlayfs rootlesskit: the engines driving
# rootlessrt; strace: syscall checks; git: the checkout.
pkgs=(busybox-static libseccomp-dev pkg-config gcc libc6-dev jq attr util-linux runc crun proot
  fakeroot debootstrap umoci containerd podman buildah slirp4netns uidmap fuse-overlayfs
  rootlesskit conmon strace ca-certificates git)

root=0
[ "$(id -u)" = 0 ] && root=1
# shellcheck disable=SC1091
[ -r /etc/os-release ] && . /etc/os-release

# --- packages and Rust -----------------------------------------------------
missing=()
if command -v dpkg-query >/dev/null; then
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
else
  echo "test.sh: not Debian: cannot check the packages (${pkgs[*]}); a test whose tool is missing fails" >&2
fi
# shellcheck source=hack/toolchain.sh
. hack/toolchain.sh
have_rust=0
tc_find && have_rust=1
if [ "$root" = 0 ]; then
  [ ${#missing[@]} = 0 ] ||
    die "missing packages: ${missing[*]} (run me as root, or: apt-get install -y ${missing[*]})"
  [ "$have_rust" = 1 ] ||
    die "no Rust >= $TC_MSRV${TC_SEEN:+ (found: $TC_SEEN)}; run me as root on Debian (installs cargo-web), or:
$(tc_rustup_hint)"
elif [ ${#missing[@]} -gt 0 ] || [ "$have_rust" = 0 ]; then
  command -v apt-get >/dev/null || die "missing packages: ${missing[*]}, and no apt-get to install them"
  say "apt-get update"
  tc_apt_get update || die "apt-get update failed"
  if [ "$have_rust" = 0 ]; then
    say "no Rust >= $TC_MSRV${TC_SEEN:+ (found: $TC_SEEN)}: Debian's cargo-web"
    tc_debian rustfmt-web rust-web-clippy || die "$TC_WHY.
$(tc_rustup_hint)"
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install -y ${missing[*]}"
    tc_apt_get install -y "${missing[@]}" || die "apt-get install failed"
  fi
fi

# The lint tools of the toolchain in use.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  case $TC_KIND in
    rustup)
      [ -z "${SUDO_USER:-}" ] || [ "${RUSTUP_HOME:-}" != "$(getent passwd "$SUDO_USER" | cut -d: -f6)/.rustup" ] ||
        die "$SUDO_USER's toolchain lacks rustfmt or clippy: as $SUDO_USER, rustup component add rustfmt clippy"
      say "rustup component add rustfmt clippy"
      rustup component add rustfmt clippy || die "rustup component add failed"
      ;;
    debian)
      [ "$root" = 1 ] || die "cargo fmt/clippy missing: apt-get install rustfmt-web rust-web-clippy (as root)"
      v=$(dpkg-query -W -f='${Version}' cargo-web)
      say "apt-get install -y rustfmt-web=$v rust-web-clippy=$v"
      tc_apt_get install -y --no-install-recommends "rustfmt-web=$v" "rust-web-clippy=$v" ||
        die "apt-get install rustfmt-web rust-web-clippy failed"
      ;;
    *) die "cargo fmt or cargo clippy missing for $TC_CARGO: install rustfmt and clippy for it" ;;
  esac
fi
# The tracer's aarch64 side is compiled and linted (not run: no aarch64
# machine here); rustup can add the target, Debian's rustc-web has none.
aarch64=aarch64-unknown-linux-gnu
if [ "$TC_KIND" = rustup ] && ! rustup target list --installed 2>/dev/null | grep -qx "$aarch64"; then
  if [ -z "${SUDO_USER:-}" ] || [ "${RUSTUP_HOME:-$HOME/.rustup}" = "$HOME/.rustup" ]; then
    say "rustup target add $aarch64"
    rustup target add "$aarch64" || echo "test.sh: rustup target add $aarch64 failed" >&2
  fi
fi
say "Rust: $TC_CARGO ($TC_VERSION; the workspace needs >= $TC_MSRV)"

dev_null_state() { stat -c '%F %u:%g %a %t:%T' /dev/null; }
want_dev_null='character special file 0:0 666 1:3'
[ "$(dev_null_state)" = "$want_dev_null" ] ||
  die "/dev/null is already wrong before the tests: $(dev_null_state) (want $want_dev_null)"

if [ "$root" = 1 ]; then
  # slirp4netns (podman's rootless network) opens /dev/net/tun as the user:
  # Debian's udev makes it 0666; a host without udev may leave it 0600.
  if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
    chmod 0666 /dev/net/tun
  fi
  RLRT_TEST_USER=$(hack/test-user.sh "${RLRT_TEST_USER:-rlrt-test}")
  export RLRT_TEST_USER
  say "test user: $RLRT_TEST_USER (uid $(id -u "$RLRT_TEST_USER"), no subuid)"
else
  echo "test.sh: not root: the root and cgroup-v2 settings will be SKIPPED (run as root for all)" >&2
fi

# --- the test directory ----------------------------------------------------
# The harness keeps a failed test's directory (and says so); it then cannot
# remove its own base dir, and neither do we: the directory is removed only
# when it is empty.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rlrt-test.XXXXXX")
chmod 0755 "$tmp"
export RLRT_TEST_TMPDIR=$tmp
logs=$(mktemp -d "${TMPDIR:-/tmp}/rlrt-test-logs.XXXXXX")
cleanup() {
  rm -rf "$logs"
  if [ -n "${RLRT_KEEP_TMP:-}" ]; then
    echo "test.sh: kept $tmp (RLRT_KEEP_TMP)" >&2
  elif ! rmdir "$tmp" 2>/dev/null; then
    echo "test.sh: kept for inspection: $(find "$tmp" -mindepth 2 -maxdepth 2 | tr '\n' ' ')" >&2
  fi
}
trap cleanup EXIT

# --- the steps ---------------------------------------------------------------
n_pass=0 n_fail=0 n_skip=0
failed=()
step() {
  local name=$1; shift
  say "$name: $*"
  local t0=$SECONDS
  if "$@"; then
    echo "--- $name ok ($((SECONDS - t0))s)" >&2
    n_pass=$((n_pass + 1))
  else
    echo "--- $name FAILED ($((SECONDS - t0))s)" >&2
    n_fail=$((n_fail + 1)); failed+=("$name")
  fi
}
skip_step() {
  echo "SKIPPED $1: $2" >&2
  n_skip=$((n_skip + 1))
}
summary() {
  local rc=0
  [ "$n_fail" = 0 ] || rc=1
  [ ${#failed[@]} = 0 ] || say "FAILED: ${failed[*]}"
  echo "test.sh: $n_pass passed, $n_fail failed, $n_skip skipped in $((SECONDS - t_start))s" >&2
  exit "$rc"
}

step build cargo build --workspace --all-targets
if [ "$n_fail" != 0 ]; then summary; fi
step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
if ls "$(rustc --print target-libdir --target "$aarch64" 2>/dev/null)"/libstd-* >/dev/null 2>&1; then
  step clippy-aarch64 cargo clippy -p tracer --all-targets --target "$aarch64" -- -D warnings
else
  # A lint of another architecture, not a test: nothing is skipped, but say
  # it was not run (Debian's rustc-web ships no aarch64 standard library).
  echo "test.sh: note: clippy for $aarch64 not run: $TC_CARGO has no $aarch64 standard library (rustup target add $aarch64)" >&2
fi

# cargo test: every binary runs (--no-fail-fast); libtest's "test result"
# lines (stdout) and the harness's SKIPPED lines (stderr) are counted.
say "test: cargo test --workspace --no-fail-fast -- --test-threads=${RLRT_TEST_THREADS:-4}"
t0=$SECONDS
# stdout and stderr each through their own tee: fd 3 carries stdout past
# the stderr pipe.
set +e
{ { cargo test --workspace --no-fail-fast -- --test-threads="${RLRT_TEST_THREADS:-4}" 2>&1 1>&3 3>&-
    echo $? >"$logs/rc"; } | tee "$logs/err" >&2; } 3>&1 | tee "$logs/out"
set -e
test_rc=$(cat "$logs/rc")
read -r t_pass t_fail t_ign < <(awk '/^test result:/ {
    for (i = 1; i < NF; i++) {
      if ($(i + 1) ~ /^passed/) p += $i
      if ($(i + 1) ~ /^failed/) f += $i
      if ($(i + 1) ~ /^ignored/) g += $i
    } }
  END { print p + 0, f + 0, g + 0 }' "$logs/out")
t_skip=$(grep -c '^SKIPPED ' "$logs/err" || true)
started=$(grep -cE '^ +(Running|Doc-tests) ' "$logs/err" || true)
finished=$(grep -c '^test result:' "$logs/out" || true)
crashed=$((started - finished))
if [ "$crashed" -gt 0 ]; then
  echo "test.sh: $crashed test binaries ended without a result (crashed or killed): counted as failures" >&2
fi
if [ "$test_rc" != 0 ] && [ "$t_fail" = 0 ] && [ "$crashed" = 0 ]; then
  echo "test.sh: cargo test failed before running the tests (rc $test_rc): counted as one failure" >&2
  crashed=1
fi
n_pass=$((n_pass + t_pass - t_skip))
n_fail=$((n_fail + t_fail + crashed))
n_skip=$((n_skip + t_skip + t_ign))
[ "$t_fail" = 0 ] && [ "$crashed" = 0 ] || failed+=("cargo-test")
echo "--- test: $t_pass passed ($t_skip of them SKIPPED), $t_fail failed, $t_ign ignored, $started binaries ($((SECONDS - t0))s)" >&2

if [ "$root" = 1 ]; then
  # A real containerd (runc v2 shim) driving the runtime as root.
  step containerd hack/containerd-smoke.sh "${CARGO_TARGET_DIR:-target}/debug/rootlessrt"
else
  skip_step containerd "needs root (a private containerd)"
fi

if [ "$(dev_null_state)" = "$want_dev_null" ]; then
  echo "--- /dev/null ok: $(dev_null_state)" >&2
  n_pass=$((n_pass + 1))
else
  echo "test.sh: the host's /dev/null was changed by the tests: $(dev_null_state)" >&2
  n_fail=$((n_fail + 1)); failed+=("/dev/null")
fi
summary
