//! The credentials table: the fake IDs of every process, published by the
//! tracer for the shim, which shows them in `/proc/<pid>/status` and as the
//! owner of `/proc/<pid>`.
//!
//! A file of [`SLOTS`] slots of [`SLOT_WORDS`] 32-bit words, shared
//! read-only with the workload. Slot 0 is the header: the default
//! credentials (`Tracer::initial`, those of every process that never changed
//! identity) and, in its key word, how many slots after it were ever used.
//! Slots 1.. hold one thread each (keyed by tid; 0 = free) whose IDs differ
//! from the default. Only the tracer writes, with a sequence counter per slot
//! (odd while it writes): a reader retries until it reads the same even
//! value before and after, so it never sees a torn entry.
//!
//! Everything is an `AtomicU32` on the shared mapping: the tracer and the
//! workload are different processes, the counter orders the rest.

use core::sync::atomic::{fence, AtomicU32, Ordering};

/// The table, next to the owners map.
pub const PATH: &str = "/dev/.rootlessrt/creds.map";
/// [`PATH`], NUL-terminated.
pub const PATH_C: &[u8] = b"/dev/.rootlessrt/creds.map\0";
/// Words per slot.
pub const SLOT_WORDS: usize = 64;
/// Slots in the file, the header included.
pub const SLOTS: usize = 1024;
/// Size of the file.
pub const BYTES: usize = SLOTS * SLOT_WORDS * 4;
/// Supplementary groups a slot holds; more are cut (docs/tracer.md).
pub const MAX_GROUPS: usize = SLOT_WORDS - GROUPS;

const SEQ: usize = 0;
const KEY: usize = 1;
const IDS: usize = 2;
const NGROUPS: usize = 10;
const GROUPS: usize = 11;
/// A reader gives up after this many torn reads (the tracer died mid-write).
const RETRIES: usize = 10_000;

/// The IDs `/proc/<pid>/status` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    /// ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid (the status file's order).
    pub ids: [u32; 8],
    /// How many of `groups` are valid (at most [`MAX_GROUPS`]).
    pub ngroups: u32,
    pub groups: [u32; MAX_GROUPS],
}

impl Ids {
    pub fn new(ids: [u32; 8], groups: &[u32]) -> Ids {
        let n = groups.len().min(MAX_GROUPS);
        let mut g = [0; MAX_GROUPS];
        g[..n].copy_from_slice(&groups[..n]);
        Ids {
            ids,
            ngroups: n as u32,
            groups: g,
        }
    }

    pub fn groups(&self) -> &[u32] {
        &self.groups[..(self.ngroups as usize).min(MAX_GROUPS)]
    }
}

fn slot(table: &[AtomicU32], i: usize) -> Option<&[AtomicU32]> {
    table.get(i * SLOT_WORDS..(i + 1) * SLOT_WORDS)
}

/// Write slot `i` (the tracer only; one writer).
pub fn write(table: &[AtomicU32], i: usize, key: u32, ids: &Ids) {
    let Some(s) = slot(table, i) else { return };
    let seq = s[SEQ].load(Ordering::Relaxed);
    s[SEQ].store(seq.wrapping_add(1) | 1, Ordering::Relaxed);
    fence(Ordering::Release);
    s[KEY].store(key, Ordering::Relaxed);
    for (w, v) in s[IDS..NGROUPS].iter().zip(ids.ids) {
        w.store(v, Ordering::Relaxed);
    }
    s[NGROUPS].store(ids.ngroups, Ordering::Relaxed);
    for (w, v) in s[GROUPS..].iter().zip(ids.groups()) {
        w.store(*v, Ordering::Relaxed);
    }
    s[SEQ].store((seq | 1).wrapping_add(1), Ordering::Release);
}

/// Free slot `i`.
pub fn clear(table: &[AtomicU32], i: usize) {
    let Some(s) = slot(table, i) else { return };
    let seq = s[SEQ].load(Ordering::Relaxed);
    s[SEQ].store(seq.wrapping_add(1) | 1, Ordering::Relaxed);
    fence(Ordering::Release);
    s[KEY].store(0, Ordering::Relaxed);
    s[SEQ].store((seq | 1).wrapping_add(1), Ordering::Release);
}

/// The header's count of slots in use (the tracer only).
pub fn set_used(table: &[AtomicU32], n: usize) {
    if let Some(s) = slot(table, 0) {
        s[KEY].store(n as u32, Ordering::Release);
    }
}

/// A consistent copy of slot `i`: (key, IDs), None after [`RETRIES`] torn reads.
pub fn read(table: &[AtomicU32], i: usize) -> Option<(u32, Ids)> {
    let s = slot(table, i)?;
    for _ in 0..RETRIES {
        let before = s[SEQ].load(Ordering::Acquire);
        if before & 1 != 0 {
            core::hint::spin_loop();
            continue;
        }
        let key = s[KEY].load(Ordering::Relaxed);
        let mut ids = [0; 8];
        for (v, w) in ids.iter_mut().zip(&s[IDS..NGROUPS]) {
            *v = w.load(Ordering::Relaxed);
        }
        let ngroups = s[NGROUPS].load(Ordering::Relaxed).min(MAX_GROUPS as u32);
        let mut groups = [0; MAX_GROUPS];
        for (v, w) in groups.iter_mut().zip(&s[GROUPS..]) {
            *v = w.load(Ordering::Relaxed);
        }
        fence(Ordering::Acquire);
        if s[SEQ].load(Ordering::Relaxed) == before {
            return Some((
                key,
                Ids {
                    ids,
                    ngroups,
                    groups,
                },
            ));
        }
    }
    None
}

/// The fake IDs of thread `tid`: its slot, else the default (slot 0).
pub fn lookup(table: &[AtomicU32], tid: u32) -> Option<Ids> {
    let used = slot(table, 0)?[KEY].load(Ordering::Acquire) as usize;
    for i in 1..=used.min(SLOTS - 1) {
        // A cheap look first; the consistent read confirms it.
        if slot(table, i)?[KEY].load(Ordering::Relaxed) != tid {
            continue;
        }
        match read(table, i) {
            Some((key, ids)) if key == tid => return Some(ids),
            Some(_) => {} // freed meanwhile: the thread is gone or default again
            None => return None,
        }
    }
    read(table, 0).map(|(_, ids)| ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<AtomicU32> {
        (0..SLOTS * SLOT_WORDS).map(|_| AtomicU32::new(0)).collect()
    }

    #[test]
    fn default_and_entries() {
        let t = table();
        let root = Ids::new([0; 8], &[0]);
        write(&t, 0, 0, &root);
        assert_eq!(lookup(&t, 42), Some(root));
        let bob = Ids::new([1000, 1001, 1002, 1003, 100, 101, 102, 103], &[24, 100]);
        write(&t, 3, 42, &bob);
        // Not counted yet: invisible.
        assert_eq!(lookup(&t, 42), Some(root));
        set_used(&t, 3);
        assert_eq!(lookup(&t, 42), Some(bob));
        assert_eq!(lookup(&t, 43), Some(root));
        assert_eq!(lookup(&t, 42).unwrap().groups(), &[24, 100]);
        clear(&t, 3);
        assert_eq!(lookup(&t, 42), Some(root));
        assert_eq!(t[3 * SLOT_WORDS].load(Ordering::Relaxed) % 2, 0);
    }

    #[test]
    fn many_groups_are_cut() {
        let g: Vec<u32> = (0..100).collect();
        let ids = Ids::new([5; 8], &g);
        assert_eq!(ids.groups().len(), MAX_GROUPS);
        let t = table();
        write(&t, 1, 9, &ids);
        assert_eq!(read(&t, 1), Some((9, ids)));
    }

    #[test]
    fn a_write_in_progress_is_not_read() {
        let t = table();
        write(&t, 1, 9, &Ids::new([1; 8], &[]));
        t[SLOT_WORDS].fetch_add(1, Ordering::Relaxed); // odd: a writer died mid-way
        assert_eq!(read(&t, 1), None);
        assert_eq!(BYTES, 262_144);
    }
}
