//! Process-tree, mount and cgroup inspection for leak checks.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A process identified by pid *and* start time (so pid reuse is not mistaken
/// for survival).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub start: u64,
    pub state: char,
    pub cmdline: String,
}

impl Proc {
    pub fn get(pid: i32) -> Option<Proc> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // fields after comm: state(0) ppid(1) ... starttime is field 22 overall -> index 19 here
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .split('\0')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        Some(Proc {
            pid,
            state: f.first()?.chars().next()?,
            ppid: f.get(1)?.parse().ok()?,
            start: f.get(19)?.parse().ok()?,
            cmdline,
        })
    }
    /// Still running (same process, not a zombie)?
    pub fn alive(&self) -> bool {
        match Proc::get(self.pid) {
            Some(p) => p.start == self.start && p.state != 'Z' && p.state != 'X',
            None => false,
        }
    }
    /// SIGKILL it; a frozen process is thawed first (else it never dies).
    pub fn kill(&self) {
        if self.alive() {
            thaw(self.pid);
            // SAFETY: plain kill(2) of a process we verified by start time.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
    }
}

/// Thaw the freezer cgroup (v1 `freezer.state`, v2 `cgroup.freeze`) a process
/// is in, so that a paused container left by a failed test can be killed.
pub fn thaw(pid: i32) {
    let theirs =
        parse_cgroup_file(&fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default());
    for (ctrl, mnt) in cgroup_mounts() {
        let Some((_, path)) = theirs.iter().find(|(c, _)| c == &ctrl) else {
            continue;
        };
        let dir = mnt.join(path.trim_start_matches('/'));
        if ctrl.split(',').any(|c| c == "freezer") {
            let _ = fs::write(dir.join("freezer.state"), "THAWED");
        } else if ctrl.is_empty() && dir.join("cgroup.freeze").exists() {
            let _ = fs::write(dir.join("cgroup.freeze"), "0");
        }
    }
}

/// All processes on the host.
pub fn all() -> Vec<Proc> {
    fs::read_dir("/proc")
        .map(|r| {
            r.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter_map(Proc::get)
                .collect()
        })
        .unwrap_or_default()
}

/// Living descendants of `root` (not including it).
pub fn descendants_of(root: &Proc) -> Vec<Proc> {
    let procs = all();
    let mut out: Vec<Proc> = Vec::new();
    let mut frontier = vec![root.pid];
    while let Some(p) = frontier.pop() {
        for q in procs.iter().filter(|q| q.ppid == p && q.pid != root.pid) {
            if !out.iter().any(|o| o.pid == q.pid) {
                frontier.push(q.pid);
                out.push(q.clone());
            }
        }
    }
    out
}

/// Mount points (from /proc/self/mountinfo) at or under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(unescape_mountinfo))
        .filter(|m| m == &dir || m.starts_with(&format!("{dir}/")))
        .collect()
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// cgroup directories (host paths) the process lives in that the test
/// harness itself does not: these are the container's own cgroups and must be
/// removed by `delete`.
pub fn own_cgroup_dirs(pid: i32) -> Vec<PathBuf> {
    let mine = parse_cgroup_file(&fs::read_to_string("/proc/self/cgroup").unwrap_or_default());
    let theirs =
        parse_cgroup_file(&fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default());
    let mounts = cgroup_mounts();
    let mut out = Vec::new();
    for (ctrl, path) in theirs {
        if path == "/" || mine.iter().any(|(c, p)| c == &ctrl && p == &path) {
            continue;
        }
        if let Some((_, mnt)) = mounts.iter().find(|(c, _)| c == &ctrl) {
            out.push(mnt.join(path.trim_start_matches('/')));
        }
    }
    out
}

/// (controller-list, path) pairs; the v2 line has controller "".
fn parse_cgroup_file(s: &str) -> Vec<(String, String)> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctrl = it.next()?.to_string();
            let path = it.next()?.to_string();
            Some((ctrl, path))
        })
        .collect()
}

/// (controller-list as in /proc/PID/cgroup, mount point) of this mount namespace.
fn cgroup_mounts() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for l in fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        let Some((pre, post)) = l.split_once(" - ") else {
            continue;
        };
        let mp = pre.split_whitespace().nth(4).unwrap_or("");
        let mut post = post.split_whitespace();
        let fstype = post.next().unwrap_or("");
        let _src = post.next();
        let opts = post.next().unwrap_or("");
        match fstype {
            "cgroup2" => out.push((String::new(), PathBuf::from(mp))),
            "cgroup" => {
                let known = [
                    "cpu",
                    "cpuacct",
                    "cpuset",
                    "memory",
                    "devices",
                    "freezer",
                    "net_cls",
                    "blkio",
                    "perf_event",
                    "net_prio",
                    "hugetlb",
                    "pids",
                    "rdma",
                    "misc",
                ];
                let ctrls: Vec<&str> = opts
                    .split(',')
                    .filter(|o| known.contains(o) || o.starts_with("name="))
                    .collect();
                out.push((ctrls.join(","), PathBuf::from(mp)));
            }
            _ => {}
        }
    }
    out
}

/// What a live container consists of, to check it is all gone after delete.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub init: Option<Proc>,
    pub procs: Vec<Proc>,
    pub state_dir: PathBuf,
    pub bundle: PathBuf,
    pub cgroups: Vec<PathBuf>,
}

impl Snapshot {
    pub fn take(pid: i32, state_dir: &Path, bundle: &Path) -> Snapshot {
        let init = if pid > 0 { Proc::get(pid) } else { None };
        let mut procs = Vec::new();
        let mut cgroups = Vec::new();
        if let Some(i) = &init {
            procs.push(i.clone());
            procs.extend(descendants_of(i));
            cgroups = own_cgroup_dirs(i.pid);
        }
        Snapshot {
            init,
            procs,
            state_dir: state_dir.to_path_buf(),
            bundle: bundle.to_path_buf(),
            cgroups,
        }
    }

    /// After delete: no process, no state dir, no mount under the bundle, no cgroup.
    #[track_caller]
    pub fn assert_gone(&self) {
        self.assert_gone_procs();
        let deadline = Instant::now() + Duration::from_secs(5);
        assert!(
            !self.state_dir.exists(),
            "state dir {:?} left after delete",
            self.state_dir
        );
        loop {
            let strays = self.strays();
            if strays.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                panic!("processes still refer to the container after delete: {strays:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let m = mounts_under(&self.bundle);
        assert!(
            m.is_empty(),
            "mounts left under the bundle after delete: {m:?}"
        );
        loop {
            let left: Vec<&PathBuf> = self.cgroups.iter().filter(|c| c.exists()).collect();
            if left.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                panic!("cgroups left after delete: {left:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Live processes outside the recorded tree that still belong to the
    /// container: a command line naming its id, or a cwd/root inside the
    /// bundle (as seen from this mount namespace).
    pub fn strays(&self) -> Vec<Proc> {
        let id = self
            .state_dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bundle = self.bundle.to_string_lossy().into_owned();
        let inside = |link: &str| {
            fs::read_link(link)
                .map(|p| {
                    let p = p.to_string_lossy().into_owned();
                    p == bundle || p.starts_with(&format!("{bundle}/"))
                })
                .unwrap_or(false)
        };
        all()
            .into_iter()
            .filter(|p| p.state != 'Z' && p.pid != std::process::id() as i32)
            .filter(|p| {
                (!id.is_empty() && p.cmdline.split(' ').any(|w| w == id))
                    || inside(&format!("/proc/{}/cwd", p.pid))
                    || inside(&format!("/proc/{}/root", p.pid))
            })
            .collect()
    }

    /// Every process of the snapshot has exited (zombies count as exited).
    #[track_caller]
    pub fn assert_gone_procs(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let alive: Vec<&Proc> = self.procs.iter().filter(|p| p.alive()).collect();
            if alive.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                panic!("processes survived delete: {alive:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
