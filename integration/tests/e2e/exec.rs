//! exec into a running container.

use integration::{matrix_all, procs, procs::Proc, Ctx};

/// `exec` joins the container (hostname, pid namespace, rootfs), passes
/// stdio through, and propagates the exit code; `--env`, `--cwd`, `--user`,
/// `--process` work.
fn exec_basic(ctx: &Ctx) {
    let b = ctx.bundle();
    b.edit(|v| v["hostname"] = serde_json::json!("rlrt-exec-host"));
    b.set_args(&["sleep", "1000"]);
    let id = ctx.id();
    ctx.create_start(&b, &id);

    let out = ctx.rt(["exec", &id, "hostname"]).run().ok();
    assert_eq!(
        out.stdout.trim(),
        "rlrt-exec-host",
        "exec must join the UTS namespace: {out}"
    );
    // the container's pid namespace: the workload is visible, the host is not
    let list = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done";
    let out = ctx.rt(["exec", &id, "sh", "-c", list]).run().ok();
    assert!(
        out.stdout.contains("sleep 1000"),
        "exec must see the workload (pid namespace): {out}"
    );
    let n = out.stdout.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(
        n < 15,
        "exec sees {n} processes: not in the container's pid namespace? {out}"
    );
    let out = ctx.rt(["exec", &id, "cat", "/etc/hostname"]).run().ok();
    assert_eq!(
        out.stdout.trim(),
        "busybox",
        "exec must see the container's rootfs: {out}"
    );

    let out = ctx
        .rt([
            "exec",
            &id,
            "sh",
            "-c",
            "echo to-out; echo to-err >&2; exit 5",
        ])
        .run();
    assert_eq!(
        out.code,
        Some(5),
        "exec must return the process's exit code: {out}"
    );
    assert_eq!(out.stdout, "to-out\n", "{out}");
    assert!(out.stderr.contains("to-err"), "{out}");

    let out = ctx
        .rt([
            "exec",
            "--env",
            "FOO=bar",
            "--cwd",
            "/tmp",
            &id,
            "sh",
            "-c",
            "echo $FOO; pwd",
        ])
        .run()
        .ok();
    assert_eq!(out.stdout, "bar\n/tmp\n", "{out}");

    let out = ctx.rt(["exec", &id, "id", "-u"]).run().ok();
    assert_eq!(
        out.stdout.trim(),
        "0",
        "exec runs as the spec's user (root in the container): {out}"
    );
    let out = ctx
        .rt(["exec", "--user", "0:0", &id, "id", "-g"])
        .run()
        .ok();
    assert_eq!(out.stdout.trim(), "0", "{out}");

    // --process: what containerd's shim passes
    let mut p = b.config()["process"].clone();
    p["args"] = serde_json::json!(["sh", "-c", "echo via-process; exit 4"]);
    p["terminal"] = serde_json::json!(false);
    let pj = ctx.write_file(
        "process.json",
        serde_json::to_string(&p).unwrap().as_bytes(),
    );
    let out = ctx
        .rt(["exec", "--process", &pj.to_string_lossy(), &id])
        .run();
    assert_eq!(out.code, Some(4), "{out}");
    assert_eq!(out.stdout, "via-process\n", "{out}");

    // exec'd processes are gone once they exit; the container still runs
    assert_eq!(ctx.status(&id), "running");
    ctx.delete_checked(&id, &b, true);
}
matrix_all!(exec_basic);

/// `exec --detach --pid-file` returns at once; the process runs in the
/// container, shows in `ps`, and dies with the container.
fn exec_detach(ctx: &Ctx) {
    let b = ctx.bundle();
    b.set_args(&["sleep", "1000"]);
    let id = ctx.id();
    ctx.create_start(&b, &id);
    let pidfile = ctx.path("exec.pid");
    let out = ctx
        .rt([
            "exec",
            "--detach",
            "--pid-file",
            &pidfile.to_string_lossy(),
            &id,
            "sleep",
            "999",
        ])
        .run()
        .ok();
    assert!(out.stdout.is_empty(), "{out}");
    let s = std::fs::read_to_string(&pidfile).expect("exec pid file");
    assert!(
        !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()),
        "pid file must be bare digits: {s:?}"
    );
    let pid: i32 = s.parse().unwrap();
    let p = Proc::get(pid).expect("exec'd process is running");
    // the pid file names the process itself, or a supervisor whose child it is
    let sleeper = if p.cmdline == "sleep 999" {
        p.clone()
    } else {
        procs::descendants_of(&p)
            .into_iter()
            .find(|q| q.cmdline == "sleep 999")
            .unwrap_or_else(|| panic!("pid file names {p:?}: not `sleep 999` nor its parent"))
    };
    let ps = ctx.rt(["ps", "--format", "json", &id]).run().ok();
    let pids: Vec<i64> = serde_json::from_str(&ps.stdout).unwrap_or_default();
    assert!(
        pids.contains(&(sleeper.pid as i64)),
        "ps must list the exec'd process: {ps}"
    );
    // it lives in the container's pid namespace
    let out = ctx
        .rt(["exec", &id, "sh", "-c", "ps -o comm= 2>/dev/null || ps"])
        .run()
        .ok();
    assert!(out.stdout.contains("sleep"), "{out}");
    let snap = ctx.snapshot(&id, &b);
    ctx.rt(["delete", "--force", &id]).run().ok();
    snap.assert_gone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while p.alive() || sleeper.alive() {
        assert!(
            std::time::Instant::now() < deadline,
            "exec'd process survived delete --force"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
matrix_all!(exec_detach);
