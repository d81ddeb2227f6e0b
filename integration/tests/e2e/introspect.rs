//! ps, list, pause/resume, events, update.

use integration::{matrix_all, Bundle, Ctx};
use serde_json::Value;
use std::time::{Duration, Instant};

/// `ps --format json`: a JSON int array and nothing else on stdout+stderr
/// (containerd reads both together); table: a header with PID and the pids.
fn ps_formats(ctx: &Ctx) {
    let b = ctx.bundle();
    b.set_sh("sleep 1000 & echo ready > /tmp/ready; wait");
    let id = ctx.id();
    ctx.create_start(&b, &id);
    b.wait_file("/tmp/ready");
    let snap = ctx.snapshot(&id, &b);
    let init = snap.init.clone().expect("init pid");

    let out = ctx.rt(["ps", "--format", "json", &id]).run().ok();
    assert!(
        out.stderr.is_empty(),
        "ps --format json must write nothing to stderr: {out}"
    );
    let v: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    let pids: Vec<i64> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {out}"))
        .iter()
        .map(|x| {
            x.as_i64()
                .unwrap_or_else(|| panic!("not an int array: {out}"))
        })
        .collect();
    let mut want: Vec<i64> = snap.procs.iter().map(|p| p.pid as i64).collect();
    want.sort();
    let mut got = pids.clone();
    got.sort();
    assert_eq!(
        got, want,
        "ps must list exactly the container's processes (host pids): {out}"
    );

    for args in [
        vec!["ps", id.as_str()],
        vec!["ps", "--format", "table", id.as_str()],
    ] {
        let out = ctx.rt(args).run().ok();
        let mut lines = out.stdout.lines();
        let header = lines.next().unwrap_or("");
        assert!(header.contains("PID"), "table header must name PID: {out}");
        let rows: Vec<&str> = lines.collect();
        assert!(
            rows.iter()
                .any(|r| r.split_whitespace().any(|w| w == init.pid.to_string())),
            "table must list the init pid {}: {out}",
            init.pid
        );
    }
    ctx.delete_checked(&id, &b, true);
}
matrix_all!(ps_formats);

/// `list` as a table (ID header), JSON, and `-q`.
fn list_formats(ctx: &Ctx) {
    let out = ctx.rt(["list"]).run().ok();
    assert!(
        out.stdout.starts_with("ID"),
        "empty list still prints the header: {out}"
    );
    let b = ctx.bundle();
    let (a, c) = (ctx.id(), ctx.id());
    ctx.create_start(&b, &a);
    ctx.create(&b, &c);

    let out = ctx.rt(["list"]).run().ok();
    let mut lines = out.stdout.lines();
    let header = lines.next().unwrap_or("");
    assert!(header.starts_with("ID"), "{out}");
    for h in ["PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] {
        assert!(header.contains(h), "list header lacks {h}: {out}");
    }
    let rows: Vec<&str> = lines.collect();
    for (id, status) in [(&a, "running"), (&c, "created")] {
        assert!(
            rows.iter()
                .any(|r| r.split_whitespace().next() == Some(id) && r.contains(status)),
            "list lacks {id} {status}: {out}"
        );
    }

    let out = ctx.rt(["list", "--format", "json"]).run().ok();
    let v = out.json();
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("list json is not an array: {out}"));
    assert_eq!(arr.len(), 2, "{out}");
    for e in arr {
        for k in ["id", "pid", "status", "bundle", "created"] {
            assert!(e.get(k).is_some(), "list json entry lacks {k}: {out}");
        }
    }
    let out = ctx.rt(["list", "-q"]).run().ok();
    let mut got: Vec<&str> = out.stdout.lines().collect();
    got.sort();
    let mut want = vec![a.as_str(), c.as_str()];
    want.sort();
    assert_eq!(got, want, "list -q prints only the ids: {out}");
    let out = ctx.rt(["list", "--quiet"]).run().ok();
    assert_eq!(out.stdout.lines().count(), 2, "{out}");

    ctx.delete_checked(&a, &b, true);
    ctx.delete_checked(&c, &b, true);
    let out = ctx.rt(["list", "-q"]).run().ok();
    assert!(out.stdout.trim().is_empty(), "{out}");
}
matrix_all!(list_formats);

fn counter(b: &Bundle) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(n) = b.read("/tmp/counter").and_then(|s| s.trim().parse().ok()) {
            return n;
        }
        assert!(Instant::now() < deadline, "no counter in the container");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A paused container stops advancing; resume continues.
fn pause_resume(ctx: &Ctx) {
    let b = ctx.bundle();
    b.set_sh("i=0; while :; do i=$((i+1)); echo $i > /tmp/counter.new; mv /tmp/counter.new /tmp/counter; sleep 0.05; done");
    let id = ctx.id();
    ctx.create_start(&b, &id);
    let c0 = counter(&b);
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter(&b) <= c0 {
        assert!(Instant::now() < deadline, "counter does not advance");
        std::thread::sleep(Duration::from_millis(50));
    }
    ctx.rt(["pause", &id]).run().ok();
    assert_eq!(ctx.status(&id), "paused");
    std::thread::sleep(Duration::from_millis(200));
    let c1 = counter(&b);
    std::thread::sleep(Duration::from_millis(700));
    let c2 = counter(&b);
    assert_eq!(c1, c2, "counter advanced while paused");
    // ps still works on a paused container
    let ps = ctx.rt(["ps", "--format", "json", &id]).run().ok();
    assert!(ps.json().as_array().is_some_and(|a| !a.is_empty()), "{ps}");

    ctx.rt(["resume", &id]).run().ok();
    assert_eq!(ctx.status(&id), "running");
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter(&b) <= c2 {
        assert!(
            Instant::now() < deadline,
            "counter does not advance after resume"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // a paused container can be force-deleted
    ctx.rt(["pause", &id]).run().ok();
    ctx.delete_checked(&id, &b, true);
}
matrix_all!(pause_resume);

/// `events --stats` prints one stats event as JSON and exits.
fn events_stats(ctx: &Ctx) {
    let b = ctx.bundle();
    let id = ctx.id();
    ctx.create_start(&b, &id);
    let out = ctx.rt(["events", "--stats", &id]).run().ok();
    let first = out.stdout.lines().next().unwrap_or("");
    let v: Value = serde_json::from_str(first)
        .unwrap_or_else(|e| panic!("events --stats: not JSON ({e}): {out}"));
    assert_eq!(v["type"], "stats", "{out}");
    assert_eq!(v["id"], id.as_str(), "{out}");
    ctx.delete_checked(&id, &b, true);
}
matrix_all!(events_stats);

/// `update --resources FILE|-` is applied as root (CRI passes JSON on stdin).
/// Rootless without a writable cgroup there is nothing to apply it to: then
/// a clean one-line error naming the cgroup is as good as success, but never
/// a panic or a hang.
fn update_resources(ctx: &Ctx) {
    let b = ctx.bundle();
    let id = ctx.id();
    ctx.create_start(&b, &id);
    let res = r#"{"pids":{"limit":500}}"#;
    let f = ctx.write_file("res.json", res.as_bytes());
    let outs = [
        ctx.rt(["update", "--resources", &f.to_string_lossy(), &id])
            .run(),
        ctx.rt(["update", "--resources", "-", &id]).stdin(res).run(),
    ];
    for out in outs {
        if ctx.mode.is_rootless() && !out.success() {
            out.assert_clean_error(&["cgroup"]);
        } else {
            assert!(out.success(), "{out}");
        }
    }
    assert_eq!(ctx.status(&id), "running");
    ctx.delete_checked(&id, &b, true);
}
matrix_all!(update_resources);
