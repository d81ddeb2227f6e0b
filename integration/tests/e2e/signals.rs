//! kill: signal names with and without SIG, numbers, the default, --all.

use integration::{matrix_all, procs, Ctx};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn lines(s: &str) -> usize {
    s.lines().count()
}

/// A signal sent with `kill` reaches the workload (pid 1 of the container,
/// which has handlers installed).
fn kill_reaches_workload(ctx: &Ctx) {
    let b = ctx.bundle();
    b.set_sh(
        "trap 'echo usr1 >> /tmp/sig' USR1; trap 'echo usr2 >> /tmp/sig' USR2; \
         trap 'echo term >> /tmp/sig; exit 7' TERM; \
         echo ready > /tmp/ready; while :; do sleep 0.1; done",
    );
    let id = ctx.id();
    ctx.create_start(&b, &id);
    b.wait_file("/tmp/ready");

    ctx.rt(["kill", &id, "USR1"]).run().ok();
    b.wait_for("/tmp/sig", T, |s| lines(s) == 1 && s.ends_with("usr1\n"));
    ctx.rt(["kill", &id, "SIGUSR2"]).run().ok();
    b.wait_for("/tmp/sig", T, |s| lines(s) == 2 && s.ends_with("usr2\n"));
    ctx.rt(["kill", &id, "10"]).run().ok(); // SIGUSR1 on x86 and arm
    b.wait_for("/tmp/sig", T, |s| lines(s) == 3 && s.ends_with("usr1\n"));
    assert_eq!(ctx.status(&id), "running");
    // default is SIGTERM
    ctx.rt(["kill", &id]).run().ok();
    b.wait_for("/tmp/sig", T, |s| s.ends_with("term\n"));
    ctx.wait_status(&id, "stopped", T);

    // killing a stopped container: containerd matches these words
    let out = ctx.rt(["kill", &id, "KILL"]).run();
    if !out.success() {
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(
            all.contains("not running") || all.contains("no such process"),
            "kill of a stopped container should say `container not running`: {out}"
        );
    }
    ctx.delete_checked(&id, &b, false);
}
matrix_all!(kill_reaches_workload);

/// `kill --all` signals every process of the container, not only init.
fn kill_all(ctx: &Ctx) {
    let b = ctx.bundle();
    b.set_sh(
        "trap 'echo init-got-usr1 >> /tmp/all' USR1; sleep 1001 & sleep 1002 & \
         echo ready > /tmp/ready; while :; do sleep 0.1; done",
    );
    let id = ctx.id();
    ctx.create_start(&b, &id);
    b.wait_file("/tmp/ready");
    // `ready` is written once both are forked, not once both have exec'd
    // `sleep`: under load a forked shell may still be on its way there.
    let deadline = std::time::Instant::now() + T;
    let (snap, sleepers) = loop {
        let snap = ctx.snapshot(&id, &b);
        let sleepers: Vec<procs::Proc> = snap
            .procs
            .iter()
            .filter(|p| p.cmdline.starts_with("sleep 100"))
            .cloned()
            .collect();
        if sleepers.len() >= 2 || std::time::Instant::now() > deadline {
            break (snap, sleepers);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        sleepers.len(),
        2,
        "expected two background sleeps: {:?}",
        snap.procs
    );

    ctx.rt(["kill", "--all", &id, "USR1"]).run().ok();
    b.wait_file("/tmp/all");
    let deadline = std::time::Instant::now() + T;
    while sleepers.iter().any(|p| p.alive()) {
        assert!(
            std::time::Instant::now() < deadline,
            "kill --all did not reach the other processes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        ctx.status(&id),
        "running",
        "init has a handler and must survive"
    );

    ctx.rt(["kill", "--all", &id, "9"]).run().ok();
    ctx.wait_status(&id, "stopped", T);
    snap.assert_gone_procs();
    ctx.delete_checked(&id, &b, false);
}
matrix_all!(kill_all);
