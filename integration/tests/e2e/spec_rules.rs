//! Runtime-spec rules that the OCI runtime-tools suite checks, as our own
//! tests (the suite itself is not part of CI; docs/compliance.md).

use integration::{dir_entries, env, matrix, matrix_all, Ctx};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// A hook that runs `/bin/sh -c SCRIPT` in the runtime's namespaces.
fn sh_hook(script: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

/// A hook that saves its stdin as `<dir>/<name>.json` and appends `name` to
/// `<dir>/order`.
fn state_hook(dir: &Path, name: &str) -> Value {
    let d = dir.display();
    sh_hook(&format!("cat > {d}/{name}.json; echo {name} >> {d}/order"))
}

fn read_json(p: &Path) -> Value {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{p:?} is not JSON ({e}): {s}"))
}

/// Every hook gets the state on stdin with the user's bundle and the status
/// of its stage (prestart: created, createRuntime: creating, poststart:
/// running, poststop: stopped); they run in that order, poststart once the
/// workload has been exec'd.
fn hook_state_and_order(ctx: &Ctx) {
    let b = ctx.bundle();
    let dir = ctx.mkdir("hooks");
    let d = dir.display();
    // poststart also records what its pid (and, with the tracer as init,
    // its children) runs at that moment.
    let poststart = sh_hook(&format!(
        "s=$(cat); echo \"$s\" > {d}/poststart.json; echo poststart >> {d}/order; \
         pid=$(echo \"$s\" | sed 's/.*\"pid\": *\\([0-9]*\\).*/\\1/'); \
         for p in $pid $(cat /proc/$pid/task/*/children); do \
           tr '\\0' ' ' < /proc/$p/cmdline; echo; done > {d}/poststart.procs"
    ));
    b.edit(|v| {
        v["annotations"] = json!({"org.example.rule": "hooks"});
        v["hooks"] = json!({
            "prestart": [state_hook(&dir, "prestart")],
            "createRuntime": [state_hook(&dir, "createRuntime")],
            "poststart": [poststart],
            "poststop": [state_hook(&dir, "poststop")],
        });
    });
    b.set_args(&["sleep", "1000"]);
    let id = ctx.id();
    ctx.create(&b, &id);
    let pid = ctx.state(&id)["pid"].as_i64().unwrap();
    ctx.start(&id);
    ctx.rt(["delete", "--force", &id]).run().ok();

    let bundle = b.path.canonicalize().unwrap();
    for (hook, status) in [
        ("prestart", "created"),
        ("createRuntime", "creating"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ] {
        let s = read_json(&dir.join(format!("{hook}.json")));
        assert_eq!(s["id"], id.as_str(), "{hook}: {s}");
        assert_eq!(s["status"], status, "{hook}: {s}");
        assert_eq!(
            s["bundle"],
            bundle.to_string_lossy().as_ref(),
            "{hook} must see the user's bundle: {s}"
        );
        assert_eq!(s["annotations"]["org.example.rule"], "hooks", "{hook}: {s}");
        if hook != "poststop" {
            assert_eq!(s["pid"], pid, "{hook}: {s}");
        }
    }
    let order = std::fs::read_to_string(dir.join("order")).unwrap();
    assert_eq!(order, "prestart\ncreateRuntime\npoststart\npoststop\n");
    let procs = std::fs::read_to_string(dir.join("poststart.procs")).unwrap();
    assert!(
        procs.lines().any(|l| l.trim() == "sleep 1000"),
        "poststart ran before the workload was exec'd: {procs:?}"
    );
}
matrix_all!(hook_state_and_order);

/// A failing poststart or poststop hook is a warning: the hooks after it
/// run, `start` and `delete` succeed.
fn hook_failures_are_warnings(ctx: &Ctx) {
    let b = ctx.bundle();
    let dir = ctx.mkdir("hooks");
    let d = dir.display();
    b.edit(|v| {
        v["hooks"] = json!({
            "poststart": [sh_hook("exit 3"), sh_hook(&format!("echo ran >> {d}/poststart"))],
            "poststop": [sh_hook("exit 4"), sh_hook(&format!("echo ran >> {d}/poststop"))],
        });
    });
    let id = ctx.id();
    ctx.create(&b, &id);
    let start = ctx.rt(["start", &id]).run();
    assert!(
        start.success(),
        "a failing poststart hook must not fail start: {start}"
    );
    assert!(
        start.stderr.contains("warning") && start.stderr.contains("poststart"),
        "the failure must be logged as a warning: {start}"
    );
    assert_eq!(ctx.status(&id), "running");
    let del = ctx.rt(["delete", "--force", &id]).run();
    assert!(
        del.success(),
        "a failing poststop hook must not fail delete: {del}"
    );
    assert!(del.stderr.contains("warning"), "{del}");
    for hook in ["poststart", "poststop"] {
        assert_eq!(
            std::fs::read_to_string(dir.join(hook)).ok().as_deref(),
            Some("ran\n"),
            "the {hook} hook after the failing one must run"
        );
    }
}
matrix_all!(hook_failures_are_warnings);

/// `process` is required by `start` only: create accepts a config without
/// it, start fails with one line, and the container is then stopped and
/// deletable.
fn create_without_process(ctx: &Ctx) {
    let b = ctx.bundle();
    b.edit(|v| {
        v.as_object_mut().unwrap().remove("process");
    });
    let id = ctx.id();
    ctx.create(&b, &id);
    assert_eq!(ctx.status(&id), "created");
    let out = ctx.rt(["start", &id]).run();
    out.assert_clean_error(&["process"]);
    ctx.wait_status(&id, "stopped", T);
    ctx.delete_checked(&id, &b, false);
    // `process` present but without args stays an error at create
    b.edit(|v| v["process"] = json!({"cwd": "/", "user": {"uid": 0, "gid": 0}}));
    let id = ctx.id();
    let out = ctx
        .rt(["create", "--bundle", &b.path.to_string_lossy(), &id])
        .run();
    out.assert_clean_error(&["process.args"]);
}
matrix_all!(create_without_process);

/// `sh -c SCRIPT sh BIN --root ROOT` as the mode's user: SCRIPT runs the
/// runtime as `"$@"`, with no process spawn between two runtime calls.
fn rt_script(ctx: &Ctx, script: &str) -> integration::Out {
    let bin = env().bin.to_string_lossy().into_owned();
    let root = ctx.root.to_string_lossy().into_owned();
    ctx.sh_cmd([
        "sh",
        "-c",
        script,
        "sh",
        bin.as_str(),
        "--root",
        root.as_str(),
    ])
    .run()
}

/// What the init and (with the tracer as init) its children run.
const PROCS: &str = "for p in $pid $(cat /proc/$pid/task/*/children); do \
                     tr '\\0' ' ' < /proc/$p/cmdline; echo; done";

/// When `start` returns, the workload has been exec'd: a signal sent from
/// then on meets the workload, not rootlessrt's init code (which, as PID 1
/// without handlers, would drop it), as with runc. A slow startContainer
/// hook (run by the init between `start` and the exec) makes the gap
/// visible.
fn start_returns_after_exec(ctx: &Ctx) {
    let b = ctx.bundle();
    b.set_args(&["sleep", "1000"]);
    b.edit(|v| v["hooks"] = json!({"startContainer": [sh_hook("sleep 0.3")]}));
    for _ in 0..3 {
        let id = ctx.id();
        ctx.create(&b, &id);
        let pid = ctx.state(&id)["pid"].as_i64().unwrap();
        let out = rt_script(ctx, &format!("\"$@\" start {id} && pid={pid} && {PROCS}")).ok();
        assert!(
            out.stdout.lines().any(|l| l.trim() == "sleep 1000"),
            "start returned before the workload was exec'd: {out}"
        );
        ctx.delete_checked(&id, &b, true);
    }
}
matrix_all!(start_returns_after_exec);

/// With the tracer as init, a signal sent the moment `start` returns
/// reaches the workload: here TERM, which ends a `sleep` without a handler.
fn signal_right_after_start(ctx: &Ctx) {
    let b = ctx.bundle();
    b.set_args(&["sleep", "1000"]);
    for _ in 0..3 {
        let id = ctx.id();
        ctx.create(&b, &id);
        let pid = ctx.state(&id)["pid"].as_i64().unwrap();
        rt_script(ctx, &format!("\"$@\" start {id} && kill -TERM {pid}")).ok();
        ctx.wait_status(&id, "stopped", T);
        ctx.delete_checked(&id, &b, false);
    }
}
matrix!(signal_right_after_start: user, user_cgv2);

/// With the tracer as init, a signal that arrives while `start` is still
/// waking the init (here during a slow startContainer hook, before the
/// tracer is set up) is held, not dropped, and reaches the workload.
fn signal_during_start(ctx: &Ctx) {
    let b = ctx.bundle();
    b.set_args(&["sleep", "1000"]);
    b.edit(|v| v["hooks"] = json!({"startContainer": [sh_hook("sleep 0.5")]}));
    let id = ctx.id();
    ctx.create(&b, &id);
    let pid = ctx.state(&id)["pid"].as_i64().unwrap() as i32;
    let start = ctx.rt(["start", &id]).spawn();
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: plain kill of the container's init.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    start.wait().ok();
    ctx.wait_status(&id, "stopped", T);
    ctx.delete_checked(&id, &b, false);
}
matrix!(signal_during_start: user, user_cgv2);

/// A seccomp profile is in force for the workload and `exec`, and loaded
/// after the runtime's own last calls: here it denies getcwd, which
/// libcontainer calls after loading a profile early (noNewPrivileges
/// unset). CAP_SYS_ADMIN, lent to load it as root, must not reach the
/// workload.
fn seccomp_loaded_last(ctx: &Ctx) {
    let b = ctx.bundle();
    b.edit(|v| {
        v["process"]
            .as_object_mut()
            .unwrap()
            .remove("noNewPrivileges");
        v["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]
        });
    });
    // busybox's `pwd -P` prints what getcwd gives: nothing when denied
    b.set_sh(
        "cd /tmp; pwd -P > /tmp/pwd 2>&1; grep CapEff /proc/self/status > /tmp/cap; sleep 1000",
    );
    let id = ctx.id();
    ctx.create_start(&b, &id);
    let cap = b.wait_file("/tmp/cap");
    let pwd = b.read("/tmp/pwd").unwrap_or_default();
    assert!(!pwd.contains("/tmp"), "getcwd must be denied: {pwd:?}");
    let eff = u64::from_str_radix(cap.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(eff & (1 << 21), 0, "the workload has CAP_SYS_ADMIN: {cap}");
    let out = ctx.rt(["exec", &id, "sh", "-c", "cd /tmp && pwd -P"]).run();
    assert!(
        !out.stdout.contains("/tmp"),
        "exec must be under the profile too: {out}"
    );
    ctx.delete_checked(&id, &b, true);
}
matrix_all!(seccomp_loaded_last);

/// In a user namespace the kernel locks the atime mode of every inherited
/// mount: a bind mount asking for another one keeps its source's, as with
/// crun, instead of failing the container.
fn locked_mount_flags(ctx: &Ctx) {
    let b = ctx.bundle();
    let src = ctx.mkdir("src");
    std::fs::write(src.join("hello"), "hi\n").unwrap();
    let flags = statvfs_flags(&src);
    // an atime mode other than the source's
    let other = if flags & libc::ST_RELATIME != 0 {
        "strictatime"
    } else if flags & libc::ST_NOATIME != 0 {
        "relatime"
    } else {
        "noatime"
    };
    b.edit(|v| {
        v["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt/src",
            "type": "bind",
            "source": src.to_string_lossy(),
            "options": ["bind", "nosuid", other]
        }));
    });
    b.set_sh("cat /mnt/src/hello > /tmp/seen; sleep 1000");
    let id = ctx.id();
    ctx.create_start(&b, &id);
    assert_eq!(b.wait_file("/tmp/seen"), "hi\n");
    ctx.delete_checked(&id, &b, true);
}
matrix!(locked_mount_flags: user, user_cgv2, root_userns);

fn statvfs_flags(p: &Path) -> u64 {
    let c = std::ffi::CString::new(p.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: zeroed statvfs is valid; NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    st.f_flag
}

/// The workload's script for the /dev/null tests: every write must work.
const WRITES: &str = "echo out; o=$?; echo err >&2; e=$?; echo \"$o $e\" > /tmp/res; exit 3";

/// `rootlessrt ARGS` through a shell with all three stdio on /dev/null,
/// as the mode's user; returns the runtime's exit code.
fn rt_dev_null(ctx: &Ctx, args: &[&str]) -> i32 {
    let bin = env().bin.to_string_lossy().into_owned();
    let root = ctx.root.to_string_lossy().into_owned();
    let mut cmd = vec!["sh", "-c", "\"$@\" </dev/null >/dev/null 2>/dev/null", "sh"];
    cmd.extend([bin.as_str(), "--root", root.as_str()]);
    cmd.extend(args);
    let out = ctx.sh_cmd(cmd).run();
    assert!(!out.timed_out, "{out}");
    out.code.unwrap_or(-1)
}

/// stdio that is /dev/null (scripts, cron) works for the workload: in
/// `run`, `create`+`start` and `exec`, with and without the tracer.
fn dev_null_stdio(ctx: &Ctx) {
    for tracer in ["default", "off"] {
        let b = ctx.bundle();
        if tracer == "off" {
            b.edit(|v| v["annotations"] = json!({"io.rootlessrt.fake-root": "off"}));
        }
        let p = b.path.to_string_lossy().into_owned();
        // run
        b.set_sh(WRITES);
        let id = ctx.id();
        assert_eq!(rt_dev_null(ctx, &["run", "--bundle", &p, &id]), 3);
        assert_eq!(
            b.read("/tmp/res").as_deref(),
            Some("0 0\n"),
            "run, tracer {tracer}"
        );
        // create + start
        std::fs::remove_file(b.file("/tmp/res")).unwrap();
        let id = ctx.id();
        assert_eq!(rt_dev_null(ctx, &["create", "--bundle", &p, &id]), 0);
        ctx.start(&id);
        let res = b.wait_file("/tmp/res");
        assert_eq!(res, "0 0\n", "create+start, tracer {tracer}");
        ctx.wait_status(&id, "stopped", T);
        ctx.delete_checked(&id, &b, false);
        // exec
        std::fs::remove_file(b.file("/tmp/res")).unwrap();
        b.set_args(&["sleep", "1000"]);
        let id = ctx.id();
        ctx.create_start(&b, &id);
        assert_eq!(rt_dev_null(ctx, &["exec", &id, "sh", "-c", WRITES]), 3);
        assert_eq!(
            b.read("/tmp/res").as_deref(),
            Some("0 0\n"),
            "exec, tracer {tracer}"
        );
        ctx.delete_checked(&id, &b, true);
    }
}
matrix_all!(dev_null_stdio);

/// A command that does not exist: one line in runc's words (containerd and
/// podman map them to exit status 127), nothing left behind.
fn missing_binary_error(ctx: &Ctx) {
    let b = ctx.bundle();
    let p = b.path.to_string_lossy().into_owned();
    for (arg0, words) in [
        (
            "/no/such/cmd",
            "stat /no/such/cmd: no such file or directory",
        ),
        ("nosuchcmd", "executable file not found in $PATH"),
    ] {
        b.set_args(&[arg0]);
        let id = ctx.id();
        let out = ctx.rt(["run", "--bundle", &p, &id]).run();
        out.assert_clean_error(&[words]);
        assert!(!out.stderr.contains("error error"), "{out}");
    }
    assert_root_empty(ctx);
}
matrix_all!(missing_binary_error);

/// After the last container is deleted the state root is empty (no lock
/// file, no empty sidecar dir), as with runc.
fn delete_leaves_nothing(ctx: &Ctx) {
    let b = ctx.bundle();
    let (x, y) = (ctx.id(), ctx.id());
    ctx.create_start(&b, &x);
    ctx.create(&b, &y);
    ctx.delete_checked(&x, &b, true);
    assert!(
        dir_entries(&ctx.root).contains(&y),
        "the other container's state must stay"
    );
    ctx.delete_checked(&y, &b, true);
    assert_root_empty(ctx);
}
matrix_all!(delete_leaves_nothing);

#[track_caller]
fn assert_root_empty(ctx: &Ctx) {
    let left = dir_entries(&ctx.root);
    assert!(left.is_empty(), "left in the state root: {left:?}");
}
