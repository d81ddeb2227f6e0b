//! Peer credentials of unix sockets: `getsockopt(SOL_SOCKET, SO_PEERCRED)`
//! reports the peer's fake effective IDs.
//!
//! The kernel reports the credentials the peer had at connect(2), listen(2)
//! or socketpair(2): in a container every process is really root, so a
//! server that checks its client (postgres' `peer` authentication, D-Bus,
//! sshd's agent socket) sees root where `su postgres -c psql` runs as
//! postgres. The filter traps getsockopt for that level and option only.
//! The tracer asks the kernel itself, on a copy of the caller's socket
//! (`pidfd_getfd`), so the peer's pid is the kernel's, and takes that
//! process's fake credentials: an entry of `Tracer::threads` (its main
//! thread), or the default (`Tracer::initial`) for a process that never
//! changed identity. The pid is left as it is.

use crate::arch::Regs;
use crate::creds::Creds;
use crate::mem;
use crate::tracer::{Action, Tracer};

const UCRED_SIZE: usize = std::mem::size_of::<libc::ucred>();

impl Tracer {
    /// getsockopt(fd, SOL_SOCKET, SO_PEERCRED, optval, optlen).
    pub(crate) fn peercred(&mut self, tid: i32, regs: &Regs) -> Action {
        let (fd, optval, optlen) = (regs.arg(0) as i32, regs.arg(3), regs.arg(4));
        // Errors (no such fd, not a socket, a bad optlen pointer, no peer)
        // are the kernel's to report: it runs the call itself then.
        if fd < 0 {
            return Action::Native;
        }
        let Ok(sock) = self.fs.resolve(self.via, tid, fd, b"", true, true) else {
            return Action::Native;
        };
        let Ok(len) = mem::read_u32_via(self.via, tid, optlen) else {
            return Action::Native;
        };
        let Some(mut cred) = peer_of(sock.fd()) else {
            return Action::Native;
        };
        // pid 0: a peer outside our pid namespace, which is not ours to fake.
        if cred.pid > 0 {
            let c = self.creds_of_process(cred.pid);
            cred.uid = c.euid;
            cred.gid = c.egid;
        }
        // As the kernel: a negative length is EINVAL, a short one truncates.
        if (len as i32) < 0 {
            return Action::Skip(-(libc::EINVAL as i64));
        }
        let n = (len as usize).min(UCRED_SIZE);
        let mut bytes = [0u8; UCRED_SIZE];
        bytes[0..4].copy_from_slice(&cred.pid.to_ne_bytes());
        bytes[4..8].copy_from_slice(&cred.uid.to_ne_bytes());
        bytes[8..12].copy_from_slice(&cred.gid.to_ne_bytes());
        let written = mem::write_via(self.via, tid, optval, &bytes[..n])
            .and_then(|_| mem::write_via(self.via, tid, optlen, &(n as u32).to_ne_bytes()));
        match written {
            Ok(()) => Action::Skip(0),
            Err(e) => Action::Skip(-(e as i64)),
        }
    }

    /// The fake credentials of process `pid` (its main thread's).
    pub(crate) fn creds_of_process(&self, pid: i32) -> &Creds {
        self.threads.get(&pid).map_or(&self.initial, |t| &t.creds)
    }
}

/// SO_PEERCRED of our own copy of the socket.
fn peer_of(fd: i32) -> Option<libc::ucred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = UCRED_SIZE as libc::socklen_t;
    // SAFETY: `cred` and `len` are ours and sized for the option.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred)
}
