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
mod fakeowner;

mod sys;

use core::ffi::{c_char, c_int, c_long, c_uint};
use core::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use fakeowner::shim::{map_has, LIB, LIB_C, MAP_BYTES, MAP_C, STATX_BYPASS, XATTRAT_USIZE};
use fakeowner::xattr;
use sys::*;

#[cfg(shim_cdylib)]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Unreachable by construction (no indexing can fail); never unwind into C.
    loop {}
}

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

const UNKNOWN: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
static MAP: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());

/// The tracer's owners map, mapped on first use; None turns the shim off
/// (not in a rootlessrt container, or an old kernel).
fn owners_map() -> Option<&'static [u8]> {
    match STATE.load(Ordering::Acquire) {
        ON => {
            let p = MAP.load(Ordering::Acquire);
            // SAFETY: a read-only shared mapping of MAP_BYTES that is never unmapped.
            Some(unsafe { core::slice::from_raw_parts(p, MAP_BYTES) })
        }
        OFF => None,
        _ => {
            let saved = errno();
            let p = map_owners();
            set_errno(saved);
            // Two threads may race here: each maps the file once, both valid.
            MAP.store(p, Ordering::Release);
            STATE.store(if p.is_null() { OFF } else { ON }, Ordering::Release);
            owners_map()
        }
    }
}

fn map_owners() -> *mut u8 {
    // SAFETY: raw open/mmap/close of a NUL-terminated constant path.
    unsafe {
        let fd = syscall(nr::OPENAT, AT_FDCWD, MAP_C.as_ptr(), O_RDONLY_CLOEXEC);
        if fd < 0 {
            return core::ptr::null_mut();
        }
        // Variadic: every argument at the width the kernel reads (long).
        let (prot, flags) = (PROT_READ as c_long, MAP_SHARED as c_long);
        let p = syscall(nr::MMAP, 0usize, MAP_BYTES, prot, flags, fd, 0usize);
        syscall(nr::CLOSE, fd);
        if p == -1 {
            core::ptr::null_mut()
        } else {
            p as *mut u8
        }
    }
}

fn turn_off() {
    STATE.store(OFF, Ordering::Release);
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
