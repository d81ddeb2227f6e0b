//! The declarative syscall table: one row per trapped syscall, per architecture.
//! Numbers live in `x86_64.rs` / `aarch64.rs`; the handlers in `handlers.rs` are shared.
//! Both tables are always compiled (as data) so they can be unit-tested on any host.

pub mod aarch64;
pub mod x86_64;

/// The logical syscall (architecture independent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sys {
    Getuid,
    Geteuid,
    Getgid,
    Getegid,
    Getresuid,
    Getresgid,
    Getgroups,
    Setgroups,
    Setuid,
    Setgid,
    Setreuid,
    Setregid,
    Setresuid,
    Setresgid,
    Setfsuid,
    Setfsgid,
    Capget,
    Capset,
    Prctl,
    Chown,
    Lchown,
    Fchown,
    Fchownat,
    Mknod,
    Mknodat,
    Stat,
    Lstat,
    Fstat,
    Newfstatat,
    Statx,
    Listxattr,
    Llistxattr,
    Flistxattr,
    Getxattr,
    Lgetxattr,
    Fgetxattr,
    Setxattr,
    Lsetxattr,
    Fsetxattr,
    Removexattr,
    Lremovexattr,
    Fremovexattr,
    /// The `*xattrat` calls of Linux 6.13.
    Getxattrat,
    Setxattrat,
    Listxattrat,
    Removexattrat,
    /// Calls after which paths can no longer be resolved from the tracer's root
    /// (chroot, pivot_root, unshare, setns): noted, then run natively.
    RootChange,
    /// seccomp(2) / prctl(PR_SET_SECCOMP): the workload installs its own filter; from
    /// then on the tracer checks the RET_TRACE tag of every stop. Runs natively.
    SeccompInstall,
    /// clone(2), trapped only with one of `CLONE_WATCHED`'s flags: a traced
    /// process must not make an untraced child (`CLONE_UNTRACED`: it would
    /// start with the default credentials, fake root), and a new mount or
    /// user namespace changes how paths resolve (as `RootChange`). clone3
    /// hides its flags in memory, where a filter cannot look: it gets ENOSYS
    /// and the C library falls back to clone (as Docker's default profile does).
    Clone,
    /// Calls that make a new inode, trapped only in processes whose fake
    /// file-system IDs are not root's (`Level::Creator`, `seccomp::creator_trap`):
    /// its owner is the creator's fsuid and fsgid (or its set-gid
    /// directory's group), recorded at the exit stop.
    Open,
    Creat,
    Openat,
    Openat2,
    Mkdir,
    Mkdirat,
    Symlink,
    Symlinkat,
    Bind,
    /// getsockopt(2), trapped only for `SOL_SOCKET`/`SO_PEERCRED`: a unix
    /// socket's peer shows its fake effective IDs (peercred.rs).
    Getsockopt,
    /// setsockopt(2), trapped only for `SOL_SOCKET`/`SO_PASSCRED`: a process
    /// that asks for its peers' credentials is made to trap its receiving
    /// calls (passcred.rs). Runs natively.
    Setsockopt,
    /// Calls that may carry explicit SCM_CREDENTIALS, trapped only in
    /// processes whose fake IDs are not root's (`Level::Sender`, in the
    /// creator and chown traps): the claim is checked against the fake
    /// credentials and the kernel is shown the real IDs (passcred.rs).
    Sendmsg,
    Sendmmsg,
    /// Calls that may receive SCM_CREDENTIALS, trapped only in processes
    /// that enabled SO_PASSCRED (`Level::Receiver`, `seccomp::passcred_trap`):
    /// the sender's fake IDs are written over the real ones (passcred.rs).
    Recvmsg,
    Recvmmsg,
}

/// open/openat create a file with one of these flags (O_TMPFILE includes
/// O_DIRECTORY, so only its own bit counts).
pub const CREATE_FLAGS: u32 = (libc::O_CREAT | (libc::O_TMPFILE & !libc::O_DIRECTORY)) as u32;

/// The clone flags that send clone(2) to the tracer.
pub const CLONE_WATCHED: u32 =
    (libc::CLONE_UNTRACED | libc::CLONE_NEWNS | libc::CLONE_NEWUSER) as u32;

impl Sys {
    /// The calls that make a new inode in the creator trap.
    pub fn creates(self) -> bool {
        matches!(
            self,
            Sys::Open
                | Sys::Creat
                | Sys::Openat
                | Sys::Openat2
                | Sys::Mkdir
                | Sys::Mkdirat
                | Sys::Symlink
                | Sys::Symlinkat
                | Sys::Bind
        )
    }

    /// The calls that may send SCM_CREDENTIALS (`Level::Sender`).
    pub fn sends_creds(self) -> bool {
        matches!(self, Sys::Sendmsg | Sys::Sendmmsg)
    }

    /// The calls that may receive SCM_CREDENTIALS (`Level::Receiver`).
    pub fn receives_creds(self) -> bool {
        matches!(self, Sys::Recvmsg | Sys::Recvmmsg)
    }

    /// The chown family: the indices of the owner and group arguments.
    pub fn owner_args(self) -> Option<(u8, u8)> {
        match self {
            Sys::Chown | Sys::Lchown | Sys::Fchown => Some((1, 2)),
            Sys::Fchownat => Some((2, 3)),
            _ => None,
        }
    }
}

/// What the tracer does at the seccomp stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Emulate completely and skip the real call (the result is the fake one).
    Emulate,
    /// Do the operation ourselves on the resolved path and skip the call.
    DoItself,
    /// As DoItself, but needs no ptrace: answered from the seccomp
    /// notification fd without stopping the tracee (notify.rs), or at a
    /// ptrace stop when the kernel gives no listener.
    Answer,
    /// Look at the arguments; either fail the call or let it run natively.
    Filter,
    /// Rewrite the arguments and let the call run; an exit stop records the result.
    Rewrite,
    /// Note the call and let it run natively.
    Note,
}

/// What happens at the syscall-exit stop (only requested when needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    None,
    /// On success record the result (mknod placeholders).
    Record,
}

/// Which emulation level traps the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Trapped in Mode::Ids and Mode::Full.
    Ids,
    /// Trapped in Mode::Full only (stat rewrite, xattr hiding).
    Full,
    /// Not in the main filter: the calls that make inodes, trapped by the
    /// filter a Mode::Full process takes once its fake file-system IDs are
    /// not root's (`seccomp::creator_trap`).
    Creator,
    /// Not in the main filter: sendmsg/sendmmsg, trapped by the filters a
    /// process takes once its fake IDs are not root's (`creator_trap`, and
    /// `chown_trap` in Mode::Ids), for explicit SCM_CREDENTIALS.
    Sender,
    /// Not in the main filter: recvmsg/recvmmsg, trapped by the filter a
    /// process takes once it enables SO_PASSCRED (`seccomp::passcred_trap`).
    Receiver,
}

#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub nr: u32,
    pub sys: Sys,
    pub level: Level,
    pub entry: Entry,
    pub exit: Exit,
    /// prctl: only these first-argument values are trapped (empty = all).
    pub only_arg0: &'static [u32],
    /// (argument index, bits): the call runs untrapped when the low half of
    /// that argument has any of the bits (statx from the in-process stat shim).
    pub bypass: Option<(u8, u32)>,
    /// (argument index, bits): the call is trapped only when the low half of
    /// that argument has any of the bits (clone's flags).
    pub only_bits: Option<(u8, u32)>,
    /// (argument index, value) pairs: the call is trapped only when the low
    /// half of each of those arguments has that value (getsockopt's level
    /// and option name).
    pub only_eq: &'static [(u8, u32)],
}

pub const PRCTL_TRAPPED: &[u32] = &[
    libc::PR_GET_KEEPCAPS as u32,
    libc::PR_SET_KEEPCAPS as u32,
    libc::PR_CAPBSET_READ as u32,
    libc::PR_CAPBSET_DROP as u32,
    libc::PR_GET_SECUREBITS as u32,
    libc::PR_SET_SECUREBITS as u32,
    libc::PR_SET_NO_NEW_PRIVS as u32,
    libc::PR_GET_NO_NEW_PRIVS as u32,
    libc::PR_CAP_AMBIENT as u32,
    libc::PR_SET_SECCOMP as u32,
];

pub const fn row(nr: u32, sys: Sys, level: Level, entry: Entry, exit: Exit) -> Row {
    Row {
        nr,
        sys,
        level,
        entry,
        exit,
        only_arg0: &[],
        bypass: None,
        only_bits: None,
        only_eq: &[],
    }
}

/// A call that makes an inode (`Level::Creator`); `flags_arg`: trapped only
/// when that argument carries `CREATE_FLAGS` (open, openat).
pub const fn creator_row(nr: u32, sys: Sys, flags_arg: Option<u8>) -> Row {
    let only_bits = match flags_arg {
        Some(a) => Some((a, CREATE_FLAGS)),
        None => None,
    };
    Row {
        only_bits,
        ..row(nr, sys, Level::Creator, Entry::Rewrite, Exit::Record)
    }
}

/// clone(flags, ...): trapped with one of `CLONE_WATCHED`.
pub const fn clone_row(nr: u32) -> Row {
    Row {
        only_bits: Some((0, CLONE_WATCHED)),
        ..row(nr, Sys::Clone, Level::Ids, Entry::Filter, Exit::None)
    }
}

/// sendmsg/recvmsg and their `mmsg` forms: `Level::Sender` or
/// `Level::Receiver`; the exit stop restores or rewrites the credentials.
pub const fn msg_row(nr: u32, sys: Sys, level: Level) -> Row {
    row(nr, sys, level, Entry::Rewrite, Exit::Record)
}

/// setsockopt(fd, level, optname, ...) of SO_PASSCRED only.
pub const PASSCRED_ONLY: &[(u8, u32)] =
    &[(1, libc::SOL_SOCKET as u32), (2, libc::SO_PASSCRED as u32)];

/// getsockopt(fd, level, optname, ...) of SO_PEERCRED only.
pub const PEERCRED_ONLY: &[(u8, u32)] =
    &[(1, libc::SOL_SOCKET as u32), (2, libc::SO_PEERCRED as u32)];

/// statx(dirfd, path, flags, mask, buf): the shim's calls carry
/// `STATX_BYPASS` in `mask` and run natively (crates/statshim).
pub const STATX_BYPASS: Option<(u8, u32)> = Some((3, fakeowner::shim::STATX_BYPASS));

/// getxattrat(dirfd, path, at_flags, name, args, usize): the shim's calls
/// pass a 24-byte `args` and run natively (crates/statshim).
pub const XATTRAT_BYPASS: Option<(u8, u32)> = Some((5, fakeowner::shim::XATTRAT_BYPASS));

/// A complete architecture description.
pub struct ArchTable {
    pub audit_arch: u32,
    /// Rows for the native ABI.
    pub rows: &'static [Row],
    /// The compat ABI (i386 / arm32) and its trapped numbers: ENOSYS for those.
    pub compat_arch: u32,
    pub compat_enosys: &'static [u32],
    /// x86_64 only: the x32 bit; trapped numbers with it set return ENOSYS.
    pub x32_bit: u32,
    pub io_uring_setup: u32,
    /// clone3: ENOSYS (see `Sys::Clone`).
    pub clone3: u32,
    /// clone and clone3 of the compat ABI: ENOSYS with a watched flag, and
    /// always, as the native ones.
    pub compat_clone: (u32, u32),
    /// execve, execveat: trapped only by the listener engine.
    pub exec: &'static [u32],
    /// execveat, which the listener engine lets through with the dirfd
    /// `EXEC_BYPASS_FD` (the workload's first exec, see runner.rs).
    pub execveat: u32,
}

/// A dirfd no kernel hands out, ignored for absolute paths: execveat with it
/// skips the listener engine's exec check. Only the tracer's own child uses
/// it, for a first exec that the check would wave through anyway (root's
/// credentials, no set-ID bit); another process using it only skips the fake
/// set-ID transition.
pub const EXEC_BYPASS_FD: i32 = -0x5254;

/// seccomp(2) with this value in its unused fourth argument runs untrapped:
/// the tracer's own call, made inside an adopted process to install the
/// chown filter (inject.rs). Another process using it only keeps the tracer
/// from noting a filter of its own, and the tracer checks every ptrace
/// stop's tag under the listener engine anyway.
pub const SECCOMP_BYPASS: u32 = 0x524c_5254;

impl ArchTable {
    pub fn rows_for(&self, level: Level) -> impl Iterator<Item = &'static Row> + '_ {
        self.rows.iter().filter(move |r| r.level <= level)
    }

    /// nr → row lookup array.
    pub fn index(&self) -> Vec<Option<Row>> {
        let max = self.rows.iter().map(|r| r.nr).max().unwrap_or(0) as usize;
        let mut v = vec![None; max + 1];
        for r in self.rows {
            v[r.nr as usize] = Some(*r);
        }
        v
    }
}

#[cfg(target_arch = "x86_64")]
pub use self::x86_64::TABLE as NATIVE;

#[cfg(target_arch = "aarch64")]
pub use self::aarch64::TABLE as NATIVE;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn check(t: &ArchTable) {
        let mut nrs = HashSet::new();
        for r in t.rows {
            assert!(nrs.insert(r.nr), "duplicate nr {}", r.nr);
            assert!(r.nr < 512);
            if r.sys == Sys::Prctl {
                assert!(!r.only_arg0.is_empty());
            }
            // Only calls that need no per-thread state may skip the ptrace loop.
            if r.entry == Entry::Answer {
                assert!(matches!(
                    r.sys,
                    Sys::Stat | Sys::Lstat | Sys::Fstat | Sys::Newfstatat | Sys::Statx
                ));
            }
            if r.bypass.is_some() {
                assert!(matches!(r.sys, Sys::Statx | Sys::Getxattrat) && r.only_arg0.is_empty());
            }
            if r.only_bits.is_some() {
                assert!(matches!(r.sys, Sys::Clone | Sys::Open | Sys::Openat));
            }
            assert_eq!(r.level == Level::Creator, r.sys.creates());
            assert_eq!(
                !r.only_eq.is_empty(),
                matches!(r.sys, Sys::Getsockopt | Sys::Setsockopt)
            );
            assert_eq!(r.level == Level::Sender, r.sys.sends_creds());
            assert_eq!(r.level == Level::Receiver, r.sys.receives_creds());
            if r.exit == Exit::Record {
                assert_eq!(r.entry, Entry::Rewrite);
            }
            if r.sys == Sys::Open || r.sys == Sys::Openat {
                assert!(r.only_bits.is_some());
            }
        }
        assert!(!nrs.contains(&t.io_uring_setup));
        assert!(!nrs.contains(&t.clone3));
        assert!(t.rows.iter().any(|r| r.sys == Sys::Clone));
        for s in [
            Sys::Setsockopt,
            Sys::Sendmsg,
            Sys::Sendmmsg,
            Sys::Recvmsg,
            Sys::Recvmmsg,
        ] {
            assert_eq!(t.rows.iter().filter(|r| r.sys == s).count(), 1, "{s:?}");
        }
        assert_eq!(t.exec.len(), 2);
        assert!(t.exec.contains(&t.execveat));
        assert!(t.exec.iter().all(|n| !nrs.contains(n)));
        let sys: HashSet<Sys> = t.rows.iter().map(|r| r.sys).collect();
        for s in [
            Sys::Getuid,
            Sys::Geteuid,
            Sys::Getgid,
            Sys::Getegid,
            Sys::Getresuid,
            Sys::Getresgid,
            Sys::Getgroups,
            Sys::Setgroups,
            Sys::Setuid,
            Sys::Setgid,
            Sys::Setreuid,
            Sys::Setregid,
            Sys::Setresuid,
            Sys::Setresgid,
            Sys::Setfsuid,
            Sys::Setfsgid,
            Sys::Capget,
            Sys::Capset,
            Sys::Prctl,
            Sys::Fchown,
            Sys::Fchownat,
            Sys::Mknodat,
            Sys::Fstat,
            Sys::Newfstatat,
            Sys::Statx,
            Sys::Listxattr,
            Sys::Llistxattr,
            Sys::Flistxattr,
            Sys::Getxattr,
            Sys::Lgetxattr,
            Sys::Fgetxattr,
            Sys::Setxattr,
            Sys::Lsetxattr,
            Sys::Fsetxattr,
            Sys::Removexattr,
            Sys::Lremovexattr,
            Sys::Fremovexattr,
            Sys::Getxattrat,
            Sys::Setxattrat,
            Sys::Listxattrat,
            Sys::Removexattrat,
        ] {
            assert!(sys.contains(&s), "{s:?} missing");
        }
        // Stat family and xattr hiding are Full-only; ID calls are Ids.
        for r in t.rows {
            match r.sys {
                Sys::Stat | Sys::Lstat | Sys::Fstat | Sys::Newfstatat | Sys::Statx => {
                    assert_eq!(r.level, Level::Full);
                    assert_eq!(r.entry, Entry::Answer);
                }
                Sys::Getuid | Sys::Setresuid | Sys::Chown | Sys::Fchown | Sys::Fchownat => {
                    assert_eq!(r.level, Level::Ids)
                }
                _ => {}
            }
        }
    }

    #[test]
    fn x86_64_table() {
        check(&x86_64::TABLE);
        let idx = x86_64::TABLE.index();
        let get = |n: usize| idx[n].map(|r| r.sys);
        assert_eq!(get(102), Some(Sys::Getuid));
        assert_eq!(get(117), Some(Sys::Setresuid));
        assert_eq!(get(92), Some(Sys::Chown));
        assert_eq!(get(262), Some(Sys::Newfstatat));
        assert_eq!(get(332), Some(Sys::Statx));
        assert_eq!(get(5), Some(Sys::Fstat));
        assert_eq!(get(259), Some(Sys::Mknodat));
        assert_eq!(get(54), Some(Sys::Setsockopt));
        assert_eq!(get(46), Some(Sys::Sendmsg));
        assert_eq!(get(47), Some(Sys::Recvmsg));
        assert_eq!(get(307), Some(Sys::Sendmmsg));
        assert_eq!(get(299), Some(Sys::Recvmmsg));
        assert_eq!(x86_64::TABLE.audit_arch, 0xc000_003e);
        assert!(x86_64::TABLE.compat_enosys.contains(&199)); // getuid32
    }

    #[test]
    fn aarch64_table() {
        check(&aarch64::TABLE);
        let idx = aarch64::TABLE.index();
        let get = |n: usize| idx.get(n).copied().flatten().map(|r| r.sys);
        let expect = [
            (174, Sys::Getuid),
            (175, Sys::Geteuid),
            (176, Sys::Getgid),
            (177, Sys::Getegid),
            (148, Sys::Getresuid),
            (150, Sys::Getresgid),
            (158, Sys::Getgroups),
            (159, Sys::Setgroups),
            (146, Sys::Setuid),
            (144, Sys::Setgid),
            (145, Sys::Setreuid),
            (143, Sys::Setregid),
            (147, Sys::Setresuid),
            (149, Sys::Setresgid),
            (151, Sys::Setfsuid),
            (152, Sys::Setfsgid),
            (90, Sys::Capget),
            (91, Sys::Capset),
            (167, Sys::Prctl),
            (55, Sys::Fchown),
            (54, Sys::Fchownat),
            (33, Sys::Mknodat),
            (80, Sys::Fstat),
            (79, Sys::Newfstatat),
            (291, Sys::Statx),
            (11, Sys::Listxattr),
            (12, Sys::Llistxattr),
            (13, Sys::Flistxattr),
            (8, Sys::Getxattr),
            (9, Sys::Lgetxattr),
            (10, Sys::Fgetxattr),
            (5, Sys::Setxattr),
            (6, Sys::Lsetxattr),
            (7, Sys::Fsetxattr),
            (14, Sys::Removexattr),
            (15, Sys::Lremovexattr),
            (16, Sys::Fremovexattr),
            (208, Sys::Setsockopt),
            (211, Sys::Sendmsg),
            (212, Sys::Recvmsg),
            (269, Sys::Sendmmsg),
            (243, Sys::Recvmmsg),
        ];
        for (nr, s) in expect {
            assert_eq!(get(nr), Some(s), "aarch64 nr {nr}");
        }
        // aarch64 has no chown/lchown/stat/lstat/mknod: glibc uses the *at forms.
        assert!(!aarch64::TABLE.rows.iter().any(|r| matches!(
            r.sys,
            Sys::Chown | Sys::Lchown | Sys::Stat | Sys::Lstat | Sys::Mknod
        )));
        assert_eq!(aarch64::TABLE.audit_arch, 0xc000_00b7);
        assert_eq!(aarch64::TABLE.x32_bit, 0);
    }
}
