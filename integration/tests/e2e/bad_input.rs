//! Bad input: a one-line error naming the problem, a non-zero exit, no
//! panic, no hang, and no state directory left behind.

use integration::{dir_entries, matrix, state_ids, Bundle, Ctx};
use std::time::Duration;

#[track_caller]
fn assert_no_state(ctx: &Ctx, id: &str) {
    if !id.is_empty() && !id.contains('/') {
        assert!(!ctx.root.join(id).exists(), "state for {id:?} left behind");
    }
}

/// create (and run) with a broken bundle.
fn bad_bundle(ctx: &Ctx) {
    let b = ctx.bundle();
    let good = std::fs::read_to_string(b.config_path()).unwrap();

    type Breaker<'a> = Box<dyn Fn(&Bundle) + 'a>;
    let cases: Vec<(&str, Breaker, &[&str])> = vec![
        (
            "malformed config.json",
            Box::new(|b: &Bundle| std::fs::write(b.config_path(), "{\"ociVersion\": ").unwrap()),
            &["config.json", "parse", "json", "eof"],
        ),
        (
            "config.json of the wrong shape",
            Box::new(|b: &Bundle| std::fs::write(b.config_path(), "[1,2,3]").unwrap()),
            &["config.json", "parse", "json", "invalid"],
        ),
        (
            "missing config.json",
            Box::new(|b: &Bundle| std::fs::remove_file(b.config_path()).unwrap()),
            &["config.json"],
        ),
        (
            "missing rootfs",
            Box::new(|b: &Bundle| {
                std::fs::write(b.config_path(), &good).unwrap();
                b.edit(|v| v["root"]["path"] = serde_json::json!("no-such-rootfs"));
            }),
            &["rootfs", "no-such-rootfs", "root"],
        ),
        (
            "bad fake-root annotation",
            Box::new(|b: &Bundle| {
                b.edit(|v| v["annotations"]["io.rootlessrt.fake-root"] = serde_json::json!("most"));
            }),
            &["io.rootlessrt.fake-root", "most"],
        ),
        (
            "bad stat-shim annotation",
            Box::new(|b: &Bundle| {
                b.edit(|v| {
                    v["annotations"]["io.rootlessrt.stat-shim"] = serde_json::json!("maybe")
                });
            }),
            &["io.rootlessrt.stat-shim", "maybe"],
        ),
    ];
    for (what, breakit, words) in cases {
        // config.json is owned by the runtime's user; keep it that way
        std::fs::write(b.config_path(), &good).unwrap();
        breakit(&b);
        for cmd in ["create", "run"] {
            let id = ctx.id();
            let out = ctx
                .rt([cmd, "--bundle", &b.path.to_string_lossy(), &id])
                .run();
            eprintln!("{what} / {cmd}: {}", out.stderr.trim());
            out.assert_clean_error(words);
            assert_no_state(ctx, &id);
        }
        if !b.config_path().exists() {
            std::fs::write(b.config_path(), &good).unwrap();
            let (u, g) = ctx.ids_of_runtime();
            std::os::unix::fs::chown(b.config_path(), Some(u), Some(g)).unwrap();
        }
    }
    let before = state_ids(&ctx.root);
    assert!(
        before.is_empty(),
        "state root not empty after failed creates: {before:?}"
    );
}
matrix!(bad_bundle: user, root);

/// Invalid container ids are refused before anything is written.
fn invalid_ids(ctx: &Ctx) {
    let b = ctx.bundle();
    let long = "a".repeat(1000);
    let parent_before = dir_entries(ctx.root.parent().unwrap());
    for id in ["../x", "a/b", "", long.as_str(), ".", "..", "/abs"] {
        let out = ctx
            .rt(["create", "--bundle", &b.path.to_string_lossy(), "--", id])
            .run();
        out.assert_clean_error(&["id", "name", "invalid"]);
        for cmd in ["state", "start", "delete"] {
            let out = ctx.rt([cmd, "--", id]).run();
            out.assert_clean_error(&[]);
        }
    }
    let left = state_ids(&ctx.root);
    assert!(left.is_empty(), "invalid ids left state behind: {left:?}");
    let parent_after = dir_entries(ctx.root.parent().unwrap());
    let new: Vec<_> = parent_after
        .difference(&parent_before)
        .filter(|n| *n != "state" && *n != "out")
        .collect();
    assert!(
        new.is_empty(),
        "an invalid id escaped the state root: {new:?}"
    );
}
matrix!(invalid_ids: user, root);

/// Two concurrent creates with one id: exactly one wins, the loser does not
/// disturb the winner's state. Then a sequential duplicate.
fn duplicate_id(ctx: &Ctx) {
    let b = ctx.bundle();
    for _round in 0..3 {
        let id = ctx.id();
        let bp = b.path.to_string_lossy().into_owned();
        let r1 = ctx.rt(["create", "--bundle", &bp, &id]).spawn();
        let r2 = ctx.rt(["create", "--bundle", &bp, &id]).spawn();
        let (o1, o2) = (r1.wait(), r2.wait());
        let wins = [&o1, &o2].iter().filter(|o| o.success()).count();
        assert_eq!(
            wins, 1,
            "exactly one concurrent create must win:\n{o1}\n{o2}"
        );
        let loser = if o1.success() { &o2 } else { &o1 };
        loser.assert_clean_error(&["exist", "already", "in use", "busy"]);
        let st = ctx.state(&id);
        assert_eq!(
            st["status"], "created",
            "the winner's container was disturbed: {st}"
        );
        assert!(std::path::Path::new(&format!("/proc/{}", st["pid"])).exists());

        let out = ctx.rt(["create", "--bundle", &bp, &id]).run();
        out.assert_clean_error(&["exist"]);
        assert_eq!(ctx.status(&id), "created");
        ctx.delete_checked(&id, &b, true);
        let left = state_ids(&ctx.root);
        assert!(left.is_empty(), "stray state: {left:?}");
    }
}
matrix!(duplicate_id: user, root);

/// Wrong-state requests on a live container.
fn wrong_state(ctx: &Ctx) {
    let b = ctx.bundle();
    let id = ctx.id();
    ctx.create_start(&b, &id);

    for sig in ["SIGFOO", "FOO", "99999", "SIG", "USR3"] {
        let out = ctx.rt(["kill", &id, sig]).run();
        out.assert_clean_error(&["signal", "invalid"]);
    }
    assert_eq!(
        ctx.status(&id),
        "running",
        "a bad signal must not touch the container"
    );

    let out = ctx.rt(["start", &id]).run();
    out.assert_clean_error(&["running", "started", "created"]);

    let out = ctx.rt(["delete", &id]).run();
    out.assert_clean_error(&["running", "force"]);
    assert_eq!(ctx.status(&id), "running");

    let out = ctx.rt(["resume", &id]).run();
    out.assert_clean_error(&["paused", "running"]);

    // stopped
    ctx.rt(["kill", &id, "KILL"]).run().ok();
    ctx.wait_status(&id, "stopped", Duration::from_secs(15));
    let out = ctx.rt(["start", &id]).run();
    out.assert_clean_error(&["stopped", "started", "created", "running"]);
    let out = ctx.rt(["exec", &id, "true"]).run();
    out.assert_clean_error(&["stopped", "running"]);
    let out = ctx.rt(["pause", &id]).run();
    out.assert_clean_error(&["stopped", "running"]);
    ctx.delete_checked(&id, &b, false);
}
matrix!(wrong_state: user, user_cgv2, root);

/// Every command on an unknown id says `does not exist` (containerd matches it).
fn unknown_id(ctx: &Ctx) {
    let res = ctx.write_file("res.json", br#"{"pids":{"limit":100}}"#);
    let res = res.to_string_lossy().into_owned();
    let id = "no-such-container";
    let cmds: Vec<Vec<&str>> = vec![
        vec!["start", id],
        vec!["state", id],
        vec!["kill", id],
        vec!["kill", id, "9"],
        vec!["kill", "--all", id, "KILL"],
        vec!["delete", id],
        vec!["exec", id, "true"],
        vec!["exec", "--detach", id, "true"],
        vec!["ps", id],
        vec!["ps", "--format", "json", id],
        vec!["pause", id],
        vec!["resume", id],
        vec!["update", "--resources", &res, id],
        vec!["events", "--stats", id],
        vec!["events", id],
    ];
    for c in cmds {
        let out = ctx.rt(&c).timeout(Duration::from_secs(15)).run();
        out.assert_clean_error(&["does not exist"]);
    }
    let out = ctx.rt(["delete", "--force", id]).run();
    assert_eq!(out.code, Some(0), "{out}");
    let left = state_ids(&ctx.root);
    assert!(
        left.is_empty(),
        "unknown-id commands created state: {left:?}"
    );
}
matrix!(unknown_id: user, root);
