//! POSIX ACLs that name container IDs.
//!
//! The kernel keeps an ACL entry only for an ID the user namespace maps:
//! `setfacl -m g:adm:rx` in a single-ID container fails with EINVAL. The
//! tracer takes the `system.posix_acl_access` / `system.posix_acl_default`
//! calls (get, set, remove and their l/f/`*at` forms, already trapped in
//! Mode::Full) and splits each ACL in two:
//!
//! - the real file gets what the kernel can represent: the entries of mapped
//!   IDs, the owner, group, mask and other entries. The kernel then keeps the
//!   mode bits and those entries consistent itself (chmod changes the mask),
//!   and lets new files inherit a default ACL's real part with the right
//!   mode; `ls -l` shows the `+` because the real ACL is an extended one;
//! - the whole ACL goes to a private attribute (`user.rootlessrt.acl_access`,
//!   `user.rootlessrt.acl_default`), hidden like the owner attribute.
//!
//! Read back, an ACL is the real one plus the private one's entries for
//! unmapped IDs. A private attribute only counts while the real ACL exists
//! (an extended ACL is always stored for real), so an ACL removed behind the
//! tracer's back does not come back. A file that inherited a default ACL's
//! real part (it has a real ACL but no private one) gets the unmapped entries
//! of the default ACL of the directory it is found in.
//!
//! Access itself is decided by the kernel: the workload is root in its user
//! namespace, with DAC override, whatever its fake identity.

use crate::arch::Regs;
use crate::creds::{CAP_FOWNER, CAP_FSETID};
use crate::fsview::{do_stat, Resolved};
use crate::mem;
use crate::owners::{errno, Meta};
use crate::syscalls::Sys;
use crate::tracer::{Action, Tracer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_GROUP: u16 = 0x08;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;
const UNDEFINED_ID: u32 = u32::MAX;
const VERSION: u32 = 2;
const XATTR_SIZE_MAX: u64 = 65536;
/// struct xattr_args { u64 value; u32 size; u32 flags; } (Linux 6.13).
const XATTR_ARGS_SIZE_VER0: u64 = 16;

/// Which of a file's two ACLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Access,
    Default,
}

impl Kind {
    /// The name the kernel knows (NUL-terminated).
    fn real(self) -> &'static [u8] {
        match self {
            Kind::Access => b"system.posix_acl_access\0",
            Kind::Default => b"system.posix_acl_default\0",
        }
    }

    /// Where the whole ACL is kept (NUL-terminated).
    fn private(self) -> &'static [u8] {
        match self {
            Kind::Access => b"user.rootlessrt.acl_access\0",
            Kind::Default => b"user.rootlessrt.acl_default\0",
        }
    }
}

fn bare(name: &[u8]) -> &[u8] {
    name.strip_suffix(&[0]).unwrap_or(name)
}

/// The ACL an attribute name (without NUL) stands for.
pub fn kind_of(name: &[u8]) -> Option<Kind> {
    [Kind::Access, Kind::Default]
        .into_iter()
        .find(|k| bare(k.real()) == name)
}

/// One of the tracer's private ACL attributes (hidden from the workload).
pub fn is_private(name: &[u8]) -> bool {
    [Kind::Access, Kind::Default]
        .iter()
        .any(|k| bare(k.private()) == name)
}

/// One ACL entry as in the xattr format (`struct posix_acl_xattr_entry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    tag: u16,
    id: u32,
    perm: u16,
}

impl Entry {
    fn named(&self) -> bool {
        matches!(self.tag, ACL_USER | ACL_GROUP)
    }
}

/// Parse an ACL as `posix_acl_from_xattr` does: Ok(None) for an empty
/// value (removal), the kernel's errno for a malformed one.
fn parse(v: &[u8]) -> Result<Option<Vec<Entry>>, i32> {
    if v.is_empty() {
        return Ok(None);
    }
    if v.len() < 4 {
        return Err(libc::EINVAL);
    }
    if u32::from_le_bytes([v[0], v[1], v[2], v[3]]) != VERSION {
        return Err(libc::EOPNOTSUPP);
    }
    let body = &v[4..];
    if !body.len().is_multiple_of(8) {
        return Err(libc::EINVAL);
    }
    if body.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(body.len() / 8);
    for e in body.chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u16::from_le_bytes([e[2], e[3]]);
        let id = match tag {
            // The kernel keeps any ID the namespace maps; every ID is a
            // container ID here, except -1, which is no ID at all.
            ACL_USER | ACL_GROUP => match u32::from_le_bytes([e[4], e[5], e[6], e[7]]) {
                UNDEFINED_ID => return Err(libc::EINVAL),
                id => id,
            },
            ACL_USER_OBJ | ACL_GROUP_OBJ | ACL_MASK | ACL_OTHER => UNDEFINED_ID,
            _ => return Err(libc::EINVAL),
        };
        out.push(Entry { tag, id, perm });
    }
    Ok(Some(out))
}

/// `posix_acl_valid`: the entries in tag order, one owner, group and other
/// entry, a mask when any ID is named, permissions within rwx.
fn valid(acl: &[Entry]) -> bool {
    let (mut state, mut needs_mask) = (ACL_USER_OBJ, false);
    for e in acl {
        if e.perm & !7 != 0 {
            return false;
        }
        state = match (e.tag, state) {
            (ACL_USER_OBJ, ACL_USER_OBJ) => ACL_USER,
            (ACL_USER, ACL_USER) => ACL_USER,
            (ACL_GROUP_OBJ, ACL_USER) => ACL_GROUP,
            (ACL_GROUP, ACL_GROUP) => ACL_GROUP,
            (ACL_MASK, ACL_GROUP) => ACL_OTHER,
            (ACL_OTHER, ACL_OTHER) => 0,
            (ACL_OTHER, ACL_GROUP) if !needs_mask => 0,
            _ => return false,
        };
        needs_mask |= e.named();
    }
    state == 0
}

fn encode(acl: &[Entry]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + 8 * acl.len());
    v.extend_from_slice(&VERSION.to_le_bytes());
    for e in acl {
        v.extend_from_slice(&e.tag.to_le_bytes());
        v.extend_from_slice(&e.perm.to_le_bytes());
        v.extend_from_slice(&e.id.to_le_bytes());
    }
    v
}

/// An ACL that says more than the mode bits (the kernel stores it).
fn extended(acl: &[Entry]) -> bool {
    acl.iter().any(|e| e.tag == ACL_MASK || e.named())
}

/// (start, count) ranges of the IDs a `/proc/self/{uid,gid}_map` maps.
fn read_map(path: &str) -> Vec<(u32, u64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.first()?.parse().ok()?, f.get(2)?.parse().ok()?))
        })
        .collect()
}

/// Whether the tracer's user namespace (the workload's) maps a named entry's
/// ID: the kernel refuses an ACL naming any other (EINVAL).
fn representable(e: &Entry) -> bool {
    static MAPS: OnceLock<[Vec<(u32, u64)>; 2]> = OnceLock::new();
    let maps = MAPS.get_or_init(|| {
        [
            read_map("/proc/self/uid_map"),
            read_map("/proc/self/gid_map"),
        ]
    });
    let map = match e.tag {
        ACL_USER => &maps[0],
        ACL_GROUP => &maps[1],
        _ => return true,
    };
    map.iter()
        .any(|&(start, n)| e.id >= start && u64::from(e.id - start) < n)
}

/// The named entries the real file cannot hold.
fn unrepresentable(acl: &[Entry]) -> Vec<Entry> {
    acl.iter()
        .filter(|e| e.named() && !representable(e))
        .copied()
        .collect()
}

/// The real ACL with `extra` entries added (those it does not name), in
/// the kernel's order.
fn merge(real: &[Entry], extra: &[Entry]) -> Vec<Entry> {
    let mut out = real.to_vec();
    for e in extra {
        if !out.iter().any(|r| (r.tag, r.id) == (e.tag, e.id)) {
            out.push(*e);
        }
    }
    out.sort_by_key(|e| (e.tag, e.id));
    out
}

/// An attribute of a resolved object (through its `/proc/self/fd/N`);
/// Ok(None) when absent.
fn get_attr(r: &Resolved, name: &[u8]) -> Result<Option<Vec<u8>>, i32> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: NUL-terminated path and name; the buffer is ours.
        let n = unsafe {
            libc::getxattr(
                r.path.as_ptr().cast(),
                name.as_ptr().cast(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
        match errno() {
            libc::ENODATA => return Ok(None),
            libc::ERANGE if buf.len() < XATTR_SIZE_MAX as usize => buf.resize(buf.len() * 4, 0),
            e => return Err(e),
        }
    }
}

/// Set (`Some`) or remove an attribute of a resolved object.
fn set_attr(r: &Resolved, name: &[u8], val: Option<&[u8]>) -> Result<(), i32> {
    let (p, n) = (r.path.as_ptr().cast(), name.as_ptr().cast());
    // SAFETY: NUL-terminated path and name; the value is ours.
    let rc = unsafe {
        match val {
            Some(v) => libc::setxattr(p, n, v.as_ptr().cast(), v.len(), 0),
            None => libc::removexattr(p, n),
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// The private attribute goes (it may well not exist).
fn drop_private(r: &Resolved, kind: Kind) {
    let _ = set_attr(r, kind.private(), None);
}

fn warn_once(e: i32) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "rootlessrt tracer: warning: cannot store an ACL's entries for unmapped IDs in an \
             xattr ({}); they are lost",
            std::io::Error::from_raw_os_error(e)
        );
    }
}

fn skip(r: Result<i64, i32>) -> Action {
    match r {
        Ok(v) => Action::Skip(v),
        Err(e) => Action::Skip(-(e as i64)),
    }
}

/// What a call asks for.
enum Op {
    /// Read into (value, size).
    Get(u64, u64),
    /// Write (value, size, flags).
    Set(u64, u64, u64),
    Remove,
}

/// Where the file is: (dirfd, path pointer, AT_* flags, an fd-only call).
struct Target {
    dirfd: i32,
    path: u64,
    flags: i32,
    fd_call: bool,
}

impl Tracer {
    /// get/set/remove of `system.posix_acl_*` by any form of the xattr
    /// calls (`handlers.rs`, `xattr_filter`).
    pub(crate) fn acl_call(&mut self, tid: i32, sys: Sys, regs: &Regs, kind: Kind) -> Action {
        let a = |i: usize| regs.arg(i);
        let cwd = libc::AT_FDCWD;
        let path = |flags| Target {
            dirfd: cwd,
            path: a(0),
            flags,
            fd_call: false,
        };
        let fd = Target {
            dirfd: a(0) as i32,
            path: 0,
            flags: libc::AT_EMPTY_PATH,
            fd_call: true,
        };
        let nofollow = libc::AT_SYMLINK_NOFOLLOW;
        let (target, op) = match sys {
            Sys::Getxattr => (path(0), Op::Get(a(2), a(3))),
            Sys::Lgetxattr => (path(nofollow), Op::Get(a(2), a(3))),
            Sys::Fgetxattr => (fd, Op::Get(a(2), a(3))),
            Sys::Setxattr => (path(0), Op::Set(a(2), a(3), a(4))),
            Sys::Lsetxattr => (path(nofollow), Op::Set(a(2), a(3), a(4))),
            Sys::Fsetxattr => (fd, Op::Set(a(2), a(3), a(4))),
            Sys::Removexattr => (path(0), Op::Remove),
            Sys::Lremovexattr => (path(nofollow), Op::Remove),
            Sys::Fremovexattr => (fd, Op::Remove),
            Sys::Getxattrat | Sys::Setxattrat | Sys::Removexattrat => {
                let flags = a(2) as i32;
                if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
                    return Action::Native; // the kernel says EINVAL
                }
                let t = Target {
                    dirfd: a(0) as i32,
                    path: a(1),
                    flags,
                    fd_call: false,
                };
                let op = match sys {
                    Sys::Removexattrat => Op::Remove,
                    _ => match self.xattr_args(tid, a(4), a(5)) {
                        Some((v, size, flags)) if sys == Sys::Getxattrat && flags == 0 => {
                            Op::Get(v, size)
                        }
                        Some((v, size, flags)) if sys == Sys::Setxattrat => Op::Set(v, size, flags),
                        _ => return Action::Native, // the kernel says why not
                    },
                };
                (t, op)
            }
            _ => return Action::Native,
        };
        let r = match self.fs.target(
            self.via,
            tid,
            target.dirfd,
            target.path,
            target.flags,
            target.fd_call,
        ) {
            Ok(r) => r,
            Err(e) => return skip(Err(e)),
        };
        // Most files have no ACL (`ls -l` asks for each): the kernel's
        // answer, after one call.
        let real = match op {
            Op::Get(..) => match get_attr(&r, kind.real()) {
                Ok(Some(v)) => Some(v),
                Ok(None) => return skip(Err(libc::ENODATA)),
                Err(e) => return skip(Err(e)),
            },
            _ => None,
        };
        let st = match do_stat(&r) {
            Ok(st) => st,
            Err(e) => return skip(Err(e)),
        };
        // Only regular files and directories carry the private attribute;
        // the kernel answers for the rest (symlinks have no ACLs).
        let file_type = st.st_mode & libc::S_IFMT;
        if file_type != libc::S_IFREG && file_type != libc::S_IFDIR {
            return Action::Native;
        }
        match op {
            Op::Get(value, size) => {
                let real = real.unwrap_or_default();
                let acl = self.acl_read(tid, &r, &st, kind, &target, real);
                skip(self.copy_out(tid, &acl, value, size))
            }
            Op::Set(value, size, flags) => {
                skip(self.acl_set(tid, &r, &st, kind, value, size, flags))
            }
            Op::Remove => skip(self.acl_remove(tid, &r, &st, kind, None)),
        }
    }

    /// (value, size, flags) of a `struct xattr_args` at `ptr` of `usize`
    /// bytes, or None when the kernel would refuse it (it then says why).
    fn xattr_args(&mut self, tid: i32, ptr: u64, usize: u64) -> Option<(u64, u64, u64)> {
        if !(XATTR_ARGS_SIZE_VER0..=4096).contains(&usize) {
            return None;
        }
        let mut raw = vec![0u8; usize as usize];
        mem::read_via(self.via, tid, ptr, &mut raw).ok()?;
        if raw[16..].iter().any(|&b| b != 0) {
            return None; // a newer struct with fields we do not know: E2BIG
        }
        let value = u64::from_ne_bytes(raw[0..8].try_into().ok()?);
        let size = u32::from_ne_bytes(raw[8..12].try_into().ok()?);
        let flags = u32::from_ne_bytes(raw[12..16].try_into().ok()?);
        Some((value, size.into(), flags.into()))
    }

    /// getxattr's contract: the length for size 0, ERANGE when too small.
    fn copy_out(&mut self, tid: i32, v: &[u8], value: u64, size: u64) -> Result<i64, i32> {
        if size == 0 {
            return Ok(v.len() as i64);
        }
        if (v.len() as u64) > size.min(XATTR_SIZE_MAX) {
            return Err(libc::ERANGE);
        }
        mem::write_via(self.via, tid, value, v).map(|_| v.len() as i64)
    }

    /// The ACL the workload sees: the real one (`real_raw`), plus the
    /// unmapped entries of the private one or, for an inherited ACL, of the
    /// parent's default.
    fn acl_read(
        &mut self,
        tid: i32,
        r: &Resolved,
        st: &libc::stat,
        kind: Kind,
        target: &Target,
        real_raw: Vec<u8>,
    ) -> Vec<u8> {
        let Ok(Some(real)) = parse(&real_raw) else {
            return real_raw;
        };
        let extra = match get_attr(r, kind.private()) {
            Ok(Some(p)) => match parse(&p) {
                Ok(Some(p)) => unrepresentable(&p),
                _ => Vec::new(),
            },
            _ => self.inherited(tid, st, &real, target).unwrap_or_default(),
        };
        if extra.is_empty() {
            return real_raw;
        }
        let acl = merge(&real, &extra);
        if valid(&acl) {
            encode(&acl)
        } else {
            real_raw
        }
    }

    /// A file whose real ACL came from its directory's default (the kernel
    /// copies the real part at creation, the private one stays behind): the
    /// unmapped entries of the default ACL of the directory the path names,
    /// if the file is in it (not behind a symlink) and its real ACL names
    /// the same mapped IDs as that default's real part.
    fn inherited(
        &mut self,
        tid: i32,
        st: &libc::stat,
        real: &[Entry],
        target: &Target,
    ) -> Option<Vec<Entry>> {
        if target.fd_call || target.path == 0 {
            return None;
        }
        let mut path = Vec::new();
        mem::read_cstr_via(self.via, tid, target.path, 4095, &mut path).ok()?;
        let (parent, name) = self
            .fs
            .resolve_parent(self.via, tid, target.dirfd, &path)
            .ok()?;
        // SAFETY: zeroed stat is valid; `name` is NUL-terminated, `parent` holds its fd.
        let mut entry: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let rc = unsafe {
            libc::fstatat(
                parent.fd(),
                name.as_ptr().cast(),
                &mut entry,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if rc != 0 || (entry.st_dev, entry.st_ino) != (st.st_dev, st.st_ino) {
            return None;
        }
        let default = parse(&get_attr(&parent, Kind::Default.private()).ok()??).ok()??;
        let parent_real = parse(&get_attr(&parent, Kind::Default.real()).ok()??).ok()??;
        let named = |acl: &[Entry]| -> Vec<(u16, u32)> {
            acl.iter()
                .filter(|e| e.named())
                .map(|e| (e.tag, e.id))
                .collect()
        };
        if named(real) != named(&parent_real) {
            return None;
        }
        Some(unrepresentable(&default))
    }

    /// Changing an ACL takes the file's owner or CAP_FOWNER (fake ones).
    fn may_change_acl(&mut self, tid: i32, r: &Resolved, st: &libc::stat) -> bool {
        let owner = self.fs.fake_for(r, &Meta::from_stat(st)).uid;
        let c = self.creds(tid);
        c.fsuid == owner || c.capable(CAP_FOWNER)
    }

    /// Setting an ACL. What the kernel can do alone (no unmapped ID, no
    /// private attribute to keep in step) it does, as before: gnulib's
    /// `cp`/`install` set a minimal ACL as their chmod, on files whose fake
    /// owner may not be the caller. Malformed values go to the kernel too,
    /// which refuses them as it would anyway.
    #[allow(clippy::too_many_arguments)]
    fn acl_set(
        &mut self,
        tid: i32,
        r: &Resolved,
        st: &libc::stat,
        kind: Kind,
        value: u64,
        size: u64,
        flags: u64,
    ) -> Result<i64, i32> {
        if flags & !((libc::XATTR_CREATE | libc::XATTR_REPLACE) as u64) != 0
            || size > XATTR_SIZE_MAX
        {
            return Err(mem::DENIED);
        }
        let mut raw = vec![0u8; size as usize];
        mem::read_via(self.via, tid, value, &mut raw).map_err(|_| mem::DENIED)?;
        let kept = get_attr(r, kind.private()).ok().flatten().is_some();
        let acl = match parse(&raw) {
            Ok(Some(acl)) if valid(&acl) => acl,
            // An empty ACL removes it.
            Ok(None) if kept => return self.acl_remove(tid, r, st, kind, Some(&[])),
            _ => return Err(mem::DENIED),
        };
        if unrepresentable(&acl).is_empty() && !kept {
            return Err(mem::DENIED);
        }
        if kind == Kind::Default && st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(libc::EACCES);
        }
        if !self.may_change_acl(tid, r, st) {
            return Err(libc::EPERM);
        }
        let real: Vec<Entry> = acl.iter().filter(|e| representable(e)).copied().collect();
        // The kernel sets the mode from the real part (the same owner,
        // group or mask, and other entries) and drops an ACL the mode says
        // all of.
        set_attr(r, kind.real(), Some(&encode(&real)))?;
        if kind == Kind::Access {
            self.acl_clear_setgid(tid, r, st);
        }
        // Kept for any extended ACL: a real ACL without a private one is
        // an inherited one (`inherited`).
        if extended(&acl) {
            if let Err(e) = set_attr(r, kind.private(), Some(&encode(&acl))) {
                warn_once(e);
            }
        } else {
            drop_private(r, kind);
        }
        Ok(0)
    }

    /// As the kernel when it sets an access ACL: the set-group-ID bit goes
    /// unless the caller is in the file's group or has CAP_FSETID (the real
    /// call was the tracer's, which has both).
    fn acl_clear_setgid(&mut self, tid: i32, r: &Resolved, st: &libc::stat) {
        let group = self.fs.fake_for(r, &Meta::from_stat(st)).gid;
        let c = self.creds(tid);
        if c.in_group(group) || c.capable(CAP_FSETID) {
            return;
        }
        let Ok(now) = do_stat(r) else { return };
        if now.st_mode & libc::S_ISGID != 0 {
            // SAFETY: NUL-terminated path of our own fd (the object itself).
            unsafe { libc::chmod(r.path.as_ptr().cast(), now.st_mode & 0o5777) };
        }
    }

    /// removexattr (`how` None), or setxattr of an empty value, of an ACL
    /// the tracer keeps a private part of; the kernel does it alone otherwise.
    fn acl_remove(
        &mut self,
        tid: i32,
        r: &Resolved,
        st: &libc::stat,
        kind: Kind,
        how: Option<&[u8]>,
    ) -> Result<i64, i32> {
        if how.is_none() && get_attr(r, kind.private()).ok().flatten().is_none() {
            return Err(mem::DENIED);
        }
        if !self.may_change_acl(tid, r, st) {
            return Err(libc::EPERM);
        }
        set_attr(r, kind.real(), how)?;
        drop_private(r, kind);
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: u32 = UNDEFINED_ID;

    fn e(tag: u16, perm: u16, id: u32) -> Entry {
        Entry { tag, id, perm }
    }

    fn acl_bob() -> Vec<Entry> {
        vec![
            e(ACL_USER_OBJ, 6, U),
            e(ACL_USER, 6, 1000),
            e(ACL_GROUP_OBJ, 4, U),
            e(ACL_GROUP, 5, 4),
            e(ACL_MASK, 7, U),
            e(ACL_OTHER, 4, U),
        ]
    }

    #[test]
    fn codec_round_trip() {
        let acl = acl_bob();
        let raw = encode(&acl);
        assert_eq!(raw.len(), 4 + 8 * acl.len());
        assert_eq!(&raw[..4], &[2, 0, 0, 0]);
        // user:1000:rw- as the kernel lays it out
        assert_eq!(&raw[12..20], &[2, 0, 6, 0, 0xe8, 3, 0, 0]);
        assert_eq!(parse(&raw), Ok(Some(acl)));
        assert_eq!(parse(&[]), Ok(None));
        assert_eq!(parse(&2u32.to_le_bytes()), Ok(None));
    }

    #[test]
    fn parse_errors_as_the_kernel() {
        assert_eq!(parse(&[2, 0]), Err(libc::EINVAL));
        assert_eq!(parse(&1u32.to_le_bytes()), Err(libc::EOPNOTSUPP));
        let mut raw = encode(&acl_bob());
        raw.push(0);
        assert_eq!(parse(&raw), Err(libc::EINVAL));
        let bad_tag = encode(&[e(0x40, 7, U)]);
        assert_eq!(parse(&bad_tag), Err(libc::EINVAL));
        let no_id = encode(&[e(ACL_USER, 7, U)]);
        assert_eq!(parse(&no_id), Err(libc::EINVAL));
        // The ID of an owner/group/mask/other entry is ignored.
        let obj = encode(&[e(ACL_USER_OBJ, 7, 5)]);
        assert_eq!(parse(&obj), Ok(Some(vec![e(ACL_USER_OBJ, 7, U)])));
    }

    #[test]
    fn validity_as_the_kernel() {
        assert!(valid(&acl_bob()));
        let minimal = [
            e(ACL_USER_OBJ, 7, U),
            e(ACL_GROUP_OBJ, 5, U),
            e(ACL_OTHER, 5, U),
        ];
        assert!(valid(&minimal));
        // a mask alone is allowed (and makes the ACL extended)
        let masked = [
            e(ACL_USER_OBJ, 7, U),
            e(ACL_GROUP_OBJ, 5, U),
            e(ACL_MASK, 5, U),
            e(ACL_OTHER, 5, U),
        ];
        assert!(valid(&masked));
        assert!(extended(&masked) && !extended(&minimal));
        // named entry without a mask, wrong order, bad perms, missing other
        let mut no_mask = acl_bob();
        no_mask.retain(|x| x.tag != ACL_MASK);
        assert!(!valid(&no_mask));
        let mut swapped = acl_bob();
        swapped.swap(0, 2);
        assert!(!valid(&swapped));
        let mut perms = acl_bob();
        perms[1].perm = 8;
        assert!(!valid(&perms));
        assert!(!valid(&minimal[..2]));
        assert!(!valid(&[]));
    }

    #[test]
    fn merge_keeps_the_real_base_entries() {
        // chmod 640 changed the real mask; the private copy is older.
        let real = vec![
            e(ACL_USER_OBJ, 6, U),
            e(ACL_USER, 7, 0),
            e(ACL_GROUP_OBJ, 4, U),
            e(ACL_MASK, 4, U),
            e(ACL_OTHER, 0, U),
        ];
        let extra = [e(ACL_GROUP, 5, 4), e(ACL_USER, 6, 1000)];
        let m = merge(&real, &extra);
        assert!(valid(&m));
        assert_eq!(
            m,
            vec![
                e(ACL_USER_OBJ, 6, U),
                e(ACL_USER, 7, 0),
                e(ACL_USER, 6, 1000),
                e(ACL_GROUP_OBJ, 4, U),
                e(ACL_GROUP, 5, 4),
                e(ACL_MASK, 4, U),
                e(ACL_OTHER, 0, U),
            ]
        );
        // an entry the real ACL names wins
        assert_eq!(merge(&real, &[e(ACL_USER, 1, 0)]), real);
    }

    #[test]
    fn names() {
        assert_eq!(kind_of(b"system.posix_acl_access"), Some(Kind::Access));
        assert_eq!(kind_of(b"system.posix_acl_default"), Some(Kind::Default));
        assert_eq!(kind_of(b"system.posix_acl_access\0"), None);
        assert_eq!(kind_of(b"user.x"), None);
        assert!(is_private(b"user.rootlessrt.acl_access"));
        assert!(is_private(b"user.rootlessrt.acl_default"));
        assert!(!is_private(b"user.rootlessrt.acl"));
    }
}
