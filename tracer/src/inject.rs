//! One system call run inside a stopped tracee, as if it had made it itself:
//! how an adopted process comes to install the chown filter
//! (`seccomp::chown_trap`). A seccomp filter applies to the process that
//! installs it, so the tracer cannot add one from outside.
//!
//! The thread is at the interrupt stop the tracer asked for while answering
//! the call that took its fake CAP_CHOWN (listener.rs): it has just come back from a
//! `syscall` instruction, which is reused, two bytes back. The filter goes on
//! its stack below the red zone. The call runs between a syscall-entry and a
//! syscall-exit stop (PTRACE_SYSCALL); at the exit stop the registers are put
//! back, so the thread goes on with the result of its own call.

/// Whether the native architecture has an injection path (x86_64 only; an
/// aarch64 thread at the same stop would need its syscall number set through
/// NT_ARM_SYSTEM_CALL, which nothing here tests).
pub const SUPPORTED: bool = cfg!(target_arch = "x86_64");

/// `tid` (stopped at an interrupt stop right after a system call) installs
/// `prog` for all its threads (SECCOMP_FILTER_FLAG_TSYNC), then is resumed
/// if `resume` (else it stays stopped, its registers as before, ready to
/// install another). Signals that arrived meanwhile are sent again. Err says
/// why not; the thread is resumed either way (or is gone).
pub fn install_filter(tid: i32, prog: &[libc::sock_filter], resume: bool) -> Result<(), String> {
    let mut signals = Vec::new();
    let r = run_seccomp(tid, prog, &mut signals);
    if resume && !matches!(r, Err(Stop::Gone)) {
        crate::arch::resume(libc::PTRACE_CONT, tid, 0);
    }
    for sig in signals {
        // SAFETY: plain tkill of our tracee.
        unsafe { libc::syscall(libc::SYS_tkill, tid, sig) };
    }
    match r {
        Ok(0) | Err(Stop::Gone) => Ok(()),
        // TSYNC: the thread that could not take the filter.
        Ok(t) if t > 0 => Err(format!("thread {t} could not take the filter")),
        Ok(e) => Err(format!(
            "seccomp: {}",
            std::io::Error::from_raw_os_error(-e as i32)
        )),
        Err(Stop::Refused(why)) => Err(why),
    }
}

enum Stop {
    /// The thread exited or was killed: its status stays for the main loop.
    Gone,
    /// Nothing was changed in the thread.
    Refused(String),
}

#[cfg(target_arch = "x86_64")]
fn run_seccomp(tid: i32, prog: &[libc::sock_filter], signals: &mut Vec<i32>) -> Result<i64, Stop> {
    use crate::arch::{Regs, SYSCALL_INSN};
    use crate::mem;
    const SET_MODE_FILTER: u64 = 1;
    const FLAG_TSYNC: u64 = 1;
    const RED_ZONE: u64 = 128;
    let refused = |what: &str, e: i32| Stop::Refused(format!("{what}: errno {e}"));
    let saved = Regs::get(tid).map_err(|_| Stop::Gone)?;
    let site = saved.ip().wrapping_sub(SYSCALL_INSN.len() as u64);
    let mut insn = [0u8; 2];
    mem::read(tid, site, &mut insn).map_err(|e| refused("reading the code", e))?;
    if insn != SYSCALL_INSN {
        return Err(Stop::Refused(
            "not stopped right after a system call".into(),
        ));
    }
    // struct sock_fprog { unsigned short len; struct sock_filter *filter; },
    // then the instructions.
    let size = 16 + 8 * prog.len() as u64;
    let base = saved.sp().wrapping_sub(RED_ZONE + 64 + size) & !15;
    let mut data = Vec::with_capacity(size as usize);
    data.extend_from_slice(&(prog.len() as u16).to_ne_bytes());
    data.extend_from_slice(&[0; 6]);
    data.extend_from_slice(&(base + 16).to_ne_bytes());
    for i in prog {
        data.extend_from_slice(&i.code.to_ne_bytes());
        data.extend_from_slice(&[i.jt, i.jf]);
        data.extend_from_slice(&i.k.to_ne_bytes());
    }
    mem::write(tid, base, &data).map_err(|e| refused("writing the filter", e))?;
    let mut call = saved.clone();
    let args = [
        SET_MODE_FILTER,
        FLAG_TSYNC,
        base,
        u64::from(crate::syscalls::SECCOMP_BYPASS),
    ];
    call.prepare_call(site, libc::SYS_seccomp as u64, &args);
    call.set(tid).map_err(|_| Stop::Gone)?;
    step(tid, signals)?; // syscall entry
    step(tid, signals)?; // syscall exit
    let ret = Regs::get(tid).map_err(|_| Stop::Gone)?.ret();
    saved.set(tid).map_err(|_| Stop::Gone)?;
    Ok(ret)
}

#[cfg(not(target_arch = "x86_64"))]
fn run_seccomp(_: i32, _: &[libc::sock_filter], _: &mut Vec<i32>) -> Result<i64, Stop> {
    Err(Stop::Refused("not supported on this architecture".into()))
}

/// Resume `tid` to its next syscall stop. A signal arriving meanwhile is
/// held back (its delivery stop suppressed) and noted in `signals`.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn step(tid: i32, signals: &mut Vec<i32>) -> Result<(), Stop> {
    crate::arch::resume(libc::PTRACE_SYSCALL, tid, 0);
    loop {
        if exited(tid) {
            return Err(Stop::Gone);
        }
        let mut status = 0;
        // SAFETY: waitpid with a local status.
        if unsafe { libc::waitpid(tid, &mut status, libc::__WALL) } != tid {
            return Err(Stop::Gone);
        }
        if !libc::WIFSTOPPED(status) {
            return Err(Stop::Gone);
        }
        let (sig, event) = (libc::WSTOPSIG(status), status >> 16);
        if sig == libc::SIGTRAP | 0x80 {
            return Ok(());
        }
        if event == 0 {
            signals.push(sig);
        }
        crate::arch::resume(libc::PTRACE_SYSCALL, tid, 0);
    }
}

/// Whether `tid`'s next wait status is its end, without reaping it: the
/// main loop must see that one.
fn exited(tid: i32) -> bool {
    loop {
        // SAFETY: an all-zero siginfo_t is valid; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our tracee, WNOWAIT: nothing is consumed.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                tid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WSTOPPED | libc::WNOWAIT | libc::__WALL,
            )
        };
        if rc != 0 {
            if crate::owners::errno() == libc::EINTR {
                continue;
            }
            return true;
        }
        return matches!(
            info.si_code,
            libc::CLD_EXITED | libc::CLD_KILLED | libc::CLD_DUMPED
        );
    }
}
