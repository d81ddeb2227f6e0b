//! Shared helpers for the end-to-end tests.
//!
//! The tests drive the *built* `rootlessrt` binary the way a user (or
//! containerd) would. Every test gets a [`Ctx`]: its own directory, its own
//! state root (`--root`), its own container ids, and a cleanup guard that
//! `delete --force`s whatever it created.
//!
//! Settings ([`Mode`]):
//! - `user`: the unprivileged test user (`RLRT_TEST_USER` when the harness runs
//!   as root, via `runuser`; the current user when it does not), on the host's
//!   cgroup layout (a v1 hybrid here).
//! - `user_cgv2`: the same user, but every runtime call runs in a private mount
//!   namespace with a fresh cgroup2 mount on `/sys/fs/cgroup` — a pure cgroup v2
//!   host without delegation. Needs a root harness.
//! - `root`: root, spec from `rootlessrt spec` (no user namespace).
//! - `root_userns`: root, same spec plus a user namespace mapping container
//!   0..65536 to host 100000..165536 (the classic subuid-style range); the
//!   rootfs is chowned to 100000 so that container root owns it.
//! - `root_single`: root, same spec plus a user namespace mapping container 0
//!   to host 100000 only (size 1): the single-ID map a user without subuid
//!   gets, made by root; fake root is on by default there. Not in
//!   [`matrix_all!`]: tests that care name it.
//!
//! Binary: `RLRT_BIN`, else `rootlessrt` next to the test executable's profile
//! dir, else `<workspace>/target/{debug,release}/rootlessrt`. It is copied to
//! a world-readable temp dir so the test user can run it even when the
//! checkout lives somewhere it cannot read (e.g. `/root/...`). For the same
//! reason `hack/busybox-bundle.sh` is read by the harness and fed to `bash -s`.

use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod console;
pub mod engines;
pub mod procs;

pub use console::ConsoleSocket;
pub use procs::Snapshot;

/// Default timeout of every runtime call.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);
/// Host ID that container root maps to in the `root_userns` setting.
pub const USERNS_HOST_ID: u32 = 100_000;
pub const USERNS_SIZE: u32 = 65_536;
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    User,
    UserCgroupV2,
    Root,
    RootUserns,
    RootSingle,
}

impl Mode {
    pub fn from_name(s: &str) -> Mode {
        match s {
            "user" => Mode::User,
            "user_cgv2" => Mode::UserCgroupV2,
            "root" => Mode::Root,
            "root_userns" => Mode::RootUserns,
            "root_single" => Mode::RootSingle,
            _ => panic!("unknown mode {s}"),
        }
    }
    pub fn is_rootless(self) -> bool {
        matches!(self, Mode::User | Mode::UserCgroupV2)
    }
    /// Root with a user namespace of the container's own (host 100000 is
    /// its root).
    pub fn has_userns_as_root(self) -> bool {
        matches!(self, Mode::RootUserns | Mode::RootSingle)
    }
    pub fn name(self) -> &'static str {
        match self {
            Mode::User => "user",
            Mode::UserCgroupV2 => "user_cgv2",
            Mode::Root => "root",
            Mode::RootUserns => "root_userns",
            Mode::RootSingle => "root_single",
        }
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// Process-wide facts, computed once.
pub struct Env {
    pub bin: PathBuf,
    pub base: PathBuf,
    pub is_root: bool,
    /// The user that rootless modes run as (None: not available).
    pub user: Option<User>,
    pub bundle_script: String,
}

fn lookup_user(name_or_uid: &str) -> Option<User> {
    let c = CString::new(name_or_uid).ok()?;
    // SAFETY: getpwnam/getpwuid return a pointer to static storage, copied at once;
    // the harness calls this only from the OnceLock initializer.
    unsafe {
        let mut pw = libc::getpwnam(c.as_ptr());
        if pw.is_null() {
            if let Ok(uid) = name_or_uid.parse::<u32>() {
                pw = libc::getpwuid(uid);
            }
        }
        if pw.is_null() {
            return None;
        }
        let s = |p: *const libc::c_char| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned();
        Some(User {
            name: s((*pw).pw_name),
            uid: (*pw).pw_uid,
            gid: (*pw).pw_gid,
            home: s((*pw).pw_dir),
        })
    }
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Where the runtime binary under test is (before copying).
pub fn locate_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("RLRT_BIN").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if p.components().count() == 1 {
            // a bare name: look it up in PATH
            if let Ok(out) = Command::new("sh")
                .args(["-c", "command -v \"$1\"", "sh"])
                .arg(&p)
                .output()
            {
                let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !s.is_empty() {
                    return PathBuf::from(s);
                }
            }
        }
        return p;
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        // <target>/<profile>/deps/e2e-xxxx -> <target>/<profile>/rootlessrt
        if let Some(profile) = exe.parent().and_then(|d| d.parent()) {
            candidates.push(profile.join("rootlessrt"));
        }
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(&t).join("debug/rootlessrt"));
    }
    candidates.push(workspace_root().join("target/debug/rootlessrt"));
    candidates.push(workspace_root().join("target/release/rootlessrt"));
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!(
        "rootlessrt binary not found (tried {candidates:?}); build it with `cargo build -p rootlessrt` or set RLRT_BIN"
    );
}

pub fn is_root() -> bool {
    // SAFETY: trivial libc call.
    unsafe { libc::geteuid() == 0 }
}

extern "C" fn cleanup_base() {
    if let Some(env) = ENV.get() {
        if std::env::var_os("RLRT_KEEP_TMP").is_none() {
            let _ = fs::remove_dir_all(env.base.join("bin"));
            let _ = fs::remove_dir_all(env.base.join("shared"));
            // only succeeds when every test cleaned up after itself
            let _ = fs::remove_dir(&env.base);
        }
    }
}

static ENV: OnceLock<Env> = OnceLock::new();

pub fn env() -> &'static Env {
    ENV.get_or_init(|| {
        let is_root = is_root();
        let user = if is_root {
            std::env::var("RLRT_TEST_USER")
                .ok()
                .filter(|s| !s.is_empty())
                .map(|n| {
                    lookup_user(&n).unwrap_or_else(|| {
                        panic!(
                            "RLRT_TEST_USER={n}: no such user (create it with hack/test-user.sh)"
                        )
                    })
                })
        } else {
            // SAFETY: trivial libc call.
            lookup_user(&unsafe { libc::geteuid() }.to_string())
        };
        if let Some(u) = &user {
            assert_ne!(u.uid, 0, "RLRT_TEST_USER must not be root");
        }
        let tmp = std::env::var_os("RLRT_TEST_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let base = tmp.join(format!("rlrt-integ-{}", std::process::id()));
        fs::create_dir_all(base.join("bin")).expect("create test base dir");
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(base.join("bin"), fs::Permissions::from_mode(0o755)).unwrap();
        let src = locate_binary();
        let bin = base.join("bin/rootlessrt");
        fs::copy(&src, &bin).unwrap_or_else(|e| panic!("copy {src:?} to {bin:?}: {e}"));
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        let script = workspace_root().join("hack/busybox-bundle.sh");
        let bundle_script =
            fs::read_to_string(&script).unwrap_or_else(|e| panic!("read {script:?}: {e}"));
        // SAFETY: registering a plain extern "C" fn.
        unsafe { libc::atexit(cleanup_base) };
        eprintln!("integration: runtime {src:?} (copied to {bin:?}), user {user:?}");
        Env {
            bin,
            base,
            is_root,
            user,
            bundle_script,
        }
    })
}

/// A directory for things built once and shared by the tests of this run
/// (world-readable, removed at exit).
pub fn shared_dir() -> PathBuf {
    let d = env().base.join("shared");
    if !d.is_dir() {
        let _ = fs::create_dir(&d);
        let _ = fs::set_permissions(&d, fs::Permissions::from_mode(0o755));
    }
    d
}

/// Why a mode cannot run here, if it cannot.
pub fn skip_reason(mode: Mode) -> Option<String> {
    let e = env();
    match mode {
        Mode::User if e.is_root && e.user.is_none() => {
            Some("running as root without RLRT_TEST_USER (run hack/test-user.sh and export RLRT_TEST_USER=rlrt-test)".into())
        }
        Mode::UserCgroupV2 if !e.is_root || e.user.is_none() => {
            Some("needs a root harness and RLRT_TEST_USER (to mount cgroup2 in a private mount namespace)".into())
        }
        Mode::Root | Mode::RootUserns | Mode::RootSingle if !e.is_root => {
            Some("needs root".into())
        }
        _ => None,
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {path:?}: {e}"));
}

/// Result of one command.
#[derive(Debug, Clone)]
pub struct Out {
    pub argv: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    pub elapsed: Duration,
}

impl Out {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    /// Assert exit 0; returns self for chaining.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(self.success(), "command failed: {self}");
        self
    }
    /// The rest of the stdout line that starts with `key` and a space.
    #[track_caller]
    pub fn field(&self, key: &str) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} line: {self}"))
            .to_string()
    }
    pub fn describe(&self) -> String {
        format!("{self}")
    }
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }
    /// Everything the command and anything that inherited its stdout wrote so far
    /// (a `create`d container's stdio is the `create` call's).
    pub fn stdout_now(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }
    pub fn stderr_now(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
    /// Assert the contract for a rejected request: non-zero exit, no hang, no
    /// panic, a single non-empty line on stderr, mentioning one of `words`
    /// (case-insensitive) when given.
    #[track_caller]
    pub fn assert_clean_error(&self, words: &[&str]) {
        assert!(!self.timed_out, "command hung: {self}");
        assert!(
            self.code.is_some_and(|c| c != 0),
            "expected a non-zero exit: {self}"
        );
        assert_no_panic(self);
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected a one-line error on stderr: {self}"
        );
        if !words.is_empty() {
            let l = self.stderr.to_lowercase();
            assert!(
                words.iter().any(|w| l.contains(&w.to_lowercase())),
                "error should mention one of {words:?}: {self}"
            );
        }
    }
}

#[track_caller]
pub fn assert_no_panic(out: &Out) {
    for s in [&out.stdout, &out.stderr] {
        assert!(
            !s.contains("panicked at") && !s.contains("RUST_BACKTRACE"),
            "runtime panicked: {out}"
        );
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` -> code {:?} signal {:?}{} in {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.argv,
            self.code,
            self.signal,
            if self.timed_out { " TIMED OUT" } else { "" },
            self.elapsed,
            self.stdout,
            self.stderr
        )
    }
}

/// A command about to run in a mode's identity.
pub struct Cmd<'a> {
    ctx: &'a Ctx,
    args: Vec<String>,
    runtime: bool,
    global: Vec<String>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    cwd: Option<PathBuf>,
    env: Vec<(String, String)>,
    leak_fds: Vec<i32>,
}

impl<'a> Cmd<'a> {
    pub fn arg(mut self, a: impl AsRef<str>) -> Self {
        self.args.push(a.as_ref().to_string());
        self
    }
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, a: I) -> Self {
        self.args
            .extend(a.into_iter().map(|s| s.as_ref().to_string()));
        self
    }
    /// Global runtime flags placed before the subcommand (after `--root`).
    pub fn global<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, a: I) -> Self {
        self.global
            .extend(a.into_iter().map(|s| s.as_ref().to_string()));
        self
    }
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    pub fn cwd(mut self, d: impl Into<PathBuf>) -> Self {
        self.cwd = Some(d.into());
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    /// Hand the command these fd numbers (open on /dev/null, no CLOEXEC), as
    /// containerd's shim leaks its socket as fd 3.
    pub fn leak_fds(mut self, fds: &[i32]) -> Self {
        self.leak_fds.extend_from_slice(fds);
        self
    }

    fn argv(&self) -> Vec<String> {
        let e = env();
        let ctx = self.ctx;
        let mut inner: Vec<String> = Vec::new();
        if self.runtime {
            inner.push(e.bin.to_string_lossy().into_owned());
            inner.push("--root".into());
            inner.push(ctx.root.to_string_lossy().into_owned());
            inner.extend(self.global.iter().cloned());
        }
        inner.extend(self.args.iter().cloned());
        if !(ctx.mode.is_rootless() && e.is_root) {
            return inner;
        }
        let u = e.user.as_ref().unwrap();
        let mut v: Vec<String> = Vec::new();
        if ctx.mode == Mode::UserCgroupV2 {
            v.extend(
                [
                    "unshare",
                    "-m",
                    "--propagation",
                    "private",
                    "--",
                    "sh",
                    "-c",
                    "mount -t cgroup2 none /sys/fs/cgroup && exec \"$@\"",
                    "sh",
                ]
                .map(String::from),
            );
        }
        v.extend(["runuser", "-u", &u.name, "--", "env", "-i"].map(String::from));
        v.push(format!("PATH={PATH}"));
        v.push(format!("HOME={}", u.home));
        v.push(format!("USER={}", u.name));
        v.push(format!("LOGNAME={}", u.name));
        v.push(format!("XDG_RUNTIME_DIR={}", ctx.xdg.display()));
        for (k, val) in self.passthrough_env() {
            v.push(format!("{k}={val}"));
        }
        v.extend(inner);
        v
    }

    fn passthrough_env(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k == "RUST_LOG" || k.starts_with("RLRT_LOG"))
            .collect();
        out.extend(self.env.iter().cloned());
        out
    }

    /// Start it in the background (caller waits via [`Running::wait`]).
    pub fn spawn(self) -> Running {
        let argv = self.argv();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let outdir = self.ctx.dir.join("out");
        let _ = fs::create_dir_all(&outdir);
        let stdout_path = outdir.join(format!("{n}.stdout"));
        let stderr_path = outdir.join(format!("{n}.stderr"));
        let so = fs::File::create(&stdout_path).unwrap();
        let se = fs::File::create(&stderr_path).unwrap();
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..])
            .stdout(so)
            .stderr(se)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .current_dir(self.cwd.clone().unwrap_or_else(|| self.ctx.dir.clone()))
            .process_group(0);
        if !self.leak_fds.is_empty() {
            let fds = self.leak_fds.clone();
            // SAFETY: only async-signal-safe calls (open, dup2, close) in the child.
            unsafe {
                c.pre_exec(move || {
                    let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    for &t in &fds {
                        if libc::dup2(fd, t) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    if !fds.contains(&fd) {
                        libc::close(fd);
                    }
                    Ok(())
                });
            }
        }
        if !(self.ctx.mode.is_rootless() && env().is_root) {
            // direct execution: same environment hygiene as through runuser
            c.env("XDG_RUNTIME_DIR", &self.ctx.xdg).env("PATH", PATH);
            for (k, v) in &self.env {
                c.env(k, v);
            }
        }
        let start = Instant::now();
        let mut child = c.spawn().unwrap_or_else(|e| panic!("spawn {argv:?}: {e}"));
        if let Some(data) = self.stdin {
            let mut si = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = si.write_all(&data);
            });
        }
        Running {
            child,
            argv: shell_join(&argv),
            stdout_path,
            stderr_path,
            start,
            timeout: self.timeout,
        }
    }

    pub fn run(self) -> Out {
        self.spawn().wait()
    }
}

pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub struct Running {
    child: std::process::Child,
    argv: String,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    start: Instant,
    timeout: Duration,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    pub fn wait(mut self) -> Out {
        use std::os::unix::process::ExitStatusExt;
        let deadline = self.start + self.timeout;
        let mut timed_out = false;
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                timed_out = true;
                // SAFETY: signalling the process group we created.
                unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
                break self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Out {
            argv: self.argv,
            code: status.code(),
            signal: status.signal(),
            timed_out,
            stdout: fs::read_to_string(&self.stdout_path).unwrap_or_default(),
            stderr: fs::read_to_string(&self.stderr_path).unwrap_or_default(),
            stdout_path: self.stdout_path,
            stderr_path: self.stderr_path,
            elapsed: self.start.elapsed(),
        }
    }
}

/// An OCI bundle built by `hack/busybox-bundle.sh` plus `spec`.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub path: PathBuf,
}

impl Bundle {
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.json")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }
    pub fn config(&self) -> Value {
        let s = fs::read_to_string(self.config_path()).expect("read config.json");
        serde_json::from_str(&s).expect("config.json is JSON")
    }
    /// Edit config.json in place (keeps the file's owner).
    pub fn edit(&self, f: impl FnOnce(&mut Value)) {
        let mut v = self.config();
        f(&mut v);
        fs::write(self.config_path(), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }
    pub fn set_args(&self, args: &[&str]) {
        self.edit(|v| v["process"]["args"] = serde_json::json!(args));
    }
    /// Shorthand: `sh -c SCRIPT`.
    pub fn set_sh(&self, script: &str) {
        self.set_args(&["sh", "-c", script]);
    }
    pub fn hostname(&self) -> Option<String> {
        self.config()["hostname"].as_str().map(String::from)
    }
    /// A file inside the rootfs (path relative to the container's `/`).
    pub fn file(&self, rel: &str) -> PathBuf {
        self.rootfs().join(rel.trim_start_matches('/'))
    }
    pub fn read(&self, rel: &str) -> Option<String> {
        fs::read_to_string(self.file(rel)).ok()
    }
    /// Wait until a file in the rootfs exists and satisfies `pred`.
    #[track_caller]
    pub fn wait_for(&self, rel: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.read(rel) {
                if pred(&s) {
                    return s;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {rel} in {:?} (now: {:?})",
                    self.rootfs(),
                    self.read(rel)
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    #[track_caller]
    pub fn wait_file(&self, rel: &str) -> String {
        self.wait_for(rel, Duration::from_secs(15), |s| !s.is_empty())
    }
}

/// Per-test context: directory, state root, ids, identity; cleans up on drop.
pub struct Ctx {
    pub mode: Mode,
    pub name: String,
    /// Test directory (owned by the runtime's user, mode 0755).
    pub dir: PathBuf,
    /// The runtime's `--root`.
    pub root: PathBuf,
    pub xdg: PathBuf,
    ids: RefCell<Vec<String>>,
    pids: RefCell<Vec<procs::Proc>>,
    n: Cell<u32>,
}

impl Ctx {
    pub fn new(mode: Mode, name: &str) -> Ctx {
        let e = env();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let dir = e.base.join(format!("{name}-{}-{n}", mode.name()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let xdg = dir.join("xdg");
        fs::create_dir_all(&xdg).unwrap();
        fs::set_permissions(&xdg, fs::Permissions::from_mode(0o700)).unwrap();
        fs::create_dir_all(dir.join("out")).unwrap();
        if mode.is_rootless() && e.is_root {
            let u = e.user.as_ref().unwrap();
            chown(&dir, u.uid, u.gid);
            chown(&xdg, u.uid, u.gid);
        }
        let root = dir.join("state");
        Ctx {
            mode,
            name: name.to_string(),
            dir,
            root,
            xdg,
            ids: RefCell::new(Vec::new()),
            pids: RefCell::new(Vec::new()),
            n: Cell::new(0),
        }
    }

    /// uid/gid the runtime runs as.
    pub fn ids_of_runtime(&self) -> (u32, u32) {
        let e = env();
        if self.mode.is_rootless() {
            let u = e.user.as_ref().unwrap();
            (u.uid, u.gid)
        } else {
            (0, 0)
        }
    }

    /// A fresh container id, registered for cleanup.
    pub fn id(&self) -> String {
        let n = self.n.get();
        self.n.set(n + 1);
        let id = format!(
            "it{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst),
            n
        );
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// A path in the test dir (not created).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Create a file in the test dir readable and writable by the runtime's user.
    pub fn write_file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, data).unwrap();
        let (u, g) = self.ids_of_runtime();
        chown(&p, u, g);
        p
    }

    /// Make a directory owned by the runtime's user.
    pub fn mkdir(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        let (u, g) = self.ids_of_runtime();
        chown(&p, u, g);
        p
    }

    /// A runtime invocation: `rootlessrt --root <state> ARGS...` as the mode's user.
    pub fn rt<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, args: I) -> Cmd<'_> {
        Cmd {
            ctx: self,
            args: args.into_iter().map(|s| s.as_ref().to_string()).collect(),
            runtime: true,
            global: Vec::new(),
            stdin: None,
            timeout: CMD_TIMEOUT,
            cwd: None,
            env: Vec::new(),
            leak_fds: Vec::new(),
        }
    }

    /// Any command, run as the mode's user (same wrapping as the runtime).
    pub fn sh_cmd<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, args: I) -> Cmd<'_> {
        Cmd {
            runtime: false,
            ..self.rt(args)
        }
    }

    /// Build a busybox bundle with `hack/busybox-bundle.sh` and `spec` (as
    /// the mode's user), then make it test-friendly: no terminal, writable
    /// rootfs, and for `root_userns`/`root_single` a user namespace.
    #[track_caller]
    pub fn bundle(&self) -> Bundle {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let path = self.dir.join(format!("bundle{n}"));
        self.sh_cmd(["bash", "-s", "--"])
            .arg(path.to_string_lossy())
            .stdin(env().bundle_script.clone())
            .run()
            .ok();
        self.finish_bundle(path)
    }

    /// `spec` in a bundle directory whose rootfs is already there (owned by
    /// the mode's user), then the edits [`Ctx::bundle`] makes.
    #[track_caller]
    pub fn finish_bundle(&self, path: PathBuf) -> Bundle {
        let spec = if self.mode.is_rootless() {
            self.rt(["spec", "--rootless"])
        } else {
            self.rt(["spec"])
        };
        spec.cwd(&path).run().ok();
        let b = Bundle { path };
        b.edit(|v| {
            v["process"]["terminal"] = Value::Bool(false);
            v["root"]["readonly"] = Value::Bool(false);
            v["process"]["args"] = serde_json::json!(["sleep", "1000"]);
        });
        if self.mode.has_userns_as_root() {
            let size = if self.mode == Mode::RootSingle {
                1
            } else {
                USERNS_SIZE
            };
            b.edit(|v| {
                let ns = v["linux"]["namespaces"].as_array_mut().unwrap();
                if !ns.iter().any(|n| n["type"] == "user") {
                    ns.push(serde_json::json!({"type": "user"}));
                }
                let map =
                    serde_json::json!([{"containerID": 0, "hostID": USERNS_HOST_ID, "size": size}]);
                v["linux"]["uidMappings"] = map.clone();
                v["linux"]["gidMappings"] = map;
                if size == 1 {
                    // gid 5 (tty) is not mapped: the kernel refuses the mount.
                    for m in v["mounts"].as_array_mut().unwrap() {
                        if m["type"] == "devpts" {
                            if let Some(o) = m["options"].as_array_mut() {
                                o.retain(|o| o != "gid=5");
                            }
                        }
                    }
                }
            });
            let st = Command::new("chown")
                .args(["-R", "-h", &format!("{USERNS_HOST_ID}:{USERNS_HOST_ID}")])
                .arg(b.rootfs())
                .status()
                .unwrap();
            assert!(st.success(), "chown rootfs");
        }
        b
    }

    // ---- common runtime calls -------------------------------------------------

    #[track_caller]
    pub fn create(&self, b: &Bundle, id: &str) -> Out {
        let out = self
            .rt(["create", "--bundle"])
            .arg(b.path.to_string_lossy())
            .arg(id)
            .run()
            .ok();
        self.remember(id);
        out
    }
    /// `run --bundle B ID` in the foreground; the caller checks the result.
    #[track_caller]
    pub fn run(&self, b: &Bundle, id: &str) -> Out {
        self.rt(["run", "--bundle"])
            .arg(b.path.to_string_lossy())
            .arg(id)
            .run()
    }
    #[track_caller]
    pub fn start(&self, id: &str) -> Out {
        self.rt(["start", id]).run().ok()
    }
    /// create + start; returns the create call (whose stdout file collects the workload's).
    #[track_caller]
    pub fn create_start(&self, b: &Bundle, id: &str) -> Out {
        let out = self.create(b, id);
        self.start(id);
        out
    }
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.rt(["state", id]).run().ok();
        assert!(out.stderr.trim().is_empty(), "state wrote to stderr: {out}");
        out.json()
    }
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.state(id);
            if s["status"] == want {
                return s;
            }
            if Instant::now() > deadline {
                panic!("container {id} did not become {want}: {s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    /// Record the container's processes so cleanup can kill strays.
    fn remember(&self, id: &str) {
        let out = self.rt(["state", id]).run();
        if let Ok(v) = serde_json::from_str::<Value>(&out.stdout) {
            if let Some(pid) = v["pid"].as_i64().filter(|p| *p > 0) {
                if let Some(p) = procs::Proc::get(pid as i32) {
                    self.pids.borrow_mut().push(p);
                }
            }
        }
    }
    /// Snapshot (pids, cgroups) of a live container for leak checks.
    #[track_caller]
    pub fn snapshot(&self, id: &str, b: &Bundle) -> Snapshot {
        let st = self.state(id);
        let pid = st["pid"].as_i64().unwrap_or(0) as i32;
        let snap = Snapshot::take(pid, &self.root.join(id), &b.path);
        self.pids.borrow_mut().extend(snap.procs.iter().cloned());
        snap
    }
    /// `delete [--force] id`, then assert nothing is left.
    #[track_caller]
    pub fn delete_checked(&self, id: &str, b: &Bundle, force: bool) {
        let snap = self.snapshot(id, b);
        let mut args = vec!["delete"];
        if force {
            args.push("--force");
        }
        args.push(id);
        let out = self.rt(args).run().ok();
        assert_no_panic(&out);
        snap.assert_gone();
        let st = self.rt(["state", id]).run();
        assert!(!st.success(), "state after delete succeeded: {st}");
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let path = self.root.join(id);
            if path.exists() {
                let _ = self
                    .rt(["delete", "--force", id])
                    .timeout(Duration::from_secs(10))
                    .run();
            }
        }
        // Whatever survived a broken delete: kill it so it does not eat the CPU
        // (thawing it first if it was paused), then let the runtime retry its
        // own cleanup (cgroups, state) now that the processes are gone.
        let mut killed = false;
        for p in self.pids.borrow().iter() {
            for q in procs::descendants_of(p) {
                killed |= q.alive();
                q.kill();
            }
            killed |= p.alive();
            p.kill();
        }
        if killed {
            std::thread::sleep(Duration::from_millis(200));
            for id in self.ids.borrow().iter() {
                if self.root.join(id).exists() {
                    let _ = self
                        .rt(["delete", "--force", id])
                        .timeout(Duration::from_secs(10))
                        .run();
                }
            }
        }
        if std::thread::panicking() {
            eprintln!("integration: keeping {:?} for inspection", self.dir);
        } else if std::env::var_os("RLRT_KEEP_TMP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Assert the host's /dev/null is still root:root 0666 char 1:3.
#[track_caller]
pub fn assert_dev_null_ok() {
    let m = fs::metadata("/dev/null").expect("stat /dev/null");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        m.file_type().is_char_device(),
        "/dev/null is no longer a char device"
    );
    assert_eq!((m.uid(), m.gid()), (0, 0), "/dev/null owner changed");
    assert_eq!(m.mode() & 0o7777, 0o666, "/dev/null mode changed");
    assert_eq!(
        m.rdev(),
        libc::makedev(1, 3),
        "/dev/null device number changed"
    );
}

/// Whether skipping is forbidden: under `CI` every test must run, so a test
/// that would skip fails instead (CI cannot silently test less).
pub fn skips_forbidden() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Report a deliberate skip (the harness is not root, say) of `test`: one
/// `SKIPPED <test>: <why>` line on stderr, which `hack/test.sh` counts in
/// its summary; under `CI` ([`skips_forbidden`]) the test fails instead.
/// A missing tool is not a reason to skip: the test fails and says what to
/// install (`hack/test.sh` installs everything as root).
#[track_caller]
pub fn skip(test: &str, why: &str) {
    let msg = format!("SKIPPED {test}: {why}\n");
    if skips_forbidden() {
        panic!("CI must run every test: {msg}");
    }
    // Straight to fd 2: libtest captures eprintln! of passing tests, and the
    // line must be seen (and counted) whatever the capture setting.
    // SAFETY: writing a local buffer to stderr.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

/// Entry point used by [`matrix!`]. A setting that cannot run here (see
/// [`skip_reason`]) is reported with [`skip`].
pub fn run_test(mode: &str, name: &str, body: fn(&Ctx)) {
    let mode = Mode::from_name(mode);
    if let Some(why) = skip_reason(mode) {
        skip(&format!("{name}::{}", mode.name()), &why);
        return;
    }
    let ctx = Ctx::new(mode, name);
    body(&ctx);
    drop(ctx);
    if !mode.is_rootless() {
        assert_dev_null_ok();
    }
}

/// `matrix!(body_fn: user, user_cgv2, root, root_userns);` defines a module
/// `body_fn` with one `#[test]` per listed setting, each running `body_fn(&Ctx)`.
#[macro_export]
macro_rules! matrix {
    ($body:ident : $($mode:ident),+ $(,)?) => {
        mod $body {
            $(
                #[test]
                fn $mode() {
                    $crate::run_test(stringify!($mode), stringify!($body), super::$body)
                }
            )+
        }
    };
}

/// `matrix!` over all four settings.
#[macro_export]
macro_rules! matrix_all {
    ($body:ident) => {
        $crate::matrix!($body: user, user_cgv2, root, root_userns);
    };
}

/// Entries of a directory (names), empty when it does not exist.
pub fn dir_entries(p: &Path) -> BTreeSet<String> {
    fs::read_dir(p)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Container ids with state in a state root: its entries minus the
/// runtime's own dot files (locks and the like).
pub fn state_ids(root: &Path) -> BTreeSet<String> {
    dir_entries(root)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// Read a whole file as a string, or "".
pub fn slurp(p: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = fs::File::open(p) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// RFC 3339 date-time, loosely: `YYYY-MM-DDTHH:MM:SS` then fraction/zone.
pub fn looks_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(|c| c.is_ascii_digit());
    digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (s.ends_with('Z') || s.ends_with('z') || s[19..].contains('+') || s[19..].contains('-'))
}
