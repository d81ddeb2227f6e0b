//! Per-thread fake credentials and the kernel's rules for changing them
//! (kernel/sys.c, kernel/capability.c, security/commoncap.c), as pure functions
//! so they can be unit-tested without a tracee.

use crate::CapSets;

pub const CAP_CHOWN: u32 = 0;
pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_FOWNER: u32 = 3;
pub const CAP_FSETID: u32 = 4;
pub const CAP_SETGID: u32 = 6;
pub const CAP_SETUID: u32 = 7;
pub const CAP_SETPCAP: u32 = 8;
pub const CAP_LINUX_IMMUTABLE: u32 = 9;
pub const CAP_MKNOD: u32 = 27;
pub const CAP_MAC_OVERRIDE: u32 = 32;

/// Capabilities dropped from the effective set when fsuid leaves 0.
pub const CAP_FS_MASK: u64 = (1 << CAP_CHOWN)
    | (1 << CAP_DAC_OVERRIDE)
    | (1 << CAP_DAC_READ_SEARCH)
    | (1 << CAP_FOWNER)
    | (1 << CAP_FSETID)
    | (1 << CAP_LINUX_IMMUTABLE)
    | (1 << CAP_MAC_OVERRIDE)
    | (1 << CAP_MKNOD);

pub const SECBIT_NOROOT: u32 = 1 << 0;
pub const SECBIT_NO_SETUID_FIXUP: u32 = 1 << 2;
pub const SECBIT_KEEP_CAPS: u32 = 1 << 4;
pub const SECBIT_KEEP_CAPS_LOCKED: u32 = 1 << 5;
pub const SECBIT_NO_CAP_AMBIENT_RAISE: u32 = 1 << 6;
const SECURE_ALL_BITS: u32 = 0x55;
const SECURE_ALL_LOCKS: u32 = 0xaa;

pub const NGROUPS_MAX: usize = 65536;
const NONE: u32 = u32::MAX;

/// Mask of the capabilities this kernel knows (from /proc/sys/kernel/cap_last_cap).
pub fn cap_valid_mask() -> u64 {
    static MASK: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *MASK.get_or_init(|| {
        let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(40)
            .min(63);
        if last == 63 {
            u64::MAX
        } else {
            (1u64 << (last + 1)) - 1
        }
    })
}

/// The fake credentials of one thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creds {
    pub ruid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub rgid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    /// Supplementary groups, sorted, not de-duplicated (as the kernel keeps them).
    pub groups: Vec<u32>,
    pub caps: CapSets,
    pub securebits: u32,
    /// The workload's own no_new_privs (not the one the tracer may have set to install its filter).
    pub nnp: bool,
}

type R<T> = Result<T, i32>;

impl Creds {
    pub fn new(uid: u32, gid: u32, groups: &[u32], caps: CapSets, nnp: bool) -> Creds {
        let mut groups = groups.to_vec();
        groups.sort_unstable();
        Creds {
            ruid: uid,
            euid: uid,
            suid: uid,
            fsuid: uid,
            rgid: gid,
            egid: gid,
            sgid: gid,
            fsgid: gid,
            groups,
            caps,
            securebits: 0,
            nnp,
        }
    }

    pub fn capable(&self, cap: u32) -> bool {
        self.caps.effective & (1u64 << cap) != 0
    }

    pub fn in_group(&self, gid: u32) -> bool {
        gid == self.fsgid || self.groups.binary_search(&gid).is_ok()
    }

    /// cap_emulate_setxuid + the fsuid rule, applied after a uid change.
    fn fix_caps_after_setuid(&mut self, old: &Creds) {
        if self.securebits & SECBIT_NO_SETUID_FIXUP != 0 {
            return;
        }
        let any_root = |c: &Creds| c.ruid == 0 || c.euid == 0 || c.suid == 0;
        if any_root(old) && !any_root(self) {
            if self.securebits & SECBIT_KEEP_CAPS == 0 {
                self.caps.permitted = 0;
                self.caps.effective = 0;
            }
            self.caps.ambient = 0;
        }
        if old.euid == 0 && self.euid != 0 {
            self.caps.effective = 0;
        }
        if old.euid != 0 && self.euid == 0 {
            self.caps.effective = self.caps.permitted;
        }
    }

    fn fix_caps_after_setfsuid(&mut self, old_fsuid: u32) {
        if self.securebits & SECBIT_NO_SETUID_FIXUP != 0 {
            return;
        }
        if old_fsuid == 0 && self.fsuid != 0 {
            self.caps.effective &= !CAP_FS_MASK;
        }
        if old_fsuid != 0 && self.fsuid == 0 {
            self.caps.effective |= self.caps.permitted & CAP_FS_MASK;
        }
    }

    pub fn setuid(&mut self, uid: u32) -> R<i64> {
        if uid == NONE {
            return Err(libc::EINVAL);
        }
        let old = self.clone();
        if self.capable(CAP_SETUID) {
            self.ruid = uid;
            self.suid = uid;
        } else if uid != old.ruid && uid != old.suid {
            return Err(libc::EPERM);
        }
        self.euid = uid;
        self.fsuid = uid;
        self.fix_caps_after_setuid(&old);
        Ok(0)
    }

    pub fn setgid(&mut self, gid: u32) -> R<i64> {
        if gid == NONE {
            return Err(libc::EINVAL);
        }
        if self.capable(CAP_SETGID) {
            self.rgid = gid;
            self.sgid = gid;
        } else if gid != self.rgid && gid != self.sgid {
            return Err(libc::EPERM);
        }
        self.egid = gid;
        self.fsgid = gid;
        Ok(0)
    }

    pub fn setreuid(&mut self, r: u32, e: u32) -> R<i64> {
        let old = self.clone();
        let cap = self.capable(CAP_SETUID);
        if r != NONE && r != old.ruid && r != old.euid && !cap {
            return Err(libc::EPERM);
        }
        if e != NONE && e != old.ruid && e != old.euid && e != old.suid && !cap {
            return Err(libc::EPERM);
        }
        if r != NONE {
            self.ruid = r;
        }
        if e != NONE {
            self.euid = e;
        }
        if r != NONE || (e != NONE && e != old.ruid) {
            self.suid = self.euid;
        }
        self.fsuid = self.euid;
        self.fix_caps_after_setuid(&old);
        Ok(0)
    }

    pub fn setregid(&mut self, r: u32, e: u32) -> R<i64> {
        let cap = self.capable(CAP_SETGID);
        let (or, oe, os) = (self.rgid, self.egid, self.sgid);
        if r != NONE && r != or && r != oe && !cap {
            return Err(libc::EPERM);
        }
        if e != NONE && e != or && e != oe && e != os && !cap {
            return Err(libc::EPERM);
        }
        if r != NONE {
            self.rgid = r;
        }
        if e != NONE {
            self.egid = e;
        }
        if r != NONE || (e != NONE && e != or) {
            self.sgid = self.egid;
        }
        self.fsgid = self.egid;
        Ok(0)
    }

    pub fn setresuid(&mut self, r: u32, e: u32, s: u32) -> R<i64> {
        let old = self.clone();
        let ok = |x: u32| x == NONE || x == old.ruid || x == old.euid || x == old.suid;
        if !(self.capable(CAP_SETUID) || (ok(r) && ok(e) && ok(s))) {
            return Err(libc::EPERM);
        }
        if r != NONE {
            self.ruid = r;
        }
        if e != NONE {
            self.euid = e;
        }
        if s != NONE {
            self.suid = s;
        }
        self.fsuid = self.euid;
        self.fix_caps_after_setuid(&old);
        Ok(0)
    }

    pub fn setresgid(&mut self, r: u32, e: u32, s: u32) -> R<i64> {
        let (or, oe, os) = (self.rgid, self.egid, self.sgid);
        let ok = |x: u32| x == NONE || x == or || x == oe || x == os;
        if !(self.capable(CAP_SETGID) || (ok(r) && ok(e) && ok(s))) {
            return Err(libc::EPERM);
        }
        if r != NONE {
            self.rgid = r;
        }
        if e != NONE {
            self.egid = e;
        }
        if s != NONE {
            self.sgid = s;
        }
        self.fsgid = self.egid;
        Ok(0)
    }

    /// Always returns the old fsuid (never an error), like the kernel.
    pub fn setfsuid(&mut self, uid: u32) -> i64 {
        let old = self.fsuid;
        if uid == NONE {
            return old.into();
        }
        if (uid == self.ruid
            || uid == self.euid
            || uid == self.suid
            || uid == self.fsuid
            || self.capable(CAP_SETUID))
            && uid != old
        {
            self.fsuid = uid;
            self.fix_caps_after_setfsuid(old);
        }
        old.into()
    }

    pub fn setfsgid(&mut self, gid: u32) -> i64 {
        let old = self.fsgid;
        if gid == NONE {
            return old.into();
        }
        if gid == self.rgid
            || gid == self.egid
            || gid == self.sgid
            || gid == self.fsgid
            || self.capable(CAP_SETGID)
        {
            self.fsgid = gid;
        }
        old.into()
    }

    /// setgroups permission/size checks in the kernel's order (EPERM, then EINVAL);
    /// the caller reads the list (EFAULT) and then calls [`Creds::set_groups`].
    pub fn setgroups_check(&self, size: i32) -> R<usize> {
        if !self.capable(CAP_SETGID) {
            return Err(libc::EPERM);
        }
        let n = size as u32 as usize;
        if n > NGROUPS_MAX {
            return Err(libc::EINVAL);
        }
        Ok(n)
    }

    pub fn set_groups(&mut self, mut g: Vec<u32>) {
        g.sort_unstable();
        self.groups = g;
    }

    /// capset's rules; `eff/perm/inh` already masked to the valid capabilities.
    pub fn capset(&mut self, eff: u64, perm: u64, inh: u64) -> R<i64> {
        let c = &self.caps;
        if !self.capable(CAP_SETPCAP) && inh & !(c.inheritable | c.permitted) != 0 {
            return Err(libc::EPERM);
        }
        if inh & !(c.inheritable | c.bounding) != 0 {
            return Err(libc::EPERM);
        }
        if perm & !c.permitted != 0 {
            return Err(libc::EPERM);
        }
        if eff & !perm != 0 {
            return Err(libc::EPERM);
        }
        self.caps.effective = eff;
        self.caps.permitted = perm;
        self.caps.inheritable = inh;
        self.caps.ambient &= perm & inh;
        Ok(0)
    }

    /// prctl options 7, 8, 23, 24, 27, 28, 39, 47. `None`: not emulated.
    pub fn prctl(&mut self, opt: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> Option<R<i64>> {
        const MAXCAP: u64 = 63;
        let valid = |c: u64| c <= MAXCAP && cap_valid_mask() & (1u64 << c) != 0;
        Some(match opt as i32 {
            libc::PR_GET_KEEPCAPS => Ok(i64::from(self.securebits & SECBIT_KEEP_CAPS != 0)),
            libc::PR_SET_KEEPCAPS => {
                if a2 > 1 {
                    Err(libc::EINVAL)
                } else if self.securebits & SECBIT_KEEP_CAPS_LOCKED != 0 {
                    Err(libc::EPERM)
                } else {
                    if a2 == 1 {
                        self.securebits |= SECBIT_KEEP_CAPS;
                    } else {
                        self.securebits &= !SECBIT_KEEP_CAPS;
                    }
                    Ok(0)
                }
            }
            libc::PR_CAPBSET_READ => {
                if valid(a2) {
                    Ok(i64::from(self.caps.bounding & (1 << a2) != 0))
                } else {
                    Err(libc::EINVAL)
                }
            }
            libc::PR_CAPBSET_DROP => {
                if !valid(a2) {
                    Err(libc::EINVAL)
                } else if !self.capable(CAP_SETPCAP) {
                    Err(libc::EPERM)
                } else {
                    self.caps.bounding &= !(1 << a2);
                    Ok(0)
                }
            }
            libc::PR_GET_SECUREBITS => Ok(self.securebits.into()),
            libc::PR_SET_SECUREBITS => {
                let old = self.securebits;
                let new = a2 as u32;
                if (a2 >> 32) != 0
                    || (((old & SECURE_ALL_LOCKS) >> 1) & (old ^ new)) != 0
                    || (old & SECURE_ALL_LOCKS & !new) != 0
                    || (new & !(SECURE_ALL_LOCKS | SECURE_ALL_BITS)) != 0
                    || !self.capable(CAP_SETPCAP)
                {
                    Err(libc::EPERM)
                } else {
                    self.securebits = new;
                    Ok(0)
                }
            }
            libc::PR_GET_NO_NEW_PRIVS => {
                if a2 | a3 | a4 | a5 != 0 {
                    Err(libc::EINVAL)
                } else {
                    Ok(i64::from(self.nnp))
                }
            }
            libc::PR_CAP_AMBIENT => {
                if a2 == libc::PR_CAP_AMBIENT_CLEAR_ALL as u64 {
                    if a3 | a4 | a5 != 0 {
                        return Some(Err(libc::EINVAL));
                    }
                    self.caps.ambient = 0;
                    return Some(Ok(0));
                }
                if !valid(a3) || a4 | a5 != 0 {
                    return Some(Err(libc::EINVAL));
                }
                let bit = 1u64 << a3;
                match a2 as i32 {
                    libc::PR_CAP_AMBIENT_IS_SET => Ok(i64::from(self.caps.ambient & bit != 0)),
                    libc::PR_CAP_AMBIENT_RAISE => {
                        if self.caps.permitted & bit == 0
                            || self.caps.inheritable & bit == 0
                            || self.securebits & SECBIT_NO_CAP_AMBIENT_RAISE != 0
                        {
                            Err(libc::EPERM)
                        } else {
                            self.caps.ambient |= bit;
                            Ok(0)
                        }
                    }
                    libc::PR_CAP_AMBIENT_LOWER => {
                        self.caps.ambient &= !bit;
                        Ok(0)
                    }
                    _ => Err(libc::EINVAL),
                }
            }
            _ => return None,
        })
    }

    /// Apply execve's credential rules. `setuid`/`setgid`: the file's fake owner when the
    /// file's set-user-ID / set-group-ID bit applies (already filtered for nosuid, NNP, S_IXGRP).
    /// Returns true when the exec is "secure" (IDs changed: AT_SECURE).
    /// Real and effective user and group IDs all 0: what the kernel shows a
    /// process of the single-ID user namespace anyway (no auxv to rewrite).
    /// The file-system IDs, which own what the process creates, are root's.
    pub fn fs_ids_root(&self) -> bool {
        self.fsuid == 0 && self.fsgid == 0
    }

    pub fn all_ids_root(&self) -> bool {
        self.ruid == 0 && self.euid == 0 && self.rgid == 0 && self.egid == 0
    }

    pub fn exec(&mut self, setuid: Option<u32>, setgid: Option<u32>) -> bool {
        if let Some(u) = setuid {
            self.euid = u;
        }
        if let Some(g) = setgid {
            self.egid = g;
        }
        self.suid = self.euid;
        self.fsuid = self.euid;
        self.sgid = self.egid;
        self.fsgid = self.egid;
        let is_setid = self.euid != self.ruid || self.egid != self.rgid;
        let c = &mut self.caps;
        if self.securebits & SECBIT_NOROOT == 0 && (self.euid == 0 || self.ruid == 0) {
            c.permitted = c.bounding | c.inheritable;
            c.effective = if self.euid == 0 { c.permitted } else { 0 };
            if is_setid {
                c.ambient = 0;
            }
        } else {
            if is_setid {
                c.ambient = 0;
            }
            c.permitted = c.ambient;
            c.effective = c.ambient;
        }
        self.securebits &= !SECBIT_KEEP_CAPS;
        is_setid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Creds {
        Creds::new(0, 0, &[], CapSets::full(), false)
    }

    #[test]
    fn setuid_rules() {
        let mut c = root();
        assert_eq!(c.setuid(u32::MAX), Err(libc::EINVAL));
        assert_eq!(c.setuid(1000), Ok(0));
        assert_eq!((c.ruid, c.euid, c.suid, c.fsuid), (1000, 1000, 1000, 1000));
        assert_eq!(c.caps.effective, 0);
        assert_eq!(c.caps.permitted, 0);
        assert_eq!(c.setuid(0), Err(libc::EPERM));
    }

    #[test]
    fn setresuid_keeps_saved_root() {
        let mut c = root();
        assert_eq!(c.setresuid(u32::MAX, 1000, u32::MAX), Ok(0));
        assert_eq!((c.ruid, c.euid, c.suid, c.fsuid), (0, 1000, 0, 1000));
        assert_eq!(c.caps.effective, 0);
        assert_ne!(c.caps.permitted, 0);
        // back to root: eff = perm
        assert_eq!(c.setresuid(u32::MAX, 0, u32::MAX), Ok(0));
        assert_eq!(c.caps.effective, c.caps.permitted);
    }

    #[test]
    fn setreuid_saved_rule() {
        let mut c = root();
        c.setreuid(u32::MAX, 5).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid), (0, 5, 5));
        let mut c = root();
        c.setreuid(7, u32::MAX).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid), (7, 0, 0));
    }

    #[test]
    fn setfsuid_returns_old_and_drops_fs_caps() {
        let mut c = root();
        assert_eq!(c.setfsuid(1000), 0);
        assert_eq!(c.caps.effective & CAP_FS_MASK, 0);
        assert_ne!(c.caps.effective, 0);
        assert_eq!(c.setfsuid(u32::MAX), 1000);
        assert_eq!(c.setfsuid(0), 1000);
        assert_eq!(c.caps.effective, c.caps.permitted);
    }

    #[test]
    fn keepcaps() {
        let mut c = root();
        assert_eq!(
            c.prctl(libc::PR_SET_KEEPCAPS as u64, 1, 0, 0, 0),
            Some(Ok(0))
        );
        c.setresuid(1000, 1000, 1000).unwrap();
        assert_eq!(c.caps.effective, 0);
        assert_ne!(c.caps.permitted, 0);
        assert_eq!(c.capset(1 << CAP_SETUID, c.caps.permitted, 0), Ok(0));
        assert_eq!(c.setuid(0), Ok(0));
    }

    #[test]
    fn capset_rules() {
        let mut c = root();
        let p = c.caps.permitted;
        assert_eq!(c.capset(p, p & !1, 0), Err(libc::EPERM)); // eff not subset of perm
        assert_eq!(c.capset(0, 1, 0), Ok(0));
        assert_eq!(c.capset(0, 3, 0), Err(libc::EPERM)); // perm grows
        assert_eq!(c.capset(0, 1, 2), Err(libc::EPERM)); // inh outside inh|perm without SETPCAP
    }

    #[test]
    fn exec_rules() {
        let mut c = root();
        c.setresuid(1000, 1000, 1000).unwrap();
        assert!(c.exec(Some(0), None));
        assert_eq!((c.ruid, c.euid, c.suid), (1000, 0, 0));
        assert_eq!(c.caps.effective, c.caps.bounding);
        let mut c = root();
        assert!(c.exec(Some(1000), None));
        assert_eq!(c.caps.effective, 0);
        assert_eq!(c.caps.permitted, c.caps.bounding);
    }
}
