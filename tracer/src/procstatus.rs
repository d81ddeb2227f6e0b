//! The fake IDs of every process, published for the in-process shim
//! (crates/statshim), which shows them in `/proc/<pid>/status` (the `Uid:`,
//! `Gid:` and `Groups:` lines) and as the owner of `/proc/<pid>`: the
//! kernel's file shows the real IDs (root, for every process), and the
//! filter cannot trap opens by path without trapping every open.
//!
//! The table (fakeowner::creds, /dev/.rootlessrt/creds.map) holds the
//! default credentials (`Tracer::initial`) and an entry for each thread
//! whose IDs differ from them. Such a thread is always traced (listener.rs:
//! a process is adopted before a changed identity takes effect), so its
//! forks, execs and exit are seen: the entry follows each, and every call
//! that changes IDs. See docs/tracer.md, "/proc/<pid>/status".

use crate::creds::Creds;
use crate::syscalls::Sys;
use crate::tracer::Tracer;
use fakeowner::creds::Ids;

fn ids_of(c: &Creds) -> Ids {
    Ids::new(
        [
            c.ruid, c.euid, c.suid, c.fsuid, c.rgid, c.egid, c.sgid, c.fsgid,
        ],
        &c.groups,
    )
}

/// Calls after which a thread's IDs may have changed.
pub fn changes_ids(sys: Sys) -> bool {
    matches!(
        sys,
        Sys::Setuid
            | Sys::Setgid
            | Sys::Setreuid
            | Sys::Setregid
            | Sys::Setresuid
            | Sys::Setresgid
            | Sys::Setfsuid
            | Sys::Setfsgid
            | Sys::Setgroups
    )
}

impl Tracer {
    /// Publish credentials in `table` from now on (the shim is installed).
    pub fn publish_creds_in(&mut self, table: Option<crate::preload::CredsTable>) {
        self.creds_table = table;
        let default = ids_of(&self.initial);
        if let Some(t) = &mut self.creds_table {
            t.set_default(&default);
        }
        let tids: Vec<i32> = self.threads.keys().copied().collect();
        for tid in tids {
            self.publish_ids(tid);
        }
    }

    /// Thread `tid`'s entry after a change (or its creation): its IDs if
    /// they are not the default's, else none.
    pub fn publish_ids(&mut self, tid: i32) {
        let Some(table) = &mut self.creds_table else {
            return;
        };
        let ids = self.threads.get(&tid).map(|t| ids_of(&t.creds));
        match ids {
            Some(ids) if ids != ids_of(&self.initial) => table.set(tid, &ids),
            _ => table.remove(tid),
        }
    }

    /// Thread `tid` is gone.
    pub fn unpublish_ids(&mut self, tid: i32) {
        if let Some(table) = &mut self.creds_table {
            table.remove(tid);
        }
    }
}
