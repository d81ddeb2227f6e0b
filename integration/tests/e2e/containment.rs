//! A hostile workload stays inside its container (issue 13; the threat
//! model is docs/security.md).
//!
//! Every scenario is written as the attacker would: C programs from
//! integration/tests/attacks/ (built once per test run with `gcc -static`
//! into a busybox rootfs, under /attacks) run as the workload and go after
//! the runtime's processes, its binary, the tracer's path resolution and fd
//! budget. They print `ESCAPE …` for anything that worked and `done` at
//! their end (attack.h). The containers run a throw-away copy of the
//! runtime — owned and writable by the test user in the rootless settings,
//! root-owned 0755 as root — and that copy, a decoy file next to the bundle
//! and the host's /dev/null are compared before and after each scenario.
//!
//! Settings: `user` (rootless, no subuid), `root` (no user namespace; the
//! annotation turns fake root on where a tracer is attacked), `root_userns`
//! (a 65536-ID map) and `root_single` (container 0 is host 100000 only).
//! As root, `exec` into a fake-root container with a user namespace of its
//! own is refused (a documented limit); there the attacks run from the
//! init's side only and the refusal itself is checked.

use integration::{env, matrix, shell_join, Bundle, Cmd, Ctx, Mode, Running};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const FAKE_ROOT: &str = "io.rootlessrt.fake-root";
const PROGRAMS: &[&str] = &[
    "probe",
    "overwrite",
    "race",
    "fdcheck",
    "pathrace",
    "untraced",
];
const WAIT: Duration = Duration::from_secs(30);

// ---- the attack kit -----------------------------------------------------

/// The runtime under attack: a copy owned by the runtime's user (and
/// writable by it) in the rootless settings, by root (0755) as root, in a
/// directory of its own (the sealed image is an overlay of that directory).
/// `shared`: one per owner for the scenarios of a test run that do not go
/// after the binary's bytes (each still checks it is unchanged); else the
/// test's own, so that a successful overwrite fails that test alone.
fn runtime_copy(ctx: &Ctx, shared: bool) -> PathBuf {
    static COPIES: Mutex<BTreeMap<u32, PathBuf>> = Mutex::new(BTreeMap::new());
    let (uid, gid) = ctx.ids_of_runtime();
    let make = |dir: PathBuf| {
        fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("rootlessrt");
        fs::copy(&env().bin, &bin).unwrap();
        for p in [&dir, &bin] {
            fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
        }
        bin
    };
    if !shared {
        return make(ctx.path("runtime"));
    }
    let mut copies = COPIES.lock().unwrap_or_else(|e| e.into_inner());
    copies
        .entry(uid)
        .or_insert_with(|| make(integration::shared_dir().join(format!("runtime-{uid}"))))
        .clone()
}

/// A busybox rootfs with the attack programs in /attacks and a
/// `#!/proc/self/exe` script at /evil, built once per test process.
fn kit() -> &'static Path {
    static KIT: OnceLock<PathBuf> = OnceLock::new();
    KIT.get_or_init(|| {
        let dir = integration::shared_dir().join("attack-kit");
        let _ = fs::remove_dir_all(&dir);
        let mut c = Command::new("bash")
            .args(["-s", "--"])
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("bash");
        use std::io::Write;
        c.stdin
            .take()
            .unwrap()
            .write_all(env().bundle_script.as_bytes())
            .unwrap();
        assert!(c.wait().unwrap().success(), "busybox-bundle.sh");
        let rootfs = dir.join("rootfs");
        let bin = rootfs.join("attacks");
        fs::create_dir_all(&bin).unwrap();
        let src = integration::workspace_root().join("integration/tests/attacks");
        for p in PROGRAMS {
            let out = Command::new("gcc")
                .args(["-static", "-O1", "-pthread", "-Wall", "-o"])
                .arg(bin.join(p))
                .arg(src.join(format!("{p}.c")))
                .output()
                .expect("gcc (CI installs it)");
            assert!(
                out.status.success(),
                "gcc {p}.c: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let evil = rootfs.join("evil");
        fs::write(&evil, "#!/proc/self/exe\n").unwrap();
        fs::set_permissions(&evil, fs::Permissions::from_mode(0o755)).unwrap();
        rootfs
    })
}

/// What the attack programs said, checked: no `ESCAPE` line, and `done`
/// (the attack ran to its end), and the runtime's secret nowhere.
#[track_caller]
fn assert_contained(what: &str, out: &str, secret: &str) {
    let escapes: Vec<&str> = out.lines().filter(|l| l.starts_with("ESCAPE")).collect();
    assert!(
        escapes.is_empty(),
        "{what}: the workload got out:\n{}\n--- everything it said ---\n{out}",
        escapes.join("\n")
    );
    assert!(
        out.lines().any(|l| l == "done"),
        "{what}: the attack did not run to its end:\n{out}"
    );
    assert!(
        !out.contains(secret),
        "{what}: the runtime's environment reached the workload:\n{out}"
    );
}

/// The pids an attack went after (its `target PID COMM` lines).
fn targets(out: &str) -> Vec<(i32, String)> {
    out.lines()
        .filter_map(|l| l.strip_prefix("target "))
        .filter_map(|t| {
            let (pid, comm) = t.split_once(' ').unwrap_or((t, ""));
            Some((pid.parse().ok()?, comm.to_string()))
        })
        .collect()
}

// ---- host files ---------------------------------------------------------

/// What must not change about a host file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileState {
    ino: u64,
    uid: u32,
    gid: u32,
    mode: u32,
    rdev: u64,
    xattrs: BTreeMap<String, Vec<u8>>,
    /// size, mtime and ctime (any write, truncate, chmod, chown or setxattr
    /// moves ctime), when the content is watched too.
    content: Option<(u64, i64, i64, i64, i64)>,
}

fn xattrs(p: &Path) -> BTreeMap<String, Vec<u8>> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 65536];
    // SAFETY: NUL-terminated path, buffer of the given size.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    let mut out = BTreeMap::new();
    if n <= 0 {
        return out;
    }
    for name in names[..n as usize]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
    {
        let cn = CString::new(name).unwrap();
        let mut v = vec![0u8; 65536];
        // SAFETY: NUL-terminated strings, buffer of the given size.
        let l = unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        v.truncate(l.max(0) as usize);
        out.insert(String::from_utf8_lossy(name).into_owned(), v);
    }
    out
}

fn file_state(p: &Path, content: bool) -> FileState {
    let m = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("stat {p:?}: {e}"));
    FileState {
        ino: m.ino(),
        uid: m.uid(),
        gid: m.gid(),
        mode: m.mode(),
        rdev: m.rdev(),
        xattrs: xattrs(p),
        content: content.then(|| {
            (
                m.size(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
            )
        }),
    }
}

/// Two files have the same bytes.
fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (Ok(mut fa), Ok(mut fb)) = (fs::File::open(a), fs::File::open(b)) else {
        return false;
    };
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = fa.read(&mut ba).unwrap();
        let mut nb = 0;
        while nb < na {
            match fb.read(&mut bb[nb..na]).unwrap() {
                0 => return false,
                k => nb += k,
            }
        }
        if na == 0 {
            return fb.read(&mut bb[..1]).unwrap() == 0;
        }
        if ba[..na] != bb[..na] {
            return false;
        }
    }
}

// ---- one scenario's lab -------------------------------------------------

impl Drop for Lab<'_> {
    /// An attack that got through may have changed the host's /dev/null
    /// (the test has failed then): put it back for everything else.
    fn drop(&mut self) {
        let Some(w) = self
            .watched
            .iter()
            .find(|w| w.path == Path::new("/dev/null"))
        else {
            return;
        };
        if env().is_root && file_state(&w.path, false) != w.before {
            let _ = std::os::unix::fs::chown(&w.path, Some(0), Some(0));
            let _ = fs::set_permissions(&w.path, fs::Permissions::from_mode(0o666));
        }
    }
}

/// Fake root on (a tracer to attack) or off for one container.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tracer {
    On,
    Off,
}

struct Watched {
    path: PathBuf,
    content: bool,
    before: FileState,
}

/// A test's throw-away runtime, its host files under watch, its secret.
struct Lab<'a> {
    ctx: &'a Ctx,
    bin: PathBuf,
    secret: String,
    watched: Vec<Watched>,
}

impl<'a> Lab<'a> {
    /// With the shared runtime copy.
    fn new(ctx: &'a Ctx) -> Lab<'a> {
        Lab::with_copy(ctx, true)
    }

    /// With a runtime copy of this test's own: for attacks on its bytes.
    fn own_copy(ctx: &'a Ctx) -> Lab<'a> {
        Lab::with_copy(ctx, false)
    }

    fn with_copy(ctx: &'a Ctx, shared: bool) -> Lab<'a> {
        let bin = runtime_copy(ctx, shared);
        let decoy = ctx.write_file("decoy", b"a host file the container must not reach\n");
        let mut lab = Lab {
            ctx,
            bin: bin.clone(),
            secret: format!("rlrt-secret-{}-{}", std::process::id(), ctx.name),
            watched: Vec::new(),
        };
        lab.watch(&bin, true);
        lab.watch(&decoy, true);
        lab.watch(Path::new("/dev/null"), false);
        lab
    }

    /// Compare this file at the end (`content`: its size and times too).
    fn watch(&mut self, p: &Path, content: bool) {
        self.watched.push(Watched {
            path: p.to_path_buf(),
            content,
            before: file_state(p, content),
        });
    }

    /// Every watched host file is as it was; the runtime copy has the
    /// original's bytes.
    #[track_caller]
    fn check_host(&self) {
        let mut bad = Vec::new();
        for w in &self.watched {
            let now = file_state(&w.path, w.content);
            if now != w.before {
                bad.push(format!("{:?}: {:?}\n  now {:?}", w.path, w.before, now));
            }
        }
        if !same_bytes(&self.bin, &env().bin) {
            bad.push(format!("{:?}: its bytes changed", self.bin));
        }
        assert!(
            bad.is_empty(),
            "host files changed by the container:\n{}",
            bad.join("\n")
        );
    }

    fn size(&self) -> u64 {
        fs::metadata(&self.bin).unwrap().len()
    }

    /// `<copy> --root <state> ARGS…` as the setting's user, with a secret in
    /// its environment.
    fn rt<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, args: I) -> Cmd<'a> {
        self.ctx
            .sh_cmd([self.bin.to_string_lossy().as_ref(), "--root"])
            .arg(self.ctx.root.to_string_lossy())
            .args(args)
            .env("RLRT_SECRET", &self.secret)
    }

    /// The same with stdout and/or stderr sent to these paths.
    fn rt_redirected(
        &self,
        stdout: Option<&Path>,
        stderr: Option<&Path>,
        args: &[&str],
    ) -> Cmd<'a> {
        let mut argv: Vec<String> = vec![
            self.bin.to_string_lossy().into_owned(),
            "--root".into(),
            self.ctx.root.to_string_lossy().into_owned(),
        ];
        argv.extend(args.iter().map(|s| s.to_string()));
        let mut script = format!("exec {}", shell_join(&argv));
        if let Some(p) = stdout {
            script += &format!(" >{}", shell_join(&[p.to_string_lossy().into_owned()]));
        }
        if let Some(p) = stderr {
            script += &format!(" 2>{}", shell_join(&[p.to_string_lossy().into_owned()]));
        }
        self.ctx
            .sh_cmd(["sh", "-c", &script])
            .env("RLRT_SECRET", &self.secret)
    }

    /// A bundle around the attack kit, fake root on or off.
    fn bundle(&self, tracer: Tracer) -> Bundle {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = self.ctx.mkdir(&format!("attack-bundle{n}"));
        let st = Command::new("cp")
            .arg("-a")
            .arg(kit())
            .arg(path.join("rootfs"))
            .status()
            .unwrap();
        assert!(st.success(), "copy the attack kit");
        if self.ctx.mode.is_rootless() && env().is_root {
            let (u, g) = self.ctx.ids_of_runtime();
            let st = Command::new("chown")
                .args(["-R", "-h", &format!("{u}:{g}")])
                .arg(path.join("rootfs"))
                .status()
                .unwrap();
            assert!(st.success(), "chown the rootfs");
        }
        let b = self.ctx.finish_bundle(path);
        let v = if tracer == Tracer::On { "full" } else { "off" };
        b.edit(|c| c["annotations"][FAKE_ROOT] = serde_json::json!(v));
        b
    }

    /// The runtime's shared libraries in the rootfs, at their host paths: an
    /// image that ships a C library lets the kernel run the runtime's image
    /// in the container (`#!/proc/self/exe`).
    fn add_runtime_libs(&self, b: &Bundle) {
        let out = Command::new("ldd").arg(&self.bin).output().expect("ldd");
        let text = String::from_utf8_lossy(&out.stdout);
        for l in text.lines() {
            let Some(p) = l.split_whitespace().find(|w| w.starts_with('/')) else {
                continue;
            };
            let dst = b.file(p);
            fs::create_dir_all(dst.parent().unwrap()).unwrap();
            fs::copy(p, &dst).unwrap_or_else(|e| panic!("copy {p}: {e}"));
            let (u, g) = self.owner_in(b);
            std::os::unix::fs::chown(&dst, Some(u), Some(g)).unwrap();
        }
    }

    /// Who owns the rootfs on the host.
    fn owner_in(&self, b: &Bundle) -> (u32, u32) {
        let m = fs::metadata(b.rootfs()).unwrap();
        (m.uid(), m.gid())
    }

    /// Whether `exec` works here: as root, not into a fake-root container
    /// with a user namespace of its own (a documented limit).
    fn exec_allowed(&self, tracer: Tracer) -> bool {
        !(self.ctx.mode.has_userns_as_root() && tracer == Tracer::On)
    }

    #[track_caller]
    fn create_start(&self, b: &Bundle, id: &str) {
        self.rt(["create", "--bundle"])
            .arg(b.path.to_string_lossy())
            .arg(id)
            .run()
            .ok();
        self.rt(["start", id]).run().ok();
    }

    fn exec(&self, id: &str, args: &[&str]) -> integration::Out {
        self.rt(["exec", id]).args(args).run()
    }

    #[track_caller]
    fn exec_detached(&self, id: &str, args: &[&str]) {
        self.rt(["exec", "-d", id]).args(args).run().ok();
    }

    /// `exec` of `true` is refused with one clear line.
    #[track_caller]
    fn assert_exec_refused(&self, id: &str) {
        let out = self.exec(id, &["true"]);
        out.assert_clean_error(&["not supported", "user namespace"]);
    }
}

/// Wait until a file in the rootfs satisfies `pred`; None after `timeout`.
fn wait_opt(
    b: &Bundle,
    rel: &str,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = b.read(rel).filter(|s| pred(s)) {
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Wait for a file in the rootfs to hold a line equal to `line`.
#[track_caller]
fn wait_line(b: &Bundle, rel: &str, line: &str) -> String {
    b.wait_for(rel, WAIT, |s| s.lines().any(|l| l == line))
}

// ---- 1. ptrace and /proc of the runtime's processes -----------------------

/// PID 1 (the tracer) and exec's tracer (the parent of an exec'd `sleep
/// 777`, named rlrt-init): ptrace ATTACH/SEIZE, /proc/PID/{mem, environ,
/// exe, cwd, root, fd}, process_vm_readv, pidfd_getfd all fail, and the
/// runtime's environment is nowhere to be read.
fn ptrace_tracers(ctx: &Ctx) {
    let lab = Lab::new(ctx);
    let b = lab.bundle(Tracer::On);
    b.set_sh("/attacks/probe 1 comm:rlrt-init >/init.out 2>&1; sleep 1000");
    let id = ctx.id();
    lab.create_start(&b, &id);
    let out = wait_line(&b, "init.out", "done");
    assert_contained("probe of PID 1 from the init's side", &out, &lab.secret);
    assert!(
        targets(&out).iter().any(|(p, _)| *p == 1),
        "PID 1 was not attacked: {out}"
    );
    if lab.exec_allowed(Tracer::On) {
        lab.exec_detached(&id, &["sleep", "777"]);
        let out = lab.exec(
            &id,
            &["/attacks/probe", "1", "parent:sleep 777", "comm:rlrt-init"],
        );
        assert!(out.success(), "{out}");
        assert_contained("probe of PID 1 and exec's tracer", &out.stdout, &lab.secret);
        let t = targets(&out.stdout);
        assert!(
            t.iter().any(|(p, _)| *p == 1) && t.iter().any(|(p, _)| *p != 1),
            "PID 1 and exec's tracer were not both attacked: {out}"
        );
    } else {
        lab.assert_exec_refused(&id);
    }
    lab.check_host();
}
matrix!(ptrace_tracers: user, root, root_userns, root_single);

// ---- 2. overwriting the runtime binary ----------------------------------

/// Write, truncate, chmod, chown, setxattr of every runtime process's image
/// through /proc/PID/exe, and a kept O_PATH handle reopened for writing;
/// the runtime copy keeps its bytes, mode, owner and xattrs.
fn overwrite_runtime(ctx: &Ctx) {
    let lab = Lab::own_copy(ctx);
    let b = lab.bundle(Tracer::On);
    b.set_sh("/attacks/overwrite 300 >/init.out 2>&1; sleep 1000");
    let id = ctx.id();
    lab.create_start(&b, &id);
    let out = wait_line(&b, "init.out", "done");
    assert_contained("overwrite from the init's side", &out, &lab.secret);
    assert!(
        targets(&out).iter().any(|(p, _)| *p == 1),
        "PID 1 was not attacked: {out}"
    );
    if lab.exec_allowed(Tracer::On) {
        lab.exec_detached(&id, &["sleep", "777"]);
        let out = lab.exec(&id, &["/attacks/overwrite", "300"]);
        assert!(out.success(), "{out}");
        assert_contained("overwrite from an exec'd process", &out.stdout, &lab.secret);
    } else {
        lab.assert_exec_refused(&id);
    }
    ctx.rt(["delete", "--force", &id]).run().ok();
    lab.check_host();
}
matrix!(overwrite_runtime: user, root, root_userns, root_single);

// ---- 3. CVE-2019-5736 -----------------------------------------------------

/// A FIFO whose buffer is full: a process that writes to it blocks until
/// this is dropped. As the stderr of a runtime process run from
/// `#!/proc/self/exe`, it holds that process (and its image) in the
/// container for as long as the attacker needs: the race is won every
/// time, so what is tested is what winning it gives.
struct FullFifo {
    path: PathBuf,
    _rd: OwnedFd,
    _wr: OwnedFd,
}

impl FullFifo {
    fn new(ctx: &Ctx, name: &str) -> FullFifo {
        let path = ctx.path(name);
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: NUL-terminated path; fds are owned right away.
        unsafe {
            assert_eq!(libc::mkfifo(c.as_ptr(), 0o666), 0, "mkfifo {path:?}");
            libc::chmod(c.as_ptr(), 0o666);
            let rd = libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            );
            assert!(rd >= 0, "open {path:?}");
            let rd = OwnedFd::from_raw_fd(rd);
            let wr = libc::open(
                c.as_ptr(),
                libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            );
            assert!(wr >= 0, "open {path:?}");
            let wr = OwnedFd::from_raw_fd(wr);
            let buf = [b'x'; 4096];
            while libc::write(wr.as_raw_fd(), buf.as_ptr().cast(), buf.len()) > 0 {}
            FullFifo {
                path,
                _rd: rd,
                _wr: wr,
            }
        }
    }
}

/// The attacker's summary: how many runtime-image processes it caught.
fn observed(out: &str) -> usize {
    out.lines().filter(|l| l.starts_with("observed ")).count()
}

/// As an exec'd command: the container's workload races over /proc/*/exe
/// while `exec <id> /evil` makes the kernel run the runtime's image in the
/// container; it keeps a handle, stops and kills that process and keeps
/// reopening the handle for writing once the runtime's processes are gone.
fn cve_2019_5736_exec_with(lab: &Lab, tracer: Tracer) {
    let ctx = lab.ctx;
    let b = lab.bundle(tracer);
    lab.add_runtime_libs(&b);
    b.set_sh(&format!(
        "/attacks/race {} 60000 /race-stop >/race.out 2>&1; sleep 1000",
        lab.size()
    ));
    let id = ctx.id();
    lab.create_start(&b, &id);
    wait_line(&b, "race.out", "ready");
    let mut caught = false;
    let mut calls = Vec::new();
    for attempt in 0..3 {
        let fifo = FullFifo::new(ctx, &format!("fifo-{id}-{attempt}"));
        let running: Running = lab
            .rt_redirected(None, Some(&fifo.path), &["exec", &id, "/evil"])
            .timeout(Duration::from_secs(20))
            .spawn();
        caught = wait_opt(&b, "race.out", Duration::from_secs(10), |s| observed(s) > 0).is_some();
        // The attacker kills what it caught; the exec call then ends, and
        // with it the last runtime process using the image.
        drop(fifo);
        calls.push(running.wait());
        if caught {
            break;
        }
    }
    // Give its write loop a moment on an image nobody runs any more.
    std::thread::sleep(Duration::from_millis(500));
    fs::write(b.file("race-stop"), "").unwrap();
    let out = wait_line(&b, "race.out", "done");
    assert_contained(
        "CVE-2019-5736 against an exec'd #!/proc/self/exe",
        &out,
        &lab.secret,
    );
    assert!(caught, "the attacker never saw the runtime's image: {out}");
    for c in calls {
        assert!(!c.timed_out, "{c}");
    }
    ctx.rt(["delete", "--force", &id]).run().ok();
}

/// As the container's command: /evil is the workload; the attacker, exec'd
/// into the container, catches the runtime's image while that process is
/// held, and tries the same.
fn cve_2019_5736_command_with(lab: &Lab, tracer: Tracer) {
    let ctx = lab.ctx;
    let b = lab.bundle(tracer);
    lab.add_runtime_libs(&b);
    b.set_args(&["/evil"]);
    let id = ctx.id();
    let fifo = FullFifo::new(ctx, &format!("fifo-{id}"));
    lab.rt_redirected(
        None,
        Some(&fifo.path),
        &["create", "--bundle", &b.path.to_string_lossy(), &id],
    )
    .run()
    .ok();
    lab.rt(["start", &id]).run().ok();
    lab.exec_detached(
        &id,
        &[
            "sh",
            "-c",
            &format!(
                "/attacks/race {} 60000 /race-stop hold >/race.out 2>&1",
                lab.size()
            ),
        ],
    );
    let seen = wait_opt(&b, "race.out", Duration::from_secs(15), |s| observed(s) > 0);
    assert!(
        seen.is_some(),
        "the attacker never saw the runtime's image: {:?}",
        b.read("race.out")
    );
    fs::write(b.file("race-stop"), "").unwrap();
    let out = wait_line(&b, "race.out", "done");
    assert_contained(
        "CVE-2019-5736 against a #!/proc/self/exe command",
        &out,
        &lab.secret,
    );
    drop(fifo);
    ctx.rt(["delete", "--force", &id]).run().ok();
}

/// The tracer settings each variant runs with: fake root wherever exec
/// can join, and the plain runtime (libcontainer's own init and exec)
/// as root.
fn cve_tracers(ctx: &Ctx) -> Vec<Tracer> {
    match ctx.mode {
        Mode::User | Mode::UserCgroupV2 => vec![Tracer::On],
        Mode::Root => vec![Tracer::Off, Tracer::On],
        Mode::RootUserns | Mode::RootSingle => vec![Tracer::Off],
    }
}

fn cve_2019_5736_exec(ctx: &Ctx) {
    let lab = Lab::own_copy(ctx);
    for t in cve_tracers(ctx) {
        cve_2019_5736_exec_with(&lab, t);
    }
    lab.check_host();
}
matrix!(cve_2019_5736_exec: user, root, root_userns, root_single);

fn cve_2019_5736_command(ctx: &Ctx) {
    let lab = Lab::own_copy(ctx);
    for t in cve_tracers(ctx) {
        cve_2019_5736_command_with(&lab, t);
    }
    lab.check_host();
}
matrix!(cve_2019_5736_command: user, root, root_userns, root_single);

// ---- 4. CVE-2024-21626 ----------------------------------------------------

/// process.cwd = /proc/self/fd/N (N = 3..9, with fds 3..5 handed to the
/// runtime as a shim does): the container fails to start or starts inside
/// its rootfs; the workload and an exec'd process (also with `--cwd
/// /proc/self/fd/N`) hold no fd beyond stdio, none leads out of the rootfs,
/// and no fd of a runtime process (the tracer's) can be reached.
fn cve_2024_21626(ctx: &Ctx) {
    let lab = Lab::new(ctx);
    let leak = [3, 4, 5];
    let b = lab.bundle(Tracer::On);
    b.set_args(&["/attacks/fdcheck"]);
    for n in 3..=9 {
        b.edit(|v| v["process"]["cwd"] = serde_json::json!(format!("/proc/self/fd/{n}")));
        let id = ctx.id();
        let out = lab
            .rt(["run", "--bundle", &b.path.to_string_lossy(), &id])
            .leak_fds(&leak)
            .run();
        assert!(!out.timed_out, "{out}");
        if out.success() || out.stdout.contains("note cwd") {
            assert_contained(&format!("cwd /proc/self/fd/{n}"), &out.stdout, &lab.secret);
        }
        ctx.rt(["delete", "--force", &id]).run().ok();
    }
    b.edit(|v| v["process"]["cwd"] = serde_json::json!("/"));
    b.set_sh("/attacks/fdcheck >/init.out 2>&1; sleep 1000");
    let id = ctx.id();
    lab.rt(["create", "--bundle", &b.path.to_string_lossy(), &id])
        .leak_fds(&leak)
        .run()
        .ok();
    lab.rt(["start", &id]).run().ok();
    let out = wait_line(&b, "init.out", "done");
    assert_contained("the init's fds and the tracer's", &out, &lab.secret);
    if lab.exec_allowed(Tracer::On) {
        let out = lab
            .rt(["exec", &id, "/attacks/fdcheck"])
            .leak_fds(&leak)
            .run();
        assert!(out.success(), "{out}");
        assert_contained("an exec'd process's fds", &out.stdout, &lab.secret);
        for n in 3..=9 {
            let cwd = format!("/proc/self/fd/{n}");
            let out = lab
                .rt(["exec", "--cwd", &cwd, &id, "/attacks/fdcheck"])
                .leak_fds(&leak)
                .run();
            assert!(!out.timed_out, "{out}");
            if out.success() || out.stdout.contains("note cwd") {
                assert_contained(&format!("exec --cwd {cwd}"), &out.stdout, &lab.secret);
            }
        }
    } else {
        lab.assert_exec_refused(&id);
    }
    ctx.rt(["delete", "--force", &id]).run().ok();
    lab.check_host();
}
matrix!(cve_2024_21626: user, root, root_userns, root_single);

// ---- 5. the seccomp profile, escaped through another process ------------

/// The spec's seccomp profile denies mkdir/mkdirat (EXDEV): the workload
/// and an exec'd process get the error, and an attacker that seizes PID 1
/// or exec's tracer to run mkdir there (or opens their memory) gets
/// nowhere: no directory appears.
fn seccomp_escape(ctx: &Ctx) {
    let lab = Lab::new(ctx);
    let b = lab.bundle(Tracer::On);
    b.edit(|v| {
        v["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18}]
        })
    });
    b.set_sh(
        "mkdir /tmp/by-init 2>/init.mkdir; echo $? >>/init.mkdir; \
         /attacks/probe --mkdir /seccomp-escape 1 comm:rlrt-init >/init.out 2>&1; sleep 1000",
    );
    let id = ctx.id();
    lab.create_start(&b, &id);
    let out = wait_line(&b, "init.out", "done");
    assert_contained("mkdir through PID 1", &out, &lab.secret);
    let m = b.read("init.mkdir").unwrap_or_default();
    assert!(
        m.contains("cross-device") && m.ends_with("1\n"),
        "the profile must deny the workload's mkdir: {m:?}"
    );
    if lab.exec_allowed(Tracer::On) {
        let out = lab.exec(&id, &["mkdir", "/tmp/by-exec"]);
        assert!(
            !out.success() && out.stderr.contains("cross-device"),
            "the profile must deny an exec'd mkdir: {out}"
        );
        lab.exec_detached(&id, &["sleep", "777"]);
        let out = lab.exec(
            &id,
            &[
                "/attacks/probe",
                "--mkdir",
                "/seccomp-escape",
                "1",
                "parent:sleep 777",
            ],
        );
        assert_contained("mkdir through exec's tracer", &out.stdout, &lab.secret);
        assert!(targets(&out.stdout).len() >= 2, "{out}");
    } else {
        lab.assert_exec_refused(&id);
    }
    let made: Vec<String> = integration::dir_entries(&b.rootfs())
        .into_iter()
        .chain(integration::dir_entries(&b.file("tmp")))
        .filter(|n| n.starts_with("seccomp-escape") || n.starts_with("by-"))
        .collect();
    assert!(made.is_empty(), "a denied mkdir happened: {made:?}");
    lab.check_host();
}
matrix!(seccomp_escape: user, root, root_userns, root_single);

/// The same profile with CAP_SYS_PTRACE granted to the workload: it could
/// seize the tracer (PID 1), which the profile does not confine, and run
/// mkdir there. Such a fake-root container is refused at create, with one
/// line that says why and what to do; without the tracer it runs.
fn seccomp_with_ptrace_cap(ctx: &Ctx) {
    let lab = Lab::new(ctx);
    let b = lab.bundle(Tracer::On);
    b.edit(|v| {
        v["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18}]
        });
        for set in ["bounding", "effective", "permitted"] {
            v["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!("CAP_SYS_PTRACE"));
        }
    });
    b.set_sh("/attacks/probe --mkdir /seccomp-escape 1 comm:rlrt-init; true");
    let id = ctx.id();
    let out = ctx.run(&b, &id);
    out.assert_clean_error(&["CAP_SYS_PTRACE", "seccomp", FAKE_ROOT]);
    assert!(!b.file("seccomp-escape-1").exists(), "{out}");
    b.edit(|v| v["annotations"][FAKE_ROOT] = serde_json::json!("off"));
    b.set_sh("mkdir /tmp/x 2>/dev/null; echo $?");
    let out = ctx
        .rt(["run", "--bundle"])
        .arg(b.path.to_string_lossy())
        .arg(ctx.id())
        .run();
    assert!(out.success() && out.stdout == "1\n", "fake root off: {out}");
    lab.check_host();
}
matrix!(seccomp_with_ptrace_cap: user, root);

// ---- 6. root-mode exec and the container's user namespace ----------------

/// As root, with a user namespace of the container's own (fake root off):
/// an exec'd process is the container's root (its uid_map, a file it
/// creates is host 100000's), and cannot chmod or chown the bind-mounted
/// host /dev/null nor a root-owned host file bind-mounted in.
fn exec_userns(ctx: &Ctx) {
    let mut lab = Lab::new(ctx);
    let decoy = ctx.path("root-decoy");
    fs::write(&decoy, "root's host file\n").unwrap();
    fs::set_permissions(&decoy, fs::Permissions::from_mode(0o644)).unwrap();
    lab.watch(&decoy, true);
    let b = lab.bundle(Tracer::Off);
    b.edit(|v| {
        v["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/decoy", "type": "bind",
            "source": decoy.to_string_lossy(), "options": ["bind", "rw"]
        }))
    });
    let id = ctx.id();
    lab.create_start(&b, &id);
    let attack = "cat /proc/self/uid_map; touch /tmp/made-by-exec; \
        for f in /dev/null /decoy; do \
          chmod 0666 $f && echo ESCAPE chmod $f; chmod 04777 $f && echo ESCAPE chmod-suid $f; \
          chown 0:0 $f && echo ESCAPE chown $f; chown 1:1 $f && echo ESCAPE chown-1 $f; \
          echo overwritten >$f.new 2>/dev/null; \
        done; echo pwned >>/decoy && echo ESCAPE write /decoy; echo done";
    let out = lab.exec(&id, &["sh", "-c", attack]);
    let size = if ctx.mode == Mode::RootSingle {
        1
    } else {
        integration::USERNS_SIZE
    };
    let map: Vec<String> = out
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(
        map,
        [
            "0",
            &integration::USERNS_HOST_ID.to_string(),
            &size.to_string()
        ],
        "the exec'd process must be in the container's user namespace: {out}"
    );
    assert_contained(
        "an exec'd process against host files",
        &out.stdout,
        &lab.secret,
    );
    let made = fs::metadata(b.file("tmp/made-by-exec")).expect("the exec'd process made a file");
    assert_eq!(
        (made.uid(), made.gid()),
        (integration::USERNS_HOST_ID, integration::USERNS_HOST_ID),
        "a file made by exec must be the container's root's on the host"
    );
    lab.check_host();
}
matrix!(exec_userns: root_userns, root_single);

// ---- 7. /proc/self and symlink races against the tracer's path resolution

/// chown/lchown/fchownat of magic links and of symlinks to them, some
/// swapped by other threads in a tight loop (pathrace.c), from the init
/// and from an exec'd process: neither the runtime copy nor the host file
/// the container's stdout goes to gets a new owner, mode or the
/// user.rootlesscontainers xattr; `stat -L /proc/self/exe` is the
/// workload's own image.
fn proc_self_races(ctx: &Ctx) {
    let mut lab = Lab::new(ctx);
    let out_init = ctx.write_file("init-stdout", b"");
    let out_exec = ctx.write_file("exec-stdout", b"");
    // As root without a user namespace the workload is host root with
    // CAP_CHOWN: the kernel lets it chown its own stdout, as under runc
    // (the tracer leaves magic links to the kernel). Everywhere else its
    // owner may not move at all.
    let own_stdout_movable = ctx.mode == Mode::Root;
    if !own_stdout_movable {
        lab.watch(&out_init, false);
        lab.watch(&out_exec, false);
    }
    let b = lab.bundle(Tracer::On);
    b.set_sh(
        "stat -L -c %i /proc/self/exe; stat -c %i /bin/busybox; \
         /attacks/pathrace 600; sleep 1000",
    );
    let id = ctx.id();
    let b_path = b.path.to_string_lossy().into_owned();
    lab.rt_redirected(Some(&out_init), None, &["create", "--bundle", &b_path, &id])
        .run()
        .ok();
    lab.rt(["start", &id]).run().ok();
    let deadline = Instant::now() + WAIT;
    let out = loop {
        let s = fs::read_to_string(&out_init).unwrap_or_default();
        if s.lines().any(|l| l == "done") || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_contained("path races from the init", &out, &lab.secret);
    let inodes: Vec<&str> = out.lines().take(2).collect();
    assert!(
        inodes.len() == 2 && inodes[0] == inodes[1],
        "stat -L /proc/self/exe must be busybox's own inode: {out}"
    );
    assert!(
        out.contains("/tmp/harmless owner 4242:4242"),
        "the emulated chowns did not run: {out}"
    );
    if lab.exec_allowed(Tracer::On) {
        let out = lab
            .rt_redirected(
                Some(&out_exec),
                None,
                &["exec", &id, "/attacks/pathrace", "600"],
            )
            .run();
        assert!(out.success(), "{out}");
        let s = fs::read_to_string(&out_exec).unwrap();
        assert_contained("path races from an exec'd process", &s, &lab.secret);
    } else {
        lab.assert_exec_refused(&id);
    }
    ctx.rt(["delete", "--force", &id]).run().ok();
    for f in [&out_init, &out_exec] {
        let x = xattrs(f);
        assert!(
            !x.contains_key("user.rootlesscontainers"),
            "the tracer recorded an owner on the host file {f:?}: {x:?}"
        );
        if own_stdout_movable {
            let m = fs::metadata(f).unwrap();
            assert!(
                (m.uid(), m.gid()) == (0, 0) || (m.uid(), m.gid()) == (4242, 4242),
                "{f:?} owner {}:{}",
                m.uid(),
                m.gid()
            );
            assert_eq!(m.mode() & 0o7777, 0o644, "{f:?} mode");
        }
    }
    lab.check_host();
}
matrix!(proc_self_races: user, root, root_userns, root_single);

// ---- 8. fd exhaustion -----------------------------------------------------

/// RLIMIT_NOFILE 256/256 and 320 short-lived processes, each an emulated
/// chown and stat: every result right (the tracer's fd caches fit the
/// container's limit).
fn nofile_256(ctx: &Ctx) {
    let lab = Lab::new(ctx);
    let b = lab.bundle(Tracer::On);
    b.edit(|v| {
        v["process"]["rlimits"] =
            serde_json::json!([{"type": "RLIMIT_NOFILE", "hard": 256, "soft": 256}])
    });
    b.set_sh(
        "touch /tmp/f; i=0; bad=0; \
         while [ $i -lt 320 ]; do i=$((i+1)); \
           r=$(sh -c \"chown $i:$((i+1)) /tmp/f && stat -c %u:%g /tmp/f\" 2>&1); \
           [ \"$r\" = \"$i:$((i+1))\" ] || { bad=$((bad+1)); echo \"process $i: $r\"; }; \
         done; echo \"checked $i wrong $bad\"; ulimit -n",
    );
    let id = ctx.id();
    let out = lab
        .rt(["run", "--bundle", &b.path.to_string_lossy(), &id])
        .timeout(Duration::from_secs(90))
        .run();
    assert!(out.success(), "{out}");
    assert!(
        out.stdout.contains("checked 320 wrong 0\n256\n"),
        "emulated chown/stat broke under RLIMIT_NOFILE 256: {out}"
    );
    lab.check_host();
}
matrix!(nofile_256: user, root, root_userns, root_single);

// ---- 9. reserved ids --------------------------------------------------------

/// Every state-root-touching command with `.rlrt`, `.lock` or `.x` fails with
/// one clear line and changes nothing under the state root, where a real
/// container lives on.
fn reserved_ids(ctx: &Ctx) {
    let lab = Lab::new(ctx);
    let b = lab.bundle(Tracer::On);
    let quick = lab.bundle(Tracer::On);
    quick.set_args(&["true"]);
    let id = ctx.id();
    lab.create_start(&b, &id);
    let before = tree(&ctx.root);
    let bundle = quick.path.to_string_lossy().into_owned();
    for bad in [".rlrt", ".lock", ".x"] {
        let calls: [Vec<&str>; 7] = [
            vec!["create", "--bundle", &bundle, bad],
            vec!["run", "--bundle", &bundle, bad],
            vec!["state", bad],
            vec!["kill", bad, "KILL"],
            vec!["delete", bad],
            vec!["delete", "--force", bad],
            vec!["exec", bad, "true"],
        ];
        for args in calls {
            let out = lab.rt(&args).run();
            if ctx.root.join(bad).is_dir() && bad == ".x" {
                // it was made: take it away (with a runtime that made it)
                let _ = lab.rt(["delete", "--force", bad]).run();
            }
            out.assert_clean_error(&["reserved", "invalid"]);
        }
    }
    assert_eq!(tree(&ctx.root), before, "the state root changed");
    let st = ctx.state(&id);
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(st["bundle"], b.path.to_string_lossy().as_ref(), "{st}");
    lab.check_host();
}
matrix!(reserved_ids: user, root);

/// Every path under a directory with its type, size and mtime.
fn tree(root: &Path) -> BTreeMap<PathBuf, (u32, u64, i64, i64)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                todo.push(p.clone());
            }
            out.insert(
                p.strip_prefix(root).unwrap().to_path_buf(),
                (m.mode(), m.size(), m.mtime(), m.mtime_nsec()),
            );
        }
    }
    out
}

// ---- 10. CLONE_UNTRACED -----------------------------------------------------

/// A process that dropped its fake root IDs (setresuid 1000, so the tracer
/// follows it) asks for an untraced child: clone(CLONE_UNTRACED) fails or
/// gives a child that is still uid 1000; clone3 is ENOSYS; fork works.
fn clone_untraced(ctx: &Ctx) {
    let lab = Lab::new(ctx);
    let b = lab.bundle(Tracer::On);
    b.set_args(&["/attacks/untraced"]);
    let id = ctx.id();
    let out = lab
        .rt(["run", "--bundle", &b.path.to_string_lossy(), &id])
        .run();
    assert!(out.success(), "{out}");
    assert_contained("CLONE_UNTRACED", &out.stdout, &lab.secret);
    let s = &out.stdout;
    assert!(
        s.contains("clone-untraced ok\n") || s.contains("clone-untraced refused"),
        "{out}"
    );
    assert!(
        s.contains("clone3 ENOSYS\n"),
        "clone3 must be ENOSYS: {out}"
    );
    assert!(s.contains("fork ok\n"), "{out}");
    lab.check_host();
}
matrix!(clone_untraced: user, root, root_userns, root_single);
