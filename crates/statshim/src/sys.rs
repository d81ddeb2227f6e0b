//! The kernel ABI the shim needs, declared by hand: the cdylib is built by
//! rustc alone (tracer/build.rs), without the libc crate.

use core::ffi::{c_char, c_int, c_long, c_void};

extern "C" {
    /// libc's `syscall(2)`: -1 and errno on failure.
    pub fn syscall(n: c_long, ...) -> c_long;
    pub fn fileno(f: *mut c_void) -> c_int;
    pub fn fdopen(fd: c_int, mode: *const c_char) -> *mut c_void;
    /// A weak reference in the cdylib (lib.rs): glibc before 2.34 has it in
    /// libdl, which a program need not load.
    pub fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
    /// glibc and musl both export it.
    pub fn __errno_location() -> *mut c_int;
    pub static mut environ: *mut *mut c_char;
}

#[cfg(target_arch = "x86_64")]
pub mod nr {
    use core::ffi::c_long;
    pub const NEWFSTATAT: c_long = 262;
    pub const STATX: c_long = 332;
    pub const OPENAT: c_long = 257;
    pub const MMAP: c_long = 9;
    pub const CLOSE: c_long = 3;
    pub const CHROOT: c_long = 161;
    pub const FACCESSAT: c_long = 269;
    pub const READ: c_long = 0;
    pub const WRITE: c_long = 1;
    pub const LSEEK: c_long = 8;
    pub const GETPID: c_long = 39;
    pub const GETTID: c_long = 186;
    pub const DUP3: c_long = 292;
    pub const MEMFD_CREATE: c_long = 319;
}

#[cfg(target_arch = "aarch64")]
pub mod nr {
    use core::ffi::c_long;
    pub const NEWFSTATAT: c_long = 79;
    pub const STATX: c_long = 291;
    pub const OPENAT: c_long = 56;
    pub const MMAP: c_long = 222;
    pub const CLOSE: c_long = 57;
    pub const CHROOT: c_long = 51;
    pub const FACCESSAT: c_long = 48;
    pub const READ: c_long = 63;
    pub const WRITE: c_long = 64;
    pub const LSEEK: c_long = 62;
    pub const GETPID: c_long = 172;
    pub const GETTID: c_long = 178;
    pub const DUP3: c_long = 24;
    pub const MEMFD_CREATE: c_long = 279;
}

/// Same number on every architecture (added in Linux 6.13).
pub const GETXATTRAT: c_long = 464;

pub const AT_FDCWD: c_int = -100;
pub const AT_SYMLINK_NOFOLLOW: c_int = 0x100;
pub const AT_NO_AUTOMOUNT: c_int = 0x800;
pub const AT_EMPTY_PATH: c_int = 0x1000;
pub const O_RDONLY_CLOEXEC: c_int = 0o2000000;
pub const O_CLOEXEC: c_int = 0o2000000;
pub const O_ACCMODE: c_int = 0o3;
pub const O_RDONLY: c_int = 0;
pub const O_WRONLY: c_int = 0o1;
pub const O_RDWR: c_int = 0o2;
pub const O_CREAT: c_int = 0o100;
pub const O_EXCL: c_int = 0o200;
pub const O_TRUNC: c_int = 0o1000;
pub const O_APPEND: c_int = 0o2000;
pub const O_PATH: c_int = 0o10000000;
pub const SEEK_SET: c_int = 0;
pub const MFD_CLOEXEC: c_int = 1;
pub const RTLD_NEXT: *mut c_void = -1isize as *mut c_void;
pub const PROT_READ: c_int = 1;
pub const MAP_SHARED: c_int = 1;
pub const R_OK: c_int = 4;

pub const STATX_BASIC_STATS: u32 = 0x7ff;
pub const STATX_UID: u32 = 0x8;
pub const STATX_GID: u32 = 0x10;

pub const S_IFMT: u32 = 0o170000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFDIR: u32 = 0o040000;

pub const EBADF: c_int = 9;
pub const EINVAL: c_int = 22;
pub const ERANGE: c_int = 34;
pub const ENOSYS: c_int = 38;
pub const ENODATA: c_int = 61;
pub const EOPNOTSUPP: c_int = 95;

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct StatxTimestamp {
    pub tv_sec: i64,
    pub tv_nsec: u32,
    pub reserved: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Statx {
    pub mask: u32,
    pub blksize: u32,
    pub attributes: u64,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub mode: u16,
    pub spare0: u16,
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub attributes_mask: u64,
    pub atime: StatxTimestamp,
    pub btime: StatxTimestamp,
    pub ctime: StatxTimestamp,
    pub mtime: StatxTimestamp,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub spare: [u64; 14],
}

/// `struct stat` as glibc and the kernel's newfstatat lay it out.
#[cfg(target_arch = "x86_64")]
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub pad0: i32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    pub st_blocks: i64,
    pub st_atime: i64,
    pub st_atime_nsec: i64,
    pub st_mtime: i64,
    pub st_mtime_nsec: i64,
    pub st_ctime: i64,
    pub st_ctime_nsec: i64,
    pub unused: [i64; 3],
}

#[cfg(target_arch = "aarch64")]
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_mode: u32,
    pub st_nlink: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub st_rdev: u64,
    pub pad1: u64,
    pub st_size: i64,
    pub st_blksize: i32,
    pub pad2: i32,
    pub st_blocks: i64,
    pub st_atime: i64,
    pub st_atime_nsec: i64,
    pub st_mtime: i64,
    pub st_mtime_nsec: i64,
    pub st_ctime: i64,
    pub st_ctime_nsec: i64,
    pub unused: [u32; 2],
}

/// glibc's `makedev`.
pub fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (u64::from(major), u64::from(minor));
    ((ma & 0xfff) << 8) | ((ma & !0xfff) << 32) | (mi & 0xff) | ((mi & !0xff) << 12)
}

/// `struct xattr_args` of getxattrat(2), with a zero tail that makes its size
/// `XATTRAT_USIZE`: the tracer's filter lets that size through.
#[repr(C)]
pub struct XattrArgs {
    pub value: u64,
    pub size: u32,
    pub flags: u32,
    pub zero: u64,
}
