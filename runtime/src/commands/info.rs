//! `features`, `update`, `events`: what needs a cgroup says so clearly when
//! the container has none.

use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use libcgroups::common::{CgroupManager, ControllerOpt};
use oci_spec::runtime::LinuxResources;
use serde_json::json;

use crate::cli::Update;
use crate::store::Handle;

pub fn features() -> Result<()> {
    let v = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["ro", "rw", "bind", "rbind", "nosuid", "nodev", "noexec", "relatime", "strictatime",
                         "private", "rprivate", "shared", "rshared", "slave", "rslave"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": true},
            "seccomp": {"enabled": true},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        },
        "annotations": {
            "io.rootlessrt.fake-root": "off | ids | full (default: full when the user namespace maps a single ID)",
            "io.rootlessrt.stat-shim": "on | off (default: on; full mode preloads /dev/.rootlessrt/statshim.so to answer stat in-process)"
        }
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn manager(h: &Handle) -> Result<libcgroups::common::AnyCgroupManager> {
    if h.meta.outer_userns {
        bail!(
            "container {:?} has no cgroup of its own (rootless, no cgroup delegation)",
            h.id
        );
    }
    let cfg = h.container.spec().map_err(|e| anyhow!("{e}"))?;
    libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
        cgroup_path: cfg.cgroup_path.clone(),
        systemd_cgroup: h.container.systemd(),
        container_name: h.id.clone(),
    })
    .map_err(|e| anyhow!("cgroup of {:?}: {e}", h.id))
}

pub fn update(root: &Path, u: &Update) -> Result<()> {
    let h = Handle::load(root, &u.id)?;
    let mut res: LinuxResources = match &u.resources {
        Some(p) => {
            let mut data = Vec::new();
            if p == Path::new("-") {
                std::io::stdin().read_to_end(&mut data)?;
            } else {
                data = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            }
            serde_json::from_slice(&data).map_err(|e| anyhow!("malformed resources: {e}"))?
        }
        None => LinuxResources::default(),
    };
    if let Some(pids) = u.pids_limit {
        res.set_pids(Some(
            oci_spec::runtime::LinuxPidsBuilder::default()
                .limit(pids)
                .build()?,
        ));
    }
    if u.memory.is_some() {
        let mut m = (*res.memory()).unwrap_or_default();
        m.set_limit(u.memory);
        res.set_memory(Some(m));
    }
    if u.cpu_quota.is_some() || u.cpu_period.is_some() || u.cpu_share.is_some() {
        let mut c = res.cpu().clone().unwrap_or_default();
        c.set_quota(u.cpu_quota);
        c.set_period(u.cpu_period);
        c.set_shares(u.cpu_share);
        res.set_cpu(Some(c));
    }
    let m = manager(&h)?;
    m.apply(&ControllerOpt {
        resources: &res,
        disable_oom_killer: false,
        oom_score_adj: None,
        freezer_state: None,
    })
    .map_err(|e| anyhow!("cannot update {:?}: {e}", u.id))
}

pub fn events(root: &Path, id: &str, stats: bool, interval: u32) -> Result<()> {
    loop {
        let h = Handle::load(root, id)?;
        let data = match manager(&h).and_then(|m| m.stats().map_err(|e| anyhow!("{e}"))) {
            Ok(s) => serde_json::to_value(s)?,
            Err(e) => {
                tracing::debug!("stats unavailable: {e}");
                let pids = h
                    .pid()
                    .map(crate::procs::container_pids)
                    .unwrap_or_default();
                json!({"pids": {"current": pids.len()}})
            }
        };
        println!("{}", json!({"type": "stats", "id": id, "data": data}));
        if stats {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(interval.max(1) as u64));
    }
}
