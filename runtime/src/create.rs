//! `create` (and the first half of `run`): validate the bundle, decide the
//! rootless setup and the emulation, then let libcontainer build the
//! container.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::{
    LinuxCapabilitiesBuilder, LinuxNamespace, LinuxNamespaceType, Process, Spec, UserBuilder,
};

use crate::cgroups;
use crate::cli::{Create, Global};
use crate::emulation::{self, Plan, TracerExecutor};
use crate::init::{self, InitExecutor};
use crate::sealed::{self, Resumed};
use crate::store::{self, Meta, RootLock};
use crate::userns::{self, IdRange, MapSource, Maps, SingleMap};
use crate::{hooks, mounts, seccomp_late};

pub struct Options<'a> {
    pub global: &'a Global,
    pub create: &'a Create,
    /// A console socket rootlessrt itself listens on (`run` with a tty).
    pub own_console: Option<PathBuf>,
    /// What `prepare` did before the re-execution: the state root, resolved
    /// before any namespace change, and the container's user namespace.
    pub resumed: Resumed,
}

/// The first steps of `create` and `run`, before anything else: resolve the
/// state root, decide where the container's user namespace comes from and
/// enter the namespaces it is built in, then re-execute from a sealed image
/// of this binary (sealed.rs). Returns in the re-executed process only,
/// with what the first one did (a process inside a namespace it made would
/// no longer tell the cases apart).
pub fn prepare(global: &Global, c: &Create, resumed: Option<Resumed>) -> Result<Resumed> {
    if let Some(r) = resumed {
        return Ok(r);
    }
    let root = store::state_root(global.root.as_deref())?;
    let rootless = is_rootless(global)?;
    let (_, spec) = load_bundle(&c.bundle)?;
    let inherited = userns::inherited_maps()?;
    let userns = plan_userns(rootless, &spec, inherited.as_ref())?;
    let private_view = enter_namespaces(&userns, &spec, &c.id)?;
    Err(sealed::reexec(&Resumed {
        root,
        outer: private_view,
        detail: userns.encode(),
    }))
}

/// `--rootless`: `auto` is runc's rule, rootless when euid ≠ 0 or when
/// rootlessrt runs in a nested user namespace (rootless podman, buildah and
/// a containerd in `unshare -Urm` run it as uid 0 in theirs).
pub fn is_rootless(global: &Global) -> Result<bool> {
    match global.rootless.as_str() {
        "auto" => Ok(!nix::unistd::geteuid().is_root() || !userns::in_initial_userns()),
        "true" => Ok(true),
        "false" => Ok(false),
        other => bail!("--rootless {other:?}: expected auto, true or false"),
    }
}

/// Where the container's user namespace comes from.
#[derive(Debug)]
enum Userns {
    /// As the config says, built by libcontainer: root, or root of a nested
    /// namespace whose config maps more than its own ID.
    Spec,
    /// A rootless caller whose config maps a single ID to its own: rootlessrt
    /// first enters a user namespace with that mapping (`userns::enter_outer`)
    /// and builds the container inside it, without one of its own.
    Outer { uid: SingleMap, gid: SingleMap },
    /// A config without a user namespace, given to rootlessrt running as
    /// root of a nested one (podman, buildah, a containerd in `unshare
    /// -Urm`): that namespace is the container's, as with runc.
    Inherited(Maps),
}

impl Userns {
    /// For the re-executed process (`Resumed::detail`).
    fn encode(&self) -> String {
        match self {
            Userns::Spec => "spec".into(),
            Userns::Outer { uid, gid } => format!(
                "outer:{}:{}:{}:{}",
                uid.inside, uid.outside, gid.inside, gid.outside
            ),
            Userns::Inherited(_) => "inherited".into(),
        }
    }

    /// `encode`'s text; the inherited maps are still ours to read (no
    /// namespace was entered for them).
    fn decode(s: &str) -> Result<Userns> {
        let bad = || anyhow!("internal error: bad resumed user namespace {s:?}");
        if s == "spec" {
            return Ok(Userns::Spec);
        }
        if s == "inherited" {
            return userns::inherited_maps()?
                .map(Userns::Inherited)
                .ok_or_else(bad);
        }
        let n: Vec<u32> = s
            .strip_prefix("outer:")
            .ok_or_else(bad)?
            .split(':')
            .map(|x| x.parse().map_err(|_| bad()))
            .collect::<Result<_>>()?;
        match n[..] {
            [ui, uo, gi, go] => Ok(Userns::Outer {
                uid: SingleMap {
                    inside: ui,
                    outside: uo,
                },
                gid: SingleMap {
                    inside: gi,
                    outside: go,
                },
            }),
            _ => Err(bad()),
        }
    }
}

/// The config's user namespace entry, new (no path) or joined.
fn spec_userns(spec: &Spec) -> Option<&LinuxNamespace> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| ns.iter().find(|n| n.typ() == LinuxNamespaceType::User))
}

/// `inherited`: the maps of the nested namespace rootlessrt runs in, if any
/// (`userns::inherited_maps`).
fn plan_userns(rootless: bool, spec: &Spec, inherited: Option<&Maps>) -> Result<Userns> {
    let nested_root = nix::unistd::geteuid().is_root() && inherited.is_some();
    if !rootless {
        return Ok(Userns::Spec);
    }
    match (spec_userns(spec), inherited) {
        (Some(ns), _) if ns.path().is_none() => {
            let linux = spec.linux().as_ref();
            let uid = single_map(
                linux.and_then(|l| l.uid_mappings().as_ref()),
                nix::unistd::geteuid().as_raw(),
                "uidMappings",
            );
            let gid = single_map(
                linux.and_then(|l| l.gid_mappings().as_ref()),
                nix::unistd::getegid().as_raw(),
                "gidMappings",
            );
            match (uid, gid) {
                (Ok(uid), Ok(gid)) => Ok(Userns::Outer { uid, gid }),
                // Root of a nested namespace may write larger maps itself.
                _ if nested_root => Ok(Userns::Spec),
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        }
        (Some(_), _) if nested_root => Ok(Userns::Spec),
        (None, Some(maps)) if nested_root => Ok(Userns::Inherited(maps.clone())),
        _ => bail!(
            "rootless containers need a user namespace in config.json (try `rootlessrt spec --rootless`)"
        ),
    }
}

/// The maps the container's user namespace will have, when it has one.
fn effective_maps(userns: &Userns, spec: &Spec) -> Option<(Maps, MapSource)> {
    let one = |m: &SingleMap| {
        vec![IdRange {
            inside: m.inside,
            outside: m.outside,
            size: 1,
        }]
    };
    let from_spec = |m: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| -> Vec<IdRange> {
        m.into_iter()
            .flatten()
            .map(|m| IdRange {
                inside: m.container_id(),
                outside: m.host_id(),
                size: m.size(),
            })
            .collect()
    };
    match userns {
        Userns::Outer { uid, gid } => Some((
            Maps {
                uid: one(uid),
                gid: one(gid),
            },
            MapSource::Config,
        )),
        Userns::Inherited(maps) => Some((maps.clone(), MapSource::Inherited)),
        Userns::Spec => {
            spec_userns(spec).filter(|n| n.path().is_none())?;
            let linux = spec.linux().as_ref()?;
            let maps = Maps {
                uid: from_spec(linux.uid_mappings().as_ref()),
                gid: from_spec(linux.gid_mappings().as_ref()),
            };
            // No maps at all: libcontainer's own error says so.
            (!maps.uid.is_empty() && !maps.gid.is_empty()).then_some((maps, MapSource::Config))
        }
    }
}

/// Moves rootlessrt into the namespaces the container is built in. Returns
/// whether that is a private cgroup view, where the container has no cgroup
/// unless the user's own cgroup2 subtree is delegated: the cgroup-less
/// paths of `pause`, `ps`, `kill --all` are used for it.
fn enter_namespaces(userns: &Userns, spec: &Spec, id: &str) -> Result<bool> {
    match userns {
        Userns::Spec => Ok(false),
        Userns::Outer { uid, gid } => {
            userns::enter_outer(*uid, *gid)?;
            Ok(true)
        }
        // A hierarchy we may write (delegated to this namespace): use it.
        Userns::Inherited(_) if cgroups::writable(spec, id) => Ok(false),
        Userns::Inherited(_) => {
            userns::private_view()?;
            Ok(true)
        }
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
    // `process` itself may be missing: the spec requires it only for
    // `start` (see `placeholder_process`).
    if spec
        .process()
        .as_ref()
        .is_some_and(|p| p.args().as_ref().is_none_or(|a| a.is_empty()))
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
/// namespace, to the tracer, to the container's ID maps and to a missing
/// cgroup. Returns whether anything changed.
fn adapt_spec(spec: &mut Spec, userns: &Userns, plan: &mut Plan, has_cgroup: bool) -> Result<bool> {
    let mut changed = false;
    if let Some((maps, source)) = effective_maps(userns, spec) {
        changed |= userns::adapt_mount_ids(spec, &maps, source)?;
    }
    if !matches!(userns, Userns::Spec) {
        changed |= cgroups::adapt_rootless(spec, has_cgroup)?;
    }
    if plan.active() {
        emulation::take_seccomp(plan, spec)?;
        // The workload's IDs are the tracer's business: libcontainer would
        // fail to switch to an ID the single mapping does not hold. Its
        // HOME is that of the user the tracer fakes, as runc gives it (the
        // rootfs path is relative to the bundle, our cwd here).
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
        changed = true;
    }
    if matches!(userns, Userns::Outer { .. }) {
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
        changed = true;
    }
    Ok(changed)
}

/// Creates the container; returns its init pid.
pub fn create(opts: &Options) -> Result<i32> {
    let c = opts.create;
    store::validate_id(&c.id)?;
    let root = opts.resumed.root.clone();
    let (bundle, mut spec) = load_bundle(&c.bundle)?;
    let no_process = spec.process().is_none();
    if no_process {
        spec.set_process(Some(placeholder_process()?));
    }
    let userns = Userns::decode(&opts.resumed.detail)?;
    let private_view = opts.resumed.outer;
    // No user namespace in the config: the one rootlessrt runs in is the
    // container's, and decides the tracer's default.
    let inherits_single_id = matches!(&userns, Userns::Inherited(m) if m.single_id());
    let mode = emulation::mode_from_spec(&spec, inherits_single_id)?;
    let mut plan = if matches!(mode, tracer::Mode::Off) {
        Plan::off()
    } else {
        emulation::plan_for_process(mode, spec.process().as_ref())
    };
    plan.stat_shim = emulation::stat_shim_from_spec(&spec)?;
    let seccomp_late = seccomp_late::wanted(&plan, &spec);
    // Its mounts are locked: a bind mount must keep its source's atime.
    let in_userns = !matches!(userns, Userns::Spec) || in_user_namespace(&spec);
    let keep_mount_flags = in_userns && mounts::need_keeping(&spec, &bundle);
    let pid_file = c.pid_file.as_ref().map(|p| absolute(p));
    let console = opts
        .own_console
        .clone()
        .or_else(|| c.console_socket.as_ref().map(|p| absolute(p)));

    let dev_null = init::dev_null_modes();
    let lock = RootLock::acquire(&root)?;
    if root.join(&c.id).exists() {
        bail!("container {:?} already exists", c.id);
    }
    let sidecar = store::sidecar_dir(&root, &c.id);
    let result = (|| -> Result<i32> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&sidecar)?;
        // runc runs from the bundle: relative mount sources and hook paths
        // are relative to it.
        std::env::set_current_dir(&bundle)?;
        let has_cgroup = matches!(userns, Userns::Spec) || cgroups::writable(&spec, &c.id);
        let mut adapted = spec.clone();
        let mut changed = adapt_spec(&mut adapted, &userns, &mut plan, has_cgroup)?;
        let own_hooks = hooks::adapt(&mut adapted, &bundle)?;
        changed |= !own_hooks.is_empty() || hooks::needs_adapting(&spec);
        if seccomp_late {
            seccomp_late::route(&mut plan, &mut adapted);
        }
        if keep_mount_flags {
            mounts::keep_locked_flags(&mut adapted, &bundle);
        }
        changed |= no_process || seccomp_late || keep_mount_flags;
        let lc_bundle = if changed {
            if let Some(r) = adapted.root_mut() {
                let abs = bundle.join(r.path());
                r.set_path(abs);
            }
            adapted
                .save(sidecar.join("config.json"))
                .map_err(|e| anyhow!("cannot write adapted config: {e}"))?;
            sidecar.clone()
        } else {
            bundle.clone()
        };
        let builder = ContainerBuilder::new(c.id.clone(), SyscallType::default());
        let builder = if no_process {
            builder.with_executor(NoProcess)
        } else {
            builder.with_executor(InitExecutor {
                hold_signals: plan.active(),
                inner: TracerExecutor {
                    plan: plan.clone(),
                    init: true,
                },
                dev_null,
            })
        };
        let container = builder
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
            .map_err(|e| anyhow!("{}", crate::errors::create_failed(&e)))?;
        let pid = container
            .pid()
            .ok_or_else(|| anyhow!("container has no init pid"))?
            .as_raw();
        // Written once, when the pid is known: replacing a file makes ext4
        // flush it (auto_da_alloc), which cost ~0.1 ms per create. Until
        // then, readers fall back to libcontainer's state (Handle::load).
        let meta = Meta {
            bundle: bundle.clone(),
            outer_userns: private_view,
            emulation: plan.mode_name().to_string(),
            init_start_time: crate::procs::start_time(pid),
            hooks: own_hooks,
            no_process,
            seccomp: plan.seccomp.clone(),
            ..Default::default()
        };
        meta.save(&root, &c.id)?;
        Ok(pid)
    })();
    if result.is_err() {
        // Leave nothing behind: not our sidecar, not libcontainer's dir.
        let _ = store::remove_state(&root, &c.id);
    }
    drop(lock);
    result
}

/// Whether the container's namespaces live in a user namespace (a new one
/// or one it joins).
fn in_user_namespace(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::User))
}

/// The process a container without `process` gets from libcontainer, which
/// needs one: no capabilities, no new privileges; it waits for `start`,
/// which fails and kills it instead of running anything (lifecycle::start).
fn placeholder_process() -> Result<Process> {
    let none = std::collections::HashSet::new;
    let caps = LinuxCapabilitiesBuilder::default()
        .bounding(none())
        .effective(none())
        .permitted(none())
        .inheritable(none())
        .ambient(none())
        .build()
        .map_err(|e| anyhow!("{e}"))?;
    let mut p = Process::default();
    p.set_args(Some(vec!["rootlessrt: no process".into()]));
    p.set_capabilities(Some(caps));
    p.set_no_new_privileges(Some(true));
    p.set_rlimits(None);
    Ok(p)
}

/// The executor of that placeholder: never runs anything.
#[derive(Clone)]
struct NoProcess;

impl Executor for NoProcess {
    fn exec(&self, _: &Spec) -> Result<(), ExecutorError> {
        Err(ExecutorError::Other("config.json has no process".into()))
    }

    fn validate(&self, _: &Spec) -> Result<(), ExecutorValidationError> {
        Ok(())
    }
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
