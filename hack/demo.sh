#!/usr/bin/env bash
# The README's first command. As root on a fresh Debian 12 machine:
#
#   sudo hack/demo.sh
#
# 1. installs what it needs with apt-get (build tools, libseccomp, debootstrap,
#    umoci; Rust from Debian's cargo-web/rustc-web when no cargo is at least
#    the workspace's rust-version, see hack/toolchain.sh),
# 2. builds rootlessrt (cargo build --release) and installs it as
#    /usr/local/bin/rootlessrt,
# 3. creates the unprivileged user rlrt-test WITHOUT /etc/subuid (hack/test-user.sh),
# 4. builds a Debian bookworm minbase rootfs tarball with debootstrap
#    (hack/debian-rootfs.sh, cached in /var/cache/rootlessrt; it runs in the
#    background during step 2: the build needs the CPUs, debootstrap mostly
#    the network and the disk),
# 5. as rlrt-test, imports the tarball rootlessly (hack/debian-bundle.sh:
#    `rootlessrt fakeroot -- tar --same-owner -xpf`, owners kept in xattrs),
# 6. as rlrt-test, runs a container (host network) that does
#    apt-get update && apt-get install -y cowsay && /usr/games/cowsay hello
#
# Idempotent: a second run reuses the packages, the build and the tarball, and
# re-imports the rootfs (seconds) so that apt really installs cowsay again.
#
# Environment: RLRT_TEST_USER (default rlrt-test), RLRT_DEMO_DIR (bundle
# directory, default ~USER/debian-demo), RLRT_DEMO_PACKAGE (default cowsay),
# RLRT_CACHE, RLRT_DEBIAN_* (see hack/debian-rootfs.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
user=${RLRT_TEST_USER:-rlrt-test}
pkg=${RLRT_DEMO_PACKAGE:-cowsay}
t_all=$(date +%s)

if [ -t 1 ]; then B=$'\033[1m'; G=$'\033[32m'; R=$'\033[31m'; N=$'\033[0m'; else B= G= R= N=; fi
n=0
step() { n=$((n + 1)); t_step=$(date +%s); echo; echo "${B}==> [$n/6] $*${N}"; }
done_step() { echo "${G}    done in $(( $(date +%s) - t_step ))s${N}"; }
say() { echo "    $*"; }
die() { echo "${R}demo: error: $*${N}" >&2; exit 1; }
show() { echo "    \$ $*"; }

[ "$(id -u)" = 0 ] || die "run me as root: sudo $0"
[ -r /etc/os-release ] && . /etc/os-release
[ "${ID:-}" = debian ] || echo "demo: warning: made for Debian 12, this is ${PRETTY_NAME:-unknown}" >&2

# ---------------------------------------------------------------------------
step "packages and Rust (apt-get)"
need=(build-essential pkg-config libseccomp-dev debootstrap ca-certificates jq umoci util-linux)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# A toolchain at least as new as the workspace's rust-version (Cargo.toml),
# decided before anything slow happens (hack/toolchain.sh).
. "$here/toolchain.sh"
have_rust=0
tc_find && have_rust=1
if [ ${#missing[@]} -gt 0 ] || [ "$have_rust" = 0 ]; then
  show "apt-get update"
  tc_apt_get update || die "apt-get update failed"
fi
if [ "$have_rust" = 0 ]; then
  say "no Rust >= $TC_MSRV here${TC_SEEN:+ (found: $TC_SEEN)}"
  tc_debian || die "$TC_WHY.
$(tc_rustup_hint)"
fi
if [ ${#missing[@]} -gt 0 ]; then
  show "apt-get install -y ${missing[*]}"
  tc_apt_get install -y --no-install-recommends "${missing[@]}" || die "apt-get install failed"
fi
cargo=$TC_CARGO
say "all present; Rust >= $TC_MSRV needed (Cargo.toml rust-version), using $cargo ($TC_VERSION)"
done_step

# ---------------------------------------------------------------------------
step "build rootlessrt (cargo build --release)"
bin=$repo/target/release/rootlessrt
show "cd $repo && cargo build --release -p rootlessrt"
cache=${RLRT_CACHE:-/var/cache/rootlessrt}
mkdir -p "$cache"
log=$cache/build.log
# Step 4's rootfs needs the network and the disk, the build the CPUs: it is
# made meanwhile, in its own process group (stopped if we stop).
rootfs_log=$cache/debian-rootfs.log
set -m
"$here/debian-rootfs.sh" >"$cache/debian-rootfs.out" 2>"$rootfs_log" </dev/null &
rootfs_pid=$!
set +m
trap 'kill -- -"$rootfs_pid" 2>/dev/null || true' EXIT
say "meanwhile: hack/debian-rootfs.sh (step 4) in the background, log $rootfs_log"
# cargo's own progress bar, written to the log even though it is no
# terminal: "Building [===>  ] 97/251: clap_builder, libcontainer", i.e. the
# units done, all units, and the ones compiling now.
( cd "$repo" && CARGO_TERM_PROGRESS_WHEN=always CARGO_TERM_PROGRESS_WIDTH=200 \
    exec "$cargo" build --release -p rootlessrt ) >"$log" 2>&1 &
pid=$!
t0=$(date +%s); last_print=0; t_final=
while kill -0 "$pid" 2>/dev/null; do
  now=$(date +%s)
  bar=$(tr '\r' '\n' <"$log" | grep -E '^ *Building \[' | tail -n 1 || true)
  units=$(sed -n 's/^ *Building \[[^]]*\] *\([0-9]*\/[0-9]*\): .*/\1/p' <<<"$bar")
  now_on=$(sed -n 's/^ *Building \[[^]]*\] *[0-9]*\/[0-9]*: *//p' <<<"$bar" | sed 's/ *$//')
  if [ -z "$units" ]; then
    line="resolving and fetching crates"
  elif [ "$now_on" = "rootlessrt(bin)" ]; then
    # The last unit: the rootlessrt crate, then the whole program optimised
    # and linked as one unit (release profile, Cargo.toml). cargo says
    # nothing until it ends.
    t_final=${t_final:-$now}
    line="$units units; last one: rootlessrt, optimised and linked as a whole ($((now - t_final))s so far)"
  else
    line="$units units built; now: $now_on"
  fi
  if [ -t 1 ]; then
    printf '\r\033[K    [%4ss] %s' "$((now - t0))" "${line:0:$(( $(tput cols 2>/dev/null || echo 100) - 14 ))}"
  elif [ $((now - last_print)) -ge 30 ]; then
    printf '    [%4ss] %s\n' "$((now - t0))" "$line"; last_print=$now
  fi
  sleep 1
done
[ -t 1 ] && printf '\r\033[K'
if ! wait "$pid" || [ ! -x "$bin" ]; then
  tr '\r' '\n' <"$log" | grep -v '^ *Building \[' | tail -n 40 | sed 's/^/    | /'
  die "cargo build failed (full log: $log)"
fi
say "$(tr '\r' '\n' <"$log" | grep -E '^ *Finished' | sed 's/^ *//') (log: $log)"
install -m 0755 "$bin" /usr/local/bin/rootlessrt
rt=/usr/local/bin/rootlessrt
say "installed $rt"
done_step

# ---------------------------------------------------------------------------
step "unprivileged user '$user' without /etc/subuid"
show "hack/test-user.sh $user"
"$here/test-user.sh" "$user" >/dev/null
home=$(getent passwd "$user" | cut -d: -f6)
uid=$(id -u "$user")
say "$(id "$user")"
say "subuid entries: $(grep -cs "^$user:\|^$uid:" /etc/subuid || true) (none, on purpose)"
done_step

# ---------------------------------------------------------------------------
step "Debian bookworm rootfs tarball (debootstrap, cached)"
show "hack/debian-rootfs.sh      # started in step 2, in the background"
last_print=0
while kill -0 "$rootfs_pid" 2>/dev/null; do
  now=$(date +%s)
  if [ $((now - last_print)) -ge 20 ]; then
    say "still running: $(grep -E '^\[' "$rootfs_log" | tail -n 1 || true)"; last_print=$now
  fi
  sleep 1
done
if ! wait "$rootfs_pid"; then
  tail -n 20 "$rootfs_log" | sed 's/^/    | /'
  die "hack/debian-rootfs.sh failed (log: $rootfs_log)"
fi
trap - EXIT
tarball=$(tail -n 1 "$cache/debian-rootfs.out")
[ -s "$tarball" ] || die "no tarball from debian-rootfs.sh (log: $rootfs_log)"
chmod 0644 "$tarball"
chmod o+x "$(dirname "$tarball")"
say "$tarball ($(du -h "$tarball" | cut -f1))"
done_step

# ---------------------------------------------------------------------------
as_user() {
  runuser -u "$user" -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME="$home" USER="$user" LOGNAME="$user" TERM="${TERM:-dumb}" RLRT="$rt" "$@"
}
dir=${RLRT_DEMO_DIR:-$home/debian-demo}
state=$home/.local/state/rootlessrt
step "import the tarball as $user (no root, no subuid)"
show "runuser -u $user -- hack/debian-bundle.sh --force --no-terminal $dir"
say "  = rootlessrt fakeroot -- tar --same-owner --numeric-owner -xpf $tarball -C $dir/rootfs"
say "    then: rootlessrt spec --rootless"
# fed on stdin: the checkout may not be readable by $user (e.g. under /root)
as_user bash -s -- --force --no-terminal --tar "$tarball" "$dir" <"$here/debian-bundle.sh" 2>&1 >/dev/null |
  sed -u 's/^/    | /' || die "import failed"
say "owners as the container will see them (the host sees $user everywhere):"
as_user "$rt" fakeroot -- find "$dir/rootfs/usr/bin/su" "$dir/rootfs/usr/bin/chage" "$dir/rootfs/etc/shadow" \
  "$dir/rootfs/var/mail" -printf '      %U:%G %M %p\n'
done_step

# ---------------------------------------------------------------------------
step "as $user: a container that runs apt-get install -y $pkg"
cmd="apt-get update && apt-get install -y $pkg && /usr/games/cowsay hello"
[ "$pkg" = cowsay ] || cmd="apt-get update && apt-get install -y $pkg"
jq --arg c "$cmd" '.process.args = ["sh", "-c", $c] | .process.env += ["DEBIAN_FRONTEND=noninteractive"]' \
  "$dir/config.json" >"$dir/config.json.tmp"
chown "$user:" "$dir/config.json.tmp"
mv "$dir/config.json.tmp" "$dir/config.json"
as_user mkdir -p "$state"
as_user "$rt" --root "$state" delete --force rlrt-demo >/dev/null 2>&1 || true
show "cd $dir && rootlessrt run rlrt-demo      # as $user; process.args: sh -c '$cmd'"
echo
set +e
( cd "$dir" && as_user "$rt" --root "$state" run --bundle "$dir" rlrt-demo )
rc=$?
set -e
echo
[ "$rc" = 0 ] || die "the container exited with $rc"
done_step

echo
echo "${G}${B}demo: done in $(( $(date +%s) - t_all ))s.${N} Now by hand, as $user (no root, no subuid):"
echo "    su - $user                      # or: sudo -iu $user / runuser -l $user"
echo "    cd $dir"
echo "    jq '.process.args=[\"bash\"] | .process.terminal=true' config.json >c && mv c config.json"
echo "    rootlessrt run box              # a root shell: apt-get install ..., useradd -m alice, su alice, ls -l"
echo "    # keep one running and exec into it: args [\"sleep\",\"infinity\"], terminal false, then"
echo "    # rootlessrt run -d box; rootlessrt exec -t box bash; rootlessrt delete -f box"
echo "    # guide: $repo/docs/user-guide.md"
