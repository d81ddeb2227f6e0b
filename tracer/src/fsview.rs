//! How the tracer sees a tracee's files: resolving a (dirfd, path) pair as
//! the tracee would, stat-ing it ourselves and overlaying the fake owner.
//!
//! Shared by the ptrace loop (chown, mknod, set-uid exec) and the seccomp
//! notification thread (the stat family), hence the lock around `Owners`.

use crate::mem::{self, Via};
use crate::owners::{errno, Fake, Meta, Owners};
use crate::syscalls::Sys;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

const PATH_MAX: usize = 4096;

/// A tracee path made usable by the tracer (NUL-terminated). `path` works
/// anywhere (xattr, chown); stat goes through `(at, path[rel..])`, which
/// skips the walk through /proc when we hold a copy of the tracee's dirfd.
pub struct Resolved {
    pub path: Vec<u8>,
    pub follow: bool,
    at: i32,
    rel: usize,
    _fd: Option<OwnedFd>,
}

impl Resolved {
    pub fn plain(path: Vec<u8>, follow: bool) -> Resolved {
        Resolved {
            path,
            follow,
            at: libc::AT_FDCWD,
            rel: 0,
            _fd: None,
        }
    }

    /// (dirfd, NUL-terminated name, AT_EMPTY_PATH if the name is empty) for an *at call.
    pub(crate) fn at(&self) -> (i32, *const libc::c_char, i32) {
        let name = &self.path[self.rel..];
        let empty = if name.len() <= 1 {
            libc::AT_EMPTY_PATH
        } else {
            0
        };
        (self.at, name.as_ptr().cast(), empty)
    }
}

/// pidfds of tracee threads, for pidfd_getfd: a copy of the tracee's fd is
/// cheaper to stat through than /proc/<tid>/fd/N. Forgotten when the tid exits.
static PIDFDS: LazyLock<Mutex<HashMap<i32, Arc<OwnedFd>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn pidfds() -> MutexGuard<'static, HashMap<i32, Arc<OwnedFd>>> {
    PIDFDS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The thread `tid` is gone.
pub fn forget(tid: i32) {
    pidfds().remove(&tid);
}

fn pidfd_of(via: Via, tid: i32) -> Option<(Arc<OwnedFd>, bool)> {
    if let Some(p) = pidfds().get(&tid) {
        return Some((p.clone(), false));
    }
    const PIDFD_THREAD: libc::c_long = libc::O_EXCL as libc::c_long; // 6.9
                                                                     // SAFETY: pidfd_open takes a pid and flags; a new fd or -1.
    let mut fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tid, PIDFD_THREAD) };
    if fd < 0 {
        // SAFETY: as above (a thread-group leader works without PIDFD_THREAD).
        fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tid, 0) };
    }
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh fd we own.
    let fd = Arc::new(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    if let Via::Notify { fd: l, id } = via {
        // The tid may have been reused since the notification.
        if !crate::notify::id_valid(l, id) {
            return None;
        }
    }
    let mut all = pidfds();
    if all.len() >= mem::CACHED {
        all.clear(); // dead tids nobody saw exit (untraced callers of the listener engine)
    }
    all.insert(tid, fd.clone());
    Some((fd, true))
}

/// A copy of the tracee's fd `fd`: Ok(None) when pidfds do not work here (use
/// /proc), Err(EBADF) when the tracee has no such fd.
fn tracee_fd(via: Via, tid: i32, fd: i32) -> Result<Option<OwnedFd>, i32> {
    for _ in 0..2 {
        let Some((pidfd, fresh)) = pidfd_of(via, tid) else {
            return Ok(None);
        };
        // SAFETY: pidfd_getfd(pidfd, targetfd, flags): a new fd or -1.
        let rc = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
        if rc >= 0 {
            // SAFETY: a fresh fd we own (close-on-exec is set by the kernel).
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as i32) }));
        }
        match errno() {
            libc::EBADF => return Err(libc::EBADF),
            // A stale cached pidfd (the thread exited): once more, fresh.
            libc::ESRCH if !fresh => forget(tid),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

pub struct FsView {
    owners: Mutex<Owners>,
    /// Some tracee changed root or namespaces: resolve absolute paths through /proc/<tid>/root.
    divergent: AtomicBool,
}

/// fstatat through a resolved path.
pub fn do_stat(r: &Resolved, extra_flags: i32) -> Result<libc::stat, i32> {
    // SAFETY: zeroed stat is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let (at, name, empty) = r.at();
    let flags = extra_flags
        | empty
        | if r.follow {
            0
        } else {
            libc::AT_SYMLINK_NOFOLLOW
        };
    // SAFETY: `name` is NUL-terminated and lives in `r`; `at` is held open by `r`.
    let rc = unsafe { libc::fstatat(at, name, &mut st, flags) };
    if rc == 0 {
        Ok(st)
    } else {
        Err(errno())
    }
}

fn bytes_of<T>(v: &T) -> &[u8] {
    // SAFETY: T is a plain-old-data kernel struct (stat/statx); we view its bytes.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

/// ENOENT through /proc/<tid>/fd/N means the fd does not exist: EBADF.
pub fn fix_errno(tid: i32, dirfd: i32, e: i32) -> i32 {
    if e == libc::ENOENT && dirfd >= 0 {
        let p = format!("/proc/{tid}/fd/{dirfd}\0");
        // SAFETY: zeroed stat is valid; NUL-terminated path.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::lstat(p.as_ptr().cast(), &mut st) } != 0 {
            return libc::EBADF;
        }
    }
    e
}

impl FsView {
    pub fn new(persist: bool, shared: Option<crate::preload::OwnersMap>) -> FsView {
        let mut owners = Owners::new(persist);
        owners.shared = shared;
        FsView {
            owners: Mutex::new(owners),
            divergent: AtomicBool::new(false),
        }
    }

    /// The owner store; a panic elsewhere must not wedge every later stat.
    pub fn owners(&self) -> MutexGuard<'_, Owners> {
        self.owners.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_divergent(&self) {
        self.divergent.store(true, Ordering::Relaxed);
    }

    pub fn fake_for(&self, r: &Resolved, m: &Meta) -> Fake {
        self.owners().lookup(&r.path, r.follow, m)
    }

    /// Resolve (dirfd, path) as the tracee would. `empty`: the call allows an empty path (AT_EMPTY_PATH).
    pub fn resolve(
        &self,
        via: Via,
        tid: i32,
        dirfd: i32,
        path: &[u8],
        follow: bool,
        empty: bool,
    ) -> Result<Resolved, i32> {
        let base = |v: &mut Vec<u8>| -> Result<(), i32> {
            use std::io::Write;
            if dirfd == libc::AT_FDCWD {
                let _ = write!(v, "/proc/{tid}/cwd");
            } else if dirfd >= 0 {
                let _ = write!(v, "/proc/{tid}/fd/{dirfd}");
            } else {
                return Err(libc::EBADF);
            }
            Ok(())
        };
        if dirfd >= 0 && (path.first() != Some(&b'/')) && (empty || !path.is_empty()) {
            if let Some(fd) = tracee_fd(via, tid, dirfd)? {
                use std::io::Write;
                let mut p = Vec::with_capacity(path.len() + 32);
                let _ = write!(p, "/proc/self/fd/{}", fd.as_raw_fd());
                let mut rel = p.len(); // the NUL: the fd itself
                if !path.is_empty() {
                    p.push(b'/');
                    rel += 1;
                    p.extend_from_slice(path);
                }
                p.push(0);
                return Ok(Resolved {
                    path: p,
                    follow: follow || path.is_empty(),
                    at: fd.as_raw_fd(),
                    rel,
                    _fd: Some(fd),
                });
            }
        }
        let mut p = Vec::with_capacity(path.len() + 32);
        if path.is_empty() {
            if !empty {
                return Err(libc::ENOENT);
            }
            base(&mut p)?;
            p.push(0);
            return Ok(Resolved::plain(p, true));
        }
        if path[0] == b'/' {
            if self.divergent.load(Ordering::Relaxed) {
                return resolve_in_root(tid, path, follow);
            }
            p.extend_from_slice(path);
        } else {
            base(&mut p)?;
            p.push(b'/');
            p.extend_from_slice(path);
        }
        p.push(0);
        Ok(Resolved::plain(p, follow))
    }

    /// The file a path-taking call names: `fd_call` for the fd-only forms
    /// (fchown, fstat); an empty or NULL path with AT_EMPTY_PATH means the
    /// dirfd itself.
    pub fn target(
        &self,
        via: Via,
        tid: i32,
        dirfd: i32,
        path_ptr: u64,
        flags: i32,
        fd_call: bool,
    ) -> Result<Resolved, i32> {
        let empty_ok = flags & libc::AT_EMPTY_PATH != 0;
        let mut path = Vec::new();
        if !(fd_call || (path_ptr == 0 && empty_ok)) {
            mem::read_cstr_via(via, tid, path_ptr, PATH_MAX - 1, &mut path)?;
        }
        if fd_call && dirfd < 0 {
            return Err(libc::EBADF);
        }
        let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
        self.resolve(via, tid, dirfd, &path, follow, empty_ok)
    }

    /// The stat family, done by the tracer and written to the tracee's buffer.
    /// `None` for any other call.
    pub fn answer(&self, via: Via, tid: i32, sys: Sys, a: &[u64; 6]) -> Option<Result<i64, i32>> {
        const CWD: u64 = libc::AT_FDCWD as u64;
        const NOFOLLOW: i32 = libc::AT_SYMLINK_NOFOLLOW;
        Some(match sys {
            Sys::Stat => self.stat(via, tid, CWD, a[0], a[1], 0, false),
            Sys::Lstat => self.stat(via, tid, CWD, a[0], a[1], NOFOLLOW, false),
            Sys::Fstat => self.stat(via, tid, a[0], 0, a[1], libc::AT_EMPTY_PATH, true),
            Sys::Newfstatat => self.stat(via, tid, a[0], a[1], a[2], a[3] as i32, false),
            Sys::Statx => self.statx(via, tid, a[0], a[1], a[2] as i32, a[3] as u32, a[4]),
            _ => return None,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn stat(
        &self,
        via: Via,
        tid: i32,
        dirfd: u64,
        path_ptr: u64,
        buf: u64,
        flags: i32,
        fd_call: bool,
    ) -> Result<i64, i32> {
        let dirfd = dirfd as i32;
        if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH | libc::AT_NO_AUTOMOUNT) != 0 {
            return Err(libc::EINVAL);
        }
        let r = self.target(via, tid, dirfd, path_ptr, flags, fd_call)?;
        let mut st =
            do_stat(&r, flags & libc::AT_NO_AUTOMOUNT).map_err(|e| fix_errno(tid, dirfd, e))?;
        let fake = self.fake_for(&r, &Meta::from_stat(&st));
        st.st_uid = fake.uid;
        st.st_gid = fake.gid;
        if let Some((kind, rdev)) = fake.dev {
            st.st_mode = (st.st_mode & !libc::S_IFMT) | kind;
            st.st_rdev = rdev;
        }
        mem::write_via(via, tid, buf, bytes_of(&st)).map(|_| 0)
    }

    #[allow(clippy::too_many_arguments)]
    fn statx(
        &self,
        via: Via,
        tid: i32,
        dirfd: u64,
        path_ptr: u64,
        flags: i32,
        mask: u32,
        buf: u64,
    ) -> Result<i64, i32> {
        let dirfd = dirfd as i32;
        let r = self.target(via, tid, dirfd, path_ptr, flags, false)?;
        let (at, name, empty) = r.at();
        let kflags = (flags & !(libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW))
            | empty
            | if r.follow {
                0
            } else {
                libc::AT_SYMLINK_NOFOLLOW
            };
        // SAFETY: zeroed statx is valid.
        let mut stx: libc::statx = unsafe { std::mem::zeroed() };
        // SAFETY: `name` is NUL-terminated and, like `at`, held by `r`; stx is ours.
        let rc = unsafe { libc::statx(at, name, kflags, mask | libc::STATX_BASIC_STATS, &mut stx) };
        if rc != 0 {
            return Err(fix_errno(tid, dirfd, errno()));
        }
        let fake = self.fake_for(&r, &Meta::from_statx(&stx));
        if stx.stx_mask & libc::STATX_UID != 0 {
            stx.stx_uid = fake.uid;
        }
        if stx.stx_mask & libc::STATX_GID != 0 {
            stx.stx_gid = fake.gid;
        }
        if let Some((kind, rdev)) = fake.dev {
            stx.stx_mode = ((u32::from(stx.stx_mode) & !libc::S_IFMT) | kind) as u16;
            stx.stx_rdev_major = libc::major(rdev);
            stx.stx_rdev_minor = libc::minor(rdev);
        }
        mem::write_via(via, tid, buf, bytes_of(&stx)).map(|_| 0)
    }
}

/// Absolute path of a tracee whose root may differ from ours: openat2(RESOLVE_IN_ROOT).
fn resolve_in_root(tid: i32, path: &[u8], follow: bool) -> Result<Resolved, i32> {
    let root = format!("/proc/{tid}/root\0");
    // SAFETY: NUL-terminated path.
    let rfd = unsafe {
        libc::open(
            root.as_ptr().cast(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if rfd < 0 {
        return Err(errno());
    }
    // SAFETY: rfd is a fresh fd we own.
    let _root = unsafe { OwnedFd::from_raw_fd(rfd) };
    let mut p = path.to_vec();
    p.push(0);
    // struct open_how { u64 flags; u64 mode; u64 resolve; }
    let how: [u64; 3] = [
        (libc::O_PATH | libc::O_CLOEXEC | if follow { 0 } else { libc::O_NOFOLLOW }) as u64,
        0,
        libc::RESOLVE_IN_ROOT,
    ];
    // SAFETY: `how` has the layout of struct open_how; the path is NUL-terminated.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            rfd,
            p.as_ptr(),
            how.as_ptr(),
            std::mem::size_of_val(&how),
        )
    };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: fresh fd.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut path = format!("/proc/self/fd/{}", fd.as_raw_fd()).into_bytes();
    path.push(0);
    Ok(Resolved {
        path,
        follow: true,
        at: libc::AT_FDCWD,
        rel: 0,
        _fd: Some(fd),
    })
}
