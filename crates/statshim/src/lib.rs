//! The stat family answered inside the workload's own process.
//!
//! In a full-mode container every stat is a seccomp notification to the
//! tracer: a round trip of about 6 µs on a VM, for a call that takes 1–2 µs.
//! The tracer preloads this library (`LD_PRELOAD`, see tracer/src/preload.rs)
//! into dynamically linked programs, where it does the tracer's work in the
//! caller: a statx the filter lets through (`STATX_BYPASS`), the owner xattr
//! read with getxattrat (which the filter does not trap), and the overlay
//! of tracer/src/fsview.rs. Whatever it cannot answer exactly as the tracer
//! would goes to the trapped syscall as before: an inode marked in the
//! owners map (its fake view lives in the tracer's memory), any error but
//! "no such attribute", a kernel without getxattrat. Static programs never
//! load it and are answered by the tracer.
//!
//! Built two ways: by cargo as an ordinary crate (tests, clippy), and by
//! tracer/build.rs through rustc alone with `--cfg shim_cdylib`, as a no_std
//! cdylib whose unmangled functions interpose glibc's.
#![cfg_attr(shim_cdylib, no_std)]
// The exported functions keep C's contract for their pointers.
#![allow(clippy::missing_safety_doc)]

#[cfg(shim_cdylib)]
#[path = "../../fakeowner/src/lib.rs"]
#[allow(dead_code)] // the tracer's half (creds::write...) is not ours
mod fakeowner;

mod procfs;
mod sys;

use core::ffi::{c_char, c_int, c_long, c_uint, c_void};
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use fakeowner::shim::{map_has, LIB, LIB_C, MAP_BYTES, MAP_C, STATX_BYPASS, XATTRAT_USIZE};
use fakeowner::xattr;
// For procfs.rs: a module of this crate in the cdylib, a crate otherwise.
use fakeowner::creds;
use sys::*;

#[cfg(shim_cdylib)]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Unreachable by construction (no indexing can fail); never unwind into C.
    loop {}
}

// dlsym may be absent (glibc before 2.34 keeps it in libdl): a weak
// reference resolves to null there instead of failing the load (the library
// is linked with BIND_NOW).
#[cfg(shim_cdylib)]
core::arch::global_asm!(".weak dlsym");

/// libcore's unwind tables name a personality routine; with panic=abort
/// nothing unwinds, but ld.so must still resolve the symbol.
#[cfg(shim_cdylib)]
#[no_mangle]
extern "C" fn rust_eh_personality() {}

fn errno() -> c_int {
    // SAFETY: the calling thread's errno.
    unsafe { *__errno_location() }
}

fn set_errno(e: c_int) {
    // SAFETY: as above.
    unsafe { *__errno_location() = e }
}

/// A file of the tracer's mapped on first use, shared by every thread: the
/// owners map here, the credentials table in procfs.rs.
pub(crate) struct LazyMap {
    state: AtomicU8,
    ptr: AtomicPtr<u8>,
    path: &'static [u8],
    len: usize,
}

const UNKNOWN: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

impl LazyMap {
    /// `path`: NUL-terminated; `len`: the bytes mapped.
    pub(crate) const fn new(path: &'static [u8], len: usize) -> LazyMap {
        LazyMap {
            state: AtomicU8::new(UNKNOWN),
            ptr: AtomicPtr::new(core::ptr::null_mut()),
            path,
            len,
        }
    }

    /// The mapping (`len` bytes, read-only, never unmapped), or None when
    /// the file cannot be mapped or [`LazyMap::turn_off`] was called.
    pub(crate) fn get(&self) -> Option<*mut u8> {
        match self.state.load(Ordering::Acquire) {
            ON => Some(self.ptr.load(Ordering::Acquire)),
            OFF => None,
            _ => {
                let p = map_file(self.path, self.len);
                // Two threads may race here: each maps the file once, both valid.
                self.ptr.store(p, Ordering::Release);
                let on = if p.is_null() { OFF } else { ON };
                self.state.store(on, Ordering::Release);
                self.get()
            }
        }
    }

    fn turn_off(&self) {
        self.state.store(OFF, Ordering::Release);
    }
}

static OWNERS: LazyMap = LazyMap::new(MAP_C, MAP_BYTES);

/// The tracer's owners map; None turns the shim off (not in a rootlessrt
/// container, or an old kernel).
fn owners_map() -> Option<&'static [u8]> {
    let p = OWNERS.get()?;
    // SAFETY: a read-only shared mapping of MAP_BYTES that is never unmapped.
    Some(unsafe { core::slice::from_raw_parts(p, MAP_BYTES) })
}

/// A read-only shared mapping of `len` bytes of the file at `path` (a
/// NUL-terminated constant), or null. Keeps errno.
fn map_file(path: &[u8], len: usize) -> *mut u8 {
    let saved = errno();
    // SAFETY: raw open/mmap/close of a NUL-terminated constant path.
    let p = unsafe {
        let fd = syscall(nr::OPENAT, AT_FDCWD, path.as_ptr(), O_RDONLY_CLOEXEC);
        if fd < 0 {
            set_errno(saved);
            return core::ptr::null_mut();
        }
        // Variadic: every argument at the width the kernel reads (long).
        let (prot, flags) = (PROT_READ as c_long, MAP_SHARED as c_long);
        let p = syscall(nr::MMAP, 0usize, len, prot, flags, fd, 0usize);
        syscall(nr::CLOSE, fd);
        p
    };
    set_errno(saved);
    if p == -1 {
        core::ptr::null_mut()
    } else {
        p as *mut u8
    }
}

fn turn_off() {
    OWNERS.turn_off();
}

/// What the tracer would show on top of the kernel's answer.
#[derive(Debug, Default, PartialEq, Eq)]
struct Overlay {
    uid: Option<u32>,
    gid: Option<u32>,
    /// Device placeholder: (S_IFCHR | S_IFBLK, major, minor).
    dev: Option<(u32, u32, u32)>,
}

/// Read one xattr of (dirfd, path): Ok(None) where the tracer's lookup also
/// sees none (absent, too long for its 64-byte buffer, no xattr support), Err
/// where only the tracer can tell.
fn read_attr(
    dirfd: c_int,
    path: *const c_char,
    at_flags: c_int,
    name: &[u8],
    buf: &mut [u8; 64],
) -> Result<Option<usize>, ()> {
    let args = XattrArgs {
        value: buf.as_mut_ptr() as u64,
        size: buf.len() as u32,
        flags: 0,
        zero: 0,
    };
    // SAFETY: name is NUL-terminated, args points to our buffer; path is the caller's.
    let rc = unsafe {
        syscall(
            GETXATTRAT,
            dirfd,
            path,
            at_flags,
            name.as_ptr(),
            &args as *const XattrArgs,
            XATTRAT_USIZE,
        )
    };
    if rc >= 0 {
        return Ok(Some((rc as usize).min(buf.len())));
    }
    match errno() {
        ENODATA | ERANGE | EOPNOTSUPP => Ok(None),
        ENOSYS => {
            turn_off();
            Err(())
        }
        _ => Err(()),
    }
}

/// The tracer's view of the inode statx described (Owners::lookup), or None
/// to ask the tracer.
fn overlay(
    map: &[u8],
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    stx: &Statx,
) -> Option<Overlay> {
    if map_has(map, stx.dev_major, stx.dev_minor, stx.ino) {
        return None;
    }
    let mut ov = Overlay::default();
    let kind = u32::from(stx.mode) & S_IFMT;
    if kind != S_IFREG && kind != S_IFDIR {
        return Some(ov);
    }
    let at_flags = flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH);
    let mut buf = [0u8; 64];
    if let Some(n) = read_attr(dirfd, path, at_flags, xattr::NAME_C, &mut buf).ok()? {
        // A bad value: the tracer warns about it.
        let (u, g) = xattr::decode(&buf[..n]).ok()?;
        ov.uid = u;
        ov.gid = g;
    }
    if kind == S_IFREG && stx.size == 0 {
        if let Some(n) = read_attr(dirfd, path, at_flags, xattr::DEV_NAME_C, &mut buf).ok()? {
            ov.dev = xattr::parse_dev(&buf[..n]);
        }
    }
    Some(ov)
}

fn to_stat(s: &Statx, ov: &Overlay) -> Stat {
    let mut st = Stat {
        st_dev: makedev(s.dev_major, s.dev_minor),
        st_ino: s.ino,
        st_nlink: s.nlink.into(),
        st_mode: s.mode.into(),
        st_uid: ov.uid.unwrap_or(s.uid),
        st_gid: ov.gid.unwrap_or(s.gid),
        st_rdev: makedev(s.rdev_major, s.rdev_minor),
        st_size: s.size as i64,
        st_blksize: s.blksize as _, // i64 on x86_64, i32 on aarch64
        st_blocks: s.blocks as i64,
        st_atime: s.atime.tv_sec,
        st_atime_nsec: s.atime.tv_nsec.into(),
        st_mtime: s.mtime.tv_sec,
        st_mtime_nsec: s.mtime.tv_nsec.into(),
        st_ctime: s.ctime.tv_sec,
        st_ctime_nsec: s.ctime.tv_nsec.into(),
        ..Stat::default()
    };
    if let Some((kind, major, minor)) = ov.dev {
        st.st_mode = (st.st_mode & !S_IFMT) | kind;
        st.st_rdev = makedev(major, minor);
    }
    st
}

fn apply_statx(s: &mut Statx, ov: &Overlay) {
    if s.mask & STATX_UID != 0 {
        s.uid = ov.uid.unwrap_or(s.uid);
    }
    if s.mask & STATX_GID != 0 {
        s.gid = ov.gid.unwrap_or(s.gid);
    }
    if let Some((kind, major, minor)) = ov.dev {
        s.mode = ((u32::from(s.mode) & !S_IFMT) | kind) as u16;
        s.rdev_major = major;
        s.rdev_minor = minor;
    }
}

/// fstatat answered here: Some(return value), or None to ask the tracer.
fn fstatat_here(
    map: &[u8],
    dirfd: c_int,
    path: *const c_char,
    buf: *mut Stat,
    flags: c_int,
) -> Option<c_int> {
    if buf.is_null() || flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT) != 0 {
        return None;
    }
    let saved = errno();
    let mut stx = Statx::default();
    // SAFETY: stx is ours; path is the caller's (a bad one is EFAULT).
    let rc = unsafe {
        syscall(
            nr::STATX,
            dirfd,
            path,
            flags,
            STATX_BASIC_STATS | STATX_BYPASS,
            &mut stx as *mut Statx,
        )
    };
    if rc != 0 {
        // statx fails exactly as newfstatat would (ENOENT, EACCES, EBADF, EFAULT...).
        return Some(-1);
    }
    let ov = overlay(map, dirfd, path, flags, &stx)?;
    // SAFETY: the caller's buffer for a struct stat, as fstatat(2) requires.
    unsafe { buf.write_unaligned(to_stat(&stx, &ov)) };
    set_errno(saved);
    Some(0)
}

fn fstatat_any(dirfd: c_int, path: *const c_char, buf: *mut Stat, flags: c_int) -> c_int {
    let rc = fstatat_owner(dirfd, path, buf, flags);
    if rc == 0 {
        // SAFETY: the call succeeded: `path` is a C string, `buf` a struct stat it filled.
        unsafe {
            let mut st = buf.read_unaligned();
            procfs::fix_owner(path, st.st_mode, &mut st.st_uid, &mut st.st_gid);
            buf.write_unaligned(st);
        }
    }
    rc
}

fn fstatat_owner(dirfd: c_int, path: *const c_char, buf: *mut Stat, flags: c_int) -> c_int {
    if let Some(map) = owners_map() {
        if let Some(rc) = fstatat_here(map, dirfd, path, buf, flags) {
            return rc;
        }
    }
    // SAFETY: the trapped call, answered by the tracer; arguments as given.
    unsafe { syscall(nr::NEWFSTATAT, dirfd, path, buf, flags) as c_int }
}

fn fstat_any(fd: c_int, buf: *mut Stat) -> c_int {
    if fd < 0 {
        // As glibc: a negative fd must not reach fstatat as AT_FDCWD.
        set_errno(EBADF);
        return -1;
    }
    fstatat_any(fd, c"".as_ptr(), buf, AT_EMPTY_PATH)
}

/// The legacy `__xstat` family's version argument.
fn version_ok(ver: c_int) -> bool {
    if cfg!(target_arch = "x86_64") {
        ver == 0 || ver == 1
    } else {
        ver == 0
    }
}

macro_rules! legacy {
    ($ver:expr, $call:expr) => {
        if version_ok($ver) {
            $call
        } else {
            set_errno(EINVAL);
            -1
        }
    };
}

/// C functions exported under each name (glibc's `*64` twins are aliases).
macro_rules! exports {
    ($($name:ident),+ = fn $args:tt $body:block) => {
        $(exports!(@one $name $args $body);)+
    };
    (@one $name:ident ($($arg:ident: $ty:ty),*) $body:block) => {
        #[cfg_attr(shim_cdylib, no_mangle)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int $body
    };
}

exports!(fstatat, fstatat64 = fn(dirfd: c_int, path: *const c_char, buf: *mut Stat, flags: c_int) {
    fstatat_any(dirfd, path, buf, flags)
});
exports!(stat, stat64 = fn(path: *const c_char, buf: *mut Stat) {
    fstatat_any(AT_FDCWD, path, buf, 0)
});
exports!(lstat, lstat64 = fn(path: *const c_char, buf: *mut Stat) {
    fstatat_any(AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW)
});
exports!(fstat, fstat64 = fn(fd: c_int, buf: *mut Stat) {
    fstat_any(fd, buf)
});
// Programs linked against glibc before 2.33 call these.
exports!(__xstat, __xstat64 = fn(ver: c_int, path: *const c_char, buf: *mut Stat) {
    legacy!(ver, fstatat_any(AT_FDCWD, path, buf, 0))
});
exports!(__lxstat, __lxstat64 = fn(ver: c_int, path: *const c_char, buf: *mut Stat) {
    legacy!(ver, fstatat_any(AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW))
});
exports!(__fxstat, __fxstat64 = fn(ver: c_int, fd: c_int, buf: *mut Stat) {
    legacy!(ver, fstat_any(fd, buf))
});
exports!(__fxstatat, __fxstatat64 = fn(
    ver: c_int,
    dirfd: c_int,
    path: *const c_char,
    buf: *mut Stat,
    flags: c_int
) {
    legacy!(ver, fstatat_any(dirfd, path, buf, flags))
});

#[cfg_attr(shim_cdylib, no_mangle)]
pub unsafe extern "C" fn statx(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mask: c_uint,
    buf: *mut Statx,
) -> c_int {
    let rc = statx_owner(dirfd, path, flags, mask, buf);
    if rc == 0 {
        // The call succeeded: `path` is a C string, `buf` the statx it filled.
        let mut s = buf.read_unaligned();
        let (mut uid, mut gid) = (s.uid, s.gid);
        procfs::fix_owner(path, u32::from(s.mode), &mut uid, &mut gid);
        if s.mask & STATX_UID != 0 {
            s.uid = uid;
        }
        if s.mask & STATX_GID != 0 {
            s.gid = gid;
        }
        buf.write_unaligned(s);
    }
    rc
}

unsafe fn statx_owner(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mask: c_uint,
    buf: *mut Statx,
) -> c_int {
    if let (Some(map), false) = (owners_map(), buf.is_null()) {
        let saved = errno();
        // The kernel writes the caller's buffer: a bad one is EFAULT, as without us.
        // The tracer also asks for the basic stats on top of `mask`.
        let rc = syscall(
            nr::STATX,
            dirfd,
            path,
            flags,
            mask | STATX_BASIC_STATS | STATX_BYPASS,
            buf,
        );
        if rc != 0 {
            return -1;
        }
        let mut s = buf.read_unaligned();
        if let Some(ov) = overlay(map, dirfd, path, flags, &s) {
            apply_statx(&mut s, &ov);
            buf.write_unaligned(s);
            set_errno(saved);
            return 0;
        }
    }
    syscall(nr::STATX, dirfd, path, flags, mask, buf) as c_int
}

/// The open family: the real call, then `/proc/.../status` made to show
/// the fake IDs (procfs.rs). Where dlsym finds the next definition (glibc's
/// or another preloaded library's) it makes the call, else openat(2) does,
/// as glibc would (without its cancellation point). `mode` is read as
/// glibc's variadic argument is: x86_64 and aarch64 pass it in the same
/// register either way, and it is only used with O_CREAT or O_TMPFILE.
///
/// The next definition of `name` (NUL-terminated), looked up once into
/// `slot`; None without dlsym (or without such a function).
fn next_fn(slot: &AtomicUsize, name: &[u8]) -> Option<usize> {
    const NONE: usize = 1;
    match slot.load(Ordering::Relaxed) {
        0 => {
            let dl: unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void = dlsym;
            // A weak symbol: null when absent. black_box keeps the compiler
            // from assuming a function's address is never null.
            let found = if core::hint::black_box(dl as usize) == 0 {
                0
            } else {
                let saved = errno();
                // SAFETY: dlsym with RTLD_NEXT and a C string.
                let p = unsafe { dlsym(RTLD_NEXT, name.as_ptr().cast()) } as usize;
                set_errno(saved);
                p
            };
            // Two threads may race: both find the same address.
            slot.store(if found == 0 { NONE } else { found }, Ordering::Relaxed);
            (found != 0).then_some(found)
        }
        NONE => None,
        p => Some(p),
    }
}

/// Calls with an fd made from `path`: only reads of status files change.
fn after_open(fd: c_int, path: *const c_char, flags: c_int) -> c_int {
    if fd >= 0 && flags & O_ACCMODE == O_RDONLY && flags & O_PATH == 0 {
        // SAFETY: the open succeeded, so `path` is a C string.
        unsafe { procfs::fake_status(fd, path, flags & O_CLOEXEC != 0) };
    }
    fd
}

/// One wrapper of the open family: `path` (open, open64), `at` (openat,
/// openat64), each with a variadic mode, and their fortified twins without it.
macro_rules! open_fn {
    ($name:ident, path) => {
        #[cfg_attr(shim_cdylib, no_mangle)]
        pub unsafe extern "C" fn $name(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
            open_fn!(@call $name, (path, flags, mode), unsafe extern "C" fn(*const c_char, c_int, ...) -> c_int, AT_FDCWD, path, flags, mode)
        }
    };
    ($name:ident, at) => {
        #[cfg_attr(shim_cdylib, no_mangle)]
        pub unsafe extern "C" fn $name(
            dirfd: c_int,
            path: *const c_char,
            flags: c_int,
            mode: c_uint,
        ) -> c_int {
            open_fn!(@call $name, (dirfd, path, flags, mode), unsafe extern "C" fn(c_int, *const c_char, c_int, ...) -> c_int, dirfd, path, flags, mode)
        }
    };
    ($name:ident, path2) => {
        #[cfg_attr(shim_cdylib, no_mangle)]
        pub unsafe extern "C" fn $name(path: *const c_char, flags: c_int) -> c_int {
            open_fn!(@call $name, (path, flags), unsafe extern "C" fn(*const c_char, c_int) -> c_int, AT_FDCWD, path, flags, 0)
        }
    };
    ($name:ident, at2) => {
        #[cfg_attr(shim_cdylib, no_mangle)]
        pub unsafe extern "C" fn $name(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
            open_fn!(@call $name, (dirfd, path, flags), unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int, dirfd, path, flags, 0)
        }
    };
    (@call $name:ident, ($($arg:expr),*), $fty:ty, $dirfd:expr, $path:expr, $flags:expr, $mode:expr) => {{
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let fd = match next_fn(&NEXT, concat!(stringify!($name), "\0").as_bytes()) {
            Some(f) => {
                // SAFETY: the next definition of this very function: same C signature.
                let f: $fty = core::mem::transmute(f);
                f($($arg),*)
            }
            None => syscall(nr::OPENAT, $dirfd, $path, $flags, $mode as c_long) as c_int,
        };
        after_open(fd, $path, $flags)
    }};
}
open_fn!(open, path);
open_fn!(open64, path);
open_fn!(openat, at);
open_fn!(openat64, at);
open_fn!(__open_2, path2);
open_fn!(__open64_2, path2);
open_fn!(__openat_2, at2);
open_fn!(__openat64_2, at2);

/// glibc's fopen opens with an internal call, not the interposable open:
/// the real one, then the same rewrite on its fd (dup3 onto it keeps the
/// FILE's fd number; nothing has been read through the FILE yet). Without
/// dlsym: open(2) with the mode's flags, then fdopen.
///
/// # Safety
/// As fopen(3); `name` is NUL-terminated.
unsafe fn fopen_any(
    slot: &AtomicUsize,
    name: &[u8],
    path: *const c_char,
    mode: *const c_char,
) -> *mut c_void {
    let f = match next_fn(slot, name) {
        Some(real) => {
            // SAFETY: the next definition of fopen or fopen64.
            let real: unsafe extern "C" fn(*const c_char, *const c_char) -> *mut c_void =
                core::mem::transmute(real);
            real(path, mode)
        }
        None => fopen_by_hand(path, mode),
    };
    if f.is_null() || mode.is_null() {
        return f;
    }
    let m = core::ffi::CStr::from_ptr(mode).to_bytes();
    if m.first() == Some(&b'r') && !m.contains(&b'+') {
        procfs::fake_status(fileno(f), path, m.contains(&b'e'));
    }
    f
}

/// fopen(3) as open(2) and fdopen(3), for a libc without dlsym (glibc
/// before 2.34 in a program that does not load libdl). The mode letters
/// glibc's fopen turns into open flags: r w a, `+`, `x` (O_EXCL), `e`
/// (O_CLOEXEC); fdopen parses the rest.
///
/// # Safety
/// `path` and `mode` are the caller's C strings (or null), as fopen takes them.
unsafe fn fopen_by_hand(path: *const c_char, mode: *const c_char) -> *mut c_void {
    let m = if mode.is_null() {
        &[][..]
    } else {
        core::ffi::CStr::from_ptr(mode).to_bytes()
    };
    let plus = m.contains(&b'+');
    let mut flags = match (m.first(), plus) {
        (Some(b'r'), false) => O_RDONLY,
        (Some(b'r'), true) => O_RDWR,
        (Some(b'w'), p) => (if p { O_RDWR } else { O_WRONLY }) | O_CREAT | O_TRUNC,
        (Some(b'a'), p) => (if p { O_RDWR } else { O_WRONLY }) | O_CREAT | O_APPEND,
        _ => {
            set_errno(EINVAL);
            return core::ptr::null_mut();
        }
    };
    for &c in m.iter().take_while(|&&c| c != b',') {
        match c {
            b'x' => flags |= O_EXCL,
            b'e' => flags |= O_CLOEXEC,
            _ => {}
        }
    }
    let fd = syscall(nr::OPENAT, AT_FDCWD, path, flags, 0o666 as c_long) as c_int;
    if fd < 0 {
        return core::ptr::null_mut();
    }
    let f = fdopen(fd, mode);
    if f.is_null() {
        let saved = errno();
        syscall(nr::CLOSE, fd);
        set_errno(saved);
    }
    f
}

#[cfg_attr(shim_cdylib, no_mangle)]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut c_void {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    fopen_any(&NEXT, b"fopen\0", path, mode)
}

#[cfg_attr(shim_cdylib, no_mangle)]
pub unsafe extern "C" fn fopen64(path: *const c_char, mode: *const c_char) -> *mut c_void {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    fopen_any(&NEXT, b"fopen64\0", path, mode)
}

/// After a chroot into a tree without this library, later execs would make
/// ld.so print an error for the missing LD_PRELOAD entry: drop it from the
/// environment (the tracer still answers every stat).
#[cfg_attr(shim_cdylib, no_mangle)]
pub unsafe extern "C" fn chroot(path: *const c_char) -> c_int {
    let rc = syscall(nr::CHROOT, path) as c_int;
    if rc == 0 {
        let saved = errno();
        if syscall(nr::FACCESSAT, AT_FDCWD, LIB_C.as_ptr(), R_OK) != 0 {
            forget_preload();
        }
        set_errno(saved);
    }
    rc
}

const PRELOAD: &[u8] = b"LD_PRELOAD=";
const ENTRY_MAX: usize = 4096;

/// Where the rewritten `LD_PRELOAD=` entry lives: `environ` keeps pointing at
/// it, and no allocation is safe here (chroot may run after vfork).
struct EntryBuf(core::cell::UnsafeCell<[u8; ENTRY_MAX]>);
// SAFETY: written only by forget_preload, which a process calls around chroot.
unsafe impl Sync for EntryBuf {}
static ENTRY: EntryBuf = EntryBuf(core::cell::UnsafeCell::new([0; ENTRY_MAX]));

/// `LD_PRELOAD=` value without our library (entries split on ':' or ' ',
/// rejoined with ':'), NUL-terminated in `out`; None if it does not fit.
fn without_lib(value: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    let mut put = |b: &[u8], n: &mut usize| -> Option<()> {
        out.get_mut(*n..*n + b.len())?.copy_from_slice(b);
        *n += b.len();
        Some(())
    };
    put(PRELOAD, &mut n)?;
    let mut first = true;
    for tok in value.split(|&c| c == b':' || c == b' ') {
        if tok.is_empty() || tok == LIB.as_bytes() {
            continue;
        }
        if !first {
            put(b":", &mut n)?;
        }
        put(tok, &mut n)?;
        first = false;
    }
    put(b"\0", &mut n)?;
    Some(n)
}

unsafe fn forget_preload() {
    let mut env = environ;
    if env.is_null() {
        return;
    }
    while !(*env).is_null() {
        let s = core::ffi::CStr::from_ptr(*env).to_bytes();
        if let Some(value) = s.strip_prefix(PRELOAD) {
            let mut tmp = [0u8; ENTRY_MAX];
            if without_lib(value, &mut tmp).is_some() {
                let dst = ENTRY.0.get();
                *dst = tmp;
                *env = dst.cast();
            }
            return;
        }
        env = env.add(1);
    }
}

#[cfg(test)]
mod tests;
