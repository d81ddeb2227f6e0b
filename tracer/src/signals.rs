//! The tracer's signals: the ones it forwards to the workload (it is often
//! PID 1 of a pid namespace, which only receives signals it handles), and
//! how the child gives the workload its own dispositions and mask back.

use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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

extern "C" fn noop(_: libc::c_int) {}

pub(crate) struct SignalSetup {
    pub(crate) set: libc::sigset_t,
    old_mask: libc::sigset_t,
    /// The workload's mask: the caller's, without the forwarded signals.
    child_mask: libc::sigset_t,
    old_actions: Vec<(i32, libc::sigaction)>,
}

/// Block the forwarded signals (a dedicated thread sigwaits for them) and give them
/// a handler so that, as PID 1 of a pid namespace, we still receive them.
/// `sigchld`: also block SIGCHLD, which the listener engine reads from a signalfd.
pub(crate) fn setup_signals(sigchld: bool) -> SignalSetup {
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
    pub(crate) fn enter_child(&self) {
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
    pub(crate) fn before_exec(&self) {
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

    pub(crate) fn restore(&self) {
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

pub(crate) struct Forwarder {
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

pub(crate) fn start_forwarder_if(wanted: bool, set: libc::sigset_t, target: i32) -> Forwarder {
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
    pub(crate) fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            // SAFETY: the thread is alive until it sees the flag; SIGUSR1 is in its wait set.
            unsafe { libc::pthread_kill(h.as_pthread_t(), libc::SIGUSR1) };
            let _ = h.join();
        }
    }
}
