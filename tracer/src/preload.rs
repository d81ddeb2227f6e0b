//! The in-process stat shim (crates/statshim): installed by a full-mode
//! container's tracer into the container's own /dev, preloaded into the
//! workload, and told through the owners map which inodes it must leave to
//! the tracer. See docs/tracer.md, "stat inside the workload".

use fakeowner::creds;
use fakeowner::shim::{DIR, LIB, MAP, MAP_BYTES};
use std::collections::HashMap;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::sync::atomic::AtomicU32;
use std::sync::atomic::{AtomicU8, Ordering};

/// The shim, built by build.rs.
static LIBRARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/statshim.so"));

/// The tracer's writable view of the owners map.
pub struct OwnersMap {
    ptr: *mut u8,
}

// SAFETY: the mapping is never unmapped and is only touched through atomics.
unsafe impl Send for OwnersMap {}
// SAFETY: as above.
unsafe impl Sync for OwnersMap {}

impl OwnersMap {
    /// From now on the shim leaves this inode to the tracer.
    pub fn mark(&self, dev: u64, ino: u64) {
        let b = fakeowner::shim::map_bit(libc::major(dev), libc::minor(dev), ino);
        // SAFETY: b / 8 < MAP_BYTES (map_bit's range); byte access is atomic.
        let byte = unsafe { AtomicU8::from_ptr(self.ptr.add(b / 8)) };
        byte.fetch_or(1 << (b % 8), Ordering::Relaxed);
    }
}

/// The tracer's side of the credentials table (fakeowner::creds): which
/// slot holds which thread.
pub struct CredsTable {
    words: &'static [AtomicU32],
    slots: HashMap<i32, usize>,
    free: Vec<usize>,
    used: usize,
    full_warned: bool,
}

// SAFETY: the mapping is never unmapped and is only touched through atomics.
unsafe impl Send for CredsTable {}

impl CredsTable {
    fn new(ptr: *mut u8) -> CredsTable {
        // SAFETY: a shared mapping of creds::BYTES, page-aligned, never
        // unmapped; the workload maps it read-only, so only we write, and
        // only through atomics.
        let words =
            unsafe { std::slice::from_raw_parts(ptr.cast::<AtomicU32>(), creds::BYTES / 4) };
        CredsTable::from_words(words)
    }

    fn from_words(words: &'static [AtomicU32]) -> CredsTable {
        CredsTable {
            words,
            slots: HashMap::new(),
            free: Vec::new(),
            used: 0,
            full_warned: false,
        }
    }

    /// The credentials of every thread without an entry.
    pub fn set_default(&mut self, ids: &creds::Ids) {
        creds::write(self.words, 0, 0, ids);
    }

    /// Thread `tid` has these IDs (not the default's).
    pub fn set(&mut self, tid: i32, ids: &creds::Ids) {
        let slot = match self.slots.get(&tid) {
            Some(&s) => s,
            None => {
                let s = match self.free.pop() {
                    Some(s) => s,
                    None if self.used + 1 < creds::SLOTS => {
                        self.used += 1;
                        self.used
                    }
                    None => {
                        if !self.full_warned {
                            self.full_warned = true;
                            eprintln!(
                                "rootlessrt tracer: warning: more than {} threads with \
                                 changed credentials: /proc/<pid>/status shows the default \
                                 IDs for the others",
                                creds::SLOTS - 1
                            );
                        }
                        return;
                    }
                };
                self.slots.insert(tid, s);
                s
            }
        };
        creds::write(self.words, slot, tid as u32, ids);
        creds::set_used(self.words, self.used);
    }

    /// Thread `tid` has the default IDs again, or is gone.
    pub fn remove(&mut self, tid: i32) {
        if let Some(s) = self.slots.remove(&tid) {
            creds::clear(self.words, s);
            self.free.push(s);
        }
    }
}

/// Is /dev a tmpfs of this container (not the host's devtmpfs, not a bind)
/// on which a library can be mapped executable?
fn private_dev_tmpfs() -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    // The last mount on /dev is the visible one.
    let dev = info.lines().rev().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        (f.get(4) == Some(&"/dev")).then_some(f)
    });
    let Some(f) = dev else { return false };
    let sep = f.iter().position(|x| *x == "-");
    let fstype = sep.and_then(|i| f.get(i + 1));
    let opts = f.get(5).copied().unwrap_or("");
    f.get(3) == Some(&"/") && fstype == Some(&"tmpfs") && !opts.split(',').any(|o| o == "noexec")
}

/// Dynamic loaders that honour LD_PRELOAD: with none of them in the root
/// (busybox-static images) no process could load the shim.
const LOADERS: &[&str] = &[
    "/lib64/ld-linux-x86-64.so.2",
    "/lib/ld-linux-aarch64.so.1",
    "/lib/ld-musl-x86_64.so.1",
    "/lib/ld-musl-aarch64.so.1",
];

/// What `install` made.
pub struct Shim {
    pub owners: OwnersMap,
    pub creds: CredsTable,
    /// The `LD_PRELOAD` entry for the workload's environment.
    pub preload: std::ffi::CString,
}

/// Put the library, the owners map and the credentials table in
/// /dev/.rootlessrt and return them with the `LD_PRELOAD` value for the
/// workload's environment (joined with any it already has), or None when
/// /dev is not ours to write or nothing could load it.
pub fn install(env: &[std::ffi::CString]) -> Option<Shim> {
    if !LOADERS.iter().any(|l| std::path::Path::new(l).exists()) || !private_dev_tmpfs() {
        return None;
    }
    std::fs::DirBuilder::new().mode(0o755).create(DIR).ok()?;
    let mut lib = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o555)
        .open(LIB)
        .ok()?;
    lib.write_all(LIBRARY).ok()?;
    let map = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(MAP)
        .ok()?;
    map.set_len(MAP_BYTES as u64).ok()?;
    let ptr = map_shared(map.as_raw_fd(), MAP_BYTES)?;
    let table = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(creds::PATH)
        .ok()?;
    table.set_len(creds::BYTES as u64).ok()?;
    let table = CredsTable::new(map_shared(table.as_raw_fd(), creds::BYTES)?);
    let old = env
        .iter()
        .find_map(|e| e.to_bytes().strip_prefix(b"LD_PRELOAD="))
        .filter(|v| !v.is_empty());
    let mut v = format!("LD_PRELOAD={LIB}").into_bytes();
    if let Some(old) = old {
        v.push(b':');
        v.extend_from_slice(old);
    }
    Some(Shim {
        owners: OwnersMap { ptr },
        creds: table,
        preload: std::ffi::CString::new(v).ok()?,
    })
}

/// mmap `len` bytes of `fd` shared and writable.
fn map_shared(fd: i32, len: usize) -> Option<*mut u8> {
    // SAFETY: a fresh shared mapping of a file we just sized; never unmapped.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    (p != libc::MAP_FAILED).then_some(p.cast())
}

/// The workload's environment with `LD_PRELOAD` set to `preload`.
pub fn with_preload(
    env: &[std::ffi::CString],
    preload: std::ffi::CString,
) -> Vec<std::ffi::CString> {
    let mut out: Vec<_> = env
        .iter()
        .filter(|e| !e.to_bytes().starts_with(b"LD_PRELOAD="))
        .cloned()
        .collect();
    out.push(preload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    #[test]
    fn the_library_is_a_shared_object() {
        assert_eq!(&LIBRARY[..4], b"\x7fELF");
        assert!(LIBRARY.len() < 256 * 1024);
    }

    #[test]
    fn preload_joins_an_existing_one() {
        let env = vec![
            CString::new("A=1").unwrap(),
            CString::new("LD_PRELOAD=/x.so").unwrap(),
        ];
        let v = CString::new(format!("LD_PRELOAD={LIB}:/x.so")).unwrap();
        let out = with_preload(&env, v.clone());
        assert_eq!(out, vec![CString::new("A=1").unwrap(), v]);
    }

    #[test]
    fn the_table_reuses_slots() {
        let words: &'static [AtomicU32] =
            Vec::from_iter((0..creds::SLOTS * creds::SLOT_WORDS).map(|_| AtomicU32::new(0))).leak();
        let mut t = CredsTable::from_words(words);
        let root = creds::Ids::new([0; 8], &[]);
        let bob = creds::Ids::new([1000; 8], &[1000]);
        t.set_default(&root);
        t.set(7, &bob);
        t.set(8, &bob);
        assert_eq!(creds::lookup(words, 8), Some(bob));
        t.remove(7);
        assert_eq!(creds::lookup(words, 7), Some(root));
        t.set(9, &bob);
        assert_eq!(t.used, 2);
        assert_eq!(creds::lookup(words, 9), Some(bob));
    }

    #[test]
    fn marks_reach_the_map() {
        let mut mem = vec![0u8; MAP_BYTES];
        let m = OwnersMap {
            ptr: mem.as_mut_ptr(),
        };
        m.mark(libc::makedev(8, 1), 1234);
        assert!(fakeowner::shim::map_has(&mem, 8, 1, 1234));
        assert!(!fakeowner::shim::map_has(&mem, 8, 1, 1235));
    }
}
