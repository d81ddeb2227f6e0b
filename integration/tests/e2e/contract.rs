//! The setting itself, and the parts of containerd's contract not covered
//! elsewhere: fds >= 3 closed unless preserved.

use integration::{env, matrix, matrix_all, Ctx, Mode};
use std::time::Duration;

/// The setting is what it claims: the user has no subuid range; under
/// `user_cgv2` /sys/fs/cgroup is a cgroup2 mount the user cannot write to.
fn setting(ctx: &Ctx) {
    let (uid, _) = ctx.ids_of_runtime();
    let out = ctx.sh_cmd(["id", "-u"]).run().ok();
    assert_eq!(out.stdout.trim(), uid.to_string(), "{out}");
    if ctx.mode.is_rootless() {
        let name = env()
            .user
            .as_ref()
            .map(|u| u.name.clone())
            .unwrap_or_default();
        for f in ["/etc/subuid", "/etc/subgid"] {
            let s = std::fs::read_to_string(f).unwrap_or_default();
            assert!(
                !s.lines().any(
                    |l| l.starts_with(&format!("{name}:")) || l.starts_with(&format!("{uid}:"))
                ),
                "{name} has a range in {f}: the tests would not test the no-subuid case"
            );
        }
    }
    let fs = ctx
        .sh_cmd(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"])
        .run()
        .ok();
    if ctx.mode == Mode::UserCgroupV2 {
        assert_eq!(fs.stdout.trim(), "cgroup2fs", "{fs}");
        let w = ctx.sh_cmd(["mkdir", "/sys/fs/cgroup/rlrt-probe"]).run();
        assert!(
            !w.success(),
            "the user can write the cgroup2 root (delegated?): {w}"
        );
    }
}
matrix_all!(setting);

/// fds >= 3 the runtime inherits (containerd leaks its shim socket as fd 3)
/// do not reach the workload; `--preserve-fds N` passes 3..3+N.
fn fds_closed(ctx: &Ctx) {
    let b = ctx.bundle();
    b.set_sh("for f in 3 4 7; do [ -e /proc/$$/fd/$f ] && echo $f; done > /tmp/fds; echo done >> /tmp/fds");
    let id = ctx.id();
    ctx.rt(["create", "--bundle", &b.path.to_string_lossy(), &id])
        .leak_fds(&[3, 4, 7])
        .run()
        .ok();
    ctx.start(&id);
    let fds = b.wait_for("/tmp/fds", Duration::from_secs(15), |s| s.contains("done"));
    assert_eq!(fds, "done\n", "inherited fds reached the workload");
    ctx.wait_status(&id, "stopped", Duration::from_secs(15));
    ctx.delete_checked(&id, &b, false);

    let _ = std::fs::remove_file(b.file("/tmp/fds"));
    let id = ctx.id();
    ctx.rt([
        "create",
        "--preserve-fds",
        "1",
        "--bundle",
        &b.path.to_string_lossy(),
        &id,
    ])
    .leak_fds(&[3, 4, 7])
    .run()
    .ok();
    ctx.start(&id);
    let fds = b.wait_for("/tmp/fds", Duration::from_secs(15), |s| s.contains("done"));
    assert_eq!(
        fds, "3\ndone\n",
        "--preserve-fds 1 must pass fd 3 and only it"
    );
    ctx.wait_status(&id, "stopped", Duration::from_secs(15));
    ctx.delete_checked(&id, &b, false);
}
matrix!(fds_closed: user, root);
