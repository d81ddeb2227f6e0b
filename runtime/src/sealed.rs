//! Every process rootlessrt makes for a container runs from a sealed image
//! of this binary, never from the host file (CVE-2019-5736).
//!
//! The container's processes start as forks of the rootlessrt command that
//! builds them (`create`, `run`, `exec`), and the tracer stays the
//! container's PID 1 for its whole life. Had they the host binary as their
//! image, the workload could reach it through `/proc/<pid>/exe` — or make
//! the kernel run it for it, with a `#!/proc/self/exe` script as the
//! command — and overwrite it when the user can write it, or chmod it. So
//! these commands first replace themselves (`execveat`) with the same
//! binary seen through a read-only overlay of its directory, or, where no
//! overlay can be mounted, with a sealed memfd copy (`F_SEAL_WRITE`): both
//! refuse every write. The re-executed process also makes itself
//! non-dumpable before it forks anything, so its children (the init, the
//! tracer, `exec`'s tracer) cannot be ptraced nor have their `/proc/<pid>/
//! {mem,exe,environ,fd}` opened by a workload without `CAP_SYS_PTRACE`
//! (docs/security.md).
//!
//! Where the command runs in a user namespace it made itself (a rootless
//! container's outer one), it re-executes *after* entering it: a process's
//! mm belongs to the user namespace it exec'd in, and only then can the
//! user, who owns that namespace, still open the namespaces of the
//! non-dumpable init (`exec`, `ps`, `kill --all`).

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

/// The environment variable that tells the re-executed image where it is.
const MARKER: &str = "_RLRT_SEALED";

/// What the command had done when it re-executed itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resumed {
    /// The state root, resolved before any namespace change.
    pub root: PathBuf,
    /// The command entered (or joined) the container's outer user namespace,
    /// or made itself a private mount and cgroup view.
    pub outer: bool,
    /// The command's own account of what it decided (create: where the
    /// container's user namespace comes from).
    #[serde(default)]
    pub detail: String,
}

impl Resumed {
    fn encode(&self) -> OsString {
        OsString::from(serde_json::to_string(self).expect("serializable"))
    }

    fn decode(v: &[u8]) -> Option<Resumed> {
        serde_json::from_slice(v).ok()
    }
}

/// In the re-executed image: what the first one had done. The marker is
/// removed from the environment (nothing we start inherits it) and the
/// process becomes non-dumpable before it does anything else.
pub fn take() -> Option<Resumed> {
    let v = std::env::var_os(MARKER)?;
    // SAFETY (of the edition-2024 sense): single-threaded, first thing in main.
    std::env::remove_var(MARKER);
    let r = Resumed::decode(v.as_bytes())?;
    make_non_dumpable();
    Some(r)
}

/// PR_SET_DUMPABLE 0: inherited by every fork; only exec resets it, and a
/// container's workload starts with an exec of its own.
fn make_non_dumpable() {
    // SAFETY: plain prctl on ourselves.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
}

/// Replaces this process with a sealed image of its own binary: the same
/// arguments, the same environment plus the marker. Returns only on failure.
pub fn reexec(resumed: &Resumed) -> anyhow::Error {
    match image() {
        Ok(image) => reexec_from(image, resumed),
        Err(e) => e,
    }
}

/// The sealed image of this binary, made now (e.g. while this process can
/// still mount an overlay, before it joins a user namespace that cannot).
pub fn image() -> Result<OwnedFd> {
    sealed_image().context("cannot run from a sealed copy of rootlessrt")
}

/// `reexec` from an image made earlier.
pub fn reexec_from(image: OwnedFd, resumed: &Resumed) -> anyhow::Error {
    let argv: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.into_vec()).ok())
        .collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != MARKER)
        .filter_map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            CString::new(kv).ok()
        })
        .collect();
    let mut marker = MARKER.as_bytes().to_vec();
    marker.push(b'=');
    marker.extend(resumed.encode().into_vec());
    env.push(CString::new(marker).expect("no NUL in a path"));
    exec_fd(&image, &argv, &env)
}

/// execveat(fd, "", argv, envp, AT_EMPTY_PATH); returns the error.
fn exec_fd(image: &OwnedFd, argv: &[CString], env: &[CString]) -> anyhow::Error {
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut env_p: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    env_p.push(std::ptr::null());
    // SAFETY: NUL-terminated strings and NULL-terminated arrays that outlive
    // the call; on success it does not return.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            image.as_raw_fd(),
            c"".as_ptr(),
            argv_p.as_ptr(),
            env_p.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    anyhow!(
        "cannot execute the sealed copy of rootlessrt: {}",
        std::io::Error::last_os_error()
    )
}

/// An fd of this binary that nobody can write through: the overlay when
/// the kernel lets us mount one, else a sealed memfd copy.
fn sealed_image() -> Result<OwnedFd> {
    let exe = std::fs::read_link("/proc/self/exe").context("cannot read /proc/self/exe")?;
    match overlay_image(&exe) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            tracing::debug!("no read-only overlay of {}: {e}; copying it", exe.display());
            memfd_image()
        }
    }
}

/// The binary through a detached, read-only overlay whose layers are its
/// own directory and an empty tmpfs: the overlay has no upper layer, so it
/// can never be written, chmod-ed or remounted writable, and it is attached
/// nowhere. It costs two superblocks (~0.1 ms), where a copy of the binary
/// costs milliseconds.
fn overlay_image(exe: &Path) -> Result<OwnedFd> {
    let (dir, name) = match (exe.parent(), exe.file_name()) {
        (Some(d), Some(n)) if exe.is_absolute() => (d, n),
        _ => return Err(anyhow!("{} is not an absolute path", exe.display())),
    };
    let empty = mount::empty_tmpfs()?;
    let empty_path = format!("/proc/self/fd/{}", empty.as_raw_fd());
    let ctx = mount::fsopen("overlay")?;
    if mount::set_string(&ctx, "lowerdir+", dir.as_os_str().as_bytes()).is_ok() {
        mount::set_string(&ctx, "lowerdir+", empty_path.as_bytes())?;
    } else {
        // Before Linux 6.8: one colon-separated list, colons escaped.
        let mut list = escape_lower(dir.as_os_str().as_bytes());
        list.push(b':');
        list.extend_from_slice(empty_path.as_bytes());
        mount::set_string(&ctx, "lowerdir", &list)?;
    }
    let mnt = mount::create_and_mount(&ctx)?;
    let name = CString::new(name.as_bytes())?;
    // SAFETY: a NUL-terminated name relative to the mount fd we own.
    let fd = unsafe {
        libc::openat(
            mnt.as_raw_fd(),
            name.as_ptr(),
            libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error())
            .context("cannot open the binary in the overlay");
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn escape_lower(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 4);
    for &b in path {
        if b == b':' || b == b'\\' || b == b',' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// A sealed anonymous copy of the binary (no overlay: an old kernel, a
/// binary on a file system overlayfs refuses as a layer, or no mount
/// rights). Seals: no write, no resize, no further seal change.
fn memfd_image() -> Result<OwnedFd> {
    const MFD_EXEC: libc::c_uint = 0x10; // 6.3: ask for an executable memfd
    let name = c"rootlessrt";
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create with a NUL-terminated name; a new fd or -1.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), flags | MFD_EXEC) };
    if fd < 0 {
        // SAFETY: as above, for kernels without MFD_EXEC.
        fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("memfd_create");
    }
    // SAFETY: a fresh fd we own.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let src = std::fs::File::open("/proc/self/exe").context("cannot open /proc/self/exe")?;
    let mut left = src.metadata()?.len() as usize;
    while left > 0 {
        // SAFETY: in-kernel copy between two fds we own.
        let n = unsafe {
            libc::sendfile(
                memfd.as_raw_fd(),
                src.as_raw_fd(),
                std::ptr::null_mut(),
                left,
            )
        };
        if n <= 0 {
            return Err(std::io::Error::last_os_error()).context("cannot copy the binary");
        }
        left -= n as usize;
    }
    // Nobody may write it (the seals), nor give it attributes: setxattr
    // needs write permission, which no one but the host's root has.
    // SAFETY: fchmod on our fd.
    if unsafe { libc::fchmod(memfd.as_raw_fd(), 0o555) } != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot chmod the copy");
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our fd.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot seal the copy");
    }
    Ok(memfd)
}

/// The new mount API (fsopen/fsconfig/fsmount), which makes mounts that are
/// attached nowhere.
mod mount {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    use anyhow::{anyhow, Result};

    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
    const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
    const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

    /// The kernel's reason, read from the fs context, with the errno.
    fn err(ctx: Option<&OwnedFd>, what: &str) -> anyhow::Error {
        let e = std::io::Error::last_os_error();
        let mut msg = [0u8; 256];
        let n = ctx.map_or(-1, |c| {
            // SAFETY: reading the context's message log into our buffer.
            unsafe { libc::read(c.as_raw_fd(), msg.as_mut_ptr().cast(), msg.len()) }
        });
        if n > 0 {
            let text = String::from_utf8_lossy(&msg[..n as usize]);
            anyhow!("{what}: {e} ({})", text.trim())
        } else {
            anyhow!("{what}: {e}")
        }
    }

    fn owned(rc: libc::c_long, ctx: Option<&OwnedFd>, what: &str) -> Result<OwnedFd> {
        if rc < 0 {
            return Err(err(ctx, what));
        }
        // SAFETY: a fresh fd we own.
        Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) })
    }

    pub fn fsopen(fs: &str) -> Result<OwnedFd> {
        let name = std::ffi::CString::new(fs)?;
        // SAFETY: fsopen with a NUL-terminated name.
        let rc = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
        owned(rc, None, &format!("fsopen({fs})"))
    }

    pub fn set_string(ctx: &OwnedFd, key: &str, value: &[u8]) -> Result<()> {
        let k = std::ffi::CString::new(key)?;
        let v = std::ffi::CString::new(value)?;
        // SAFETY: NUL-terminated key and value for our context fd.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                FSCONFIG_SET_STRING,
                k.as_ptr(),
                v.as_ptr(),
                0,
            )
        };
        if rc < 0 {
            return Err(err(Some(ctx), &format!("fsconfig {key}")));
        }
        Ok(())
    }

    /// Creates the superblock and a read-only, nosuid, nodev mount of it.
    pub fn create_and_mount(ctx: &OwnedFd) -> Result<OwnedFd> {
        let null = std::ptr::null::<libc::c_char>();
        // SAFETY: FSCONFIG_CMD_CREATE takes no key or value.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                null,
                null,
                0,
            )
        };
        if rc < 0 {
            return Err(err(Some(ctx), "fsconfig create"));
        }
        let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
        // SAFETY: fsmount of our configured context.
        let rc =
            unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
        owned(rc, Some(ctx), "fsmount")
    }

    /// An empty, read-only tmpfs attached nowhere.
    pub fn empty_tmpfs() -> Result<OwnedFd> {
        let ctx = fsopen("tmpfs")?;
        set_string(&ctx, "size", b"4k")?;
        create_and_mount(&ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips() {
        for (root, outer, detail) in [
            ("/run/rootlessrt", false, "spec"),
            ("/tmp/a:b c/é", true, "outer:0:1000:0:1000"),
        ] {
            let r = Resumed {
                root: PathBuf::from(root),
                outer,
                detail: detail.into(),
            };
            assert_eq!(Resumed::decode(r.encode().as_bytes()), Some(r));
        }
        for bad in [&b""[..], b"1", b"1:", b"{}"] {
            assert_eq!(Resumed::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lower_dirs_are_escaped() {
        assert_eq!(escape_lower(b"/a:b\\c,d"), b"/a\\:b\\\\c\\,d".to_vec());
    }
}
