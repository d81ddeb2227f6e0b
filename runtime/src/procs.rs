//! The container's processes, found without a cgroup: the members of the
//! init's pid namespace when it has its own, else the init's process tree.
//! This is what `ps`, `kill --all`, `delete --force` and the cgroup-less
//! `pause` use when the container has no cgroup we can read.

use std::collections::HashMap;
use std::fs;

/// Field 22 of /proc/<pid>/stat (start time in clock ticks).
pub fn start_time(pid: i32) -> Option<u64> {
    stat_fields(pid).and_then(|f| f.get(19).and_then(|s| s.parse().ok()))
}

/// Fields of /proc/<pid>/stat after the `(comm)` field: index 0 is state.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

pub fn is_zombie_or_gone(pid: i32) -> bool {
    match stat_fields(pid) {
        Some(f) => matches!(f.first().map(String::as_str), Some("Z") | Some("X")),
        None => true,
    }
}

fn ns_inode(pid: i32, ns: &str) -> Option<u64> {
    let link = fs::read_link(format!("/proc/{pid}/ns/{ns}")).ok()?;
    let s = link.to_str()?;
    s.rsplit('[').next()?.trim_end_matches(']').parse().ok()
}

fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect()
}

/// Every live process of the container whose init is `init`, init first.
pub fn container_pids(init: i32) -> Vec<i32> {
    if is_zombie_or_gone(init) {
        return Vec::new();
    }
    let me = std::process::id() as i32;
    let own_ns = match (ns_inode(init, "pid"), ns_inode(me, "pid")) {
        (Some(a), Some(b)) if a != b => Some(a),
        _ => None,
    };
    let mut out = vec![init];
    match own_ns {
        Some(ns) => {
            for pid in all_pids() {
                if pid != init && ns_inode(pid, "pid") == Some(ns) && !is_zombie_or_gone(pid) {
                    out.push(pid);
                }
            }
        }
        None => {
            // No pid namespace of its own: the init's descendants.
            let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
            for pid in all_pids() {
                if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1)?.parse().ok()) {
                    children.entry(ppid).or_default().push(pid);
                }
            }
            let mut i = 0;
            while i < out.len() {
                if let Some(c) = children.get(&out[i]) {
                    out.extend(c.iter().copied().filter(|p| !is_zombie_or_gone(*p)));
                }
                i += 1;
            }
        }
    }
    out
}

/// Sends `sig` to every process of the container; returns how many got it.
pub fn signal_all(init: i32, sig: nix::sys::signal::Signal) -> usize {
    let mut n = 0;
    for pid in container_pids(init) {
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).is_ok() {
            n += 1;
        }
    }
    n
}

/// Waits (bounded) until no process of the container is left.
pub fn wait_gone(init: i32, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    // SIGKILLed processes are usually gone within a ms: look again soon,
    // then less often.
    let mut pause = std::time::Duration::from_micros(100);
    loop {
        if container_pids(init).is_empty() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(5));
    }
}

/// A process's argv as the kernel shows it. Unlike `/proc/<pid>/exe`, it
/// is readable without ptrace rights, which a user lacks over a container
/// init that is not dumpable; it changes when the process execs.
pub fn cmdline(pid: i32) -> Option<Vec<u8>> {
    fs::read(format!("/proc/{pid}/cmdline")).ok()
}

/// The children of every thread of `pid`.
fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// Whether `pid` has a handler for `sig` (SigCgt in /proc/<pid>/status,
/// readable without ptrace rights).
fn catches(pid: i32, sig: i32) -> bool {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|m| m & (1 << (sig - 1)) != 0)
}

/// Waits until the container's workload has been exec'd, i.e. shows an argv
/// other than `before` (the init's while it waited for `start`): the init
/// itself, or with the tracer (`traced`) a child of the init once the
/// tracer forwards signals (it then catches SIGTERM; children before that
/// are startContainer hooks) whose argv is not the init's current one
/// either (the tracer's neutral title, which its child has from the fork
/// until the workload's exec). False when the init is gone first or `limit`
/// passes (e.g. a long startContainer hook).
pub fn wait_exec(init: i32, before: &[u8], traced: bool, limit: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    // Short steps: the exec is a few ms away, and each step found late is
    // added to `start`; a look costs ~30 µs.
    let mut pause = std::time::Duration::from_micros(20);
    let exec_d = |pid: i32| cmdline(pid).is_some_and(|c| !c.is_empty() && c != before);
    loop {
        let done = if traced {
            catches(init, libc::SIGTERM) && {
                let title = cmdline(init).unwrap_or_default();
                children(init)
                    .into_iter()
                    .any(|c| cmdline(c).is_some_and(|a| !a.is_empty() && a != before && a != title))
            }
        } else {
            exec_d(init)
        };
        if done {
            return true;
        }
        if is_zombie_or_gone(init) || std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_found_and_has_a_start_time() {
        let me = std::process::id() as i32;
        assert!(start_time(me).is_some());
        assert!(!is_zombie_or_gone(me));
        assert_eq!(container_pids(me)[0], me);
    }

    /// With the tracer, the init's child has the init's argv from its fork
    /// until it execs the workload: that child is not the workload yet.
    /// Here a shell that catches TERM (as the tracer does) forks a subshell
    /// (the shell's argv) that execs `sleep` only after 0.5 s.
    #[test]
    fn a_child_before_its_exec_is_not_the_workload() {
        let mut init = std::process::Command::new("sh")
            .args(["-c", "trap : TERM; (sleep 0.5; exec sleep 5) & wait"])
            .spawn()
            .unwrap();
        let pid = init.id() as i32;
        let t0 = std::time::Instant::now();
        let found = wait_exec(pid, b"before\0", true, std::time::Duration::from_secs(3));
        let waited = t0.elapsed();
        for c in children(pid) {
            // SAFETY: kill(2) of our own test processes.
            unsafe { libc::kill(c, libc::SIGKILL) };
        }
        init.kill().unwrap();
        init.wait().unwrap();
        assert!(found, "the workload was never seen");
        assert!(
            waited >= std::time::Duration::from_millis(400),
            "returned after {waited:?}, before the child's exec"
        );
    }

    #[test]
    fn tree_walk_finds_children() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pids = container_pids(std::process::id() as i32);
        assert!(pids.contains(&(child.id() as i32)), "{pids:?}");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
