//! `exec`: a new process in a running container. A rootless container's
//! user namespace is joined first (libcontainer's tenant path does not), and
//! a traced container gives the new process a tracer of its own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::ContainerStatus;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::{Process, UserBuilder};

use crate::cli::{Exec, Global};
use crate::emulation::{self, TracerExecutor};
use crate::sealed::{self, Resumed};
use crate::seccomp_late;
use crate::store::Handle;
use crate::tty::ConsoleListener;

fn parse_user(s: &str) -> Result<(u32, Option<u32>)> {
    let bad = || anyhow!("invalid --user {s:?}: expected UID[:GID] (numbers)");
    match s.split_once(':') {
        Some((u, g)) => Ok((
            u.parse().map_err(|_| bad())?,
            Some(g.parse().map_err(|_| bad())?),
        )),
        None => Ok((s.parse().map_err(|_| bad())?, None)),
    }
}

/// The process to run, from `--process` or from the flags.
fn process_of(e: &Exec, h: &Handle) -> Result<Process> {
    if let Some(p) = &e.process {
        let data = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        return serde_json::from_slice(&data)
            .map_err(|err| anyhow!("malformed {}: {err}", p.display()));
    }
    if e.command.is_empty() {
        bail!("exec: no command given");
    }
    // Start from the container's own process (env, caps, rlimits), as runc.
    let base: Option<Process> = crate::create::load_bundle(&h.meta.bundle)
        .ok()
        .and_then(|(_, s)| s.process().clone());
    let mut p = base.unwrap_or_default();
    p.set_args(Some(e.command.clone()));
    p.set_terminal(Some(e.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &e.env {
        if !kv.contains('=') {
            bail!("invalid --env {kv:?}: expected KEY=VALUE");
        }
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &e.cwd {
        p.set_cwd(cwd.clone());
    }
    if e.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    let (uid, gid) = match &e.user {
        Some(u) => parse_user(u)?,
        None => (p.user().uid(), Some(p.user().gid())),
    };
    let mut user = UserBuilder::default()
        .uid(uid)
        .gid(gid.unwrap_or(0))
        .build()?;
    if !e.additional_gids.is_empty() {
        user.set_additional_gids(Some(e.additional_gids.clone()));
    }
    p.set_user(user);
    Ok(p)
}

fn check_status(h: &Handle, e: &Exec) -> Result<()> {
    match h.status() {
        ContainerStatus::Running | ContainerStatus::Created => Ok(()),
        ContainerStatus::Paused if e.ignore_paused => Ok(()),
        s => bail!(
            "cannot exec in container {:?}: it is {}",
            e.id,
            crate::store::status_str(s)
        ),
    }
}

/// Before anything else: join a rootless container's outer user namespace
/// and re-execute from a sealed image (sealed.rs). Returns in the
/// re-executed process only.
fn prepare(global: &Global, e: &Exec, resumed: Option<Resumed>) -> Result<Resumed> {
    if let Some(r) = resumed {
        return Ok(r);
    }
    let root = crate::store::state_root(global.root.as_deref())?;
    let h = Handle::load(&root, &e.id)?;
    check_status(&h, e)?;
    let outer = h.meta.outer_userns;
    let init = h
        .pid()
        .ok_or_else(|| anyhow!("container {:?} has no pid", e.id))?;
    // The sealed image is made where an overlay can be mounted (else it is
    // a copy of the binary): in the outer namespace we join (rootless,
    // with a mount namespace of our own), before a container's own user
    // namespace (as root, where the host's mounts are not ours).
    let image = if outer {
        crate::userns::join_outer(init)?;
        sealed::image()?
    } else {
        let image = sealed::image()?;
        if crate::userns::enter_user_of(init)? && h.meta.emulation != "off" {
            // The init (the tracer) is non-dumpable and its image was exec'd
            // on the host: from inside the container's user namespace nothing
            // can open its namespaces, and outside it the exec'd process
            // would act with the host's root identity (docs/security.md).
            bail!(
                "cannot exec in container {:?}: as root, exec into a fake-root container with a \
                 user namespace of its own is not supported (use rootless, or {}=off)",
                e.id,
                emulation::ANNOTATION
            );
        }
        image
    };
    Err(sealed::reexec_from(
        image,
        &Resumed {
            root,
            outer,
            detail: String::new(),
        },
    ))
}

pub fn exec(global: &Global, e: &Exec, resumed: Option<Resumed>) -> Result<i32> {
    let resumed = prepare(global, e, resumed)?;
    let root: &Path = &resumed.root;
    let h = Handle::load(root, &e.id)?;
    check_status(&h, e)?;
    let mut process = process_of(e, &h)?;
    let mode: tracer::Mode = h.meta.emulation.parse().unwrap_or(tracer::Mode::Off);
    let mut plan = emulation::plan_for_process(mode, Some(&process));
    if plan.active() {
        if let Ok((bundle, mut spec)) = crate::create::load_bundle(&h.meta.bundle) {
            if h.meta.seccomp.is_none() {
                // Created by a rootlessrt that did not record the profile.
                emulation::take_seccomp(&mut plan, &mut spec)?;
            }
            // HOME of the user the tracer fakes, as runc (libcontainer sees uid 0).
            if let Some(root) = spec.root() {
                crate::passwd::set_home(&mut process, &bundle.join(root.path()));
            }
        }
    }
    if let Some(profile) = h.meta.seccomp.clone() {
        // The container's profile was kept out of libcontainer's config:
        // our executor loads it (the tracer's child, or seccomp_late.rs).
        if plan.active() {
            plan.seccomp = Some(profile);
        } else {
            seccomp_late::take(&mut plan, profile, Some(&mut process));
        }
    }
    if plan.active() {
        let zero = UserBuilder::default().uid(0u32).gid(0u32).build()?;
        process.set_user(zero);
        emulation::grant_tracer_caps(&mut plan, &mut process);
    }
    let terminal = process.terminal().unwrap_or(false);
    let own_console = if terminal && e.console_socket.is_none() {
        if e.detach {
            bail!("cannot allocate a terminal in detached mode: pass --console-socket");
        }
        Some(ConsoleListener::new()?)
    } else {
        None
    };
    let console: Option<PathBuf> = own_console
        .as_ref()
        .map(|l| l.path.clone())
        .or_else(|| e.console_socket.clone());
    let process_file = h
        .root
        .join(&h.id)
        .join(format!("exec-{}.json", std::process::id()));
    std::fs::write(&process_file, serde_json::to_vec(&process)?)?;
    let pid_file = e.pid_file.as_ref().map(|p| {
        if p.is_absolute() {
            p.clone()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        }
    });
    if !resumed.outer {
        // In the container's own user namespace, if it has one (prepare).
        crate::userns::raise_effective()?;
    }
    let built = ContainerBuilder::new(e.id.clone(), SyscallType::default())
        .with_executor(TracerExecutor { plan, init: false })
        .with_root_path(root)
        .map_err(|err| anyhow!("{err}"))?
        .with_pid_file(pid_file.as_ref())
        .map_err(|err| anyhow!("{err}"))?
        .with_console_socket(console.as_ref())
        .with_preserved_fds(e.preserve_fds)
        .validate_id()
        .map_err(|err| anyhow!("{err}"))?
        .as_tenant()
        .with_detach(e.detach || own_console.is_some())
        .with_process(Some(&process_file))
        .with_env(HashMap::new())
        .with_ignore_paused(e.ignore_paused)
        .build();
    let _ = std::fs::remove_file(&process_file);
    let pid = built
        .map_err(|err| anyhow!("exec failed: {}", crate::errors::flatten(&err)))?
        .as_raw();
    let _ = global;
    if e.detach {
        return Ok(0);
    }
    let master = match &own_console {
        Some(l) => Some(l.receive()?),
        None => None,
    };
    let code = crate::wait::foreground(pid, master)?;
    Ok(code)
}
