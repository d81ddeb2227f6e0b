//! A root container's seccomp profile, loaded right before exec.
//!
//! Without `noNewPrivileges`, loading a filter needs CAP_SYS_ADMIN, so
//! libcontainer loads the profile before it drops capabilities, and then
//! still runs code of its own under it (a `getcwd` check among other calls):
//! a profile that denies one of those fails the container, which runc and
//! crun start. The traced path already loads the profile in the workload's
//! child just before exec; without the tracer, the executor does the same:
//! the profile is kept out of libcontainer's config, CAP_SYS_ADMIN is lent to
//! the process until the filter is in, then taken back.

use caps::{CapSet, Capability};
use libcontainer::workload::ExecutorError;
use oci_spec::runtime::{LinuxCapabilities, LinuxSeccomp, Process, Spec};

use crate::emulation::Plan;

/// Whether `spec`'s profile should be loaded by our executor: root mode
/// without the tracer, and a profile libcontainer would load without
/// noNewPrivileges (it does so early when the field is unset, and fails to
/// load it at all when it is `false`). Notify profiles need libcontainer's
/// listener handshake and stay with it.
pub fn wanted(plan: &Plan, spec: &Spec) -> bool {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return false;
    };
    let nnp = spec
        .process()
        .as_ref()
        .and_then(|p| p.no_new_privileges())
        .unwrap_or(false);
    !plan.active() && !nnp && !libcontainer::seccomp::is_notify(profile)
}

/// Moves the profile from the spec libcontainer gets into the plan.
pub fn route(plan: &mut Plan, spec: &mut Spec) {
    let profile = spec.linux_mut().as_mut().and_then(|l| {
        let p = l.seccomp().clone();
        l.set_seccomp(None);
        p
    });
    if let Some(profile) = profile {
        take(plan, profile, spec.process_mut().as_mut());
    }
}

/// Gives the plan the profile and lends the process CAP_SYS_ADMIN for it.
pub fn take(plan: &mut Plan, profile: LinuxSeccomp, process: Option<&mut Process>) {
    plan.seccomp = Some(profile);
    plan.lent_admin = process.map_or((false, false), lend_admin);
}

/// Adds CAP_SYS_ADMIN to the effective and permitted sets the process would
/// otherwise lack it in; says where it was added.
fn lend_admin(process: &mut Process) -> (bool, bool) {
    let Some(mut caps) = process.capabilities().clone() else {
        return (false, false); // libcontainer keeps every capability
    };
    let lend = |set: Option<&std::collections::HashSet<oci_spec::runtime::Capability>>| {
        set.is_some_and(|s| !s.contains(&oci_spec::runtime::Capability::SysAdmin))
    };
    let (e, p) = (
        lend(caps.effective().as_ref()),
        lend(caps.permitted().as_ref()),
    );
    add_admin(&mut caps, e, p);
    process.set_capabilities(Some(caps));
    (e, p)
}

fn add_admin(caps: &mut LinuxCapabilities, effective: bool, permitted: bool) {
    let admin = oci_spec::runtime::Capability::SysAdmin;
    if effective {
        let mut s = caps.effective().clone().unwrap_or_default();
        s.insert(admin);
        caps.set_effective(Some(s));
    }
    if permitted {
        let mut s = caps.permitted().clone().unwrap_or_default();
        s.insert(admin);
        caps.set_permitted(Some(s));
    }
}

/// In the container's process, right before exec: loads the profile, then
/// drops what was lent. Fails closed: a capability that cannot be dropped
/// stops the exec.
pub fn load(profile: &LinuxSeccomp, lent: (bool, bool)) -> Result<(), ExecutorError> {
    let err = |what: &str, e: &dyn std::fmt::Display| {
        ExecutorError::Other(format!("seccomp profile: {what}: {e}"))
    };
    libcontainer::seccomp::initialize_seccomp(profile).map_err(|e| err("cannot load it", &e))?;
    let (effective, permitted) = lent;
    // Effective first: it must stay a subset of permitted. Without
    // effective in the spec, effective was everything permitted.
    if effective || permitted {
        caps::drop(None, CapSet::Effective, Capability::CAP_SYS_ADMIN)
            .map_err(|e| err("cannot drop CAP_SYS_ADMIN", &e))?;
    }
    if permitted {
        caps::drop(None, CapSet::Permitted, Capability::CAP_SYS_ADMIN)
            .map_err(|e| err("cannot drop CAP_SYS_ADMIN", &e))?;
    }
    Ok(())
}
