//! Whether a rootless container gets a cgroup, and what it cannot have
//! without one.
//!
//! runc's rule when rootless (euid ≠ 0, or euid 0 in a nested user
//! namespace) with the cgroupfs driver: a cgroup it may not create is
//! skipped when the config names no `cgroupsPath`; device rules are never
//! applied; a resource limit that cannot be applied is an error ("cannot set
//! pids limit: container could not join or create cgroup"), not a silently
//! unlimited container. rootlessrt follows it, except that a `cgroupsPath`
//! it cannot create is skipped too: ctr's default spec always names one,
//! and the engines that run a rootless runtime pass no limits there.

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Result};
use nix::unistd::{faccessat, AccessFlags};
use oci_spec::runtime::Spec;
use serde_json::Value;

const ROOT: &str = "/sys/fs/cgroup";

/// The container's cgroup, relative to a hierarchy's root, as libcontainer
/// names it (`utils::get_cgroup_path`).
fn relative_path(spec: &Spec, id: &str) -> PathBuf {
    let p = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .unwrap_or_else(|| PathBuf::from(format!(":youki:{id}")));
    let mut rel = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => rel.push(n),
            Component::ParentDir => {
                rel.pop();
            }
            _ => {}
        }
    }
    rel
}

/// Whether this process may create the container's cgroup: a cgroup2
/// hierarchy at /sys/fs/cgroup whose nearest existing ancestor of that
/// cgroup we may write (effective IDs, this user namespace's capabilities),
/// as in a delegated subtree. A v1 hierarchy never is, for a rootless
/// container: libcgroups' v1 manager always writes device rules, which only
/// root of the initial user namespace may.
pub fn writable(spec: &Spec, id: &str) -> bool {
    let root = Path::new(ROOT);
    crate::userns::is_cgroup2(root) && can_create(root, &relative_path(spec, id))
}

fn can_create(mount: &Path, rel: &Path) -> bool {
    let mut p = mount.join(rel);
    while !p.exists() {
        if !p.pop() || !p.starts_with(mount) {
            return false;
        }
    }
    faccessat(
        None,
        &p,
        AccessFlags::W_OK | AccessFlags::X_OK,
        nix::fcntl::AtFlags::AT_EACCESS,
    )
    .is_ok()
}

/// The resource limits a config asks for (`linux.resources` without the
/// device rules, and without values that restrict nothing), as the JSON
/// names of their sections.
pub fn limits(spec: &Spec) -> Vec<String> {
    let Some(res) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else {
        return Vec::new();
    };
    let Ok(Value::Object(sections)) = serde_json::to_value(res) else {
        return Vec::new();
    };
    sections
        .iter()
        .filter(|(name, v)| name.as_str() != "devices" && restricts(name, v))
        .map(|(name, _)| name.clone())
        .collect()
}

/// Whether a section of `linux.resources` restricts anything. Values that
/// only restate the kernel's defaults do not: ctr always passes `cpu.shares`
/// 1024 (the default weight); -1 and 0 mean "unlimited" for the memory and
/// pids limits and the CPU quota; a period without a quota limits nothing.
fn restricts(section: &str, v: &Value) -> bool {
    let Value::Object(fields) = v else {
        return has_value(v);
    };
    fields.iter().any(|(field, v)| {
        let n = v.as_i64();
        let noop = match (section, field.as_str()) {
            ("cpu", "shares") => matches!(v.as_u64(), Some(0 | 1024)),
            ("cpu", "quota" | "realtimeRuntime") => n.is_some_and(|n| n <= 0),
            ("cpu", "period" | "realtimePeriod") => true,
            ("memory", "limit" | "reservation" | "swap" | "kernel" | "kernelTCP") => {
                n.is_some_and(|n| n <= 0)
            }
            ("memory", "disableOOMKiller") => v == &Value::Bool(false),
            ("memory", "useHierarchy" | "checkBeforeUpdate") => true,
            ("pids", "limit") => n.is_some_and(|n| n <= 0),
            _ => false,
        };
        !noop && has_value(v)
    })
}

/// The cgroup2 controller a section of `linux.resources` needs.
fn controller_of(section: &str) -> Option<&'static str> {
    Some(match section {
        "cpu" => "cpu",
        "memory" => "memory",
        "pids" => "pids",
        "blockIO" => "io",
        "hugepageLimits" => "hugetlb",
        "rdma" => "rdma",
        _ => return None,
    })
}

/// The controllers of the cgroup2 hierarchy at /sys/fs/cgroup (empty on a
/// hybrid host's unified hierarchy, where v1 holds them all).
fn controllers() -> Vec<String> {
    std::fs::read_to_string(Path::new(ROOT).join("cgroup.controllers"))
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

fn has_value(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Object(o) => o.values().any(has_value),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

/// `linux.resources` of a rootless container: device rules are never
/// applied (runc ignores them rootless; only root of the initial user
/// namespace may write them); without a cgroup of its own, a limit is an
/// error, as with runc, and the section goes. Returns whether the spec
/// changed.
pub fn adapt_rootless(spec: &mut Spec, has_cgroup: bool) -> Result<bool> {
    let asked = limits(spec);
    if !has_cgroup && !asked.is_empty() {
        bail!(
            "cannot apply linux.resources.{}: the container cannot have a cgroup of its own \
             (rootless, and the cgroup hierarchy is not writable: no delegation)",
            asked.join(", linux.resources.")
        );
    }
    if has_cgroup {
        let available = controllers();
        if let Some((section, ctl)) = asked
            .iter()
            .filter_map(|a| Some((a, controller_of(a)?)))
            .find(|(_, c)| !available.iter().any(|x| x == c))
        {
            bail!(
                "cannot apply linux.resources.{section}: the {ctl} controller is not \
                 available in this cgroup2 hierarchy (cgroup.controllers)"
            );
        }
    }
    let Some(res) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.resources_mut().as_mut())
    else {
        return Ok(false);
    };
    if !has_cgroup {
        spec.linux_mut().as_mut().map(|l| l.set_resources(None));
        return Ok(true);
    }
    Ok(res.devices_mut().take().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(linux: Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "linux": linux
        }))
        .unwrap()
    }

    #[test]
    fn device_rules_and_empty_sections_are_not_limits() {
        // what ctr run passes, podman's rootless spec
        let ctr = spec(serde_json::json!({
            "resources": {"devices": [{"allow": false, "access": "rwm"}], "cpu": {"shares": 1024}}
        }));
        assert!(limits(&ctr).is_empty());
        assert!(limits(&spec(serde_json::json!({"resources": {}}))).is_empty());
        assert!(limits(&spec(serde_json::json!({"resources": {"memory": {}}}))).is_empty());
        let unlimited = spec(serde_json::json!({"resources": {
            "memory": {"limit": -1, "swap": -1}, "pids": {"limit": 0},
            "cpu": {"quota": -1, "period": 100000}}}));
        assert!(limits(&unlimited).is_empty());
        let shares = spec(serde_json::json!({"resources": {"cpu": {"shares": 512}}}));
        assert_eq!(limits(&shares), vec!["cpu"]);
        let pids = spec(serde_json::json!({"resources": {"pids": {"limit": 10}}}));
        assert_eq!(limits(&pids), vec!["pids"]);
        let mut s = pids.clone();
        let e = adapt_rootless(&mut s, false).unwrap_err().to_string();
        assert!(e.contains("linux.resources.pids"), "{e}");
        // with a cgroup: the limit stays, the device rules go
        let mut s = ctr.clone();
        assert!(adapt_rootless(&mut s, true).unwrap());
        let res = s.linux().as_ref().unwrap().resources().clone().unwrap();
        assert!(res.devices().is_none() && res.cpu().is_some());
        assert!(!adapt_rootless(&mut s, true).unwrap());
        let mut s = ctr.clone();
        assert!(adapt_rootless(&mut s, false).unwrap());
        assert!(s.linux().as_ref().unwrap().resources().is_none());
    }

    #[test]
    fn cgroup_paths_stay_below_the_root() {
        let s = spec(serde_json::json!({"cgroupsPath": "/default/../../x"}));
        assert_eq!(relative_path(&s, "id"), PathBuf::from("x"));
        let s = spec(serde_json::json!({}));
        assert_eq!(relative_path(&s, "id"), PathBuf::from(":youki:id"));
    }
}
