//! What a container's init does for rootlessrt before it waits for `start`,
//! around the executor that later runs the workload (emulation.rs).
//!
//! - stdio that is `/dev/null` keeps the access mode the caller gave it.
//!   libcontainer's init replaces every stdio fd that is the host's
//!   `/dev/null` with the container's, opened read-only, so that
//!   `rootlessrt run x >/dev/null` made every write of the workload to
//!   stdout fail with EBADF (runc and crun keep it writable).
//! - With the tracer, the signals it forwards are blocked from now on: a
//!   signal sent while `start` wakes the init, before the tracer has set up
//!   its forwarding, stays pending instead of being dropped (PID 1 of a pid
//!   namespace ignores signals it has no handler for). The tracer forwards
//!   what is pending and unblocks them in the workload.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use oci_spec::runtime::Spec;

/// The access mode (`O_RDONLY`, `O_WRONLY`, `O_RDWR`) of each of our stdio
/// fds that is `/dev/null`.
pub type DevNullModes = [Option<i32>; 3];

/// Taken in `create`, from the stdio the container's init inherits.
pub fn dev_null_modes() -> DevNullModes {
    let mut modes = [None; 3];
    for (fd, mode) in modes.iter_mut().enumerate() {
        if is_dev_null(fd as i32) {
            // SAFETY: F_GETFL on one of our stdio fds.
            let fl = unsafe { libc::fcntl(fd as i32, libc::F_GETFL) };
            if fl >= 0 {
                *mode = Some(fl & libc::O_ACCMODE);
            }
        }
    }
    modes
}

fn is_dev_null(fd: i32) -> bool {
    nix::sys::stat::fstat(fd).is_ok_and(|st| {
        st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3)
    })
}

/// The container init's executor: `inner`, after the steps above.
#[derive(Clone)]
pub struct InitExecutor<E: Executor + Clone + 'static> {
    pub inner: E,
    pub dev_null: DevNullModes,
    /// Block the tracer's forwarded signals (only when the tracer runs: a
    /// workload exec'd directly would keep them blocked).
    pub hold_signals: bool,
}

impl<E: Executor + Clone + 'static> Executor for InitExecutor<E> {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        self.inner.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        self.inner.validate(spec)
    }

    /// Runs in the init after libcontainer's own set-up (its /dev/null
    /// reopening included) and before it waits for `start`.
    fn setup_envs(&self, envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        restore_dev_null(&self.dev_null)
            .map_err(|e| ExecutorSetEnvsError::Other(format!("stdio /dev/null: {e}")))?;
        if self.hold_signals {
            hold_forwarded_signals();
        }
        self.inner.setup_envs(envs)
    }
}

/// Reopens the container's `/dev/null` with the caller's mode on each stdio
/// fd that is `/dev/null` with another mode.
fn restore_dev_null(modes: &DevNullModes) -> std::io::Result<()> {
    for (fd, mode) in modes.iter().enumerate() {
        let fd = fd as i32;
        let Some(mode) = *mode else { continue };
        // SAFETY: F_GETFL on a stdio fd.
        let now = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if now < 0 || now & libc::O_ACCMODE == mode || !is_dev_null(fd) {
            continue;
        }
        let null = open_dev_null(mode)?;
        nix::unistd::dup2(null.as_raw_fd(), fd)?;
    }
    Ok(())
}

/// The container's `/dev/null` (libcontainer made and checked it), checked
/// again: a character device 1:3, not whatever the rootfs put there.
fn open_dev_null(mode: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: open with a NUL-terminated path; a non-negative result is a
    // new fd owned by nobody else.
    let fd = unsafe {
        libc::open(
            c"/dev/null".as_ptr(),
            mode | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NOCTTY,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just opened by us.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if !is_dev_null(fd.as_raw_fd()) {
        return Err(std::io::Error::other("/dev/null is not the null device"));
    }
    Ok(fd)
}

/// Blocks the signals the tracer forwards (real-time ones included), in the
/// init's only thread.
fn hold_forwarded_signals() {
    // SAFETY: sigset manipulation on a value we own, then pthread_sigmask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in tracer::forwarded_signals() {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
