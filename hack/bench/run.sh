#!/usr/bin/env bash
# rootlessrt benchmarks (issue 5): rootlessrt vs runc, crun, proot -0, fakeroot.
#
# Usage (as root): hack/bench/run.sh [--quick] [options]
#
#   --quick          CI smoke: a few runs, small workloads, no dpkg/apt, small
#                    scale test (well under a minute once the assets exist)
#   --only LIST      comma-separated sections: lifecycle,memory,workloads,scale
#   --runs N         timed runs per case (default: lifecycle 30; workloads 7,
#                    dpkg 9, apt 5; with --quick: 5 and 3)
#   --with-pkg       run the dpkg/apt workloads in --quick mode too
#   --fsync          let dpkg fsync each file (default --force-unsafe-io: on a
#                    shared VM disk the fsync latency swamps everything else)
#   --workloads LIST subset of stat,tar,fork,dpkg,apt
#   --pkg-disk       run dpkg and apt in the rootfs on disk. By default they run
#                    in a copy of it on a tmpfs: on this VM's disk the same
#                    install swings 0.45-1.35 s within one run, and the ratios
#                    measured there are noise (see docs/performance.md)
#   --pin CPU        run every measured command under `taskset -c CPU` (shows
#                    how much of the tracer's cost is cross-CPU wake-ups)
#   -o FILE          markdown output (default hack/bench/results/latest.md;
#                    a .json with every sample is written next to it)
#
# Environment:
#   RLRT_BIN         rootlessrt binary (default target/release/rootlessrt,
#                    else target/debug/rootlessrt); copied into the work dir so
#                    a rebuild during the run does not change it
#   RLRT_BENCH_DIR   work dir, owned by the test user (default /var/tmp/rlrt-bench)
#   RLRT_TEST_USER   unprivileged user without subuid (default rlrt-test)
#   RLRT_DEBIAN_TAR  rootfs tarball (default /var/cache/rootlessrt/debian-bookworm.tar,
#                    built by hack/debian-rootfs.sh)
#
# Root is needed only to prepare: create the test user, download the .debs with
# the host's apt, and give the harness a private mount namespace in which
# /sys/fs/cgroup is a plain cgroup2 mount. Everything measured then runs as the
# test user (runuser), for every runtime alike. See docs/performance.md.
set -euo pipefail

say() { echo "bench: $*" >&2; }
die() { say "error: $*"; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
[ "$(id -u)" = 0 ] || die "run as root (it drops to the test user for everything measured)"

quick=()
pyargs=()
pkg_tmpfs=1
out=$repo/hack/bench/results/latest.md
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=(--quick) ;;
    --only) pyargs+=(--only "${2:?}"); shift ;;
    --runs) pyargs+=(--runs "${2:?}"); shift ;;
    --with-pkg) pyargs+=(--with-pkg) ;;
    --fsync) pyargs+=(--fsync) ;;
    --pin) pyargs+=(--pin "${2:?}"); shift ;;
    --workloads) pyargs+=(--workloads "${2:?}"); shift ;;
    --pkg-tmpfs) pkg_tmpfs=1 ;;
    --pkg-disk) pkg_tmpfs= ;;
    -o) out=${2:?}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done

user=$(bash "$repo/hack/test-user.sh" "${RLRT_TEST_USER:-rlrt-test}")
work=${RLRT_BENCH_DIR:-/var/tmp/rlrt-bench}
tarball=${RLRT_DEBIAN_TAR:-/var/cache/rootlessrt/debian-bookworm.tar}
as_user() { runuser -u "$user" -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME="$work" LANG=C "$@"; }

# --- binary ------------------------------------------------------------------
bin=${RLRT_BIN:-}
build=custom
if [ -z "$bin" ]; then
  if [ -x "$repo/target/release/rootlessrt" ]; then bin=$repo/target/release/rootlessrt; build=release
  elif [ -x "$repo/target/debug/rootlessrt" ]; then bin=$repo/target/debug/rootlessrt; build=debug
  else die "no rootlessrt binary: cargo build --release -p rootlessrt"; fi
fi
build="$build, binary of $(date -u -r "$bin" '+%Y-%m-%d %H:%M UTC')"
case "$build" in debug*) say "warning: using a DEBUG build ($bin): lifecycle figures will be pessimistic" ;; esac
mkdir -p "$work"
chown "$user": "$work"
as_user mkdir -p "$work/bin" "$work/bundles" "$work/state" "$work/results" "$work/xdg"
install -o "$user" -m 0755 "$bin" "$work/bin/rootlessrt.new"
mv -f "$work/bin/rootlessrt.new" "$work/bin/rootlessrt"
rt=$work/bin/rootlessrt
git_rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')
if [ -n "$(git -C "$repo" status --porcelain -- runtime tracer 2>/dev/null)" ]; then git_rev="$git_rev+dirty"; fi

# --- busybox bundle and the base config ----------------------------------------
if [ ! -x "$work/busybox/rootfs/bin/busybox" ]; then
  as_user bash -s -- "$work/busybox" <"$repo/hack/busybox-bundle.sh"
fi
as_user sh -c "mkdir -p '$work/base' && cd '$work/base' && rm -f config.json && '$rt' spec --rootless"

# --- .deb files (host apt, as root; cached) ------------------------------------
debs=$work/debs
mkdir -p "$debs/dpkg" "$debs/apt"
if ! ls "$debs"/dpkg/perl-modules-5.36_*.deb >/dev/null 2>&1; then
  say "downloading perl-modules-5.36 (dpkg -i workload)"
  (cd "$debs/dpkg" && apt-get download -q perl-modules-5.36 >&2) || say "warning: apt-get download failed"
fi
apt_top=man-db
if [ ! -s "$debs/apt/.pkgs" ]; then
  # The packages `apt-get install --no-install-recommends man-db` adds to the
  # minbase rootfs: simulate against the rootfs's dpkg status with host lists.
  status=$(mktemp)
  if tar -xOf "$tarball" ./var/lib/dpkg/status >"$status" 2>/dev/null; then
    pkgs=$(apt-get -s -o Dir::State::status="$status" install --no-install-recommends $apt_top 2>/dev/null |
      awk '$1 == "Inst" { print $2 }' | tr '\n' ' ')
    if [ -n "$pkgs" ]; then
      say "downloading the apt workload's packages: $pkgs"
      rm -f "$debs"/apt/*.deb
      if (cd "$debs/apt" && apt-get download -q $pkgs >&2); then echo "$pkgs" >"$debs/apt/.pkgs"
      else say "warning: apt-get download failed; the apt workload will be skipped"; fi
    fi
  else
    say "warning: cannot read dpkg status from $tarball; apt workload skipped"
  fi
  rm -f "$status"
fi
chown -R "$user": "$debs"
apt_pkgs=$(cat "$debs/apt/.pkgs" 2>/dev/null || true)

# --- Debian rootfs owned by the test user ----------------------------------------
deb_dir=$work/debian
rootfs=$deb_dir/rootfs
want=unshare-tar
if [ -f "$repo/hack/debian-bundle.sh" ] &&
   [ "$(as_user env RLRT_FAKEROOT_MODE=full "$rt" fakeroot -- /usr/bin/id -u 2>/dev/null)" = 0 ]; then
  want=debian-bundle-fakeroot
fi
have=$(cat "$deb_dir/.bench-import" 2>/dev/null || true)
import_note=
if [ ! -r "$tarball" ]; then
  say "warning: no $tarball (build it with hack/debian-rootfs.sh): workloads skipped"
  rootfs=
elif [ "$have" != "$want" ] || [ ! -d "$rootfs/usr" ] || [ "$tarball" -nt "$deb_dir/.bench-import" ]; then
  say "importing $tarball for $user via $want"
  if [ -e "$rootfs" ]; then
    as_user unshare -Ur rm -rf --one-file-system "$rootfs" || rm -rf --one-file-system "$rootfs"
  fi
  as_user mkdir -p "$deb_dir"
  rm -f "$deb_dir/.bench-import"
  case "$want" in
    debian-bundle-fakeroot)
      as_user env RLRT="$rt" bash -s -- --no-spec "$deb_dir" <"$repo/hack/debian-bundle.sh" >&2 ||
        die "hack/debian-bundle.sh failed" ;;
    unshare-tar)
      as_user mkdir -p "$rootfs"
      # tar's exit status is 2 when it cannot restore something: tolerated.
      as_user unshare -Ur tar --no-same-owner --numeric-owner -xpf "$tarball" -C "$rootfs" \
        --exclude='./dev/*' || true
      [ -x "$rootfs/usr/bin/dpkg" ] || die "import of $tarball failed" ;;
  esac
  echo "$want" | as_user tee "$deb_dir/.bench-import" >/dev/null
fi
if [ -n "$rootfs" ]; then
  case "$(cat "$deb_dir/.bench-import")" in
    unshare-tar) import_note="\`unshare -Ur tar --no-same-owner -xpf\` (tracer full mode not working yet: every file owned by the user, i.e. root inside; no owner xattrs)" ;;
    *) import_note="hack/debian-bundle.sh (\`rootlessrt fakeroot -- tar --same-owner -xpf\`, owners in user.rootlesscontainers xattrs)" ;;
  esac
  as_user mkdir -p "$rootfs/bench-debs/dpkg" "$rootfs/bench-debs/apt" "$rootfs/usr/lib/x86_64-linux-gnu/libfakeroot"
  as_user sh -c "rm -f '$rootfs'/bench-debs/*/*.deb; cp '$debs'/dpkg/*.deb '$rootfs/bench-debs/dpkg/' 2>/dev/null; cp '$debs'/apt/*.deb '$rootfs/bench-debs/apt/' 2>/dev/null; true"
fi

# --- run the harness as the test user in a private mount ns with pure cgroup2 -----
stamp=$(date -u +%Y%m%dT%H%M%SZ)
res=$work/results/bench-$stamp.md
if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
  cg_note="host is pure cgroup v2: used as is"
  cg_setup=:
else
  cg_note="host is cgroup v1/hybrid; every runtime ran in a private mount namespace where /sys/fs/cgroup is a plain cgroup2 mount (crun refuses hybrid mode; rootlessrt makes the same view for itself)"
  cg_setup='umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup'
fi
if [ -n "$pkg_tmpfs" ] && [ -n "$rootfs" ]; then
  # Mounted in the harness's own mount namespace: gone when it exits.
  pkgfs=$work/pkgfs
  as_user mkdir -p "$pkgfs"
  cg_setup="$cg_setup && mount -t tmpfs -o mode=0755,uid=$(id -u "$user"),gid=$(id -g "$user"),size=4g rlrt-bench-pkgfs $pkgfs"
  pyargs+=(--pkg-rootfs "$pkgfs/rootfs")
fi
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg); harness output in $res"
set +e
unshare -m --propagation private sh -c "$cg_setup"' && exec "$@"' sh \
  runuser -u "$user" -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME="$work" LANG=C /usr/bin/python3 "$here/bench.py" "${quick[@]}" "${pyargs[@]}" \
  --work "$work" --rootlessrt "$rt" --build "$build" --git "$git_rev" \
  --busybox-rootfs "$work/busybox/rootfs" --debian-rootfs "$rootfs" --rootfs-import "$import_note" \
  --base-config "$work/base/config.json" --inroot "$here/inroot.sh" \
  --apt-pkgs "$apt_pkgs" --apt-top "$apt_top" --cgroup-note "$cg_note" --out "$res"
rc=$?
set -e
[ "$rc" = 0 ] || die "harness failed (exit $rc)"
mkdir -p "$(dirname "$out")"
cp "$res" "$out"
cp "${res%.md}.json" "${out%.md}.json"
say "wrote $out (and ${out%.md}.json)"
