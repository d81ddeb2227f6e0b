//! The workload's child, from fork (or a vfork-style clone) to its exec:
//! its filters, capabilities and limits, and how it tells the tracer what
//! went wrong before anything ran.

use crate::creds::Creds;
use crate::notify;
use crate::runner::close;
use crate::seccomp::{self, Route};
use crate::signals::SignalSetup;
use crate::syscalls::EXEC_BYPASS_FD;
use crate::{CapSets, Config, PreExec};
use std::ffi::CString;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Candidate paths for argv[0], PATH taken from the workload's environment.
pub(crate) fn exec_candidates(argv0: &CString, env: &[CString]) -> Vec<CString> {
    let name = argv0.as_bytes();
    if name.contains(&b'/') {
        return vec![argv0.clone()];
    }
    let path = env
        .iter()
        .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
        .map(|p| p.to_vec())
        .unwrap_or_else(|| DEFAULT_PATH.as_bytes().to_vec());
    path.split(|&b| b == b':')
        .filter_map(|dir| {
            let dir = if dir.is_empty() { &b"."[..] } else { dir };
            let mut p = dir.to_vec();
            p.push(b'/');
            p.extend_from_slice(name);
            CString::new(p).ok()
        })
        .collect()
}

pub(crate) const STAGE_SECCOMP: u8 = 1;
pub(crate) const STAGE_EXEC: u8 = 2;
/// A child sharing our memory found no listener (spawn_shared): fork again, for ptrace.
pub(crate) const STAGE_NO_LISTENER: u8 = 3;

/// The tracer's filters, built before fork.
pub(crate) struct Filters {
    /// Every trapped row on ptrace (also the fallback when no listener can be had).
    pub(crate) trace: Vec<libc::sock_filter>,
    /// `Entry::Answer` rows on the notification fd, and the child's end of the
    /// socket it sends the listener over.
    pub(crate) notify: Option<Vec<libc::sock_filter>>,
    /// Everything on the notification fd (the listener engine); exclusive with `notify`.
    pub(crate) listen: Option<Vec<libc::sock_filter>>,
    /// `listen` without `root_chown` (if that is on), for a kernel where the
    /// tracer cannot interrupt a notified call safely (no WAIT_KILLABLE_RECV).
    pub(crate) listen_plain: Option<Vec<libc::sock_filter>>,
    /// `seccomp::creator_trap`, installed after the main filter when the
    /// workload starts with fake file-system IDs that are not root's.
    pub(crate) creator: Option<Vec<libc::sock_filter>>,
    pub(crate) sock: Option<i32>,
}

/// The byte sent with the listener fd when the filter went in with
/// WAIT_KILLABLE_RECV: the tracer may interrupt a notified call to inject a
/// filter (inject.rs); with it `listen` (root_chown) went in, without it
/// `listen_plain`.
pub(crate) const KILLABLE: u8 = 2;

/// How the workload's child is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstExec {
    /// fork: the child may wait for us (ptrace), the exec may need an answer.
    Fork,
    /// Shares our memory until it execs (spawn_shared); execve is not trapped.
    Shared,
    /// Shared, and the first exec goes past the listener (EXEC_BYPASS_FD).
    Bypass,
}

/// Under the listener engine the first exec usually needs no answer from
/// us: execve is not trapped (Route::ListenerNoExec), or the credentials are
/// root's and no candidate is a set-ID file, which is all the exec check looks
/// for. Then the child can share our memory until it execs: no copy of this
/// large process, and no wait for the child to get a CPU.
pub(crate) fn first_exec(
    listening: bool,
    cfg: &Config,
    route: Route,
    default: &Creds,
    candidates: &[CString],
) -> FirstExec {
    if !listening || cfg.pre_exec.is_some() {
        return FirstExec::Fork;
    }
    if route == Route::ListenerNoExec {
        return FirstExec::Shared;
    }
    let plain = |c: &CString| {
        // SAFETY: zeroed stat is valid; NUL-terminated path.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::stat(c.as_ptr(), &mut st) } != 0 {
            return true; // skipped by the exec loop, or its error
        }
        let setgid = st.st_mode & libc::S_ISGID != 0 && st.st_mode & libc::S_IXGRP != 0;
        st.st_mode & libc::S_ISUID == 0 && !setgid
    };
    let absolute = candidates
        .iter()
        .all(|c| c.as_bytes().first() == Some(&b'/'));
    if default.all_ids_root() && absolute && candidates.iter().all(plain) {
        FirstExec::Bypass
    } else {
        FirstExec::Fork
    }
}

/// Whether the forked child is born dumpable, for our PTRACE_SEIZE. The
/// tracer is non-dumpable (the runtime's sealed image), and so is a child
/// it forks until that execs; seizing it then takes CAP_SYS_PTRACE in the
/// user namespace the tracer's image was exec'd in, which the tracer lacks
/// when the runtime ran as root and the container has a user namespace of
/// its own. As a container's PID 1 about to start its first process no
/// other process exists that could trace either of us, so we may be
/// dumpable around the fork (the flag belongs to the address space, which
/// fork copies); elsewhere (`exec`'s tracer, beside the workload) never.
pub(crate) fn seize_dumpable(cfg: &Config) -> bool {
    // SAFETY: getpid cannot fail.
    cfg.init && unsafe { libc::getpid() } == 1
}

pub(crate) fn set_dumpable(on: bool) {
    // SAFETY: plain prctl on ourselves.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(on), 0, 0, 0) };
}

/// Run `f` in a child that shares our memory, on a stack of its own, and
/// return its pid (or -1). We are suspended until it execs or exits
/// (CLONE_VM|CLONE_VFORK, as posix_spawn does), so `f` may read our data but
/// must only make async-signal-safe calls.
pub(crate) fn spawn_shared(f: &mut dyn FnMut() -> libc::c_int) -> i32 {
    const STACK: usize = 1 << 20;
    // SAFETY: a fresh anonymous mapping for the child's stack.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return -1;
    }
    extern "C" fn entry(arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` is the `&mut dyn FnMut` below, alive while the parent is suspended.
        let f = unsafe { &mut *arg.cast::<&mut dyn FnMut() -> libc::c_int>() };
        f()
    }
    let mut f = f;
    // SAFETY: the child runs `entry` on its own stack (top of the mapping);
    // CLONE_VFORK keeps this frame, and so `f`, alive until it execs or exits.
    let pid = unsafe {
        libc::clone(
            entry,
            stack.cast::<u8>().add(STACK).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut f as *mut &mut dyn FnMut() -> libc::c_int).cast(),
        )
    };
    // SAFETY: the child no longer runs on it (it exec'd or exited).
    unsafe { libc::munmap(stack, STACK) };
    pid
}

/// The child side, between fork and exec: only async-signal-safe calls.
#[allow(clippy::too_many_arguments)]
pub(crate) fn child(
    sigs: &SignalSetup,
    go: Option<i32>,
    report: i32,
    prog: Option<&Filters>,
    nnp: bool,
    caps: Option<&CapSets>,
    nofile: &libc::rlimit,
    pre_exec: Option<&PreExec>,
    candidates: &[CString],
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    first: FirstExec,
) -> ! {
    let fail = |stage: u8, e: i32| -> ! {
        let mut b = [stage, 0, 0, 0, 0];
        b[1..].copy_from_slice(&e.to_ne_bytes());
        // SAFETY: write + _exit, async-signal-safe.
        unsafe {
            libc::write(report, b.as_ptr().cast(), 5);
            libc::_exit(if stage == STAGE_EXEC { 127 } else { 125 })
        }
    };
    let errno = || {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    sigs.enter_child();
    // SAFETY: setrlimit with a struct we own: the workload's own limit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, nofile) };
    // The workload's own capabilities, before our filter would trap the calls.
    if let Some(Err(e)) = caps.map(CapSets::apply_to_self) {
        fail(STAGE_SECCOMP, e);
    }
    // SAFETY: plain prctl.
    if nnp && unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        fail(STAGE_SECCOMP, errno());
    }
    // A filter with a listener, which goes to the parent over `sock` (closed
    // either way: EOF tells the parent there is none). Installed, it must
    // reach the parent: without its listener every notified call would hang.
    // `data` goes with the fd when `prog` (not `plain`) went in.
    let with_listener = |prog: &[libc::sock_filter], plain: &[libc::sock_filter], sock, data| {
        let (fd, first) = notify::install_with_listener(prog, plain);
        let data = if first { data } else { 1 };
        if fd >= 0 && !notify::send_fd(sock, fd, data) {
            fail(STAGE_SECCOMP, libc::EPIPE);
        }
        close(sock);
        if fd >= 0 {
            close(fd);
        }
        fd >= 0
    };
    // The listener engine: no ptrace, so nothing to wait for once it is in.
    let mut installed = false;
    if let Some(Filters {
        listen: Some(p),
        listen_plain,
        sock: Some(sock),
        ..
    }) = prog
    {
        let plain = listen_plain.as_deref().unwrap_or(p);
        installed = with_listener(p, plain, *sock, KILLABLE);
    }
    if !installed && first != FirstExec::Fork {
        // The parent is suspended until we exec: it cannot seize us.
        fail(STAGE_NO_LISTENER, 0);
    }
    if let (false, Some(go)) = (installed, go) {
        let mut b = [0u8; 1];
        // The parent has seized us when the byte arrives. Our no-op handlers
        // are still installed, hence the EINTR loop.
        let n = loop {
            // SAFETY: blocking read of one byte into our buffer.
            let n = unsafe { libc::read(go, b.as_mut_ptr().cast(), 1) };
            if n >= 0 || errno() != libc::EINTR {
                break n;
            }
        };
        if n != 1 {
            // SAFETY: the parent is gone.
            unsafe { libc::_exit(125) };
        }
    }
    if let (false, Some(f)) = (installed, prog) {
        if let (Some(p), Some(sock)) = (&f.notify, f.sock) {
            installed = with_listener(p, p, sock, 1);
        }
        if !installed {
            let e = seccomp::install(&f.trace);
            if e != 0 {
                fail(STAGE_SECCOMP, e);
            }
        }
    }
    if let Some(creator) = prog.and_then(|f| f.creator.as_ref()) {
        let e = seccomp::install(creator);
        if e != 0 {
            fail(STAGE_SECCOMP, e);
        }
    }
    sigs.before_exec();
    if let Some(hook) = pre_exec {
        if let Err(e) = (hook.0)() {
            fail(STAGE_SECCOMP, e);
        }
    }
    let mut err = libc::ENOENT;
    for c in candidates {
        // SAFETY: NUL-terminated strings and NULL-terminated arrays built before fork.
        unsafe {
            if first == FirstExec::Bypass {
                libc::syscall(
                    libc::SYS_execveat,
                    EXEC_BYPASS_FD,
                    c.as_ptr(),
                    argv.as_ptr(),
                    envp.as_ptr(),
                    0,
                );
            } else {
                libc::execve(c.as_ptr(), argv.as_ptr(), envp.as_ptr());
            }
        }
        match errno() {
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            libc::EACCES => {
                // Only a file that exists but cannot be executed counts (not an unsearchable PATH dir).
                // SAFETY: zeroed stat, NUL-terminated path.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: as above.
                if unsafe { libc::stat(c.as_ptr(), &mut st) } == 0 {
                    err = libc::EACCES;
                }
            }
            e => {
                err = e;
                break;
            }
        }
    }
    fail(STAGE_EXEC, err)
}
