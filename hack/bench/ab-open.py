#!/usr/bin/env python3
"""Interleaved A/B of two rootlessrt binaries on container workloads that open
files (the stat shim's open family, docs/performance.md).

Usage (as the user the runtime runs as, after `hack/bench/run.sh` prepared
its work dir):
  hack/bench/ab-open.py BIN_A BIN_B SRC_BUNDLE WORK_DIR ROUNDS

SRC_BUNDLE: a bundle of the Debian rootfs whose config is copied, e.g.
$RLRT_BENCH_DIR/bundles/tar-ctr-full (full mode). Each sample is the wall time
of `rootlessrt run` of `sh -c WORKLOAD`; A and B alternate in every round.
Prints medians, minimums and B/A.
"""
import json, os, statistics, subprocess, sys, time
if len(sys.argv) != 6:
    raise SystemExit(__doc__)
A, B, src, work, rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
W = {
    "open-200k": "perl -e 'for (1..200000) { open(my $f, \"<\", \"/etc/hostname\") or die; close $f }'",
    "status-20k": "perl -e 'for (1..20000) { open(my $f, \"<\", \"/proc/self/status\") or die; my @l = <$f>; close $f }'",
    "tar-usr": "tar -C / -cf - usr | wc -c >/dev/null",
    "fork-500": "i=0; while [ $i -lt 500 ]; do /bin/true; i=$((i+1)); done",
}
cfg = json.load(open(os.path.join(src, "config.json")))
res = {w: {"A": [], "B": []} for w in W}
for w, cmd in W.items():
    b = os.path.join(work, "b-" + w)
    os.makedirs(b, exist_ok=True)
    cfg["process"]["args"] = ["/bin/sh", "-c", cmd]
    json.dump(cfg, open(os.path.join(b, "config.json"), "w"))
    for i in range(rounds):
        for k in ("A", "B") if i % 2 == 0 else ("B", "A"):
            t = time.perf_counter()
            r = subprocess.run([A if k == "A" else B, "--root", os.path.join(work, "state"), "run",
                                "--bundle", b, f"ab-{w}-{k}{i}"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if r.returncode:
                raise SystemExit(f"{w} {k}: {r.stderr.decode()[-500:]}")
            res[w][k].append(time.perf_counter() - t)
for w in W:
    a, b = res[w]["A"], res[w]["B"]
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{w:11s} A {ma*1e3:8.1f} ms (min {min(a)*1e3:8.1f})  B {mb*1e3:8.1f} ms (min {min(b)*1e3:8.1f})  B/A {mb/ma:.3f} (min {min(b)/min(a):.3f})")
