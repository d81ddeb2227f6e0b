#!/usr/bin/env python3
"""Interleaved A/B of two rootlessrt binaries, command by command.

Usage (as the user the runtime runs as):
  hack/bench/ab.py BIN_A BIN_B BUNDLE STATE_ROOT ROUNDS

Each round runs, for A and B in alternating order: `run` of /bin/true, then
`create`, `start`, `kill KILL`, `delete --force` of `sleep 3600`. It edits
BUNDLE/config.json's process.args. Prints the median and minimum wall time of
each command in ms. Alternating the order in every round makes a burst of load
from other users of the machine hit both binaries alike.
"""
import json
import os
import statistics
import subprocess
import sys
import time


def timed(argv):
    start = time.perf_counter()
    # stdio on /dev/null: a pipe would be held open by the container
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {r.returncode}")
    return time.perf_counter() - start


def set_args(bundle, args):
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg["process"]["args"] = args
    with open(path, "w") as f:
        json.dump(cfg, f)


def main():
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    bins = {"A": sys.argv[1], "B": sys.argv[2]}
    bundle, root, rounds = sys.argv[3], sys.argv[4], int(sys.argv[5])
    phases = ["run", "create", "start", "kill", "delete"]
    res = {k: {p: [] for p in phases} for k in bins}
    for i in range(rounds):
        for k in ("A", "B") if i % 2 == 0 else ("B", "A"):
            rt = [bins[k], "--root", root]
            set_args(bundle, ["/bin/true"])
            res[k]["run"].append(timed(rt + ["run", "--bundle", bundle, f"ab-r{k}{i}"]))
            set_args(bundle, ["sleep", "3600"])
            cid = f"ab-l{k}{i}"
            res[k]["create"].append(timed(rt + ["create", "--bundle", bundle, cid]))
            res[k]["start"].append(timed(rt + ["start", cid]))
            res[k]["kill"].append(timed(rt + ["kill", cid, "KILL"]))
            res[k]["delete"].append(timed(rt + ["delete", "--force", cid]))
    for p in phases:
        a, b = res["A"][p], res["B"][p]
        print(f"{p:7s} A {statistics.median(a) * 1e3:6.2f} ms (min {min(a) * 1e3:5.2f})"
              f"   B {statistics.median(b) * 1e3:6.2f} ms (min {min(b) * 1e3:5.2f})   n={rounds}")


if __name__ == "__main__":
    main()
