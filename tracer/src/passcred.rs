//! SCM_CREDENTIALS over unix sockets carry fake IDs.
//!
//! The kernel fills the credentials a receiver with SO_PASSCRED gets from
//! the sender's real IDs (implicit ones) or from what the sender claims
//! (explicit ones, checked against its real IDs: `scm_check_creds`). In a
//! container every process is really root and only that ID is mapped, so a
//! receiver sees root for everyone, and a fake non-root sender naming its
//! own IDs gets EINVAL. Two filters fix that where it matters, so that
//! other processes pay nothing:
//! - receiver: `setsockopt(SOL_SOCKET, SO_PASSCRED, 1)` is trapped in the
//!   main filter (it is rare); the caller's process is then made to install
//!   `seccomp::passcred_trap` (inject.rs), which stops its recvmsg/recvmmsg.
//!   At the exit stop each SCM_CREDENTIALS in its buffer gets the sender's
//!   fake IDs: the pid stays, uid/gid become the claim recorded for that
//!   process (below), else its fake real uid and gid (what the kernel puts
//!   in for an implicit credential), else those recorded at its last send.
//! - sender: sendmsg/sendmmsg are trapped in processes whose fake IDs are
//!   not root's (`Level::Sender`: the creator trap, the chown trap in
//!   Mode::Ids). An explicit claim is checked against the fake credentials
//!   as the kernel does; refused → EPERM (or EINVAL for -1); accepted →
//!   the uid/gid bytes in the caller's buffer become the real IDs (0) for
//!   the call and are put back at its exit stop. Each send records, by the
//!   sender's tgid, what its receivers are to see (the claim, or its fake
//!   real IDs): a message is often read after its sender exited.
//!
//! All memory is the tracee's (`mem::*_via` on its tid); nothing here acts
//! in the tracer's own context. A tracee changing its buffer meanwhile can
//! only make the kernel see what it could pass natively (its own pid, root).

use crate::arch::Regs;
use crate::creds::{Creds, CAP_SETGID, CAP_SETUID};
use crate::mem;
use crate::syscalls::Sys;
use crate::tracer::{Action, Pending, Tracer};

const CAP_SYS_ADMIN: u32 = 21;
/// struct msghdr (LP64): name, namelen, iov, iovlen, control, controllen, flags.
const MSGHDR_SIZE: usize = 56;
const MSG_CONTROL: usize = 32;
const MSG_CONTROLLEN: usize = 40;
/// struct mmsghdr: a msghdr and the message's length, padded to 8.
const MMSGHDR_SIZE: u64 = 64;
/// struct cmsghdr (LP64): u64 len, i32 level, i32 type; data 8-aligned.
const CMSG_HDR: usize = 16;
/// CMSG_LEN(sizeof(struct ucred)): the only length the kernel accepts.
const CREDS_LEN: usize = CMSG_HDR + 12;
/// Control data looked at (the kernel's optmem_max is 20 KiB by default).
const CONTROL_MAX: usize = 64 * 1024;
/// sendmmsg/recvmmsg handle at most UIO_MAXIOV headers.
const VLEN_MAX: u64 = 1024;

/// Senders remembered before those that are gone are forgotten.
const CLAIMS_MAX: usize = 4096;

/// What a sender's last message told its receivers (`Tracer::claims`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub uid: u32,
    pub gid: u32,
    /// Named in SCM_CREDENTIALS (else the sender's fake real IDs).
    pub explicit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ucred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// Each SCM_CREDENTIALS in `control` (the first `len` bytes the kernel
/// counts): the offset of its struct ucred and its value. Walked as
/// CMSG_NXTHDR does: 8-aligned headers; a header shorter than itself or
/// past the end stops the walk; a credential of another length is skipped
/// (the kernel refuses it when sending, and never makes one).
pub fn creds_in(control: &[u8]) -> Vec<(usize, Ucred)> {
    let word = |at: usize| -> u32 { u32::from_ne_bytes(control[at..at + 4].try_into().unwrap()) };
    let mut found = Vec::new();
    let mut off = 0usize;
    while off + CMSG_HDR <= control.len() {
        let len = u64::from_ne_bytes(control[off..off + 8].try_into().unwrap());
        if len < CMSG_HDR as u64 || len > (control.len() - off) as u64 {
            break;
        }
        let len = len as usize;
        let (level, kind) = (word(off + 8) as i32, word(off + 12) as i32);
        if level == libc::SOL_SOCKET && kind == libc::SCM_CREDENTIALS && len == CREDS_LEN {
            let d = off + CMSG_HDR;
            let cred = Ucred {
                pid: word(d) as i32,
                uid: word(d + 4),
                gid: word(d + 8),
            };
            found.push((d, cred));
        }
        off += (len + 7) & !7;
    }
    found
}

/// The kernel's `scm_check_creds` against fake credentials `c` of a process
/// `tgid`: -1 is not a valid ID (EINVAL); the pid must be the sender's
/// unless CAP_SYS_ADMIN, the uid one of its real, effective or saved uids
/// unless CAP_SETUID, the gid likewise unless CAP_SETGID; else EPERM.
pub fn check_claim(c: &Creds, tgid: i32, claim: Ucred) -> Result<(), i32> {
    if claim.uid == u32::MAX || claim.gid == u32::MAX {
        return Err(libc::EINVAL);
    }
    let pid = claim.pid == tgid || c.capable(CAP_SYS_ADMIN);
    let uid = [c.ruid, c.euid, c.suid].contains(&claim.uid) || c.capable(CAP_SETUID);
    let gid = [c.rgid, c.egid, c.sgid].contains(&claim.gid) || c.capable(CAP_SETGID);
    if pid && uid && gid {
        Ok(())
    } else {
        Err(libc::EPERM)
    }
}

impl Tracer {
    /// setsockopt(fd, SOL_SOCKET, SO_PASSCRED, optval, optlen): enabling it
    /// gets the caller's process `passcred_trap` (listener.rs). The kernel
    /// sets the option (and reports any error) itself.
    pub(crate) fn so_passcred(&mut self, tid: i32, regs: &Regs) -> Action {
        // The kernel reads an int, EINVAL below that size.
        if (regs.arg(4) as i32) >= 4 {
            if let Ok(v) = mem::read_u32_via(self.via, tid, regs.arg(3)) {
                self.want_passcred |= v != 0;
            }
        }
        Action::Native
    }

    /// The process of thread `tid` (/proc/<tid>/status once per thread).
    fn tgid_of(&mut self, tid: i32) -> i32 {
        match self.threads.get(&tid) {
            Some(t) if t.tgid != 0 => return t.tgid,
            _ => {}
        }
        let tgid = crate::listener::status_field(tid, "Tgid", 10).map_or(tid, |t| t as i32);
        if let Some(t) = self.threads.get_mut(&tid) {
            t.tgid = tgid;
        }
        tgid
    }

    /// The control buffer of the msghdr at `hdr`: (address, bytes), None
    /// without room for a credential or when unreadable (the kernel says
    /// EFAULT itself).
    fn control_of(&mut self, tid: i32, hdr: u64) -> Option<(u64, Vec<u8>)> {
        let mut h = [0u8; MSGHDR_SIZE];
        mem::read_via(self.via, tid, hdr, &mut h).ok()?;
        let field = |at: usize| u64::from_ne_bytes(h[at..at + 8].try_into().unwrap());
        let (addr, len) = (field(MSG_CONTROL), field(MSG_CONTROLLEN));
        if addr == 0 || len < CREDS_LEN as u64 {
            return None;
        }
        let mut control = vec![0u8; (len as usize).min(CONTROL_MAX)];
        mem::read_via(self.via, tid, addr, &mut control).ok()?;
        Some((addr, control))
    }

    /// The message headers of sendmsg/recvmsg (one) or the mmsg forms.
    fn headers(regs: &Regs, sys: Sys, count: u64) -> Vec<u64> {
        match sys {
            Sys::Sendmsg | Sys::Recvmsg => vec![regs.arg(1)],
            _ => (0..count.min(VLEN_MAX))
                .map(|i| regs.arg(1).wrapping_add(i * MMSGHDR_SIZE))
                .collect(),
        }
    }

    /// Entry of sendmsg/sendmmsg in a process with non-root fake IDs.
    pub(crate) fn send_creds(&mut self, tid: i32, regs: &mut Regs, sys: Sys) -> Action {
        let tgid = self.tgid_of(tid);
        let creds = self.creds(tid).clone();
        let mut restore = Vec::new();
        let mut last = None;
        let mut refused = None;
        for (i, hdr) in Self::headers(regs, sys, regs.arg(2))
            .into_iter()
            .enumerate()
        {
            let Some((addr, control)) = self.control_of(tid, hdr) else {
                continue;
            };
            let found = creds_in(&control);
            if let Some(e) = found
                .iter()
                .find_map(|&(_, c)| check_claim(&creds, tgid, c).err())
            {
                refused = Some((i, e));
                break;
            }
            for (off, c) in found {
                last = Some(c);
                if (c.uid, c.gid) == (0, 0) {
                    continue;
                }
                // The real IDs: every process of the container is really
                // root, the one ID mapped, and the kernel accepts those.
                let at = addr + off as u64 + 4;
                let mut orig = [0u8; 8];
                orig[..4].copy_from_slice(&c.uid.to_ne_bytes());
                orig[4..].copy_from_slice(&c.gid.to_ne_bytes());
                if mem::write_via(self.via, tid, at, &[0; 8]).is_err() {
                    continue; // read-only: the kernel says EINVAL, as before
                }
                restore.push((at, orig));
            }
        }
        // The kernel stops at the first message it cannot send and returns
        // how many went, or that message's error.
        if let Some((0, e)) = refused {
            self.put_back(tid, &restore);
            return Action::Skip(-(e as i64));
        }
        // What receivers see: the claim, or the IDs the kernel puts in
        // without one (the sender's fake real IDs), also once it is gone.
        let claim = match last {
            Some(c) => Claim {
                uid: c.uid,
                gid: c.gid,
                explicit: true,
            },
            None => Claim {
                uid: creds.ruid,
                gid: creds.rgid,
                explicit: false,
            },
        };
        if self.claims.len() >= CLAIMS_MAX && !self.claims.contains_key(&tgid) {
            // Forget the processes that are gone.
            let live = &self.threads;
            self.claims.retain(|pid, _| live.contains_key(pid));
        }
        self.claims.insert(tgid, claim);
        let rewritten = match refused {
            Some((i, _)) => {
                regs.set_arg(2, i as u64);
                true
            }
            None => false,
        };
        if restore.is_empty() {
            return if rewritten {
                Action::Rewritten
            } else {
                Action::Native
            };
        }
        if let Some(t) = self.threads.get_mut(&tid) {
            t.pending = Pending::Send { restore };
        }
        Action::NativeWithExit
    }

    /// Entry of recvmsg/recvmmsg in a process with SO_PASSCRED: the exit
    /// stop is needed only where a credential fits in the control buffer.
    pub(crate) fn recv_creds(&mut self, tid: i32, regs: &Regs, sys: Sys) -> Action {
        let multi = sys == Sys::Recvmmsg;
        if !multi && self.control_of(tid, regs.arg(1)).is_none() {
            return Action::Native;
        }
        if let Some(t) = self.threads.get_mut(&tid) {
            t.pending = Pending::Recv {
                msg: regs.arg(1),
                multi,
            };
        }
        Action::NativeWithExit
    }

    /// The exit stop of a call `send_creds` or `recv_creds` asked for.
    pub(crate) fn finish_creds(&mut self, tid: i32, ret: i64, p: Pending) {
        match p {
            Pending::Send { restore } => self.put_back(tid, &restore),
            Pending::Recv { msg, multi } if ret >= 0 => {
                let n = if multi { ret as u64 } else { 1 };
                for i in 0..n.min(VLEN_MAX) {
                    self.fake_received(tid, msg.wrapping_add(i * MMSGHDR_SIZE));
                }
            }
            _ => {}
        }
    }

    /// The IDs a receiver sees for sender `pid`: its explicit claim; else
    /// its current fake real IDs while it is traced; else those of its last
    /// send; else the default's.
    fn sender_ids(&self, pid: i32) -> (u32, u32) {
        match self.claims.get(&pid) {
            Some(c) if c.explicit || !self.threads.contains_key(&pid) => (c.uid, c.gid),
            _ => {
                let s = self.creds_of_process(pid);
                (s.ruid, s.rgid)
            }
        }
    }

    fn put_back(&mut self, tid: i32, restore: &[(u64, [u8; 8])]) {
        for (at, bytes) in restore {
            let _ = mem::write_via(self.via, tid, *at, bytes);
        }
    }

    /// The credentials the kernel wrote into the msghdr at `hdr` (its
    /// msg_controllen is now the length used) get the senders' fake IDs.
    fn fake_received(&mut self, tid: i32, hdr: u64) {
        let Some((addr, control)) = self.control_of(tid, hdr) else {
            return;
        };
        for (off, c) in creds_in(&control) {
            // pid 0: a sender outside our pid namespace, not ours to fake.
            if c.pid <= 0 {
                continue;
            }
            let (uid, gid) = self.sender_ids(c.pid);
            if (uid, gid) == (c.uid, c.gid) {
                continue;
            }
            let mut bytes = [0u8; 8];
            bytes[..4].copy_from_slice(&uid.to_ne_bytes());
            bytes[4..].copy_from_slice(&gid.to_ne_bytes());
            let _ = mem::write_via(self.via, tid, addr + off as u64 + 4, &bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CapSets;

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let mut v = ((CMSG_HDR + data.len()) as u64).to_ne_bytes().to_vec();
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(data);
        v.resize((v.len() + 7) & !7, 0);
        v
    }

    fn ucred(pid: i32, uid: u32, gid: u32) -> Vec<u8> {
        [pid.to_ne_bytes(), uid.to_ne_bytes(), gid.to_ne_bytes()].concat()
    }

    const SOL: i32 = libc::SOL_SOCKET;
    const CREDS: i32 = libc::SCM_CREDENTIALS;

    #[test]
    fn walks_control_messages() {
        let creds = cmsg(SOL, CREDS, &ucred(7, 1000, 1001));
        assert_eq!(creds.len(), 32);
        assert_eq!(
            creds_in(&creds),
            vec![(
                16,
                Ucred {
                    pid: 7,
                    uid: 1000,
                    gid: 1001
                }
            )]
        );
        // SCM_RIGHTS with three fds (28 bytes, padded to 32), then credentials.
        let mut two = cmsg(SOL, libc::SCM_RIGHTS, &[3u8; 12]);
        two.extend(cmsg(SOL, CREDS, &ucred(8, 0, 5)));
        two.extend(cmsg(SOL, CREDS, &ucred(9, 1, 2)));
        let got = creds_in(&two);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            (
                48,
                Ucred {
                    pid: 8,
                    uid: 0,
                    gid: 5
                }
            )
        );
        assert_eq!(got[1].0, 80);
        // Another level with the same type, a wrong length: not credentials.
        let mut other = cmsg(libc::SOL_IP, CREDS, &ucred(1, 2, 3));
        other.extend(cmsg(SOL, CREDS, &[0u8; 16]));
        assert!(creds_in(&other).is_empty());
        // Truncated: the last one does not fit; nothing at all.
        assert!(creds_in(&creds[..27]).is_empty());
        assert!(creds_in(&creds[..15]).is_empty());
        assert!(creds_in(&[]).is_empty());
        let mut cut = two.clone();
        cut.truncate(two.len() - 8);
        assert_eq!(creds_in(&cut).len(), 1);
        // A header shorter than itself (0: would loop) or longer than the
        // buffer ends the walk.
        let mut zero = vec![0u8; 16];
        zero.extend(cmsg(SOL, CREDS, &ucred(1, 2, 3)));
        assert!(creds_in(&zero).is_empty());
        let mut long = creds.clone();
        long[0..8].copy_from_slice(&1000u64.to_ne_bytes());
        assert!(creds_in(&long).is_empty());
        // Unaligned length: the next header starts at the next multiple of 8.
        let mut odd = cmsg(SOL, 99, &[1u8; 3]);
        assert_eq!(odd.len(), 24);
        odd.extend(cmsg(SOL, CREDS, &ucred(4, 5, 6)));
        assert_eq!(
            creds_in(&odd),
            vec![(
                40,
                Ucred {
                    pid: 4,
                    uid: 5,
                    gid: 6
                }
            )]
        );
    }

    fn user(uid: u32, gid: u32) -> Creds {
        Creds::new(uid, gid, &[], CapSets::default(), false)
    }

    #[test]
    fn claims_checked_as_the_kernel() {
        let bob = user(1000, 1001);
        let c = |pid, uid, gid| Ucred { pid, uid, gid };
        assert_eq!(check_claim(&bob, 50, c(50, 1000, 1001)), Ok(()));
        assert_eq!(check_claim(&bob, 50, c(50, 0, 1001)), Err(libc::EPERM));
        assert_eq!(check_claim(&bob, 50, c(50, 1000, 0)), Err(libc::EPERM));
        assert_eq!(check_claim(&bob, 50, c(51, 1000, 1001)), Err(libc::EPERM));
        assert_eq!(
            check_claim(&bob, 50, c(50, u32::MAX, 1001)),
            Err(libc::EINVAL)
        );
        assert_eq!(
            check_claim(&bob, 50, c(51, 1000, u32::MAX)),
            Err(libc::EINVAL)
        );
        // Saved and effective IDs count too.
        let mut setuid = user(1000, 1001);
        setuid.euid = 0;
        setuid.suid = 5;
        setuid.sgid = 6;
        assert_eq!(check_claim(&setuid, 50, c(50, 0, 1001)), Ok(()));
        assert_eq!(check_claim(&setuid, 50, c(50, 5, 6)), Ok(()));
        assert_eq!(check_claim(&setuid, 50, c(50, 7, 6)), Err(libc::EPERM));
        // Capabilities: any uid, gid or pid.
        let mut caps = user(1000, 1001);
        caps.caps.effective = 1 << CAP_SETUID | 1 << CAP_SETGID | 1 << CAP_SYS_ADMIN;
        assert_eq!(check_claim(&caps, 50, c(1, 0, 0)), Ok(()));
        caps.caps.effective = 1 << CAP_SETUID;
        assert_eq!(check_claim(&caps, 50, c(50, 0, 0)), Err(libc::EPERM));
        assert_eq!(check_claim(&caps, 50, c(50, 0, 1001)), Ok(()));
    }
}
