//! Fake ownership: the `user.rootlesscontainers` xattr, an in-memory map for
//! inodes that cannot carry it, device placeholders, and a (dev, ino, ctime) cache.

use crate::rootdb::RootDb;
use crate::xattr;
use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;

pub type Key = (u64, u64);

/// What the tracer shows for an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fake {
    pub uid: u32,
    pub gid: u32,
    /// Device placeholder: (S_IFCHR | S_IFBLK, rdev).
    pub dev: Option<(u32, u64)>,
}

/// The parts of a stat result the lookup needs.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub size: u64,
    pub ctime: (i64, i64),
    pub uid: u32,
    pub gid: u32,
}

impl Meta {
    pub fn from_stat(st: &libc::stat) -> Meta {
        Meta {
            dev: st.st_dev,
            ino: st.st_ino,
            mode: st.st_mode,
            size: st.st_size as u64,
            ctime: (st.st_ctime, st.st_ctime_nsec),
            uid: st.st_uid,
            gid: st.st_gid,
        }
    }
    pub fn from_statx(s: &libc::statx) -> Meta {
        Meta {
            dev: libc::makedev(s.stx_dev_major, s.stx_dev_minor),
            ino: s.stx_ino,
            mode: s.stx_mode.into(),
            size: s.stx_size,
            ctime: (s.stx_ctime.tv_sec, s.stx_ctime.tv_nsec.into()),
            uid: s.stx_uid,
            gid: s.stx_gid,
        }
    }
    fn key(&self) -> Key {
        (self.dev, self.ino)
    }
    fn kind(&self) -> u32 {
        self.mode & libc::S_IFMT
    }
    /// A regular file or directory: the only inodes that take user.* attributes.
    pub fn xattr_capable(&self) -> bool {
        matches!(self.kind(), libc::S_IFREG | libc::S_IFDIR)
    }
}

#[derive(Clone, Copy)]
struct Cached {
    ctime: (i64, i64),
    uid: Option<u32>,
    gid: Option<u32>,
    dev: Option<(u32, u64)>,
}

const CACHE_MAX: usize = 1 << 20;

#[derive(Default)]
pub struct Owners {
    /// Persist in xattrs and rewrite stat (Mode::Full).
    pub persist: bool,
    mem: HashMap<Key, (u32, u32)>,
    devs: HashMap<Key, (u32, u64)>,
    cache: HashMap<Key, Cached>,
    warned: bool,
    pub stats_cache_hits: u64,
    /// Inodes whose view is kept in `mem` or `devs` are marked here for the
    /// in-process stat shim, which cannot see them (preload.rs).
    pub shared: Option<crate::preload::OwnersMap>,
    /// Owners of symlinks, FIFOs and sockets kept for the next container
    /// (a container's tracer in Mode::Full; rootdb.rs).
    db: Option<RootDb>,
}

/// Read an xattr of the object a resolved `/proc/self/fd/N` path names
/// (fsview.rs: the magic link lands on the object, a symlink included);
/// Ok(None) when absent.
fn get_attr(path: &[u8], name: &[u8], buf: &mut [u8]) -> Result<Option<usize>, i32> {
    let (p, n) = (path.as_ptr().cast(), name.as_ptr().cast());
    // SAFETY: path and name are NUL-terminated (callers guarantee), buf is ours.
    let rc = unsafe { libc::getxattr(p, n, buf.as_mut_ptr().cast(), buf.len()) };
    if rc >= 0 {
        return Ok(Some(rc as usize));
    }
    match errno() {
        libc::ENODATA => Ok(None),
        e => Err(e),
    }
}

fn set_attr(path: &[u8], name: &[u8], val: Option<&[u8]>) -> Result<(), i32> {
    let (p, n) = (path.as_ptr().cast(), name.as_ptr().cast());
    // SAFETY: NUL-terminated path and name; val is ours.
    let rc = unsafe {
        match val {
            Some(v) => libc::setxattr(p, n, v.as_ptr().cast(), v.len(), 0),
            None => libc::removexattr(p, n),
        }
    };
    if rc == 0 || (val.is_none() && errno() == libc::ENODATA) {
        Ok(())
    } else {
        Err(errno())
    }
}

pub fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn parse_dev(v: &[u8]) -> Option<(u32, u64)> {
    xattr::parse_dev(v).map(|(kind, major, minor)| (kind, libc::makedev(major, minor)))
}

impl Owners {
    pub fn new(persist: bool) -> Owners {
        Owners {
            persist,
            ..Default::default()
        }
    }

    /// Keep the owners of symlinks, FIFOs and sockets on the root's file
    /// system in the root directory (only where `/` is the container's).
    pub fn keep_special_owners(&mut self) {
        if !self.persist {
            return;
        }
        self.db = RootDb::load();
        if let (Some(db), Some(map)) = (&self.db, &self.shared) {
            // The shim cannot read the records: it asks us for these inodes.
            for (dev, ino) in db.keys() {
                map.mark(dev, ino);
            }
        }
    }

    fn warn_once(&mut self, what: &str, e: i32) {
        if !self.warned {
            self.warned = true;
            eprintln!(
                "rootlessrt tracer: warning: cannot store {what} in an xattr ({}); keeping it in memory only",
                std::io::Error::from_raw_os_error(e)
            );
        }
    }

    /// The fake view of an inode reached through `path` (NUL-terminated).
    pub fn lookup(&mut self, path: &[u8], m: &Meta) -> Fake {
        let key = m.key();
        let mut fake = Fake {
            uid: m.uid,
            gid: m.gid,
            dev: self.devs.get(&key).copied(),
        };
        if let Some(&(u, g)) = self.mem.get(&key) {
            fake.uid = u;
            fake.gid = g;
            return fake;
        }
        if !self.persist {
            return fake;
        }
        if !m.xattr_capable() {
            if let Some((u, g)) = self
                .db
                .as_ref()
                .and_then(|db| db.get(m.dev, m.ino, m.ctime))
            {
                fake.uid = u;
                fake.gid = g;
            }
            return fake;
        }
        let c = match self.cache.get(&key) {
            Some(c) if c.ctime == m.ctime => {
                self.stats_cache_hits += 1;
                *c
            }
            _ => {
                let mut buf = [0u8; 64];
                let (mut uid, mut gid) = (None, None);
                if let Ok(Some(n)) = get_attr(path, xattr::NAME_C, &mut buf) {
                    match xattr::decode(&buf[..n]) {
                        Ok((u, g)) => {
                            uid = Some(u.unwrap_or(m.uid));
                            gid = Some(g.unwrap_or(m.gid));
                        }
                        Err(e) => eprintln!("rootlessrt tracer: warning: {e}"),
                    }
                }
                let mut dev = None;
                if m.kind() == libc::S_IFREG && m.size == 0 {
                    if let Ok(Some(n)) = get_attr(path, xattr::DEV_NAME_C, &mut buf) {
                        dev = parse_dev(&buf[..n]);
                    }
                }
                if self.cache.len() >= CACHE_MAX {
                    self.cache.clear();
                }
                let c = Cached {
                    ctime: m.ctime,
                    uid,
                    gid,
                    dev,
                };
                self.cache.insert(key, c);
                c
            }
        };
        if let Some(u) = c.uid {
            fake.uid = u;
        }
        if let Some(g) = c.gid {
            fake.gid = g;
        }
        if fake.dev.is_none() {
            fake.dev = c.dev;
        }
        fake
    }

    /// Record a new fake owner for the inode at `path` (after a successful chown).
    pub fn set_owner(&mut self, path: &[u8], m: &Meta, uid: u32, gid: u32) {
        let key = m.key();
        self.cache.remove(&key);
        if self.mem.contains_key(&key) || !m.xattr_capable() {
            // An owner equal to what the kernel shows needs no record (dpkg
            // lchowns every symlink it unpacks to root).
            let plain = if m.xattr_capable() {
                uid == 0 && gid == 0
            } else {
                (uid, gid) == (m.uid, m.gid)
            };
            if plain {
                self.mem.remove(&key);
            } else {
                self.remember(key, uid, gid);
            }
            if !m.xattr_capable() {
                self.keep_special(path, m, (!plain).then_some((uid, gid)));
            }
            return;
        }
        let val = xattr::encode(uid, gid);
        let val = Some(val.as_bytes()).filter(|v| !v.is_empty());
        if let Err(e) = set_attr(path, xattr::NAME_C, val) {
            self.warn_once("an owner", e);
            self.remember(key, uid, gid);
        }
    }

    /// Persist a special file's owner (None: the kernel's shows) in the
    /// root's records, when it is on the root's file system.
    /// `path`: our `/proc/self/fd/N` of the inode (NUL-terminated), whose
    /// target is its path in the container.
    fn keep_special(&mut self, path: &[u8], m: &Meta, owner: Option<(u32, u32)>) {
        let Some(db) = self.db.as_mut().filter(|db| db.covers(m.dev)) else {
            return;
        };
        let fd_link = std::ffi::OsStr::from_bytes(path.strip_suffix(&[0]).unwrap_or(path));
        let Ok(real) = std::fs::read_link(fd_link) else {
            return;
        };
        // Unlinked meanwhile, or not a path we can keep: memory only.
        let real = real
            .to_str()
            .filter(|p| p.starts_with('/') && !p.ends_with(" (deleted)"));
        let Some(real) = real else {
            return;
        };
        if let Err(why) = db.set(m.ino, m.ctime, owner, real) {
            db.warn_once(&why);
        }
    }

    fn remember(&mut self, key: Key, uid: u32, gid: u32) {
        self.mem.insert(key, (uid, gid));
        if let Some(map) = &self.shared {
            map.mark(key.0, key.1);
        }
    }

    /// Record a device placeholder created by mknod.
    pub fn add_device(&mut self, path: &[u8], m: &Meta, kind: u32, rdev: u64) {
        let key = m.key();
        self.cache.remove(&key);
        self.devs.insert(key, (kind, rdev));
        if let Some(map) = &self.shared {
            map.mark(key.0, key.1);
        }
        if self.persist {
            let c = if kind == libc::S_IFCHR { 'c' } else { 'b' };
            let v = format!("{c} {} {}", libc::major(rdev), libc::minor(rdev));
            if let Err(e) = set_attr(path, xattr::DEV_NAME_C, Some(v.as_bytes())) {
                self.warn_once("a device number", e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_records() {
        assert_eq!(
            parse_dev(b"c 1 3"),
            Some((libc::S_IFCHR, libc::makedev(1, 3)))
        );
        assert_eq!(
            parse_dev(b"b 8 0"),
            Some((libc::S_IFBLK, libc::makedev(8, 0)))
        );
        assert_eq!(parse_dev(b"x 1 2"), None);
        assert_eq!(parse_dev(b"c 1"), None);
    }
}
