//! `start`, `kill`, `delete`, `pause`, `resume`. The process-level paths
//! (`procs.rs`) are used whenever the container has no cgroup we control,
//! which is always the case for a rootless container on a host without
//! delegation.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use libcontainer::container::ContainerStatus;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::store::{self, Handle};
use crate::{hooks, procs};

pub fn start(root: &Path, id: &str) -> Result<()> {
    start_with(root, id, true)
}

/// `start`; `wait_exec`: return only once the workload has been exec'd
/// (`start_created`). A foreground `run` needs no such wait: it waits for
/// the workload anyway.
pub fn start_with(root: &Path, id: &str, wait_exec: bool) -> Result<()> {
    let mut h = Handle::load(root, id)?;
    match h.status() {
        ContainerStatus::Created => {}
        ContainerStatus::Stopped => bail!("cannot start a container that has stopped"),
        ContainerStatus::Running | ContainerStatus::Paused => {
            bail!("cannot start an already running container")
        }
        ContainerStatus::Creating => bail!("cannot start a container that is still being created"),
    }
    if h.meta.no_process {
        stop_placeholder(&h);
        bail!("cannot start container {id:?}: config.json has no process to run");
    }
    start_created(&mut h, wait_exec).map_err(|e| anyhow!("cannot start container {id:?}: {e}"))
}

/// A container created without `process` cannot start (the spec requires
/// an error): its placeholder init goes, so the container is `stopped`
/// and an ordinary `delete` removes it.
fn stop_placeholder(h: &Handle) {
    if let Some(pid) = h.pid() {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        procs::wait_gone(pid, Duration::from_secs(10));
    }
}

/// The state hooks see: libcontainer's, with the bundle the user gave (not
/// the adapted copy libcontainer was handed).
fn hook_state(h: &Handle) -> libcontainer::container::State {
    let mut state = h.container.state.clone();
    state.bundle = h.meta.bundle.clone();
    state
}

/// libcontainer's `Container::start`, with the state saved in place
/// (`store::save_in_place`): wake the init through its notify socket, record
/// `running`, then run the poststart hooks in the runtime's namespaces (a
/// failing one is a warning: the spec says the lifecycle goes on).
fn start_created(h: &mut Handle, wait_exec: bool) -> Result<()> {
    use libcontainer::notify_socket::{NotifySocket, NOTIFY_FILE};
    let wait_exec = wait_exec || !h.meta.hooks.poststart.is_empty();
    let init = match wait_exec {
        true => h.pid().zip(h.pid().and_then(procs::cmdline)),
        false => None,
    };
    NotifySocket::new(h.container.root.join(NOTIFY_FILE))
        .notify_container_start()
        .map_err(|e| anyhow!("cannot wake its init: {e}"))?;
    h.set_status(ContainerStatus::Running)?;
    // Like runc's `start`, return once the workload runs: a signal sent
    // after `start` then reaches the workload rather than rootlessrt's init
    // code (which, as a pid namespace's PID 1 without handlers, would drop
    // it), and poststart hooks run after the process is executed.
    if let Some((pid, before)) = init {
        let traced = h
            .meta
            .emulation
            .parse::<tracer::Mode>()
            .is_ok_and(|m| m != tracer::Mode::Off);
        procs::wait_exec(pid, &before, traced, Duration::from_secs(2));
    }
    if !h.meta.hooks.poststart.is_empty() {
        let state = hook_state(h);
        hooks::run_each(
            "poststart",
            &h.meta.hooks.poststart,
            &state,
            Some(&h.meta.bundle),
        );
    }
    Ok(())
}

/// libcontainer's delete, retried while the cgroup cannot be removed yet:
/// the init is gone, but its killed children may still be exiting (a loaded
/// machine, a traced process), and libcgroups gives up on a busy cgroup
/// after ~0.1 s. A failed attempt stops before the state dir goes, so the
/// next one starts over; the last error is the caller's.
fn delete_container(h: &mut Handle) -> Result<(), libcontainer::error::LibcontainerError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        match h.container.delete(true) {
            Err(e) if cgroup_busy(&e) && std::time::Instant::now() < deadline => {
                tracing::debug!("delete: {e}; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            r => return r,
        }
    }
}

/// libcgroups' "could not delete" (a cgroup directory still busy after its
/// own retries): the only failure worth another attempt.
fn cgroup_busy(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        // Its io::Error is a field, not a source: reach it through inner().
        if let Some(w) = err.downcast_ref::<libcgroups::common::WrappedIoError>() {
            if w.inner().kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

pub fn kill(root: &Path, id: &str, signal: Option<&str>, all: bool) -> Result<()> {
    let sig = crate::signal::parse(signal.unwrap_or("SIGTERM"))?;
    let h = Handle::load(root, id)?;
    let pid = h.pid().filter(|_| h.status() != ContainerStatus::Stopped);
    let Some(pid) = pid else {
        if all {
            return Ok(());
        }
        bail!("container not running");
    };
    if all {
        procs::signal_all(pid, sig);
    } else {
        match nix::sys::signal::kill(Pid::from_raw(pid), sig) {
            Ok(()) => {}
            Err(nix::errno::Errno::ESRCH) => bail!("container not running: no such process"),
            Err(e) => bail!("cannot send {sig} to container {id:?}: {e}"),
        }
    }
    // A paused container must see SIGKILL take effect, as with runc.
    if h.status() == ContainerStatus::Paused && matches!(sig, Signal::SIGKILL) {
        if h.meta.paused_by_signal {
            procs::signal_all(pid, Signal::SIGCONT);
        } else {
            let mut h = h;
            if let Err(e) = h.container.resume() {
                tracing::debug!("kill {id}: thaw: {e}");
            }
        }
    }
    Ok(())
}

pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let mut h = match Handle::load(root, id) {
        Ok(h) => h,
        Err(e) => {
            // containerd always calls `delete --force` after the shim exits.
            if force && store::validate_id(id).is_ok() && !root.join(id).join("state.json").exists()
            {
                store::remove_state(root, id)?;
                return Ok(());
            }
            return Err(e);
        }
    };
    let status = h.status();
    match status {
        // The OCI spec (and its validation suite) wants an error for a
        // created container too; containerd always retries with --force.
        ContainerStatus::Stopped => {}
        _ if force => {}
        _ => bail!(
            "cannot delete container {id:?} that is not stopped: {}",
            store::status_str(status)
        ),
    }
    if let Some(pid) = h.pid().filter(|_| status != ContainerStatus::Stopped) {
        procs::signal_all(pid, Signal::SIGKILL);
        procs::signal_all(pid, Signal::SIGCONT);
        if status == ContainerStatus::Paused && !h.meta.paused_by_signal {
            // Frozen tasks cannot die until their freezer cgroup thaws.
            if let Err(e) = h.container.resume() {
                tracing::debug!("delete {id}: thaw: {e}");
            }
        }
        if !procs::wait_gone(pid, Duration::from_secs(10)) {
            bail!("cannot delete container {id:?}: its processes did not exit after SIGKILL");
        }
    }
    // In memory only: libcontainer re-derives the status from the pid
    // anyway, and the file is about to go (a rewrite costs an ext4 flush).
    h.container.set_status(ContainerStatus::Stopped);
    let state = hook_state(&h);
    // libcontainer removes the cgroup and its state dir (the poststop hooks
    // were kept out of its config).
    if let Err(e) = delete_container(&mut h) {
        let msg = crate::errors::flatten(&e);
        if !h.meta.outer_userns {
            tracing::warn!("delete {id}: {msg}");
        } else {
            tracing::debug!("delete {id}: {msg}");
        }
    }
    h.remove_state()?;
    // After the container is gone, before `delete` returns; each one runs
    // even when another failed.
    hooks::run_each(
        "poststop",
        &h.meta.hooks.poststop,
        &state,
        Some(&h.meta.bundle),
    );
    Ok(())
}

pub fn pause(root: &Path, id: &str) -> Result<()> {
    let mut h = Handle::load(root, id)?;
    match h.status() {
        ContainerStatus::Running => {}
        s => bail!(
            "cannot pause container {id:?}: it is {}",
            store::status_str(s)
        ),
    }
    if !h.meta.outer_userns && h.container.pause().is_ok() {
        return Ok(());
    }
    // No freezer we can use: stop every process instead.
    let pid = h
        .pid()
        .ok_or_else(|| anyhow!("container {id:?} has no pid"))?;
    procs::signal_all(pid, Signal::SIGSTOP);
    h.meta.paused_by_signal = true;
    h.meta.save(root, id)?;
    h.set_status(ContainerStatus::Paused)
}

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let mut h = Handle::load(root, id)?;
    match h.status() {
        ContainerStatus::Paused => {}
        s => bail!(
            "cannot resume container {id:?}: it is {}",
            store::status_str(s)
        ),
    }
    if !h.meta.paused_by_signal {
        return h.container.resume().map_err(|e| {
            anyhow!(
                "cannot resume container {id:?}: {}",
                crate::errors::flatten(&e)
            )
        });
    }
    let pid = h
        .pid()
        .ok_or_else(|| anyhow!("container {id:?} has no pid"))?;
    procs::signal_all(pid, Signal::SIGCONT);
    h.meta.paused_by_signal = false;
    h.meta.save(root, id)?;
    h.set_status(ContainerStatus::Running)
}

pub fn ps(root: &Path, id: &str, format: &str, ps_args: &[String]) -> Result<()> {
    let h = Handle::load(root, id)?;
    let pids = match h.pid() {
        Some(pid) if h.status() != ContainerStatus::Stopped => procs::container_pids(pid),
        _ => Vec::new(),
    };
    match format {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => {
            let mut args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps").args(&mut args).output();
            match out {
                Ok(o) => {
                    let text = String::from_utf8_lossy(&o.stdout);
                    let mut lines = text.lines();
                    let header = lines.next().unwrap_or("");
                    let col = header.split_whitespace().position(|c| c == "PID");
                    println!("{header}");
                    for line in lines {
                        let p =
                            col.and_then(|i| line.split_whitespace().nth(i)?.parse::<i32>().ok());
                        if p.is_some_and(|p| pids.contains(&p)) {
                            println!("{line}");
                        }
                    }
                }
                Err(_) => {
                    println!("PID");
                    for p in pids {
                        println!("{p}");
                    }
                }
            }
        }
        other => bail!("invalid format {other:?}: expected table or json"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::cgroup_busy;
    use libcgroups::common::{AnyManagerError, WrappedIoError};
    use libcgroups::v1::manager::V1ManagerError;
    use libcontainer::error::LibcontainerError;

    fn removal(kind: std::io::ErrorKind) -> LibcontainerError {
        let io = WrappedIoError::Other {
            err: std::io::Error::new(kind, "could not delete"),
            path: "/sys/fs/cgroup/pids/x".into(),
        };
        LibcontainerError::CgroupManager(AnyManagerError::V1(V1ManagerError::WrappedIo(io)))
    }

    #[test]
    fn only_a_busy_cgroup_is_retried() {
        assert!(cgroup_busy(&removal(std::io::ErrorKind::TimedOut)));
        assert!(!cgroup_busy(&removal(std::io::ErrorKind::PermissionDenied)));
        assert!(!cgroup_busy(&LibcontainerError::NoDirectory));
    }
}
