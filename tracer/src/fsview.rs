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

/// A file named by a tracee, resolved once, as the tracee would see it
/// (`FsView::resolve`): every later operation (stat, chown, the owner
/// xattr) goes to this very object, never through the name again, so a
/// tracee cannot swap what the tracer checks for what it changes.
pub struct Resolved {
    /// The object itself: an O_PATH fd from openat2, or a copy of the
    /// tracee's own fd (an fd-taking call, AT_EMPTY_PATH).
    fd: OwnedFd,
    /// `/proc/self/fd/N` of `fd`, NUL-terminated, for the calls that only
    /// take a path (xattrs). The kernel lands on the object itself, a
    /// symlink included, without following it further.
    pub path: Vec<u8>,
}

impl Resolved {
    pub fn of(fd: OwnedFd) -> Resolved {
        let mut path = format!("/proc/self/fd/{}", fd.as_raw_fd()).into_bytes();
        path.push(0);
        Resolved { fd, path }
    }

    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// (dirfd, name, flags) naming the object itself for an *at call.
    pub(crate) fn at(&self) -> (i32, *const libc::c_char, i32) {
        (self.fd(), c"".as_ptr(), libc::AT_EMPTY_PATH)
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

/// Every cached pidfd (the fd budget, mem.rs).
pub fn forget_all() {
    pidfds().clear();
}

fn pidfd_of(via: Via, tid: i32) -> Option<(Arc<OwnedFd>, bool)> {
    if let Some(p) = pidfds().get(&tid) {
        return Some((p.clone(), false));
    }
    const PIDFD_THREAD: libc::c_long = libc::O_EXCL as libc::c_long; // 6.9
                                                                     // SAFETY: pidfd_open takes a pid and flags; a new fd or -1.
    let open = || {
        let mut fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tid, PIDFD_THREAD) };
        if fd < 0 {
            // SAFETY: as above (a thread-group leader works without PIDFD_THREAD).
            fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tid, 0) };
        }
        if fd < 0 {
            Err(errno())
        } else {
            Ok(fd)
        }
    };
    let fd = mem::retry_on_emfile(open).ok()?;
    // SAFETY: a fresh fd we own.
    let fd = Arc::new(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    if let Via::Notify { fd: l, id } = via {
        // The tid may have been reused since the notification.
        if !crate::notify::id_valid(l, id) {
            return None;
        }
    }
    let mut all = pidfds();
    if all.len() >= mem::cached_max() {
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
            // Out of fds: once more, with the caches emptied.
            libc::EMFILE | libc::ENFILE => mem::relieve_fd_pressure(),
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

/// fstat of a resolved object.
pub fn do_stat(r: &Resolved) -> Result<libc::stat, i32> {
    // SAFETY: zeroed stat is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let (at, name, flags) = r.at();
    // SAFETY: `name` is a static empty string; `at` is held open by `r`.
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
        self.owners().lookup(&r.path, m)
    }

    /// Resolve (dirfd, path) as the tracee would, to the object itself.
    /// `empty`: the call allows an empty path (AT_EMPTY_PATH).
    ///
    /// The tracer never resolves in its own context: relative paths start
    /// at the tracee's directory (a copy of its dirfd, or its cwd), absolute
    /// ones at the tracee's root (ours while nothing changed roots). It
    /// never follows a magic link (`/proc/<pid>/{exe,fd/N,cwd,root}`, which
    /// would be ours for `/proc/self` and could reach what the tracee may
    /// not), and it never acts on /proc, whose files describe whoever looks:
    /// both give `mem::DENIED`, and the call then runs as the tracee's own
    /// (the kernel checks it as usual; no fake owner is shown or kept
    /// there).
    pub fn resolve(
        &self,
        via: Via,
        tid: i32,
        dirfd: i32,
        path: &[u8],
        follow: bool,
        empty: bool,
    ) -> Result<Resolved, i32> {
        if path.is_empty() {
            if !empty {
                return Err(libc::ENOENT);
            }
            // The tracee's own open file (or its cwd): what it would act on.
            return base_dir(via, tid, dirfd).map(Resolved::of);
        }
        let mut flags = libc::O_PATH | libc::O_CLOEXEC;
        if !follow {
            flags |= libc::O_NOFOLLOW;
        }
        let fd = if path[0] == b'/' {
            if self.divergent.load(Ordering::Relaxed) {
                let root = open_path(&format!("/proc/{tid}/root"), libc::O_DIRECTORY)?;
                openat2(root.as_raw_fd(), path, flags, RESOLVE_IN_ROOT)?
            } else {
                openat2(libc::AT_FDCWD, path, flags, 0)?
            }
        } else {
            let base = base_dir(via, tid, dirfd)?;
            openat2(base.as_raw_fd(), path, flags, 0)?
        };
        if on_procfs(&fd) {
            return Err(mem::DENIED);
        }
        Ok(Resolved::of(fd))
    }

    /// The directory a new entry `path` goes in, resolved as `resolve` does,
    /// and the entry's name (NUL-terminated): where the tracer creates a
    /// file for the tracee (a device placeholder).
    pub fn resolve_parent(
        &self,
        via: Via,
        tid: i32,
        dirfd: i32,
        path: &[u8],
    ) -> Result<(Resolved, Vec<u8>), i32> {
        let trimmed = path.strip_suffix(b"/").unwrap_or(path);
        let (dir, name) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(0) => (&b"/"[..], &trimmed[1..]),
            Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
            None => (&b"."[..], trimmed),
        };
        if name.is_empty() || name == b"." || name == b".." {
            return Err(mem::DENIED); // the kernel says EEXIST or ENOENT
        }
        let parent = self.resolve(via, tid, dirfd, dir, true, false)?;
        let mut name = name.to_vec();
        name.push(0);
        Ok((parent, name))
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
        let mut st = do_stat(&r)?;
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
        // The sync flags stay; the rest was the resolution's business.
        let kflags = flags & libc::AT_STATX_SYNC_TYPE | empty;
        // SAFETY: zeroed statx is valid.
        let mut stx: libc::statx = unsafe { std::mem::zeroed() };
        // SAFETY: `name` is NUL-terminated and, like `at`, held by `r`; stx is ours.
        let rc = unsafe { libc::statx(at, name, kflags, mask | libc::STATX_BASIC_STATS, &mut stx) };
        if rc != 0 {
            return Err(errno());
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

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(dirfd, path, {flags, 0, resolve | RESOLVE_NO_MAGICLINKS}).
/// ELOOP (a magic link, or a real loop, which the kernel reports again) is
/// `mem::DENIED`: the tracee's own call does it.
pub(crate) fn openat2(dirfd: i32, path: &[u8], flags: i32, resolve: u64) -> Result<OwnedFd, i32> {
    if path.len() >= PATH_MAX {
        return Err(libc::ENAMETOOLONG);
    }
    let mut p = Vec::with_capacity(path.len() + 1);
    p.extend_from_slice(path);
    p.push(0);
    // struct open_how { u64 flags; u64 mode; u64 resolve; }
    let how: [u64; 3] = [flags as u64, 0, resolve | RESOLVE_NO_MAGICLINKS];
    let open = || {
        // SAFETY: `how` has the layout of struct open_how; the path is NUL-terminated.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                p.as_ptr(),
                how.as_ptr(),
                std::mem::size_of_val(&how),
            )
        };
        if fd < 0 {
            Err(errno())
        } else {
            // SAFETY: a fresh fd we own.
            Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
        }
    };
    mem::retry_on_emfile(open).map_err(|e| match e {
        libc::ELOOP => mem::DENIED,
        e => e,
    })
}

/// open(path, O_PATH | extra) of one of the tracee's own /proc links.
pub(crate) fn open_path(path: &str, extra: i32) -> Result<OwnedFd, i32> {
    let p = std::ffi::CString::new(path).map_err(|_| libc::EINVAL)?;
    mem::retry_on_emfile(|| {
        // SAFETY: NUL-terminated path.
        let fd = unsafe { libc::open(p.as_ptr(), libc::O_PATH | libc::O_CLOEXEC | extra) };
        if fd < 0 {
            Err(errno())
        } else {
            // SAFETY: a fresh fd we own.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }
    })
}

/// Where the tracee's relative paths start: a copy of its `dirfd`, or its
/// cwd for AT_FDCWD. Reaching them through /proc/<tid>/ follows the
/// tracee's own magic links, which is what the tracee itself uses.
fn base_dir(via: Via, tid: i32, dirfd: i32) -> Result<OwnedFd, i32> {
    if dirfd == libc::AT_FDCWD {
        return open_path(&format!("/proc/{tid}/cwd"), 0);
    }
    if dirfd < 0 {
        return Err(libc::EBADF);
    }
    match tracee_fd(via, tid, dirfd)? {
        Some(fd) => Ok(fd),
        None => open_path(&format!("/proc/{tid}/fd/{dirfd}"), 0).map_err(|e| match e {
            libc::ENOENT => libc::EBADF,
            e => e,
        }),
    }
}

/// Whether `fd` is on a proc file system.
fn on_procfs(fd: &OwnedFd) -> bool {
    // SAFETY: zeroed statfs is valid; fstatfs on our fd.
    let mut sf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::fstatfs(fd.as_raw_fd(), &mut sf) == 0 && sf.f_type == libc::PROC_SUPER_MAGIC }
}
