//! `/proc/<pid>/status` and the owner of `/proc/<pid>` with the fake IDs.
//!
//! The kernel's status file shows the real IDs (every process is root in
//! the container), and the tracer's filter cannot trap an open by its path
//! without trapping every open. So the open family is wrapped here: after
//! the real open succeeds (errors stay the kernel's), an absolute path of
//! the form `/proc/{<pid>,self,thread-self}[/task/<tid>]/status` opened for
//! reading is read whole, its `Uid:`, `Gid:` and `Groups:` lines rewritten
//! with the IDs the tracer publishes (fakeowner::creds), and the caller's fd
//! number made to point at a memfd holding the result. Every other open
//! costs one compare of its first bytes. A stat of such a directory
//! (`/proc/<pid>`, what procps takes a process's euid from) gets the
//! process's fake effective IDs as owner, as the kernel does for a dumpable
//! process.
//!
//! Relative paths (an openat under a /proc dirfd) are left alone.

use crate::creds::{self, Ids};
use crate::sys::*;
use core::ffi::{c_char, c_int, c_long};
use core::sync::atomic::AtomicU32;

const PREFIX: &[u8] = b"/proc/";

/// Whose IDs a path is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Pid,
    Tid,
    Num(u32),
}

impl Key {
    fn tid(self) -> u32 {
        // SAFETY: getpid and gettid take no arguments and cannot fail.
        match self {
            Key::Pid => unsafe { syscall(nr::GETPID) as u32 },
            Key::Tid => unsafe { syscall(nr::GETTID) as u32 },
            Key::Num(n) => n,
        }
    }
}

/// What a /proc path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A process's (or thread's) directory.
    Dir(Key),
    /// Its status file.
    Status(Key),
}

fn number(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || s[0] == b'0' {
        return None;
    }
    let mut n: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    u32::try_from(n).ok()
}

/// `/proc/{<pid>,self,thread-self}[/task/<tid>][/status]`, a trailing `/`
/// allowed after a directory.
pub fn parse(path: &[u8]) -> Option<Target> {
    let rest = path.strip_prefix(PREFIX)?;
    let (rest, slash) = match rest.strip_suffix(b"/") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let mut seg: [&[u8]; 4] = [b""; 4];
    let mut count = 0;
    for s in rest.split(|&c| c == b'/') {
        *seg.get_mut(count)? = s;
        count += 1;
    }
    let key = match seg[0] {
        b"self" => Key::Pid,
        b"thread-self" => Key::Tid,
        n => Key::Num(number(n)?),
    };
    let (key, tail) = if count >= 3 && seg[1] == b"task" && key != Key::Tid {
        (Key::Num(number(seg[2])?), &seg[3..count])
    } else {
        (key, &seg[1..count])
    };
    match tail {
        [] => Some(Target::Dir(key)),
        [b"status"] if !slash => Some(Target::Status(key)),
        _ => None,
    }
}

/// The caller's NUL-terminated path, if it starts with `/proc/`: the only
/// cost every other open or stat pays.
///
/// # Safety
/// `path` is a readable C string (the call that took it succeeded).
pub unsafe fn proc_path<'a>(path: *const c_char) -> Option<&'a [u8]> {
    if path.is_null() {
        return None;
    }
    let p = path.cast::<u8>();
    for (i, &b) in PREFIX.iter().enumerate() {
        // Stops at the first difference, so never reads past a shorter string's NUL.
        if *p.add(i) != b {
            return None;
        }
    }
    Some(core::ffi::CStr::from_ptr(path).to_bytes())
}

static TABLE: crate::LazyMap = crate::LazyMap::new(creds::PATH_C, creds::BYTES);

/// The tracer's credentials table; None outside a rootlessrt container (or
/// with a tracer that does not publish one).
fn table() -> Option<&'static [AtomicU32]> {
    let p = TABLE.get()?;
    // SAFETY: a read-only shared mapping of creds::BYTES, page-aligned,
    // never unmapped; the tracer writes it only through atomics.
    Some(unsafe { core::slice::from_raw_parts(p.cast::<AtomicU32>(), creds::BYTES / 4) })
}

/// The fake IDs of the thread a path names.
fn ids_of(key: Key) -> Option<Ids> {
    creds::lookup(table()?, key.tid())
}

/// After a successful stat of `path`: the owner of a /proc/<pid> directory
/// is the process's fake euid and egid.
///
/// # Safety
/// `path` is the C string the successful call took.
pub unsafe fn fix_owner(path: *const c_char, mode: u32, uid: &mut u32, gid: &mut u32) {
    if mode & S_IFMT != S_IFDIR {
        return;
    }
    let Some(Target::Dir(key)) = proc_path(path).and_then(parse) else {
        return;
    };
    if let Some(ids) = ids_of(key) {
        *uid = ids.ids[1];
        *gid = ids.ids[5];
    }
}

/// Append decimal `v` to out[*n..].
fn put_num(out: &mut [u8], n: &mut usize, v: u32) -> Option<()> {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut v = v;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    put(out, n, &digits[i..])
}

fn put(out: &mut [u8], n: &mut usize, b: &[u8]) -> Option<()> {
    out.get_mut(*n..*n + b.len())?.copy_from_slice(b);
    *n += b.len();
    Some(())
}

/// The status file `input` with its ID lines showing `ids`, in `out`, in
/// the kernel's format (fs/proc/array.c): `Uid:\t<r>\t<e>\t<s>\t<fs>`, and
/// `Groups:\t` with each group followed by a space.
pub fn rewrite(input: &[u8], ids: &Ids, out: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    for line in input.split_inclusive(|&c| c == b'\n') {
        let four = |out: &mut [u8], n: &mut usize, tag: &[u8], v: &[u32]| -> Option<()> {
            put(out, n, tag)?;
            for (i, id) in v.iter().enumerate() {
                put(out, n, if i == 0 { b":\t" } else { b"\t" })?;
                put_num(out, n, *id)?;
            }
            put(out, n, b"\n")
        };
        if line.starts_with(b"Uid:") {
            four(out, &mut n, b"Uid", &ids.ids[..4])?;
        } else if line.starts_with(b"Gid:") {
            four(out, &mut n, b"Gid", &ids.ids[4..])?;
        } else if line.starts_with(b"Groups:") {
            put(out, &mut n, b"Groups:\t")?;
            for (i, g) in ids.groups().iter().enumerate() {
                if i > 0 {
                    put(out, &mut n, b" ")?;
                }
                put_num(out, &mut n, *g)?;
            }
            put(out, &mut n, b" \n")?;
        } else {
            put(out, &mut n, line)?;
        }
    }
    Some(n)
}

const IN_MAX: usize = 6144;
const OUT_MAX: usize = IN_MAX + 1024;

/// `fd` was just opened for reading on `path`: if that is a status file,
/// make `fd` a memfd with the fake IDs in it (keeping FD_CLOEXEC as
/// `cloexec` says). Anything failing leaves the real file, at offset 0.
///
/// # Safety
/// `path` is the C string the successful open took.
pub unsafe fn fake_status(fd: c_int, path: *const c_char, cloexec: bool) {
    let Some(Target::Status(key)) = proc_path(path).and_then(parse) else {
        return;
    };
    let saved = crate::errno();
    if replace(fd, key, cloexec).is_none() {
        syscall(nr::LSEEK, fd, 0 as c_long, SEEK_SET);
    }
    crate::set_errno(saved);
}

/// The work of `fake_status`; None where it gave up.
///
/// # Safety
/// Raw syscalls on `fd` (the caller's, just opened) and on our own memfd,
/// with buffers on this stack: no allocation, since the caller may be a
/// vfork child or a signal handler.
unsafe fn replace(fd: c_int, key: Key, cloexec: bool) -> Option<()> {
    let ids = ids_of(key)?;
    let mut input = [0u8; IN_MAX];
    let mut len = 0;
    loop {
        let room = input.len() - len;
        if room == 0 {
            return None; // larger than any status file: leave it as it is
        }
        let r = syscall(nr::READ, fd, input.as_mut_ptr().add(len), room);
        if r < 0 {
            return None;
        }
        if r == 0 {
            break;
        }
        len += r as usize;
    }
    let mut out = [0u8; OUT_MAX];
    let n = rewrite(&input[..len], &ids, &mut out)?;
    let mfd = syscall(nr::MEMFD_CREATE, c"status".as_ptr(), MFD_CLOEXEC) as c_int;
    if mfd < 0 {
        return None;
    }
    let done = (|| {
        let mut off = 0;
        while off < n {
            let w = syscall(nr::WRITE, mfd, out.as_ptr().add(off), n - off);
            if w <= 0 {
                return None;
            }
            off += w as usize;
        }
        if syscall(nr::LSEEK, mfd, 0 as c_long, SEEK_SET) != 0 {
            return None;
        }
        // Atomically the caller's fd number: no window where it is closed.
        let flags = if cloexec { O_CLOEXEC } else { 0 };
        (syscall(nr::DUP3, mfd, fd, flags) == fd as c_long).then_some(())
    })();
    syscall(nr::CLOSE, mfd);
    done
}
