//! The seccomp user-notification path: the rows marked `Entry::Answer` (the
//! stat family) return SECCOMP_RET_USER_NOTIF instead of RET_TRACE, and a
//! thread of the tracer answers them from the listener fd.
//!
//! Why: a ptrace stop costs a wait4 wake-up of the tracer on whichever CPU it
//! sleeps on, plus GETREGS/SETREGS. A notification with
//! SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP hands the CPU straight to the answering
//! thread and back, which is several times cheaper on an idle machine.
//!
//! Hand-over: the workload's child installs the filter (it must: a filter
//! applies to the caller) and sends the listener fd over a socketpair; the
//! thread receives it, so the ptrace loop never blocks on the child. If the
//! kernel refuses a listener (EBUSY: some filter above already has one, e.g.
//! a nested tracer; or an old kernel) the child installs the ptrace-only
//! filter and the same rows are served at ptrace stops.

use crate::fsview::FsView;
use crate::mem::{self, Via};
use crate::seccomp;
use crate::syscalls::{Row, NATIVE};
use std::sync::Arc;

pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
const FILTER_FLAG_WAIT_KILLABLE_RECV: libc::c_ulong = 1 << 5;
const USER_NOTIF_FLAG_CONTINUE: u32 = 1;
const USER_NOTIF_FD_SYNC_WAKE_UP: libc::c_ulong = 1;

// _IOWR('!', 0, struct seccomp_notif), _IOWR('!', 1, struct seccomp_notif_resp),
// _IOW('!', 2, __u64), _IOW('!', 4, __u64).
const IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;
const IOCTL_NOTIF_ID_VALID: libc::c_ulong = 0x4008_2102;
const IOCTL_NOTIF_SET_FLAGS: libc::c_ulong = 0x4008_2104;

/// struct seccomp_notif. The kernel may know a longer one: RECV goes through a
/// larger zeroed buffer (see `recv`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Notif {
    pub id: u64,
    pub pid: u32,
    pub flags: u32,
    pub nr: i32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

#[repr(C)]
struct Resp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

/// Install `prog` with a listener (async-signal-safe: runs after fork), or
/// `plain` on a kernel without WAIT_KILLABLE_RECV (before 5.19). Returns the
/// listener fd (or a negative errno) and whether `prog` went in.
pub fn install_with_listener(
    prog: &[libc::sock_filter],
    plain: &[libc::sock_filter],
) -> (i32, bool) {
    // WAIT_KILLABLE_RECV: once we hold a notification, a harmless signal (or
    // the tracer's PTRACE_INTERRUPT, inject.rs) does not abort the call, so
    // the work is not done twice.
    match seccomp::install_flags(
        prog,
        FILTER_FLAG_NEW_LISTENER | FILTER_FLAG_WAIT_KILLABLE_RECV,
    ) {
        Ok(fd) => (fd, true),
        Err(libc::EINVAL) => (
            seccomp::install_flags(plain, FILTER_FLAG_NEW_LISTENER).unwrap_or_else(|e| -e),
            false,
        ),
        Err(e) => (-e, false),
    }
}

/// Send `fd` and one byte of `data` over the unix socket `sock` (async-signal-safe).
pub fn send_fd(sock: i32, fd: i32, data: u8) -> bool {
    // SAFETY: a msghdr with one byte of data and one SCM_RIGHTS control
    // message, all in buffers on this stack frame.
    unsafe {
        let mut byte = [data];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut ctl = [0u64; 4]; // CMSG_SPACE(sizeof(int)) = 24 bytes, 8-aligned
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctl.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(4) as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<i32>(), fd);
        libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) == 1
    }
}

/// Receive one fd and its byte of data from `sock`; None at EOF (the child
/// installed no listener).
pub fn recv_fd(sock: i32) -> Option<(i32, u8)> {
    // SAFETY: as in send_fd, receiving into buffers we own; the fd we get is new.
    unsafe {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut ctl = [0u64; 4];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctl.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&ctl) as _;
        loop {
            let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            if n <= 0 {
                return None;
            }
            break;
        }
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_level != libc::SOL_SOCKET || (*c).cmsg_type != libc::SCM_RIGHTS
        {
            return None;
        }
        Some((
            std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>()),
            byte[0],
        ))
    }
}

/// The kernel still holds the caller in notification `id`.
pub fn id_valid(fd: i32, id: u64) -> bool {
    // SAFETY: the ioctl reads one u64 we own.
    unsafe { libc::ioctl(fd, IOCTL_NOTIF_ID_VALID, &id as *const u64) == 0 }
}

/// The kernel's size of struct seccomp_notif (it may grow in later kernels).
pub fn notif_size() -> usize {
    // struct seccomp_notif_sizes { __u16 seccomp_notif, seccomp_notif_resp, seccomp_data; }
    let mut sizes = [0u16; 3];
    // SAFETY: SECCOMP_GET_NOTIF_SIZES writes three u16 into `sizes`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            3, // SECCOMP_GET_NOTIF_SIZES
            0,
            sizes.as_mut_ptr(),
        )
    };
    if rc == 0 {
        usize::from(sizes[0]).max(std::mem::size_of::<Notif>())
    } else {
        std::mem::size_of::<Notif>()
    }
}

fn hung_up(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd we own, no timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n < 0 || p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

/// The pending notification, once poll(2) said there is one: None when its
/// caller died meanwhile, Err(errno) when the listener is unusable.
pub fn recv_one(fd: i32, buf: &mut [u64]) -> Result<Option<Notif>, i32> {
    buf.fill(0); // the kernel insists on a zeroed buffer
                 // SAFETY: `buf` is at least the kernel's sizeof(struct seccomp_notif), 8-aligned.
    let rc = unsafe { libc::ioctl(fd, IOCTL_NOTIF_RECV, buf.as_mut_ptr()) };
    if rc == 0 {
        // SAFETY: the buffer starts with a struct seccomp_notif.
        return Ok(Some(unsafe {
            std::ptr::read(buf.as_ptr().cast::<Notif>())
        }));
    }
    match crate::owners::errno() {
        libc::EINTR | libc::ENOENT => Ok(None),
        e => Err(e),
    }
}

/// Hand the CPU straight to the answering thread and back (Linux 6.6);
/// without it the answers are still right, only slower.
pub fn set_sync_wake_up(fd: i32) {
    // SAFETY: the ioctl reads one flag word.
    unsafe { libc::ioctl(fd, IOCTL_NOTIF_SET_FLAGS, USER_NOTIF_FD_SYNC_WAKE_UP) };
}

/// Wait for the next notification. Err(errno) when the listener is unusable.
fn recv(fd: i32, buf: &mut [u64]) -> Result<Notif, i32> {
    loop {
        match recv_one(fd, buf)? {
            Some(n) => return Ok(n),
            // The caller died before we read it, or no task uses the filter
            // any more (then RECV fails at once, forever: stop).
            None if hung_up(fd) => return Err(libc::ENOENT),
            None => {}
        }
    }
}

/// Answer notification `id`: a result, an errno, or (`mem::DENIED`) "run it natively".
pub fn send(fd: i32, id: u64, result: Result<i64, i32>) {
    let resp = match result {
        Ok(v) => Resp {
            id,
            val: v,
            error: 0,
            flags: 0,
        },
        Err(mem::DENIED) => Resp {
            id,
            val: 0,
            error: 0,
            flags: USER_NOTIF_FLAG_CONTINUE,
        },
        Err(e) => Resp {
            id,
            val: 0,
            error: -e,
            flags: 0,
        },
    };
    // SAFETY: the ioctl reads a struct seccomp_notif_resp we own. ENOENT (the
    // caller died or was interrupted) needs nothing from us.
    let rc = unsafe { libc::ioctl(fd, IOCTL_NOTIF_SEND, &resp as *const Resp) };
    if rc != 0 && resp.flags != 0 && crate::owners::errno() == libc::EINVAL {
        // No FLAG_CONTINUE before Linux 5.5: an error beats a caller blocked forever.
        let denied = Resp {
            id,
            val: 0,
            error: -libc::EACCES,
            flags: 0,
        };
        // SAFETY: as above.
        unsafe { libc::ioctl(fd, IOCTL_NOTIF_SEND, &denied as *const Resp) };
    }
}

/// Start the answering thread: it waits for the child's listener fd on
/// `sock`, then serves notifications until the listener fails. It holds no
/// tracee alive and dies with the process. False when no thread could be
/// made (`sock` is closed then).
pub fn start(sock: i32, view: Arc<FsView>) -> bool {
    let spawned = std::thread::Builder::new()
        .name("rlrt-notify".into())
        .spawn(move || {
            let fd = recv_fd(sock).map(|(fd, _)| fd);
            // SAFETY: our end of the socketpair, used only here.
            unsafe { libc::close(sock) };
            if let Some(fd) = fd {
                serve(fd, &view);
                // SAFETY: the listener is ours.
                unsafe { libc::close(fd) };
            }
        });
    if spawned.is_err() {
        // SAFETY: our end of the socketpair.
        unsafe { libc::close(sock) };
        return false;
    }
    true
}

fn serve(fd: i32, view: &FsView) {
    set_sync_wake_up(fd);
    let index: Vec<Option<Row>> = NATIVE.index();
    let mut buf = vec![0u64; notif_size().div_ceil(8)];
    while let Ok(n) = recv(fd, &mut buf) {
        let row = (n.arch == NATIVE.audit_arch)
            .then(|| index.get(n.nr as usize).copied().flatten())
            .flatten();
        let via = Via::Notify { fd, id: n.id };
        let result = match row {
            // pid 0: the caller is outside our pid namespace; nothing to resolve through.
            Some(r) if n.pid != 0 => view
                .answer(via, n.pid as i32, r.sys, &n.args)
                .unwrap_or(Err(mem::DENIED)),
            _ => Err(mem::DENIED),
        };
        send(fd, n.id, result);
    }
}
