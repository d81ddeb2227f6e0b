//! Owners of what a fake non-root identity creates.
//!
//! Every process is really the namespace's root, so the kernel makes every
//! new file, directory, fifo, socket or symlink 0:0. A process whose fake
//! file-system IDs are not root's (`su bob`, `exec --user 1000`, postgres'
//! own user) must see them as its own, and so must the next container:
//! the new inode gets the creator's fsuid and fsgid — or, in a set-group-ID
//! directory, that directory's group — recorded like any fake owner (the
//! `user.rootlesscontainers` xattr, the in-memory map for the rest).
//!
//! Only such processes trap these calls (`seccomp::creator_trap`): the
//! workload's child installs that filter when the workload starts with such
//! IDs, and a process that takes them later is made to install it
//! (inject.rs). So root's processes pay nothing. Each call stops twice:
//! at entry (what will it make, and with which owner) and at exit (the new
//! inode, through the returned fd or the path).

use crate::arch::Regs;
use crate::fsview::{do_stat, Resolved};
use crate::mem;
use crate::owners::Meta;
use crate::syscalls::{Sys, CREATE_FLAGS};
use crate::tracer::{Action, Pending, Tracer};
use crate::Mode;

const AT_FDCWD: u64 = libc::AT_FDCWD as u64;
const PATH_MAX: usize = 4096;

/// What a creating call names: the directory fd and path of the new entry,
/// the open flags (0 for the others), and whether the result is an fd.
struct Target {
    dirfd: i32,
    path_ptr: u64,
    flags: i32,
    opens: bool,
}

impl Tracer {
    /// The entry stop of a call that may make an inode (`Sys::creates`).
    pub fn creator(&mut self, tid: i32, regs: &Regs, sys: Sys) -> Action {
        if self.mode != Mode::Full {
            return Action::Native;
        }
        let Some(t) = self.target(tid, regs, sys) else {
            return Action::Native;
        };
        let mut path = Vec::new();
        let path = match sys {
            Sys::Bind => match self.unix_path(tid, regs) {
                Some(p) => p,
                None => return Action::Native,
            },
            _ => {
                if mem::read_cstr_via(self.via, tid, t.path_ptr, PATH_MAX - 1, &mut path).is_err() {
                    return Action::Native; // the kernel says EFAULT
                }
                path
            }
        };
        self.expect_new(tid, t.dirfd, path, t.flags, t.opens)
    }

    /// mknod/mknodat of a fifo, socket or regular file (devices have their
    /// placeholders, handlers.rs): Some when it needs an owner.
    pub fn creator_mknod(&mut self, tid: i32, dirfd: i32, path: Vec<u8>) -> Option<Action> {
        if self.mode != Mode::Full {
            return None;
        }
        match self.expect_new(tid, dirfd, path, 0, false) {
            Action::NativeWithExit => Some(Action::NativeWithExit),
            _ => None,
        }
    }

    /// Notes the owner a new `path` will get, if not root's, and asks for
    /// the exit stop (NativeWithExit); else Native.
    fn expect_new(
        &mut self,
        tid: i32,
        dirfd: i32,
        path: Vec<u8>,
        flags: i32,
        opens: bool,
    ) -> Action {
        let tmpfile = flags & libc::O_TMPFILE == libc::O_TMPFILE;
        // open(O_CREAT) of what exists makes nothing.
        if opens && !tmpfile && flags & libc::O_EXCL == 0 {
            let follow = flags & libc::O_NOFOLLOW == 0;
            if self
                .fs
                .resolve(self.via, tid, dirfd, &path, follow, false)
                .is_ok()
            {
                return Action::Native;
            }
        }
        let (uid, gid) = self.new_owner(tid, dirfd, &path, tmpfile);
        if (uid, gid) == (0, 0) {
            return Action::Native;
        }
        if let Some(th) = self.threads.get_mut(&tid) {
            th.pending = Pending::Create {
                dirfd,
                path,
                opens,
                uid,
                gid,
            };
        }
        Action::NativeWithExit
    }

    /// The creator's fsuid, and its fsgid or the set-group-ID directory's group.
    fn new_owner(&mut self, tid: i32, dirfd: i32, path: &[u8], in_dir: bool) -> (u32, u32) {
        let (uid, gid) = {
            let c = self.creds(tid);
            (c.fsuid, c.fsgid)
        };
        let parent = if in_dir {
            self.fs.resolve(self.via, tid, dirfd, path, true, false)
        } else {
            self.fs
                .resolve_parent(self.via, tid, dirfd, path)
                .map(|(p, _)| p)
        };
        let group = parent.ok().and_then(|p| {
            let st = do_stat(&p).ok()?;
            (st.st_mode & libc::S_ISGID != 0)
                .then(|| self.fs.fake_for(&p, &Meta::from_stat(&st)).gid)
        });
        (uid, group.unwrap_or(gid))
    }

    /// The exit stop: a successful call made the inode; it gets its owner.
    pub fn record_created(&mut self, tid: i32, ret: i64, p: Pending) {
        let Pending::Create {
            dirfd,
            path,
            opens,
            uid,
            gid,
        } = p
        else {
            return;
        };
        if ret < 0 {
            return;
        }
        let r = if opens {
            // The fd it got is the new file itself, whatever its name became.
            self.fs.resolve(self.via, tid, ret as i32, b"", true, true)
        } else {
            self.fs.resolve(self.via, tid, dirfd, &path, false, false)
        };
        let Ok(r) = r else { return };
        self.own(&r, uid, gid);
    }

    fn own(&mut self, r: &Resolved, uid: u32, gid: u32) {
        if let Ok(st) = do_stat(r) {
            self.fs
                .owners()
                .set_owner(&r.path, &Meta::from_stat(&st), uid, gid);
        }
    }

    fn target(&mut self, tid: i32, regs: &Regs, sys: Sys) -> Option<Target> {
        let a = |i: usize| regs.arg(i);
        let at = |fd: u64, path, flags, opens| Target {
            dirfd: fd as i32,
            path_ptr: path,
            flags,
            opens,
        };
        let t = match sys {
            Sys::Open => at(AT_FDCWD, a(0), a(1) as i32, true),
            Sys::Creat => at(AT_FDCWD, a(0), libc::O_CREAT | libc::O_WRONLY, true),
            Sys::Openat => at(a(0), a(1), a(2) as i32, true),
            Sys::Openat2 => {
                // struct open_how { u64 flags; ... }: at least its first field.
                if a(3) < 8 {
                    return None;
                }
                let mut f = [0u8; 8];
                mem::read_via(self.via, tid, a(2), &mut f).ok()?;
                at(a(0), a(1), u64::from_ne_bytes(f) as i32, true)
            }
            Sys::Mkdir => at(AT_FDCWD, a(0), 0, false),
            Sys::Mkdirat => at(a(0), a(1), 0, false),
            // symlink(target, linkpath), symlinkat(target, newdirfd, linkpath)
            Sys::Symlink => at(AT_FDCWD, a(1), 0, false),
            Sys::Symlinkat => at(a(1), a(2), 0, false),
            Sys::Bind => at(AT_FDCWD, 0, 0, false),
            _ => return None,
        };
        if t.opens && t.flags as u32 & CREATE_FLAGS == 0 {
            return None;
        }
        Some(t)
    }

    /// The path a bind(2) of a unix socket creates; None for another
    /// family or an abstract name.
    fn unix_path(&mut self, tid: i32, regs: &Regs) -> Option<Vec<u8>> {
        // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
        let len = (regs.arg(2) as usize).min(110);
        if len <= 2 {
            return None;
        }
        let mut sa = vec![0u8; len];
        mem::read_via(self.via, tid, regs.arg(1), &mut sa).ok()?;
        if u16::from_ne_bytes([sa[0], sa[1]]) != libc::AF_UNIX as u16 || sa[2] == 0 {
            return None;
        }
        let path = &sa[2..];
        let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
        Some(path[..end].to_vec())
    }
}
