//! End-to-end tests: small C programs (tests/c/) run under the rlrt-fakeroot binary.
//! As root with RLRT_TEST_USER set, everything runs as that (subuid-less) user.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rlrt-fakeroot");
const PROGS: &[&str] = &[
    "ids", "files", "hostile", "showid", "listener", "acl", "peercred", "passcred",
];

struct Bench {
    dir: PathBuf,
    user: Option<String>,
    bin: PathBuf,
}

fn test_user() -> Option<String> {
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    match std::env::var("RLRT_TEST_USER") {
        Ok(u) if root && !u.is_empty() => Some(u),
        _ => None,
    }
}

fn ids_of(user: &str) -> (u32, u32) {
    let get = |flag: &str| -> u32 {
        let o = Command::new("id").args([flag, user]).output().expect("id");
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .expect("numeric id")
    };
    (get("-u"), get("-g"))
}

fn chown_to(path: &Path, user: &Option<String>) {
    if let Some(u) = user {
        let (uid, gid) = ids_of(u);
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).expect("chown");
    }
}

impl Bench {
    fn new(name: &str) -> Bench {
        let user = test_user();
        let dir = std::env::temp_dir().join(format!("rlrt-tracer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c");
        for p in PROGS {
            let st = Command::new("gcc")
                .args(["-O1", "-pthread", "-I"])
                .arg(&src)
                .arg("-o")
                .arg(dir.join(p))
                .arg(src.join(format!("{p}.c")))
                .status()
                .expect("gcc");
            assert!(st.success(), "compiling {p}.c");
        }
        // The binary may live where the test user cannot reach it: copy it.
        let bin = dir.join("rlrt-fakeroot");
        std::fs::copy(BIN, &bin).unwrap();
        for e in std::fs::read_dir(&dir).unwrap() {
            chown_to(&e.unwrap().path(), &user);
        }
        chown_to(&dir, &user);
        Bench { dir, user, bin }
    }

    fn cmd(&self, mode: &str, args: &[&str]) -> Command {
        self.cmd_under(&[], mode, args)
    }

    /// `wrapper` (e.g. `./listener`) runs the tracer.
    fn cmd_under(&self, wrapper: &[&str], mode: &str, args: &[&str]) -> Command {
        let mut c = match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--", "env", "HOME=/tmp"]);
                c.args(wrapper);
                c.arg(&self.bin);
                c
            }
            None if wrapper.is_empty() => Command::new(&self.bin),
            None => {
                let mut c = Command::new(wrapper[0]);
                c.args(&wrapper[1..]);
                c.arg(&self.bin);
                c
            }
        };
        c.args(args)
            .env("RLRT_FAKEROOT_MODE", mode)
            .current_dir(&self.dir);
        c
    }

    fn run(&self, mode: &str, args: &[&str]) -> Output {
        self.run_under(&[], mode, args)
    }

    fn run_under(&self, wrapper: &[&str], mode: &str, args: &[&str]) -> Output {
        let mut c = self.cmd_under(wrapper, mode, args);
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = c.spawn().expect("spawn");
        let pid = child.id() as i32;
        // A watchdog: the tracer must never hang.
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d2 = done.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(180) {
                if d2.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            // SAFETY: killing the child we spawned.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        let out = child.wait_with_output().expect("wait");
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        out
    }

    /// Run and require exit 0 and "ALL OK" (for the C test programs) or just exit 0.
    fn ok(&self, mode: &str, args: &[&str]) -> String {
        self.ok_under(&[], mode, args)
    }

    fn ok_under(&self, wrapper: &[&str], mode: &str, args: &[&str]) -> String {
        let o = self.run_under(wrapper, mode, args);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success(),
            "{args:?} failed: {:?}\nstdout:\n{out}\nstderr:\n{err}",
            o.status
        );
        assert!(!out.contains("FAIL"), "{args:?}:\n{out}\nstderr:\n{err}");
        out
    }

    fn sh(&self, mode: &str, script: &str) -> String {
        self.ok(mode, &["sh", "-c", script])
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn get_xattr(p: &Path) -> Option<Vec<u8>> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let mut buf = [0u8; 256];
    // SAFETY: NUL-terminated strings, our buffer.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"user.rootlesscontainers".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

fn set_xattr(p: &Path, v: &[u8]) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: NUL-terminated strings, our buffer.
    let rc = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            c"user.rootlesscontainers".as_ptr(),
            v.as_ptr().cast(),
            v.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "setxattr");
}

#[test]
fn issue_check() {
    let b = Bench::new("issue");
    let out = b.sh(
        "full",
        "id; touch f; chown 42:42 f; ls -ln f; setpriv --reuid=1000 --regid=1000 --clear-groups id",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("uid=0(root) gid=0(root)"), "{out}");
    assert!(lines[1].contains(" 42 42 "), "{out}");
    assert!(
        lines[2].starts_with("uid=1000") && lines[2].contains("gid=1000"),
        "{out}"
    );
    assert_eq!(
        get_xattr(&b.path("f")).as_deref(),
        Some(&[0x08, 0x2a, 0x10, 0x2a][..])
    );
}

#[test]
fn credentials_table() {
    let b = Bench::new("ids");
    b.ok("full", &["./ids"]);
    b.ok("ids", &["./ids"]);
}

#[test]
fn ownership_full() {
    let b = Bench::new("files");
    let work = b.path("w");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("umoci"), b"").unwrap();
    set_xattr(
        &work.join("umoci"),
        &[0x08, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x10, 0x2a],
    );
    chown_to(&work.join("umoci"), &b.user);
    chown_to(&work, &b.user);
    let out = b.ok("full", &["sh", "-c", "cd w && ../files"]);
    assert!(
        out.contains("ok   ") && out.contains("stat(\"umoci\""),
        "{out}"
    );
    assert_eq!(
        get_xattr(&work.join("f")).as_deref(),
        Some(&[0x08, 0x2a, 0x10, 0x2a][..]),
        "xattr bytes of f"
    );
    assert_eq!(
        get_xattr(&work.join("z")),
        None,
        "chown 0:0 removes the xattr"
    );
    // The device placeholder is a regular file outside the tracer, and persists in a new tracer.
    let meta = std::fs::symlink_metadata(work.join("null")).unwrap();
    assert!(meta.file_type().is_file());
    let out = b.sh("full", "stat -c '%F %t:%T %u:%g' w/null w/f");
    assert_eq!(
        out,
        "character special file 1:3 0:0\nregular empty file 0:0 42:42\n"
    );
}

fn xattr_named(p: &Path, name: &std::ffi::CStr) -> Option<Vec<u8>> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let mut buf = [0u8; 1024];
    // SAFETY: NUL-terminated strings, our buffer.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

/// POSIX ACLs naming IDs the user namespace does not map (acl.c), read back
/// by a second tracer; on the host the real ACLs hold only what the kernel
/// can represent and the whole ACL is in the private attribute.
#[test]
fn acls_naming_unmapped_ids() {
    let b = Bench::new("acl");
    let work = b.path("w");
    std::fs::create_dir(&work).unwrap();
    chown_to(&work, &b.user);
    b.ok("full", &["sh", "-c", "cd w && ../acl"]);
    b.ok("full", &["sh", "-c", "cd w && ../acl again"]);
    let real = xattr_named(&work.join("d"), c"system.posix_acl_default").unwrap();
    // u::rwx g::r-x m::rwx o::--- (no named entry: 4242 and 4 are not mapped)
    assert_eq!(real.len(), 4 + 4 * 8, "{real:?}");
    let private = xattr_named(&work.join("d"), c"user.rootlessrt.acl_default").unwrap();
    assert_eq!(private.len(), 4 + 6 * 8, "{private:?}");
    assert_eq!(
        &private[12..20],
        &[2, 0, 7, 0, 0x92, 0x10, 0, 0],
        "u:4242:rwx"
    );
    assert!(xattr_named(&work.join("d/new"), c"system.posix_acl_access").is_some());
    assert!(xattr_named(&work.join("d/new"), c"user.rootlessrt.acl_access").is_none());
    assert!(xattr_named(&work.join("f"), c"system.posix_acl_access").is_none());
    assert!(xattr_named(&work.join("f"), c"user.rootlessrt.acl_access").is_none());
}

/// SO_PEERCRED shows the peer's fake effective IDs (peercred.c).
#[test]
fn peer_credentials() {
    let b = Bench::new("peercred");
    b.ok("ids", &["./peercred"]);
    b.ok("full", &["./peercred"]);
}

/// SCM_CREDENTIALS carry fake IDs under the ptrace engine (passcred.c): a
/// SO_PASSCRED receiver sees a fake non-root sender's real IDs, and a
/// process that starts as 1000:2000 has its claims checked against its
/// fake credentials.
#[test]
fn scm_credentials() {
    let b = Bench::new("passcred");
    b.ok("ids", &["./passcred", "receiver"]);
    b.ok("full", &["./passcred", "receiver"]);
    let mut c = b.cmd("full", &["./passcred", "sender"]);
    c.env("RLRT_FAKEROOT_USER", "1000:2000");
    let o = c.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && out.contains("ALL OK"), "{out}");
}

/// The names of the tracer's threads, as its workload sees them (the tracer is
/// the workload's parent); waits for a thread that is on its way out.
const TRACER_THREADS: &str = "for i in 1 2 3 4 5 6 7 8 9 10; do \
     t=$(cat /proc/$PPID/task/*/comm | sort | tr '\\n' ' '); \
     case \"$t\" in *rlrt-notify*) [ \"$want\" = notify ] && break ;; *) [ \"$want\" = ptrace ] && break ;; esac; \
     sleep 0.1; done; echo \"threads: $t\"";

/// The stat family is answered by the notification thread; where the kernel
/// refuses a second listener (another runtime's filter above us) the same
/// answers come from ptrace stops.
#[test]
fn stat_answered_with_and_without_a_listener() {
    let b = Bench::new("listener");
    for (wrapper, want) in [(&[][..], "notify"), (&["./listener"][..], "ptrace")] {
        let work = b.path("w");
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir(&work).unwrap();
        chown_to(&work, &b.user);
        let script = format!("want={want}; {TRACER_THREADS}; cd w && ../files");
        let out = b.ok_under(wrapper, "full", &["sh", "-c", &script]);
        let threads = out
            .lines()
            .find(|l| l.starts_with("threads:"))
            .unwrap_or("");
        assert_eq!(
            threads.contains("rlrt-notify"),
            want == "notify",
            "{wrapper:?}: {threads}"
        );
        assert!(out.contains("ALL OK"), "{wrapper:?}:\n{out}");
        assert_eq!(
            get_xattr(&work.join("f")).as_deref(),
            Some(&[0x08, 0x2a, 0x10, 0x2a][..]),
            "{wrapper:?}: xattr bytes of f"
        );
    }
}

#[test]
fn ids_mode_does_not_persist() {
    let b = Bench::new("idsmode");
    let out = b.sh(
        "ids",
        "touch g && chown 42:42 g && stat -c %u:%g g && id -u",
    );
    assert_eq!(out, "0:0\n0\n");
    assert_eq!(get_xattr(&b.path("g")), None);
    let out = b.sh("off", "id -u; chown 42:42 g 2>/dev/null || echo EINVAL");
    assert_eq!(out, "0\nEINVAL\n");
}

/// After a chroot the tracer resolves paths in the new root, in `ids`
/// mode too (chown by path goes through the tracer there).
#[test]
fn chown_by_path_after_chroot() {
    let b = Bench::new("chroot");
    let bin = b.path("root/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/usr/bin/busybox", bin.join("busybox")).unwrap();
    chown_to(&b.path("root"), &b.user);
    chown_to(&bin, &b.user);
    chown_to(&bin.join("busybox"), &b.user);
    for mode in ["ids", "full"] {
        let out = b.sh(
            mode,
            "chroot root /bin/busybox sh -c \
             '/bin/busybox touch /inside && /bin/busybox chown 5:6 /inside && echo chown ok'",
        );
        assert_eq!(out, "chown ok\n", "{mode}");
    }
}

#[test]
fn setuid_exec() {
    let b = Bench::new("exec");
    let out = b.sh(
        "full",
        "chown 1000:1001 showid && chmod 6755 showid && ./showid && \
         setpriv --reuid=2000 --regid=2000 --clear-groups ./showid && \
         setpriv --no-new-privs ./showid && \
         ./hostile vfork ./showid && \
         printf '#!/bin/sh\\nexec ./plain\\n' > s.sh && cp showid plain && chown 1000 s.sh && chmod 4755 s.sh && ./s.sh",
    );
    let l: Vec<&str> = out.lines().filter(|l| l.starts_with("uid=")).collect();
    assert_eq!(
        l[0], "uid=0,1000,1000 gid=0,1001,1001 secure=1 atuid=0,1000",
        "{out}"
    );
    assert_eq!(
        l[1], "uid=2000,1000,1000 gid=2000,1001,1001 secure=1 atuid=2000,1000",
        "{out}"
    );
    assert_eq!(
        l[2], "uid=0,0,0 gid=0,0,0 secure=0 atuid=0,0",
        "NoNewPrivs: {out}"
    );
    assert_eq!(
        l[3], "uid=0,1000,1000 gid=0,1001,1001 secure=1 atuid=0,1000",
        "vfork: {out}"
    );
    assert_eq!(
        l[4], "uid=0,0,0 gid=0,0,0 secure=0 atuid=0,0",
        "script: {out}"
    );
    // nosuid mount (a private mount namespace inside the fake root)
    let out = b.sh(
        "full",
        "mkdir -p m && unshare -m sh -c 'mount -t tmpfs -o nosuid none m && cp showid m/x && chown 1000 m/x && \
         chmod 4755 m/x && m/x'",
    );
    assert!(out.contains("uid=0,0,0"), "nosuid: {out}");
}

#[test]
fn initial_user_credentials() {
    let b = Bench::new("user");
    let mut c = b.cmd(
        "full",
        &[
            "sh",
            "-c",
            "./showid; id -G; cat /proc/self/status | grep CapEff",
        ],
    );
    c.env("RLRT_FAKEROOT_USER", "1000:1000:5,3");
    let o = c.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("uid=1000,1000,1000 gid=1000,1000,1000"),
        "{out}"
    );
    assert!(out.contains("1000 3 5"), "{out}");
}

#[test]
fn hostile_workloads() {
    let b = Bench::new("hostile");
    for t in ["race", "clone3", "seccomp", "iouring", "int80", "fuzz"] {
        b.ok("full", &["./hostile", t]);
    }
    let t = Instant::now();
    b.ok("full", &["./hostile", "forks", "10000"]);
    eprintln!("10000 forks: {:?}", t.elapsed());
}

#[test]
fn exit_codes_and_exec_errors() {
    let b = Bench::new("exit");
    assert_eq!(
        b.run("full", &["sh", "-c", "exit 3"]).status.code(),
        Some(3)
    );
    assert_eq!(
        b.run("full", &["sh", "-c", "kill -9 $$"]).status.code(),
        Some(137)
    );
    let o = b.run("full", &["no-such-command-xyz"]);
    assert_eq!(o.status.code(), Some(127));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("rootlessrt fakeroot: ") && err.contains("not found"),
        "{err}"
    );
    assert_eq!(b.run("full", &[]).status.code(), Some(125));
    assert_eq!(b.run("bogus", &["true"]).status.code(), Some(125));
}

fn wait_file(p: &Path) -> String {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        if let Ok(s) = std::fs::read_to_string(p) {
            if s.ends_with('\n') {
                return s.trim().to_string();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} never appeared", p.display());
}

fn proc_state(pid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit(')').next()?.trim().chars().next()
}

fn ppid(pid: i32) -> i32 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    s.rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn killing_the_tracer_kills_the_workload() {
    let b = Bench::new("kill");
    let mut child = b
        .cmd("full", &["sh", "-c", "echo $$ > pid; exec sleep 1000"])
        .spawn()
        .unwrap();
    let sh: i32 = wait_file(&b.path("pid")).parse().unwrap();
    let tracer = ppid(sh);
    // SAFETY: killing the tracer process we started (directly or under runuser).
    unsafe { libc::kill(tracer, libc::SIGKILL) };
    let t = Instant::now();
    while !matches!(proc_state(sh), None | Some('Z')) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "workload survived its tracer"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
}

#[test]
fn signals_are_forwarded_and_stop_works() {
    let b = Bench::new("signals");
    let mut child = b
        .cmd(
            "full",
            &[
                "sh",
                "-c",
                "trap 'exit 7' TERM; echo $$ > pid; while :; do sleep 0.05; done",
            ],
        )
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let sh: i32 = wait_file(&b.path("pid")).parse().unwrap();
    let tracer = ppid(sh);
    // kill -STOP really stops a tracee; SIGCONT resumes it.
    // SAFETY: signalling processes we started.
    unsafe { libc::kill(sh, libc::SIGSTOP) };
    let t = Instant::now();
    while !matches!(proc_state(sh), Some('T') | Some('t')) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "not stopped: {:?}",
            proc_state(sh)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        matches!(proc_state(sh), Some('T') | Some('t')),
        "stop did not hold"
    );
    // SAFETY: as above.
    unsafe { libc::kill(sh, libc::SIGCONT) };
    std::thread::sleep(Duration::from_millis(100));
    assert!(!matches!(proc_state(sh), Some('T')), "still stopped");
    // SIGTERM to the tracer reaches the workload, whose status comes back.
    // SAFETY: as above.
    unsafe { libc::kill(tracer, libc::SIGTERM) };
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(7));
}
