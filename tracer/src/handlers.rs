//! Shared syscall handlers (architecture independent: they see logical
//! arguments through `Regs::arg`).

use crate::arch::Regs;
use crate::creds::{cap_valid_mask, Creds, CAP_CHOWN, CAP_MKNOD};
use crate::fsview::{do_stat, Resolved};
use crate::mem::{self, Via};
use crate::owners::{errno, Meta};
use crate::syscalls::{Row, Sys};
use crate::tracer::{Action, Pending, Tracer};
use crate::xattr;
use crate::Mode;

const PATH_MAX: usize = 4096;
const NONE: u32 = u32::MAX;

fn ret(r: Result<i64, i32>) -> Action {
    match r {
        Ok(v) => Action::Skip(v),
        Err(e) => Action::Skip(-(e as i64)),
    }
}

fn as_id(v: u64) -> u32 {
    v as u32
}

fn is_hidden(name: &[u8]) -> bool {
    name == &xattr::NAME_C[..xattr::NAME_C.len() - 1]
        || name == &xattr::DEV_NAME_C[..xattr::DEV_NAME_C.len() - 1]
        || crate::acl::is_private(name)
        || name == &crate::rootdb::NAME_C[..crate::rootdb::NAME_C.len() - 1]
}

impl Tracer {
    /// Read a path argument (without NUL).
    fn read_path(&mut self, tid: i32, addr: u64) -> Result<Vec<u8>, i32> {
        let mut v = Vec::new();
        mem::read_cstr_via(self.via, tid, addr, PATH_MAX - 1, &mut v).map(|_| v)
    }

    pub(crate) fn creds(&mut self, tid: i32) -> &mut Creds {
        if !self.threads.contains_key(&tid) {
            let t = self.default_thread();
            self.threads.insert(tid, t);
        }
        &mut self.threads.get_mut(&tid).expect("just inserted").creds
    }

    pub fn handle(&mut self, tid: i32, regs: &mut Regs, row: &Row) -> Action {
        let a = |i: usize| regs.arg(i);
        match row.sys {
            Sys::Getuid => Action::Skip(self.creds(tid).ruid.into()),
            Sys::Geteuid => Action::Skip(self.creds(tid).euid.into()),
            Sys::Getgid => Action::Skip(self.creds(tid).rgid.into()),
            Sys::Getegid => Action::Skip(self.creds(tid).egid.into()),
            Sys::Getresuid | Sys::Getresgid => {
                let c = self.creds(tid);
                let v = if row.sys == Sys::Getresuid {
                    [c.ruid, c.euid, c.suid]
                } else {
                    [c.rgid, c.egid, c.sgid]
                };
                for (i, id) in v.iter().enumerate() {
                    if let Err(e) = mem::write_via(self.via, tid, a(i), &id.to_ne_bytes()) {
                        return ret(Err(e));
                    }
                }
                Action::Skip(0)
            }
            Sys::Getgroups => {
                let size = a(0) as i32;
                let groups = self.creds(tid).groups.clone();
                if size < 0 {
                    return ret(Err(libc::EINVAL));
                }
                if size == 0 {
                    return Action::Skip(groups.len() as i64);
                }
                if (size as usize) < groups.len() {
                    return ret(Err(libc::EINVAL));
                }
                let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_ne_bytes()).collect();
                match mem::write_via(self.via, tid, a(1), &bytes) {
                    Ok(()) => Action::Skip(groups.len() as i64),
                    Err(e) => ret(Err(e)),
                }
            }
            Sys::Setgroups => {
                let n = match self.creds(tid).setgroups_check(a(0) as i32) {
                    Ok(n) => n,
                    Err(e) => return ret(Err(e)),
                };
                let mut raw = vec![0u8; n * 4];
                if let Err(e) = mem::read_via(self.via, tid, a(1), &mut raw) {
                    return ret(Err(e));
                }
                let g = raw
                    .chunks_exact(4)
                    .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                self.creds(tid).set_groups(g);
                Action::Skip(0)
            }
            Sys::Setuid => ret(self.creds(tid).setuid(as_id(a(0)))),
            Sys::Setgid => ret(self.creds(tid).setgid(as_id(a(0)))),
            Sys::Setreuid => ret(self.creds(tid).setreuid(as_id(a(0)), as_id(a(1)))),
            Sys::Setregid => ret(self.creds(tid).setregid(as_id(a(0)), as_id(a(1)))),
            Sys::Setresuid => ret(self
                .creds(tid)
                .setresuid(as_id(a(0)), as_id(a(1)), as_id(a(2)))),
            Sys::Setresgid => ret(self
                .creds(tid)
                .setresgid(as_id(a(0)), as_id(a(1)), as_id(a(2)))),
            Sys::Setfsuid => Action::Skip(self.creds(tid).setfsuid(as_id(a(0)))),
            Sys::Setfsgid => Action::Skip(self.creds(tid).setfsgid(as_id(a(0)))),
            Sys::Capget => self.capget(tid, a(0), a(1)),
            Sys::Capset => self.capset(tid, a(0), a(1)),
            Sys::Prctl => {
                if a(0) as i32 == libc::PR_SET_SECCOMP {
                    self.foreign_filters = true;
                    return Action::Native;
                }
                if a(0) as i32 == libc::PR_SET_NO_NEW_PRIVS {
                    if a(1) == 1 && a(2) | a(3) | a(4) == 0 {
                        self.creds(tid).nnp = true;
                    }
                    return Action::Native;
                }
                match self
                    .creds(tid)
                    .prctl(a(0) & 0xffff_ffff, a(1), a(2), a(3), a(4))
                {
                    Some(r) => ret(r),
                    None => Action::Native,
                }
            }
            Sys::Chown => self.chown(tid, libc::AT_FDCWD as u64, a(0), a(1), a(2), 0, false),
            Sys::Lchown => self.chown(
                tid,
                libc::AT_FDCWD as u64,
                a(0),
                a(1),
                a(2),
                libc::AT_SYMLINK_NOFOLLOW,
                false,
            ),
            Sys::Fchown => self.chown(tid, a(0), 0, a(1), a(2), libc::AT_EMPTY_PATH, true),
            Sys::Fchownat => self.chown(tid, a(0), a(1), a(2), a(3), a(4) as i32, false),
            Sys::Mknod => self.mknod(tid, regs, libc::AT_FDCWD as u64, 0),
            Sys::Mknodat => self.mknod(tid, regs, a(0), 1),
            Sys::Stat | Sys::Lstat | Sys::Fstat | Sys::Newfstatat | Sys::Statx => {
                let args = [a(0), a(1), a(2), a(3), a(4), a(5)];
                let r = self.fs.answer(self.via, tid, row.sys, &args);
                ret(r.unwrap_or(Err(libc::ENOSYS)))
            }
            Sys::Listxattr => {
                self.listxattr(tid, libc::AT_FDCWD as u64, a(0), a(1), a(2), true, false)
            }
            Sys::Llistxattr => {
                self.listxattr(tid, libc::AT_FDCWD as u64, a(0), a(1), a(2), false, false)
            }
            Sys::Flistxattr => self.listxattr(tid, a(0), 0, a(1), a(2), true, true),
            Sys::Getxattr | Sys::Lgetxattr | Sys::Fgetxattr => {
                self.xattr_filter(tid, row.sys, regs, a(1), libc::ENODATA)
            }
            Sys::Setxattr | Sys::Lsetxattr | Sys::Fsetxattr => {
                self.xattr_filter(tid, row.sys, regs, a(1), libc::EPERM)
            }
            Sys::Removexattr | Sys::Lremovexattr | Sys::Fremovexattr => {
                self.xattr_filter(tid, row.sys, regs, a(1), libc::ENODATA)
            }
            // (dirfd, path, at_flags, name, ...): the name is the fourth argument.
            Sys::Getxattrat | Sys::Removexattrat => {
                self.xattr_filter(tid, row.sys, regs, a(3), libc::ENODATA)
            }
            Sys::Setxattrat => self.xattr_filter(tid, row.sys, regs, a(3), libc::EPERM),
            Sys::Listxattrat => self.listxattrat(tid, a(0), a(1), a(2) as i32, a(3), a(4)),
            Sys::SeccompInstall => {
                self.foreign_filters = true;
                Action::Native
            }
            Sys::RootChange => {
                self.fs.set_divergent();
                Action::Native
            }
            Sys::Clone => self.clone_flags(tid, regs),
            Sys::Getsockopt => self.peercred(tid, regs),
            Sys::Setsockopt => self.so_passcred(tid, regs),
            Sys::Sendmsg | Sys::Sendmmsg => self.send_creds(tid, regs, row.sys),
            Sys::Recvmsg | Sys::Recvmmsg => self.recv_creds(tid, regs, row.sys),
            s if s.creates() => self.creator(tid, regs, s),
            _ => Action::Native,
        }
    }

    /// clone with a watched flag (`Sys::Clone`): a new mount or user
    /// namespace is noted like unshare; `CLONE_UNTRACED` from a traced
    /// process would give it an untraced child, which would start with the
    /// default credentials (fake root): the flag is dropped at a ptrace stop,
    /// and refused in a notification, whose arguments cannot be changed.
    fn clone_flags(&mut self, tid: i32, regs: &mut Regs) -> Action {
        let flags = regs.arg(0);
        if flags & (libc::CLONE_NEWNS | libc::CLONE_NEWUSER) as u64 != 0 {
            self.fs.set_divergent();
        }
        let untraced = libc::CLONE_UNTRACED as u64;
        if flags & untraced == 0 {
            return Action::Native;
        }
        match self.via {
            Via::Tracer => {
                regs.set_arg(0, flags & !untraced);
                Action::Rewritten
            }
            // Adopted, hence traced: its child would not be.
            Via::Notify { .. } if self.threads.contains_key(&tid) => ret(Err(libc::EPERM)),
            // Never traced: its children have the default credentials anyway.
            Via::Notify { .. } => Action::Native,
        }
    }

    fn xattr_filter(&mut self, tid: i32, sys: Sys, regs: &Regs, name_ptr: u64, err: i32) -> Action {
        let mut name = Vec::new();
        match mem::read_cstr_via(self.via, tid, name_ptr, 255, &mut name) {
            Ok(()) if is_hidden(&name) => ret(Err(err)),
            // POSIX ACLs naming container IDs (acl.rs).
            Ok(()) => match crate::acl::kind_of(&name) {
                Some(kind) => self.acl_call(tid, sys, regs, kind),
                None => Action::Native,
            },
            _ => Action::Native, // the kernel reports EFAULT/ERANGE itself
        }
    }

    fn capget(&mut self, tid: i32, hdr: u64, data: u64) -> Action {
        let version = match mem::read_u32_via(self.via, tid, hdr) {
            Ok(v) => v,
            Err(e) => return ret(Err(e)),
        };
        let words = match version {
            0x1998_0330 => 1,
            0x2007_1026 | 0x2008_0522 => 2,
            _ => {
                if let Err(e) = mem::write_via(self.via, tid, hdr, &0x2008_0522u32.to_ne_bytes()) {
                    return ret(Err(e));
                }
                return ret(if data == 0 { Ok(0) } else { Err(libc::EINVAL) });
            }
        };
        if data == 0 {
            return Action::Skip(0);
        }
        let pid = match mem::read_u32_via(self.via, tid, hdr + 4) {
            Ok(p) => p as i32,
            Err(e) => return ret(Err(e)),
        };
        if pid < 0 {
            return ret(Err(libc::EINVAL));
        }
        let caps = if pid == 0 || pid == tid {
            self.creds(tid).caps
        } else if let Some(t) = self.threads.get(&pid) {
            t.creds.caps
        } else {
            return Action::Native;
        };
        let mut out = Vec::with_capacity(24);
        for w in 0..words {
            for v in [caps.effective, caps.permitted, caps.inheritable] {
                out.extend_from_slice(&((v >> (32 * w)) as u32).to_ne_bytes());
            }
        }
        ret(mem::write_via(self.via, tid, data, &out).map(|_| 0))
    }

    fn capset(&mut self, tid: i32, hdr: u64, data: u64) -> Action {
        let version = match mem::read_u32_via(self.via, tid, hdr) {
            Ok(v) => v,
            Err(e) => return ret(Err(e)),
        };
        let words = match version {
            0x1998_0330 => 1,
            0x2007_1026 | 0x2008_0522 => 2,
            _ => {
                if let Err(e) = mem::write_via(self.via, tid, hdr, &0x2008_0522u32.to_ne_bytes()) {
                    return ret(Err(e));
                }
                return ret(Err(libc::EINVAL));
            }
        };
        let pid = match mem::read_u32_via(self.via, tid, hdr + 4) {
            Ok(p) => p as i32,
            Err(e) => return ret(Err(e)),
        };
        if pid != 0 && pid != tid {
            return ret(Err(libc::EPERM));
        }
        let mut raw = vec![0u8; 12 * words];
        if let Err(e) = mem::read_via(self.via, tid, data, &mut raw) {
            return ret(Err(e));
        }
        let word = |w: usize, i: usize| -> u64 {
            let o = 12 * w + 4 * i;
            u64::from(u32::from_ne_bytes([
                raw[o],
                raw[o + 1],
                raw[o + 2],
                raw[o + 3],
            ])) << (32 * w)
        };
        let (mut e, mut p, mut inh) = (0u64, 0u64, 0u64);
        for w in 0..words {
            e |= word(w, 0);
            p |= word(w, 1);
            inh |= word(w, 2);
        }
        let m = cap_valid_mask();
        ret(self.creds(tid).capset(e & m, p & m, inh & m))
    }

    #[allow(clippy::too_many_arguments)]
    fn chown(
        &mut self,
        tid: i32,
        dirfd: u64,
        path_ptr: u64,
        uid: u64,
        gid: u64,
        flags: i32,
        fd_call: bool,
    ) -> Action {
        let dirfd = dirfd as i32;
        if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
            return ret(Err(libc::EINVAL));
        }
        let r = match self
            .fs
            .target(self.via, tid, dirfd, path_ptr, flags, fd_call)
        {
            Ok(r) => r,
            Err(e) => return ret(Err(e)),
        };
        let (uid, gid) = (as_id(uid), as_id(gid));
        let privileged = self.creds(tid).capable(CAP_CHOWN);
        let full = self.mode == Mode::Full;
        let mut before = None;
        if full || !privileged {
            let st = match do_stat(&r) {
                Ok(st) => st,
                Err(e) => return ret(Err(e)),
            };
            let m = Meta::from_stat(&st);
            let cur = self.fs.fake_for(&r, &m);
            if !privileged {
                let c = self.creds(tid);
                let ok = (uid == NONE && gid == NONE)
                    || (c.fsuid == cur.uid
                        && (uid == NONE || uid == cur.uid)
                        && (gid == NONE || gid == cur.gid || c.in_group(gid)));
                if !ok {
                    return ret(Err(libc::EPERM));
                }
            }
            before = Some((m, cur));
        }
        let real = |v: u32| if v == NONE { NONE } else { 0 };
        let (at, name, flags) = r.at();
        // SAFETY: `name` is a static empty string; `r` holds `at` open.
        let rc = unsafe { libc::fchownat(at, name, real(uid), real(gid), flags) };
        if rc != 0 {
            return ret(Err(errno()));
        }
        if let (true, Some((m, cur))) = (full, before) {
            let nu = if uid == NONE { cur.uid } else { uid };
            let ng = if gid == NONE { cur.gid } else { gid };
            if (nu, ng) != (cur.uid, cur.gid) {
                // The real chown changed the ctime, which validates the
                // persisted owner of a symlink, FIFO or socket (rootdb.rs).
                let m = if m.xattr_capable() {
                    m
                } else {
                    do_stat(&r).map_or(m, |st| Meta::from_stat(&st))
                };
                self.fs.owners().set_owner(&r.path, &m, nu, ng);
            }
        }
        Action::Skip(0)
    }

    fn mknod(&mut self, tid: i32, regs: &mut Regs, dirfd: u64, pi: usize) -> Action {
        let mode = regs.arg(pi + 1) as u32;
        let kind = mode & libc::S_IFMT;
        if kind != libc::S_IFCHR && kind != libc::S_IFBLK {
            // A fifo, socket or file: its owner, if the creator is not root.
            let Ok(path) = self.read_path(tid, regs.arg(pi)) else {
                return Action::Native;
            };
            return self
                .creator_mknod(tid, dirfd as i32, path)
                .unwrap_or(Action::Native);
        }
        if !self.creds(tid).capable(CAP_MKNOD) {
            return ret(Err(libc::EPERM));
        }
        let path = match self.read_path(tid, regs.arg(pi)) {
            Ok(p) => p,
            Err(e) => return ret(Err(e)),
        };
        let rdev = regs.arg(pi + 2);
        regs.set_arg(pi + 1, u64::from(libc::S_IFREG | (mode & 0o7777)));
        regs.set_arg(pi + 2, 0);
        if let Some(t) = self.threads.get_mut(&tid) {
            t.pending = Pending::Mknod {
                dirfd: dirfd as i32,
                path,
                kind,
                rdev,
            };
        }
        Action::NativeWithExit
    }

    /// Syscall-exit stop.
    pub fn syscall_exit(&mut self, tid: i32) {
        if let Ok(r) = Regs::get(tid) {
            self.finish_pending(tid, r.ret());
        }
    }

    /// The call we asked to see the end of returned `ret`.
    pub fn finish_pending(&mut self, tid: i32, ret: i64) {
        let pending = match self.threads.get_mut(&tid) {
            Some(t) => std::mem::replace(&mut t.pending, Pending::None),
            None => return,
        };
        if let Pending::Create { .. } = pending {
            return self.record_created(tid, ret, pending);
        }
        if let Pending::Send { .. } | Pending::Recv { .. } = pending {
            return self.finish_creds(tid, ret, pending);
        }
        if let Pending::Mknod {
            dirfd,
            path,
            kind,
            rdev,
        } = pending
        {
            if ret != 0 {
                return;
            }
            let Ok(r) = self.fs.resolve(self.via, tid, dirfd, &path, false, false) else {
                return;
            };
            let Ok(st) = do_stat(&r) else { return };
            let m = Meta::from_stat(&st);
            self.fs.owners().add_device(&r.path, &m, kind, rdev);
            let c = self.creds(tid);
            let (u, g) = (c.fsuid, c.fsgid);
            if self.mode == Mode::Full && (u, g) != (0, 0) {
                self.fs.owners().set_owner(&r.path, &m, u, g);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn listxattr(
        &mut self,
        tid: i32,
        dirfd: u64,
        path_ptr: u64,
        list: u64,
        size: u64,
        follow: bool,
        fd_call: bool,
    ) -> Action {
        let dirfd = dirfd as i32;
        let path = if fd_call {
            if dirfd < 0 {
                return ret(Err(libc::EBADF));
            }
            Vec::new()
        } else {
            match self.read_path(tid, path_ptr) {
                Ok(p) => p,
                Err(e) => return ret(Err(e)),
            }
        };
        let r = match self
            .fs
            .resolve(self.via, tid, dirfd, &path, follow, fd_call)
        {
            Ok(r) => r,
            Err(e) => return ret(Err(e)),
        };
        self.list_visible(tid, &r, list, size)
    }

    /// listxattrat(dirfd, path, at_flags, list, size) (Linux 6.13).
    fn listxattrat(
        &mut self,
        tid: i32,
        dirfd: u64,
        path: u64,
        flags: i32,
        list: u64,
        size: u64,
    ) -> Action {
        if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
            return ret(Err(libc::EINVAL));
        }
        let r = match self
            .fs
            .target(self.via, tid, dirfd as i32, path, flags, false)
        {
            Ok(r) => r,
            Err(e) => return ret(Err(e)),
        };
        self.list_visible(tid, &r, list, size)
    }

    /// The attribute names of `r` without ours, written to the tracee's `list`.
    fn list_visible(&mut self, tid: i32, r: &Resolved, list: u64, size: u64) -> Action {
        let mut buf = vec![0u8; 65536];
        // SAFETY: NUL-terminated path of our own fd (the object itself); buf is ours.
        let n =
            unsafe { libc::listxattr(r.path.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return ret(Err(errno()));
        }
        let mut out = Vec::with_capacity(n as usize);
        for name in buf[..n as usize].split_inclusive(|&b| b == 0) {
            let bare = name.strip_suffix(&[0]).unwrap_or(name);
            if !is_hidden(bare) {
                out.extend_from_slice(name);
            }
        }
        if size == 0 {
            return Action::Skip(out.len() as i64);
        }
        if out.len() as u64 > size {
            return ret(Err(libc::ERANGE));
        }
        ret(mem::write_via(self.via, tid, list, &out).map(|_| out.len() as i64))
    }

    /// PTRACE_EVENT_EXEC: apply set-user-ID / set-group-ID and the capability rules,
    /// then rewrite the auxiliary vector's AT_*UID/AT_*GID/AT_SECURE.
    pub fn exec_event(&mut self, tid: i32) {
        // What the kernel just exec'd, through the tracee's own link.
        let exe = crate::fsview::open_path(&format!("/proc/{tid}/exe"), 0).map(Resolved::of);
        let (mut su, mut sg) = (None, None);
        if let Some((r, st)) = exe.ok().and_then(|r| do_stat(&r).ok().map(|st| (r, st))) {
            if st.st_mode & (libc::S_ISUID | libc::S_ISGID) != 0
                && !self.creds(tid).nnp
                && !nosuid(&r.path)
            {
                let fake = self.fs.fake_for(&r, &Meta::from_stat(&st));
                if st.st_mode & libc::S_ISUID != 0 {
                    su = Some(fake.uid);
                }
                if st.st_mode & libc::S_ISGID != 0 && st.st_mode & libc::S_IXGRP != 0 {
                    sg = Some(fake.gid);
                }
            }
        }
        if let Some(t) = self.threads.get_mut(&tid) {
            t.pending = Pending::None;
        }
        let c = self.creds(tid);
        let secure = c.exec(su, sg);
        let want = [
            (libc::AT_UID, u64::from(c.ruid)),
            (libc::AT_EUID, u64::from(c.euid)),
            (libc::AT_GID, u64::from(c.rgid)),
            (libc::AT_EGID, u64::from(c.egid)),
        ];
        if want.iter().all(|&(_, v)| v == 0) && !secure {
            return; // the real values (namespace root) are already right
        }
        let _ = rewrite_auxv(tid, &want, secure);
    }
}

fn nosuid(path: &[u8]) -> bool {
    // SAFETY: zeroed statvfs is valid; NUL-terminated path.
    let mut sv: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::statvfs(path.as_ptr().cast(), &mut sv) == 0 && sv.f_flag & libc::ST_NOSUID != 0 }
}

/// Walk argc/argv/envp on the new stack to the auxiliary vector and patch it.
fn rewrite_auxv(tid: i32, want: &[(u64, u64)], secure: bool) -> Result<(), i32> {
    let regs = Regs::get(tid).map_err(|_| libc::ESRCH)?;
    let sp = regs.sp();
    let mut stack: Vec<u8> = Vec::new();
    let word = |stack: &mut Vec<u8>, i: usize| -> Result<u64, i32> {
        while stack.len() < (i + 1) * 8 {
            if stack.len() > (1 << 22) {
                return Err(libc::E2BIG);
            }
            // Up to the next page boundary: the stack may end there.
            let at = sp + stack.len() as u64;
            let mut chunk = vec![0u8; (4096 - (at % 4096)) as usize];
            mem::read(tid, at, &mut chunk)?;
            stack.extend_from_slice(&chunk);
        }
        let o = i * 8;
        Ok(u64::from_ne_bytes(
            stack[o..o + 8].try_into().map_err(|_| libc::EFAULT)?,
        ))
    };
    let argc = word(&mut stack, 0)? as usize;
    let mut i = argc + 2; // argc, argv..., NULL
    while word(&mut stack, i)? != 0 {
        i += 1;
    }
    i += 1;
    loop {
        let key = word(&mut stack, i)?;
        if key == libc::AT_NULL {
            break;
        }
        let new = if let Some(&(_, v)) = want.iter().find(|(k, _)| *k == key) {
            Some(v)
        } else if key == libc::AT_SECURE && secure {
            Some(1)
        } else {
            None
        };
        if let Some(v) = new {
            if word(&mut stack, i + 1)? != v {
                mem::write(tid, sp + (i as u64 + 1) * 8, &v.to_ne_bytes())?;
            }
        }
        i += 2;
    }
    Ok(())
}
