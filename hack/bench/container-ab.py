#!/usr/bin/env python3
"""Interleaved A/B of container workloads in fake-root ids and full modes.

Usage (as the user the runtime runs as):
  hack/bench/container-ab.py BIN_A BIN_B BUNDLE STATE_ROOT ROUNDS

BUNDLE is a Debian bundle (hack/debian-bundle.sh); its config.json's
process.args and io.rootlessrt.fake-root annotation are edited. Each round
runs a stat walk, `tar -cf` of /usr/bin and 100 fork+exec of /bin/true in
both modes with both binaries, in an order alternating per round. Prints
medians of the wall time and of the CPU time (user + sys of the reaped
descendants) and the median of the paired per-round ratios B/A: on a shared
machine the CPU time is the steadier figure.
"""
import json, resource, statistics, subprocess, sys, time
if len(sys.argv) != 6:
    raise SystemExit(__doc__)
bins = sys.argv[1:3]; b = sys.argv[3]; state = sys.argv[4]; rounds = int(sys.argv[5])
work = {
  "stat": "find /usr -printf '%U:%G %m %s\\n' >/dev/null",
  "tar": "tar -cf - /usr/bin | wc -c >/dev/null",
  "fork": "i=0; while [ $i -lt 100 ]; do /bin/true; i=$((i+1)); done",
}
res = {}
for r in range(rounds):
  order = bins if r % 2 == 0 else bins[::-1]
  for w, script in work.items():
    for mode in ("ids", "full"):
      for binp in order:
        cfg = json.load(open(b + "/config.json"))
        cfg["process"]["args"] = ["sh", "-c", script]
        cfg["annotations"]["io.rootlessrt.fake-root"] = mode
        json.dump(cfg, open(b + "/config.json", "w"))
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN); t0 = time.perf_counter()
        p = subprocess.run([binp, "--root", state, "run", "--bundle", b, "ab%d" % r],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t = time.perf_counter() - t0; ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode: sys.exit(f"{binp} {w} {mode}: exit {p.returncode}")
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        res.setdefault((w, mode, binp), []).append((t, cpu))
for w in work:
  for mode in ("ids", "full"):
    a, c = res[(w, mode, bins[0])], res[(w, mode, bins[1])]
    med = lambda xs, i: statistics.median(x[i] for x in xs) * 1e3
    ratio = lambda i: statistics.median(y[i] / x[i] for x, y in zip(a, c))
    print(f"{w:5s} {mode:4s} wall A {med(a,0):6.1f} B {med(c,0):6.1f} ms (B/A paired {ratio(0):.2f}); "
          f"cpu A {med(a,1):6.1f} B {med(c,1):6.1f} ms (B/A {ratio(1):.2f})")
