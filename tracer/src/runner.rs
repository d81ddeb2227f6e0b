//! run(): fork the workload, trace it, forward signals, reap, return its status.

use crate::creds::Creds;
use crate::fsview::FsView;
use crate::notify;
use crate::seccomp::{self, Route};
use crate::signals::{setup_signals, start_forwarder_if, SignalSetup};
use crate::spawn::{
    child, exec_candidates, first_exec, seize_dumpable, set_dumpable, spawn_shared, Filters,
    FirstExec, KILLABLE, STAGE_SECCOMP,
};
use crate::syscalls::{Level, NATIVE};
use crate::tracer::{Inject, InjectWhen, Outcome, Tracer, PTRACE_OPTIONS};
use crate::{CapSets, Config, Error, Mode};
use std::ffi::CString;
use std::sync::Arc;

fn sys(what: &'static str) -> Error {
    Error::Sys(what, std::io::Error::last_os_error())
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

pub(crate) fn close(fd: i32) {
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

/// The filter adopted processes are made to install, and when (inject.rs):
/// only where the listener went in with WAIT_KILLABLE_RECV (the interrupt
/// must not abort the call being answered). In Mode::Ids with root's chown
/// let through, a process that loses CAP_CHOWN must trap it; in Mode::Full a
/// process whose file-system IDs leave root must have its creations owned.
fn injection(mode: Mode, killable: bool, root_chown: bool) -> Option<Inject> {
    if !killable || !crate::inject::SUPPORTED {
        return None;
    }
    if root_chown {
        return Some(Inject {
            prog: seccomp::chown_trap(&NATIVE),
            when: InjectWhen::LostChown,
        });
    }
    (mode == Mode::Full).then(|| Inject {
        prog: seccomp::creator_trap(&NATIVE),
        when: InjectWhen::NotRootFs,
    })
}

/// The tracer's RLIMIT_NOFILE is the container's, which may be low: its
/// soft limit goes up to the hard one for the tracer's caches, and their
/// size follows what it got (mem::set_fd_budget). Returns the limits to
/// give back to the workload's child before it execs.
fn raise_nofile() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 1024,
        rlim_max: 1024,
    };
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        let got = if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            raised.rlim_cur
        } else {
            lim.rlim_cur
        };
        crate::mem::set_fd_budget(got);
    }
    lim
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

/// What is decided before the workload's child exists.
struct Setup {
    traced: bool,
    level: Level,
    /// The listener engine (listener.rs): PID 1 of the container.
    listening: bool,
    /// The socketpair the child sends its listener fd over: (ours, the child's).
    pair: Option<(i32, i32)>,
    /// The workload's credentials as given, and after its first exec (the
    /// default, which every unadopted process has under the listener).
    initial: Creds,
    default: Creds,
    listen_route: Route,
    /// The listener's filter lets root's chown calls run (seccomp::build_with).
    root_chown: bool,
    nofile: libc::rlimit,
    filters: Option<Filters>,
}

impl Setup {
    fn new(cfg: &Config, allow_listener: bool) -> Setup {
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
        crate::creds::cap_valid_mask(); // read now: the child cannot
        let nofile = raise_nofile();
        let initial = Creds::new(
            cfg.creds.uid,
            cfg.creds.gid,
            &cfg.creds.groups,
            caps,
            cfg.no_new_privs,
        );
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
        let mut setup = Setup {
            traced,
            level,
            listening,
            pair,
            initial,
            default,
            listen_route,
            root_chown,
            nofile,
            filters: None,
        };
        setup.filters = traced.then(|| setup.filters(cfg));
        setup
    }

    fn filters(&self, cfg: &Config) -> Filters {
        let (level, route) = (self.level, self.listen_route);
        Filters {
            trace: seccomp::build(&NATIVE, level, Route::Ptrace),
            notify: self
                .pair
                .filter(|_| !self.listening)
                .map(|_| seccomp::build(&NATIVE, level, Route::Answers)),
            listen: self
                .listening
                .then(|| seccomp::build_with(&NATIVE, level, route, self.root_chown)),
            listen_plain: (self.listening && self.root_chown)
                .then(|| seccomp::build(&NATIVE, level, route)),
            creator: (cfg.mode == Mode::Full && !self.default.fs_ids_root())
                .then(|| seccomp::creator_trap(&NATIVE)),
            sock: self.pair.map(|p| p.1),
        }
    }

    /// The workload's child carries the creator trap from the start.
    fn creator_from_start(&self) -> bool {
        self.filters.as_ref().is_some_and(|f| f.creator.is_some())
    }
}

/// The workload's child, and the fds we keep for it.
struct Child {
    pid: i32,
    first: FirstExec,
    /// The child's report pipe: [stage, errno] when it failed before its exec.
    report: i32,
    /// The "go" pipe's write end (ptrace engine: the child waits until seized).
    go: Option<i32>,
    /// The runtime's close-on-exec fds, closed once the workload exec'd.
    inherited: Vec<i32>,
}

impl Child {
    /// Our end of the report and go pipes, and the signal setup.
    fn cleanup(&self, sigs: &SignalSetup) {
        close(self.report);
        if let Some(w) = self.go {
            close(w);
        }
        sigs.restore();
    }

    /// Kills and reaps a child nobody will serve.
    fn kill(&self) {
        // SAFETY: kill + reap our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), libc::__WALL);
        }
    }

    /// What the child reported before exiting, as an error (`None`: nothing).
    fn reported(&self) -> Option<Error> {
        read_report(self.report).map(|r| match r {
            (STAGE_SECCOMP, e) => Error::Seccomp(e),
            (_, e) => Error::Exec(e),
        })
    }
}

/// How the workload is watched.
enum Engine {
    /// No tracing.
    Untraced,
    /// Everything under ptrace (and the stat family on a listener thread).
    Ptrace,
    /// The listener engine; `killable`: its filter went in with
    /// WAIT_KILLABLE_RECV, so filters may be injected (inject.rs).
    Listener {
        fd: i32,
        sigchld: i32,
        killable: bool,
    },
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
    let setup = Setup::new(cfg, allow_listener);
    let shim = (cfg.stat_shim && setup.listening && cfg.mode == Mode::Full)
        .then(|| crate::preload::install(env))
        .flatten();
    // The environment as given: a start-over without the listener has no shim.
    let env_shim;
    let (shared, creds_table, workload_env) = match shim {
        Some(s) => {
            env_shim = crate::preload::with_preload(env, s.preload);
            (Some(s.owners), Some(s.creds), &env_shim[..])
        }
        None => (None, None, env),
    };
    let sigs = setup_signals(setup.listening);
    let child = match spawn(cfg, &setup, &sigs, argv, workload_env) {
        Ok(c) => c,
        Err(e) => {
            sigs.restore();
            return Err(e);
        }
    };
    let fs = Arc::new(FsView::new(cfg.mode == Mode::Full, shared));
    if cfg.container_root {
        fs.owners().keep_special_owners();
    }
    let engine = match attach(&setup, &child, &fs) {
        Ok(Some(engine)) => engine,
        Ok(None) => {
            // A listener above ours (EBUSY): the child stopped; start over under ptrace.
            // SAFETY: reap the child, which has exited.
            unsafe { libc::waitpid(child.pid, std::ptr::null_mut(), 0) };
            child.cleanup(&sigs);
            return run_inner(cfg, argv, env, then_exit, false);
        }
        Err(e) => {
            child.cleanup(&sigs);
            return Err(e);
        }
    };
    if let Some(w) = child.go {
        close(w);
    }
    // The listener engine reads forwarded signals from a signalfd in its
    // poll loop; the ptrace engine's loop waits in waitpid, hence a thread.
    let signals = match engine {
        Engine::Listener { .. } => crate::listener::signal_fd(&sigs.set),
        _ => -1,
    };
    let fwd = start_forwarder_if(signals < 0, sigs.set, child.pid);
    let result = drive(cfg, setup, &child, engine, fs, creds_table, signals);
    if then_exit && result.is_ok() {
        return result;
    }
    fwd.finish();
    close(child.report);
    sigs.restore();
    result
}

/// Forks (or vfork-clones) the workload's child, which execs the workload.
fn spawn(
    cfg: &Config,
    setup: &Setup,
    sigs: &SignalSetup,
    argv: &[CString],
    env: &[CString],
) -> Result<Child, Error> {
    let candidates = exec_candidates(&argv[0], env);
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut env_p: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    env_p.push(std::ptr::null());
    let (rep_r, rep_w) = pipe()?;
    let go = if setup.traced {
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
    let first = first_exec(
        setup.listening,
        cfg,
        setup.listen_route,
        &setup.default,
        &candidates,
    );
    let go_r = go.map(|g| g.0);
    let start = || -> ! {
        child(
            sigs,
            go_r,
            rep_w,
            setup.filters.as_ref(),
            cfg.no_new_privs,
            cfg.workload_caps.as_ref(),
            &setup.nofile,
            cfg.pre_exec.as_ref(),
            &candidates,
            &argv_p,
            &env_p,
            first,
        )
    };
    let pid = if first == FirstExec::Fork {
        let dumpable = seize_dumpable(cfg);
        if dumpable {
            set_dumpable(true);
        }
        // SAFETY: fork; the child only runs `child` (async-signal-safe) and execs or exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            start();
        }
        if dumpable {
            set_dumpable(false);
        }
        pid
    } else {
        spawn_shared(&mut || start())
    };
    close(rep_w);
    if let Some((r, _)) = go {
        close(r);
    }
    if let Some((_, theirs)) = setup.pair {
        close(theirs);
    }
    let mut ours = vec![rep_r];
    ours.extend(go.map(|g| g.1));
    ours.extend(setup.pair.map(|p| p.0));
    let child = Child {
        pid,
        first,
        report: rep_r,
        go: go.map(|g| g.1),
        inherited: cloexec_fds(&ours),
    };
    if pid < 0 {
        let e = sys("fork");
        if let Some((ours, _)) = setup.pair {
            close(ours);
        }
        close(child.report);
        if let Some(w) = child.go {
            close(w);
        }
        return Err(e);
    }
    Ok(child)
}

/// Engages the engine on the child: receives its listener, or seizes it
/// (and starts the notification thread for the stat family). Ok(None): no
/// listener where one was expected (another runtime's listener above ours):
/// start over under ptrace.
fn attach(setup: &Setup, child: &Child, fs: &Arc<FsView>) -> Result<Option<Engine>, Error> {
    if !setup.traced {
        return Ok(Some(Engine::Untraced));
    }
    if let (Some((ours, _)), true) = (setup.pair, setup.listening) {
        let got = notify::recv_fd(ours);
        close(ours);
        match got {
            Some((fd, data)) => {
                let sigchld = crate::listener::sigchld_fd();
                if sigchld < 0 {
                    let e = sys("signalfd");
                    child.kill(); // its notifications nobody would answer
                    return Err(e);
                }
                let killable = data == KILLABLE;
                return Ok(Some(Engine::Listener {
                    fd,
                    sigchld,
                    killable,
                }));
            }
            None if child.first != FirstExec::Fork => return Ok(None),
            None => {}
        }
    }
    seize(child)?;
    // Started only now, off the child's path to exec: the listener waits in
    // the socket until the thread picks it up.
    if let (Some((ours, _)), false) = (setup.pair, setup.listening) {
        if !notify::start(ours, fs.clone()) {
            let e = sys("spawn the notification thread");
            child.kill(); // its answered calls nobody would serve
            return Err(e);
        }
    }
    Ok(Some(Engine::Ptrace))
}

/// PTRACE_SEIZE of the child, then the "go" byte it waits for.
fn seize(child: &Child) -> Result<(), Error> {
    // SAFETY: seizing our own child.
    if unsafe { libc::ptrace(libc::PTRACE_SEIZE, child.pid, 0, PTRACE_OPTIONS) } != 0 {
        let e = sys("ptrace(PTRACE_SEIZE)");
        child.kill();
        // A child that failed before we could seize it says why.
        return Err(child.reported().unwrap_or(e));
    }
    if let Some(w) = child.go {
        // SAFETY: one byte to the child.
        unsafe { libc::write(w, [1u8].as_ptr().cast(), 1) };
    }
    Ok(())
}

/// Runs the engine until the workload's main process is done: its exit code.
fn drive(
    cfg: &Config,
    setup: Setup,
    child: &Child,
    engine: Engine,
    fs: Arc<FsView>,
    creds_table: Option<crate::preload::CredsTable>,
    signals: i32,
) -> Result<i32, Error> {
    let creator_from_start = setup.creator_from_start();
    let mut on_exec = || close_all(&child.inherited);
    let outcome = match engine {
        Engine::Untraced => return run_untraced(cfg, child),
        Engine::Listener {
            fd,
            sigchld,
            killable,
        } => {
            let mut tracer = Tracer::new(cfg, child.pid, setup.default, fs);
            tracer.threads.clear();
            tracer.inject = injection(cfg.mode, killable, setup.root_chown);
            // SO_PASSCRED receivers, in both modes (passcred.rs).
            tracer.passcred_trap =
                (killable && crate::inject::SUPPORTED).then(|| seccomp::passcred_trap(&NATIVE));
            tracer.injected_default = creator_from_start;
            tracer.publish_creds_in(creds_table);
            tracer.run_listening(fd, sigchld, child.report, signals, &mut on_exec)
        }
        Engine::Ptrace => {
            let mut tracer = Tracer::new(cfg, child.pid, setup.initial, fs);
            tracer.injected_default = creator_from_start;
            tracer.passcred_trap =
                crate::inject::SUPPORTED.then(|| seccomp::passcred_trap(&NATIVE));
            tracer.run(&mut on_exec)
        }
    };
    match outcome {
        Outcome::Exited(code) => Ok(code),
        Outcome::ExecFailed(code) => match child.reported() {
            Some(e) => Err(e),
            None => Ok(code),
        },
    }
}

/// Untraced: the report pipe closes on a successful exec; then wait.
fn run_untraced(cfg: &Config, child: &Child) -> Result<i32, Error> {
    if let Some(e) = child.reported() {
        // SAFETY: reap the failed child.
        unsafe { libc::waitpid(child.pid, std::ptr::null_mut(), 0) };
        return Err(e);
    }
    close_all(&child.inherited);
    Ok(wait_untraced(child.pid, cfg.init))
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
