//! The ptrace loop: one thread, waitpid(-1, __WALL), per-thread state.

use crate::arch::{self, Regs};
use crate::creds::Creds;
use crate::fsview::FsView;
use crate::mem::Via;
use crate::syscalls::{Row, NATIVE};
use crate::{Config, Mode};
use std::collections::HashMap;
use std::sync::Arc;

/// A syscall whose exit stop we asked for.
pub enum Pending {
    None,
    Mknod {
        dirfd: i32,
        path: Vec<u8>,
        kind: u32,
        rdev: u64,
    },
    /// A call that may make an inode, which gets this owner (creator.rs).
    Create {
        dirfd: i32,
        path: Vec<u8>,
        /// The result is an fd of the new file (open*).
        opens: bool,
        uid: u32,
        gid: u32,
    },
    /// sendmsg/sendmmsg whose SCM_CREDENTIALS were rewritten to the real
    /// IDs: the caller's bytes to put back (address, original uid and gid).
    Send {
        restore: Vec<(u64, [u8; 8])>,
    },
    /// recvmsg (`multi` false) or recvmmsg: the header(s) at `msg`, whose
    /// SCM_CREDENTIALS get the senders' fake IDs (passcred.rs).
    Recv {
        msg: u64,
        multi: bool,
    },
}

pub struct Thread {
    pub creds: Creds,
    pub pending: Pending,
    /// Its process has the injected filter (or is being given it).
    pub injected: bool,
    /// Its process has `seccomp::passcred_trap` (or is being given it).
    pub passcred: bool,
    /// Its process id once looked up (0: not yet; passcred.rs). A thread
    /// keeps it for life: one that execs becomes the process's leader.
    pub tgid: i32,
}

impl Thread {
    pub fn new(creds: Creds) -> Thread {
        Thread {
            creds,
            pending: Pending::None,
            injected: false,
            passcred: false,
            tgid: 0,
        }
    }
}

/// What to do with a thread after its seccomp stop.
pub enum Action {
    /// Skip the call; it returns this value (negative errno for errors).
    Skip(i64),
    /// Run the call natively.
    Native,
    /// Run the (possibly rewritten) call and stop at its exit.
    NativeWithExit,
    /// Run the call with rewritten arguments (only at a ptrace stop).
    Rewritten,
}

/// What every tracee is seized with (auto-attach children, see exec and
/// seccomp stops, die with the tracer).
pub const PTRACE_OPTIONS: libc::c_int = libc::PTRACE_O_TRACESYSGOOD
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_TRACESECCOMP
    | libc::PTRACE_O_EXITKILL;

pub struct Tracer {
    pub mode: Mode,
    pub index: Vec<Option<Row>>,
    pub threads: HashMap<i32, Thread>,
    /// Stops of tids whose parent's fork/clone event has not arrived yet.
    held: HashMap<i32, i32>,
    /// Paths, stat and fake owners; shared with the notification thread.
    pub fs: Arc<FsView>,
    /// The workload installed seccomp filters of its own: check the tag of every stop.
    pub foreign_filters: bool,
    pub main: i32,
    pub exec_seen: bool,
    /// The credentials of a thread with no entry in `threads`. Under the
    /// listener engine: those of every process not adopted (listener.rs).
    pub initial: Creds,
    /// How handlers reach tracee memory: the ptrace stop, or the notification being answered.
    pub via: Via,
    /// The listener engine runs this tracer (listener.rs).
    pub listening: bool,
    /// The filter an adopted process is made to install (inject.rs) once its
    /// fake credentials need it, and when.
    pub inject: Option<Inject>,
    /// Processes with the default credentials carry the filter `inject`
    /// would give them from the start (the workload's child installed it).
    pub injected_default: bool,
    /// The filter a process is made to install once it enables SO_PASSCRED
    /// (`seccomp::passcred_trap`; None where nothing can be injected).
    pub passcred_trap: Option<Vec<libc::sock_filter>>,
    /// A handler saw SO_PASSCRED enabled: the caller's process is to get
    /// `passcred_trap` (taken after each call).
    pub want_passcred: bool,
    /// What the last send of a process with non-root fake IDs told its
    /// receivers, by its tgid: the explicit SCM_CREDENTIALS it claimed, or
    /// its fake real IDs then (kept after it exits: a message may be read
    /// later). passcred.rs.
    pub claims: HashMap<i32, crate::passcred::Claim>,
    /// Adopted threads interrupted to install filters at their next stop:
    /// `INJECT_CREDS` (`inject`) and/or `INJECT_PASSCRED`.
    interrupted: HashMap<i32, u8>,
    inject_warned: bool,
    /// Where the fake IDs are published for the shim (procstatus.rs).
    pub creds_table: Option<crate::preload::CredsTable>,
}

/// What an interrupted thread installs (`Tracer::arm_injection`).
pub const INJECT_CREDS: u8 = 1;
pub const INJECT_PASSCRED: u8 = 2;

/// A filter for adopted processes to install (inject.rs).
pub struct Inject {
    pub prog: Vec<libc::sock_filter>,
    pub when: InjectWhen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectWhen {
    /// `seccomp::chown_trap`: the listener's filter lets root's chown calls
    /// run (seccomp::build_with); a process without fake CAP_CHOWN must trap them.
    LostChown,
    /// `seccomp::creator_trap`: the process's fake file-system IDs are not
    /// root's; what it creates needs an owner (creator.rs).
    NotRootFs,
}

impl InjectWhen {
    pub fn needed(self, c: &Creds) -> bool {
        match self {
            InjectWhen::LostChown => !c.capable(crate::creds::CAP_CHOWN),
            InjectWhen::NotRootFs => c.fsuid != 0 || c.fsgid != 0,
        }
    }
}

pub enum Outcome {
    Exited(i32),
    /// The main process exited before its first execve succeeded (status code).
    ExecFailed(i32),
}

fn wstatus_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

impl Tracer {
    pub fn new(cfg: &Config, main: i32, initial: Creds, fs: Arc<FsView>) -> Tracer {
        let mut threads = HashMap::new();
        threads.insert(main, Thread::new(initial.clone()));
        Tracer {
            mode: cfg.mode,
            index: NATIVE.index(),
            threads,
            held: HashMap::new(),
            fs,
            foreign_filters: false,
            main,
            exec_seen: false,
            initial,
            via: Via::Tracer,
            listening: false,
            inject: None,
            injected_default: false,
            passcred_trap: None,
            want_passcred: false,
            claims: HashMap::new(),
            interrupted: Default::default(),
            inject_warned: false,
            creds_table: None,
        }
    }

    /// The entry of a thread that has the default credentials.
    pub fn default_thread(&self) -> Thread {
        let mut t = Thread::new(self.initial.clone());
        t.injected = self.injected_default;
        t
    }

    /// Run until the main process exits. `on_exec` is called once, after the
    /// main process's first successful execve.
    pub fn run(&mut self, on_exec: &mut dyn FnMut()) -> Outcome {
        loop {
            let mut status = 0;
            // SAFETY: plain waitpid with a local status.
            let tid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL) };
            if tid < 0 {
                if crate::owners::errno() == libc::EINTR {
                    continue;
                }
                // ECHILD: nothing left (should not happen before main exits).
                return Outcome::Exited(127);
            }
            if let Some(o) = self.on_status(tid, status, on_exec) {
                return o;
            }
        }
    }

    /// What waitpid said of `tid`; Some when the main process is done.
    pub fn on_status(
        &mut self,
        tid: i32,
        status: i32,
        on_exec: &mut dyn FnMut(),
    ) -> Option<Outcome> {
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            self.threads.remove(&tid);
            self.held.remove(&tid);
            self.interrupted.remove(&tid);
            self.unpublish_ids(tid);
            crate::mem::forget(tid);
            crate::fsview::forget(tid);
            if tid == self.main {
                if !self.exec_seen {
                    return Some(Outcome::ExecFailed(wstatus_code(status)));
                }
                return Some(Outcome::Exited(wstatus_code(status)));
            }
            return None;
        }
        if !libc::WIFSTOPPED(status) {
            return None;
        }
        if !self.threads.contains_key(&tid) {
            // A new task whose creator's event has not been seen yet: hold it.
            self.held.insert(tid, status);
            return None;
        }
        self.dispatch(tid, status, on_exec);
        None
    }

    fn dispatch(&mut self, tid: i32, status: i32, on_exec: &mut dyn FnMut()) {
        let sig = libc::WSTOPSIG(status);
        let event = (status >> 16) & 0xff;
        match (sig, event) {
            (libc::SIGTRAP, libc::PTRACE_EVENT_SECCOMP) => self.seccomp_stop(tid),
            (
                libc::SIGTRAP,
                libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE,
            ) => {
                if let Ok(new) = arch::event_msg(tid) {
                    let new = new as i32;
                    self.claims.remove(&new); // a reused pid
                    let (creds, injected, passcred) = self
                        .threads
                        .get(&tid)
                        .map(|t| (t.creds.clone(), t.injected, t.passcred))
                        .unwrap_or_else(|| (self.initial.clone(), false, false));
                    let mut t = Thread::new(creds);
                    t.injected = injected; // filters are inherited
                    t.passcred = passcred;
                    self.threads.insert(new, t);
                    self.publish_ids(new);
                    if let Some(st) = self.held.remove(&new) {
                        self.dispatch(new, st, on_exec);
                    }
                }
                arch::resume(libc::PTRACE_CONT, tid, 0);
            }
            (libc::SIGTRAP, libc::PTRACE_EVENT_EXEC) => {
                // A new address space: the notification thread's mem files are stale.
                crate::mem::forget(tid);
                if let Ok(former) = arch::event_msg(tid) {
                    let former = former as i32;
                    crate::mem::forget(former);
                    if former != tid {
                        if let Some(t) = self.threads.remove(&former) {
                            self.threads.insert(tid, t);
                        }
                        self.unpublish_ids(former);
                    }
                }
                self.exec_event(tid);
                self.publish_ids(tid);
                arch::resume(libc::PTRACE_CONT, tid, 0);
                // After the resume: the workload need not wait for our fd cleanup.
                if tid == self.main && !self.exec_seen {
                    self.exec_seen = true;
                    on_exec();
                }
            }
            (libc::SIGTRAP, libc::PTRACE_EVENT_STOP) if self.interrupted.contains_key(&tid) => {
                let which = self.interrupted.remove(&tid).unwrap_or(0);
                self.install_injected(tid, which);
            }
            (_, libc::PTRACE_EVENT_STOP) => {
                if matches!(
                    sig,
                    libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                ) {
                    // Group stop: stay stopped, but keep reporting (SIGCONT resumes).
                    arch::resume(libc::PTRACE_LISTEN, tid, 0);
                } else {
                    arch::resume(libc::PTRACE_CONT, tid, 0);
                }
            }
            (s, _) if s == (libc::SIGTRAP | 0x80) => {
                self.syscall_exit(tid);
                arch::resume(libc::PTRACE_CONT, tid, 0);
            }
            (libc::SIGTRAP, e) if e != 0 => arch::resume(libc::PTRACE_CONT, tid, 0),
            (s, _) => arch::resume(libc::PTRACE_CONT, tid, s),
        }
    }

    /// Interrupt adopted `tid` so that it installs `which` (`INJECT_*`) at
    /// its next stop, which comes before it runs another instruction: the
    /// call being answered waits killably (WAIT_KILLABLE_RECV), so the
    /// interrupt does not abort it, and the stop is taken on its way back.
    pub fn arm_injection(&mut self, tid: i32, which: u8) {
        let have = match which {
            INJECT_CREDS => self.inject.is_some(),
            _ => self.passcred_trap.is_some(),
        };
        if !have {
            return;
        }
        if let Some(w) = self.interrupted.get_mut(&tid) {
            *w |= which; // one stop installs both
            return;
        }
        // SAFETY: no memory is passed; fails unless `tid` is our tracee.
        if unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0) } == 0 {
            self.interrupted.insert(tid, which);
        } else {
            self.warn_injection(tid, "not traceable", which);
        }
    }

    /// At the interrupt stop: install the filters, then resume.
    fn install_injected(&mut self, tid: i32, which: u8) {
        let mut progs = Vec::new();
        if which & INJECT_CREDS != 0 {
            if let Some(i) = &self.inject {
                progs.push((INJECT_CREDS, i.prog.clone()));
            }
        }
        if which & INJECT_PASSCRED != 0 {
            if let Some(p) = &self.passcred_trap {
                progs.push((INJECT_PASSCRED, p.clone()));
            }
        }
        if progs.is_empty() {
            return arch::resume(libc::PTRACE_CONT, tid, 0);
        }
        let last = progs.len() - 1;
        for (i, (w, prog)) in progs.into_iter().enumerate() {
            if let Err(e) = crate::inject::install_filter(tid, &prog, i == last) {
                self.warn_injection(tid, &e, w);
            }
        }
    }

    fn warn_injection(&mut self, tid: i32, why: &str, which: u8) {
        if self.inject_warned {
            return;
        }
        self.inject_warned = true;
        let what = match (which, self.inject.as_ref().map(|i| i.when)) {
            (INJECT_PASSCRED, _) => "the SCM_CREDENTIALS it receives show real IDs",
            (_, Some(InjectWhen::NotRootFs)) => "what it creates keeps root as its owner",
            _ => "its chown calls to root are not checked",
        };
        eprintln!(
            "rootlessrt tracer: warning: process {tid} changed its credentials but cannot \
             take the tracer's filter ({why}): {what}"
        );
    }

    fn seccomp_stop(&mut self, tid: i32) {
        // Under the listener engine only the injected chown filter asks for
        // ptrace stops, and the workload's own filters are not noted: check
        // every tag. Elsewhere, until the workload installs a filter of its
        // own (seccomp(2) and prctl(PR_SET_SECCOMP) are trapped to notice),
        // every stop is ours.
        if self.foreign_filters || self.listening {
            match arch::event_msg(tid) {
                Ok(tag) if tag as u32 == crate::seccomp::TAG => {}
                Ok(_) => return arch::resume(libc::PTRACE_CONT, tid, 0), // someone else's filter
                Err(_) => return,
            }
        }
        let mut regs = match Regs::get(tid) {
            Ok(r) => r,
            Err(_) => return,
        };
        let row = match self.index.get(regs.nr() as usize).copied().flatten() {
            Some(r) => r,
            None => return arch::resume(libc::PTRACE_CONT, tid, 0),
        };
        let action = self.handle(tid, &mut regs, &row);
        if crate::procstatus::changes_ids(row.sys) {
            self.publish_ids(tid);
        }
        // SO_PASSCRED under the ptrace engine: the interrupt stop comes once
        // the call ran (resumed below), as for a notified call.
        if std::mem::take(&mut self.want_passcred) {
            self.passcred_check(tid);
        }
        match action {
            // Nothing the tracer may do for the tracee (a magic link, procfs):
            // the kernel does it, as the tracee.
            Action::Skip(v) if v == -(crate::mem::DENIED as i64) => {
                arch::resume(libc::PTRACE_CONT, tid, 0)
            }
            Action::Skip(v) => {
                if regs.skip(tid, v).is_err() {
                    return;
                }
                arch::resume(libc::PTRACE_CONT, tid, 0);
            }
            Action::Native => arch::resume(libc::PTRACE_CONT, tid, 0),
            Action::NativeWithExit => {
                if regs.set(tid).is_err() {
                    return;
                }
                arch::resume(libc::PTRACE_SYSCALL, tid, 0);
            }
            Action::Rewritten => {
                if regs.set(tid).is_err() {
                    return;
                }
                arch::resume(libc::PTRACE_CONT, tid, 0);
            }
        }
    }
}
