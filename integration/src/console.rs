//! A `--console-socket` receiver: listens on a unix socket, takes the pty
//! master the runtime sends with SCM_RIGHTS, and collects what the workload
//! writes to its terminal.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct ConsoleSocket {
    pub path: PathBuf,
    handle: Option<JoinHandle<Result<String, String>>>,
}

/// What the receiver saw.
pub type ConsoleResult = Result<String, String>;

impl ConsoleSocket {
    /// Listen on `path` (made connectable by anyone: the runtime may run as
    /// another user than the harness) and serve one connection in a thread.
    /// The thread gives up after `timeout`.
    pub fn listen(path: &Path, timeout: Duration) -> ConsoleSocket {
        let _ = std::fs::remove_file(path);
        let l = UnixListener::bind(path).unwrap_or_else(|e| panic!("bind {path:?}: {e}"));
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
        l.set_nonblocking(true).unwrap();
        let handle = std::thread::spawn(move || serve(l, timeout));
        ConsoleSocket {
            path: path.to_path_buf(),
            handle: Some(handle),
        }
    }

    /// Wait for the receiver: the terminal output, or why there is none.
    pub fn output(mut self) -> ConsoleResult {
        self.handle
            .take()
            .unwrap()
            .join()
            .unwrap_or_else(|_| Err("receiver panicked".into()))
    }
}

fn serve(l: UnixListener, timeout: Duration) -> ConsoleResult {
    let deadline = Instant::now() + timeout;
    let conn = loop {
        match l.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err("nobody connected to the console socket".into());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    conn.set_nonblocking(false).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let master = recv_fd(conn.as_raw_fd())?;
    read_until_hangup(master, deadline)
}

/// Receive one fd sent with SCM_RIGHTS.
pub fn recv_fd(sock: RawFd) -> Result<OwnedFd, String> {
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cmsg = [0u64; 64];
    // SAFETY: msghdr points at live local buffers for the duration of recvmsg;
    // the cmsg walk stays within msg_controllen as returned by the kernel.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cmsg) as _;
        let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(format!("recvmsg: {}", std::io::Error::last_os_error()));
        }
        let mut fds = Vec::new();
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let payload = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let p = libc::CMSG_DATA(c) as *const RawFd;
                for i in 0..payload / std::mem::size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(p.add(i))));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        if fds.len() != 1 {
            return Err(format!(
                "expected exactly one fd over the console socket, got {}",
                fds.len()
            ));
        }
        Ok(fds.pop().unwrap())
    }
}

/// Read a pty master until the slave side is closed everywhere (EIO) or the deadline.
fn read_until_hangup(master: OwnedFd, deadline: Instant) -> ConsoleResult {
    let fd = master.as_raw_fd();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "terminal not closed in time; output so far: {:?}",
                String::from_utf8_lossy(&out)
            ));
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polling one valid fd.
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(500) as i32) };
        if r == 0 {
            continue;
        }
        // SAFETY: reading into a local buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            out.extend_from_slice(&buf[..n as usize]);
        } else if n == 0 {
            break;
        } else {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) || e.raw_os_error() == Some(libc::EAGAIN) {
                continue;
            }
            break; // EIO: the other side hung up
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}
