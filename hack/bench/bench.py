#!/usr/bin/env python3
"""rootlessrt benchmark harness (issue 5).

Runs as the unprivileged test user (hack/bench/run.sh prepares everything as
root and drops to that user). Measures whole processes: every sample is the
wall time of one or more complete command invocations, taken with
time.perf_counter() around fork/exec/wait4, so the numbers are what a user
or a shell script sees. Peak memory comes from wait4's rusage (ru_maxrss of
the largest process of the waited tree) and, for the tracer, from VmHWM in
/proc/PID/status sampled while it runs.

Peers are interleaved: in every iteration each case of a group runs once,
in an order rotated per iteration, so that a burst of load from other users
of the machine hits all cases alike and the ratios stay meaningful.

Cases whose tool is missing or does not work yet are not dropped silently:
they appear in the tables as "n/a (reason)".

Only the standard library is used.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

# --------------------------------------------------------------------------
# configuration (filled from the command line / environment in main())

CFG = {}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# running one process


class Result:
    __slots__ = ("wall", "rc", "maxrss_kib", "err", "out")

    def __init__(self, wall, rc, maxrss_kib, err="", out=""):
        self.wall = wall
        self.rc = rc
        self.maxrss_kib = maxrss_kib
        self.err = err
        self.out = out


def run_proc(argv, env=None, cwd=None, timeout=600, want_out=False):
    """Run argv to completion; wall seconds, exit code, peak RSS (KiB)."""
    out_f = tempfile.TemporaryFile() if want_out else subprocess.DEVNULL
    err_f = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out_f, stderr=err_f,
                             env=env, cwd=cwd, start_new_session=True, close_fds=True)
    except OSError as e:
        return Result(0.0, 127, 0, err=str(e))
    timer = threading.Timer(timeout, lambda: _killpg(p.pid))
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    p.returncode = rc
    err_f.seek(0)
    err = err_f.read()[-4000:].decode(errors="replace")
    err_f.close()
    out = ""
    if want_out:
        out_f.seek(0)
        out = out_f.read()[-100000:].decode(errors="replace")
        out_f.close()
    return Result(wall, rc, ru.ru_maxrss, err=err, out=out)


def _killpg(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


# --------------------------------------------------------------------------
# cases and groups


class Case:
    """One thing to time. `steps(i)` returns the argv lists of iteration i,
    run in sequence and timed together; `pre(i)`/`post(i)` run untimed."""

    def __init__(self, key, label, steps, env=None, pre=None, post=None, na=None,
                 ok_rc=(0,), retry_steps=(), note=""):
        self.key = key
        self.label = label
        self.steps = steps
        self.env = env
        self.pre = pre
        self.post = post
        self.na = na
        self.ok_rc = ok_rc
        self.retry_steps = retry_steps  # step indexes retried until rc ok (delete after kill)
        self.note = note
        self.walls = []
        self.by_iter = {}  # iteration -> wall, for ratios paired by iteration
        self.rss = []
        self.failures = 0
        self.last_err = ""
        self.retries = 0

    def run(self, i, timed=True):
        if self.pre:
            self.pre(i)
        total = 0.0
        peak = 0
        ok = True
        for n, argv in enumerate(self.steps(i)):
            argv = CFG["pin_prefix"] + argv
            tries = 0
            while True:
                r = run_proc(argv, env=self.env, timeout=CFG["timeout"])
                total += r.wall
                peak = max(peak, r.maxrss_kib)
                if r.rc in self.ok_rc or n not in self.retry_steps or tries >= 1000:
                    break
                tries += 1
                self.retries += 1
                t = time.perf_counter()
                time.sleep(0.002)
                total += time.perf_counter() - t
            if r.rc not in self.ok_rc:
                ok = False
                self.last_err = (f"`{shlex.join(argv)[:200]}` exit {r.rc}: "
                                 + " ".join(r.err.strip().splitlines()[-3:])[:400])
                break
        if self.post:
            self.post(i)
        if timed:
            if ok:
                self.walls.append(total)
                self.rss.append(peak)
            else:
                self.failures += 1
        return ok

    # statistics
    def median(self):
        return statistics.median(self.walls) if self.walls else None

    def summary(self):
        d = {"key": self.key, "label": self.label, "na": self.na, "walls": self.walls,
             "by_iter": self.by_iter,
             "rss_kib": self.rss, "failures": self.failures, "retries": self.retries,
             "last_err": self.last_err, "note": self.note}
        if self.walls:
            d.update(median=self.median(), min=min(self.walls), max=max(self.walls))
        return d


def rss_pass(cases, reps=2):
    """Peak RSS without the harness's own footprint: ru_maxrss of a process
    forked from this (large) Python interpreter includes the interpreter's
    pages from before exec, so memory is taken in separate, untimed runs
    under GNU time (`/usr/bin/time -f %M`: max RSS of the largest process
    of the waited tree: the runtime, its helpers, the container's init)."""
    if not os.access("/usr/bin/time", os.X_OK):
        return
    fd, tf = tempfile.mkstemp(dir=CFG["work"])
    os.close(fd)
    try:
        for c in cases:
            if c.na is not None:
                continue
            c.rss = []
            for k in range(reps):
                peak = 0
                for n, argv in enumerate(c.steps(900000 + k)):
                    for _ in range(500 if n in c.retry_steps else 1):
                        r = run_proc(["/usr/bin/time", "-f", "%M", "-o", tf] + argv, env=c.env,
                                     timeout=CFG["timeout"])
                        if r.rc in c.ok_rc:
                            break
                        time.sleep(0.005)
                    try:
                        peak = max(peak, int(open(tf).read().split()[-1]))
                    except (OSError, ValueError, IndexError):
                        pass
                c.rss.append(peak)
    finally:
        os.unlink(tf)


def measure_group(name, cases, runs, warmup):
    """Warm up, then `runs` round-robin iterations over the available cases."""
    live = [c for c in cases if c.na is None]
    log(f"{name}: {len(live)} cases, {warmup} warm-up + {runs} runs, interleaved")
    counter = [0]

    def next_i():
        counter[0] += 1
        return counter[0]

    for w in range(warmup):
        for c in live:
            if c.na is not None:
                continue
            if not c.run(next_i(), timed=False):
                c.na = "n/a (fails: " + c.last_err + ")"
                log(f"  {c.label}: {c.na}")
    live = [c for c in live if c.na is None]
    for it in range(runs):
        k = it % len(live) if live else 0
        order = live[k:] + live[:k]
        for c in order:
            n = len(c.walls)
            c.run(next_i())
            if len(c.walls) > n:
                c.by_iter[it] = c.walls[-1]
        if live:
            log(f"  {name} run {it + 1}/{runs}: " + ", ".join(
                f"{c.label}={c.walls[-1] * 1000:.0f}ms" if c.walls else f"{c.label}=fail"
                for c in live))
    for c in live:
        if not c.walls:
            c.na = "n/a (every run failed: " + c.last_err + ")"
    return cases


# --------------------------------------------------------------------------
# formatting


def fmt_t(s):
    if s is None:
        return "–"
    if s < 1:
        return f"{s * 1000:.1f} ms"
    return f"{s:.2f} s"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def table(cases, baselines, extra_cols=(), rss=True, min_ratio=True):
    """baselines: list of (column title, case) to divide medians by (and
    mins by: on a shared machine the load only ever adds time, so the ratio
    of the minimums is the less noisy estimate of the intrinsic cost)."""
    cols = []
    for t, _ in baselines:
        cols += [t, t + " (min)"] if min_ratio else [t]
    hdr = ["case", "median", "min", "max", "n"] + cols + \
          (["peak RSS (MiB)"] if rss else []) + [t for t, _ in extra_cols]
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for c in cases:
        if c.na is not None:
            na = c.na if len(c.na) <= 220 else c.na[:100] + " … " + c.na[-110:]
            row = [c.label, na.replace("|", "\\|")] + [""] * (len(hdr) - 2)
        else:
            row = [c.label, fmt_t(c.median()), fmt_t(min(c.walls)), fmt_t(max(c.walls)),
                   str(len(c.walls)) + (f" ({c.failures} failed)" if c.failures else "")]
            for _, b in baselines:
                ok = b is not None and b.na is None and b.walls
                row.append(fmt_ratio(c.median(), b.median() if ok else None))
                if min_ratio:
                    row.append(fmt_ratio(min(c.walls), min(b.walls) if ok else None))
            if rss:
                row.append(f"{max(c.rss) / 1024:.1f}" if c.rss else "–")
            for _, f in extra_cols:
                row.append(f(c))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# environment helpers

def rt():
    return CFG["rootlessrt"]


def have(cmd):
    return shutil.which(cmd) is not None


def clean_env(extra=None):
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": CFG["work"],
        "LANG": "C",
        "LC_ALL": "C",
        "TERM": "dumb",
        "DEBIAN_FRONTEND": "noninteractive",
        "XDG_RUNTIME_DIR": os.path.join(CFG["work"], "xdg"),
        "RLRT_BENCH_RUN": CFG["token"],
    }
    if extra:
        env.update(extra)
    return env


def write_bundle(path, rootfs, args, annotation=None, base=None):
    """A bundle dir whose config.json is rootlessrt's `spec --rootless` with
    terminal off, `args`, an absolute rootfs path and the fake-root
    annotation. The same config (minus the annotation, which other runtimes
    ignore anyway) is used for runc and crun, so every runtime does the same
    work."""
    os.makedirs(path, exist_ok=True)
    with open(base or CFG["base_config"]) as f:
        c = json.load(f)
    c["ociVersion"] = "1.0.2-dev"  # crun 1.8.1 refuses 1.2.0
    c["process"]["terminal"] = False
    c["process"]["args"] = args
    c["process"]["env"] = [e for e in c["process"].get("env", []) if not e.startswith("RLRT_BENCH_RUN=")] \
        + ["RLRT_BENCH_RUN=" + CFG["token"]]
    c["root"] = {"path": rootfs, "readonly": False}
    ann = c.get("annotations") or {}
    ann.pop("io.rootlessrt.fake-root", None)
    if annotation:
        ann["io.rootlessrt.fake-root"] = annotation
    if ann:
        c["annotations"] = ann
    else:
        c.pop("annotations", None)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(c, f, indent=1)
    return path


def state_root(name):
    p = os.path.join(CFG["work"], "state", name)
    os.makedirs(p, exist_ok=True)
    return p


# --------------------------------------------------------------------------
# probes: what works right now


def probe(argv, env=None, expect_out=None, timeout=60):
    r = run_proc(argv, env=env or clean_env(), timeout=timeout, want_out=True)
    if r.rc != 0:
        tail = " ".join(r.err.strip().splitlines()[-2:])[:200]
        return f"exit {r.rc}" + (f": {tail}" if tail else "")
    if expect_out is not None and r.out.strip() != expect_out:
        return f"unexpected output {r.out.strip()[:80]!r} (wanted {expect_out!r})"
    return None


def probe_fakeroot(mode):
    env = clean_env({"RLRT_FAKEROOT_MODE": mode})
    why = probe([rt(), "fakeroot", "--", "/usr/bin/id", "-u"], env=env, expect_out="0")
    if why:
        return f"n/a (`rootlessrt fakeroot` mode {mode}: {why})"
    if mode == "full":
        # chown to an unmapped ID must succeed and be visible in stat.
        d = tempfile.mkdtemp(dir=CFG["work"])
        try:
            f = os.path.join(d, "f")
            open(f, "w").close()
            why = probe([rt(), "fakeroot", "--", "/bin/sh", "-c",
                         f"chown 42:42 {f} && stat -c %u:%g {f}"], env=env, expect_out="42:42")
        finally:
            shutil.rmtree(d, ignore_errors=True)
        if why:
            return f"n/a (mode full does not fake chown/stat yet: {why})"
    return None


def probe_container(runtime_argv, bundle, key):
    root = state_root("probe-" + key)
    cid = f"probe-{os.getpid()}-{key}"
    why = probe(runtime_argv + ["--root", root, "run", "--bundle", bundle, cid])
    if why:
        run_proc(runtime_argv + ["--root", root, "delete", "--force", cid], env=clean_env())
        return f"n/a ({why})"
    return None


# --------------------------------------------------------------------------
# section: container lifecycle


def lifecycle_cases():
    w = CFG["work"]
    bb = CFG["busybox_rootfs"]
    b = {}
    for name, args, ann in [
        ("true-full", ["/bin/true"], "full"),
        ("true-off", ["/bin/true"], "off"),
        ("true-peer", ["/bin/true"], None),
        ("sleep-full", ["/bin/sleep", "3600"], "full"),
        ("sleep-off", ["/bin/sleep", "3600"], "off"),
        ("sleep-peer", ["/bin/sleep", "3600"], None),
    ]:
        b[name] = write_bundle(os.path.join(w, "bundles", name), bb, args, ann)

    runtimes = [
        ("rlrt-full", "rootlessrt (tracer on: full)", [rt()], "full"),
        ("rlrt-off", "rootlessrt (tracer off)", [rt()], "off"),
        ("runc", "runc 1.1.5 (rootless)", ["runc"], "peer"),
        ("crun", "crun 1.8.1 (rootless)", ["crun"], "peer"),
    ]
    env = clean_env()
    run_cases, kill_cases = [], []
    for key, label, argv, flavour in runtimes:
        na = None
        if not have(argv[0]):
            na = f"n/a ({argv[0]} not installed)"
        else:
            na = probe_container(argv, b[f"true-{flavour}"], key)
        root = state_root(key)
        tb, sb = b[f"true-{flavour}"], b[f"sleep-{flavour}"]

        def run_steps(i, argv=argv, root=root, tb=tb, key=key):
            return [argv + ["--root", root, "run", "--bundle", tb, f"{key}-r{i}"]]

        def kill_steps(i, argv=argv, root=root, sb=sb, key=key):
            cid = f"{key}-k{i}"
            return [argv + ["--root", root, "create", "--bundle", sb, cid],
                    argv + ["--root", root, "start", cid],
                    argv + ["--root", root, "kill", cid, "KILL"],
                    argv + ["--root", root, "delete", cid]]

        run_cases.append(Case(key + "-run", label, run_steps, env=env, na=na))
        kill_cases.append(Case(key + "-cskd", label, kill_steps, env=env, na=na, retry_steps=(3,)))
    return run_cases, kill_cases


def tracer_idle_rss():
    """VmHWM of a full-mode busybox container's PID 1 (the tracer)."""
    sb = os.path.join(CFG["work"], "bundles", "sleep-full")
    root = state_root("mem")
    cid = f"mem-{os.getpid()}"
    pidfile = os.path.join(CFG["work"], "mem.pid")
    env = clean_env()
    r = run_proc([rt(), "--root", root, "create", "--bundle", sb, "--pid-file", pidfile, cid], env=env)
    if r.rc != 0:
        return None, f"create failed: {r.err.strip()[-200:]}"
    try:
        run_proc([rt(), "--root", root, "start", cid], env=env)
        time.sleep(0.5)
        pid = int(open(pidfile).read().strip())
        st = proc_status(pid)
        child_tracer = None
        for c in children_of(pid):
            cs = proc_status(c)
            if cs.get("TracerPid", "0") != "0":
                child_tracer = cs["TracerPid"]
        return {"pid1_name": st.get("Name"), "VmHWM_kib": kib(st.get("VmHWM")),
                "VmRSS_kib": kib(st.get("VmRSS")), "child_traced_by_pid1":
                child_tracer == str(pid)}, None
    except (OSError, ValueError) as e:
        return None, str(e)
    finally:
        run_proc([rt(), "--root", root, "kill", cid, "KILL"], env=env)
        for _ in range(200):
            if run_proc([rt(), "--root", root, "delete", cid], env=env).rc == 0:
                break
            time.sleep(0.01)


def proc_status(pid):
    d = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                d[k] = v.strip()
    except OSError:
        pass
    return d


def kib(v):
    if not v:
        return None
    return int(v.split()[0])


def children_of(pid):
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def descendants(pid):
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children_of(p):
            if c not in seen:
                seen.append(c)
                todo.append(c)
    return seen


class TracerSampler(threading.Thread):
    """Every 50 ms: peak VmHWM of every process in the tree of `root_pid`
    that traces another (some tree member's TracerPid), and of `pid_of()`
    if given (a container's PID 1)."""

    def __init__(self, root_pid, pid_of=None):
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.pid_of = pid_of
        self.stop = threading.Event()
        self.peak = {}  # pid -> (name, VmHWM KiB)

    def run(self):
        while not self.stop.is_set():
            tree = [self.root_pid] + descendants(self.root_pid)
            tracers = set()
            for p in tree:
                tp = proc_status(p).get("TracerPid", "0")
                if tp not in ("0", ""):
                    tracers.add(int(tp))
            if self.pid_of:
                p1 = self.pid_of()
                if p1:
                    tracers.add(p1)
            for t in tracers:
                st = proc_status(t)
                h = kib(st.get("VmHWM"))
                if h:
                    old = self.peak.get(t, (None, 0))[1]
                    self.peak[t] = (st.get("Name"), max(old, h))
            self.stop.wait(0.05)


# --------------------------------------------------------------------------
# section: fake-root workloads in the Debian rootfs


def variant_prefixes(R):
    """(key, label, argv prefix up to and including the chroot into R, env, na)."""
    inroot = CFG["inroot"]
    fr_lib = "/usr/lib/x86_64-linux-gnu/libfakeroot"
    chroot = ["/usr/sbin/chroot", R]
    out = []
    out.append(("none", "no emulation (`unshare -Ur` + chroot)",
                ["unshare", "-Urm", inroot, R, "-"] + chroot, clean_env(), None))
    for mode in ("off", "ids", "full"):
        na = probe_fakeroot(mode)
        out.append((f"rlrt-{mode}", f"rootlessrt fakeroot, {mode}",
                    [rt(), "fakeroot", "--", "unshare", "-m", inroot, R, "-"] + chroot,
                    clean_env({"RLRT_FAKEROOT_MODE": mode}), na))
    na = None if have("proot") else "n/a (proot not installed)"
    out.append(("proot", "proot -0",
                ["proot", "-0", "-r", R, "-b", "/dev", "-b", "/proc", "-w", "/"],
                clean_env(), na))
    na = None if have("fakeroot") and os.path.isdir(fr_lib) else "n/a (fakeroot not installed)"
    if na is None and not os.path.isdir(R + fr_lib):
        na = f"n/a ({R + fr_lib} missing: run.sh creates it)"
    # libfakeroot calls the real chown too and ignores only EPERM; in a user
    # namespace an unmapped ID gives EINVAL, so tell it not to try.
    out.append(("fakeroot", "fakeroot (+ `unshare -Ur` for chroot)",
                ["unshare", "-Urm", inroot, R, fr_lib, "fakeroot", "--"] + chroot,
                clean_env({"FAKEROOTDONTTRYCHOWN": "1"}), na))
    return out


def apt_dpkg_opt():
    return "" if CFG["fsync"] else "-o Dpkg::Options::=--force-unsafe-io"


def workload_defs(quick):
    debs = "/bench-debs"
    loop = lambda n, body: f"i=0; while [ $i -lt {n} ]; do {body}; i=$((i+1)); done"
    apt_pkgs = CFG.get("apt_pkgs", [])
    w = [
        ("stat", f"stat walk: `find /usr -printf '%U:%G %m %s\\n'` ×{1 if quick else 10}",
         loop(1 if quick else 10, "find /usr -printf '%U:%G %m %s\\n' >/dev/null"), None),
        ("tar", "`tar -cf - /usr | wc -c`" + (" (/usr/bin only, quick)" if quick else ""),
         "tar -C / -cf - " + ("usr/bin" if quick else "usr") + " | wc -c >/dev/null", None),
        ("fork", f"{100 if quick else 500} × fork+exec `/bin/true`",
         loop(100 if quick else 500, "/bin/true"), None),
    ]
    if not quick or CFG["with_pkg"]:
        unsafe = "" if CFG["fsync"] else " --force-unsafe-io"
        # Untimed `sync` first: the writeback of the previous sample's files
        # (dpkg's sync_file_range) would otherwise land in the next sample.
        w.append(("dpkg", f"`dpkg{unsafe} -i perl-modules-5.36` (a reinstall: the warm-up installs it)",
                  f"dpkg{unsafe} -i {debs}/dpkg/*.deb >/dev/null", "sync"))
        if apt_pkgs:
            purge = "dpkg --purge " + " ".join(apt_pkgs) + " >/dev/null 2>&1; sync; true"
            w.append(("apt", f"`apt-get install` {', '.join(CFG['apt_top'])} "
                             f"({len(apt_pkgs)} local .debs)",
                      "apt-get install -y -q --no-install-recommends -o APT::Sandbox::User=root "
                      f"-o Dpkg::Use-Pty=0 {apt_dpkg_opt()} {debs}/apt/*.deb >/dev/null", purge))
    return w


CONTAINER_MODES = ("off", "ids", "full")
PKG_WORKLOADS = ("dpkg", "apt")


def rootfs_for(wkey):
    """The Debian rootfs a workload runs in: the package workloads use the
    tmpfs copy when --pkg-rootfs is given (see prepare_pkg_rootfs)."""
    if wkey in PKG_WORKLOADS and CFG.get("pkg_rootfs"):
        return CFG["pkg_rootfs"]
    return CFG["debian_rootfs"]


def prepare_pkg_rootfs():
    """Copy the Debian rootfs, owner xattrs included, to --pkg-rootfs (a
    tmpfs that run.sh mounted in the harness's mount namespace)."""
    dst = CFG.get("pkg_rootfs")
    if not dst or os.path.isdir(os.path.join(dst, "usr")):
        return None
    r = run_proc(["cp", "-a", CFG["debian_rootfs"], dst], env=clean_env(), timeout=600)
    if r.rc != 0:
        return f"cp -a to {dst} failed: {r.err.strip()[-300:]}"
    return None


def workload_groups(quick):
    """Per workload: the chroot variants, then rootlessrt containers of the
    same rootfs (`run` of a bundle whose process is `sh -c WORKLOAD`), whose
    baseline is the container with emulation off: both pay the same set-up."""
    groups = []
    for wkey, wlabel, cmd, pre_cmd in workload_defs(quick):
        R = rootfs_for(wkey)
        variants = variant_prefixes(R)
        none_prefix = variants[0][2]
        cases = []
        pre = None
        if pre_cmd:
            def pre(i, pre_cmd=pre_cmd):
                run_proc(none_prefix + ["/bin/sh", "-c", pre_cmd], env=clean_env(),
                         timeout=CFG["timeout"])
        for vkey, vlabel, prefix, env, na in variants:
            cases.append(Case(f"{wkey}-{vkey}", vlabel,
                              lambda i, prefix=prefix, cmd=cmd: [prefix + ["/bin/sh", "-c", cmd]],
                              env=env, pre=pre, na=na))
        for mode in CONTAINER_MODES:
            key = f"{wkey}-ctr-{mode}"
            bundle = write_bundle(os.path.join(CFG["work"], "bundles", key),
                                  R, ["/bin/sh", "-c", cmd], mode)
            root = state_root("workloads")
            cases.append(Case(key, f"rootlessrt container, {mode}",
                              lambda i, bundle=bundle, root=root, key=key:
                              [[rt(), "--root", root, "run", "--bundle", bundle, f"{key}-{i}"]],
                              env=clean_env(), pre=pre))
        groups.append((wkey, wlabel, cases))
    return groups


def tracer_apt_rss(quick):
    """Tracer VmHWM while apt-get installs the package set, (a) under
    `rootlessrt fakeroot` full, (b) in a full-mode container of the Debian
    rootfs (the tracer is the container's PID 1)."""
    res = {}
    if not CFG.get("apt_pkgs"):
        return {"error": "no apt package set prepared"}
    purge = "dpkg --purge " + " ".join(CFG["apt_pkgs"]) + " >/dev/null 2>&1; "
    cmd = (purge + "apt-get install -y -q --no-install-recommends -o APT::Sandbox::User=root "
           f"-o Dpkg::Use-Pty=0 {apt_dpkg_opt()} /bench-debs/apt/*.deb >/dev/null")
    R = rootfs_for("apt")
    # (a) fakeroot
    na = probe_fakeroot("full")
    if na:
        res["fakeroot"] = {"na": na}
    else:
        env = clean_env({"RLRT_FAKEROOT_MODE": "full"})
        argv = [rt(), "fakeroot", "--", "unshare", "-m", CFG["inroot"], R, "-",
                "/usr/sbin/chroot", R, "/bin/sh", "-c", cmd]
        res["fakeroot"] = sampled_run(argv, env)
    # (b) container
    bundle = write_bundle(os.path.join(CFG["work"], "bundles", "debian-apt"), R,
                          ["/bin/sh", "-c", cmd], "full")
    root = state_root("mem-apt")
    cid = f"apt-{os.getpid()}"
    pidfile = os.path.join(CFG["work"], "apt.pid")
    if os.path.exists(pidfile):
        os.unlink(pidfile)

    def pid1():
        try:
            return int(open(pidfile).read().strip())
        except (OSError, ValueError):
            return None

    env = clean_env()
    r = run_proc([rt(), "--root", root, "create", "--bundle", bundle, "--pid-file", pidfile, cid],
                 env=env, want_out=True)
    if r.rc != 0:
        res["container"] = {"na": f"n/a (create: exit {r.rc}: {r.err.strip()[-200:]})"}
        return res
    p1 = pid1()
    s = TracerSampler(p1 or os.getpid(), pid_of=pid1)
    s.start()
    t0 = time.perf_counter()
    r = run_proc([rt(), "--root", root, "start", cid], env=env)
    # wait for PID 1 to exit
    while p1 and os.path.exists(f"/proc/{p1}") and time.perf_counter() - t0 < CFG["timeout"]:
        st = proc_status(p1).get("State", "")
        if st.startswith("Z") or not st:
            break
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    s.stop.set()
    s.join()
    st = run_proc([rt(), "--root", root, "state", cid], env=env, want_out=True)
    run_proc([rt(), "--root", root, "delete", "--force", cid], env=env)
    res["container"] = {"wall": wall, "start_rc": r.rc,
                        "pid1_VmHWM_kib": s.peak.get(p1, (None, None))[1] if p1 else None,
                        "tracers": {str(k): v for k, v in s.peak.items()},
                        "state_after": st.out.strip()[:300]}
    return res


def sampled_run(argv, env):
    err_f = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=err_f, start_new_session=True)
    s = TracerSampler(p.pid)
    s.start()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    s.stop.set()
    s.join()
    err_f.seek(0)
    return {"wall": wall, "rc": p.returncode, "tree_maxrss_kib": ru.ru_maxrss,
            "tracers": {str(k): v for k, v in s.peak.items()},
            "err": err_f.read()[-300:].decode(errors="replace")}


# --------------------------------------------------------------------------
# section: scale


def marked_processes():
    """Live processes started by this harness run: they carry RLRT_BENCH_RUN
    (runtimes get it from clean_env(), containers from their config.json).
    Other users of the test account (test suites) are not counted."""
    token = ("RLRT_BENCH_RUN=" + CFG["token"]).encode()
    me = os.getuid()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            if os.stat(f"/proc/{d}").st_uid != me:
                continue
            with open(f"/proc/{d}/environ", "rb") as f:
                if token not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{d}/comm") as f:
                out.append((int(d), f.read().strip()))
        except OSError:
            pass
    return out


def zombies_of_init():
    """Zombie children of the host's PID 1 owned by us (killed containers'
    inits waiting to be reaped by the host init, not by the runtime)."""
    me = os.getuid()
    n = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.stat(f"/proc/{d}").st_uid != me:
                continue
            with open(f"/proc/{d}/stat") as f:
                f_ = f.read().rsplit(")", 1)[1].split()
            if f_[0] == "Z" and f_[1] == "1":
                n += 1
        except (OSError, IndexError):
            pass
    return n


def my_processes():
    """PIDs of this user's processes, minus this harness and its ancestors."""
    me = os.getuid()
    keep = set()
    p = os.getpid()
    while p > 1:
        keep.add(p)
        try:
            with open(f"/proc/{p}/stat") as f:
                p = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    # sampler threads are threads, not processes
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in keep:
            continue
        try:
            if os.stat(f"/proc/{d}").st_uid == me:
                with open(f"/proc/{d}/comm") as f:
                    out.append((int(d), f.read().strip()))
        except OSError:
            pass
    return out


def leak_snapshot(root):
    procs = marked_processes()
    fds = 0
    for pid, _ in procs:
        try:
            fds += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
    mounts = {}
    for name, path in [("harness mount ns", "/proc/self/mountinfo"),
                       ("host (pid 1) mount ns", "/proc/1/mountinfo")]:
        try:
            with open(path) as f:
                mounts[name] = sum(1 for _ in f)
        except OSError:
            mounts[name] = None
    try:
        states = sorted(d for d in os.listdir(root) if not d.startswith("."))
    except OSError:
        states = []
    return {"processes": len(procs), "process_names": sorted({n for _, n in procs})[:20],
            "zombies_of_pid1": zombies_of_init(),
            "fds_in_those": fds, "harness_fds": len(os.listdir("/proc/self/fd")),
            "mounts": mounts, "state_dirs": len(states), "state_names": states[:10]}


def scale(quick):
    conc = 5 if quick else 50
    seq = 20 if quick else 1000
    block = 10 if quick else 100
    env = clean_env()
    w = CFG["work"]
    root = state_root("scale")
    # old leftovers of an interrupted run would be counted as leaks
    for d in os.listdir(root):
        run_proc([rt(), "--root", root, "delete", "--force", d], env=env)
    sb = os.path.join(w, "bundles", "sleep-full")
    tb = os.path.join(w, "bundles", "true-full")
    out = {"concurrent": conc, "sequential": seq, "block": block}
    before = leak_snapshot(root)
    out["before"] = before

    # 1) N containers created+started concurrently (each thread: create, start)
    results = [None] * conc
    ids = [f"c{os.getpid()}-{k}" for k in range(conc)]

    def one(k):
        a = run_proc([rt(), "--root", root, "create", "--bundle", sb, ids[k]], env=env)
        if a.rc != 0:
            results[k] = ("create", a.rc, a.err.strip()[-200:])
            return
        b = run_proc([rt(), "--root", root, "start", ids[k]], env=env)
        results[k] = ("start", b.rc, b.err.strip()[-200:]) if b.rc != 0 else ("ok", 0, "")

    threads = [threading.Thread(target=one, args=(k,)) for k in range(conc)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["concurrent_start_wall"] = time.perf_counter() - t0
    fails = [r for r in results if r[0] != "ok"]
    running = 0
    for cid in ids:
        r = run_proc([rt(), "--root", root, "state", cid], env=env, want_out=True)
        try:
            if json.loads(r.out).get("status") == "running":
                running += 1
        except ValueError:
            pass
    out["concurrent_failures"] = len(fails)
    out["concurrent_failure_samples"] = fails[:3]
    out["concurrent_running"] = running
    out["during"] = leak_snapshot(root)
    t0 = time.perf_counter()
    del_fail = 0
    for cid in ids:
        run_proc([rt(), "--root", root, "kill", cid, "KILL"], env=env)
    for cid in ids:
        for _ in range(500):
            r = run_proc([rt(), "--root", root, "delete", cid], env=env)
            if r.rc == 0:
                break
            time.sleep(0.01)
        else:
            del_fail += 1
    out["concurrent_teardown_wall"] = time.perf_counter() - t0
    out["concurrent_delete_failures"] = del_fail

    # 2) sequential lifecycles: run /bin/true (create+start+wait+delete)
    blocks = []
    fail = 0
    fail_samples = []
    t_all = time.perf_counter()
    t_blk = t_all
    for k in range(seq):
        r = run_proc([rt(), "--root", root, "run", "--bundle", tb, f"s{os.getpid()}-{k}"], env=env)
        if r.rc != 0:
            fail += 1
            if len(fail_samples) < 3:
                fail_samples.append((k, r.rc, r.err.strip()[-200:]))
        if (k + 1) % block == 0:
            now = time.perf_counter()
            blocks.append(now - t_blk)
            t_blk = now
            log(f"  scale: {k + 1}/{seq} lifecycles, last block {blocks[-1]:.2f} s, failures {fail}")
    out["sequential_wall"] = time.perf_counter() - t_all
    out["sequential_failures"] = fail
    out["sequential_failure_samples"] = fail_samples
    out["blocks"] = blocks
    time.sleep(0.5)
    out["after"] = leak_snapshot(root)
    return out


# --------------------------------------------------------------------------
# report


def machine_info():
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024} MiB"
    except OSError:
        pass
    osr = "?"
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                osr = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(), "os": osr, "cpu": cpu, "cpus": os.cpu_count(), "mem": mem,
        "rootlessrt": first([rt(), "--version"]).replace("\n", ", "),
        "rootlessrt_build": CFG["build"],
        "git": CFG["git"],
        "runc": first(["runc", "--version"]).splitlines()[0] if have("runc") else "missing",
        "crun": first(["crun", "--version"]).splitlines()[0] if have("crun") else "missing",
        "proot": (first(["dpkg-query", "-W", "-f", "${Version}", "proot"]) or "?") if have("proot") else "missing",
        "fakeroot": first(["fakeroot", "--version"]) if have("fakeroot") else "missing",
        "load_start": CFG["load_start"],
        "user": f"{os.getuid()} (no /etc/subuid entry)" if not _has_subuid() else f"{os.getuid()} (HAS subuid!)",
        "cgroup": CFG["cgroup_note"],
        "rootfs_import": CFG["rootfs_import"],
    }


def _has_subuid():
    import pwd
    name = pwd.getpwuid(os.getuid()).pw_name
    try:
        return any(l.split(":")[0] in (name, str(os.getuid())) for l in open("/etc/subuid"))
    except OSError:
        return False


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[:3]
    except OSError:
        return ["?"]


def find_case(cases, key):
    for c in cases:
        if c.key == key:
            return c
    return None


def ratio_min(a, b):
    if a is None or b is None or a.na is not None or b.na is not None or not a.walls or not b.walls:
        return None
    return min(a.walls) / min(b.walls)


def ratio_paired(a, b):
    """Median over the iterations of a's time / b's time in the same
    iteration. The two ran back to back, so a burst of load on this shared
    machine weighs on both: steadier than the ratio of medians when the
    difference looked for (a few %) is smaller than the spread of samples."""
    if a is None or b is None or a.na is not None or b.na is not None:
        return None
    common = sorted(set(a.by_iter) & set(b.by_iter))
    if len(common) < 3:
        return None
    return statistics.median(a.by_iter[i] / b.by_iter[i] for i in common)


def ratio(a, b):
    if a is None or b is None or a.na is not None or b.na is not None or not a.walls or not b.walls:
        return None
    return a.median() / b.median()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CI smoke: few runs, small workloads")
    ap.add_argument("--work", required=True)
    ap.add_argument("--rootlessrt", required=True)
    ap.add_argument("--build", default="?")
    ap.add_argument("--git", default="?")
    ap.add_argument("--busybox-rootfs", required=True)
    ap.add_argument("--debian-rootfs", default="")
    ap.add_argument("--rootfs-import", default="?")
    ap.add_argument("--base-config", required=True)
    ap.add_argument("--inroot", required=True)
    ap.add_argument("--apt-pkgs", default="", help="space-separated package names in /bench-debs/apt")
    ap.add_argument("--apt-top", default="man-db")
    ap.add_argument("--cgroup-note", default="")
    ap.add_argument("--only", default="lifecycle,memory,workloads,scale")
    ap.add_argument("--runs", type=int, default=0, help="override the number of timed runs")
    ap.add_argument("--with-pkg", action="store_true", help="dpkg/apt workloads also in --quick")
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--pin", default="",
                    help="run every measured command under `taskset -c PIN` (one CPU: no "
                         "cross-CPU wake-ups between tracer and tracee)")
    ap.add_argument("--workloads", default="stat,tar,fork,dpkg,apt",
                    help="comma-separated subset of the fake-root workloads")
    ap.add_argument("--fsync", action="store_true",
                    help="let dpkg fsync every file (default: --force-unsafe-io, see docs)")
    ap.add_argument("--pkg-rootfs", default="",
                    help="run dpkg/apt in a copy of the rootfs at this path (a tmpfs)")
    ap.add_argument("--out", required=True, help="markdown output file (JSON next to it)")
    a = ap.parse_args()
    CFG.update(work=a.work, rootlessrt=a.rootlessrt, build=a.build, git=a.git,
               busybox_rootfs=a.busybox_rootfs, debian_rootfs=a.debian_rootfs,
               base_config=a.base_config, inroot=a.inroot, timeout=a.timeout,
               apt_pkgs=a.apt_pkgs.split(), apt_top=a.apt_top.split(), with_pkg=a.with_pkg,
               cgroup_note=a.cgroup_note, fsync=a.fsync, pkg_rootfs=a.pkg_rootfs,
               pin_prefix=["taskset", "-c", a.pin] if a.pin else [], rootfs_import=a.rootfs_import,
               load_start=" ".join(loadavg()), token=f"{os.getpid()}-{int(time.time())}")
    os.makedirs(os.path.join(a.work, "xdg"), exist_ok=True)
    only = set(a.only.split(","))
    quick = a.quick
    lc_runs = a.runs or (5 if quick else 30)
    wl_runs = a.runs or (3 if quick else 9)
    t_start = time.time()
    md = []
    js = {"machine": machine_info(), "quick": quick}
    m = js["machine"]
    md.append(f"# rootlessrt benchmark ({'quick' if quick else 'full'} run)\n")
    md.append(f"- date: {m['date']}; load average at start: {m['load_start']}")
    md.append(f"- machine: {m['cpu']}, {m['cpus']} CPUs, {m['mem']}; {m['os']}, kernel {m['kernel']}")
    md.append(f"- rootlessrt: {m['rootlessrt']} ({m['rootlessrt_build']}; checkout at git {m['git']})")
    md.append(f"- peers: {m['runc']}; {m['crun']}; proot {m['proot']}; {m['fakeroot']}")
    md.append(f"- user: uid {m['user']}; cgroups: {m['cgroup']}")
    md.append(f"- Debian rootfs import: {m['rootfs_import']}")
    if a.pin:
        md.append(f"- **pinned**: every measured command ran under `taskset -c {a.pin}`")
    pkg_runs = (not quick or a.with_pkg) and set(PKG_WORKLOADS) & set(a.workloads.split(","))
    if not pkg_runs:
        CFG["pkg_rootfs"] = ""
    if CFG["pkg_rootfs"] and "workloads" in only and CFG["debian_rootfs"]:
        why = prepare_pkg_rootfs()
        if why:
            md.append(f"- dpkg/apt: the tmpfs copy failed ({why}); they ran on disk")
            CFG["pkg_rootfs"] = ""
        else:
            md.append(f"- **dpkg/apt on tmpfs**: they ran in a copy of the rootfs (owner xattrs "
                      f"included) on a tmpfs at {CFG['pkg_rootfs']}, so the host disk's "
                      "write-back does not decide their figures")
    md.append("- every figure is wall time of whole processes; median of the runs after "
              "warm-up, peers interleaved round-robin in the same run\n")
    header_end = len(md)
    targets = []

    # ---- lifecycle
    if "lifecycle" in only:
        run_cases, kill_cases = lifecycle_cases()
        measure_group("run /bin/true", run_cases, lc_runs, 2)
        measure_group("create+start+kill+delete", kill_cases, lc_runs, 2)
        log("peak RSS pass")
        rss_pass(run_cases)
        rss_pass(kill_cases)
        base = run_cases[0]
        md.append("## Container lifecycle (busybox bundle, unprivileged user, no subuid)\n")
        md.append("### `run` of /bin/true (create + start + wait + delete, one process)\n")
        md.append(table(run_cases, [("× rootlessrt full", base)]))
        md.append("\n### `create` + `start` + `kill KILL` + `delete` of `sleep 3600` (4 processes)\n")
        md.append(table(kill_cases, [("× rootlessrt full", kill_cases[0])],
                        [("delete retries", lambda c: str(c.retries))]))
        md.append("\npeak RSS: `/usr/bin/time -f %M` in separate untimed runs (max of 2, and of "
                  "the 4 commands for create/start/kill/delete): the largest single process of the "
                  "waited tree: the runtime, its helper processes, the container's init\n")
        js["lifecycle"] = {"run": [c.summary() for c in run_cases],
                           "create_start_kill_delete": [c.summary() for c in kill_cases]}
        rf, rc_, cr = (find_case(run_cases, k) for k in ("rlrt-full-run", "runc-run", "crun-run"))
        q, qm = ratio(cr, rf), ratio_min(cr, rf)
        targets.append(("`run /bin/true` with the tracer on faster than crun",
                        f"crun / rootlessrt = {q:.2f}× (mins {qm:.2f}×)" if q else "n/a",
                        None if q is None else q > 1.0))
        q, qm = ratio(rc_, rf), ratio_min(rc_, rf)
        targets.append(("`run /bin/true` with the tracer on ≥ 2× faster than runc",
                        f"runc / rootlessrt = {q:.2f}× (mins {qm:.2f}×)" if q else "n/a",
                        None if q is None else q >= 2.0))

    # ---- memory
    if "memory" in only:
        md.append("## Tracer memory\n")
        if not os.path.isdir(os.path.join(a.work, "bundles", "sleep-full")):
            lifecycle_cases()  # writes the bundles
        idle, err = tracer_idle_rss()
        js["tracer_idle"] = idle or {"error": err}
        if idle:
            md.append(f"- busybox container (full), PID 1 = `{idle['pid1_name']}`: VmHWM "
                      f"{idle['VmHWM_kib'] / 1024:.1f} MiB, VmRSS {idle['VmRSS_kib'] / 1024:.1f} MiB"
                      f"; workload traced by PID 1: {idle['child_traced_by_pid1']}")
        else:
            md.append(f"- busybox container (full): n/a ({err})")
        if "workloads" in only and CFG["debian_rootfs"] and (not quick or a.with_pkg):
            apt = tracer_apt_rss(quick)
            js["tracer_apt"] = apt
            for k, v in apt.items():
                if not isinstance(v, dict):
                    continue
                if "na" in v:
                    md.append(f"- apt-get install, {k}: {v['na']}")
                    continue
                tr = v.get("tracers", {})
                peak = max((h for _, h in tr.values()), default=None)
                names = ", ".join(f"{n} (pid {p}) {h / 1024:.1f} MiB" for p, (n, h) in tr.items())
                rc = v.get("rc", v.get("start_rc"))
                md.append(f"- apt-get install in the Debian rootfs, {k}: tracer VmHWM "
                          f"{'%.1f MiB' % (peak / 1024) if peak else 'not seen'} ({names or 'no traced process seen'}); "
                          f"wall {v['wall']:.1f} s, exit {rc}")
                if peak:
                    targets.append((f"tracer < 8 MiB resident while apt runs ({k})",
                                    f"{peak / 1024:.1f} MiB", peak < 8 * 1024))
                else:
                    targets.append((f"tracer < 8 MiB resident while apt runs ({k})", "n/a", None))
        md.append("")

    # ---- workloads
    if "workloads" in only and CFG["debian_rootfs"]:
        md.append("## Fake-root workloads in the Debian bookworm rootfs\n")
        md.append("Every variant runs `/bin/sh -c WORKLOAD` chrooted into the same rootfs, "
                  "with host /dev and /proc bound in (hack/bench/inroot.sh); only the identity "
                  "emulation differs. Ratios divide medians of the same run.\n")
        wl = [g for g in workload_groups(quick) if g[0] in a.workloads.split(",")]
        for wkey, wlabel, cases in wl:
            n = wl_runs
            if not a.runs and not quick:
                n = {"dpkg": 9, "apt": 5}.get(wkey, wl_runs)
            measure_group(wkey, cases, n, 1)
            none, off = cases[0], cases[1]
            ctr_off = find_case(cases, f"{wkey}-ctr-off")
            md.append(f"### {wlabel}\n")
            md.append(table(cases, [("× none", none), ("× rlrt off", off),
                                    ("× container off", ctr_off)], rss=False))
            md.append("")
            js.setdefault("workloads", {})[wkey] = [c.summary() for c in cases]
            limit = {"stat": 3.0, "dpkg": 1.3, "tar": 2.0}.get(wkey)
            for where, ids, full, base, name in [
                ("fakeroot", find_case(cases, f"{wkey}-rlrt-ids"),
                 find_case(cases, f"{wkey}-rlrt-full"), none, "none"),
                ("container", find_case(cases, f"{wkey}-ctr-ids"),
                 find_case(cases, f"{wkey}-ctr-full"), ctr_off, "container off"),
            ]:
                q, qm, qp = ratio(ids, base), ratio_min(ids, base), ratio_paired(ids, base)
                measured = f"{qp:.3f}× {name} (medians {q:.3f}×, mins {qm:.3f}×)" if qp else "n/a"
                if q is None and base is not None and base.na and ids and ids.walls:
                    # apt: without emulation it cannot run at all (dpkg's chown fails).
                    measured = (f"n/a: fails without emulation; ids {fmt_t(ids.median())}"
                                + (f", full {fmt_t(full.median())}" if full and full.walls else ""))
                targets.append((f"ids within 5% of no emulation ({where}): {wkey}", measured,
                                None if qp is None else qp <= 1.05))
                if limit:
                    q, qm, qp = ratio(full, base), ratio_min(full, base), ratio_paired(full, base)
                    targets.append((f"full within {limit}× of no emulation ({where}): {wkey}",
                                    f"{qp:.2f}× {name} (medians {q:.2f}×, mins {qm:.2f}×)"
                                    if qp else "n/a",
                                    None if qp is None else qp <= limit))

    # ---- scale
    if "scale" in only:
        log("scale")
        probe_na = probe_container([rt()], os.path.join(a.work, "bundles", "true-full"), "scale")
        md.append("## Scale (rootlessrt, tracer on: full)\n")
        if probe_na:
            md.append(f"n/a: {probe_na}\n")
            js["scale"] = {"na": probe_na}
        else:
            s = scale(quick)
            js["scale"] = s
            md.append(f"- {s['concurrent']} containers (`sleep`) created+started concurrently: "
                      f"{s['concurrent_start_wall']:.2f} s, failures {s['concurrent_failures']}, "
                      f"running afterwards {s['concurrent_running']}/{s['concurrent']}; teardown "
                      f"(kill+delete, sequential) {s['concurrent_teardown_wall']:.2f} s, "
                      f"delete failures {s['concurrent_delete_failures']}")
            if s["concurrent_failure_samples"]:
                md.append(f"  - first failures: {s['concurrent_failure_samples']}")
            md.append(f"- {s['sequential']} sequential `run /bin/true`: {s['sequential_wall']:.1f} s "
                      f"({s['sequential_wall'] / s['sequential'] * 1000:.1f} ms each), "
                      f"failures {s['sequential_failures']}")
            if s["sequential_failure_samples"]:
                md.append(f"  - first failures: {s['sequential_failure_samples']}")
            md.append(f"- seconds per block of {s['block']}: " +
                      ", ".join(f"{b:.2f}" for b in s["blocks"]))
            if s["blocks"]:
                fb, lb = statistics.mean(s["blocks"][:2]), statistics.mean(s["blocks"][-2:])
                md.append(f"- last two blocks / first two blocks: {lb / fb:.2f}×")
            md.append("")
            md.append("| leftovers | before | with containers running | after |")
            md.append("|---|---|---|---|")
            b_, d_, a_ = s["before"], s["during"], s["after"]
            md.append(f"| live processes of this run (runtimes, containers) | {b_['processes']} | {d_['processes']} | {a_['processes']} {a_['process_names'] if a_['processes'] else ''} |")
            md.append(f"| zombies waiting for the host's PID 1 | {b_['zombies_of_pid1']} | {d_['zombies_of_pid1']} | {a_['zombies_of_pid1']} |")
            md.append(f"| open fds in those processes | {b_['fds_in_those']} | {d_['fds_in_those']} | {a_['fds_in_those']} |")
            md.append(f"| harness fds | {b_['harness_fds']} | {d_['harness_fds']} | {a_['harness_fds']} |")
            for k in b_["mounts"]:
                md.append(f"| mounts, {k} | {b_['mounts'][k]} | {d_['mounts'][k]} | {a_['mounts'][k]} |")
            md.append(f"| state dirs under --root | {b_['state_dirs']} | {d_['state_dirs']} | {a_['state_dirs']} {a_['state_names'] if a_['state_dirs'] else ''} |")
            md.append("")
            ok = (s["concurrent_failures"] == 0 and s["sequential_failures"] == 0
                  and s["concurrent_delete_failures"] == 0)
            targets.append(("scale: 0 failures", f"{s['concurrent_failures']} + "
                            f"{s['sequential_failures']} + {s['concurrent_delete_failures']}", ok))
            leak = (a_["processes"] > b_["processes"] or a_["state_dirs"] > b_["state_dirs"]
                    or any((a_["mounts"][k] or 0) > (b_["mounts"][k] or 0) for k in a_["mounts"]))
            targets.append(("scale: no leftover processes, mounts, state dirs",
                            "leftovers found" if leak else "none", not leak))
            if s["blocks"] and len(s["blocks"]) >= 4:
                flat = lb / fb <= 1.25
                targets.append(("scale: per-container cost flat (last/first blocks ≤ 1.25×)",
                                f"{lb / fb:.2f}×", flat))

    # ---- targets
    md.insert(header_end, "## Targets (issue 5)\n\nLifecycle verdicts use the ratio of medians. "
              "Workload verdicts use the median of the ratios paired by iteration (the two "
              "variants ran back to back in each round): the effects looked for (a few %) are "
              "smaller than the spread of single samples here. The ratios of medians and of "
              "minimums are shown as cross-checks.\n\n"
              "| target | measured | verdict |\n|---|---|---|\n" + "\n".join(
        f"| {t} | {v} | {'met' if ok else ('MISSED' if ok is False else 'n/a')} |"
        for t, v, ok in targets) + "\n")
    js["targets"] = [{"target": t, "measured": v, "met": ok} for t, v, ok in targets]
    md.append(f"\n_load average at end: {' '.join(loadavg())}; harness wall time "
              f"{time.time() - t_start:.0f} s_\n")
    text = "\n".join(md)
    with open(a.out, "w") as f:
        f.write(text)
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump(js, f, indent=1, default=str)
    print(text)


if __name__ == "__main__":
    main()
