//! The classic-BPF seccomp filter installed in the workload before it execs.

use crate::notify::RET_USER_NOTIF;
use crate::syscalls::{
    ArchTable, Entry, Level, Row, Sys, CLONE_WATCHED, EXEC_BYPASS_FD, SECCOMP_BYPASS,
};

pub const TAG: u32 = 0x5254;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const JA: u16 = 0x05;
const RET_K: u16 = 0x06;
const AND_K: u16 = 0x54;

const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARG0_LO: u32 = 16; // little-endian: the low half of args[0]

/// Offset of the low half of args[i] in struct seccomp_data.
fn arg_lo(i: u8) -> u32 {
    OFF_ARG0_LO + 8 * u32::from(i)
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}
fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// What a syscall number (or a prctl option) gets: a return, or a block of
/// its own that looks at the arguments and ends in returns.
enum Leaf {
    Ret(u32),
    Block(Vec<libc::sock_filter>),
}

/// Up to this many cases are tested one after the other.
const BUCKET: usize = 8;

/// `switch (A)` over `cases` (the first entry for a number wins); anything
/// else returns `default`. The kernel runs the program for every syscall
/// number when it installs it (the seccomp action cache), at every
/// container start, and the installation also costs per instruction. So:
/// consecutive numbers with the same return are one range test, a binary
/// search picks a bucket of at most `BUCKET` tests, and a bucket's tests
/// jump to returns shared at its end. Any number is decided in ~12
/// instructions; the linear chain this replaced took up to ~80.
fn switch(cases: Vec<(u32, Leaf)>, default: u32) -> Vec<libc::sock_filter> {
    let mut by_nr = std::collections::BTreeMap::new();
    for (nr, leaf) in cases {
        by_nr.entry(nr).or_insert(leaf);
    }
    let mut runs: Vec<(u32, u32, Leaf)> = Vec::new();
    for (nr, leaf) in by_nr {
        if let (Some((_, hi, Leaf::Ret(a))), Leaf::Ret(b)) = (runs.last_mut(), &leaf) {
            if *hi + 1 == nr && a == b {
                *hi = nr;
                continue;
            }
        }
        runs.push((nr, nr, leaf));
    }
    search(&runs, default)
}

fn search(runs: &[(u32, u32, Leaf)], default: u32) -> Vec<libc::sock_filter> {
    if runs.len() <= BUCKET {
        if let Some(p) = bucket(runs, default) {
            return p;
        }
    }
    let mid = runs.len() / 2;
    let (left, right) = (search(&runs[..mid], default), search(&runs[mid..], default));
    let mut p = Vec::with_capacity(left.len() + right.len() + 2);
    match u8::try_from(left.len()) {
        Ok(n) => p.push(jump(JGE_K, runs[mid].0, n, 0)),
        Err(_) => {
            // Too far for a conditional jump's 8-bit offset: go through JA.
            p.push(jump(JGE_K, runs[mid].0, 0, 1));
            p.push(stmt(JA, left.len() as u32));
        }
    }
    p.extend(left);
    p.extend(right);
    p
}

/// The runs tested in order, each jumping to its return among those shared
/// at the end (`default` first). None if a jump would not fit in 8 bits.
fn bucket(runs: &[(u32, u32, Leaf)], default: u32) -> Option<Vec<libc::sock_filter>> {
    let mut tails = vec![default];
    let mut body = Vec::new();
    // (instruction, return value, whether the jump to it is jt or jf)
    let mut fixups = Vec::new();
    for (lo, hi, leaf) in runs {
        match leaf {
            Leaf::Ret(k) if lo == hi => {
                fixups.push((body.len(), *k, true));
                body.push(jump(JEQ_K, *lo, 0, 0));
            }
            Leaf::Ret(k) => {
                body.push(jump(JGE_K, *lo, 0, 1));
                fixups.push((body.len(), *k, false));
                body.push(jump(JGT_K, *hi, 0, 0));
            }
            Leaf::Block(b) => {
                match u8::try_from(b.len()) {
                    Ok(n) => body.push(jump(JEQ_K, *lo, 0, n)),
                    Err(_) => {
                        body.push(jump(JEQ_K, *lo, 1, 0));
                        body.push(stmt(JA, b.len() as u32));
                    }
                }
                body.extend_from_slice(b);
            }
        }
        if let Leaf::Ret(k) = leaf {
            if !tails.contains(k) {
                tails.push(*k);
            }
        }
    }
    let tail_at = body.len();
    for (at, k, in_jt) in fixups {
        let tail = tails.iter().position(|t| *t == k)?;
        let off = u8::try_from(tail_at + tail - at - 1).ok()?;
        if in_jt {
            body[at].jt = off;
        } else {
            body[at].jf = off;
        }
    }
    body.extend(tails.iter().map(|&k| stmt(RET_K, k)));
    Some(body)
}

/// Where the trapped calls go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Every row stops the caller under ptrace.
    Ptrace,
    /// The `Entry::Answer` rows go to the listener, the rest stop under ptrace.
    Answers,
    /// Every row goes to the listener, and so do execve/execveat (where the
    /// tracer checks for set-ID files): nothing stops under ptrace until the
    /// tracer adopts a process (see docs/tracer.md, "listener engine").
    Listener,
    /// As `Listener` but execve runs untouched: for Mode::Ids when the
    /// default credentials are root's, where no exec can change them (no fake
    /// owner is kept, so a set-ID file's owner is root or unmapped).
    ListenerNoExec,
}

impl Route {
    fn listener(self) -> bool {
        matches!(self, Route::Listener | Route::ListenerNoExec)
    }
}

/// Build the program for `table` at `level`, trapped calls sent by `route`.
pub fn build(table: &ArchTable, level: Level, route: Route) -> Vec<libc::sock_filter> {
    build_with(table, level, route, false)
}

/// `build`, and with `root_chown` the chown family runs untrapped when it
/// leaves owner and group at root (0 or -1). Only for Route::ListenerNoExec
/// with root's default credentials: there the tracer would do exactly what
/// the kernel does (dpkg's ~1,200 `fchown(fd, 0, 0)` per package no longer
/// cost a round trip each). A process whose credentials are dropped must
/// still get EPERM: once its fake credentials lose CAP_CHOWN the tracer
/// makes it install `chown_trap` (inject.rs), through seccomp(2) carrying
/// SECCOMP_BYPASS.
pub fn build_with(
    table: &ArchTable,
    level: Level,
    route: Route,
    root_chown: bool,
) -> Vec<libc::sock_filter> {
    let root_chown = root_chown && route == Route::ListenerNoExec;
    let enosys = RET_ERRNO | libc::ENOSYS as u32;
    let trace = if route.listener() {
        RET_USER_NOTIF
    } else {
        RET_TRACE | TAG
    };
    let mut p = Vec::new();
    p.push(stmt(LD_W_ABS, OFF_ARCH));
    p.push(jump(JEQ_K, table.audit_arch, 1, 0));
    let ja_compat = p.len();
    p.push(stmt(JA, 0)); // patched below
    p.push(stmt(LD_W_ABS, OFF_NR));
    let mut ja_x32 = None;
    if table.x32_bit != 0 && route.listener() {
        // x32 numbers take the native path: the listener answers ENOSYS for
        // them (listener.rs), and the program stays short.
        p.push(jump(JSET_K, table.x32_bit, 0, 1));
        p.push(stmt(AND_K, !table.x32_bit));
    } else if table.x32_bit != 0 {
        p.push(jump(JSET_K, table.x32_bit, 0, 1));
        ja_x32 = Some(p.len());
        p.push(stmt(JA, 0));
    }
    let mut native = Vec::new();
    if route == Route::Listener {
        // execveat with EXEC_BYPASS_FD as dirfd runs untouched.
        native.push((
            table.execveat,
            Leaf::Block(vec![
                stmt(LD_W_ABS, OFF_ARG0_LO),
                jump(JEQ_K, EXEC_BYPASS_FD as u32, 0, 1),
                stmt(RET_K, RET_ALLOW),
                stmt(RET_K, RET_USER_NOTIF),
            ]),
        ));
    }
    for r in table.rows_for(level) {
        let action = if route == Route::Answers && r.entry == Entry::Answer {
            RET_USER_NOTIF
        } else {
            trace
        };
        let leaf = if let (true, Some((u, g))) = (root_chown, r.sys.owner_args()) {
            root_owner_block(u, g, action)
        } else if route.listener() && r.sys == Sys::SeccompInstall {
            // The tracer's own seccomp(2), injected into an adopted process
            // (inject.rs): a notification for it would wait for the tracer,
            // which waits for the call.
            Leaf::Block(vec![
                stmt(LD_W_ABS, arg_lo(3)),
                jump(JEQ_K, SECCOMP_BYPASS, 0, 1),
                stmt(RET_K, RET_ALLOW),
                stmt(RET_K, action),
            ])
        } else if !r.only_eq.is_empty() {
            only_equal(r.only_eq, action)
        } else if let Some((arg, bits)) = r.only_bits {
            only_with_bits(arg, bits, action)
        } else if let Some((arg, bits)) = r.bypass {
            // statx: allowed with the bits in the argument, else trapped.
            Leaf::Block(vec![
                stmt(LD_W_ABS, arg_lo(arg)),
                jump(JSET_K, bits, 0, 1),
                stmt(RET_K, RET_ALLOW),
                stmt(RET_K, action),
            ])
        } else if !r.only_arg0.is_empty() {
            // prctl: look at option, trap only the listed ones.
            let options = r.only_arg0.iter().map(|&o| (o, Leaf::Ret(trace)));
            let mut block = vec![stmt(LD_W_ABS, OFF_ARG0_LO)];
            block.extend(switch(options.collect(), RET_ALLOW));
            Leaf::Block(block)
        } else {
            Leaf::Ret(action)
        };
        native.push((r.nr, leaf));
    }
    if route == Route::Listener {
        native.extend(table.exec.iter().map(|&nr| (nr, Leaf::Ret(RET_USER_NOTIF))));
    }
    native.push((table.io_uring_setup, Leaf::Ret(enosys)));
    native.push((table.clone3, Leaf::Ret(enosys)));
    p.extend(switch(native, RET_ALLOW));
    // Not emulated: ENOSYS for the trapped calls (clone only with a watched flag).
    let enosys_for = |cases: Vec<(u32, Leaf)>| {
        let mut cases = cases;
        cases.push((table.io_uring_setup, Leaf::Ret(enosys)));
        switch(cases, RET_ALLOW)
    };
    if let Some(at) = ja_x32 {
        p[at].k = (p.len() - at - 1) as u32;
        p.push(stmt(AND_K, !table.x32_bit));
        let cases = table.rows_for(level).map(|r| match r.only_bits {
            Some((arg, bits)) => (r.nr, only_with_bits(arg, bits, enosys)),
            None if !r.only_eq.is_empty() => (r.nr, only_equal(r.only_eq, enosys)),
            None => (r.nr, Leaf::Ret(enosys)),
        });
        let mut cases: Vec<_> = cases.collect();
        cases.push((table.clone3, Leaf::Ret(enosys)));
        p.extend(enosys_for(cases));
    }
    p[ja_compat].k = (p.len() - ja_compat - 1) as u32;
    p.push(jump(JEQ_K, table.compat_arch, 1, 0));
    p.push(stmt(RET_K, RET_ALLOW)); // unknown architecture: untouched
    p.push(stmt(LD_W_ABS, OFF_NR));
    let (clone, clone3) = table.compat_clone;
    let mut cases: Vec<_> = table
        .compat_enosys
        .iter()
        .map(|&nr| (nr, Leaf::Ret(enosys)))
        .collect();
    cases.push((clone, only_with_bits(0, CLONE_WATCHED, enosys)));
    cases.push((clone3, Leaf::Ret(enosys)));
    p.extend(enosys_for(cases));
    p
}

/// `action` when the low half of argument `arg` has any of `bits`, else allowed.
fn only_with_bits(arg: u8, bits: u32, action: u32) -> Leaf {
    Leaf::Block(vec![
        stmt(LD_W_ABS, arg_lo(arg)),
        jump(JSET_K, bits, 0, 1),
        stmt(RET_K, action),
        stmt(RET_K, RET_ALLOW),
    ])
}

/// `action` when the low half of each listed argument has its value, else allowed.
fn only_equal(eq: &[(u8, u32)], action: u32) -> Leaf {
    let n = eq.len();
    let mut b = Vec::with_capacity(2 * n + 2);
    for (i, &(arg, v)) in eq.iter().enumerate() {
        b.push(stmt(LD_W_ABS, arg_lo(arg)));
        // A mismatch jumps over the remaining tests and `action`.
        b.push(jump(JEQ_K, v, 0, (2 * (n - i) - 1) as u8));
    }
    b.push(stmt(RET_K, action));
    b.push(stmt(RET_K, RET_ALLOW));
    Leaf::Block(b)
}

/// Allowed when the owner argument `u` and the group argument `g` are both
/// root (0) or unchanged (-1); else `trapped`.
fn root_owner_block(u: u8, g: u8, trapped: u32) -> Leaf {
    Leaf::Block(vec![
        stmt(LD_W_ABS, arg_lo(u)),
        jump(JEQ_K, 0, 1, 0),
        jump(JEQ_K, u32::MAX, 0, 4),
        stmt(LD_W_ABS, arg_lo(g)),
        jump(JEQ_K, 0, 1, 0),
        jump(JEQ_K, u32::MAX, 0, 1),
        stmt(RET_K, RET_ALLOW),
        stmt(RET_K, trapped),
    ])
}

/// The filter an adopted process installs (inject.rs) under a `root_chown`
/// program: its chown calls stop under ptrace, tagged, where the tracer
/// checks them against the process's own credentials. The main filter's
/// notification wins over this for the calls it still traps.
pub fn chown_trap(table: &ArchTable) -> Vec<libc::sock_filter> {
    // A process that lost CAP_CHOWN has (nearly always) left root's IDs:
    // its explicit SCM_CREDENTIALS are checked too (`Level::Sender`).
    trap_rows(table, |r| {
        (r.sys.owner_args().is_some() || r.level == Level::Sender)
            .then_some(Leaf::Ret(RET_TRACE | TAG))
    })
}

/// A per-process filter (one injected or installed beside the main one):
/// other architectures' calls pass, and each row `leaf` gives a leaf for
/// is switched to it; every other call is allowed.
fn trap_rows(table: &ArchTable, leaf: impl Fn(&Row) -> Option<Leaf>) -> Vec<libc::sock_filter> {
    let mut p = vec![
        stmt(LD_W_ABS, OFF_ARCH),
        jump(JEQ_K, table.audit_arch, 1, 0),
        stmt(RET_K, RET_ALLOW),
        stmt(LD_W_ABS, OFF_NR),
    ];
    let cases = table
        .rows
        .iter()
        .filter_map(|r| Some((r.nr, leaf(r)?)))
        .collect();
    p.extend(switch(cases, RET_ALLOW));
    p
}

/// The filter a process takes once it enables SO_PASSCRED (passcred.rs):
/// its receiving calls stop under ptrace, tagged, so that the tracer
/// rewrites the SCM_CREDENTIALS they bring back. Only traced processes may
/// carry it, as the creator trap.
pub fn passcred_trap(table: &ArchTable) -> Vec<libc::sock_filter> {
    trap_rows(table, |r| {
        (r.level == Level::Receiver).then_some(Leaf::Ret(RET_TRACE | TAG))
    })
}

/// The filter a Mode::Full process carries once its fake file-system IDs
/// are not root's: the calls that make an inode stop under ptrace, tagged,
/// so that the tracer gives the new inode its fake owner at the exit stop
/// (`Sys::creates`); so do sendmsg/sendmmsg, whose explicit
/// SCM_CREDENTIALS name fake IDs (`Level::Sender`, passcred.rs). The child
/// installs it when the workload starts with such IDs; a process that takes
/// them later is made to install it (inject.rs). Only traced processes may carry it: RET_TRACE with no
/// tracer fails the call.
pub fn creator_trap(table: &ArchTable) -> Vec<libc::sock_filter> {
    let trace = RET_TRACE | TAG;
    trap_rows(table, |r| {
        (r.level == Level::Creator || r.level == Level::Sender).then(|| match r.only_bits {
            Some((arg, bits)) => only_with_bits(arg, bits, trace),
            None => Leaf::Ret(trace),
        })
    })
}

/// Install `prog` in the calling process (async-signal-safe: used after fork).
/// Returns 0 or an errno. On EACCES (no NoNewPrivs and no CAP_SYS_ADMIN) sets
/// PR_SET_NO_NEW_PRIVS and retries.
pub fn install(prog: &[libc::sock_filter]) -> i32 {
    match install_flags(prog, 0) {
        Ok(_) => 0,
        Err(e) => e,
    }
}

/// SECCOMP_FILTER_FLAG_SPEC_ALLOW (Linux 4.17).
const FLAG_SPEC_ALLOW: libc::c_ulong = 1 << 2;

/// As `install`, with SECCOMP_FILTER_FLAG_* `flags`: Ok(what seccomp(2)
/// returned, e.g. the listener fd) or Err(errno). Asks for SPEC_ALLOW where
/// the kernel knows it: this filter emulates, it does not confine, and on
/// kernels that tie the Speculative Store Bypass mitigation to seccomp it
/// would otherwise slow the whole workload down.
pub fn install_flags(prog: &[libc::sock_filter], flags: libc::c_ulong) -> Result<i32, i32> {
    match install_raw(prog, flags | FLAG_SPEC_ALLOW) {
        Err(libc::EINVAL) => install_raw(prog, flags),
        r => r,
    }
}

fn install_raw(prog: &[libc::sock_filter], flags: libc::c_ulong) -> Result<i32, i32> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    for attempt in 0..2 {
        // SAFETY: fprog points to a valid program that outlives the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &fprog as *const libc::sock_fprog,
            )
        };
        if rc >= 0 {
            return Ok(rc as i32);
        }
        // SAFETY: reading errno.
        let e = unsafe { *libc::__errno_location() };
        if e != libc::EACCES || attempt == 1 {
            return Err(e);
        }
        // SAFETY: plain prctl.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(e);
        }
    }
    Err(libc::EACCES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::{aarch64, x86_64};

    /// A tiny cBPF interpreter for the instructions we emit.
    fn run(p: &[libc::sock_filter], arch: u32, nr: u32, arg0: u64) -> u32 {
        run_args(p, arch, nr, [arg0, 0, 0, 0, 0, 0])
    }

    fn run_args(p: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        run_counted(p, arch, nr, args).0
    }

    /// The return value and the number of instructions executed.
    fn run_counted(p: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> (u32, usize) {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let (mut a, mut pc, mut steps) = (0u32, 0usize, 0usize);
        loop {
            let i = p[pc];
            pc += 1;
            steps += 1;
            match i.code {
                LD_W_ABS => {
                    a = u32::from_le_bytes(data[i.k as usize..i.k as usize + 4].try_into().unwrap())
                }
                JEQ_K => pc += if a == i.k { i.jt } else { i.jf } as usize,
                JGT_K => pc += if a > i.k { i.jt } else { i.jf } as usize,
                JGE_K => pc += if a >= i.k { i.jt } else { i.jf } as usize,
                JSET_K => pc += if a & i.k != 0 { i.jt } else { i.jf } as usize,
                JA => pc += i.k as usize,
                AND_K => a &= i.k,
                RET_K => return (i.k, steps),
                c => panic!("bad op {c}"),
            }
        }
    }

    #[test]
    fn x86_64_filter() {
        let t = &x86_64::TABLE;
        let p = build(t, Level::Full, Route::Ptrace);
        assert!(p.len() < 4096);
        let a = t.audit_arch;
        assert_eq!(run(&p, a, 102, 0), RET_TRACE | TAG);
        assert_eq!(run(&p, a, 262, 0), RET_TRACE | TAG);
        assert_eq!(run(&p, a, 0, 0), RET_ALLOW);
        assert_eq!(run(&p, a, 157, 8), RET_TRACE | TAG);
        assert_eq!(run(&p, a, 157, 15), RET_ALLOW); // PR_SET_NAME
        assert_eq!(run(&p, a, 425, 0), RET_ERRNO | 38);
        assert_eq!(run(&p, a, 102 | 0x4000_0000, 0), RET_ERRNO | 38);
        assert_eq!(run(&p, a, 0x4000_0000, 0), RET_ALLOW);
        assert_eq!(run(&p, t.compat_arch, 199, 0), RET_ERRNO | 38);
        assert_eq!(run(&p, t.compat_arch, 4, 0), RET_ALLOW);
        let ids = build(t, Level::Ids, Route::Ptrace);
        assert_eq!(run(&ids, a, 262, 0), RET_ALLOW);
        assert_eq!(run(&ids, a, 92, 0), RET_TRACE | TAG);
        // With a listener the stat family is answered there; chown stays on ptrace.
        let n = build(t, Level::Full, Route::Answers);
        assert_eq!(run(&n, a, 262, 0), RET_USER_NOTIF);
        assert_eq!(run(&n, a, 332, 0), RET_USER_NOTIF);
        assert_eq!(run(&n, a, 5, 0), RET_USER_NOTIF);
        assert_eq!(run(&n, a, 92, 0), RET_TRACE | TAG);
        assert_eq!(run(&n, a, 102, 0), RET_TRACE | TAG);
        assert_eq!(run(&n, a, 0, 0), RET_ALLOW);
        assert_eq!(run(&n, a, 59, 0), RET_ALLOW); // execve: the exec event
                                                  // The listener engine: everything there, execve too; nothing on ptrace.
        let l = build(t, Level::Ids, Route::Listener);
        assert_eq!(run(&l, a, 102, 0), RET_USER_NOTIF);
        assert_eq!(run(&l, a, 157, 8), RET_USER_NOTIF);
        assert_eq!(run(&l, a, 59, 0), RET_USER_NOTIF);
        assert_eq!(run(&l, a, 322, 0), RET_USER_NOTIF);
        assert_eq!(run(&l, a, 262, 0), RET_ALLOW);
        let l = build(t, Level::Ids, Route::ListenerNoExec);
        assert_eq!(run(&l, a, 102, 0), RET_USER_NOTIF);
        assert_eq!(run(&l, a, 59, 0), RET_ALLOW);
    }

    /// Every number (and every prctl option) gets what the table says,
    /// in every mode.
    fn exhaustive(t: &ArchTable) {
        for (level, route) in [
            (Level::Ids, Route::Ptrace),
            (Level::Full, Route::Ptrace),
            (Level::Full, Route::Answers),
            (Level::Ids, Route::Listener),
            (Level::Full, Route::Listener),
            (Level::Ids, Route::ListenerNoExec),
        ] {
            let trace = if route.listener() {
                RET_USER_NOTIF
            } else {
                RET_TRACE | TAG
            };
            let p = build(t, level, route);
            // Short: the kernel's set-up of a filter costs ~2 µs per instruction here.
            // (206: the ptrace engine's full programs, whose x32 part repeats
            // the argument tests of getsockopt and setsockopt.)
            assert!(
                p.len() <= 206,
                "{level:?} {route:?}: {} instructions",
                p.len()
            );
            // The kernel runs the program for every number when it builds
            // its action cache: every path stays short.
            for (arch, nr) in (0..1024u32).flat_map(|nr| {
                [
                    (t.audit_arch, nr),
                    (t.compat_arch, nr),
                    (t.audit_arch, nr | t.x32_bit),
                ]
            }) {
                let steps = run_counted(&p, arch, nr, [0; 6]).1;
                // 25: prctl's options through the x32 path under the
                // full listener program (23 before the getsockopt row).
                assert!(
                    steps <= 25,
                    "{level:?} {route:?}: nr {nr:#x} took {steps} steps"
                );
            }
            for nr in 0..1024u32 {
                let row = t.rows_for(level).find(|r| r.nr == nr);
                for arg0 in [0u64, 1, 8, 15, 22, 36, 47, 1000] {
                    let want = match row {
                        Some(r) if !r.only_arg0.is_empty() => {
                            if r.only_arg0.contains(&(arg0 as u32)) {
                                trace
                            } else {
                                RET_ALLOW
                            }
                        }
                        Some(r) if route == Route::Answers && r.entry == Entry::Answer => {
                            RET_USER_NOTIF
                        }
                        Some(r) if r.only_bits.is_some_and(|(_, b)| arg0 as u32 & b == 0) => {
                            RET_ALLOW
                        }
                        // Only with the listed argument values (tested below).
                        Some(r) if !r.only_eq.is_empty() => RET_ALLOW,
                        Some(_) => trace,
                        None if route == Route::Listener && t.exec.contains(&nr) => RET_USER_NOTIF,
                        None if nr == t.io_uring_setup || nr == t.clone3 => {
                            RET_ERRNO | libc::ENOSYS as u32
                        }
                        None => RET_ALLOW,
                    };
                    let got = run(&p, t.audit_arch, nr, arg0);
                    assert_eq!(got, want, "{level:?} {route:?} nr {nr} arg0 {arg0}");
                    if nr == t.execveat && route == Route::Listener {
                        let bypass = u64::from(EXEC_BYPASS_FD as u32) | 0xffff_ffff_0000_0000;
                        assert_eq!(run(&p, t.audit_arch, nr, bypass), RET_ALLOW);
                    }
                    let enosys = RET_ERRNO | libc::ENOSYS as u32;
                    let compat = if t.compat_enosys.contains(&nr)
                        || nr == t.io_uring_setup
                        || nr == t.compat_clone.1
                    {
                        enosys
                    } else {
                        RET_ALLOW
                    };
                    assert_eq!(run(&p, t.compat_arch, nr, arg0), compat, "compat nr {nr}");
                    if t.x32_bit != 0 {
                        // Under a listener x32 takes the native path (answered
                        // ENOSYS there); otherwise the filter says ENOSYS.
                        let unwatched = row
                            .and_then(|r| r.only_bits)
                            .is_some_and(|(_, b)| arg0 as u32 & b == 0)
                            || row.is_some_and(|r| !r.only_eq.is_empty());
                        let x32 = if route.listener() {
                            want
                        } else if unwatched {
                            RET_ALLOW
                        } else if row.is_some() || nr == t.io_uring_setup || nr == t.clone3 {
                            enosys
                        } else {
                            RET_ALLOW
                        };
                        let got = run(&p, t.audit_arch, nr | t.x32_bit, arg0);
                        assert_eq!(got, x32, "x32 nr {nr}");
                    }
                    // The shim's statx: any arguments, the bypass bit in args[3].
                    if let Some((i, bits)) = row.and_then(|r| r.bypass) {
                        let mut args = [arg0; 6];
                        args[i as usize] = u64::from(bits) | 0x7ff;
                        assert_eq!(run_args(&p, t.audit_arch, nr, args), RET_ALLOW);
                        args[i as usize] = u64::from(!bits) | 0xffff_ffff_0000_0000;
                        assert_eq!(run_args(&p, t.audit_arch, nr, args), want);
                    }
                }
            }
        }
    }

    /// clone: trapped with a watched flag only, clone3 never runs; the same
    /// for the compat ABI (ENOSYS: not emulated there).
    fn clone_flags(t: &ArchTable) {
        let clone = t.rows.iter().find(|r| r.sys == Sys::Clone).unwrap().nr;
        let enosys = RET_ERRNO | libc::ENOSYS as u32;
        let fork = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
        let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        for route in [Route::Ptrace, Route::Answers, Route::Listener] {
            let p = build(t, Level::Full, route);
            let trace = if route.listener() {
                RET_USER_NOTIF
            } else {
                RET_TRACE | TAG
            };
            let a = t.audit_arch;
            for flags in [fork, thread, libc::CLONE_VFORK as u64] {
                assert_eq!(run(&p, a, clone, flags), RET_ALLOW);
                assert_eq!(run(&p, t.compat_arch, t.compat_clone.0, flags), RET_ALLOW);
            }
            for bit in [libc::CLONE_UNTRACED, libc::CLONE_NEWNS, libc::CLONE_NEWUSER] {
                let flags = fork | bit as u64;
                assert_eq!(run(&p, a, clone, flags), trace, "{route:?} {bit:#x}");
                assert_eq!(run(&p, t.compat_arch, t.compat_clone.0, flags), enosys);
            }
            assert_eq!(run(&p, a, t.clone3, 0), enosys);
            assert_eq!(run(&p, t.compat_arch, t.compat_clone.1, 0), enosys);
        }
    }

    /// The creator trap: only the calls that make an inode, open and openat
    /// only with O_CREAT or O_TMPFILE; nothing in the main filters.
    fn creator(t: &ArchTable) {
        let p = creator_trap(t);
        let a = t.audit_arch;
        for nr in 0..1024u32 {
            let row = t.rows.iter().find(|r| r.nr == nr);
            // The calls that make an inode, and sendmsg/sendmmsg (passcred.rs).
            let creates = row.is_some_and(|r| matches!(r.level, Level::Creator | Level::Sender));
            for flags in [
                0u64,
                libc::O_RDONLY as u64,
                libc::O_WRONLY as u64 | libc::O_APPEND as u64,
            ] {
                let mut args = [0u64; 6];
                let want = match row.and_then(|r| r.only_bits) {
                    _ if !creates => RET_ALLOW,
                    Some((i, _)) => {
                        args[i as usize] = flags;
                        RET_ALLOW
                    }
                    None => RET_TRACE | TAG,
                };
                assert_eq!(run_args(&p, a, nr, args), want, "nr {nr}");
            }
            if let Some((i, _)) = row.filter(|_| creates).and_then(|r| r.only_bits) {
                for flags in [libc::O_CREAT, libc::O_CREAT | libc::O_EXCL, libc::O_TMPFILE] {
                    let mut args = [0u64; 6];
                    args[i as usize] = flags as u64 | libc::O_WRONLY as u64;
                    assert_eq!(run_args(&p, a, nr, args), RET_TRACE | TAG, "nr {nr}");
                }
            }
            assert_eq!(run(&p, t.compat_arch, nr, libc::O_CREAT as u64), RET_ALLOW);
            for level in [Level::Ids, Level::Full] {
                for route in [Route::Ptrace, Route::Listener] {
                    if creates && nr != t.clone3 {
                        let got = run(&build(t, level, route), a, nr, libc::O_CREAT as u64);
                        assert_eq!(got, RET_ALLOW, "main filter traps creator nr {nr}");
                    }
                }
            }
        }
    }

    /// getsockopt: trapped for SOL_SOCKET/SO_PEERCRED only, whatever the
    /// high halves and the other arguments.
    fn peercred(t: &ArchTable) {
        let nr = t.rows.iter().find(|r| r.sys == Sys::Getsockopt).unwrap().nr;
        let (sol, peercred) = (libc::SOL_SOCKET as u64, libc::SO_PEERCRED as u64);
        let enosys = RET_ERRNO | libc::ENOSYS as u32;
        for route in [Route::Ptrace, Route::Answers, Route::Listener] {
            for level in [Level::Ids, Level::Full] {
                let p = build(t, level, route);
                let trace = if route.listener() {
                    RET_USER_NOTIF
                } else {
                    RET_TRACE | TAG
                };
                let a = t.audit_arch;
                for fd in [0u64, 3, 0xffff_ffff_0000_0005] {
                    let args = |l: u64, o: u64| [fd, l, o, 0x7fff_0000, 0x7fff_0010, 9];
                    assert_eq!(run_args(&p, a, nr, args(sol, peercred)), trace);
                    let high = args(sol | 1 << 32, peercred | 7 << 32);
                    assert_eq!(run_args(&p, a, nr, high), trace);
                    for (l, o) in [
                        (sol, libc::SO_PASSCRED as u64),
                        (sol, libc::SO_TYPE as u64),
                        (libc::IPPROTO_TCP as u64, peercred),
                        (0, 0),
                    ] {
                        assert_eq!(run_args(&p, a, nr, args(l, o)), RET_ALLOW, "{route:?}");
                    }
                    if t.x32_bit != 0 && !route.listener() {
                        let x = nr | t.x32_bit;
                        assert_eq!(run_args(&p, a, x, args(sol, peercred)), enosys);
                        assert_eq!(run_args(&p, a, x, args(sol, 2)), RET_ALLOW);
                    }
                }
            }
        }
    }

    /// setsockopt: trapped for SOL_SOCKET/SO_PASSCRED only; the passcred trap stops exactly recvmsg and
    /// recvmmsg, which no main filter traps.
    fn passcred(t: &ArchTable) {
        let nr = t.rows.iter().find(|r| r.sys == Sys::Setsockopt).unwrap().nr;
        let (sol, passcred) = (libc::SOL_SOCKET as u64, libc::SO_PASSCRED as u64);
        let a = t.audit_arch;
        for route in [
            Route::Ptrace,
            Route::Answers,
            Route::Listener,
            Route::ListenerNoExec,
        ] {
            for level in [Level::Ids, Level::Full] {
                let p = build(t, level, route);
                let want = if route.listener() {
                    RET_USER_NOTIF
                } else {
                    RET_TRACE | TAG
                };
                let args = |l: u64, o: u64| [3, l, o, 0x7fff_0000, 4, 0];
                assert_eq!(run_args(&p, a, nr, args(sol, passcred)), want, "{route:?}");
                let high = args(sol | 1 << 32, passcred | 7 << 32);
                assert_eq!(run_args(&p, a, nr, high), want, "{route:?}");
                for (l, o) in [
                    (sol, libc::SO_PEERCRED as u64),
                    (sol, libc::SO_REUSEADDR as u64),
                    (libc::IPPROTO_TCP as u64, passcred),
                ] {
                    assert_eq!(run_args(&p, a, nr, args(l, o)), RET_ALLOW, "{route:?}");
                }
                for r in t
                    .rows
                    .iter()
                    .filter(|r| r.sys.receives_creds() || r.sys.sends_creds())
                {
                    assert_eq!(
                        run(&p, a, r.nr, 0),
                        RET_ALLOW,
                        "main filter traps {:?}",
                        r.sys
                    );
                }
            }
        }
        let trap = passcred_trap(t);
        for nr in 0..1024u32 {
            let receives = t.rows.iter().any(|r| r.nr == nr && r.sys.receives_creds());
            let want = if receives { RET_TRACE | TAG } else { RET_ALLOW };
            assert_eq!(run(&trap, a, nr, 0), want, "nr {nr}");
            assert_eq!(run(&trap, t.compat_arch, nr, 0), RET_ALLOW);
        }
    }

    #[test]
    fn passcred_x86_64() {
        passcred(&x86_64::TABLE);
    }

    #[test]
    fn passcred_aarch64() {
        passcred(&aarch64::TABLE);
    }

    #[test]
    fn creator_x86_64() {
        creator(&x86_64::TABLE);
    }

    #[test]
    fn creator_aarch64() {
        creator(&aarch64::TABLE);
    }

    #[test]
    fn peercred_x86_64() {
        peercred(&x86_64::TABLE);
    }

    #[test]
    fn peercred_aarch64() {
        peercred(&aarch64::TABLE);
    }

    #[test]
    fn clone_x86_64() {
        clone_flags(&x86_64::TABLE);
    }

    #[test]
    fn clone_aarch64() {
        clone_flags(&aarch64::TABLE);
    }

    /// root_chown: chown calls that leave root's owner and group run, the rest
    /// stay trapped; the injected filter traps exactly the chown family.
    fn root_chown(t: &ArchTable) {
        let a = t.audit_arch;
        let p = build_with(t, Level::Ids, Route::ListenerNoExec, true);
        let plain = build(t, Level::Ids, Route::ListenerNoExec);
        let trap = chown_trap(t);
        let none = u64::from(u32::MAX);
        for nr in 0..1024u32 {
            let row = t.rows_for(Level::Ids).find(|r| r.nr == nr);
            for (arch, nr) in [(a, nr), (t.compat_arch, nr), (a, nr | t.x32_bit)] {
                assert!(run_counted(&p, arch, nr, [0; 6]).1 <= 24, "nr {nr:#x}");
            }
            let owner = row.and_then(|r| r.sys.owner_args());
            let Some((u, g)) = owner else {
                let seccomp = row.is_some_and(|r| r.sys == Sys::SeccompInstall);
                for args in [[0; 6], [1, 1, 8, 0, 0, 0]] {
                    assert_eq!(run_args(&p, a, nr, args), run_args(&plain, a, nr, args));
                }
                let bypass = [1, 1, 8, u64::from(SECCOMP_BYPASS), 0, 0];
                let want = if seccomp {
                    RET_ALLOW
                } else {
                    run_args(&plain, a, nr, bypass)
                };
                assert_eq!(run_args(&p, a, nr, bypass), want, "nr {nr}");
                // sendmsg/sendmmsg (passcred.rs): not in the main filters.
                let sends = t
                    .rows
                    .iter()
                    .any(|r| r.nr == nr && r.level == Level::Sender);
                let want = if sends { RET_TRACE | TAG } else { RET_ALLOW };
                assert_eq!(run(&trap, a, nr, 0), want, "nr {nr}");
                continue;
            };
            assert_eq!(run(&trap, a, nr, 0), RET_TRACE | TAG, "nr {nr}");
            assert_eq!(run(&trap, t.compat_arch, nr, 0), RET_ALLOW);
            for (uid, gid, want) in [
                (0, 0, RET_ALLOW),
                (none, 0, RET_ALLOW),
                (0, none, RET_ALLOW),
                (none, none, RET_ALLOW),
                // The kernel ignores the high half of a 32-bit ID; so do we.
                (0xffff_ffff_0000_0000, 0, RET_ALLOW),
                (5, 0, RET_USER_NOTIF),
                (0, 5, RET_USER_NOTIF),
                (none - 1, 0, RET_USER_NOTIF),
                (1000, 1000, RET_USER_NOTIF),
            ] {
                let mut args = [7u64; 6];
                args[u as usize] = uid;
                args[g as usize] = gid;
                assert_eq!(run_args(&p, a, nr, args), want, "nr {nr} {uid}:{gid}");
                assert_eq!(run_args(&plain, a, nr, args), RET_USER_NOTIF);
                // Not for the other routes.
                let l = build_with(t, Level::Ids, Route::Listener, true);
                assert_eq!(run_args(&l, a, nr, args), RET_USER_NOTIF);
            }
        }
    }

    #[test]
    fn root_chown_x86_64() {
        root_chown(&x86_64::TABLE);
    }

    #[test]
    fn root_chown_aarch64() {
        root_chown(&aarch64::TABLE);
    }

    #[test]
    fn exhaustive_x86_64() {
        exhaustive(&x86_64::TABLE);
    }

    #[test]
    fn exhaustive_aarch64() {
        exhaustive(&aarch64::TABLE);
    }

    #[test]
    fn aarch64_filter() {
        let t = &aarch64::TABLE;
        let p = build(t, Level::Full, Route::Ptrace);
        assert_eq!(run(&p, t.audit_arch, 174, 0), RET_TRACE | TAG);
        assert_eq!(run(&p, t.audit_arch, 79, 0), RET_TRACE | TAG);
        assert_eq!(run(&p, t.audit_arch, 63, 0), RET_ALLOW);
        assert_eq!(run(&p, t.compat_arch, 199, 0), RET_ERRNO | 38);
    }
}
