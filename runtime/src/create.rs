//! `create` (and the first half of `run`): validate the bundle, decide the
//! rootless setup and the emulation, then let libcontainer build the
//! container.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::{LinuxNamespaceType, Spec, UserBuilder};

use crate::cli::{Create, Global};
use crate::emulation::{self, Plan, TracerExecutor};
use crate::sealed::{self, Resumed};
use crate::store::{self, Meta, RootLock};
use crate::userns::{self, SingleMap};

pub struct Options<'a> {
    pub global: &'a Global,
    pub create: &'a Create,
    /// A console socket rootlessrt itself listens on (`run` with a tty).
    pub own_console: Option<PathBuf>,
    /// The state root, resolved before we may enter a user namespace.
    pub root: PathBuf,
    /// A rootless container: this process already entered its outer user
    /// namespace (`prepare`).
    pub rootless: bool,
}

/// The first steps of `create` and `run`, before anything else: resolve the
/// state root, enter a rootless container's outer user namespace, and
/// re-execute from a sealed image of this binary (sealed.rs). Returns in
/// the re-executed process only, with what the first one did.
pub fn prepare(global: &Global, c: &Create, resumed: Option<Resumed>) -> Result<Resumed> {
    if let Some(r) = resumed {
        return Ok(r);
    }
    let root = store::state_root(global.root.as_deref())?;
    let rootless = is_rootless(global)?;
    if rootless {
        let (_, spec) = load_bundle(&c.bundle)?;
        let (uid, gid) = outer_maps(&spec)?;
        userns::enter_outer(uid, gid)?;
    }
    Err(sealed::reexec(&Resumed {
        root,
        outer: rootless,
    }))
}

/// The single uid and gid mapping of a rootless container's outer user
/// namespace.
fn outer_maps(spec: &Spec) -> Result<(SingleMap, SingleMap)> {
    let has_userns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none())
        });
    if !has_userns {
        bail!("rootless containers need a user namespace in config.json (try `rootlessrt spec --rootless`)");
    }
    let linux = spec.linux().as_ref();
    let uid = single_map(
        linux.and_then(|l| l.uid_mappings().as_ref()),
        nix::unistd::geteuid().as_raw(),
        "uidMappings",
    )?;
    let gid = single_map(
        linux.and_then(|l| l.gid_mappings().as_ref()),
        nix::unistd::getegid().as_raw(),
        "gidMappings",
    )?;
    Ok((uid, gid))
}

pub fn is_rootless(global: &Global) -> Result<bool> {
    match global.rootless.as_str() {
        "auto" => Ok(!nix::unistd::geteuid().is_root()),
        "true" => Ok(true),
        "false" => Ok(false),
        other => bail!("--rootless {other:?}: expected auto, true or false"),
    }
}

/// Reads and checks `<bundle>/config.json` and the rootfs it names.
pub fn load_bundle(bundle: &Path) -> Result<(PathBuf, Spec)> {
    let bundle = bundle
        .canonicalize()
        .map_err(|e| anyhow!("bundle {}: {e}", bundle.display()))?;
    let path = bundle.join("config.json");
    let data = fs::read(&path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
    let spec: Spec =
        serde_json::from_slice(&data).map_err(|e| anyhow!("malformed {}: {e}", path.display()))?;
    if !spec.version().starts_with("1.") {
        bail!(
            "unsupported ociVersion {:?} in {}",
            spec.version(),
            path.display()
        );
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| anyhow!("{}: root.path is missing", path.display()))?;
    let rootfs = bundle.join(root.path());
    if !rootfs.is_dir() {
        bail!(
            "rootfs {} does not exist or is not a directory",
            rootfs.display()
        );
    }
    if spec
        .process()
        .as_ref()
        .and_then(|p| p.args().as_ref())
        .is_none_or(|a| a.is_empty())
    {
        bail!(
            "{}: process.args must name the command to run",
            path.display()
        );
    }
    Ok((bundle, spec))
}

/// The single mapping a rootless spec must give for our own ID.
fn single_map(
    maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>,
    ours: u32,
    what: &str,
) -> Result<SingleMap> {
    match maps.map(|v| v.as_slice()) {
        None | Some([]) => Ok(SingleMap {
            inside: 0,
            outside: ours,
        }),
        Some([m]) if m.host_id() == ours && m.size() == 1 => Ok(SingleMap {
            inside: m.container_id(),
            outside: ours,
        }),
        Some(_) => bail!(
            "rootless: {what} must map a single ID to your own ({ours}); \
             ranges need subordinate IDs, which rootlessrt does not use"
        ),
    }
}

/// The spec libcontainer gets: what the user wrote, adapted to the outer
/// namespace and to the tracer.
fn adapt_spec(mut spec: Spec, bundle: &Path, drop_userns: bool, plan: &mut Plan) -> Result<Spec> {
    let faked_user = plan.active();
    if faked_user {
        emulation::take_seccomp(plan, &mut spec)?;
    }
    if let Some(root) = spec.root_mut() {
        let abs = bundle.join(root.path());
        root.set_path(abs);
    }
    if drop_userns {
        if let Some(linux) = spec.linux_mut() {
            let ns: Vec<_> = linux
                .namespaces()
                .iter()
                .flatten()
                .filter(|n| n.typ() != LinuxNamespaceType::User)
                .cloned()
                .collect();
            linux.set_namespaces(Some(ns));
            linux.set_uid_mappings(None);
            linux.set_gid_mappings(None);
        }
    }
    if faked_user {
        // The workload's IDs are the tracer's business: libcontainer would
        // fail to switch to an ID the single mapping does not hold.
        let rootfs = spec.root().as_ref().map(|r| r.path().clone());
        if let Some(p) = spec.process_mut() {
            if let Some(rootfs) = rootfs {
                crate::passwd::set_home(p, &rootfs);
            }
            let user = UserBuilder::default()
                .uid(0u32)
                .gid(0u32)
                .build()
                .map_err(|e| anyhow!("{e}"))?;
            p.set_user(user);
            emulation::grant_tracer_caps(plan, p);
        }
    }
    Ok(spec)
}

/// Creates the container; returns its init pid.
pub fn create(opts: &Options) -> Result<i32> {
    let c = opts.create;
    store::validate_id(&c.id)?;
    let rootless = opts.rootless;
    let root = opts.root.clone();
    let (bundle, spec) = load_bundle(&c.bundle)?;
    let mode = emulation::mode_from_spec(&spec)?;
    let mut plan = if matches!(mode, tracer::Mode::Off) {
        Plan::off()
    } else {
        emulation::plan_for_process(mode, spec.process().as_ref())
    };
    plan.stat_shim = emulation::stat_shim_from_spec(&spec)?;
    let pid_file = c.pid_file.as_ref().map(|p| absolute(p));
    let console = opts
        .own_console
        .clone()
        .or_else(|| c.console_socket.as_ref().map(|p| absolute(p)));

    let _lock = RootLock::acquire(&root)?;
    if root.join(&c.id).exists() {
        bail!("container {:?} already exists", c.id);
    }
    let sidecar = store::sidecar_dir(&root, &c.id);
    let result = (|| -> Result<i32> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&sidecar)?;
        let needs_rewrite = rootless || plan.active();
        let lc_bundle = if needs_rewrite {
            let adapted = adapt_spec(spec.clone(), &bundle, rootless, &mut plan)?;
            adapted
                .save(sidecar.join("config.json"))
                .map_err(|e| anyhow!("cannot write adapted config: {e}"))?;
            sidecar.clone()
        } else {
            bundle.clone()
        };
        // runc runs from the bundle: relative mount sources and hook paths
        // are relative to it.
        std::env::set_current_dir(&bundle)?;
        let container = ContainerBuilder::new(c.id.clone(), SyscallType::default())
            .with_executor(TracerExecutor {
                plan: plan.clone(),
                init: true,
            })
            .with_root_path(&root)
            .map_err(|e| anyhow!("{e}"))?
            .with_pid_file(pid_file.as_ref())
            .map_err(|e| anyhow!("{e}"))?
            .with_console_socket(console.as_ref())
            .with_preserved_fds(c.preserve_fds)
            .as_init(&lc_bundle)
            .with_systemd(opts.global.systemd_cgroup)
            .with_detach(true)
            .with_no_pivot(c.no_pivot)
            .build()
            .map_err(|e| anyhow!("{}", crate::errors::flatten(&e)))?;
        let pid = container
            .pid()
            .ok_or_else(|| anyhow!("container has no init pid"))?
            .as_raw();
        // Written once, when the pid is known: replacing a file makes ext4
        // flush it (auto_da_alloc), which cost ~0.1 ms per create. Until
        // then, readers fall back to libcontainer's state (Handle::load).
        let meta = Meta {
            bundle: bundle.clone(),
            outer_userns: rootless,
            emulation: plan.mode_name().to_string(),
            init_start_time: crate::procs::start_time(pid),
            ..Default::default()
        };
        meta.save(&root, &c.id)?;
        Ok(pid)
    })();
    if result.is_err() {
        // Leave nothing behind: not our sidecar, not libcontainer's dir.
        let _ = store::remove_state(&root, &c.id);
    }
    result
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}
