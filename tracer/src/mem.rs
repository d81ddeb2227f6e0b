//! Tracee memory: process_vm_readv/writev, falling back to PTRACE_PEEKDATA/POKEDATA
//! when the former is denied. Every address is untrusted: failures are EFAULT.
//!
//! The notification thread is not the ptracer and its tracee is not stopped, so it
//! has no PEEK/POKE fallback; it gets [`DENIED`] and lets the call run natively.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub enum Via {
    /// The ptrace thread, with the tracee in a ptrace stop.
    Tracer,
    /// The notification thread answering notification `id` of listener `fd`.
    Notify { fd: i32, id: u64 },
}

/// Not an errno: process_vm_* is denied and there is no fallback (Via::Notify).
pub const DENIED: i32 = i32::MAX;

/// `/proc/<tid>/mem` files for the notification thread: opening one checks
/// ptrace access once, and a pread/pwrite on it is cheaper than
/// process_vm_readv/writev, which check on every call. A file is bound to an
/// address space, not to a tid, so the ptrace loop forgets a tid when it
/// execs or exits (`forget`).
/// At most this many cached mem files (and pidfds, fsview.rs): the fd
/// budget (`set_fd_budget`).
static CACHED: AtomicUsize = AtomicUsize::new(256);

pub fn cached_max() -> usize {
    CACHED.load(Ordering::Relaxed)
}

/// Fits both caches in the tracer's `RLIMIT_NOFILE` (the container's, which
/// may be low): each gets a quarter of what is left after a reserve for
/// the tracer's own fds and those of one operation, between 4 and 256.
pub fn set_fd_budget(nofile: u64) {
    let n = (nofile.saturating_sub(48) / 4).clamp(4, 256);
    CACHED.store(n as usize, Ordering::Relaxed);
}

/// Out of fds (EMFILE/ENFILE): every cached fd goes (the caches refill).
pub fn relieve_fd_pressure() {
    mem_files().clear();
    crate::fsview::forget_all();
}

/// Runs `open` once more after freeing the cached fds when it ran out of them.
pub fn retry_on_emfile<T>(mut open: impl FnMut() -> Result<T, i32>) -> Result<T, i32> {
    match open() {
        Err(libc::EMFILE) | Err(libc::ENFILE) => {
            relieve_fd_pressure();
            open()
        }
        r => r,
    }
}

static MEM_FILES: LazyLock<Mutex<HashMap<i32, Arc<File>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn mem_files() -> std::sync::MutexGuard<'static, HashMap<i32, Arc<File>>> {
    MEM_FILES.lock().unwrap_or_else(|e| e.into_inner())
}

/// The address space behind `tid` is gone or replaced (exit, execve).
pub fn forget(tid: i32) {
    mem_files().remove(&tid);
}

/// The mem file of `tid` for notification `id`, and whether it was just opened.
fn mem_file(fd: i32, id: u64, tid: i32) -> Result<(Arc<File>, bool), i32> {
    if let Some(f) = mem_files().get(&tid) {
        return Ok((f.clone(), false));
    }
    if mem_files().len() >= cached_max() {
        // Under the listener engine most callers are never traced, so their
        // exits go unseen: keep the cache (and our fd count) bounded.
        mem_files().clear();
    }
    let open = || {
        File::options()
            .read(true)
            .write(true)
            .open(format!("/proc/{tid}/mem"))
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
    };
    let f = match retry_on_emfile(open) {
        Ok(f) => Arc::new(f),
        Err(libc::EACCES) | Err(libc::EPERM) => return Err(DENIED),
        Err(libc::EMFILE) | Err(libc::ENFILE) => return Err(libc::EMFILE),
        Err(_) => return Err(libc::ESRCH),
    };
    // The tid may have died and been reused since the notification: only
    // trust the file if the kernel still holds our caller.
    if !crate::notify::id_valid(fd, id) {
        return Err(libc::ESRCH);
    }
    mem_files().insert(tid, f.clone());
    Ok((f, true))
}

/// Tracee memory for notification `id`; `op` reads or writes through the mem
/// file. A failure through a cached file may mean a stale file (a tid reused
/// before the ptrace loop forgot it): once more through a fresh one.
fn notify_rw(fd: i32, id: u64, tid: i32, op: &mut dyn FnMut(&File) -> bool) -> Result<(), i32> {
    let (file, fresh) = mem_file(fd, id, tid)?;
    if op(&file) {
        return Ok(());
    }
    if fresh {
        return Err(libc::EFAULT);
    }
    forget(tid);
    let (file, _) = mem_file(fd, id, tid)?;
    if op(&file) {
        Ok(())
    } else {
        Err(libc::EFAULT)
    }
}

static VM_DENIED: AtomicBool = AtomicBool::new(false);
const PAGE: u64 = 4096;

/// process_vm_readv (`write` false) or process_vm_writev of exactly `len`
/// bytes at `local`. Ok(false): denied here (non-dumpable tracee, no
/// CAP_SYS_PTRACE), from now on the caller uses PEEK/POKE.
fn vm_rw(
    tid: i32,
    addr: u64,
    local: *mut libc::c_void,
    len: usize,
    write: bool,
) -> Result<bool, i32> {
    if VM_DENIED.load(Ordering::Relaxed) {
        return Ok(false);
    }
    let l = libc::iovec {
        iov_base: local,
        iov_len: len,
    };
    let r = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: `l` covers a buffer of `len` bytes owned by the caller (only read
    // when writing); the remote side is checked by the kernel.
    let n = unsafe {
        if write {
            libc::process_vm_writev(tid, &l, 1, &r, 1, 0)
        } else {
            libc::process_vm_readv(tid, &l, 1, &r, 1, 0)
        }
    };
    if n == len as isize {
        return Ok(true);
    }
    if n >= 0 {
        return Err(libc::EFAULT);
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EPERM) | Some(libc::ENOSYS) => {
            VM_DENIED.store(true, Ordering::Relaxed);
            Ok(false)
        }
        Some(e) => Err(e),
        None => Err(libc::EFAULT),
    }
}

/// Nothing to do (Ok(true)), a bad range (EFAULT), or go on (Ok(false)).
fn trivial(addr: u64, len: usize) -> Result<bool, i32> {
    if len == 0 {
        return Ok(true);
    }
    if addr == 0 || addr.checked_add(len as u64).is_none() {
        return Err(libc::EFAULT);
    }
    Ok(false)
}

fn peek_read(tid: i32, addr: u64, buf: &mut [u8]) -> Result<(), i32> {
    let w = std::mem::size_of::<libc::c_long>() as u64;
    let mut done = 0usize;
    while done < buf.len() {
        let a = addr + done as u64;
        let aligned = a & !(w - 1);
        // SAFETY: PEEKDATA returns the word; errno distinguishes errors.
        let word = unsafe {
            *libc::__errno_location() = 0;
            libc::ptrace(libc::PTRACE_PEEKDATA, tid, aligned as *mut libc::c_void, 0)
        };
        // SAFETY: reading errno.
        if word == -1 && unsafe { *libc::__errno_location() } != 0 {
            return Err(libc::EFAULT);
        }
        let bytes = word.to_ne_bytes();
        let off = (a - aligned) as usize;
        let n = (bytes.len() - off).min(buf.len() - done);
        buf[done..done + n].copy_from_slice(&bytes[off..off + n]);
        done += n;
    }
    Ok(())
}

/// Read exactly `buf.len()` bytes; EFAULT if any byte is unreadable.
pub fn read(tid: i32, addr: u64, buf: &mut [u8]) -> Result<(), i32> {
    read_via(Via::Tracer, tid, addr, buf)
}

pub fn read_via(via: Via, tid: i32, addr: u64, buf: &mut [u8]) -> Result<(), i32> {
    if trivial(addr, buf.len())? {
        return Ok(());
    }
    if let Via::Notify { fd, id } = via {
        return notify_rw(fd, id, tid, &mut |f| f.read_exact_at(buf, addr).is_ok());
    }
    if vm_rw(tid, addr, buf.as_mut_ptr().cast(), buf.len(), false)? {
        return Ok(());
    }
    peek_read(tid, addr, buf)
}

pub fn read_u32_via(via: Via, tid: i32, addr: u64) -> Result<u32, i32> {
    let mut b = [0u8; 4];
    read_via(via, tid, addr, &mut b)?;
    Ok(u32::from_ne_bytes(b))
}

/// Write all of `data`; EFAULT if any byte is unwritable.
pub fn write(tid: i32, addr: u64, data: &[u8]) -> Result<(), i32> {
    write_via(Via::Tracer, tid, addr, data)
}

pub fn write_via(via: Via, tid: i32, addr: u64, data: &[u8]) -> Result<(), i32> {
    if trivial(addr, data.len())? {
        return Ok(());
    }
    if let Via::Notify { fd, id } = via {
        return notify_rw(fd, id, tid, &mut |f| f.write_all_at(data, addr).is_ok());
    }
    if vm_rw(
        tid,
        addr,
        data.as_ptr() as *mut libc::c_void,
        data.len(),
        true,
    )? {
        return Ok(());
    }
    // Fallback: read-modify-write whole words with PEEK/POKE.
    let w = std::mem::size_of::<libc::c_long>();
    let start = addr & !(w as u64 - 1);
    let end = (addr + data.len() as u64).div_ceil(w as u64) * w as u64;
    let mut buf = vec![0u8; (end - start) as usize];
    peek_read(tid, start, &mut buf)?;
    let off = (addr - start) as usize;
    buf[off..off + data.len()].copy_from_slice(data);
    for (i, chunk) in buf.chunks(w).enumerate() {
        let mut word = [0u8; 8];
        word[..w].copy_from_slice(chunk);
        let v = libc::c_long::from_ne_bytes(word[..w].try_into().map_err(|_| libc::EFAULT)?);
        // SAFETY: POKEDATA writes one word into the tracee; the kernel checks the address.
        let rc = unsafe {
            libc::ptrace(
                libc::PTRACE_POKEDATA,
                tid,
                (start + (i * w) as u64) as *mut libc::c_void,
                v as *mut libc::c_void,
            )
        };
        if rc == -1 {
            return Err(libc::EFAULT);
        }
    }
    Ok(())
}

/// Read a NUL-terminated string of at most `max` bytes (without the NUL) into `out`.
/// Reads page by page so a string ending just before an unmapped page works.
/// EFAULT for a bad pointer, ENAMETOOLONG when no NUL within `max`.
pub fn read_cstr_via(
    via: Via,
    tid: i32,
    addr: u64,
    max: usize,
    out: &mut Vec<u8>,
) -> Result<(), i32> {
    out.clear();
    if addr == 0 {
        return Err(libc::EFAULT);
    }
    let mut a = addr;
    let mut chunk = [0u8; PAGE as usize];
    // Most paths are short: a small first read, then whole pages.
    let mut step = 256;
    loop {
        let room = (PAGE - (a % PAGE)) as usize;
        let want = room.min(step).min(max + 1 - out.len());
        step = PAGE as usize;
        read_via(via, tid, a, &mut chunk[..want])?;
        if let Some(p) = chunk[..want].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..p]);
            return Ok(());
        }
        out.extend_from_slice(&chunk[..want]);
        if out.len() > max {
            return Err(libc::ENAMETOOLONG);
        }
        a = a.checked_add(want as u64).ok_or(libc::EFAULT)?;
    }
}
