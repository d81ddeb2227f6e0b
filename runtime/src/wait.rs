//! Waiting for a foreground container process (`run`, `exec` without
//! `--detach`) while forwarding the signals we receive to it, as runc does.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

const FORWARDED: &[Signal] = &[
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
    Signal::SIGPIPE,
];

fn forwarded_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    set
}

/// Blocks the forwarded signals in this thread (so in the threads spawned
/// after it) and starts a thread that passes them on to `pid`.
pub fn forward_signals(pid: i32) {
    let set = forwarded_set();
    if set.thread_block().is_err() {
        return;
    }
    std::thread::spawn(move || loop {
        if let Ok(sig) = set.wait() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
        }
    });
}

/// Passes the forwarded signals on to `pid` until it exits, from this
/// thread: a signalfd and a pidfd in one poll. Starting a thread for it cost
/// ~0.1 ms of every `run` (its stack and its malloc arena). None when the
/// kernel has no pidfd (before 5.3): the caller falls back to the thread.
fn forward_until_exit(pid: i32) -> Option<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};
    let set = forwarded_set();
    // SAFETY: pidfd_open takes no pointers; a non-negative result is a new
    // fd that nothing else owns.
    let pidfd = unsafe {
        let raw = libc::syscall(libc::SYS_pidfd_open, pid, 0);
        if raw < 0 {
            return None;
        }
        OwnedFd::from_raw_fd(raw as i32)
    };
    set.thread_block().ok()?;
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok()?;
    loop {
        let mut fds = [
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return None,
        }
        while let Ok(Some(info)) = sfd.read_signal() {
            if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
            }
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            return Some(());
        }
    }
}

/// Waits for `pid` (our child) and returns its exit code, 128+N for signal N.
pub fn wait_exit_code(pid: i32) -> i32 {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => {
                // Not our child (it should be): poll until it is gone.
                while !crate::procs::is_zombie_or_gone(pid) {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                return 0;
            }
        }
    }
}

/// Runs `pid` in the foreground: forwards our signals to it, copies its
/// terminal (if we hold the pty master) and returns its exit code.
pub fn foreground(pid: i32, master: Option<std::os::fd::OwnedFd>) -> anyhow::Result<i32> {
    // Blocked before the proxy threads exist, so that they never take a
    // forwarded signal's default action.
    let _ = forwarded_set().thread_block();
    let proxy = match master {
        Some(m) => Some(crate::tty::proxy(m)?),
        None => None,
    };
    if forward_until_exit(pid).is_none() {
        forward_signals(pid);
    }
    let code = wait_exit_code(pid);
    if let Some((raw, out)) = proxy {
        let _ = out.join();
        drop(raw);
    }
    Ok(code)
}
