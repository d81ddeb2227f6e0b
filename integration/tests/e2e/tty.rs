//! A terminal through `--console-socket`: the runtime sends the pty master
//! over the socket (SCM_RIGHTS) and the workload's stdio is the pty slave.

use integration::{matrix_all, ConsoleSocket, Ctx};
use std::time::Duration;

fn console_socket(ctx: &Ctx) {
    let b = ctx.bundle();
    b.edit(|v| v["process"]["terminal"] = serde_json::json!(true));
    b.set_sh("[ -t 0 ] && [ -t 1 ] && echo is-a-tty; tty; sleep 0.3; exit 6");
    let id = ctx.id();
    let sock = ConsoleSocket::listen(&ctx.path("console.sock"), Duration::from_secs(30));
    let sp = sock.path.to_string_lossy().into_owned();
    let create = ctx
        .rt([
            "create",
            "--console-socket",
            &sp,
            "--bundle",
            &b.path.to_string_lossy(),
            &id,
        ])
        .run();
    assert!(create.success(), "{create}");
    ctx.start(&id);
    let tty = sock
        .output()
        .unwrap_or_else(|e| panic!("console socket: {e}"));
    assert!(
        tty.contains("is-a-tty"),
        "workload stdio is not the pty: {tty:?}"
    );
    assert!(tty.contains("/dev/"), "tty printed no device: {tty:?}");
    assert!(
        !create.stdout_now().contains("is-a-tty"),
        "output went to create's stdout instead of the pty"
    );
    ctx.wait_status(&id, "stopped", Duration::from_secs(15));
    ctx.delete_checked(&id, &b, false);

    // run --detach with a terminal, then exec --tty into it
    let id = ctx.id();
    b.set_args(&["sleep", "1000"]);
    let sock = ConsoleSocket::listen(&ctx.path("console2.sock"), Duration::from_secs(30));
    let sp = sock.path.to_string_lossy().into_owned();
    ctx.rt([
        "run",
        "--detach",
        "--console-socket",
        &sp,
        "--bundle",
        &b.path.to_string_lossy(),
        &id,
    ])
    .run()
    .ok();
    assert_eq!(ctx.status(&id), "running");
    let sock3 = ConsoleSocket::listen(&ctx.path("console3.sock"), Duration::from_secs(30));
    let sp3 = sock3.path.to_string_lossy().into_owned();
    // the shim's form: exec --detach --tty --console-socket --pid-file
    let pf = ctx.path("exec-tty.pid");
    let out = ctx
        .rt([
            "exec",
            "--detach",
            "--tty",
            "--console-socket",
            &sp3,
            "--pid-file",
            &pf.to_string_lossy(),
            &id,
        ])
        .args(["sh", "-c", "[ -t 1 ] && echo exec-tty; sleep 0.3"])
        .run();
    let tty3 = sock3.output();
    assert!(out.success(), "{out}\nconsole: {tty3:?}");
    assert!(
        tty3.as_deref().unwrap_or("").contains("exec-tty"),
        "exec --tty output: {tty3:?}"
    );
    ctx.delete_checked(&id, &b, true);
    // the first console's slave is closed now that the container is gone
    let _ = sock.output();
}
matrix_all!(console_socket);
