//! run / create / start / state / delete.

use integration::{looks_rfc3339, matrix_all, Ctx};
use std::time::Duration;

/// `run` prints the workload's output and returns its exit code; the
/// container is gone afterwards.
fn run_exit_code(ctx: &Ctx) {
    let b = ctx.bundle();
    b.set_sh("echo hi; echo oops >&2; exit 3");
    let id = ctx.id();
    let out = ctx.run(&b, &id);
    assert!(!out.timed_out, "{out}");
    assert_eq!(
        out.code,
        Some(3),
        "run must return the workload's exit code: {out}"
    );
    assert_eq!(
        out.stdout, "hi\n",
        "run's stdout must be the workload's: {out}"
    );
    assert!(
        out.stderr.contains("oops"),
        "workload stderr missing: {out}"
    );
    assert!(
        !ctx.root.join(&id).exists(),
        "run left its state dir behind"
    );
    assert!(
        !ctx.rt(["state", &id]).run().success(),
        "container still known after run"
    );

    // killed by a signal (from outside: pid 1 cannot kill itself): 128 + signal
    let id = ctx.id();
    b.set_sh("echo up > /tmp/up; exec sleep 1000");
    let _ = std::fs::remove_file(b.file("/tmp/up"));
    let running = ctx
        .rt(["run", "--bundle"])
        .arg(b.path.to_string_lossy())
        .arg(&id)
        .spawn();
    b.wait_file("/tmp/up");
    ctx.rt(["kill", &id, "KILL"]).run().ok();
    let out = running.wait();
    assert_eq!(
        out.code,
        Some(137),
        "run of a SIGKILLed workload returns 137: {out}"
    );
    assert!(
        !ctx.root.join(&id).exists(),
        "run left its state dir behind"
    );

    // bundle from the working directory (no --bundle)
    let id = ctx.id();
    b.set_sh("echo cwd-bundle");
    let out = ctx.rt(["run", &id]).cwd(&b.path).run().ok();
    assert_eq!(out.stdout, "cwd-bundle\n");
}
matrix_all!(run_exit_code);

/// `run --detach --pid-file` returns while the workload keeps running.
fn run_detach(ctx: &Ctx) {
    let b = ctx.bundle();
    b.set_sh("echo up > /tmp/up; exec sleep 1000");
    let id = ctx.id();
    let pidfile = ctx.path("run.pid");
    let out = ctx
        .rt(["run", "--detach", "--pid-file"])
        .arg(pidfile.to_string_lossy())
        .args(["--bundle", &b.path.to_string_lossy(), &id])
        .run()
        .ok();
    assert!(
        out.elapsed < Duration::from_secs(20),
        "run --detach waited for the workload"
    );
    b.wait_file("/tmp/up");
    let st = ctx.state(&id);
    assert_eq!(st["status"], "running", "{st}");
    let pid = std::fs::read_to_string(&pidfile).expect("pid file");
    assert_eq!(
        pid,
        st["pid"].to_string(),
        "pid file must be the bare pid, no newline"
    );
    ctx.delete_checked(&id, &b, true);
}
matrix_all!(run_detach);

/// create -> created (workload not started), start -> running, exit -> stopped,
/// delete -> nothing left. Also checks the state JSON and the pid file.
fn create_start_state(ctx: &Ctx) {
    let b = ctx.bundle();
    b.set_sh("echo started > /tmp/started; echo out-of-workload; sleep 1; exit 0");
    b.edit(|v| v["annotations"] = serde_json::json!({"org.rootlessrt.test": "yes"}));
    let id = ctx.id();
    let pidfile = ctx.path("init.pid");
    let create = ctx
        .rt([
            "create",
            "--bundle",
            &b.path.to_string_lossy(),
            "--pid-file",
            &pidfile.to_string_lossy(),
            &id,
        ])
        .run()
        .ok();
    assert!(
        create.stdout.is_empty(),
        "create must print nothing on stdout: {create}"
    );

    let st = ctx.state(&id);
    for k in [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
        "annotations",
    ] {
        assert!(st.get(k).is_some(), "state lacks {k}: {st}");
    }
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["status"], "created");
    let pid = st["pid"].as_i64().expect("pid is a number");
    assert!(pid > 0);
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "state pid is not a live host pid"
    );
    assert_eq!(st["bundle"], b.path.to_string_lossy().as_ref(), "{st}");
    let rootfs = st["rootfs"].as_str().unwrap();
    assert!(rootfs.ends_with("rootfs"), "{st}");
    assert!(
        looks_rfc3339(st["created"].as_str().unwrap_or("")),
        "created is not RFC3339: {st}"
    );
    assert_eq!(st["annotations"]["org.rootlessrt.test"], "yes", "{st}");
    assert!(st["owner"].is_string(), "{st}");

    let pf = std::fs::read_to_string(&pidfile).expect("pid file");
    assert_eq!(
        pf,
        pid.to_string(),
        "pid file must be bare digits, no newline"
    );

    std::thread::sleep(Duration::from_millis(300));
    assert!(
        b.read("/tmp/started").is_none(),
        "workload ran before start"
    );

    ctx.start(&id);
    b.wait_file("/tmp/started");
    assert_eq!(ctx.status(&id), "running");
    // the workload's stdio is the create call's
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !create.stdout_now().contains("out-of-workload") {
        assert!(
            std::time::Instant::now() < deadline,
            "workload stdout did not reach create's stdout"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let snap = ctx.snapshot(&id, &b);
    let st = ctx.wait_status(&id, "stopped", Duration::from_secs(15));
    assert_eq!(st["id"], id.as_str());
    let out = ctx.rt(["delete", &id]).run().ok();
    assert!(out.stdout.is_empty(), "{out}");
    snap.assert_gone();
}
matrix_all!(create_start_state);

/// `delete --force` of a running container kills it and leaves nothing; of an
/// unknown id it exits 0 quietly (or says "does not exist").
fn delete_force(ctx: &Ctx) {
    let b = ctx.bundle();
    b.set_sh("sleep 1000 & sleep 1000 & exec sleep 1000");
    let id = ctx.id();
    ctx.create_start(&b, &id);
    ctx.delete_checked(&id, &b, true);

    // created but never started
    let id = ctx.id();
    ctx.create(&b, &id);
    ctx.delete_checked(&id, &b, true);

    // gone already: containerd always does this after the shim exits
    let out = ctx.rt(["delete", "--force", &id]).run();
    assert_eq!(
        out.code,
        Some(0),
        "delete --force of a deleted container must exit 0: {out}"
    );
    assert!(
        out.stderr.trim().is_empty() || out.stderr.contains("does not exist"),
        "delete --force of a missing container: quiet or `does not exist`: {out}"
    );
    let out = ctx.rt(["delete", "--force", "never-existed"]).run();
    assert_eq!(out.code, Some(0), "{out}");
}
matrix_all!(delete_force);

/// `delete` (no force) of a stopped container.
fn delete_stopped(ctx: &Ctx) {
    let b = ctx.bundle();
    b.set_sh("exit 0");
    let id = ctx.id();
    ctx.create_start(&b, &id);
    ctx.wait_status(&id, "stopped", Duration::from_secs(15));
    ctx.delete_checked(&id, &b, false);
}
matrix_all!(delete_stopped);

/// Under another runtime's seccomp listener (a filter above ours already has
/// one, so the kernel refuses ours: EBUSY) the tracer starts over with the
/// ptrace engine; the workload runs with its fake owners all the same.
/// Without that listener the same container runs untraced by ptrace.
fn run_under_another_listener(ctx: &Ctx) {
    let src = integration::workspace_root().join("tracer/tests/c");
    let wrapper = ctx.path("listener");
    let st = std::process::Command::new("gcc")
        .args(["-O1", "-pthread", "-I"])
        .arg(&src)
        .arg("-o")
        .arg(&wrapper)
        .arg(src.join("listener.c"))
        .status()
        .expect("gcc");
    assert!(st.success(), "compiling listener.c");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let b = ctx.bundle();
    b.edit(|v| v["annotations"]["io.rootlessrt.fake-root"] = serde_json::json!("full"));
    b.set_sh(
        "touch /tmp/f; chown 5:6 /tmp/f; stat -c 'owner %u:%g' /tmp/f; \
         grep TracerPid /proc/self/status",
    );
    for (wrapped, tracer_pid) in [(true, "1"), (false, "0")] {
        let id = ctx.id();
        let mut argv: Vec<String> = Vec::new();
        if wrapped {
            argv.push(wrapper.to_string_lossy().into_owned());
        }
        argv.push(integration::env().bin.to_string_lossy().into_owned());
        argv.extend(["--root".into(), ctx.root.to_string_lossy().into_owned()]);
        argv.extend([
            "run".into(),
            "--bundle".into(),
            b.path.to_string_lossy().into_owned(),
            id,
        ]);
        let out = ctx.sh_cmd(argv).run();
        assert!(out.success(), "{out}");
        assert!(out.stdout.contains("owner 5:6\n"), "{out}");
        assert!(
            out.stdout.contains(&format!("TracerPid:\t{tracer_pid}\n")),
            "wrapped {wrapped}: {out}"
        );
    }
}
matrix_all!(run_under_another_listener);
