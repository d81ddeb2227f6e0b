#!/usr/bin/env bash
# What a release profile buys at run time: an interleaved A/B of rootlessrt
# binaries built with different profiles (LTO, codegen units), as the
# unprivileged test user, on three workloads:
#   run     `rootlessrt run` of /bin/true in a busybox bundle (the runtime's
#           own code: create, start, wait, delete)
#   import  `rootlessrt fakeroot -- tar --same-owner -xpf` of the Debian
#           rootfs tarball (every chown/mknod answered by the tracer)
#   fork    `rootlessrt fakeroot -- sh -c '500 x /bin/true'` (traced
#           fork+exec)
#
# Usage (as root): hack/bench/profile-ab.sh NAME=BINARY NAME=BINARY ... [-- ROUNDS_RUN ROUNDS_IMPORT ROUNDS_FORK]
# The first binary is the baseline. Each round runs every binary once, in an
# order rotated per round. Per command: wall time, CPU time (user + sys of
# the command and the descendants it reaped: wait4's rusage) and minor page
# faults; the ratios are medians of per-round ratios to the baseline
# (paired). On a shared machine the CPU time is the steadier figure: others'
# load stretches the wall time far more than the CPU time. Environment:
# RLRT_TEST_USER (default rlrt-test), RLRT_AB_DIR (default /var/tmp/rlrt-ab),
# RLRT_DEBIAN_TAR (default /var/cache/rootlessrt/debian-bookworm.tar).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
die() { echo "profile-ab: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (it drops to the test user for everything measured)"

bins=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do bins+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
rounds=("${1:-100}" "${2:-7}" "${3:-15}")
[ ${#bins[@]} -ge 2 ] || die "usage: profile-ab.sh NAME=BINARY NAME=BINARY ... [-- RUN IMPORT FORK]"

user=$(bash "$repo/hack/test-user.sh" "${RLRT_TEST_USER:-rlrt-test}")
work=${RLRT_AB_DIR:-/var/tmp/rlrt-ab}
tarball=${RLRT_DEBIAN_TAR:-/var/cache/rootlessrt/debian-bookworm.tar}
[ -r "$tarball" ] || die "no $tarball (hack/debian-rootfs.sh)"
as_user() { runuser -u "$user" -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME="$work" LANG=C "$@"; }

mkdir -p "$work"
chown "$user": "$work"
as_user mkdir -p "$work/bin" "$work/state" "$work/scratch"
args=()
for b in "${bins[@]}"; do
  name=${b%%=*} path=${b#*=}
  [ -x "$path" ] || die "$path: not an executable"
  install -o "$user" -m 0755 "$path" "$work/bin/$name"
  args+=("$name=$work/bin/$name")
done
if [ ! -x "$work/busybox/rootfs/bin/busybox" ]; then
  as_user bash -s -- "$work/busybox" <"$repo/hack/busybox-bundle.sh"
fi
first=${args[0]#*=}
as_user sh -c "cd '$work/busybox' && rm -f config.json && '$first' spec --rootless &&
  jq '.process.terminal = false | .process.args = [\"/bin/true\"]' config.json >c && mv c config.json"
cp "$tarball" "$work/debian.tar" && chown "$user": "$work/debian.tar"

echo "profile-ab: load before $(cut -d' ' -f1-3 /proc/loadavg); rounds run/import/fork ${rounds[*]}" >&2
as_user python3 - "$work" "${rounds[@]}" "${args[@]}" <<'EOF'
import os, statistics as st, subprocess as sp, sys, time
work, r_run, r_imp, r_fork = sys.argv[1], *map(int, sys.argv[2:5])
bins = [a.split("=", 1) for a in sys.argv[5:]]
names = [n for n, _ in bins]
seq = [0]

def timed(argv):
    """Wall time, CPU time (user + sys of the process and every descendant
    it reaped) and minor page faults of one command."""
    t = time.perf_counter()
    p = sp.Popen(argv, stdout=sp.DEVNULL, stderr=sp.PIPE)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"profile-ab: {' '.join(argv)} failed ({p.returncode}): {err.decode()[-500:]}")
    return dt, ru.ru_utime + ru.ru_stime, ru.ru_minflt

def run(rt):
    seq[0] += 1
    return timed([rt, "--root", f"{work}/state", "run", "--bundle", f"{work}/busybox", f"ab{seq[0]}"])

def imp(rt):
    d = f"{work}/scratch/rootfs"
    if os.path.exists(d):
        sp.run(["chmod", "-R", "u+rwX", d]); sp.run(["rm", "-rf", d], check=True)
    os.makedirs(d)
    return timed([rt, "fakeroot", "--", "tar", "--same-owner", "--numeric-owner", "-xpf",
                  f"{work}/debian.tar", "-C", d])

def fork(rt):
    return timed([rt, "fakeroot", "--", "sh", "-c", "i=0; while [ $i -lt 500 ]; do /bin/true; i=$((i+1)); done"])

def bench(label, fn, rounds, unit, scale):
    for _, rt in bins:  # warm-up
        fn(rt)
    samples = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(bins)
        for n, rt in bins[k:] + bins[:k]:
            samples[n].append(fn(rt))
    base = samples[names[0]]
    print(f"\n{label} ({rounds} rounds; wall and CPU in {unit}; medians, paired ratios to {names[0]})")
    print("| binary | wall | wall min | wall ratio | CPU | CPU min | CPU ratio | minor faults |")
    print("|---|---|---|---|---|---|---|---|")
    for n in names:
        s = samples[n]
        w = [x[0] for x in s]; c = [x[1] for x in s]; f = [x[2] for x in s]
        pw = st.median([a[0] / b[0] for a, b in zip(s, base)])
        pc = st.median([a[1] / b[1] for a, b in zip(s, base) if b[1] > 0])
        print(f"| {n} | {st.median(w) * scale:.2f} | {min(w) * scale:.2f} | {pw:.3f} | "
              f"{st.median(c) * scale:.2f} | {min(c) * scale:.2f} | {pc:.3f} | {st.median(f):.0f} |")
    sys.stdout.flush()

bench("run /bin/true", run, r_run, "ms", 1e3)
bench("fakeroot tar -xpf debian-bookworm.tar", imp, r_imp, "s", 1)
bench("fakeroot 500 x fork+exec /bin/true", fork, r_fork, "ms", 1e3)
EOF
as_user sh -c "chmod -R u+rwX '$work/scratch' && rm -rf '$work/scratch'"
echo "profile-ab: load after $(cut -d' ' -f1-3 /proc/loadavg)" >&2
