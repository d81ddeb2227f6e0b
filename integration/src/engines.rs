//! Real container engines driving the runtime as the test user, who has no
//! subordinate IDs: rootless podman (and buildah, through `podman build`)
//! and a containerd the user starts in `unshare -Urm`.
//!
//! Isolation: every test process gets its own podman home — `HOME`,
//! `XDG_RUNTIME_DIR` (podman's pause process, runroot, and rootlessrt's
//! default state root), `XDG_CONFIG_HOME` (`containers.conf`,
//! `storage.conf`: vfs with `ignore_chown_errors`, what a user without
//! subuid needs), `XDG_DATA_HOME` (the image store) and `TMPDIR` — under the
//! harness's base dir, so parallel runs (other worktrees) never share a
//! store or a pause process. The Debian image is imported once per process
//! from the local tarball (`podman import`), no registry. Each containerd
//! has its own root, state, socket and, in its mount namespace, its own
//! `/run`.
//!
//! Missing engines are failures, not skips: `.ci/run` installs podman,
//! slirp4netns, containerd and uidmap.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{env, is_root, procs, Cmd, Ctx, Running};

/// apt-get, `podman build` and the first image import may take minutes.
pub const SLOW: Duration = Duration::from_secs(600);

/// The Debian bookworm rootfs tarball: `RLRT_DEBIAN_TAR`, else what
/// hack/debian-rootfs.sh prints (as root it builds it once, then returns at
/// once), else its cache path.
pub fn debian_tarball() -> PathBuf {
    if let Some(p) = std::env::var_os("RLRT_DEBIAN_TAR") {
        return PathBuf::from(p);
    }
    if is_root() {
        let script = crate::workspace_root().join("hack/debian-rootfs.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("run {script:?}: {e}"));
        let printed = String::from_utf8_lossy(&out.stdout);
        match printed.lines().last().map(|l| PathBuf::from(l.trim())) {
            Some(p) if out.status.success() && p.is_file() => return p,
            _ => panic!(
                "hack/debian-rootfs.sh failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
    let cache = std::env::var_os("RLRT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/cache/rootlessrt".into());
    cache.join("debian-bookworm.tar")
}

/// The absolute path of a program, or a failure naming the package.
#[track_caller]
pub fn require(program: &str, package: &str) -> PathBuf {
    for dir in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        let p = Path::new(dir).join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!("{program} is not installed: apt-get install {package} (.ci/run installs it)");
}

fn chown_to_user(p: &Path) {
    if let Some(u) = env().user.as_ref().filter(|_| is_root()) {
        std::os::unix::fs::chown(p, Some(u.uid), Some(u.gid))
            .unwrap_or_else(|e| panic!("chown {p:?}: {e}"));
    }
}

/// A directory owned by the test user, with `mode`.
fn user_dir(p: &Path, mode: u32) -> PathBuf {
    fs::create_dir_all(p).unwrap_or_else(|e| panic!("mkdir {p:?}: {e}"));
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    chown_to_user(p);
    p.to_path_buf()
}

fn user_file(p: &Path, text: &str) {
    fs::write(p, text).unwrap_or_else(|e| panic!("write {p:?}: {e}"));
    chown_to_user(p);
}

/// The user namespace inode of a process (None: gone or not ours to read).
pub fn userns_of(pid: i32) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/user"))
        .ok()
        .map(|l| l.to_string_lossy().into_owned())
}

/// SIGKILLs every process that lives in the user namespace of `pid`
/// (all of them were started by the engine the test started), and waits
/// until they are gone.
pub fn kill_userns_of(pid: i32) {
    let Some(ns) = userns_of(pid) else { return };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<procs::Proc> = procs::all()
            .into_iter()
            .filter(|p| userns_of(p.pid).as_deref() == Some(ns.as_str()))
            .filter(|p| p.alive())
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            return;
        }
        for p in &left {
            p.kill();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// podman

/// The image every podman test starts from.
pub const IMAGE: &str = "localhost/rlrt-debian:bookworm";

/// A private podman (and buildah) setup of this test process.
pub struct Podman {
    pub dir: PathBuf,
    /// `$XDG_RUNTIME_DIR` of podman (and of the runtimes it runs).
    pub run_dir: PathBuf,
    pub import_secs: f64,
}

static PODMAN: OnceLock<Result<Podman, String>> = OnceLock::new();

extern "C" fn remove_podman() {
    if let Some(Ok(p)) = PODMAN.get() {
        p.teardown();
    }
}

/// The runtime of this test process, by path, as `podman --runtime` takes it.
pub fn rootlessrt() -> String {
    env().bin.to_string_lossy().into_owned()
}

impl Podman {
    /// This process's podman home, created (and the Debian image imported)
    /// by the first caller.
    #[track_caller]
    pub fn shared(ctx: &Ctx) -> &'static Podman {
        let p = PODMAN.get_or_init(|| Podman::setup(ctx));
        match p {
            Ok(p) => p,
            Err(e) => panic!("podman setup failed: {e}"),
        }
    }

    fn setup(ctx: &Ctx) -> Result<Podman, String> {
        require("podman", "podman");
        require("conmon", "conmon");
        let tar = debian_tarball();
        if !tar.is_file() {
            return Err(format!(
                "no Debian tarball at {tar:?}: run `sudo hack/debian-rootfs.sh`"
            ));
        }
        let dir = user_dir(&env().base.join("podman"), 0o755);
        let run_dir = user_dir(&dir.join("run"), 0o700);
        for d in ["home", "data", "tmp", "config", "config/containers"] {
            user_dir(&dir.join(d), 0o700);
        }
        // What a user without subuid needs: every layer file is the user's.
        user_file(
            &dir.join("config/containers/storage.conf"),
            "[storage]\ndriver = \"vfs\"\n\n[storage.options]\nignore_chown_errors = \"true\"\n",
        );
        // No systemd on the CI machine: cgroupfs and a file event log. The
        // runtime is registered by name, as docs/engines.md shows.
        user_file(
            &dir.join("config/containers/containers.conf"),
            &format!(
                "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\n\
                 [engine.runtimes]\nrootlessrt = [\"{}\"]\n",
                rootlessrt()
            ),
        );
        // SAFETY: registering a plain extern "C" fn.
        unsafe { libc::atexit(remove_podman) };
        let p = Podman {
            dir,
            run_dir,
            import_secs: 0.0,
        };
        let t0 = Instant::now();
        let out = p
            .cmd(
                ctx,
                ["import", "--change", "ENV=DEBIAN_FRONTEND=noninteractive"],
            )
            .arg(tar.to_string_lossy())
            .arg(IMAGE)
            .timeout(SLOW)
            .run();
        if !out.success() {
            return Err(format!("podman import: {out}"));
        }
        Ok(Podman {
            import_secs: t0.elapsed().as_secs_f64(),
            ..p
        })
    }

    /// `podman ARGS` as the test user, in this process's podman home.
    pub fn cmd<'a, I: IntoIterator<Item = S>, S: AsRef<str>>(
        &self,
        ctx: &'a Ctx,
        args: I,
    ) -> Cmd<'a> {
        let d = |s: &str| self.dir.join(s).to_string_lossy().into_owned();
        ctx.sh_cmd(["podman"])
            .args(args)
            .env("HOME", &d("home"))
            .env("XDG_RUNTIME_DIR", &self.run_dir.to_string_lossy())
            .env("XDG_CONFIG_HOME", &d("config"))
            .env("XDG_DATA_HOME", &d("data"))
            .env("TMPDIR", &d("tmp"))
            .timeout(SLOW)
    }

    /// `podman --runtime RUNTIME ARGS`.
    pub fn with<'a, I: IntoIterator<Item = S>, S: AsRef<str>>(
        &self,
        ctx: &'a Ctx,
        runtime: &str,
        args: I,
    ) -> Cmd<'a> {
        self.cmd(ctx, ["--runtime", runtime]).args(args)
    }

    /// Where rootlessrt keeps its state when podman runs it: its default
    /// root, `$XDG_RUNTIME_DIR/rootlessrt`.
    pub fn state_root(&self) -> PathBuf {
        self.run_dir.join("rootlessrt")
    }

    /// Removes named containers (and, with `images`, images) when dropped,
    /// even when the test failed.
    pub fn guard<'a>(&'a self, ctx: &'a Ctx) -> PodmanGuard<'a> {
        PodmanGuard {
            podman: self,
            ctx,
            containers: Vec::new(),
            images: Vec::new(),
        }
    }

    fn teardown(&self) {
        // Every process podman started (the pause process holding its user
        // namespace, conmon, containers, slirp4netns) is in that namespace.
        let pid_file = self.run_dir.join("libpod/tmp/pause.pid");
        if let Some(pid) = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            kill_userns_of(pid);
        }
        if std::env::var_os("RLRT_KEEP_TMP").is_some() {
            return;
        }
        if !is_root() {
            // Image layers hold read-only directories.
            let _ = std::process::Command::new("chmod")
                .args(["-R", "u+rwX"])
                .arg(&self.dir)
                .status();
        }
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_dir(env().base.clone());
    }
}

pub struct PodmanGuard<'a> {
    podman: &'a Podman,
    ctx: &'a Ctx,
    containers: Vec<String>,
    images: Vec<String>,
}

impl PodmanGuard<'_> {
    /// A container name unique to this test, removed at the end.
    pub fn name(&mut self, what: &str) -> String {
        let n = format!(
            "{}-{what}-{}",
            self.ctx.name.replace('_', "-"),
            std::process::id()
        );
        self.containers.push(n.clone());
        n
    }
    /// An image tag unique to this test, removed at the end.
    pub fn image(&mut self, what: &str) -> String {
        let n = format!(
            "localhost/{}-{what}:{}",
            self.ctx.name.replace('_', "-"),
            std::process::id()
        );
        self.images.push(n.clone());
        n
    }
}

impl Drop for PodmanGuard<'_> {
    fn drop(&mut self) {
        if !self.containers.is_empty() {
            let _ = self
                .podman
                .cmd(self.ctx, ["rm", "-f", "-t", "0"])
                .args(&self.containers)
                .timeout(Duration::from_secs(60))
                .run();
        }
        if !self.images.is_empty() {
            let _ = self
                .podman
                .cmd(self.ctx, ["rmi", "-f"])
                .args(&self.images)
                .timeout(Duration::from_secs(60))
                .run();
        }
    }
}

// ---------------------------------------------------------------------------
// containerd

/// A containerd the test user started in `unshare -Urm` with a tmpfs on
/// `/run` (its shim sockets and FIFOs live under `/run/containerd`): the
/// rootless containerd of containerd-contract.md, without RootlessKit.
pub struct Containerd<'a> {
    ctx: &'a Ctx,
    pub dir: PathBuf,
    pub socket: PathBuf,
    /// containerd's pid (uid 0 of its own user namespace).
    pub pid: i32,
    daemon: Option<Running>,
}

impl<'a> Containerd<'a> {
    #[track_caller]
    pub fn start(ctx: &'a Ctx) -> Containerd<'a> {
        require("containerd", "containerd");
        require("ctr", "containerd");
        require("nsenter", "util-linux");
        let dir = user_dir(&ctx.dir.join("containerd"), 0o755);
        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        user_file(
            &config,
            &format!(
                "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
                 [grpc]\n  address = \"{1}\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\"]\n  disable_cgroup = true\n",
                dir.display(),
                socket.display()
            ),
        );
        let log = dir.join("containerd.log");
        let daemon = ctx
            .sh_cmd(["unshare", "-Urm", "sh", "-c"])
            .arg("mount -t tmpfs tmpfs /run && exec containerd --config \"$1\" >\"$2\" 2>&1")
            .args(["sh", &config.to_string_lossy(), &log.to_string_lossy()])
            .timeout(Duration::from_secs(24 * 3600))
            .spawn();
        let deadline = Instant::now() + Duration::from_secs(30);
        let pid = loop {
            let found = procs::all().into_iter().find(|p| {
                p.cmdline.starts_with("containerd --config")
                    && p.cmdline.contains(&*config.to_string_lossy())
            });
            if let Some(p) = found.filter(|_| socket.exists()) {
                break p.pid;
            }
            if Instant::now() > deadline {
                let _ = kill_group(&daemon);
                panic!(
                    "containerd did not start in 30 s:\n{}",
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Containerd {
            ctx,
            dir,
            socket,
            pid,
            daemon: Some(daemon),
        }
    }

    /// `ctr ARGS` in containerd's user and mount namespaces (ctr makes its
    /// FIFOs under /run/containerd, which only exists there), as nerdctl
    /// does with `nsenter`.
    pub fn ctr<I: IntoIterator<Item = S>, S: AsRef<str>>(&self, args: I) -> Cmd<'a> {
        self.ctx
            .sh_cmd(["nsenter", "-U", "-m", "--preserve-credentials", "-t"])
            .arg(self.pid.to_string())
            .args(["ctr", "--address"])
            .arg(self.socket.to_string_lossy())
            .args(args)
            .timeout(Duration::from_secs(120))
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }
}

fn kill_group(r: &Running) -> std::io::Result<()> {
    // SAFETY: signalling the process group the harness created for it.
    match unsafe { libc::kill(-(r.pid() as i32), libc::SIGKILL) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

impl Drop for Containerd<'_> {
    fn drop(&mut self) {
        // containerd, its shims and the containers: all in its namespace.
        kill_userns_of(self.pid);
        if let Some(d) = self.daemon.take() {
            let _ = kill_group(&d);
            d.wait();
        }
    }
}
