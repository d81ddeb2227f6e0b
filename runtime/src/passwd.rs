//! HOME from the container's `/etc/passwd`, as runc sets it.
//!
//! Under the tracer libcontainer starts every process as uid 0 (the tracer
//! fakes the spec's user), so its own lookup would give `/root` to
//! `exec --user 1000:1000`. Like runc, a process whose environment has no
//! HOME (or an empty one) gets the home of its user's `/etc/passwd` entry,
//! or `/`. The file is the container's, read from the host: it is
//! resolved inside the rootfs (`openat2` with `RESOLVE_IN_ROOT`, no magic
//! links), must be a regular file, and only its first 4 MiB are read.
//! (runc reads it inside the container, after pivot_root; the rootfs seen
//! from the host lacks only what the container mounts over /etc.)

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use oci_spec::runtime::Process;

const MAX_BYTES: u64 = 4 << 20;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// Give `process` the HOME of its user from `rootfs`'s `/etc/passwd` when
/// its environment has none.
pub fn set_home(process: &mut Process, rootfs: &Path) {
    let mut env = process.env().clone().unwrap_or_default();
    let has_home = env
        .iter()
        .any(|kv| kv.strip_prefix("HOME=").is_some_and(|v| !v.is_empty()));
    if has_home {
        return;
    }
    env.retain(|kv| !kv.starts_with("HOME="));
    env.push(format!("HOME={}", home_of(rootfs, process.user().uid())));
    process.set_env(Some(env));
}

/// The home of `uid` in `rootfs`'s `/etc/passwd`; `/` when there is no such
/// entry or no readable file.
pub fn home_of(rootfs: &Path, uid: u32) -> String {
    read_passwd(rootfs)
        .and_then(|text| lookup(&text, uid))
        .unwrap_or_else(|| "/".to_string())
}

/// The home field of the first entry for `uid` (as getpwuid), if not empty.
fn lookup(text: &str, uid: u32) -> Option<String> {
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || f[2].parse::<u32>().ok()? != uid {
            return None;
        }
        Some(f[5].to_string()).filter(|h| !h.is_empty())
    })
}

fn read_passwd(rootfs: &Path) -> Option<String> {
    let root = open_dir(rootfs)?;
    // O_PATH first: opening a device node or a FIFO for reading could act
    // on it or block; only a regular file is opened for real.
    let how: [u64; 3] = [
        (libc::O_PATH | libc::O_CLOEXEC) as u64,
        0,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    ];
    // SAFETY: a NUL-terminated path and a struct open_how of the given size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c"etc/passwd".as_ptr(),
            how.as_ptr(),
            std::mem::size_of_val(&how),
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh fd we own.
    let path = File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    if !path.metadata().ok()?.file_type().is_file() {
        return None;
    }
    // Our own fd's magic link: the very file just checked.
    let file = File::open(format!("/proc/self/fd/{}", path.as_raw_fd())).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn open_dir(p: &Path) -> Option<OwnedFd> {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    // SAFETY: a NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    // SAFETY: a fresh fd we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        bob:x:1000:1000:,,,:/home/bob:/bin/sh\n\
        nohome:x:1001:1001:::/bin/sh\n\
        broken:x:1002\n";

    fn rootfs(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("rlrt-passwd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("etc")).unwrap();
        d
    }

    #[test]
    fn homes() {
        let r = rootfs("homes");
        std::fs::write(r.join("etc/passwd"), PASSWD).unwrap();
        assert_eq!(home_of(&r, 0), "/root");
        assert_eq!(home_of(&r, 1000), "/home/bob");
        assert_eq!(home_of(&r, 1001), "/");
        assert_eq!(home_of(&r, 1002), "/");
        assert_eq!(home_of(&r, 4242), "/");
        let _ = std::fs::remove_dir_all(&r);
    }

    #[test]
    fn stays_in_the_rootfs() {
        // An absolute symlink resolves inside the rootfs, not on the host.
        let r = rootfs("escape");
        std::fs::create_dir_all(r.join("srv")).unwrap();
        std::fs::write(r.join("srv/passwd"), "bob:x:1000:1000::/inside:/bin/sh\n").unwrap();
        symlink("/srv/passwd", r.join("etc/passwd")).unwrap();
        assert_eq!(home_of(&r, 1000), "/inside");
        // ../../.. cannot climb out either, and a missing file gives "/".
        std::fs::remove_file(r.join("etc/passwd")).unwrap();
        symlink("../../../../../../../etc/passwd", r.join("etc/passwd")).unwrap();
        assert_eq!(home_of(&r, 0), "/");
        // Not a regular file (a FIFO would block): "/".
        std::fs::remove_file(r.join("etc/passwd")).unwrap();
        let fifo = std::ffi::CString::new(r.join("etc/passwd").as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        assert_eq!(home_of(&r, 0), "/");
        let _ = std::fs::remove_dir_all(&r);
    }

    #[test]
    fn keeps_a_set_home() {
        let r = rootfs("env");
        std::fs::write(r.join("etc/passwd"), PASSWD).unwrap();
        let mut p = Process::default();
        let user = oci_spec::runtime::UserBuilder::default()
            .uid(1000u32)
            .gid(1000u32)
            .build()
            .unwrap();
        p.set_user(user);
        p.set_env(Some(vec!["PATH=/bin".into(), "HOME=".into()]));
        set_home(&mut p, &r);
        assert_eq!(
            p.env().as_deref(),
            Some(&["PATH=/bin".to_string(), "HOME=/home/bob".to_string()][..])
        );
        p.set_env(Some(vec!["HOME=/custom".into()]));
        set_home(&mut p, &r);
        assert_eq!(p.env().as_deref(), Some(&["HOME=/custom".to_string()][..]));
        let _ = std::fs::remove_dir_all(&r);
    }
}
