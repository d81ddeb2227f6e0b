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

/// Blocks the forwarded signals in this thread (so in the threads spawned
/// after it) and starts a thread that passes them on to `pid`.
pub fn forward_signals(pid: i32) {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    if set.thread_block().is_err() {
        return;
    }
    std::thread::spawn(move || loop {
        if let Ok(sig) = set.wait() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
        }
    });
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
    forward_signals(pid);
    let proxy = match master {
        Some(m) => Some(crate::tty::proxy(m)?),
        None => None,
    };
    let code = wait_exit_code(pid);
    if let Some((raw, out)) = proxy {
        let _ = out.join();
        drop(raw);
    }
    Ok(code)
}
