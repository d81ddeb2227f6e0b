//! Register access for the native architecture: the only place that knows the
//! register layout. Every `unsafe` here is a plain ptrace(2) call on a buffer we own.

use std::io;

fn check(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A thread's registers at a stop.
#[derive(Clone)]
pub struct Regs {
    raw: libc::user_regs_struct,
}

impl Regs {
    /// A call seen through the listener: only the arguments are known (the
    /// handlers read nothing else; mknod's rewrite edits them in place).
    pub fn from_args(args: &[u64; 6]) -> Regs {
        // SAFETY: an all-zero user_regs_struct is valid.
        let mut r = Regs {
            raw: unsafe { std::mem::zeroed() },
        };
        for (i, &a) in args.iter().enumerate() {
            r.set_arg(i, a);
        }
        r
    }
}

#[cfg(target_arch = "x86_64")]
impl Regs {
    pub fn get(tid: i32) -> io::Result<Regs> {
        // SAFETY: an all-zero user_regs_struct is valid; PTRACE_GETREGS fills it.
        let mut raw: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        // SAFETY: ptrace writes at most sizeof(user_regs_struct) bytes into `raw`.
        check(unsafe { libc::ptrace(libc::PTRACE_GETREGS, tid, 0, &mut raw as *mut _) })?;
        Ok(Regs { raw })
    }

    pub fn set(&self, tid: i32) -> io::Result<()> {
        // SAFETY: ptrace only reads the struct.
        check(unsafe { libc::ptrace(libc::PTRACE_SETREGS, tid, 0, &self.raw as *const _) })
            .map(|_| ())
    }

    pub fn nr(&self) -> u64 {
        self.raw.orig_rax
    }

    pub fn arg(&self, i: usize) -> u64 {
        let r = &self.raw;
        match i {
            0 => r.rdi,
            1 => r.rsi,
            2 => r.rdx,
            3 => r.r10,
            4 => r.r8,
            _ => r.r9,
        }
    }

    pub fn set_arg(&mut self, i: usize, v: u64) {
        let r = &mut self.raw;
        match i {
            0 => r.rdi = v,
            1 => r.rsi = v,
            2 => r.rdx = v,
            3 => r.r10 = v,
            4 => r.r8 = v,
            _ => r.r9 = v,
        }
    }

    /// The return value at a syscall-exit stop.
    pub fn ret(&self) -> i64 {
        self.raw.rax as i64
    }

    pub fn sp(&self) -> u64 {
        self.raw.rsp
    }

    pub fn ip(&self) -> u64 {
        self.raw.rip
    }

    /// Make the thread, once resumed, run the `syscall` instruction at `at`
    /// as call `nr(args)`. orig_rax -1: no syscall restart is attempted on
    /// the way out of the stop it is in.
    pub fn prepare_call(&mut self, at: u64, nr: u64, args: &[u64]) {
        self.raw.rip = at;
        self.raw.rax = nr;
        self.raw.orig_rax = u64::MAX;
        for (i, &a) in args.iter().enumerate() {
            self.set_arg(i, a);
        }
    }

    /// Skip the call at a seccomp stop and make it return `result`.
    pub fn skip(&mut self, tid: i32, result: i64) -> io::Result<()> {
        self.raw.orig_rax = u64::MAX;
        self.raw.rax = result as u64;
        self.set(tid)
    }
}

/// The system call instruction (`syscall`).
#[cfg(target_arch = "x86_64")]
pub const SYSCALL_INSN: [u8; 2] = [0x0f, 0x05];

#[cfg(target_arch = "aarch64")]
const NT_PRSTATUS: libc::c_int = 1;
#[cfg(target_arch = "aarch64")]
const NT_ARM_SYSTEM_CALL: libc::c_int = 0x404;

#[cfg(target_arch = "aarch64")]
impl Regs {
    pub fn get(tid: i32) -> io::Result<Regs> {
        // SAFETY: an all-zero user_regs_struct is valid.
        let mut raw: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: &mut raw as *mut _ as *mut libc::c_void,
            iov_len: std::mem::size_of_val(&raw),
        };
        // SAFETY: the kernel writes at most iov_len bytes into `raw`.
        check(unsafe {
            libc::ptrace(libc::PTRACE_GETREGSET, tid, NT_PRSTATUS, &mut iov as *mut _)
        })?;
        Ok(Regs { raw })
    }

    pub fn set(&self, tid: i32) -> io::Result<()> {
        let mut iov = libc::iovec {
            iov_base: &self.raw as *const _ as *mut libc::c_void,
            iov_len: std::mem::size_of_val(&self.raw),
        };
        // SAFETY: the kernel only reads iov_len bytes.
        check(unsafe { libc::ptrace(libc::PTRACE_SETREGSET, tid, NT_PRSTATUS, &mut iov as *mut _) })
            .map(|_| ())
    }

    pub fn nr(&self) -> u64 {
        self.raw.regs[8]
    }

    pub fn arg(&self, i: usize) -> u64 {
        self.raw.regs[i.min(5)]
    }

    pub fn set_arg(&mut self, i: usize, v: u64) {
        self.raw.regs[i.min(5)] = v;
    }

    pub fn ret(&self) -> i64 {
        self.raw.regs[0] as i64
    }

    pub fn sp(&self) -> u64 {
        self.raw.sp
    }

    pub fn skip(&mut self, tid: i32, result: i64) -> io::Result<()> {
        let mut nr: libc::c_int = -1;
        let mut iov = libc::iovec {
            iov_base: &mut nr as *mut _ as *mut libc::c_void,
            iov_len: 4,
        };
        // SAFETY: the kernel reads 4 bytes (the new syscall number).
        check(unsafe {
            libc::ptrace(
                libc::PTRACE_SETREGSET,
                tid,
                NT_ARM_SYSTEM_CALL,
                &mut iov as *mut _,
            )
        })?;
        self.raw.regs[0] = result as u64;
        self.set(tid)
    }
}

/// PTRACE_GETEVENTMSG.
pub fn event_msg(tid: i32) -> io::Result<u64> {
    let mut msg: libc::c_ulong = 0;
    // SAFETY: the kernel writes one unsigned long.
    check(unsafe { libc::ptrace(libc::PTRACE_GETEVENTMSG, tid, 0, &mut msg as *mut _) })?;
    Ok(msg as u64)
}

/// Resume with PTRACE_CONT / PTRACE_SYSCALL / PTRACE_LISTEN; errors (ESRCH: the
/// tracee died meanwhile) are ignored: its exit is reported by waitpid.
pub fn resume(req: libc::c_uint, tid: i32, sig: i32) {
    // SAFETY: no memory is passed.
    unsafe {
        libc::ptrace(req, tid, 0, sig as libc::c_long);
    }
}
