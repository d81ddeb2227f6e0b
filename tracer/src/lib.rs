//! rootlessrt's ID-emulation tracer.
//!
//! The workload runs as the only mapped ID (0) of a user namespace; this crate fakes the
//! root-identity syscalls (set*id, setgroups, capabilities, chown, stat, mknod, set-uid exec)
//! under a seccomp-BPF filter whose `SECCOMP_RET_TRACE` stops are served by a ptrace loop.
//! See docs/tracer.md for the state machine.

mod acl;
mod arch;
mod creator;
pub mod creds;
mod fakeroot;
mod fsview;
mod handlers;
mod inject;
mod listener;
mod mem;
mod notify;
mod owners;
mod passcred;
mod peercred;
mod preload;
mod procstatus;
mod rootdb;
pub mod seccomp;
mod signals;
mod spawn;
pub mod syscalls;
mod tracer;
pub mod xattr;

pub use fakeroot::fakeroot_main;

use std::fmt;
use std::str::FromStr;

/// How much is emulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// No tracing: fork, exec, wait (still a proper init).
    Off,
    /// Credentials, capabilities and chown succeed; no ownership persisted, stat not trapped.
    Ids,
    /// Everything: ownership persisted in `user.rootlesscontainers` and shown by stat.
    #[default]
    Full,
}

impl FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Mode, Error> {
        match s {
            "off" => Ok(Mode::Off),
            "ids" => Ok(Mode::Ids),
            "full" => Ok(Mode::Full),
            _ => Err(Error::Config(format!(
                "invalid fake-root mode {s:?} (want off, ids or full)"
            ))),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Off => "off",
            Mode::Ids => "ids",
            Mode::Full => "full",
        })
    }
}

/// The workload's initial fake credentials (OCI `process.user`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// Capability sets as 64-bit masks (bit N = capability N).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
    pub bounding: u64,
}

impl CapSets {
    /// Every capability this kernel knows in effective, permitted and bounding.
    pub fn full() -> CapSets {
        let all = creds::cap_valid_mask();
        CapSets {
            effective: all,
            permitted: all,
            inheritable: 0,
            ambient: 0,
            bounding: all,
        }
    }

    /// The calling thread's real capability sets.
    pub fn current() -> CapSets {
        let mut hdr = [0x2008_0522u32, 0];
        let mut data = [0u32; 6];
        // SAFETY: V3 header and two data structs owned by us.
        let rc = unsafe { libc::syscall(libc::SYS_capget, hdr.as_mut_ptr(), data.as_mut_ptr()) };
        if rc != 0 {
            return CapSets::default();
        }
        let w = |i: usize| u64::from(data[i]) | (u64::from(data[i + 3]) << 32);
        let mut c = CapSets {
            effective: w(0),
            permitted: w(1),
            inheritable: w(2),
            ambient: 0,
            bounding: 0,
        };
        for cap in 0..64u64 {
            if creds::cap_valid_mask() & (1 << cap) == 0 {
                continue;
            }
            // SAFETY: plain prctl queries.
            unsafe {
                if libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) == 1 {
                    c.bounding |= 1 << cap;
                }
                if libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1 {
                    c.ambient |= 1 << cap;
                }
            }
        }
        c
    }
}

impl CapSets {
    /// Makes these the calling thread's real capability sets: the bounding
    /// set first (a drop needs CAP_SETPCAP, which capset may then take
    /// away), then effective, permitted and inheritable; ambient
    /// capabilities leave with the permitted ones. Syscalls only, for the
    /// child between fork and exec (`creds::cap_valid_mask` is read before
    /// the fork).
    pub(crate) fn apply_to_self(&self) -> Result<(), i32> {
        let errno = || {
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EPERM)
        };
        let valid = creds::cap_valid_mask();
        for cap in 0..64u64 {
            if valid & (1 << cap) == 0 || self.bounding & (1 << cap) != 0 {
                continue;
            }
            // SAFETY: plain prctl on ourselves.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0 {
                return Err(errno());
            }
        }
        let hdr = [0x2008_0522u32, 0];
        let (lo, hi) = (|m: u64| m as u32, |m: u64| (m >> 32) as u32);
        let (e, p, i) = (self.effective, self.permitted, self.inheritable);
        let data = [lo(e), lo(p), lo(i), hi(e), hi(p), hi(i)];
        // SAFETY: a V3 header and two data structs owned by us.
        if unsafe { libc::syscall(libc::SYS_capset, hdr.as_ptr(), data.as_ptr()) } != 0 {
            return Err(errno());
        }
        Ok(())
    }
}

/// Runs in the workload's child process after the tracer's own filter is in
/// place and just before `execve`; an `Err(errno)` aborts the exec. The
/// runtime loads the container's own seccomp profile here: loaded earlier,
/// that profile would also confine the tracer (and usually forbids ptrace).
/// The child is single-threaded, so the hook may allocate.
#[derive(Clone)]
pub struct PreExec(pub std::sync::Arc<dyn Fn() -> Result<(), i32> + Send + Sync>);

impl fmt::Debug for PreExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PreExec(..)")
    }
}

/// What [`run`] needs.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub mode: Mode,
    pub creds: Credentials,
    pub caps: Option<CapSets>,
    pub no_new_privs: bool,
    pub init: bool,
    pub pre_exec: Option<PreExec>,
    /// Mode::Full as a container's PID 1: preload the in-process stat shim
    /// into the workload when the container's /dev is its own tmpfs
    /// (preload.rs).
    pub stat_shim: bool,
    /// The workload's real capabilities, when the tracer was given more
    /// (CAP_SYS_PTRACE, to trace non-dumpable processes; CAP_SETPCAP, to
    /// drop them again): its child takes exactly these before it installs
    /// any filter.
    pub workload_caps: Option<CapSets>,
    /// `/` is a container's root (PID 1 or an exec'd process, not the host's
    /// `fakeroot`): in Mode::Full the owners of its symlinks, FIFOs and
    /// sockets are kept in its root directory for the next container
    /// (rootdb.rs).
    pub container_root: bool,
}

#[derive(Debug)]
pub enum Error {
    /// The workload's execve failed with this errno (nothing ran).
    Exec(i32),
    /// Installing the seccomp filter in the workload failed with this errno.
    Seccomp(i32),
    /// A system call needed to set up tracing failed.
    Sys(&'static str, std::io::Error),
    /// Bad configuration or arguments.
    Config(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Exec(e) => write!(f, "exec failed: {}", std::io::Error::from_raw_os_error(*e)),
            Error::Seccomp(e) => {
                write!(
                    f,
                    "installing the tracer's seccomp filter: {}",
                    std::io::Error::from_raw_os_error(*e)
                )
            }
            Error::Sys(what, e) => write!(f, "{what}: {e}"),
            Error::Config(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sys(_, e) => Some(e),
            _ => None,
        }
    }
}

pub use runner::{run, run_then_exit};
pub use signals::forwarded as forwarded_signals;

mod runner;
