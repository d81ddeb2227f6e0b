//! The outer user namespace of a rootless container.
//!
//! An unprivileged user cannot write a multi-ID map (no subuid) and cannot
//! create cgroups on a v1/hybrid host. So, like rootless podman, rootlessrt
//! first moves itself into a user namespace that maps the single ID, with a
//! private mount namespace where `/sys/fs/cgroup` is a cgroup2 mount (whose
//! EACCES libcgroups' v2 manager tolerates), and then lets libcontainer build
//! the container *inside* it, without a user namespace of its own. The
//! container's user namespace is that outer one; `exec` joins it by setns.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// The single ID mapping of a rootless container: `inside` maps to our
/// own `outside` ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SingleMap {
    pub inside: u32,
    pub outside: u32,
}

/// Moves this (single-threaded) process into a fresh user + mount (+ cgroup)
/// namespace where `uid.inside`/`gid.inside` are us.
pub fn enter_outer(uid: SingleMap, gid: SingleMap) -> Result<()> {
    ensure_single_threaded()?;
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS)
        .context("cannot create a user namespace (are unprivileged user namespaces enabled?)")?;
    // setgroups must be denied before an unprivileged gid_map is accepted.
    fs::write("/proc/self/setgroups", "deny").context("cannot write /proc/self/setgroups")?;
    fs::write(
        "/proc/self/uid_map",
        format!("{} {} 1\n", uid.inside, uid.outside),
    )
    .context("cannot write /proc/self/uid_map")?;
    fs::write(
        "/proc/self/gid_map",
        format!("{} {} 1\n", gid.inside, gid.outside),
    )
    .context("cannot write /proc/self/gid_map")?;
    private_cgroup2()
}

/// Joins the outer user namespace of a running container (for `exec`), and
/// gives this process the same private cgroup2 view `create` had.
pub fn join_outer(init_pid: i32) -> Result<()> {
    ensure_single_threaded()?;
    let f = fs::File::open(format!("/proc/{init_pid}/ns/user"))
        .with_context(|| format!("cannot open the user namespace of pid {init_pid}"))?;
    setns(f, CloneFlags::CLONE_NEWUSER).context("cannot join the container's user namespace")?;
    unshare(CloneFlags::CLONE_NEWNS).context("cannot create a mount namespace")?;
    private_cgroup2()
}

/// As root, before `exec` re-executes itself (sealed.rs): joins the user
/// namespace of `init_pid` when the container has one of its own (the
/// spec's mappings), so that the exec'd process and its tracer live in it
/// as the container's root, never as the host's (libcontainer's tenant
/// path joins every namespace but that one). Returns whether it did.
///
/// The real uid and gid become the container's root while the effective
/// (and file system) ones stay the host's root, which the namespace does
/// not map: the state directory and the cgroup files stay ours to use, and
/// the re-execution then (a) makes us root of that namespace with its full
/// capability set in `permitted` (`raise_effective` takes it up), (b) is
/// non-dumpable from its first instruction (real and effective uids
/// differ), and (c) gives our memory that namespace, in which the tracer,
/// a fork of ours, holds CAP_SYS_PTRACE: it can trace its own child before
/// that execs, which nothing in the container can.
pub fn enter_user_of(init_pid: i32) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let theirs = format!("/proc/{init_pid}/ns/user");
    let ino = |p: &str| fs::metadata(p).map(|m| (m.dev(), m.ino()));
    let other = ino(&theirs)
        .with_context(|| format!("cannot read the user namespace of pid {init_pid}"))?;
    if ino("/proc/self/ns/user")? == other {
        return Ok(false);
    }
    ensure_single_threaded()?;
    let f = fs::File::open(&theirs)
        .with_context(|| format!("cannot open the user namespace of pid {init_pid}"))?;
    setns(f, CloneFlags::CLONE_NEWUSER).context("cannot join the container's user namespace")?;
    // SAFETY: plain set*id calls with -1 for "unchanged".
    let rc = unsafe {
        let keep = u32::MAX;
        libc::syscall(libc::SYS_setresgid, 0u32, keep, keep) == 0
            && libc::syscall(libc::SYS_setresuid, 0u32, keep, keep) == 0
    };
    if !rc {
        return Err(std::io::Error::last_os_error())
            .context("cannot become root of the container's user namespace");
    }
    Ok(true)
}

/// After `enter_user_of` and the re-execution: the permitted capabilities
/// (all of the container's namespace) become effective.
pub fn raise_effective() -> Result<()> {
    let caps = caps::read(None, caps::CapSet::Permitted).context("cannot read capabilities")?;
    caps::set(None, caps::CapSet::Effective, &caps).context("cannot raise capabilities")
}

fn private_cgroup2() -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("cannot make mounts private")?;
    // A cgroup namespace owned by our user namespace lets the container
    // mount cgroup2 (the spec's /sys/fs/cgroup mount) and lets us mount one
    // here on a hybrid or v1 host.
    let own_cgroupns = unshare(CloneFlags::CLONE_NEWCGROUP).is_ok();
    let cg = Path::new("/sys/fs/cgroup");
    if is_cgroup2(cg) {
        return Ok(());
    }
    if own_cgroupns
        && mount(
            Some("cgroup2"),
            cg,
            Some("cgroup2"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .is_ok()
    {
        tracing::debug!("rootless: cgroup2 mounted on /sys/fs/cgroup in a private namespace");
        return Ok(());
    }
    // No cgroup2 at all (pure v1 with no unified hierarchy): hide the v1
    // controllers behind an empty tmpfs... libcgroups would still take it as
    // v1, so fail with a clear message instead.
    bail!("rootless containers need a cgroup2 hierarchy (none is mounted on this host)")
}

pub fn is_cgroup2(p: &Path) -> bool {
    nix::sys::statfs::statfs(p)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

fn ensure_single_threaded() -> Result<()> {
    let n = fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1);
    if n != 1 {
        bail!("internal error: cannot change user namespace with {n} threads");
    }
    Ok(())
}
