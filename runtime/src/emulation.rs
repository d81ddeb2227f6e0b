//! When and how the ID-emulation tracer runs a container's workload.
//!
//! It is on by default when the container's user namespace maps a single ID
//! (what an unprivileged user without subuid gets), off with a full range or
//! no user namespace. That namespace is the config's, or, when the config
//! has none, the one rootlessrt was started in (rootless podman, buildah, a
//! containerd in `unshare -Urm`). The annotation `io.rootlessrt.fake-root`
//! (`off`, `ids`, `full`) overrides that per container.

use std::ffi::CString;
use std::str::FromStr;

use anyhow::{bail, Result};
use libcontainer::workload::{
    default::DefaultExecutor, Executor, ExecutorError, ExecutorValidationError,
};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn find_executable(name: &str, path: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let ok = |p: &std::path::Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = std::path::PathBuf::from(name);
        return ok(&p).then_some(p);
    }
    path.split(':')
        .map(|d| std::path::Path::new(if d.is_empty() { "." } else { d }).join(name))
        .find(|p| ok(p))
}

pub const ANNOTATION: &str = "io.rootlessrt.fake-root";
/// `off` keeps the in-process stat shim out of a full-mode container: every
/// stat then goes to the tracer (slower, and no `LD_PRELOAD` in the
/// workload's environment).
pub const SHIM_ANNOTATION: &str = "io.rootlessrt.stat-shim";

/// Everything the workload's tracer needs, decided before the container is
/// built and carried into the container's init inside the executor (the
/// environment is replaced before `exec` runs, so it cannot travel there).
#[derive(Clone, Debug)]
pub struct Plan {
    pub mode: tracer::Mode,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub caps: Option<tracer::CapSets>,
    pub no_new_privs: bool,
    /// The container's own seccomp profile, loaded by the tracer's child
    /// right before exec (see `tracer::PreExec`) instead of by libcontainer.
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// CAP_SYS_ADMIN lent to the process (effective, permitted) so that
    /// the executor can load `seccomp` without noNewPrivileges; taken back
    /// once it is loaded (seccomp_late.rs).
    pub lent_admin: (bool, bool),
    /// Preload the in-process stat shim (container init, Mode::Full).
    pub stat_shim: bool,
    /// The workload's real capability sets when the tracer was given more
    /// than the workload (`grant_tracer_caps`).
    pub workload_caps: Option<tracer::CapSets>,
}

impl Plan {
    pub fn off() -> Plan {
        Plan {
            mode: tracer::Mode::Off,
            uid: 0,
            gid: 0,
            groups: vec![],
            caps: None,
            no_new_privs: false,
            seccomp: None,
            lent_admin: (false, false),
            stat_shim: false,
            workload_caps: None,
        }
    }

    pub fn active(&self) -> bool {
        !matches!(self.mode, tracer::Mode::Off)
    }

    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            tracer::Mode::Off => "off",
            tracer::Mode::Ids => "ids",
            tracer::Mode::Full => "full",
        }
    }
}

/// True when the spec asks for a new user namespace.
pub fn new_userns(spec: &Spec) -> bool {
    spec.linux().as_ref().is_some_and(|linux| {
        linux
            .namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none())
    })
}

/// True when the spec asks for a new user namespace whose maps hold one ID.
pub fn single_id_userns(spec: &Spec) -> bool {
    let Some(linux) = spec.linux() else {
        return false;
    };
    if !new_userns(spec) {
        return false;
    }
    let single = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| match m {
        Some(v) => v.iter().map(|e| e.size() as u64).sum::<u64>() <= 1,
        None => true,
    };
    single(linux.uid_mappings()) && single(linux.gid_mappings())
}

/// The tracer mode of a container. `inherited_single_id`: the config has no
/// user namespace and the one rootlessrt runs in maps a single ID, so the
/// container gets that one (`userns::inherited_maps`).
pub fn mode_from_spec(spec: &Spec, inherited_single_id: bool) -> Result<tracer::Mode> {
    if let Some(v) = spec.annotations().as_ref().and_then(|a| a.get(ANNOTATION)) {
        return match tracer::Mode::from_str(v) {
            Ok(m) => Ok(m),
            Err(_) => bail!("annotation {ANNOTATION}={v:?}: expected off, ids or full"),
        };
    }
    Ok(if single_id_userns(spec) || inherited_single_id {
        tracer::Mode::Full
    } else {
        tracer::Mode::Off
    })
}

/// Whether a container's init preloads the stat shim: on unless the
/// annotation says `off`.
pub fn stat_shim_from_spec(spec: &Spec) -> Result<bool> {
    match spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(SHIM_ANNOTATION))
    {
        None => Ok(true),
        Some(v) if v == "on" => Ok(true),
        Some(v) if v == "off" => Ok(false),
        Some(v) => bail!("annotation {SHIM_ANNOTATION}={v:?}: expected on or off"),
    }
}

/// Capability names of the spec as a bit mask.
pub fn cap_mask<'a, I: IntoIterator<Item = &'a oci_spec::runtime::Capability>>(
    set: Option<I>,
) -> u64 {
    let mut mask = 0u64;
    for cap in set.into_iter().flatten() {
        let name = serde_json::to_value(cap)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
        if let Some(c) = name.and_then(|n| caps::Capability::from_str(&n).ok()) {
            mask |= 1u64 << c.index();
        }
    }
    mask
}

pub fn plan_for_process(mode: tracer::Mode, process: Option<&oci_spec::runtime::Process>) -> Plan {
    let Some(p) = process else {
        return Plan {
            mode,
            ..Plan::off()
        };
    };
    let caps = p.capabilities().as_ref().map(|c| tracer::CapSets {
        effective: cap_mask(c.effective().as_ref()),
        permitted: cap_mask(c.permitted().as_ref()),
        inheritable: cap_mask(c.inheritable().as_ref()),
        ambient: cap_mask(c.ambient().as_ref()),
        bounding: cap_mask(c.bounding().as_ref()),
    });
    let user = p.user();
    Plan {
        mode,
        uid: user.uid(),
        gid: user.gid(),
        groups: user.additional_gids().clone().unwrap_or_default(),
        caps: Some(caps.unwrap_or(tracer::CapSets {
            effective: 0,
            permitted: 0,
            inheritable: 0,
            ambient: 0,
            bounding: 0,
        })),
        no_new_privs: p.no_new_privileges().unwrap_or(false),
        seccomp: None,
        lent_admin: (false, false),
        stat_shim: false,
        workload_caps: None,
    }
}

/// The tracer runs with the workload's capabilities plus CAP_SYS_PTRACE,
/// which it needs to trace a process that made itself non-dumpable (sudo,
/// ssh-agent, and its own child until that execs: the tracer is
/// non-dumpable, sealed.rs), and CAP_SETPCAP, to drop both from its child's
/// bounding set before the workload runs (`Config::workload_caps`). Only
/// where the spec lists capabilities: without, nothing is dropped anyway.
pub fn grant_tracer_caps(plan: &mut Plan, process: &mut oci_spec::runtime::Process) {
    use oci_spec::runtime::Capability;
    let Some(mut caps) = process.capabilities().clone() else {
        return;
    };
    let extra = [Capability::SysPtrace, Capability::Setpcap];
    let add = |set: Option<oci_spec::runtime::Capabilities>| {
        let mut set = set.unwrap_or_default();
        set.extend(extra);
        Some(set)
    };
    caps.set_bounding(add(caps.bounding().clone()));
    caps.set_effective(add(caps.effective().clone()));
    caps.set_permitted(add(caps.permitted().clone()));
    process.set_capabilities(Some(caps));
    plan.workload_caps = plan.caps;
}

/// Moves the spec's seccomp profile into the plan: libcontainer would load
/// it before our executor runs, where it would confine the tracer too.
pub fn take_seccomp(plan: &mut Plan, spec: &mut Spec) -> Result<()> {
    let Some(linux) = spec.linux_mut() else {
        return Ok(());
    };
    if let Some(profile) = linux.seccomp().clone() {
        if libcontainer::seccomp::is_notify(&profile) {
            bail!("seccomp profiles with SCMP_ACT_NOTIFY cannot be combined with fake root ({ANNOTATION}=off disables it)");
        }
        refuse_ptrace_with_profile(plan)?;
        plan.seccomp = Some(profile);
        linux.set_seccomp(None);
    }
    Ok(())
}

/// The tracer is the one process of the container its seccomp profile does
/// not confine. It is non-dumpable, so only CAP_SYS_PTRACE would let the
/// workload trace it and make it run what the profile forbids: a spec that
/// grants both is refused rather than quietly confined less than it says
/// (docs/security.md).
fn refuse_ptrace_with_profile(plan: &Plan) -> Result<()> {
    const SYS_PTRACE: u64 = 1 << 19;
    let granted = plan
        .caps
        .is_some_and(|c| (c.bounding | c.permitted | c.ambient) & SYS_PTRACE != 0);
    if granted {
        bail!(
            "a fake-root container cannot grant CAP_SYS_PTRACE together with a seccomp profile: \
             the workload could trace the tracer, which the profile does not confine \
             (drop the capability, or set {ANNOTATION}=off)"
        );
    }
    Ok(())
}

/// Runs the workload under the tracer and exits with its status; returns
/// (the message, already printed) only when it could not start.
pub fn run_tracer(plan: &Plan, init: bool, argv: &[CString], env: &[CString]) -> String {
    let cfg = tracer::Config {
        mode: plan.mode,
        creds: tracer::Credentials {
            uid: plan.uid,
            gid: plan.gid,
            groups: plan.groups.clone(),
        },
        caps: plan.caps,
        no_new_privs: plan.no_new_privs,
        init,
        stat_shim: init && plan.stat_shim,
        workload_caps: plan.workload_caps,
        container_root: true,
        pre_exec: plan.seccomp.clone().map(|profile| {
            tracer::PreExec(std::sync::Arc::new(move || {
                libcontainer::seccomp::initialize_seccomp(&profile)
                    .map(|_| ())
                    .map_err(|_| libc::EPERM)
            }))
        }),
    };
    // The container sees this process from now on (PID 1, or beside an
    // exec'd process): no host paths, no runtime environment.
    crate::proctitle::set_neutral();
    let e = tracer::run_then_exit(&cfg, argv, env);
    // After `start` nobody reads libcontainer's channel any more: say it
    // where the workload's own errors go, as runc does for exec failures.
    let msg = format!("{:?}: {e}", argv[0]);
    eprintln!("rootlessrt: {msg}");
    msg
}

/// The executor libcontainer calls in the container's init (or in an exec'd
/// process) once everything else is set up.
#[derive(Clone)]
pub struct TracerExecutor {
    pub plan: Plan,
    /// PID 1 of the container's pid namespace (not for `exec`).
    pub init: bool,
}

impl Executor for TracerExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if !self.plan.active() {
            if let Some(profile) = &self.plan.seccomp {
                crate::seccomp_late::load(profile, self.plan.lent_admin)?;
            }
            return DefaultExecutor {}.exec(spec);
        }
        let args = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().as_ref())
            .filter(|a| !a.is_empty())
            .ok_or(ExecutorError::InvalidArg)?;
        let argv: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(|_| ExecutorError::InvalidArg))
            .collect::<Result<_, _>>()?;
        let env: Vec<CString> = std::env::vars_os()
            .filter_map(|(k, v)| {
                let mut kv = k.into_encoded_bytes();
                kv.push(b'=');
                kv.extend(v.into_encoded_bytes());
                CString::new(kv).ok()
            })
            .collect();
        Err(ExecutorError::Other(run_tracer(
            &self.plan, self.init, &argv, &env,
        )))
    }

    /// Like runc: the command must resolve, through the spec's PATH or, when
    /// it sets none, the usual default one.
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let process = spec.process().as_ref();
        let arg0 = process
            .and_then(|p| p.args().as_ref())
            .and_then(|a| a.first())
            .ok_or_else(|| {
                ExecutorValidationError::ArgValidationError("process.args is empty".into())
            })?;
        let env = process.and_then(|p| p.env().as_ref());
        let path = env
            .and_then(|e| e.iter().find_map(|kv| kv.strip_prefix("PATH=")))
            .unwrap_or(DEFAULT_PATH);
        if find_executable(arg0, path).is_none() {
            return Err(ExecutorValidationError::ArgValidationError(
                crate::errors::exec_not_found(arg0),
            ));
        }
        Ok(())
    }
}
