//! Where container state lives and how a container is looked up.
//!
//! libcontainer owns `<root>/<id>/` (state.json, its saved config, the notify
//! socket). rootlessrt keeps its own facts about a container (the bundle the
//! user gave, whether it runs in an outer user namespace, the tracer mode) in
//! `<root>/.rlrt-<id>/`, next to the rewritten config.json that libcontainer
//! was given when the user's spec had to be adapted (see `create.rs`). Each
//! container's files go with it; nothing shared stays in the root (a parent
//! directory would cost a block allocation and a discard each time it
//! comes and goes: ~4 ms on an ext4 with `discard`).

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use libcontainer::container::{Container, ContainerStatus};
use serde::{Deserialize, Serialize};

pub const MAX_ID_LEN: usize = 200;

/// The state root: `--root`, else (runc's choice of `/run/runc` or
/// `$XDG_RUNTIME_DIR/runc`) `$XDG_RUNTIME_DIR/rootlessrt` when it is set,
/// usable and [`honor_xdg`] says so, else `/run/rootlessrt` for root and a
/// private directory in /tmp for a user.
pub fn state_root(flag: Option<&Path>) -> Result<PathBuf> {
    let euid = nix::unistd::geteuid();
    let xdg = flag.is_none().then(xdg_runtime_dir).flatten();
    let root = match (flag, &xdg) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(x)) => x.join("rootlessrt"),
        (None, None) if euid.is_root() => PathBuf::from("/run/rootlessrt"),
        (None, None) => PathBuf::from(format!("/tmp/rootlessrt-{euid}")),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&root)
        .with_context(|| format!("cannot create state directory {}", root.display()))?;
    let meta = fs::metadata(&root)?;
    if flag.is_none() && meta.uid() != euid.as_raw() {
        bail!("state directory {} is not owned by you", root.display());
    }
    // Like runc, sticky in XDG_RUNTIME_DIR: the XDG spec lets the session
    // manager prune files there that are not.
    let mode = if xdg.is_some() { 0o1700 } else { 0o700 };
    if flag.is_none() && meta.permissions().mode() & 0o1077 != mode & 0o1000 {
        fs::set_permissions(&root, fs::Permissions::from_mode(mode))?;
    }
    root.canonicalize()
        .with_context(|| format!("state directory {}", root.display()))
}

/// runc's `shouldHonorXDGRuntimeDir`: a user's, and root's in a nested user
/// namespace (podman's, where `USER` is the real user's name) unless `USER`
/// says root; never real root's (`/run/user/0` would move root's state).
fn honor_xdg(euid_is_root: bool, nested: bool, user: Option<&str>) -> bool {
    !euid_is_root || (nested && user != Some("root"))
}

/// `$XDG_RUNTIME_DIR` when rootlessrt should and can keep its state there:
/// set, a directory, writable and searchable by us.
fn xdg_runtime_dir() -> Option<PathBuf> {
    let x = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty())?;
    let euid_is_root = nix::unistd::geteuid().is_root();
    let nested = euid_is_root && !crate::userns::in_initial_userns();
    let user = std::env::var("USER").ok();
    if !honor_xdg(euid_is_root, nested, user.as_deref()) {
        return None;
    }
    let x = PathBuf::from(x);
    let usable = x.is_dir()
        && nix::unistd::faccessat(
            None,
            &x,
            nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
            nix::fcntl::AtFlags::AT_EACCESS,
        )
        .is_ok();
    usable.then_some(x)
}

/// runc's rule: letters, digits and `_ + - .`, not `.` or `..`. We also cap
/// the length so that `<root>/<id>` stays a valid path component.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        bail!("invalid container id: the id is empty");
    }
    if id.len() > MAX_ID_LEN {
        bail!(
            "invalid container id: {} characters, at most {MAX_ID_LEN} allowed",
            id.len()
        );
    }
    let ok = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if !ok {
        bail!(
            "invalid container id {id:?}: only letters, digits and '_', '+', '-', '.' are allowed"
        );
    }
    // rootlessrt's own entries in the state root (.rlrt, .lock) start with
    // a dot: no container may be named like them.
    if id.starts_with('.') {
        bail!("invalid container id {id:?}: ids starting with '.' are reserved");
    }
    Ok(())
}

/// What rootlessrt itself records about a container.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Meta {
    /// The bundle the user passed (libcontainer may have been given a
    /// rewritten copy of its config).
    pub bundle: PathBuf,
    /// The container was built in a private mount + cgroup view (inside the
    /// outer user namespace we created, or the nested one rootlessrt was
    /// started in): it has no cgroup we manage, and `exec` rebuilds that
    /// view, joining the init's user namespace when it is not its own.
    pub outer_userns: bool,
    /// Tracer mode: off, ids or full.
    pub emulation: String,
    /// Pause done by SIGSTOP (no freezer cgroup available).
    #[serde(default)]
    pub paused_by_signal: bool,
    /// The init process's start time (clock ticks), to tell pid reuse apart.
    #[serde(default)]
    pub init_start_time: Option<u64>,
    /// The poststart and poststop hooks, which rootlessrt runs (hooks.rs).
    #[serde(default, skip_serializing_if = "crate::hooks::OwnHooks::is_empty")]
    pub hooks: crate::hooks::OwnHooks,
    /// config.json has no `process`: `start` fails (a placeholder waits).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_process: bool,
    /// The container's seccomp profile when our executor loads it (the
    /// tracer's child, or seccomp_late.rs), for `exec` to load it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
}

pub fn sidecar_dir(root: &Path, id: &str) -> PathBuf {
    root.join(format!(".rlrt-{id}"))
}

/// Where rootlessrt before 2026-12 kept it (containers created then).
fn legacy_sidecar_dir(root: &Path, id: &str) -> PathBuf {
    root.join(".rlrt").join(id)
}

impl Meta {
    pub fn load(root: &Path, id: &str) -> Option<Meta> {
        let data = fs::read(sidecar_dir(root, id).join("meta.json"))
            .or_else(|_| fs::read(legacy_sidecar_dir(root, id).join("meta.json")))
            .ok()?;
        serde_json::from_slice(&data).ok()
    }
    pub fn save(&self, root: &Path, id: &str) -> Result<()> {
        let dir = sidecar_dir(root, id);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let tmp = dir.join("meta.json.tmp");
        fs::write(&tmp, serde_json::to_vec(self)?)?;
        fs::rename(&tmp, dir.join("meta.json"))?;
        Ok(())
    }
}

/// A loaded container with our metadata next to libcontainer's state.
pub struct Handle {
    pub root: PathBuf,
    pub id: String,
    pub container: Container,
    pub meta: Meta,
}

impl Handle {
    pub fn load(root: &Path, id: &str) -> Result<Handle> {
        validate_id(id)?;
        let dir = root.join(id);
        if !dir.join("state.json").exists() {
            bail!("container {id:?} does not exist");
        }
        let mut container =
            Container::load(dir).map_err(|e| anyhow!("cannot load container {id:?}: {e}"))?;
        let meta = Meta::load(root, id).unwrap_or_else(|| Meta {
            bundle: container.bundle().clone(),
            ..Default::default()
        });
        // A recycled pid is not our init: treat the container as stopped.
        if let (Some(pid), Some(start)) = (container.pid(), meta.init_start_time) {
            if crate::procs::start_time(pid.as_raw()) != Some(start)
                && container.status() != ContainerStatus::Stopped
            {
                container.set_status(ContainerStatus::Stopped);
            }
        }
        Ok(Handle {
            root: root.to_path_buf(),
            id: id.to_string(),
            container,
            meta,
        })
    }

    pub fn status(&self) -> ContainerStatus {
        self.container.status()
    }

    pub fn pid(&self) -> Option<i32> {
        self.container.pid().map(|p| p.as_raw())
    }

    pub fn set_status(&mut self, status: ContainerStatus) -> Result<()> {
        self.container.set_status(status);
        save_in_place(&self.container)
            .with_context(|| format!("cannot save state of {:?}", self.id))
    }

    /// Removes every state file of the container (ours and libcontainer's).
    pub fn remove_state(&self) -> Result<()> {
        remove_state(&self.root, &self.id)
    }
}

/// Rewrites libcontainer's state.json without truncating it: ext4 flushes a
/// file whose data was truncated away and rewritten (auto_da_alloc), which
/// made every status change cost a block allocation now and a discard at
/// delete. A shorter state is padded with spaces, which JSON readers skip,
/// so a concurrent `state` never reads an empty file either.
pub fn save_in_place(container: &Container) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let path = libcontainer::container::State::file_path(&container.root);
    let mut data = serde_json::to_vec(&container.state)?;
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    let old_len = file.metadata()?.len() as usize;
    if data.len() < old_len {
        data.resize(old_len, b' ');
    }
    file.write_all_at(&data, 0)?;
    Ok(())
}

pub fn remove_state(root: &Path, id: &str) -> Result<()> {
    let legacy = legacy_sidecar_dir(root, id);
    for dir in [root.join(id), sidecar_dir(root, id), legacy.clone()] {
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", dir.display())),
        }
    }
    if let Some(parent) = legacy.parent() {
        let _ = fs::remove_dir(parent); // only when empty
    }
    Ok(())
}

pub fn status_str(s: ContainerStatus) -> &'static str {
    match s {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

/// An exclusive POSIX record lock on `<root>/.lock`. POSIX (not flock/OFD)
/// locks belong to the process and are not inherited by the container
/// processes libcontainer forks, so the lock ends with this command. The
/// file goes when the lock is released (a root keeps nothing between
/// commands): a waiter then holds a lock on an unlinked file, sees it, and
/// takes the lock again on the file that is linked now.
pub struct RootLock {
    path: PathBuf,
    _fd: OwnedFd,
}

impl RootLock {
    pub fn acquire(root: &Path) -> Result<RootLock> {
        let path = root.join(".lock");
        loop {
            let file = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode_0600()
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            lock_wait(&file)?;
            let held = file.metadata()?;
            let linked =
                fs::metadata(&path).is_ok_and(|m| m.dev() == held.dev() && m.ino() == held.ino());
            if linked {
                return Ok(RootLock {
                    path,
                    _fd: file.into(),
                });
            }
        }
    }
}

impl Drop for RootLock {
    /// Unlinked while still locked; the fd (and the lock) go right after.
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn lock_wait(file: &fs::File) -> Result<()> {
    let lock = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    loop {
        // SAFETY: the fd is open and `lock` is a valid flock struct.
        let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLKW, &lock) };
        if r == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err).context("cannot lock the state directory");
        }
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}
impl Mode0600 for fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

/// IDs of all containers under `root`.
pub fn list_ids(root: &Path) -> Vec<String> {
    let mut ids: Vec<String> = fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && root.join(n).join("state.json").exists())
        .collect();
    ids.sort();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_runtime_dir_like_runc() {
        assert!(honor_xdg(false, false, Some("alice")));
        assert!(honor_xdg(false, false, Some("root")));
        // root of the initial namespace keeps /run/rootlessrt
        assert!(!honor_xdg(true, false, Some("alice")));
        // podman's namespace: USER is the user's name (or unset)
        assert!(honor_xdg(true, true, Some("alice")));
        assert!(honor_xdg(true, true, None));
        assert!(!honor_xdg(true, true, Some("root")));
    }

    #[test]
    fn ids() {
        for good in ["a", "abc-1.2_3+x", "A"] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        let long = "x".repeat(1000);
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "a b",
            "é",
            ".rlrt",
            ".lock",
            ".x",
            long.as_str(),
        ] {
            let e = validate_id(bad).unwrap_err().to_string();
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
