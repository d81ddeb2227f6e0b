use super::*;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

const EMPTY: [u8; MAP_BYTES] = [0; MAP_BYTES];

fn tmpdir(tag: &str) -> std::path::PathBuf {
    // Not /tmp: it may be a tmpfs without user xattrs on older kernels.
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/tmp")
        .join(format!("statshim-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn c(p: &std::path::Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

fn set_attr(p: &std::path::Path, name: &[u8], v: &[u8]) -> bool {
    // SAFETY: NUL-terminated path and name, our value.
    unsafe {
        libc::lsetxattr(
            c(p).as_ptr(),
            name.as_ptr().cast(),
            v.as_ptr().cast(),
            v.len(),
            0,
        ) == 0
    }
}

fn kernel_stat(p: &std::path::Path, flags: c_int) -> libc::stat {
    // SAFETY: zeroed stat is valid; NUL-terminated path.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        assert_eq!(libc::fstatat(AT_FDCWD, c(p).as_ptr(), &mut st, flags), 0);
        st
    }
}

fn ours(map: &[u8], p: &std::path::Path, flags: c_int) -> Option<(c_int, Stat)> {
    let mut st = Stat::default();
    fstatat_here(map, AT_FDCWD, c(p).as_ptr(), &mut st, flags).map(|rc| (rc, st))
}

#[test]
fn layout_matches_libc() {
    assert_eq!(
        std::mem::size_of::<Stat>(),
        std::mem::size_of::<libc::stat>()
    );
    assert_eq!(
        std::mem::size_of::<Statx>(),
        std::mem::size_of::<libc::statx>()
    );
    assert_eq!(std::mem::size_of::<XattrArgs>(), XATTRAT_USIZE);
    assert_eq!(makedev(8, 1), libc::makedev(8, 1));
    assert_eq!(makedev(259, 70000), libc::makedev(259, 70000));
}

#[test]
fn plain_file_reads_like_the_kernel() {
    let d = tmpdir("plain");
    let f = d.join("f");
    std::fs::write(&f, b"hello").unwrap();
    let (rc, st) = ours(&EMPTY, &f, 0).expect("answered here");
    assert_eq!(rc, 0);
    // SAFETY: Stat has the layout of libc::stat (checked above).
    let st: libc::stat = unsafe { std::mem::transmute(st) };
    let k = kernel_stat(&f, 0);
    assert_eq!(
        (
            st.st_dev,
            st.st_ino,
            st.st_mode,
            st.st_nlink,
            st.st_uid,
            st.st_gid,
            st.st_size
        ),
        (k.st_dev, k.st_ino, k.st_mode, k.st_nlink, k.st_uid, k.st_gid, k.st_size)
    );
    assert_eq!(
        (
            st.st_mtime,
            st.st_mtime_nsec,
            st.st_ctime,
            st.st_blocks,
            st.st_blksize
        ),
        (
            k.st_mtime,
            k.st_mtime_nsec,
            k.st_ctime,
            k.st_blocks,
            k.st_blksize
        )
    );
}

#[test]
fn owner_and_device_come_from_xattrs() {
    let d = tmpdir("owner");
    let f = d.join("owned");
    std::fs::write(&f, b"x").unwrap();
    // rootlessrt keeps owners in user xattrs: a filesystem without them is
    // a failure here, not a reason to skip.
    assert!(
        set_attr(&f, xattr::NAME_C, xattr::encode(42, 43).as_bytes()),
        "cannot set a user xattr on {f:?}"
    );
    let (_, st) = ours(&EMPTY, &f, 0).unwrap();
    assert_eq!((st.st_uid, st.st_gid), (42, 43));

    // umoci's "not overridden" uid keeps the kernel's.
    let k = kernel_stat(&f, 0);
    assert!(set_attr(
        &f,
        xattr::NAME_C,
        &[0x08, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x10, 7]
    ));
    let (_, st) = ours(&EMPTY, &f, 0).unwrap();
    assert_eq!((st.st_uid, st.st_gid), (k.st_uid, 7));

    // A bad value: left to the tracer, which warns.
    assert!(set_attr(&f, xattr::NAME_C, &[0x08]));
    assert!(ours(&EMPTY, &f, 0).is_none());

    let dev = d.join("null");
    std::fs::write(&dev, b"").unwrap();
    assert!(set_attr(&dev, xattr::DEV_NAME_C, b"c 1 3"));
    let (_, st) = ours(&EMPTY, &dev, 0).unwrap();
    assert_eq!(st.st_mode & S_IFMT, libc::S_IFCHR);
    assert_eq!(st.st_rdev, libc::makedev(1, 3));
    assert_eq!(st.st_mode & 0o7777, kernel_stat(&dev, 0).st_mode & 0o7777);
}

#[test]
fn marked_inodes_and_bad_flags_go_to_the_tracer() {
    let d = tmpdir("marked");
    let f = d.join("f");
    std::fs::write(&f, b"x").unwrap();
    let k = kernel_stat(&f, 0);
    let mut map = vec![0u8; MAP_BYTES];
    let b = fakeowner::shim::map_bit(libc::major(k.st_dev), libc::minor(k.st_dev), k.st_ino);
    map[b / 8] |= 1 << (b % 8);
    assert!(ours(&map, &f, 0).is_none());
    assert!(ours(&EMPTY, &f, 0x4).is_none(), "unknown flag");
    let mut st = Stat::default();
    let p = c(&f);
    assert!(fstatat_here(&EMPTY, AT_FDCWD, p.as_ptr(), std::ptr::null_mut(), 0).is_none());
    assert!(fstatat_here(&EMPTY, AT_FDCWD, p.as_ptr(), &mut st, 0).is_some());
}

#[test]
fn symlinks_and_errors() {
    let d = tmpdir("links");
    let f = d.join("target");
    std::fs::write(&f, b"x").unwrap();
    let l = d.join("link");
    std::os::unix::fs::symlink(&f, &l).unwrap();
    let (_, st) = ours(&EMPTY, &l, AT_SYMLINK_NOFOLLOW).unwrap();
    assert_eq!(st.st_mode & S_IFMT, libc::S_IFLNK);
    let (_, st) = ours(&EMPTY, &l, 0).unwrap();
    assert_eq!(st.st_mode & S_IFMT, S_IFREG);

    let (rc, _) = ours(&EMPTY, &d.join("missing"), 0).unwrap();
    assert_eq!((rc, errno()), (-1, libc::ENOENT));
    let (rc, _) = ours(&EMPTY, &f.join("below-a-file"), 0).unwrap();
    assert_eq!((rc, errno()), (-1, libc::ENOTDIR));

    // fstat of a descriptor, and of a bad one.
    let file = std::fs::File::open(&f).unwrap();
    let mut st = Stat::default();
    use std::os::fd::AsRawFd;
    let rc = fstatat_here(
        &EMPTY,
        file.as_raw_fd(),
        c"".as_ptr(),
        &mut st,
        AT_EMPTY_PATH,
    );
    assert_eq!(rc, Some(0));
    assert_eq!(st.st_ino, kernel_stat(&f, 0).st_ino);
    let rc = fstatat_here(&EMPTY, 987, c"".as_ptr(), &mut st, AT_EMPTY_PATH);
    assert_eq!((rc, errno()), (Some(-1), libc::EBADF));
}

#[test]
fn success_keeps_errno() {
    let d = tmpdir("errno");
    let f = d.join("f");
    std::fs::write(&f, b"x").unwrap();
    set_errno(libc::EINTR);
    let (rc, _) = ours(&EMPTY, &f, 0).unwrap();
    assert_eq!((rc, errno()), (0, libc::EINTR));
}

#[test]
fn preload_entry_loses_only_the_shim() {
    let mut out = [0u8; 256];
    let n = without_lib(format!("{LIB}:/x/a.so /y/b.so").as_bytes(), &mut out).unwrap();
    assert_eq!(&out[..n], b"LD_PRELOAD=/x/a.so:/y/b.so\0");
    let n = without_lib(LIB.as_bytes(), &mut out).unwrap();
    assert_eq!(&out[..n], b"LD_PRELOAD=\0");
    let n = without_lib(format!("/x/a.so:{LIB}").as_bytes(), &mut out).unwrap();
    assert_eq!(&out[..n], b"LD_PRELOAD=/x/a.so\0");
    assert!(without_lib(&[b'a'; 300], &mut out).is_none());
}

#[test]
fn proc_paths() {
    use procfs::{parse, Key, Target};
    let p = |s: &str| parse(s.as_bytes());
    assert_eq!(p("/proc/self/status"), Some(Target::Status(Key::Pid)));
    assert_eq!(
        p("/proc/thread-self/status"),
        Some(Target::Status(Key::Tid))
    );
    assert_eq!(p("/proc/42/status"), Some(Target::Status(Key::Num(42))));
    assert_eq!(
        p("/proc/42/task/43/status"),
        Some(Target::Status(Key::Num(43)))
    );
    assert_eq!(
        p("/proc/self/task/43/status"),
        Some(Target::Status(Key::Num(43)))
    );
    assert_eq!(p("/proc/42"), Some(Target::Dir(Key::Num(42))));
    assert_eq!(p("/proc/42/"), Some(Target::Dir(Key::Num(42))));
    assert_eq!(p("/proc/self"), Some(Target::Dir(Key::Pid)));
    assert_eq!(p("/proc/42/task/43"), Some(Target::Dir(Key::Num(43))));
    for no in [
        "/proc/",
        "/proc/042/status",
        "/proc/42/status/",
        "/proc/42/stat",
        "/proc/42/task",
        "/proc/thread-self/task/3/status",
        "/proc/42/task/43/status/x",
        "/proc/4294967296/status",
        "/proc/self/../1/status",
        "/proc/sys/kernel",
        "/procx/1/status",
        "proc/1/status",
    ] {
        assert_eq!(p(no), None, "{no}");
    }
}

#[test]
fn status_lines_rewritten_in_the_kernels_format() {
    let input = b"Name:\tbash\nUmask:\t0022\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t256\nGroups:\t0 4 \nNStgid:\t7\n";
    let ids = creds::Ids::new(
        [1000, 1001, 1002, 1003, 100, 101, 102, 4294967294],
        &[24, 27],
    );
    let mut out = [0u8; 512];
    let n = procfs::rewrite(input, &ids, &mut out).unwrap();
    assert_eq!(
        std::str::from_utf8(&out[..n]).unwrap(),
        "Name:\tbash\nUmask:\t0022\nUid:\t1000\t1001\t1002\t1003\n\
         Gid:\t100\t101\t102\t4294967294\nFDSize:\t256\nGroups:\t24 27 \nNStgid:\t7\n"
    );
    let none = creds::Ids::new([0; 8], &[]);
    let n = procfs::rewrite(b"Groups:\t0 \n", &none, &mut out).unwrap();
    assert_eq!(&out[..n], b"Groups:\t \n");
    // Too small an output: give up rather than cut.
    assert_eq!(procfs::rewrite(input, &ids, &mut out[..20]), None);
}

#[test]
fn proc_prefix_is_checked_without_reading_past_the_end() {
    // SAFETY: NUL-terminated literals.
    unsafe {
        assert_eq!(procfs::proc_path(c"/pr".as_ptr()), None);
        assert_eq!(procfs::proc_path(c"/etc/passwd".as_ptr()), None);
        assert_eq!(
            procfs::proc_path(c"/proc/1/status".as_ptr()),
            Some(&b"/proc/1/status"[..])
        );
    }
}
