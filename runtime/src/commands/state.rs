//! `state` and `list`: runc's JSON and table.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::store::{self, Handle};

pub fn state_json(h: &Handle) -> serde_json::Value {
    let st = &h.container.state;
    let status = h.status();
    let pid = match status {
        libcontainer::container::ContainerStatus::Stopped => 0,
        _ => h.pid().unwrap_or(0),
    };
    let rootfs = crate::commands::spec::rootfs_of(&h.meta.bundle).unwrap_or_default();
    json!({
        "ociVersion": "1.2.0",
        "id": h.id,
        "pid": pid,
        "status": store::status_str(status),
        "bundle": h.meta.bundle,
        "rootfs": rootfs,
        "created": st.created.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
        "owner": owner_name(owner_uid(h).or(st.creator)),
        "annotations": st.annotations.clone().unwrap_or_default(),
    })
}

/// The user who created the container, as the host sees it: inside the
/// outer user namespace libcontainer records uid 0.
fn owner_uid(h: &Handle) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(h.root.join(&h.id)).ok().map(|m| m.uid())
}

fn owner_name(uid: Option<u32>) -> String {
    let Some(uid) = uid else { return String::new() };
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

pub fn state(root: &Path, id: &str) -> Result<()> {
    let h = Handle::load(root, id)?;
    println!("{}", serde_json::to_string_pretty(&state_json(&h))?);
    Ok(())
}

pub fn list(root: &Path, format: &str, quiet: bool) -> Result<()> {
    let handles: Vec<Handle> = store::list_ids(root)
        .iter()
        .filter_map(|id| Handle::load(root, id).ok())
        .collect();
    if quiet {
        for h in &handles {
            println!("{}", h.id);
        }
        return Ok(());
    }
    match format {
        "json" => {
            let v: Vec<_> = handles.iter().map(state_json).collect();
            println!("{}", serde_json::to_string(&v)?);
        }
        "table" => {
            println!(
                "{:<20} {:<8} {:<10} {:<40} {:<31} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for h in &handles {
                let s = state_json(h);
                println!(
                    "{:<20} {:<8} {:<10} {:<40} {:<31} {}",
                    h.id,
                    s["pid"],
                    s["status"].as_str().unwrap_or(""),
                    h.meta.bundle.display(),
                    s["created"].as_str().unwrap_or(""),
                    s["owner"].as_str().unwrap_or("")
                );
            }
        }
        other => anyhow::bail!("invalid format {other:?}: expected table or json"),
    }
    Ok(())
}
