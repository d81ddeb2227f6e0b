//! The listener engine: every trapped call (and execve) goes to the seccomp
//! listener, and one thread answers them *and* runs the ptrace loop.
//!
//! Why: under ptrace every fork, exec and exit of every process stops it and
//! wakes the tracer, even when nothing about identities happens, and on an
//! idle VM each such round trip costs tens of microseconds. Most processes
//! never change their credentials: they keep the ones the workload started
//! with (`Tracer::initial`, "the default"). So a process is traced only once
//! it needs to be ("adopted"):
//! - a call leaves its credentials different from the default (set*id,
//!   setgroups, capset, a credential prctl): from then on its children must
//!   inherit its own, so fork/clone events matter;
//! - it execs a set-ID file, or any file when the default credentials are
//!   not root's (the auxiliary vector needs rewriting): the exec event does it.
//!
//! A thread with no entry in `Tracer::threads` has the default credentials;
//! adoption seizes every thread of the process and gives each an entry.
//! Children inherit: a child of an unadopted process is itself unadopted,
//! and one of an adopted process is auto-attached with its parent's entry.
//!
//! The engine is used only where the tracer is PID 1 of the container's pid
//! namespace: an unadopted process does not die with the tracer through
//! PTRACE_O_EXITKILL, but every process in the namespace dies with its PID 1.
//! Elsewhere (`rootlessrt exec`, `rootlessrt fakeroot`) everything is traced.

use crate::arch::Regs;
use crate::fsview::do_stat;
use crate::mem::{self, Via};
use crate::notify::{self, Notif};
use crate::owners::errno;
use crate::syscalls::{Row, Sys, NATIVE};
use crate::tracer::{
    Action, Outcome, Pending, Tracer, INJECT_CREDS, INJECT_PASSCRED, PTRACE_OPTIONS,
};

/// A field of /proc/<tid>/status ("Tgid", "Umask").
pub(crate) fn status_field(tid: i32, key: &str, radix: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    s.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(':')?;
        u32::from_str_radix(v.trim(), radix).ok()
    })
}

/// The threads of process `tgid` (just `tgid` if /proc cannot say).
fn tasks(tgid: i32) -> Vec<i32> {
    match std::fs::read_dir(format!("/proc/{tgid}/task")) {
        Ok(rd) => rd
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => vec![tgid],
    }
}

/// SIGCHLD as an fd (SIGCHLD is blocked in every thread: runner.rs).
pub fn sigchld_fd() -> i32 {
    // SAFETY: a sigset we own.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        set
    };
    signal_fd(&set)
}

/// A non-blocking signalfd for `set` (blocked by the caller), or -1.
pub fn signal_fd(set: &libc::sigset_t) -> i32 {
    // SAFETY: signalfd returns a new fd or -1.
    unsafe { libc::signalfd(-1, set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) }
}

/// Pass the signals read from `fd` on to the workload's main process.
fn forward(fd: i32, target: i32) {
    const SIZE: usize = std::mem::size_of::<libc::signalfd_siginfo>();
    let mut buf = [0u8; SIZE * 8];
    loop {
        // SAFETY: reading into our buffer; the fd is non-blocking.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return;
        }
        for info in buf[..n as usize].chunks_exact(SIZE) {
            // struct signalfd_siginfo: u32 ssi_signo, i32 ssi_errno, i32 ssi_code, ...
            let sig = i32::from_ne_bytes(info[0..4].try_into().unwrap_or_default());
            let code = i32::from_ne_bytes(info[8..12].try_into().unwrap_or_default());
            if crate::signals::forwardable(sig, code) {
                // SAFETY: plain kill.
                unsafe { libc::kill(target, sig) };
            }
        }
    }
}

fn drain(fd: i32) {
    let mut buf = [0u8; 128 * 4];
    // SAFETY: reading into our buffer; the fd is non-blocking.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

impl Tracer {
    /// Serve `listener` and the ptrace events of adopted processes until the
    /// main process exits. `report` is the child's CLOEXEC report pipe: its
    /// hang-up without data means the workload's execve succeeded.
    pub fn run_listening(
        &mut self,
        listener: i32,
        sigchld: i32,
        report: i32,
        signals: i32,
        on_exec: &mut dyn FnMut(),
    ) -> Outcome {
        self.listening = true;
        notify::set_sync_wake_up(listener);
        let mut buf = vec![0u64; notify::notif_size().div_ceil(8)];
        let poll_fd = |fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut fds = [
            poll_fd(listener),
            poll_fd(sigchld),
            poll_fd(report),
            poll_fd(signals),
        ];
        let mut reap = true; // a SIGCHLD may predate the signalfd
        loop {
            if reap {
                if let Some(o) = self.reap(on_exec) {
                    return o;
                }
            }
            // SAFETY: four pollfds we own (a negative fd is skipped).
            if unsafe { libc::poll(fds.as_mut_ptr(), 4, -1) } < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return Outcome::Exited(127);
            }
            if fds[3].revents != 0 {
                forward(signals, self.main);
            }
            if fds[2].revents != 0 {
                if fds[2].revents & libc::POLLIN == 0 {
                    self.exec_seen = true;
                    on_exec();
                }
                fds[2].fd = -1; // data: the runner reads the failure when main exits
            }
            if fds[0].revents & libc::POLLIN != 0 {
                match notify::recv_one(listener, &mut buf) {
                    Ok(Some(n)) => {
                        let r = self.notification(listener, &n);
                        notify::send(listener, n.id, r);
                    }
                    Ok(None) => {}
                    Err(_) => fds[0].fd = -1,
                }
            } else if fds[0].revents != 0 {
                fds[0].fd = -1; // no process uses the filter any more
            }
            reap = fds[1].revents != 0;
            if reap {
                drain(sigchld);
            }
        }
    }

    /// Every pending waitpid status; Some when the main process is done.
    fn reap(&mut self, on_exec: &mut dyn FnMut()) -> Option<Outcome> {
        loop {
            let mut status = 0;
            // SAFETY: plain waitpid with a local status.
            let tid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL | libc::WNOHANG) };
            match tid {
                0 => return None,
                t if t < 0 && errno() == libc::EINTR => continue,
                t if t < 0 => return Some(Outcome::Exited(127)), // ECHILD: nothing left
                t => {
                    if let Some(o) = self.on_status(t, status, on_exec) {
                        return Some(o);
                    }
                }
            }
        }
    }

    /// The answer to one notification; `Err(mem::DENIED)` lets the call run.
    fn notification(&mut self, fd: i32, n: &Notif) -> Result<i64, i32> {
        let tid = n.pid as i32;
        // pid 0: the caller is outside our pid namespace; nothing to resolve through.
        if tid == 0 || n.arch != NATIVE.audit_arch {
            return Err(mem::DENIED);
        }
        if NATIVE.x32_bit != 0 && n.nr as u32 & NATIVE.x32_bit != 0 {
            // A trapped number called through the x32 ABI (the filter routes
            // it here to stay short): not emulated, as under ptrace.
            return Err(libc::ENOSYS);
        }
        let via = Via::Notify { fd, id: n.id };
        if NATIVE.exec.contains(&(n.nr as u32)) {
            self.exec_check(via, tid, n.nr as u32, &n.args);
            return Err(mem::DENIED);
        }
        let Some(row) = self.index.get(n.nr as usize).copied().flatten() else {
            return Err(mem::DENIED);
        };
        let known = self.threads.contains_key(&tid);
        let mut regs = Regs::from_args(&n.args);
        self.via = via;
        let result = match self.handle(tid, &mut regs, &row) {
            Action::Skip(v) if v == -(mem::DENIED as i64) => Err(mem::DENIED),
            Action::Skip(v) if (-4095..0).contains(&v) => Err(-v as i32),
            Action::Skip(v) => Ok(v),
            Action::Native | Action::Rewritten => Err(mem::DENIED),
            Action::NativeWithExit => self.mknod_placeholder(tid, &regs, &row),
        };
        self.via = Via::Tracer;
        if !known {
            // The handler worked on a scratch copy of the default: if that
            // changed, the process is adopted before the caller goes on (and
            // can fork with its new credentials).
            if let Some(t) = self.threads.remove(&tid) {
                if t.creds != self.initial {
                    self.adopt(tid);
                    self.threads.insert(tid, t);
                }
            }
        }
        if crate::procstatus::changes_ids(row.sys) {
            self.publish_ids(tid);
        }
        if self.inject.is_some() {
            self.inject_check(tid);
        }
        if std::mem::take(&mut self.want_passcred) {
            self.passcred_check(tid);
        }
        result
    }

    /// execve/execveat of an unadopted process: adopt it when the exec
    /// changes anything the default does not cover; the exec event does the rest.
    fn exec_check(&mut self, via: Via, tid: i32, nr: u32, a: &[u64; 6]) {
        mem::forget(tid); // a new address space if it succeeds
        if self.threads.contains_key(&tid) {
            return;
        }
        if !self.initial.all_ids_root() || (!self.initial.nnp && self.set_id_file(via, tid, nr, a))
        {
            self.adopt(tid);
        }
    }

    /// Whether the file being exec'd carries a set-user-ID or set-group-ID bit.
    fn set_id_file(&mut self, via: Via, tid: i32, nr: u32, a: &[u64; 6]) -> bool {
        let (dirfd, path, flags) = if nr == NATIVE.exec[0] {
            (libc::AT_FDCWD, a[0], 0)
        } else {
            (a[0] as i32, a[1], a[4] as i32 & libc::AT_EMPTY_PATH)
        };
        let Ok(r) = self.fs.target(via, tid, dirfd, path, flags, false) else {
            return false;
        };
        match do_stat(&r) {
            Ok(st) => {
                st.st_mode & libc::S_ISUID != 0
                    || st.st_mode & (libc::S_ISGID | libc::S_IXGRP)
                        == (libc::S_ISGID | libc::S_IXGRP)
            }
            Err(_) => false,
        }
    }

    /// Once a thread's fake credentials need the injected filter (`Inject`:
    /// it can no longer chown freely, or its file-system IDs are not root's),
    /// its process is made to install it (inject.rs). Its threads are marked
    /// now, so it is done once.
    fn inject_check(&mut self, tid: i32) {
        let when = match &self.inject {
            Some(i) => i.when,
            None => return,
        };
        match self.threads.get(&tid) {
            Some(t) if !t.injected && when.needed(&t.creds) => {}
            _ => return,
        }
        let tgid = status_field(tid, "Tgid", 10).map_or(tid, |t| t as i32);
        for t in tasks(tgid).into_iter().chain([tid]) {
            if let Some(t) = self.threads.get_mut(&t) {
                t.injected = true;
            }
        }
        self.arm_injection(tid, INJECT_CREDS);
    }

    /// A thread enabled SO_PASSCRED: its process is adopted if it was not,
    /// and made to install `seccomp::passcred_trap` (once), which its
    /// children keep (passcred.rs).
    pub(crate) fn passcred_check(&mut self, tid: i32) {
        if self.passcred_trap.is_none() {
            return;
        }
        if !self.threads.contains_key(&tid) {
            self.adopt(tid);
        }
        if self.threads.get(&tid).is_none_or(|t| t.passcred) {
            return;
        }
        let tgid = status_field(tid, "Tgid", 10).map_or(tid, |t| t as i32);
        for t in tasks(tgid).into_iter().chain([tid]) {
            if let Some(t) = self.threads.get_mut(&t) {
                t.passcred = true;
            }
        }
        self.arm_injection(tid, INJECT_PASSCRED);
    }

    /// Trace every thread of `tid`'s process from now on, each with the
    /// default credentials (which it has until now).
    fn adopt(&mut self, tid: i32) {
        let tgid = status_field(tid, "Tgid", 10).map_or(tid, |t| t as i32);
        self.threads.remove(&tid);
        // Threads the unadopted ones start meanwhile: until a listing adds none.
        for _ in 0..4 {
            let mut added = false;
            for t in tasks(tgid) {
                if self.threads.contains_key(&t) {
                    continue;
                }
                // SAFETY: seizing a thread of our workload; no stop is caused.
                let rc = unsafe { libc::ptrace(libc::PTRACE_SEIZE, t, 0, PTRACE_OPTIONS) };
                if rc != 0 && errno() == libc::ESRCH {
                    continue; // exiting
                }
                // Not traceable (EPERM: a non-dumpable process and no
                // CAP_SYS_PTRACE): its credentials are still tracked, only
                // its children will start from the default.
                let entry = self.default_thread();
                self.threads.insert(t, entry);
                added = true;
            }
            if !added {
                break;
            }
        }
        if !self.threads.contains_key(&tid) {
            let entry = self.default_thread();
            self.threads.insert(tid, entry);
        }
    }

    /// mknod of a device: what the ptrace engine lets the caller do with
    /// rewritten arguments (a regular file in its place), done here, since
    /// a notification has no exit stop; the same for a fifo or socket that
    /// gets a fake owner (creator.rs).
    fn mknod_placeholder(&mut self, tid: i32, regs: &Regs, row: &Row) -> Result<i64, i32> {
        let (dirfd, pi) = if row.sys == Sys::Mknod {
            (libc::AT_FDCWD, 0)
        } else {
            (regs.arg(0) as i32, 1)
        };
        let path = match self.threads.get(&tid).map(|t| &t.pending) {
            Some(Pending::Mknod { path, .. } | Pending::Create { path, .. }) => path.clone(),
            _ => return Err(mem::DENIED),
        };
        let (parent, name) = match self.fs.resolve_parent(self.via, tid, dirfd, &path) {
            Ok(p) => p,
            Err(e) => {
                self.finish_pending(tid, -1);
                return Err(e);
            }
        };
        let umask = status_field(tid, "Umask", 8).unwrap_or(0o022);
        let mode = regs.arg(pi + 1) as u32 & !umask;
        // SAFETY: a NUL-terminated name in the directory `parent` holds open.
        let rc = unsafe { libc::mknodat(parent.fd(), name.as_ptr().cast(), mode, 0) };
        let result = if rc == 0 { Ok(0) } else { Err(errno()) };
        self.finish_pending(tid, if rc == 0 { 0 } else { -1 });
        result
    }
}
