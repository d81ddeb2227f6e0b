//! Package managers work rootless: a real Debian bookworm rootfs, imported by
//! the unprivileged test user (no subuid) with `rootlessrt fakeroot -- tar`,
//! runs apt-get, dpkg, useradd and su under the ID-emulation tracer.
//!
//! Run: `cargo test -p integration --test debian` (as root with
//! `RLRT_TEST_USER=rlrt-test`, or directly as an unprivileged user).
//!
//! The rootfs tarball comes from `hack/debian-rootfs.sh` (debootstrap, cached
//! in /var/cache/rootlessrt; `RLRT_DEBIAN_TAR` overrides). As root the tests
//! build it, and fail when they cannot; a user without the tarball cannot
//! build it, so there every test is SKIPPED with the reason — unless `CI` or
//! `RLRT_DEBIAN_REQUIRED` is set, then they fail. A missing runc or umoci
//! fails its test (`hack/test.sh` installs both).
//!
//! One rootfs is imported per test process and shared by the tests that need
//! apt's results: importing it, `apt-get update` and `apt-get install cowsay`
//! (then `man-db libutempter0 acl`) happen once, in [`fixture`], and the tests
//! using it are serialized by a lock. The runc and umoci tests unpack their
//! own copies.

use integration::{env, is_root, skip_reason, workspace_root, Bundle, Ctx, Mode, Out};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

const APT_TIMEOUT: Duration = Duration::from_secs(900);
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------
// tarball, skipping

fn required() -> bool {
    ["CI", "RLRT_DEBIAN_REQUIRED"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false"))
}

/// Report a deliberate skip (a counted `SKIPPED` line, see
/// [`integration::skip`]), or fail when the tests are required.
fn skip(name: &str, why: &str) {
    if required() {
        panic!("{name}: cannot run, and CI/RLRT_DEBIAN_REQUIRED is set: {why}");
    }
    integration::skip(&format!("debian::{name}"), why);
}

fn default_tarball() -> PathBuf {
    if let Some(p) = std::env::var_os("RLRT_DEBIAN_TAR") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("RLRT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/cache/rootlessrt".into());
    cache.join("debian-bookworm.tar")
}

/// Why there is no tarball: the tests fail (root could not build it) or are
/// skipped (a user, who cannot).
#[derive(Clone)]
enum NoTarball {
    Fail(String),
    Skip(String),
}

/// The rootfs tarball, built with hack/debian-rootfs.sh when we are root.
fn tarball() -> Result<PathBuf, NoTarball> {
    static T: OnceLock<Result<PathBuf, NoTarball>> = OnceLock::new();
    T.get_or_init(|| {
        let want = default_tarball();
        if is_root() {
            // Returns at once when the cached tarball is current.
            let script = workspace_root().join("hack/debian-rootfs.sh");
            eprintln!("debian: {} (cached after the first run; debootstrap takes minutes)", script.display());
            let out = Command::new("bash")
                .arg(&script)
                .output()
                .map_err(|e| NoTarball::Fail(format!("run {script:?}: {e}")))?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = err.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
                if want.is_file() {
                    eprintln!("debian: debian-rootfs.sh failed, using the existing {want:?}:\n{}", tail.join("\n"));
                } else {
                    // Root can build it: a prerequisite that is missing, not a
                    // reason to skip (debootstrap, the mirror).
                    return Err(NoTarball::Fail(format!(
                        "the Debian tarball cannot be built (debootstrap installed? the Debian mirror reachable?): hack/debian-rootfs.sh failed:\n{}",
                        tail.join("\n")
                    )));
                }
            } else if let Some(p) = String::from_utf8_lossy(&out.stdout).lines().last() {
                let p = PathBuf::from(p.trim());
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
        if want.is_file() && fs::metadata(&want).map(|m| m.len() > 0).unwrap_or(false) {
            Ok(want)
        } else {
            Err(NoTarball::Skip(format!(
                "no Debian tarball at {want:?}, and not root to build it (run `sudo hack/debian-rootfs.sh` or set RLRT_DEBIAN_TAR)"
            )))
        }
    })
    .clone()
}

/// Common preconditions: the user mode and the tarball. None: skipped.
fn setup(name: &str) -> Option<PathBuf> {
    if let Some(why) = skip_reason(Mode::User) {
        skip(name, &why);
        return None;
    }
    match tarball() {
        Ok(t) => Some(t),
        Err(NoTarball::Fail(why)) => panic!("{name}: {why}"),
        Err(NoTarball::Skip(why)) => {
            skip(name, &why);
            None
        }
    }
}

// ---------------------------------------------------------------------------
// helpers

fn script_text(rel: &str) -> String {
    let p = workspace_root().join(rel);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {p:?}: {e}"))
}

/// hack/debian-bundle.sh ARGS as the test user (fed on stdin: the checkout
/// may not be readable by that user).
#[track_caller]
fn import(ctx: &Ctx, tar: &Path, args: &[&str]) -> Out {
    let bin = env().bin.to_string_lossy().into_owned();
    let t0 = Instant::now();
    let out = ctx
        .sh_cmd(["bash", "-s", "--", "--tar"])
        .arg(tar.to_string_lossy())
        .args(args)
        .env("RLRT", &bin)
        .stdin(script_text("hack/debian-bundle.sh"))
        .timeout(STEP_TIMEOUT)
        .run();
    assert!(out.success(), "hack/debian-bundle.sh failed: {out}");
    eprintln!("debian: import {args:?} took {:?}", t0.elapsed());
    out
}

/// A bundle in the test's dir whose config comes from `spec --rootless`, with
/// `root.path` pointing at `rootfs` (absolute), no terminal.
#[track_caller]
fn bundle_on(ctx: &Ctx, rootfs: &Path, args: &[&str]) -> Bundle {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = ctx.mkdir(&format!("deb-bundle{n}"));
    ctx.rt(["spec", "--rootless"]).cwd(&dir).run().ok();
    let b = Bundle { path: dir };
    b.edit(|v| {
        v["root"]["path"] = json!(rootfs.to_string_lossy());
        v["root"]["readonly"] = json!(false);
        v["process"]["terminal"] = json!(false);
        v["process"]["args"] = json!(args);
        let env = v["process"]["env"].as_array_mut().unwrap();
        env.push(json!("DEBIAN_FRONTEND=noninteractive"));
        env.push(json!("LC_ALL=C"));
    });
    b
}

/// `rootlessrt run` the bundle in a fresh container.
#[track_caller]
fn run_bundle(ctx: &Ctx, b: &Bundle, timeout: Duration) -> Out {
    let id = ctx.id();
    ctx.rt(["run", "--bundle"])
        .arg(b.path.to_string_lossy())
        .arg(&id)
        .timeout(timeout)
        .run()
}

/// `rootlessrt run` a shell script on `rootfs` in a fresh container.
#[track_caller]
fn run_sh(ctx: &Ctx, rootfs: &Path, script: &str, timeout: Duration) -> Out {
    run_bundle(ctx, &bundle_on(ctx, rootfs, &["sh", "-c", script]), timeout)
}

#[track_caller]
fn run_ok(ctx: &Ctx, rootfs: &Path, script: &str) -> Out {
    let out = run_sh(ctx, rootfs, &format!("set -e; {script}"), STEP_TIMEOUT);
    assert!(out.success(), "container script failed: {out}");
    out
}

/// `user.rootlesscontainers` as the host sees it (None: absent).
fn xattr(p: &Path) -> Option<Vec<u8>> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let name = c"user.rootlesscontainers";
    let mut buf = vec![0u8; 64];
    // SAFETY: valid C strings and a buffer of the given length.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

/// Lines `key value` of a command's stdout as a map.
fn kv(s: &str) -> std::collections::BTreeMap<String, String> {
    s.lines()
        .filter_map(|l| l.rsplit_once(" "))
        .map(|(a, b)| (b.trim().to_string(), a.trim().to_string()))
        .collect()
}

fn cleanup_dir(ctx: &Ctx, p: &Path) {
    // Imported trees hold read-only directories (0555 /proc, ...): make them
    // removable for a non-root harness; a root harness removes them anyway.
    let _ = ctx
        .sh_cmd(["chmod", "-R", "u+rwX"])
        .arg(p.to_string_lossy())
        .timeout(STEP_TIMEOUT)
        .run();
}

// ---------------------------------------------------------------------------
// the shared rootfs: imported once, apt run once

struct Fixture {
    rootfs: PathBuf,
    /// `apt-get update && apt-get install -y cowsay && cowsay hello`
    install: Out,
    import_secs: f64,
    apt_secs: f64,
}

static LOCK: Mutex<()> = Mutex::new(());
static SHARED_DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_shared() {
    if std::env::var_os("RLRT_KEEP_TMP").is_some() {
        return;
    }
    if let Some(d) = SHARED_DIR.get() {
        if !is_root() {
            let _ = Command::new("chmod").args(["-R", "u+rwX"]).arg(d).status();
        }
        let _ = fs::remove_dir_all(d);
        // the harness's own cleanup removes the base dir when it is empty
        let _ = fs::remove_dir(d.parent().unwrap());
    }
}

fn fixture(ctx: &Ctx, tar: &Path) -> &'static Result<Fixture, String> {
    static F: OnceLock<Result<Fixture, String>> = OnceLock::new();
    F.get_or_init(|| {
        // A directory outside any test's Ctx, so that it outlives the first test.
        let e = env();
        let dir = e.base.join("debian-shared");
        let _ = fs::create_dir_all(&dir);
        if let Some(u) = e.user.as_ref().filter(|_| e.is_root) {
            std::os::unix::fs::chown(&dir, Some(u.uid), Some(u.gid)).unwrap();
        }
        SHARED_DIR.set(dir.clone()).unwrap();
        // SAFETY: registering a plain extern "C" fn.
        unsafe { libc::atexit(remove_shared) };

        let t0 = Instant::now();
        let bundle = dir.join("bundle");
        let imp = ctx
            .sh_cmd(["bash", "-s", "--", "--tar"])
            .arg(tar.to_string_lossy())
            .args(["--no-terminal"])
            .arg(bundle.to_string_lossy())
            .env("RLRT", &e.bin.to_string_lossy())
            .stdin(script_text("hack/debian-bundle.sh"))
            .timeout(STEP_TIMEOUT)
            .run();
        if !imp.success() {
            return Err(format!("import failed: {imp}"));
        }
        let import_secs = t0.elapsed().as_secs_f64();
        let rootfs = bundle.join("rootfs");

        let t1 = Instant::now();
        let install = run_sh(
            ctx,
            &rootfs,
            "set -e; apt-get update -q; apt-get install -q -y cowsay; /usr/games/cowsay hello",
            APT_TIMEOUT,
        );
        if !install.success() {
            return Err(format!(
                "apt-get update && apt-get install -y cowsay failed: {install}"
            ));
        }
        let more = run_sh(
            ctx,
            &rootfs,
            "set -e; apt-get install -q -y --no-install-recommends man-db libutempter0 acl",
            APT_TIMEOUT,
        );
        if !more.success() {
            return Err(format!(
                "apt-get install man-db libutempter0 acl failed: {more}"
            ));
        }
        let apt_secs = t1.elapsed().as_secs_f64();
        eprintln!("debian: import {import_secs:.1}s, apt update + 2 installs {apt_secs:.1}s");
        Ok(Fixture {
            rootfs,
            install,
            import_secs,
            apt_secs,
        })
    })
}

/// Lock + fixture for a test using the shared rootfs. None: skipped.
fn shared(name: &str) -> Option<(MutexGuard<'static, ()>, Ctx, &'static Fixture)> {
    let tar = setup(name)?;
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let ctx = Ctx::new(Mode::User, name);
    match fixture(&ctx, &tar) {
        Ok(f) => Some((guard, ctx, f)),
        Err(e) => panic!("the shared Debian rootfs is not usable: {e}"),
    }
}

// ---------------------------------------------------------------------------
// tests

/// (a) apt-get update, apt-get install -y cowsay, and the cow.
#[test]
fn apt_install_cowsay() {
    let Some((_g, ctx, fx)) = shared("apt_install_cowsay") else {
        return;
    };
    let out = &fx.install;
    assert!(
        out.stdout.contains("< hello >") && out.stdout.contains("(oo)"),
        "no cow: {out}"
    );
    assert!(
        !out.stderr.contains("setgroups") && !out.stderr.contains("seteuid"),
        "apt hit an ID error: {out}"
    );
    eprintln!(
        "debian: import {:.1}s, apt {:.1}s",
        fx.import_secs, fx.apt_secs
    );
    // The package stays installed for the next container.
    let again = run_ok(
        &ctx,
        &fx.rootfs,
        "/usr/games/cowsay moo; dpkg -s cowsay | grep '^Status'",
    );
    assert!(again.stdout.contains("< moo >"), "{again}");
    assert!(again.stdout.contains("install ok installed"), "{again}");
}

/// (b) The same steps under runc rootless (single ID, no tracer) fail on the
/// ID calls apt makes: this is why rootlessrt exists.
#[test]
fn runc_rootless_fails() {
    let name = "runc_rootless_fails";
    let Some(tar) = setup(name) else { return };
    let runc = [
        "/usr/sbin/runc",
        "/usr/bin/runc",
        "/usr/local/sbin/runc",
        "/usr/local/bin/runc",
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file());
    let runc =
        runc.expect("runc is not installed (apt-get install runc; hack/test.sh installs it)");
    let ctx = Ctx::new(Mode::User, name);
    let dir = ctx.mkdir("runc-bundle");
    let rootfs = dir.join("rootfs");
    // What a runc user does: plain tar (mknod of /dev nodes fails; owners are lost).
    let out = ctx
        .sh_cmd(["sh", "-c", "mkdir -p \"$1\" && tar -xpf \"$2\" -C \"$1\" 2>/dev/null; test -x \"$1/usr/bin/apt-get\"", "sh"])
        .arg(rootfs.to_string_lossy())
        .arg(tar.to_string_lossy())
        .timeout(STEP_TIMEOUT)
        .run();
    assert!(out.success(), "plain tar extraction as the user: {out}");
    ctx.sh_cmd([runc, "spec", "--rootless"])
        .cwd(&dir)
        .run()
        .ok();
    let b = Bundle { path: dir.clone() };
    let mappings = b.config()["linux"]["uidMappings"].clone();
    assert_eq!(
        mappings.as_array().map(|a| a.len()),
        Some(1),
        "runc spec --rootless maps one ID: {mappings}"
    );
    b.edit(|v| {
        v["root"]["readonly"] = json!(false);
        v["process"]["terminal"] = json!(false);
        v["process"]["args"] = json!([
            "sh",
            "-c",
            "apt-get update && apt-get install -y cowsay && /usr/games/cowsay hello"
        ]);
    });
    let state = ctx.path("runc-state");
    let id = format!("rlrt-deb-runc-{}", std::process::id());
    // runc picks rootless mode by itself (euid != 0); no --rootless needed.
    let out = ctx
        .sh_cmd([runc, "--root"])
        .arg(state.to_string_lossy())
        .args(["run", "--bundle"])
        .arg(dir.to_string_lossy())
        .arg(&id)
        .timeout(STEP_TIMEOUT)
        .run();
    let _ = ctx
        .sh_cmd([runc, "--root"])
        .arg(state.to_string_lossy())
        .args(["delete", "--force", &id])
        .run();
    assert!(!out.timed_out, "{out}");
    assert_ne!(
        out.code,
        Some(0),
        "apt-get under runc rootless unexpectedly worked: {out}"
    );
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("setgroups"),
        "expected apt's setgroups failure: {out}"
    );
    assert!(
        all.contains("seteuid") || all.contains("setegid"),
        "expected apt's seteuid/setegid failure: {out}"
    );
    assert!(!all.contains("(oo)"), "{out}");
    eprintln!(
        "debian: runc rootless: exit {:?}; {}",
        out.code,
        all.lines()
            .filter(|l| l.starts_with("E:"))
            .take(3)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    cleanup_dir(&ctx, &dir);
}

/// (c) After the installs `ls -ln` shows the owners dpkg set and set-gid
/// files keep their bits; on the host the files belong to the user and carry
/// the xattr.
#[test]
fn dpkg_owners_and_setgid() {
    let Some((_g, ctx, fx)) = shared("dpkg_owners_and_setgid") else {
        return;
    };
    let out = run_ok(
        &ctx,
        &fx.rootfs,
        "id -u man; id -g man; getent group utmp shadow mail adm | cut -d: -f1,3; \
         ls -lnd /var/cache/man; \
         stat -c '%u:%g %a %n' /var/cache/man /usr/lib/x86_64-linux-gnu/utempter/utempter /usr/bin/chage \
           /usr/bin/su /var/mail /var/log/apt/term.log /etc/shadow /dev/null",
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(&lines[0..2], &["6", "12"], "man is 6:12 on Debian: {out}");
    let ls = lines
        .iter()
        .find(|l| l.ends_with("/var/cache/man"))
        .unwrap();
    let f: Vec<&str> = ls.split_whitespace().collect();
    assert_eq!((f[2], f[3]), ("6", "12"), "ls -ln /var/cache/man: {out}");
    let st = kv(&out.stdout);
    let want = [
        ("/var/cache/man", "6:12 755"),
        ("/usr/lib/x86_64-linux-gnu/utempter/utempter", "0:43 2755"), // installed by dpkg
        ("/usr/bin/chage", "0:42 2755"),                              // from the imported tarball
        ("/usr/bin/su", "0:0 4755"),
        ("/var/mail", "0:8 2775"),
        ("/var/log/apt/term.log", "0:4 640"), // apt's chown(root:adm)
        ("/etc/shadow", "0:42 640"),
    ];
    for (p, w) in want {
        assert_eq!(st.get(p).map(String::as_str), Some(w), "{p}: {out}");
    }
    // /dev is the runtime's tmpfs, not the rootfs's placeholders.
    // Host side: real owner is the user, the fake one is in the xattr, the
    // set-gid bit is real.
    let u = env().user.as_ref().unwrap();
    let man = fx.rootfs.join("var/cache/man");
    assert_eq!(fs::metadata(&man).unwrap().uid(), u.uid);
    assert_eq!(
        xattr(&man).as_deref(),
        Some(&[0x08, 0x06, 0x10, 0x0c][..]),
        "xattr of {man:?}"
    );
    let ut = fx.rootfs.join("usr/lib/x86_64-linux-gnu/utempter/utempter");
    assert_eq!(fs::metadata(&ut).unwrap().mode() & 0o7777, 0o2755);
    assert_eq!(
        xattr(&ut).as_deref(),
        Some(&[0x10, 43][..]),
        "xattr of {ut:?}"
    );
    assert_eq!(
        xattr(&fx.rootfs.join("usr/bin/su")),
        None,
        "0:0 has no xattr"
    );
}

/// Credentials across fork and set-ID exec, with `noNewPrivileges` off (with
/// it on, set-ID bits are ignored, as the kernel does). In a container the
/// tracer traces a process only from its first credential change or set-ID
/// exec on (docs/tracer.md): these are the cases that tell.
#[test]
fn setid_exec_and_inheritance() {
    let Some((_g, ctx, fx)) = shared("setid_exec_and_inheritance") else {
        return;
    };
    let script = "set -e; \
        perl -e 'if (!fork) { sleep 1; print \"forked-before $<\\n\"; exit } \
                 $< = $> = 1000; if (!fork) { print \"forked-after $< $>\\n\"; exit } \
                 wait; wait; print \"changed $< $>\\n\"'; \
        install -o 1000 -m 4755 /usr/bin/id /srv/u1000-id; \
        install -g mail -m 2755 /usr/bin/id /srv/mail-id; \
        cp /usr/bin/id /srv/nnp-id; chown 1000 /srv/nnp-id; chmod 4755 /srv/nnp-id; \
        as1000() { setpriv --reuid=1000 --regid=1000 --clear-groups \"$@\"; }; \
        echo \"by-root $(/srv/u1000-id -u) $(/srv/u1000-id -ru) $(/srv/mail-id -g) $(/srv/mail-id -rg)\"; \
        echo \"by-1000 $(as1000 /srv/mail-id -u) $(as1000 /srv/mail-id -g) $(as1000 /srv/u1000-id -u)\"; \
        echo \"nnp $(setpriv --no-new-privs /srv/nnp-id -u)\"";
    let b = bundle_on(&ctx, &fx.rootfs, &["sh", "-c", script]);
    b.edit(|v| v["process"]["noNewPrivileges"] = json!(false));
    let out = run_bundle(&ctx, &b, STEP_TIMEOUT);
    assert!(out.success(), "container script failed: {out}");
    let get = |k: &str| out.field(k);
    // Forked before the parent's setuid: still root; after: the new IDs.
    assert_eq!(get("forked-before"), "0", "{out}");
    assert_eq!(get("forked-after"), "1000 1000", "{out}");
    assert_eq!(get("changed"), "1000 1000", "{out}");
    // Set-ID files exec'd by root and by uid 1000 (real IDs unchanged).
    assert_eq!(get("by-root"), "1000 0 8 0", "{out}");
    assert_eq!(get("by-1000"), "1000 8 1000", "{out}");
    // no_new_privs: the set-user-ID bit is ignored.
    assert_eq!(get("nnp"), "0", "{out}");

    // A set-ID file as the container's own process: its first exec must go
    // through the tracer's exec check (not the start-up shortcut).
    let b = bundle_on(&ctx, &fx.rootfs, &["/srv/u1000-id", "-u"]);
    b.edit(|v| v["process"]["noNewPrivileges"] = json!(false));
    let first = run_bundle(&ctx, &b, STEP_TIMEOUT);
    assert!(first.success(), "{first}");
    assert_eq!(first.stdout.trim(), "1000", "{first}");
    let b = bundle_on(&ctx, &fx.rootfs, &["/usr/bin/id", "-u"]);
    let plain = run_bundle(&ctx, &b, STEP_TIMEOUT);
    assert_eq!(plain.stdout.trim(), "0", "{plain}");
}

/// `ids` mode with root's default credentials: root's own chown calls that
/// keep root as owner (dpkg's `fchown(fd, 0, 0)`) run without the tracer,
/// every other one is answered by it, and a process that dropped its
/// credentials, its children and what they exec get EPERM for chown to root
/// all the same (the chown filter the tracer makes it install, inject.rs).
#[test]
fn ids_chown_checked_after_a_drop() {
    let Some((_g, ctx, fx)) = shared("ids_chown_checked_after_a_drop") else {
        return;
    };
    let script = "cd /tmp; rm -f f g; touch f g; \
        chown 0:0 f && echo root00 ok; chown 5:6 g && echo root56 ok; \
        perl -e 'open(my $f, \">\", \"/tmp/g\") or die; \
                 print \"fchown \", (syscall(93, fileno($f), 0, 0) == 0 ? \"ok\" : \"$!\"), \"\\n\"'; \
        setpriv --reuid=1000 --regid=1000 --clear-groups sh -c '\
          chown 0:0 /tmp/f 2>/dev/null; echo dropped $?; \
          sh -c \"chown 0:0 /tmp/f 2>/dev/null; echo child \\$?\"; \
          perl -e \"print qq(perl ), (syscall(93, 0, 0, 0) == 0 ? qq(ok) : qq(\\$!)), qq(\\n)\" </tmp/f; \
          echo traced $(grep TracerPid /proc/self/status | cut -f2)'; \
        echo untraced $(grep TracerPid /proc/self/status | cut -f2)";
    let b = bundle_on(&ctx, &fx.rootfs, &["sh", "-c", script]);
    b.edit(|v| v["annotations"]["io.rootlessrt.fake-root"] = json!("ids"));
    let out = run_bundle(&ctx, &b, STEP_TIMEOUT);
    assert!(out.success(), "container script failed: {out}");
    assert!(out.stderr.trim().is_empty(), "no warning expected: {out}");
    let get = |k: &str| out.field(k);
    assert_eq!(get("root00"), "ok", "{out}");
    assert_eq!(get("root56"), "ok", "{out}");
    assert_eq!(get("fchown"), "ok", "{out}");
    assert_eq!(get("dropped"), "1", "chown to root after the drop: {out}");
    assert_eq!(get("child"), "1", "in a child after the drop: {out}");
    assert_eq!(get("perl"), "Operation not permitted", "{out}");
    // The dropped process is traced by the container's PID 1; root's is not.
    assert_eq!(get("traced"), "1", "{out}");
    assert_eq!(get("untraced"), "0", "{out}");
}

/// The in-process stat shim (crates/statshim) shows what the tracer shows:
/// the same probe, once with the shim preloaded (the default in full mode)
/// and once with `io.rootlessrt.stat-shim=off`, where every stat is a trip
/// to the tracer. Covers xattr owners, a set-gid dir, a symlink and a FIFO
/// (owners kept in the tracer's memory: the shim must defer), a device
/// placeholder, statx (coreutils stat) and fstatat (find, perl). A chroot
/// into a tree without the library runs without ld.so errors.
#[test]
fn stat_shim_agrees_with_the_tracer() {
    let Some((_g, ctx, fx)) = shared("stat_shim_agrees_with_the_tracer") else {
        return;
    };
    let make = "set -e; d=/srv/shim; rm -rf $d; mkdir -p $d/dir; \
        touch $d/f $d/back; chown 12:34 $d/f; chown 5:6 $d/dir; chmod 2750 $d/dir; \
        chown 7:7 $d/back; chown 0:0 $d/back; \
        ln -s f $d/link; chown -h 7:8 $d/link; mkfifo $d/fifo; chown 11:12 $d/fifo; \
        mknod $d/null c 1 3; chown 9:10 $d/null";
    let probe = "d=/srv/shim; \
        echo \"preload ${LD_PRELOAD:-none}\"; \
        echo \"mapped $(grep -c statshim /proc/self/maps)\"; \
        stat -c 'statx %n %u:%g %f %t:%T' $d/f $d/back $d/dir $d/link $d/fifo $d/null; \
        stat -L -c 'follow %n %u:%g' $d/link; \
        find $d -mindepth 1 -printf 'find %p %U:%G %m %y\\n' | sort; \
        perl -e 'for (@ARGV) { my @s = lstat; print \"perl $_ $s[4]:$s[5] $s[2]\\n\" }' $d/f $d/dir $d/link $d/null; \
        perl -e '$n = \"user.rootlesscontainers\"; $b = \"\\0\" x 64; $l = \"\\0\" x 256; $v = \"x\"; \
          $g = syscall(464, -100, $ARGV[0], 0, $n, pack(\"QLL\", unpack(\"Q\", pack(\"p\", $b)), 64, 0), 16); $ge = $! + 0; \
          $ls = syscall(465, -100, $ARGV[0], 0, $l, 256); \
          $s = syscall(463, -100, $ARGV[0], 0, $n, pack(\"QLL\", unpack(\"Q\", pack(\"p\", $v)), 1, 0), 16); $se = $! + 0; \
          print \"xattrat get $g $ge list $ls set $s $se\\n\"' $d/f; \
        rm -rf /tmp/r; mkdir -p /tmp/r/bin; cp /bin/sh /tmp/r/bin/; \
        for l in $(env -u LD_PRELOAD ldd /bin/sh | grep -o '/[^ ]*'); do mkdir -p /tmp/r$(dirname $l); cp $l /tmp/r$l; done; \
        echo \"chroot $(chroot /tmp/r /bin/sh -c 'echo in:${LD_PRELOAD:-none}' 2>&1)\"";
    // Symlink and FIFO owners live in the tracer's memory: make and probe in
    // one container.
    let script = format!("{make}; {probe}");
    let with = run_ok(&ctx, &fx.rootfs, &script);
    let b = bundle_on(&ctx, &fx.rootfs, &["sh", "-c", &script]);
    b.edit(|v| v["annotations"]["io.rootlessrt.stat-shim"] = json!("off"));
    let without = run_bundle(&ctx, &b, STEP_TIMEOUT);
    assert!(without.success(), "{without}");

    assert_eq!(
        with.field("preload"),
        "/dev/.rootlessrt/statshim.so",
        "{with}"
    );
    assert_ne!(with.field("mapped"), "0", "{with}");
    assert_eq!(without.field("preload"), "none", "{without}");
    assert_eq!(without.field("mapped"), "0", "{without}");
    let rest = |o: &Out| -> String {
        o.stdout
            .lines()
            .filter(|l| !l.starts_with("preload ") && !l.starts_with("mapped "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        rest(&with),
        rest(&without),
        "shim: {with}\ntracer: {without}"
    );
    let want = [
        "statx /srv/shim/f 12:34 81a4 0:0",
        "statx /srv/shim/back 0:0 81a4 0:0",
        "statx /srv/shim/dir 5:6 45e8 0:0",
        "statx /srv/shim/link 7:8 a1ff 0:0",
        "statx /srv/shim/fifo 11:12 11a4 0:0",
        "statx /srv/shim/null 9:10 21a4 1:3",
        "follow /srv/shim/link 12:34",
        "find /srv/shim/null 9:10 644 c",
        "perl /srv/shim/dir 5:6 17896",
        // The 6.13 *xattrat calls hide the owner attribute too.
        "xattrat get -1 61 list 0 set -1 1",
        "chroot in:none",
    ];
    for w in want {
        assert!(with.stdout.lines().any(|l| l == w), "missing {w:?}: {with}");
    }
    assert!(!with.stderr.contains("ld.so"), "{with}");
}

/// (d) useradd -m, su, chown -R, install -o, tar --same-owner round trips.
#[test]
fn useradd_su_chown_tar() {
    let Some((_g, ctx, fx)) = shared("useradd_su_chown_tar") else {
        return;
    };
    let out = run_ok(
        &ctx,
        &fx.rootfs,
        "useradd -m -s /bin/sh alice; \
         echo \"ids $(id -u alice):$(id -g alice)\"; \
         echo \"home $(stat -c %u:%g /home/alice)\"; \
         echo \"skel $(stat -c %u:%g /home/alice/.bashrc)\"; \
         echo \"su $(su alice -c id)\"; \
         echo \"su-c $(su -s /bin/sh alice -c 'echo $(id -u) $HOME')\"; \
         mkdir -p /srv/tree/a/b; echo x >/srv/tree/a/b/f; \
         chown -R alice:mail /srv/tree; \
         echo \"chownR $(find /srv/tree -printf '%U:%G\\n' | sort | uniq -c | tr -s ' ' | tr '\\n' ';')\"; \
         install -o alice -g utmp -m 2755 /bin/true /srv/inst; \
         echo \"install $(stat -c '%u:%g %a' /srv/inst)\"; \
         tar --same-owner -C /srv -cpf /tmp/rt.tar tree inst; \
         tar -tvf /tmp/rt.tar --numeric-owner | awk '{print $2}' | sort -u | tr '\\n' ' '; echo; \
         mkdir /tmp/rt; tar --same-owner -xpf /tmp/rt.tar -C /tmp/rt; \
         echo \"untar $(stat -c '%u:%g %a' /tmp/rt/inst) $(stat -c '%u:%g' /tmp/rt/tree/a/b/f)\"",
    );
    let s = &out.stdout;
    let get = |k: &str| out.field(k);
    let ids = get("ids");
    // The first free ID: other tests of the shared rootfs may add users first.
    let (u, g) = ids.split_once(':').expect("uid:gid");
    assert!(u.parse::<u32>().is_ok_and(|u| u >= 1000) && u == g, "{out}");
    assert_eq!(get("home"), ids, "/home/alice owned by alice: {out}");
    assert_eq!(get("skel"), ids, "skeleton files owned by alice: {out}");
    assert_eq!(
        get("su"),
        format!("uid={u}(alice) gid={u}(alice) groups={u}(alice)"),
        "{out}"
    );
    assert_eq!(get("su-c"), format!("{u} /home/alice"), "{out}");
    // every directory and the file: alice:mail (uid:8)
    let chown_r = get("chownR");
    assert_eq!(chown_r.trim(), format!("4 {u}:8;"), "chown -R: {out}");
    assert_eq!(get("install"), format!("{u}:43 2755"), "{out}");
    assert_eq!(
        get("untar"),
        format!("{u}:43 2755 {u}:8"),
        "tar round trip: {out}"
    );
    assert!(
        s.contains(&format!("{u}/43")) && s.contains(&format!("{u}/8")),
        "tar recorded the owners: {out}"
    );
    // Across containers: alice's home is still hers.
    let again = run_ok(
        &ctx,
        &fx.rootfs,
        "stat -c %u:%g /home/alice /srv/inst; su alice -c 'id -un'",
    );
    assert_eq!(again.stdout, format!("{ids}\n{u}:43\nalice\n"), "{again}");
}

/// (e) Ownership set in one exec is seen in the next exec, and after the
/// container is deleted, by a new container on the same rootfs.
#[test]
fn ownership_survives_exec_and_restart() {
    let Some((_g, ctx, fx)) = shared("ownership_survives_exec_and_restart") else {
        return;
    };
    let b = bundle_on(&ctx, &fx.rootfs, &["sleep", "1000"]);
    let id = ctx.id();
    ctx.create_start(&b, &id);
    let ex = |script: &str| -> Out {
        ctx.rt(["exec", &id, "sh", "-c", script])
            .timeout(STEP_TIMEOUT)
            .run()
            .ok()
    };
    ex(
        "set -e; mkdir -p /srv/persist/d; touch /srv/persist/f /srv/persist/d/g; \
        chown 4242:4343 /srv/persist/f; chown -R 7:60 /srv/persist/d; chmod 2750 /srv/persist/d; \
        chgrp 12 /srv/persist",
    );
    let want = "4242:4343 644 /srv/persist/f\n7:60 2750 /srv/persist/d\n7:60 644 /srv/persist/d/g\n0:12 755 /srv/persist\n";
    let probe = "stat -c '%u:%g %a %n' /srv/persist/f /srv/persist/d /srv/persist/d/g /srv/persist";
    let second = ex(probe);
    assert_eq!(second.stdout, want, "next exec: {second}");
    let ls = ex("ls -ln /srv/persist | tail -n +2 | awk '{print $3\":\"$4, $NF}'");
    assert_eq!(ls.stdout, "7:60 d\n4242:4343 f\n", "{ls}");
    ctx.delete_checked(&id, &b, true);
    let after = run_ok(&ctx, &fx.rootfs, probe);
    assert_eq!(after.stdout, want, "new container after delete: {after}");
    assert_eq!(
        xattr(&fx.rootfs.join("srv/persist/f")).as_deref(),
        Some(&[0x08, 0x92, 0x21, 0x10, 0xf7, 0x21][..]),
        "4242:4343 in umoci's format"
    );
}

/// (f) dpkg -i of a locally built .deb whose files have several owners
/// (built in the container under fake root with dpkg-deb, which records
/// what stat shows).
#[test]
fn dpkg_install_local_deb_with_owners() {
    let Some((_g, ctx, fx)) = shared("dpkg_install_local_deb_with_owners") else {
        return;
    };
    let out = run_ok(
        &ctx,
        &fx.rootfs,
        "d=$(mktemp -d); chmod 755 $d; mkdir -p $d/DEBIAN $d/opt/multi/bin $d/opt/multi/spool $d/opt/multi/games; \
         printf 'Package: rlrt-multi\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: rootlessrt tests <t@example.org>\\nDescription: files with several owners\\n' >$d/DEBIAN/control; \
         echo hi >$d/opt/multi/readme; cp /bin/true $d/opt/multi/bin/sg; \
         chown man:man $d/opt/multi/spool; chown root:games $d/opt/multi/games; chown 4321:4321 $d/opt/multi/readme; \
         chown root:utmp $d/opt/multi/bin/sg; chmod 2755 $d/opt/multi/bin/sg; \
         dpkg-deb --build $d /tmp/rlrt-multi.deb >/dev/null; rm -rf $d; \
         dpkg-deb -c /tmp/rlrt-multi.deb | awk '{print $2, $NF}'; \
         echo ---; dpkg -i /tmp/rlrt-multi.deb >/dev/null; \
         stat -c '%u:%g %a %n' /opt/multi/spool /opt/multi/games /opt/multi/readme /opt/multi/bin/sg",
    );
    let (listing, installed) = out.stdout.split_once("---\n").unwrap();
    for w in [
        "man/man ./opt/multi/spool/",
        "root/games ./opt/multi/games/",
        "4321/4321 ./opt/multi/readme",
        "root/utmp ./opt/multi/bin/sg",
    ] {
        assert!(listing.contains(w), "the .deb records {w}: {out}");
    }
    let st = kv(installed);
    for (p, w) in [
        ("/opt/multi/spool", "6:12 755"),
        ("/opt/multi/games", "0:60 755"),
        ("/opt/multi/readme", "4321:4321 644"),
        ("/opt/multi/bin/sg", "0:43 2755"),
    ] {
        assert_eq!(
            st.get(p).map(String::as_str),
            Some(w),
            "{p} after dpkg -i: {out}"
        );
    }
    let again = run_ok(
        &ctx,
        &fx.rootfs,
        "dpkg -s rlrt-multi | grep ^Status; stat -c %u:%g /opt/multi/spool",
    );
    assert_eq!(
        again.stdout, "Status: install ok installed\n6:12\n",
        "{again}"
    );
}

/// Rootless import: what `rootlessrt fakeroot -- tar` and `umoci unpack
/// --rootless` leave behind reads the same through the tracer (owners, modes
/// with set-id bits, types), except the device nodes (the tracer's
/// placeholders stat as devices, umoci's as empty files); a container runs on
/// the umoci bundle and sees the owners.
#[test]
fn import_fakeroot_and_umoci_agree() {
    let name = "import_fakeroot_and_umoci_agree";
    let Some(tar) = setup(name) else { return };
    assert!(
        Path::new("/usr/bin/umoci").is_file()
            || Command::new("umoci").arg("--version").output().is_ok(),
        "umoci is not installed (apt-get install umoci; hack/test.sh installs it)"
    );
    let ctx = Ctx::new(Mode::User, name);
    let fr = ctx.path("fr");
    let um = ctx.path("um");
    let imp = import(&ctx, &tar, &["--no-spec", &fr.to_string_lossy()]);
    assert!(
        imp.stderr.contains("8 device nodes are placeholder files"),
        "{imp}"
    );
    import(
        &ctx,
        &tar,
        &["--via", "umoci", "--no-terminal", &um.to_string_lossy()],
    );
    let list = |root: &Path| -> String {
        let out = ctx
            .sh_cmd([env().bin.to_string_lossy().as_ref(), "fakeroot", "--", "sh", "-c"])
            .arg("cd \"$1\" && find . -path ./proc -prune -o -printf '%U:%G %M %p\\n' | LC_ALL=C sort -k3")
            .args(["sh", root.to_string_lossy().as_ref()])
            .timeout(STEP_TIMEOUT)
            .run()
            .ok();
        out.stdout
    };
    let a = list(&fr.join("rootfs"));
    let b = list(&um.join("rootfs"));
    let n = a.lines().count();
    assert!(n > 5000, "fakeroot import lists {n} entries");
    assert_eq!(n, b.lines().count(), "same number of entries");
    let mut diffs = Vec::new();
    for (x, y) in a.lines().zip(b.lines()) {
        if x != y {
            diffs.push(format!("fakeroot: {x}\n   umoci: {y}"));
        }
    }
    // only /dev/* device nodes may differ: c... from the tracer, -... from umoci
    let bad: Vec<&String> = diffs
        .iter()
        .filter(|d| !(d.contains(" ./dev/") && d.contains("crw-rw-rw-")))
        .collect();
    assert!(
        bad.is_empty(),
        "fakeroot and umoci imports differ:\n{}",
        bad.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    for p in [
        "0:42 -rwxr-sr-x ./usr/bin/chage",
        "0:0 -rwsr-xr-x ./usr/bin/su",
        "0:8 drwxrwsr-x ./var/mail",
        "0:42 -rw-r----- ./etc/shadow",
    ] {
        assert!(a.contains(p) && b.contains(p), "{p} in both listings");
    }
    // umoci's encoding (uid 0xFFFFFFFF = not overridden) vs ours (field omitted)
    assert_eq!(
        xattr(&um.join("rootfs/usr/bin/chage")).as_deref(),
        Some(&[0x08, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x10, 0x2a][..])
    );
    assert_eq!(
        xattr(&fr.join("rootfs/usr/bin/chage")).as_deref(),
        Some(&[0x10, 0x2a][..])
    );
    // A container on umoci's bundle (config from spec --rootless) sees the owners.
    let b = Bundle { path: um.clone() };
    b.edit(|v: &mut Value| {
        v["process"]["args"] = json!([
            "sh",
            "-c",
            "stat -c '%u:%g %a %n' /usr/bin/chage /var/mail; su -s /bin/sh nobody -c 'id -u'"
        ]);
    });
    let id = ctx.id();
    let out = ctx
        .rt(["run", "--bundle"])
        .arg(um.to_string_lossy())
        .arg(&id)
        .timeout(STEP_TIMEOUT)
        .run()
        .ok();
    assert_eq!(
        out.stdout, "0:42 2755 /usr/bin/chage\n0:8 2775 /var/mail\n65534\n",
        "{out}"
    );
    cleanup_dir(&ctx, &ctx.dir.clone());
}

/// POSIX ACLs naming the container's other users and groups (which the
/// single-ID user namespace does not map): setfacl, getfacl, default ACLs
/// inherited by new files and directories, chmod keeping the mask in step,
/// `ls -l`'s `+`, only the owner may change an ACL; the same in the next
/// container. On the host the real ACL holds what the kernel can represent.
#[test]
fn acls_with_container_ids() {
    let Some((_g, ctx, fx)) = shared("acls_with_container_ids") else {
        return;
    };
    let make = "set -e; d=/srv/acl; rm -rf $d; mkdir -p $d/dir; touch $d/f $d/theirs; \
        setfacl -m g:adm:rx,u:4242:rw $d/f; setfacl -d -m u:4242:rwx,g:mail:rx $d/dir; \
        touch $d/dir/new; mkdir $d/dir/sub; chmod 640 $d/f; chown 4343:4343 $d/theirs; \
        echo \"other $(setpriv --reuid=1000 --regid=1000 --clear-groups setfacl -m u:4242:r $d/theirs 2>&1)\"";
    let probe = "d=/srv/acl; for x in f dir dir/new dir/sub; do \
        echo \"== $x $(stat -c %A $d/$x)\"; getfacl -n --omit-header $d/$x 2>/dev/null; done; \
        ls -l $d | tail -n +2 | cut -c1-11";
    let want = "== f -rw-r-----\n\
        user::rw-\nuser:4242:rw-\t#effective:r--\ngroup::r--\ngroup:4:r-x\t#effective:r--\n\
        mask::r--\nother::---\n\n\
        == dir drwxr-xr-x\n\
        user::rwx\ngroup::r-x\nother::r-x\ndefault:user::rwx\ndefault:user:4242:rwx\n\
        default:group::r-x\ndefault:group:8:r-x\ndefault:mask::rwx\ndefault:other::r-x\n\n\
        == dir/new -rw-rw-r--\n\
        user::rw-\nuser:4242:rwx\t#effective:rw-\ngroup::r-x\t#effective:r--\n\
        group:8:r-x\t#effective:r--\nmask::rw-\nother::r--\n\n\
        == dir/sub drwxrwxr-x\n\
        user::rwx\nuser:4242:rwx\ngroup::r-x\ngroup:8:r-x\nmask::rwx\nother::r-x\n\
        default:user::rwx\ndefault:user:4242:rwx\ndefault:group::r-x\ndefault:group:8:r-x\n\
        default:mask::rwx\ndefault:other::r-x\n\n\
        drwxr-xr-x+\n-rw-r-----+\n-rw-r--r-- \n";
    let out = run_ok(&ctx, &fx.rootfs, &format!("{make}; {probe}"));
    assert_eq!(
        out.field("other"),
        "setfacl: /srv/acl/theirs: Operation not permitted",
        "{out}"
    );
    let same = out.stdout.split_once('\n').unwrap().1;
    assert_eq!(same, want, "{out}");
    let next = run_ok(&ctx, &fx.rootfs, probe);
    assert_eq!(next.stdout, want, "next container: {next}");
    // Host side: the real ACL has no entry for 4242 or 4 (u::, g::, mask,
    // o::); the whole ACL is in the private attribute.
    let size = |p: &Path, name: &std::ffi::CStr| -> Option<usize> {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: NUL-terminated strings; a size query.
        let n = unsafe { libc::lgetxattr(c.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
        (n >= 0).then_some(n as usize)
    };
    let f = fx.rootfs.join("srv/acl/f");
    assert_eq!(size(&f, c"system.posix_acl_access"), Some(4 + 4 * 8));
    assert_eq!(size(&f, c"user.rootlessrt.acl_access"), Some(4 + 6 * 8));
}

/// A unix socket's peer credentials (SO_PEERCRED) are the peer's fake
/// effective IDs: a root server sees its uid 1000 client as 1000, the client
/// sees root; in full and in ids mode.
#[test]
fn peer_credentials_are_fake_ids() {
    let Some((_g, ctx, fx)) = shared("peer_credentials_are_fake_ids") else {
        return;
    };
    let client = r#"my $c = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!";
        my ($p, $u, $g) = unpack("iII", getsockopt($c, SOL_SOCKET, SO_PEERCRED));
        print "client-sees $u $g\n"; print $c "$$\n"; <$c>"#;
    let server = r#"my $path = "/tmp/peer.sock"; unlink $path;
        my $srv = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $path, Listen => 1)
            or die "listen: $!";
        if (!fork) {
            exec "setpriv", "--reuid=1000", "--regid=1001", "--clear-groups",
                "perl", "-MSocket", "-MIO::Socket::UNIX", "-e", $ENV{CLIENT}, $path;
        }
        my $c = $srv->accept or die "accept: $!";
        my $pid = <$c>; chomp $pid;
        my ($p, $u, $g) = unpack("iII", getsockopt($c, SOL_SOCKET, SO_PEERCRED));
        print "server-sees $u $g ", ($p == $pid ? "same-pid" : "pid $p, not $pid"), "\n";
        close $c; wait; exit $?"#;
    for mode in ["full", "ids"] {
        let b = bundle_on(
            &ctx,
            &fx.rootfs,
            &["perl", "-MSocket", "-MIO::Socket::UNIX", "-e", server],
        );
        b.edit(|v| {
            v["annotations"]["io.rootlessrt.fake-root"] = json!(mode);
            let env = v["process"]["env"].as_array_mut().unwrap();
            env.push(json!(format!("CLIENT={client}")));
        });
        let out = run_bundle(&ctx, &b, STEP_TIMEOUT);
        assert!(out.success(), "{mode}: {out}");
        assert_eq!(
            out.field("server-sees"),
            "1000 1001 same-pid",
            "{mode}: {out}"
        );
        assert_eq!(out.field("client-sees"), "0 0", "{mode}: {out}");
    }
}

/// Debian's postgresql with its default `pg_hba.conf` (peer authentication
/// on the unix socket): installed, the cluster started, and
/// `su postgres -c psql` let in. One container run (apt downloads the
/// packages once).
#[test]
fn postgresql_peer_authentication() {
    let Some((_g, ctx, fx)) = shared("postgresql_peer_authentication") else {
        return;
    };
    let script = "set -e; \
        apt-get install -q -y postgresql >/tmp/pg-install.log 2>&1 || { tail -20 /tmp/pg-install.log; exit 1; }; \
        v=$(pg_lsclusters -h | awk 'NR==1 {print $1}'); \
        grep -E '^local +all +all +peer' /etc/postgresql/$v/main/pg_hba.conf; \
        pg_ctlcluster $v main start; \
        echo \"psql $(su postgres -c \"psql -Atc 'select current_user, 1'\" 2>&1)\"; \
        pg_ctlcluster $v main stop";
    let out = run_sh(&ctx, &fx.rootfs, script, APT_TIMEOUT);
    assert!(out.success(), "{out}");
    assert_eq!(out.field("psql"), "postgres|1", "{out}");
}

/// `exec --user` and a non-root `process.user` get HOME from the container's
/// /etc/passwd, as runc does (or `/` without an entry); a HOME in the
/// environment is kept. (System-range IDs: useradd_su_chown_tar expects
/// its user and group to get 1000.)
#[test]
fn home_of_a_non_root_user() {
    let Some((_g, ctx, fx)) = shared("home_of_a_non_root_user") else {
        return;
    };
    run_ok(
        &ctx,
        &fx.rootfs,
        "id homer >/dev/null 2>&1 || { groupadd -g 990 homer && useradd -u 990 -g 990 -m -d /home/homer homer; }",
    );
    let b = bundle_on(&ctx, &fx.rootfs, &["sleep", "1000"]);
    let id = ctx.id();
    ctx.create_start(&b, &id);
    let home = |args: &[&str]| -> String {
        let mut a = vec!["exec"];
        a.extend_from_slice(args);
        a.extend_from_slice(&[&id, "sh", "-c", "echo \"$(id -u) $HOME\""]);
        let out = ctx.rt(a).timeout(STEP_TIMEOUT).run().ok();
        out.stdout.trim().to_string()
    };
    assert_eq!(home(&["--user", "990:990"]), "990 /home/homer");
    assert_eq!(home(&["--user", "4321:4321"]), "4321 /");
    assert_eq!(home(&[]), "0 /root");
    assert_eq!(home(&["--env", "HOME=/x", "--user", "990:990"]), "990 /x");
    ctx.delete_checked(&id, &b, true);
    let b = bundle_on(&ctx, &fx.rootfs, &["sh", "-c", "echo \"$(id -u) $HOME\""]);
    b.edit(|v| {
        v["process"]["user"]["uid"] = json!(990);
        v["process"]["user"]["gid"] = json!(990);
    });
    let out = run_bundle(&ctx, &b, STEP_TIMEOUT);
    assert_eq!(out.stdout.trim(), "990 /home/homer", "{out}");
}

// ---------------------------------------------------------------------------
// non-root identities inside (issue 15)

/// sudo makes itself non-dumpable: the tracer still answers for it (it holds
/// CAP_SYS_PTRACE, the workload does not). Root and a sudoer use it with the
/// spec's default capabilities; a sudoer needs noNewPrivileges off, as on any
/// runtime (sudo refuses to run under it).
#[test]
fn sudo_as_root_and_as_a_sudoer() {
    let Some((_g, ctx, fx)) = shared("sudo_as_root_and_as_a_sudoer") else {
        return;
    };
    run_ok(
        &ctx,
        &fx.rootfs,
        "apt-get install -q -y --no-install-recommends sudo >/dev/null; \
         id carol >/dev/null 2>&1 || useradd -m -s /bin/sh carol; \
         echo 'carol ALL=(ALL:ALL) NOPASSWD: ALL' >/etc/sudoers.d/carol; chmod 0440 /etc/sudoers.d/carol",
    );
    let root = run_ok(
        &ctx,
        &fx.rootfs,
        "echo \"root $(sudo id -u)\"; echo \"nobody $(sudo -u nobody id -un)\"; \
         echo \"loaded $(sudo -l >/dev/null && echo yes)\"",
    );
    assert_eq!(root.field("root"), "0", "{root}");
    assert_eq!(root.field("nobody"), "nobody", "{root}");
    assert_eq!(root.field("loaded"), "yes", "{root}");
    let b = bundle_on(
        &ctx,
        &fx.rootfs,
        &[
            "sh",
            "-c",
            "echo \"as-carol $(su carol -c 'sudo id -un'):$(su carol -c 'id -un')\"; \
             echo \"group $(su carol -c 'sudo -g mail id -gn')\"",
        ],
    );
    b.edit(|v| v["process"]["noNewPrivileges"] = json!(false));
    let sudoer = run_bundle(&ctx, &b, STEP_TIMEOUT);
    assert!(sudoer.success(), "{sudoer}");
    assert_eq!(sudoer.field("as-carol"), "root:carol", "{sudoer}");
    assert_eq!(sudoer.field("group"), "mail", "{sudoer}");
}

/// What a fake non-root user creates is its own (fsuid, and fsgid or the
/// set-gid directory's group), in the same container, in the next one, and
/// through `exec --user`; git, which refuses a repository owned by someone
/// else, works as that user.
/// Symlinks, FIFOs and sockets cannot carry the owner attribute; what a
/// user makes of them (and a root `chown -h`) is still theirs in the next
/// container, also after 150 symlinks made and renamed before them (a
/// rename changes the ctime, which voids a record: such records are pruned,
/// or they would fill the root's attribute; renaming keeps the inodes, so
/// their numbers cannot be reused by the next records as ext4 would).
#[test]
fn a_users_symlinks_fifos_and_sockets_are_its_own() {
    let Some((_g, ctx, fx)) = shared("a_users_symlinks_fifos_and_sockets_are_its_own") else {
        return;
    };
    let probe = "stat -c '%u:%g %F %n' /home/erin/s/l /home/erin/s/p /home/erin/s/k /srv/erin-link";
    let out = run_ok(
        &ctx,
        &fx.rootfs,
        &format!(
            "id erin >/dev/null 2>&1 || useradd -m -s /bin/sh erin; \
             su erin -c 'set -e; rm -rf ~/s; mkdir ~/s; cd ~/s; \
               i=0; while [ $i -lt 150 ]; do i=$((i+1)); ln -s x churn-$i; mv churn-$i moved-$i; done; \
               ln -s nowhere l; mkfifo p; \
               perl -MSocket -e \"socket(S, PF_UNIX, SOCK_STREAM, 0) or die; bind(S, pack_sockaddr_un(q(k))) or die\"'; \
             rm -f /srv/erin-link; ln -s /etc/passwd /srv/erin-link; chown -h erin:mail /srv/erin-link; \
             perl -e '($p, $a, $b) = (\"/\", \"user.rootlessrt.owners\", \"\\0\" x 4096); \
               $n = syscall(191, $p, $a, $b, 4096); print \"hidden $n $!\\n\"'; \
             echo \"ids $(id -u erin):$(id -g erin)\"; {probe}"
        ),
    );
    let ids = out.field("ids");
    let u = ids.split_once(':').unwrap().0;
    let want = format!(
        "{ids} symbolic link /home/erin/s/l\n{ids} fifo /home/erin/s/p\n{ids} socket /home/erin/s/k\n{u}:8 symbolic link /srv/erin-link\n"
    );
    assert!(out.stdout.ends_with(&want), "same container: {out}");
    // The tracer's private attribute is not the workload's to read (getxattr(2)).
    assert!(
        out.field("hidden").starts_with("-1 "),
        "the workload reads user.rootlessrt.owners: {out}"
    );
    let next = run_ok(&ctx, &fx.rootfs, probe);
    assert_eq!(next.stdout, want, "next container: {next}");
    // Given back to root: nothing is kept for it any more.
    let back = run_ok(
        &ctx,
        &fx.rootfs,
        "chown -h root:root /srv/erin-link && stat -c '%u:%g' /srv/erin-link",
    );
    assert_eq!(back.stdout, "0:0\n", "{back}");
    let next = run_ok(&ctx, &fx.rootfs, "stat -c '%u:%g' /srv/erin-link");
    assert_eq!(
        next.stdout, "0:0\n",
        "next container after chown to root: {next}"
    );
}

#[test]
fn a_users_files_are_its_own() {
    let Some((_g, ctx, fx)) = shared("a_users_files_are_its_own") else {
        return;
    };
    let probe =
        "stat -c '%u:%g %n' /home/dave/w/f /home/dave/w/d /home/dave/w/d/g /srv/sg/f /srv/sg/d";
    let out = run_ok(
        &ctx,
        &fx.rootfs,
        &format!(
            "apt-get install -q -y --no-install-recommends git >/dev/null; \
             id dave >/dev/null 2>&1 || useradd -m -s /bin/sh dave; \
             rm -rf /srv/sg; mkdir /srv/sg; chgrp mail /srv/sg; chmod 2777 /srv/sg; \
             su dave -c 'set -e; rm -rf ~/w; mkdir ~/w; cd ~/w; touch f; mkdir d; echo x >d/g; \
               git init -q; git add f; git -c user.name=d -c user.email=d@x commit -qm one; \
               echo \"git $(git status --porcelain | wc -l)\"; \
               touch /srv/sg/f; mkdir /srv/sg/d'; \
             echo \"ids $(id -u dave):$(id -g dave)\"; {probe}"
        ),
    );
    let ids = out.field("ids");
    let mail = "8";
    let (u, g) = ids.split_once(':').unwrap();
    let want = format!(
        "{ids} /home/dave/w/f\n{ids} /home/dave/w/d\n{ids} /home/dave/w/d/g\n{u}:{mail} /srv/sg/f\n{u}:{mail} /srv/sg/d\n"
    );
    assert!(out.stdout.ends_with(&want), "same container: {out}");
    assert_eq!(
        out.field("git"),
        "1",
        "git status as dave (d/ untracked): {out}"
    );
    let next = run_ok(&ctx, &fx.rootfs, probe);
    assert_eq!(next.stdout, want, "next container: {next}");
    // exec --user: a process that starts as the user.
    let b = bundle_on(&ctx, &fx.rootfs, &["sleep", "1000"]);
    let id = ctx.id();
    ctx.create_start(&b, &id);
    let ex = ctx
        .rt(["exec", "--user", &format!("{u}:{g}"), &id, "sh", "-c"])
        .arg("cd /tmp && rm -rf xu && mkdir xu && touch xu/f && stat -c '%u:%g' xu xu/f")
        .timeout(STEP_TIMEOUT)
        .run()
        .ok();
    assert_eq!(ex.stdout, format!("{ids}\n{ids}\n"), "exec --user: {ex}");
    ctx.delete_checked(&id, &b, true);
}

/// Bob's account and procps (for ps) in the shared rootfs.
const BOB: &str = "apt-get install -q -y --no-install-recommends procps >/dev/null
    id bob >/dev/null 2>&1 || useradd -m -s /bin/sh bob
    echo \"bob $(id -u bob) $(id -g bob) $(id -G bob)\"
    show() { grep -E '^(Uid|Gid|Groups):' \"$2\" | tr '\\t' ' ' | sed \"s/^/$1-/\"; }
    ";

/// bob's uid, gid and groups from the `bob` line.
fn bob_ids(out: &Out) -> (String, String, String) {
    let bob = out.field("bob");
    let mut it = bob.split(' ');
    let (u, g) = (it.next().unwrap(), it.next().unwrap());
    let groups: Vec<&str> = it.collect();
    (u.into(), g.into(), groups.join(" "))
}

fn four(id: &str) -> String {
    format!("{id} {id} {id} {id}")
}

/// `/proc/self/status` (and thread-self) shows the process's fake IDs in its
/// Uid:, Gid: and Groups: lines: bob's as bob (`su bob`), root's as root;
/// distinct real, effective and saved IDs each in their field (fs follows
/// the effective one). Read by grep (openat) and perl (open).
#[test]
fn proc_status_shows_fake_ids() {
    let Some((_g, ctx, fx)) = shared("proc_status_shows_fake_ids") else {
        return;
    };
    // Lines of /proc/.../status as "<tag>-Uid: 0 0 0 0" (tabs made spaces).
    let out = run_ok(
        &ctx,
        &fx.rootfs,
        &format!(
            r#"{BOB}
        show root /proc/self/status
        su bob -c 'grep -E "^(Uid|Gid|Groups):" /proc/self/status /proc/thread-self/status' | tr '	' ' ' | sed 's/^/bob-/'
        case $(uname -m) in x86_64) r=117 g=119;; aarch64) r=147 g=149;; esac
        perl -e '
            syscall($ARGV[1], 2001, 2002, 2003) == 0 or die "setresgid: $!";
            syscall($ARGV[0], 1001, 1002, 1003) == 0 or die "setresuid: $!";
            open(my $f, "<", "/proc/self/status") or die "open: $!";
            while (<$f>) {{ s/	/ /g; print "res-$_" if /^(Uid|Gid):/ }}
        ' $r $g
        "#
        ),
    );
    let (u, g, groups) = bob_ids(&out);
    assert_eq!(out.field("root-Uid:"), four("0"), "{out}");
    assert_eq!(out.field("root-Gid:"), four("0"), "{out}");
    for file in ["self", "thread-self"] {
        let tag = format!("bob-/proc/{file}/status:");
        assert_eq!(out.field(&format!("{tag}Uid:")), four(&u), "{out}");
        assert_eq!(out.field(&format!("{tag}Gid:")), four(&g), "{out}");
        assert_eq!(out.field(&format!("{tag}Groups:")).trim(), groups, "{out}");
    }
    assert_eq!(out.field("res-Uid:"), "1001 1002 1003 1002", "{out}");
    assert_eq!(out.field("res-Gid:"), "2001 2002 2003 2002", "{out}");
}

/// Another process's status (`/proc/<pid>/status`, its task's) shows its
/// fake IDs, and `/proc/<pid>` is owned by its fake euid and egid: `ps`
/// shows bob's processes as bob's and root's as root's.
#[test]
fn ps_shows_a_users_processes_as_its_own() {
    let Some((_g, ctx, fx)) = shared("ps_shows_a_users_processes_as_its_own") else {
        return;
    };
    let out = run_ok(
        &ctx,
        &fx.rootfs,
        &format!(
            r#"{BOB}
        rm -f /tmp/bob.pid
        su bob -c 'echo $$ >/tmp/bob.pid; exec sleep 60' &
        while [ ! -s /tmp/bob.pid ]; do sleep 0.1; done
        sleep 0.3
        p=$(cat /tmp/bob.pid)
        show other /proc/$p/status
        show task /proc/$p/task/$p/status
        echo "ps-bob $(ps -o user=,group=,ruser=,euid=,suid=,fuid= -p $p)"
        echo "ps-root $(ps -o user=,group=,ruid= -p $$)"
        echo "owner $(stat -c %U:%G /proc/$p) $(stat -c %u /proc/$$)"
        kill $p
        "#
        ),
    );
    let (u, g, _) = bob_ids(&out);
    for tag in ["other", "task"] {
        assert_eq!(out.field(&format!("{tag}-Uid:")), four(&u), "{out}");
        assert_eq!(out.field(&format!("{tag}-Gid:")), four(&g), "{out}");
    }
    let ps = out.field("ps-bob");
    let ps: Vec<&str> = ps.split_whitespace().collect();
    assert_eq!(ps, ["bob", "bob", "bob", &u, &u, &u], "{out}");
    let ps = out.field("ps-root");
    let ps: Vec<&str> = ps.split_whitespace().collect();
    assert_eq!(ps, ["root", "root", "0"], "{out}");
    assert_eq!(out.field("owner"), "bob:bob 0", "{out}");
}

/// SCM_CREDENTIALS over a unix socket carry fake IDs: a root server with
/// SO_PASSCRED sees a `su bob` client's implicit credentials as bob's uid
/// and gid, bob may send explicit credentials naming his own IDs (the kernel
/// alone says EINVAL: they are not mapped), a claim of uid 0 by bob is EPERM
/// as the kernel would say, and root's own messages still show 0; in full
/// and in ids mode. Also a stream socket whose listening socket has the
/// option, read while its bob client (which uses write(2)) is alive. recvmsg/sendmsg go through syscall(2): the image has no
/// Socket::MsgHdr.
#[test]
fn scm_credentials_are_fake_ids() {
    let Some((_g, ctx, fx)) = shared("scm_credentials_are_fake_ids") else {
        return;
    };
    let server = r#"use strict; use Socket;
my ($path, @runs) = @ARGV; unlink $path;
socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";
bind($s, pack_sockaddr_un($path)) or die "bind: $!";
chmod 0777, $path or die "chmod: $!";
setsockopt($s, SOL_SOCKET, SO_PASSCRED, 1) or die "passcred: $!";
sub receive {
    my ($fh) = @_;
    # recvmsg(2) by its x86_64 number, 47.
    my $data = "\0" x 256; my $ctl = "\0" x 64;
    my $iov = pack("P Q", $data, 256);
    my $hdr = pack("Q L x4 P Q P Q L x4", 0, 0, $iov, 1, $ctl, 64, 0);
    my $n = syscall(47, fileno($fh), $hdr, 0);
    die "recvmsg: $!" if $n < 0;
    my $clen = unpack("Q", substr($hdr, 40, 8));
    my ($len, $lvl, $type, $pid, $uid, $gid) = unpack("Q i i i I I", $ctl);
    my ($tag, $sender) = split ' ', substr($data, 0, $n);
    my $creds = ($clen >= 28 && $lvl == 1 && $type == 2) ? "$uid $gid" : "none";
    print "got-$tag $creds ", ($pid == $sender ? "same-pid" : "pid $pid, not $sender"), "\n";
}
for my $run (@runs) {
    my ($who, $what) = split /:/, $run;
    my @cmd = "perl /tmp/pc-client.pl $path $who $what";
    @cmd = ("su", "bob", "-c", @cmd) if $who eq "bob";
    receive($s) if system(@cmd) == 0;
}
# A stream socket, the option set on the listening one, a live client
# that writes with write(2).
my $sp = "$path.stream"; unlink $sp;
socket(my $l, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
bind($l, pack_sockaddr_un($sp)) or die "bind: $!";
chmod 0777, $sp or die "chmod: $!";
setsockopt($l, SOL_SOCKET, SO_PASSCRED, 1) or die "passcred: $!";
listen($l, 1) or die "listen: $!";
my $kid = fork // die "fork: $!";
if (!$kid) { exec "su", "bob", "-c", "perl /tmp/pc-client.pl $sp bob stream"; die "exec: $!" }
accept(my $c, $l) or die "accept: $!";
receive($c);
syswrite($c, "x");
waitpid($kid, 0);
"#;
    let client = r#"use strict; use Socket;
my ($path, $who, $what) = @ARGV;
if ($what eq "stream") {
    socket(my $c, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
    connect($c, pack_sockaddr_un($path)) or die "connect: $!";
    syswrite($c, "$who-stream $$");
    sysread($c, my $reply, 1);
    exit 0;
}
socket(my $c, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";
connect($c, pack_sockaddr_un($path)) or die "connect: $!";
my $gid = (split ' ', $()[0];
my %claim = (own => [$$, $<, $gid], root => [$$, 0, 0]);
my $data = "$who-$what $$";
my $iov = pack("P Q", $data, length $data);
my $ctl = $claim{$what} ? pack("Q i i i I I x4", 28, 1, 2, @{$claim{$what}}) : undef;
my $hdr = pack("Q L x4 P Q P Q L x4", 0, 0, $iov, 1, $ctl, $ctl ? 32 : 0, 0);
# sendmsg(2) by its x86_64 number, 46.
my $n = syscall(46, fileno($c), $hdr, 0);
print "sent-$who-$what ", ($n >= 0 ? "ok" : $!{EPERM} ? "EPERM" : "errno " . ($! + 0)), "\n";
exit($n >= 0 ? 0 : 3);
"#;
    if !cfg!(target_arch = "x86_64") {
        return skip(
            "scm_credentials_are_fake_ids",
            "the perl scripts use x86_64 numbers",
        );
    }
    let script = format!(
        "set -e; id bob >/dev/null 2>&1 || useradd -m -s /bin/sh bob; \
         echo \"ids $(id -u bob) $(id -g bob)\"; \
         cat >/tmp/pc-server.pl <<'EOF'\n{server}EOF\n\
         cat >/tmp/pc-client.pl <<'EOF'\n{client}EOF\n\
         perl /tmp/pc-server.pl /tmp/pc.sock root:implicit bob:implicit bob:own bob:root root:own"
    );
    for mode in ["full", "ids"] {
        let b = bundle_on(&ctx, &fx.rootfs, &["sh", "-c", &script]);
        b.edit(|v| v["annotations"]["io.rootlessrt.fake-root"] = json!(mode));
        let out = run_bundle(&ctx, &b, STEP_TIMEOUT);
        assert!(out.success(), "{mode}: {out}");
        let bob = out.field("ids");
        let want = [
            ("sent-root-implicit", "ok".to_string()),
            ("got-root-implicit", "0 0 same-pid".to_string()),
            ("sent-bob-implicit", "ok".to_string()),
            ("got-bob-implicit", format!("{bob} same-pid")),
            ("sent-bob-own", "ok".to_string()),
            ("got-bob-own", format!("{bob} same-pid")),
            ("sent-bob-root", "EPERM".to_string()),
            ("sent-root-own", "ok".to_string()),
            ("got-root-own", "0 0 same-pid".to_string()),
            ("got-bob-stream", format!("{bob} same-pid")),
        ];
        for (key, value) in want {
            assert_eq!(out.field(key), value, "{mode}, {key}: {out}");
        }
    }
}
