//! A console socket of our own, for `run` and `exec` with a terminal but
//! without `--console-socket`: receive the pty master from the container and
//! copy it to and from our stdio, in raw mode when stdin is a terminal.

use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios;

pub struct ConsoleListener {
    pub path: PathBuf,
    listener: UnixListener,
}

impl ConsoleListener {
    pub fn new() -> Result<ConsoleListener> {
        let path = std::env::temp_dir().join(format!(
            "rootlessrt-console-{}-{}.sock",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ));
        let listener = UnixListener::bind(&path).context("cannot create a console socket")?;
        Ok(ConsoleListener { path, listener })
    }

    /// Receives the pty master the container sends (one SCM_RIGHTS message).
    pub fn receive(&self) -> Result<OwnedFd> {
        let (stream, _) = self.listener.accept()?;
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )?;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                if let Some(fd) = fds.first() {
                    // SAFETY: the kernel just installed this fd for us.
                    return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
                }
            }
        }
        Err(anyhow!("the container sent no terminal"))
    }
}

impl Drop for ConsoleListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Restores the terminal mode when dropped.
pub struct RawMode {
    saved: Option<termios::Termios>,
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin(), termios::SetArg::TCSANOW, t);
        }
    }
}

/// Copies stdin to the pty and the pty to stdout on two threads. The output
/// thread ends when the container side closes; join it before exiting.
pub fn proxy(master: OwnedFd) -> Result<(RawMode, std::thread::JoinHandle<()>)> {
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut raw = t.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &raw);
        if let Ok(ws) = window_size() {
            // SAFETY: TIOCSWINSZ reads a winsize struct from a valid pointer.
            unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        }
    }
    let mut to_pty = std::fs::File::from(master.try_clone()?);
    let mut from_pty = std::fs::File::from(master);
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let mut input = std::io::stdin();
        while let Ok(n) = input.read(&mut buf) {
            if n == 0 || to_pty.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let out = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let mut stdout = std::io::stdout();
        // EIO once every slave fd is closed: the workload is gone.
        while let Ok(n) = from_pty.read(&mut buf) {
            if n == 0 || stdout.write_all(&buf[..n]).is_err() {
                break;
            }
            let _ = stdout.flush();
        }
    });
    Ok((RawMode { saved }, out))
}

fn window_size() -> std::io::Result<libc::winsize> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize struct to a valid pointer.
    let r = unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(ws)
}
