//! Owners of the inodes that cannot carry `user.rootlesscontainers`:
//! symlinks, FIFOs and sockets (the kernel allows user.* attributes only on
//! regular files and directories). They are kept in one private attribute
//! of the container's root directory, so that the next container shows the
//! same owner a user's `ln -s`, `mkfifo` or a service's socket got in this
//! one.
//!
//! A record is (inode number, ctime, uid, gid, path) for an inode on the
//! root's file system. The ctime validates it: a faked chown leaves the
//! inode untouched, while anything that replaces the inode or moves it
//! (unlink and a new inode with the same number, rename, link) changes the
//! ctime, and the kernel's owner shows again instead of a stale record's.
//! The path is only for pruning: before each write, a record whose path no
//! longer names that inode with that ctime goes (a service unlinks and
//! makes its socket again at each start; without pruning the attribute
//! would fill up with dead records).
//!
//! Only a container's tracer keeps it (its `/` is the container's root; the
//! host's `rootlessrt fakeroot` does not). Two tracers of one container (PID
//! 1 and an `exec`) re-read the attribute before each change, so a record
//! written by the other is kept. The workload can rewrite the attribute like
//! any file of its own: it then fools its own view, nothing more. A value
//! that does not parse is ignored line by line, and a record's path is
//! looked up without following any symlink and never under /proc, so a
//! forged path cannot make the tracer look at anything of its own.

use std::collections::HashMap;
use std::os::fd::AsRawFd;

/// The attribute, on the root directory (NUL-terminated).
pub const NAME_C: &[u8] = b"user.rootlessrt.owners\0";
const ROOT_C: &[u8] = b"/\0";
/// The first line of a value; a different one is another format.
const HEADER: &str = "rootlessrt-owners 1";
/// The largest value we write: ext4 keeps an attribute in one block.
const MAX_VALUE: usize = 3900;
/// openat2's RESOLVE_NO_SYMLINKS: no symlink anywhere in the path.
const RESOLVE_NO_SYMLINKS: u64 = 0x04;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    ctime: (i64, i64),
    uid: u32,
    gid: u32,
    /// Absolute, in the container; no newline.
    path: String,
}

#[derive(Debug)]
pub struct RootDb {
    dev: u64,
    records: HashMap<u64, Record>,
    warned: bool,
}

/// The records of a value: `ino sec nsec uid gid path` lines after the header.
fn parse(value: &[u8]) -> HashMap<u64, Record> {
    let mut out = HashMap::new();
    let Ok(text) = std::str::from_utf8(value) else {
        return out;
    };
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return out;
    }
    for line in lines {
        // The path is the rest of the line: it may hold spaces.
        let f: Vec<&str> = line.splitn(6, ' ').collect();
        let [ino, sec, nsec, uid, gid, path] = f[..] else {
            continue;
        };
        let rec = (|| {
            let r = Record {
                ctime: (sec.parse().ok()?, nsec.parse().ok()?),
                uid: uid.parse().ok()?,
                gid: gid.parse().ok()?,
                path: path.to_string(),
            };
            Some((ino.parse().ok()?, r))
        })();
        if let Some((ino, r)) = rec {
            out.insert(ino, r);
        }
    }
    out
}

fn format(records: &HashMap<u64, Record>) -> String {
    let mut inos: Vec<&u64> = records.keys().collect();
    inos.sort();
    let mut s = String::from(HEADER);
    for ino in inos {
        let r = &records[ino];
        let (sec, nsec) = r.ctime;
        s.push_str(&format!(
            "\n{ino} {sec} {nsec} {} {} {}",
            r.uid, r.gid, r.path
        ));
    }
    s
}

/// Whether `path` still names inode (dev, ino) with that ctime. The path
/// comes from the attribute, which the workload can write: it is resolved
/// with no symlink followed (so no magic link of ours either), its last
/// component opened itself, and never under /proc.
fn names(dev: u64, ino: u64, ctime: (i64, i64), path: &str) -> bool {
    if !path.starts_with('/') || path == "/proc" || path.starts_with("/proc/") {
        return false;
    }
    let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let res = crate::fsview::openat2(libc::AT_FDCWD, path.as_bytes(), flags, RESOLVE_NO_SYMLINKS);
    let Ok(fd) = res else {
        return false;
    };
    // SAFETY: zeroed stat is valid; `fd` is ours and open.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return false;
    }
    (st.st_dev, st.st_ino, (st.st_ctime, st.st_ctime_nsec)) == (dev, ino, ctime)
}

/// The root directory's attribute; empty when it has none or cannot be read.
fn read_value() -> Vec<u8> {
    let mut buf = vec![0u8; 65536];
    // SAFETY: NUL-terminated constants; buf is ours and sized as passed.
    let n = unsafe {
        libc::getxattr(
            ROOT_C.as_ptr().cast(),
            NAME_C.as_ptr().cast(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    buf.truncate(n.max(0) as usize);
    buf
}

fn write_value(value: &[u8]) -> Result<(), i32> {
    let (p, n) = (ROOT_C.as_ptr().cast(), NAME_C.as_ptr().cast());
    // SAFETY: NUL-terminated constants; value is ours.
    let rc = unsafe {
        if value.is_empty() {
            libc::removexattr(p, n)
        } else {
            libc::setxattr(p, n, value.as_ptr().cast(), value.len(), 0)
        }
    };
    if rc == 0 || (value.is_empty() && crate::owners::errno() == libc::ENODATA) {
        Ok(())
    } else {
        Err(crate::owners::errno())
    }
}

impl RootDb {
    /// The records of the root directory (`/` as this process sees it).
    pub fn load() -> Option<RootDb> {
        // SAFETY: zeroed stat is valid; a NUL-terminated constant path.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::stat(ROOT_C.as_ptr().cast(), &mut st) } != 0 {
            return None;
        }
        Some(RootDb {
            dev: st.st_dev,
            records: parse(&read_value()),
            warned: false,
        })
    }

    /// Every (dev, ino) with a record (for the stat shim's map).
    pub fn keys(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.records.keys().map(|&ino| (self.dev, ino))
    }

    /// The stored owner of an inode, when its record is still valid.
    pub fn get(&self, dev: u64, ino: u64, ctime: (i64, i64)) -> Option<(u32, u32)> {
        if dev != self.dev {
            return None;
        }
        self.records
            .get(&ino)
            .filter(|r| r.ctime == ctime)
            .map(|r| (r.uid, r.gid))
    }

    /// Whether an inode is on the root's file system (the only one kept).
    pub fn covers(&self, dev: u64) -> bool {
        dev == self.dev
    }

    /// Store (or with `None`, drop) the owner of the inode at `path`, its
    /// absolute path in the container. Err: it could not be written (the
    /// caller keeps the owner in memory).
    pub fn set(
        &mut self,
        ino: u64,
        ctime: (i64, i64),
        owner: Option<(u32, u32)>,
        path: &str,
    ) -> Result<(), String> {
        // What another tracer of this container wrote since, without the
        // records of inodes that are gone.
        let dev = self.dev;
        self.records = parse(&read_value());
        self.records.retain(|&i, r| names(dev, i, r.ctime, &r.path));
        let before = self.records.get(&ino).cloned();
        match owner {
            Some((uid, gid)) if !path.contains('\n') => {
                let path = path.to_string();
                self.records.insert(
                    ino,
                    Record {
                        ctime,
                        uid,
                        gid,
                        path,
                    },
                );
            }
            Some(_) => return Err("a path with a newline".into()),
            None => {
                self.records.remove(&ino);
            }
        }
        if self.records.get(&ino) == before.as_ref() {
            return Ok(());
        }
        let value = if self.records.is_empty() {
            String::new()
        } else {
            format(&self.records)
        };
        let res = if value.len() > MAX_VALUE {
            let n = self.records.len() - 1;
            Err(format!(
                "more than {n} live owners of symlinks, FIFOs and sockets"
            ))
        } else {
            write_value(value.as_bytes())
                .map_err(|e| std::io::Error::from_raw_os_error(e).to_string())
        };
        if res.is_err() {
            // Not on disk: the next change must not write it either.
            match before {
                Some(r) => self.records.insert(ino, r),
                None => self.records.remove(&ino),
            };
        }
        res
    }

    /// Say once why owners stay in memory only.
    pub fn warn_once(&mut self, why: &str) {
        if !self.warned {
            self.warned = true;
            eprintln!(
                "rootlessrt tracer: warning: cannot keep an owner of a symlink, FIFO or socket for the next container ({why}); keeping it in memory"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn rec(ctime: (i64, i64), uid: u32, gid: u32, path: &str) -> Record {
        Record {
            ctime,
            uid,
            gid,
            path: path.into(),
        }
    }

    #[test]
    fn round_trips_and_ignores_garbage() {
        let mut m = HashMap::new();
        m.insert(12, rec((1700000000, 5), 1000, 100, "/home/bob/a link"));
        m.insert(7, rec((-1, 0), 0, 42, "/run/s.sock"));
        let s = format(&m);
        assert!(s.starts_with(HEADER));
        assert_eq!(parse(s.as_bytes()), m);
        let bad = format!("{s}\nx 1 2 3 4 /p\n5 6 7\n\u{0}");
        assert_eq!(parse(bad.as_bytes()), m);
        assert!(parse(b"other-format 1\n1 2 3 4 5 /p").is_empty());
        assert!(parse(&[0xff, 0xfe]).is_empty());
    }

    #[test]
    fn a_record_is_valid_only_with_its_ctime_and_device() {
        let mut db = RootDb {
            dev: 3,
            records: HashMap::new(),
            warned: false,
        };
        db.records.insert(9, rec((10, 20), 1000, 1000, "/x"));
        assert_eq!(db.get(3, 9, (10, 20)), Some((1000, 1000)));
        assert_eq!(
            db.get(3, 9, (10, 21)),
            None,
            "the inode was replaced or moved"
        );
        assert_eq!(db.get(4, 9, (10, 20)), None, "another file system");
        assert_eq!(db.get(3, 8, (10, 20)), None);
    }

    #[test]
    fn a_path_names_its_inode_only_without_symlinks_or_proc() {
        let dir = std::env::temp_dir().join(format!("rootdb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("l");
        std::os::unix::fs::symlink("nowhere", &link).unwrap();
        let st = std::fs::symlink_metadata(&link).unwrap();
        let (dev, ino, ctime) = (st.dev(), st.ino(), (st.ctime(), st.ctime_nsec()));
        let p = link.to_str().unwrap();
        assert!(names(dev, ino, ctime, p), "the symlink itself");
        assert!(!names(dev, ino, (ctime.0, ctime.1 + 1), p), "another ctime");
        assert!(!names(dev, ino + 1, ctime, p), "another inode");
        let via = dir.join("via");
        std::os::unix::fs::symlink(&dir, &via).unwrap();
        let through = via.join("l");
        assert!(
            !names(dev, ino, ctime, through.to_str().unwrap()),
            "a symlink on the way"
        );
        assert!(!names(dev, ino, ctime, "relative/l"));
        let me = std::fs::symlink_metadata("/proc/self/exe").unwrap();
        let mine = (me.ctime(), me.ctime_nsec());
        assert!(
            !names(me.dev(), me.ino(), mine, "/proc/self/exe"),
            "never /proc"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
