//! Bind mounts in a user namespace keep the flags the kernel locked.
//!
//! A mount namespace owned by a user namespace other than the host's gets
//! its mounts locked: their atime mode (noatime, relatime, strictatime,
//! nodiratime), read-only, nosuid, nodev and noexec can no longer be
//! cleared or changed, only added. libcontainer only ever adds the last
//! four, but sets the atime mode a bind mount asks for, so a bind of a
//! `relatime` source with `strictatime` fails with EPERM and the container
//! with it. As crun does, such a bind keeps its source's atime mode: the
//! atime options that would change it are dropped.

use std::path::Path;

use oci_spec::runtime::{Mount, Spec};

const NOATIME: u64 = libc::ST_NOATIME;
const NODIRATIME: u64 = libc::ST_NODIRATIME;
const RELATIME: u64 = libc::ST_RELATIME;

/// The options that set an atime mode.
const SETS_ATIME: &[&str] = &["strictatime", "noatime", "relatime", "nodiratime"];

fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// The atime flags of the mount `path` is on (statvfs's ST_* bits).
fn source_atime(path: &Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    Some(st.flags().bits() as u64 & (NOATIME | NODIRATIME | RELATIME))
}

/// The atime flags libcontainer would give a bind of a source with `src`:
/// strictatime, noatime or relatime replace the mode, nodiratime is added.
fn requested_atime(options: &[String], src: u64) -> u64 {
    let has = |o: &str| options.iter().any(|x| x == o);
    let mode = if has("strictatime") {
        0
    } else if has("noatime") {
        NOATIME
    } else if has("relatime") {
        RELATIME
    } else {
        src & (NOATIME | RELATIME)
    };
    let nodir = if has("nodiratime") { NODIRATIME } else { 0 };
    mode | nodir | (src & NODIRATIME)
}

/// For a container whose mount namespace lives in a user namespace of its
/// own: drops the atime options of bind mounts that would change what the
/// kernel locked. Relative sources are relative to `bundle`. Returns true
/// when something was changed.
pub fn keep_locked_flags(spec: &mut Spec, bundle: &Path) -> bool {
    let Some(mounts) = spec.mounts().clone() else {
        return false;
    };
    let mut changed = false;
    let fixed: Vec<Mount> = mounts
        .into_iter()
        .map(|mut m| {
            if let Some(opts) = atime_kept(&m, bundle) {
                tracing::debug!(
                    "bind mount {}: keeping its source's atime mode (locked in a user namespace)",
                    m.destination().display()
                );
                m.set_options(Some(opts));
                changed = true;
            }
            m
        })
        .collect();
    if changed {
        spec.set_mounts(Some(fixed));
    }
    changed
}

/// The options of `m` without its atime options, when they would change a
/// locked atime mode; None when `m` is fine as it is.
fn atime_kept(m: &Mount, bundle: &Path) -> Option<Vec<String>> {
    let opts = m.options().as_ref()?;
    if !is_bind(m) || !opts.iter().any(|o| SETS_ATIME.contains(&o.as_str())) {
        return None;
    }
    let source = bundle.join(m.source().as_ref()?);
    let src = source_atime(&source)?;
    if requested_atime(opts, src) == src {
        return None;
    }
    Some(
        opts.iter()
            .filter(|o| !SETS_ATIME.contains(&o.as_str()))
            .cloned()
            .collect(),
    )
}

/// Whether `keep_locked_flags` would change the spec.
pub fn need_keeping(spec: &Spec, bundle: &Path) -> bool {
    spec.mounts()
        .iter()
        .flatten()
        .any(|m| atime_kept(m, bundle).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn atime_as_libcontainer_sets_it() {
        assert_eq!(requested_atime(&opts(&["strictatime"]), RELATIME), 0);
        assert_eq!(requested_atime(&opts(&["nosuid"]), RELATIME), RELATIME);
        assert_eq!(requested_atime(&opts(&["noatime"]), RELATIME), NOATIME);
        assert_eq!(
            requested_atime(&opts(&["nodiratime"]), RELATIME),
            RELATIME | NODIRATIME
        );
        assert_eq!(
            requested_atime(&opts(&["strictatime"]), NODIRATIME),
            NODIRATIME
        );
    }
}
