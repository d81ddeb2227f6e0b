//! When and how the ID-emulation tracer runs a container's workload.
//!
//! It is on by default when the container's user namespace maps a single ID
//! (what an unprivileged user without subuid gets), off with a full range or
//! no user namespace. The annotation `io.rootlessrt.fake-root` (`off`, `ids`,
//! `full`) overrides that per container.

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

/// True when the spec asks for a new user namespace whose maps hold one ID.
pub fn single_id_userns(spec: &Spec) -> bool {
    let Some(linux) = spec.linux() else {
        return false;
    };
    let new_userns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    if !new_userns {
        return false;
    }
    let single = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| match m {
        Some(v) => v.iter().map(|e| e.size() as u64).sum::<u64>() <= 1,
        None => true,
    };
    single(linux.uid_mappings()) && single(linux.gid_mappings())
}

pub fn mode_from_spec(spec: &Spec) -> Result<tracer::Mode> {
    if let Some(v) = spec.annotations().as_ref().and_then(|a| a.get(ANNOTATION)) {
        return match tracer::Mode::from_str(v) {
            Ok(m) => Ok(m),
            Err(_) => bail!("annotation {ANNOTATION}={v:?}: expected off, ids or full"),
        };
    }
    Ok(if single_id_userns(spec) {
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
    }
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
        plan.seccomp = Some(profile);
        linux.set_seccomp(None);
    }
    Ok(())
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
        let cfg = tracer::Config {
            mode: self.plan.mode,
            creds: tracer::Credentials {
                uid: self.plan.uid,
                gid: self.plan.gid,
                groups: self.plan.groups.clone(),
            },
            caps: self.plan.caps,
            no_new_privs: self.plan.no_new_privs,
            init: self.init,
            stat_shim: self.init && self.plan.stat_shim,
            pre_exec: self.plan.seccomp.clone().map(|profile| {
                tracer::PreExec(std::sync::Arc::new(move || {
                    libcontainer::seccomp::initialize_seccomp(&profile)
                        .map(|_| ())
                        .map_err(|_| libc::EPERM)
                }))
            }),
        };
        let e = tracer::run_then_exit(&cfg, &argv, &env);
        // After `start` nobody reads libcontainer's channel any more: say it
        // where the workload's own errors go, as runc does for exec failures.
        let msg = format!("{:?}: {e}", args[0]);
        eprintln!("rootlessrt: {msg}");
        Err(ExecutorError::Other(msg))
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
