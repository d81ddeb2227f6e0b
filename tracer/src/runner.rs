//! run(): fork the workload, trace it, forward signals, reap, return its status.

use crate::creds::Creds;
use crate::fsview::FsView;
use crate::notify;
use crate::seccomp::{self, Route};
use crate::syscalls::EXEC_BYPASS_FD;
use crate::syscalls::{Level, NATIVE};
use crate::tracer::{Outcome, Tracer, PTRACE_OPTIONS};
use crate::{CapSets, Config, Error, Mode, PreExec};
use std::ffi::CString;
use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn sys(what: &'static str) -> Error {
    Error::Sys(what, std::io::Error::last_os_error())
}

/// The signals the tracer forwards to the workload's main process. A
/// caller that blocks them before `run` (a container's init, so that none
/// sent before the tracer is set up is lost) gets them unblocked in the
/// workload.
pub fn forwarded() -> Vec<i32> {
    let mut v = vec![
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGTERM,
        libc::SIGCONT,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGWINCH,
        libc::SIGURG,
        libc::SIGXCPU,
        libc::SIGXFSZ,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGIO,
        libc::SIGPWR,
    ];
    v.extend(libc::SIGRTMIN()..=libc::SIGRTMAX());
    v
}

/// Candidate paths for argv[0], PATH taken from the workload's environment.
fn exec_candidates(argv0: &CString, env: &[CString]) -> Vec<CString> {
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

extern "C" fn noop(_: libc::c_int) {}

struct SignalSetup {
    set: libc::sigset_t,
    old_mask: libc::sigset_t,
    /// The workload's mask: the caller's, without the forwarded signals.
    child_mask: libc::sigset_t,
    old_actions: Vec<(i32, libc::sigaction)>,
}

/// Block the forwarded signals (a dedicated thread sigwaits for them) and give them
/// a handler so that, as PID 1 of a pid namespace, we still receive them.
/// `sigchld`: also block SIGCHLD, which the listener engine reads from a signalfd.
fn setup_signals(sigchld: bool) -> SignalSetup {
    // SAFETY: sigset/sigaction manipulation on values we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        let mut old_actions = Vec::new();
        for s in forwarded() {
            libc::sigaddset(&mut set, s);
            let mut old: libc::sigaction = std::mem::zeroed();
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = noop as *const () as usize;
            libc::sigemptyset(&mut act.sa_mask);
            if libc::sigaction(s, &act, &mut old) == 0 {
                old_actions.push((s, old));
            }
        }
        let mut old_mask: libc::sigset_t = std::mem::zeroed();
        let mut mask = set;
        if sigchld {
            libc::sigaddset(&mut mask, libc::SIGCHLD);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &mask, &mut old_mask);
        let mut child_mask = old_mask;
        for s in forwarded() {
            libc::sigdelset(&mut child_mask, s);
        }
        SignalSetup {
            set,
            old_mask,
            child_mask,
            old_actions,
        }
    }
}

impl SignalSetup {
    /// In the child after fork (async-signal-safe): ignored signals are
    /// ignored again. The forwarded ones stay blocked until `before_exec`:
    /// one forwarded to the child before it execs must not meet our no-op
    /// handler, which would swallow it.
    fn enter_child(&self) {
        // SAFETY: restoring saved dispositions.
        unsafe {
            for (s, a) in &self.old_actions {
                if a.sa_sigaction == libc::SIG_IGN {
                    libc::sigaction(*s, a, std::ptr::null_mut());
                }
            }
        }
    }

    /// In the child, right before the workload's exec (and its own seccomp
    /// profile): the no-op handlers go back to SIG_DFL, as execve would
    /// make them, then the workload's mask is set. A forwarded signal that
    /// is pending now takes its default action, as it would in the workload
    /// before it set a handler; none is lost.
    fn before_exec(&self) {
        // SAFETY: plain sigaction/sigprocmask, async-signal-safe.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            for (s, a) in &self.old_actions {
                if a.sa_sigaction != libc::SIG_IGN {
                    libc::sigaction(*s, &dfl, std::ptr::null_mut());
                }
            }
            libc::sigprocmask(libc::SIG_SETMASK, &self.child_mask, std::ptr::null_mut());
        }
    }

    fn restore(&self) {
        // SAFETY: draining pending forwarded signals, then restoring.
        unsafe {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            while libc::sigtimedwait(&self.set, std::ptr::null_mut(), &zero) > 0 {}
            for (s, a) in &self.old_actions {
                libc::sigaction(*s, a, std::ptr::null_mut());
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old_mask, std::ptr::null_mut());
        }
    }
}

/// Terminal-generated signals already reached the workload's process group:
/// everything else is passed on.
pub(crate) fn forwardable(sig: i32, code: i32) -> bool {
    let tty = code == libc::SI_KERNEL
        && matches!(
            sig,
            libc::SIGINT
                | libc::SIGQUIT
                | libc::SIGTSTP
                | libc::SIGWINCH
                | libc::SIGTTIN
                | libc::SIGTTOU
        );
    !tty
}

struct Forwarder {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

fn start_forwarder(set: libc::sigset_t, target: i32) -> Forwarder {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("rlrt-signals".into())
        .spawn(move || loop {
            // SAFETY: zeroed siginfo is valid; set is a copy we own.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            let s = unsafe { libc::sigwaitinfo(&set, &mut info) };
            if flag.load(Ordering::SeqCst) {
                return;
            }
            if s <= 0 {
                continue;
            }
            if forwardable(s, info.si_code) {
                // SAFETY: plain kill.
                unsafe { libc::kill(target, s) };
            }
        })
        .ok();
    Forwarder { stop, handle }
}

fn start_forwarder_if(wanted: bool, set: libc::sigset_t, target: i32) -> Forwarder {
    if wanted {
        start_forwarder(set, target)
    } else {
        Forwarder {
            stop: Arc::new(AtomicBool::new(false)),
            handle: None,
        }
    }
}

impl Forwarder {
    fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            // SAFETY: the thread is alive until it sees the flag; SIGUSR1 is in its wait set.
            unsafe { libc::pthread_kill(h.as_pthread_t(), libc::SIGUSR1) };
            let _ = h.join();
        }
    }
}

/// Every fd ≥ 3 marked FD_CLOEXEC except `keep`: what the workload's exec
/// will close, and the tracer closes too once that exec succeeded. Taken
/// right after fork, before the tracer opens fds of its own (its caches are
/// close-on-exec too and must survive).
fn cloexec_fds(keep: &[i32]) -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let fds: Vec<i32> = rd
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.into_iter()
        .filter(|&fd| {
            // SAFETY: fcntl on an fd number; a stale one (the read_dir fd) just fails.
            let fl = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            fd >= 3 && !keep.contains(&fd) && fl >= 0 && fl & libc::FD_CLOEXEC != 0
        })
        .collect()
}

fn close_all(fds: &[i32]) {
    for &fd in fds {
        close(fd);
    }
}

fn pipe() -> Result<(i32, i32), Error> {
    let mut fds = [0; 2];
    // SAFETY: fds is ours.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(sys("pipe2"));
    }
    Ok((fds[0], fds[1]))
}

fn close(fd: i32) {
    // SAFETY: closing an fd we own.
    unsafe { libc::close(fd) };
}

/// Read the child's [stage, errno] report (empty when it exec'd).
fn read_report(fd: i32) -> Option<(u8, i32)> {
    let mut b = [0u8; 5];
    // SAFETY: reading into our buffer.
    let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 5) };
    if n == 5 {
        Some((b[0], i32::from_ne_bytes([b[1], b[2], b[3], b[4]])))
    } else {
        None
    }
}

const STAGE_SECCOMP: u8 = 1;
const STAGE_EXEC: u8 = 2;
/// A child sharing our memory found no listener (spawn_shared): fork again, for ptrace.
const STAGE_NO_LISTENER: u8 = 3;

/// The tracer's filters, built before fork.
struct Filters {
    /// Every trapped row on ptrace (also the fallback when no listener can be had).
    trace: Vec<libc::sock_filter>,
    /// `Entry::Answer` rows on the notification fd, and the child's end of the
    /// socket it sends the listener over.
    notify: Option<Vec<libc::sock_filter>>,
    /// Everything on the notification fd (the listener engine); exclusive with `notify`.
    listen: Option<Vec<libc::sock_filter>>,
    /// `listen` without `root_chown` (if that is on), for a kernel where the
    /// tracer cannot interrupt a notified call safely (no WAIT_KILLABLE_RECV).
    listen_plain: Option<Vec<libc::sock_filter>>,
    /// `listen` lets root's chown calls run (seccomp::build_with).
    root_chown: bool,
    sock: Option<i32>,
}

/// The byte sent with the listener fd: the filter lets root's chown calls
/// run, and adopted processes must take the chown filter (inject.rs).
const ROOT_CHOWN: u8 = 2;

/// A socketpair for the listener fd: (ours, the child's).
fn socketpair() -> Option<(i32, i32)> {
    let mut fds = [0; 2];
    // SAFETY: fds is ours.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    (rc == 0).then_some((fds[0], fds[1]))
}

/// How the workload's child is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FirstExec {
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
fn first_exec(
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

/// Run `f` in a child that shares our memory, on a stack of its own, and
/// return its pid (or -1). We are suspended until it execs or exits
/// (CLONE_VM|CLONE_VFORK, as posix_spawn does), so `f` may read our data but
/// must only make async-signal-safe calls.
fn spawn_shared(f: &mut dyn FnMut() -> libc::c_int) -> i32 {
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
fn child(
    sigs: &SignalSetup,
    go: Option<i32>,
    report: i32,
    prog: Option<&Filters>,
    nnp: bool,
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
        root_chown,
        ..
    }) = prog
    {
        let data = if *root_chown { ROOT_CHOWN } else { 1 };
        let plain = listen_plain.as_deref().unwrap_or(p);
        installed = with_listener(p, plain, *sock, data);
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

/// Fork the workload (execvpe argv[0] with PATH from `env`), trace it, wait, and return
/// the exit code the caller should exit with (status, or 128+N when killed by signal N).
/// `Err(Error::Exec(errno))` if the workload's execve failed (before anything ran).
pub fn run(cfg: &Config, argv: &[CString], env: &[CString]) -> Result<i32, Error> {
    run_inner(cfg, argv, env, false, true)
}

/// As [`run`], for a process with nothing left to do afterwards (a container's
/// init, `exec`): when the workload is done the process exits with its code
/// at once, skipping the teardown that would only delay the exit. Returns only
/// errors from before the workload ran.
pub fn run_then_exit(cfg: &Config, argv: &[CString], env: &[CString]) -> Error {
    match run_inner(cfg, argv, env, true, true) {
        Ok(code) => std::process::exit(code),
        Err(e) => e,
    }
}

fn run_inner(
    cfg: &Config,
    argv: &[CString],
    env: &[CString],
    then_exit: bool,
    allow_listener: bool,
) -> Result<i32, Error> {
    if argv.is_empty() {
        return Err(Error::Config("empty command".into()));
    }
    // SAFETY: plain prctl; makes /proc/<pid> of this process and ptrace usable.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
    let traced = cfg.mode != Mode::Off;
    let level = if cfg.mode == Mode::Full {
        Level::Full
    } else {
        Level::Ids
    };
    // The listener engine needs the tracer to be PID 1 (listener.rs).
    // SAFETY: getpid cannot fail.
    let listening = allow_listener && traced && cfg.init && unsafe { libc::getpid() } == 1;
    let pair = if listening || cfg.mode == Mode::Full {
        socketpair()
    } else {
        None
    };
    let listening = listening && pair.is_some();
    let caps = cfg.caps.unwrap_or_else(CapSets::current);
    let initial = Creds::new(
        cfg.creds.uid,
        cfg.creds.gid,
        &cfg.creds.groups,
        caps,
        cfg.no_new_privs,
    );
    // Under the listener engine, processes never adopted have the credentials
    // the workload's first exec gives.
    let mut default = initial.clone();
    default.exec(None, None);
    let listen_route = if level == Level::Ids && default.all_ids_root() {
        Route::ListenerNoExec
    } else {
        Route::Listener
    };
    // Root's own chown calls need no tracer (seccomp::build_with) when
    // every other process can be made to trap them (inject.rs).
    let root_chown = crate::inject::SUPPORTED
        && listen_route == Route::ListenerNoExec
        && default.capable(crate::creds::CAP_CHOWN);
    let prog = traced.then(|| Filters {
        trace: seccomp::build(&NATIVE, level, Route::Ptrace),
        notify: pair
            .filter(|_| !listening)
            .map(|_| seccomp::build(&NATIVE, level, Route::Answers)),
        listen: listening.then(|| seccomp::build_with(&NATIVE, level, listen_route, root_chown)),
        listen_plain: (listening && root_chown)
            .then(|| seccomp::build(&NATIVE, level, listen_route)),
        root_chown,
        sock: pair.map(|p| p.1),
    });
    let shim = (cfg.stat_shim && listening && cfg.mode == Mode::Full)
        .then(|| crate::preload::install(env))
        .flatten();
    // The environment as given: a start-over without the listener has no shim.
    let env_given = env;
    let env_shim;
    let (shared, env) = match shim {
        Some((map, preload)) => {
            env_shim = crate::preload::with_preload(env, preload);
            (Some(map), &env_shim[..])
        }
        None => (None, env),
    };
    let candidates = exec_candidates(&argv[0], env);
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut env_p: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    env_p.push(std::ptr::null());

    let (rep_r, rep_w) = pipe()?;
    let go = if traced {
        match pipe() {
            Ok(p) => Some(p),
            Err(e) => {
                close(rep_r);
                close(rep_w);
                return Err(e);
            }
        }
    } else {
        None
    };
    let sigs = setup_signals(listening);
    let first = first_exec(listening, cfg, listen_route, &default, &candidates);
    let go_r = go.map(|g| g.0);
    let start = || -> ! {
        child(
            &sigs,
            go_r,
            rep_w,
            prog.as_ref(),
            cfg.no_new_privs,
            cfg.pre_exec.as_ref(),
            &candidates,
            &argv_p,
            &env_p,
            first,
        )
    };
    let pid = if first == FirstExec::Fork {
        // SAFETY: fork; the child only runs `child` (async-signal-safe) and execs or exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            start();
        }
        pid
    } else {
        spawn_shared(&mut || start())
    };
    close(rep_w);
    if let Some((r, _)) = go {
        close(r);
    }
    if let Some((_, theirs)) = pair {
        close(theirs);
    }
    let mut ours = vec![rep_r];
    ours.extend(go.map(|g| g.1));
    ours.extend(pair.map(|p| p.0));
    let inherited = cloexec_fds(&ours);
    let cleanup = |sigs: &SignalSetup| {
        close(rep_r);
        if let Some((_, w)) = go {
            close(w);
        }
        sigs.restore();
    };
    if pid < 0 {
        if let Some((ours, _)) = pair {
            close(ours);
        }
        let e = sys("fork");
        cleanup(&sigs);
        return Err(e);
    }
    // The listener engine, if the child could install its filter: no ptrace.
    let listener = match pair {
        Some((ours, _)) if listening => {
            let fd = notify::recv_fd(ours);
            close(ours);
            fd
        }
        _ => None,
    };
    let chown_trap =
        (listener.map(|(_, data)| data) == Some(ROOT_CHOWN)).then(|| seccomp::chown_trap(&NATIVE));
    let listener = listener.map(|(fd, _)| fd);
    if listener.is_none() && first != FirstExec::Fork && pid > 0 {
        // A listener above ours (EBUSY): the child stopped; start over under ptrace.
        // SAFETY: reap the child, which has exited.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        cleanup(&sigs);
        return run_inner(cfg, argv, env_given, then_exit, false);
    }
    let sigchld = listener.map(|_| crate::listener::sigchld_fd());
    if let Some(-1) = sigchld {
        let e = sys("signalfd");
        // SAFETY: kill + reap our child, whose notifications nobody would answer.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL);
        }
        cleanup(&sigs);
        return Err(e);
    }
    if let (None, Some((_, w))) = (listener, go) {
        // SAFETY: seizing our own child.
        if unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, PTRACE_OPTIONS) } != 0 {
            let e = sys("ptrace(PTRACE_SEIZE)");
            // SAFETY: kill + reap our child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            // A child that failed before we could seize it says why.
            let r = match read_report(rep_r) {
                Some((STAGE_SECCOMP, e)) => Error::Seccomp(e),
                Some((_, e)) => Error::Exec(e),
                None => e,
            };
            cleanup(&sigs);
            return Err(r);
        }
        // SAFETY: one byte to the child.
        unsafe { libc::write(w, [1u8].as_ptr().cast(), 1) };
    }
    // Started only now, off the child's path to exec: the listener waits in
    // the socket until the thread picks it up.
    let fs = Arc::new(FsView::new(cfg.mode == Mode::Full, shared));
    if let (Some((ours, _)), false) = (pair, listening) {
        if !notify::start(ours, fs.clone()) {
            let e = sys("spawn the notification thread");
            // SAFETY: kill + reap our child, whose answered calls nobody would serve.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL);
            }
            cleanup(&sigs);
            return Err(e);
        }
    }
    if let Some((_, w)) = go {
        close(w);
    }
    // The listener engine reads forwarded signals from a signalfd in its
    // poll loop; the ptrace engine's loop waits in waitpid, hence a thread.
    let signals = if listener.is_some() {
        crate::listener::signal_fd(&sigs.set)
    } else {
        -1
    };
    let fwd = start_forwarder_if(signals < 0, sigs.set, pid);
    let result = if traced {
        let outcome = match (listener, sigchld) {
            (Some(l), Some(sc)) => {
                let mut tracer = Tracer::new(cfg, pid, default, fs);
                tracer.threads.clear();
                tracer.chown_trap = chown_trap;
                let mut on_exec = || close_all(&inherited);
                tracer.run_listening(l, sc, rep_r, signals, &mut on_exec)
            }
            _ => {
                let mut tracer = Tracer::new(cfg, pid, initial, fs);
                let mut on_exec = || close_all(&inherited);
                tracer.run(&mut on_exec)
            }
        };
        match outcome {
            Outcome::Exited(code) => Ok(code),
            Outcome::ExecFailed(code) => match read_report(rep_r) {
                Some((STAGE_SECCOMP, e)) => Err(Error::Seccomp(e)),
                Some((_, e)) => Err(Error::Exec(e)),
                None => Ok(code),
            },
        }
    } else {
        // Untraced: the report pipe closes on a successful exec.
        match read_report(rep_r) {
            Some((STAGE_SECCOMP, e)) => {
                // SAFETY: reap the failed child.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
                Err(Error::Seccomp(e))
            }
            Some((_, e)) => {
                // SAFETY: reap the failed child.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
                Err(Error::Exec(e))
            }
            None => {
                close_all(&inherited);
                Ok(wait_untraced(pid, cfg.init))
            }
        }
    };
    if then_exit && result.is_ok() {
        return result;
    }
    fwd.finish();
    close(rep_r);
    sigs.restore();
    result
}

fn wait_untraced(pid: i32, init: bool) -> i32 {
    loop {
        let mut st = 0;
        // SAFETY: waitpid on our children.
        let r = unsafe { libc::waitpid(if init { -1 } else { pid }, &mut st, libc::__WALL) };
        if r < 0 {
            if crate::owners::errno() == libc::EINTR {
                continue;
            }
            return 127;
        }
        if r == pid && (libc::WIFEXITED(st) || libc::WIFSIGNALED(st)) {
            return if libc::WIFEXITED(st) {
                libc::WEXITSTATUS(st)
            } else {
                128 + libc::WTERMSIG(st)
            };
        }
    }
}
