//! The outer user namespace of a rootless container.
//!
//! An unprivileged user cannot write a multi-ID map (no subuid) and cannot
//! create cgroups on a v1/hybrid host. So, like rootless podman, rootlessrt
//! first moves itself into a user namespace that maps the single ID, with a
//! private mount namespace where `/sys/fs/cgroup` is a cgroup2 mount (whose
//! EACCES libcgroups' v2 manager tolerates), and then lets libcontainer build
//! the container *inside* it, without a user namespace of its own. The
//! container's user namespace is that outer one; `exec` joins it by setns.
//!
//! Engines without subordinate IDs (rootless podman, buildah, a containerd
//! started in `unshare -Urm`) have already done the first step: they run
//! rootlessrt as uid 0 in a user namespace of their own and pass a config
//! without one. That namespace is then the container's
//! ([`inherited_maps`]); only the private mount + cgroup view is added
//! ([`private_view`]).

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
/// gives this process the same private cgroup2 view `create` had. A
/// container that inherited the namespace rootlessrt runs in (podman's) is
/// already ours: setns to one's own user namespace is EINVAL.
pub fn join_outer(init_pid: i32) -> Result<()> {
    ensure_single_threaded()?;
    let f = fs::File::open(format!("/proc/{init_pid}/ns/user"))
        .with_context(|| format!("cannot open the user namespace of pid {init_pid}"))?;
    if !same_file(&f, Path::new("/proc/self/ns/user")) {
        setns(f, CloneFlags::CLONE_NEWUSER)
            .context("cannot join the container's user namespace")?;
    }
    private_view()
}

/// A private mount namespace whose `/sys/fs/cgroup` is a cgroup2 view, in
/// the user namespace this process is in (see [`private_cgroup2`]).
pub fn private_view() -> Result<()> {
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
    let f = fs::File::open(format!("/proc/{init_pid}/ns/user"))
        .with_context(|| format!("cannot open the user namespace of pid {init_pid}"))?;
    if same_file(&f, Path::new("/proc/self/ns/user")) {
        return Ok(false);
    }
    ensure_single_threaded()?;
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

fn same_file(f: &fs::File, other: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), fs::metadata(other)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// One line of a `uid_map` / `gid_map`: `size` IDs from `inside` map to
/// `outside` in the parent namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub size: u32,
}

/// The ID maps of a user namespace, as seen from inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maps {
    pub uid: Vec<IdRange>,
    pub gid: Vec<IdRange>,
}

impl Maps {
    /// Each map holds exactly one ID: what an engine without subordinate
    /// IDs gets (`0 <user> 1`).
    pub fn single_id(&self) -> bool {
        let one = |m: &[IdRange]| m.iter().map(|r| u64::from(r.size)).sum::<u64>() == 1;
        one(&self.uid) && one(&self.gid)
    }
}

pub fn parse_map(text: &str) -> Vec<IdRange> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(|x| x.parse::<u32>());
            match (f.next(), f.next(), f.next()) {
                (Some(Ok(inside)), Some(Ok(outside)), Some(Ok(size))) => Some(IdRange {
                    inside,
                    outside,
                    size,
                }),
                _ => None,
            }
        })
        .collect()
}

/// runc's rule (`userns.RunningInUserNS`): this process is in the initial
/// user namespace when the first line of its uid_map is the whole identity
/// range `0 0 4294967295`, or when there is no uid_map at all (a kernel
/// without user namespaces). Anything else is a nested namespace, even
/// with euid 0: podman's, a `unshare -Urm`, a container's.
///
/// Read once: it is the namespace rootlessrt was started in, asked about
/// before `create` may enter one of its own.
pub fn in_initial_userns() -> bool {
    static INITIAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INITIAL.get_or_init(|| match fs::read_to_string("/proc/self/uid_map") {
        Ok(text) => is_initial_map(&text),
        Err(_) => true,
    })
}

fn is_initial_map(text: &str) -> bool {
    match text.lines().next().map(parse_map).as_deref() {
        Some([r]) => r.inside == 0 && r.outside == 0 && r.size == u32::MAX,
        // Empty: runc assumes the initial namespace.
        _ => true,
    }
}

/// The maps of the user namespace this process already runs in, when it is
/// not the initial one: the namespace a container without one of its own
/// inherits.
pub fn inherited_maps() -> Result<Option<Maps>> {
    if in_initial_userns() {
        return Ok(None);
    }
    let read = |f: &str| {
        fs::read_to_string(format!("/proc/self/{f}"))
            .map(|t| parse_map(&t))
            .with_context(|| format!("cannot read /proc/self/{f}"))
    };
    Ok(Some(Maps {
        uid: read("uid_map")?,
        gid: read("gid_map")?,
    }))
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

/// Where a container's ID maps come from, for error messages.
#[derive(Debug, Clone, Copy)]
pub enum MapSource {
    /// `linux.uidMappings` / `linux.gidMappings` of the config.
    Config,
    /// The user namespace rootlessrt was started in (the engine's).
    Inherited,
}

impl MapSource {
    fn field(self, kind: &str) -> String {
        match self {
            MapSource::Config => format!("linux.{kind}Mappings"),
            MapSource::Inherited => {
                format!("/proc/self/{kind}_map of the user namespace rootlessrt runs in")
            }
        }
    }
}

fn is_mapped(id: u32, map: &[IdRange]) -> bool {
    map.iter()
        .any(|r| id >= r.inside && u64::from(id - r.inside) < u64::from(r.size))
}

/// `uid=` / `gid=` mount options (ctr's devpts `gid=5`) must name IDs the
/// container's user namespace maps, or the mount fails with EINVAL. Under a
/// single-ID map an unmapped one is dropped, as `spec --rootless` writes
/// the mount (the filesystem then takes the mounter's ID, the one mapped
/// ID); with a larger map it is an error naming the field. Returns whether
/// the spec changed.
pub fn adapt_mount_ids(
    spec: &mut oci_spec::runtime::Spec,
    maps: &Maps,
    source: MapSource,
) -> Result<bool> {
    let Some(mounts) = spec.mounts_mut().as_mut() else {
        return Ok(false);
    };
    let mut changed = false;
    for (i, m) in mounts.iter_mut().enumerate() {
        let Some(opts) = m.options().clone() else {
            continue;
        };
        let mut kept = Vec::with_capacity(opts.len());
        let mut dropped = false;
        for opt in opts {
            let (kind, value, map) = match opt.split_once('=') {
                Some(("uid", v)) => ("uid", v, &maps.uid),
                Some(("gid", v)) => ("gid", v, &maps.gid),
                _ => {
                    kept.push(opt);
                    continue;
                }
            };
            let dest = m.destination().display();
            let id: u32 = value.parse().map_err(|_| {
                anyhow::anyhow!("mounts[{i}] ({dest}): option {opt:?} is not a numeric {kind}")
            })?;
            if is_mapped(id, map) {
                kept.push(opt);
            } else if map.iter().map(|r| u64::from(r.size)).sum::<u64>() == 1 {
                tracing::debug!("mounts[{i}] ({dest}): {opt} is not mapped: dropped");
                dropped = true;
            } else {
                bail!(
                    "mounts[{i}] ({dest}): option {opt} names a {kind} that {} does not map",
                    source.field(kind)
                );
            }
        }
        if dropped {
            m.set_options(Some(kept));
            changed = true;
        }
    }
    Ok(changed)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with_mounts(mounts: serde_json::Value) -> oci_spec::runtime::Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": mounts
        }))
        .unwrap()
    }

    fn options(spec: &oci_spec::runtime::Spec, i: usize) -> Vec<String> {
        spec.mounts().as_ref().unwrap()[i]
            .options()
            .clone()
            .unwrap()
    }

    #[test]
    fn unmapped_mount_ids_are_dropped_under_a_single_id_map() {
        let devpts = serde_json::json!([
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "newinstance", "mode=0620", "gid=5"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["uid=0", "gid=0", "mode=1777"]}
        ]);
        let single = Maps {
            uid: parse_map("0 1001 1"),
            gid: parse_map("0 1001 1"),
        };
        let mut s = spec_with_mounts(devpts.clone());
        assert!(adapt_mount_ids(&mut s, &single, MapSource::Inherited).unwrap());
        assert_eq!(options(&s, 0), ["nosuid", "newinstance", "mode=0620"]);
        assert_eq!(options(&s, 1), ["uid=0", "gid=0", "mode=1777"]);
        // nothing to change: the spec stays as it is
        assert!(!adapt_mount_ids(&mut s, &single, MapSource::Inherited).unwrap());

        let range = Maps {
            uid: parse_map("0 100000 65536"),
            gid: parse_map("0 100000 65536"),
        };
        let mut s = spec_with_mounts(devpts);
        assert!(!adapt_mount_ids(&mut s, &range, MapSource::Config).unwrap());
        assert_eq!(options(&s, 0).last().unwrap(), "gid=5");
    }

    #[test]
    fn an_unmapped_id_under_a_range_names_its_field() {
        let range = Maps {
            uid: parse_map("0 100000 1000"),
            gid: parse_map("0 100000 1000"),
        };
        for (opt, want) in [
            (
                "gid=5000",
                "names a gid that linux.gidMappings does not map",
            ),
            (
                "uid=5000",
                "names a uid that linux.uidMappings does not map",
            ),
            ("gid=x", "is not a numeric gid"),
        ] {
            let mut s = spec_with_mounts(serde_json::json!([
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": [opt]}
            ]));
            let e = adapt_mount_ids(&mut s, &range, MapSource::Config)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want) && e.contains("/dev/pts"), "{e}");
        }
    }

    #[test]
    fn initial_namespace_is_the_full_identity_map() {
        assert!(is_initial_map("         0          0 4294967295\n"));
        assert!(is_initial_map(""));
        // podman / unshare -Urm without subuid, and with a subuid range
        assert!(!is_initial_map("         0       1001          1\n"));
        assert!(!is_initial_map("0 1001 1\n1 100000 65536\n"));
        // root's identity, but not the whole range: a nested namespace
        assert!(!is_initial_map("0 0 65536\n"));
    }

    #[test]
    fn single_id_maps() {
        let m = |t: &str| Maps {
            uid: parse_map(t),
            gid: parse_map(t),
        };
        assert!(m("0 1001 1\n").single_id());
        assert!(!m("0 1001 1\n1 100000 65536\n").single_id());
        assert!(!m("0 0 4294967295\n").single_id());
        assert!(!m("").single_id());
        assert_eq!(
            parse_map(" 0 1001 1\n 5 7 2\n"),
            vec![
                IdRange {
                    inside: 0,
                    outside: 1001,
                    size: 1
                },
                IdRange {
                    inside: 5,
                    outside: 7,
                    size: 2
                }
            ]
        );
    }
}
