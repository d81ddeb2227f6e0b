//! OCI hooks as the runtime spec wants them, around libcontainer's runner.
//!
//! libcontainer runs `prestart` and `createRuntime` hooks itself, during
//! `create`, with its own view of the state: status `creating` and, when
//! rootlessrt handed it an adapted copy of the config, the bundle
//! `<root>/.rlrt-<id>`. The spec wants a prestart hook to see `created` and
//! every hook to see the user's bundle. Those hooks therefore reach
//! libcontainer wrapped: the wrapper is this binary (`rootlessrt hook`), which
//! corrects the state it reads on stdin and then execs the real hook with the
//! same pid, argv, environment and timeout.
//!
//! `poststart` and `poststop` hooks are kept out of libcontainer's config and
//! run here, one at a time: a failing one is logged as a warning and the
//! others still run, as the spec says for both.

use std::io::{Read, Seek, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::{Hook, HookBuilder, Hooks, Spec};
use serde::{Deserialize, Serialize};

/// The hooks rootlessrt runs itself, saved with the container's metadata.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct OwnHooks {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<Hook>,
}

impl OwnHooks {
    pub fn is_empty(&self) -> bool {
        self.poststart.is_empty() && self.poststop.is_empty()
    }
}

/// True when the spec has hooks that `adapt` must rewrite or take out.
pub fn needs_adapting(spec: &Spec) -> bool {
    let Some(h) = spec.hooks() else {
        return false;
    };
    let some = |v: &Option<Vec<Hook>>| v.as_ref().is_some_and(|v| !v.is_empty());
    #[allow(deprecated)]
    let prestart = some(h.prestart());
    prestart || some(h.create_runtime()) || some(h.poststart()) || some(h.poststop())
}

/// Takes `poststart` and `poststop` out of the spec libcontainer gets, and
/// wraps `prestart` and `createRuntime` so that they see `bundle`.
pub fn adapt(spec: &mut Spec, bundle: &Path) -> Result<OwnHooks> {
    let Some(hooks) = spec.hooks().clone() else {
        return Ok(OwnHooks::default());
    };
    // The sealed image this process runs (sealed.rs): its host path is the
    // one a hook could not reach (a detached overlay), so libcontainer,
    // which runs these hooks from this very process, execs it through the
    // link to our own image.
    let exe = std::path::PathBuf::from("/proc/self/exe");
    let own = OwnHooks {
        poststart: hooks.poststart().clone().unwrap_or_default(),
        poststop: hooks.poststop().clone().unwrap_or_default(),
    };
    let mut adapted: Hooks = hooks.clone();
    #[allow(deprecated)]
    let prestart = hooks.prestart().as_ref();
    #[allow(deprecated)]
    adapted.set_prestart(wrap_all(prestart, &exe, "created", bundle)?);
    adapted.set_create_runtime(wrap_all(
        hooks.create_runtime().as_ref(),
        &exe,
        "creating",
        bundle,
    )?);
    adapted.set_poststart(None);
    adapted.set_poststop(None);
    spec.set_hooks(Some(adapted));
    Ok(own)
}

fn wrap_all(
    hooks: Option<&Vec<Hook>>,
    exe: &Path,
    status: &str,
    bundle: &Path,
) -> Result<Option<Vec<Hook>>> {
    hooks
        .map(|v| v.iter().map(|h| wrap(h, exe, status, bundle)).collect())
        .transpose()
}

/// `rootlessrt hook <status> <bundle> <path> <argv...>`, with the hook's own
/// environment and timeout.
fn wrap(hook: &Hook, exe: &Path, status: &str, bundle: &Path) -> Result<Hook> {
    let path = hook.path().to_string_lossy().into_owned();
    let argv = hook.args().clone().unwrap_or_else(|| vec![path.clone()]);
    let mut args = vec![
        "rootlessrt".to_string(),
        "hook".to_string(),
        status.to_string(),
        bundle.to_string_lossy().into_owned(),
        path,
    ];
    args.extend(argv);
    let mut b = HookBuilder::default().path(exe).args(args);
    if let Some(env) = hook.env() {
        b = b.env(env.clone());
    }
    if let Some(t) = hook.timeout() {
        b = b.timeout(t);
    }
    b.build().map_err(|e| anyhow!("cannot wrap hook: {e}"))
}

/// `rootlessrt hook`: the wrapper's side. Reads the state libcontainer wrote,
/// sets `status` and `bundle`, and execs the hook with it on stdin. Returns
/// only on error.
pub fn shim(status: &str, bundle: &Path, path: &Path, argv: &[String]) -> anyhow::Error {
    match exec_hook(status, bundle, path, argv) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn exec_hook(
    status: &str,
    bundle: &Path,
    path: &Path,
    argv: &[String],
) -> Result<std::convert::Infallible> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("hook: cannot read the container state")?;
    let mut state: serde_json::Value =
        serde_json::from_slice(&input).context("hook: malformed container state")?;
    let Some(obj) = state.as_object_mut() else {
        bail!("hook: the container state is not a JSON object");
    };
    obj.insert("status".into(), status.into());
    obj.insert(
        "bundle".into(),
        bundle.to_string_lossy().into_owned().into(),
    );
    let mut stdin = std::fs::File::from(anonymous_file()?);
    stdin.write_all(&serde_json::to_vec(&state)?)?;
    stdin.rewind()?;
    let (arg0, rest) = argv.split_first().map_or(("", &[][..]), |(a, r)| (a, r));
    let arg0 = if arg0.is_empty() {
        path.as_os_str()
    } else {
        arg0.as_ref()
    };
    // The environment is the hook's own (libcontainer set it for us).
    let err = std::process::Command::new(path)
        .arg0(arg0)
        .args(rest)
        .stdin(stdin)
        .exec();
    Err(anyhow!("cannot run hook {}: {err}", path.display()))
}

/// A file with no name, for the hook's stdin: unlike a pipe it takes a state
/// of any size without a writer thread.
fn anonymous_file() -> Result<OwnedFd> {
    // SAFETY: memfd_create takes a NUL-terminated name and flags; a
    // non-negative result is a new fd that only we own.
    let fd = unsafe { libc::memfd_create(c"rootlessrt-hook-state".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("hook: memfd_create");
    }
    // SAFETY: fd was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs `hooks` one by one with `state` on their stdin. A failure is logged as
/// a warning naming the hook; the remaining hooks still run.
pub fn run_each(
    what: &str,
    hooks: &[Hook],
    state: &libcontainer::container::State,
    cwd: Option<&Path>,
) {
    let cwd: Option<PathBuf> = cwd.filter(|d| d.is_dir()).map(Path::to_path_buf);
    for hook in hooks {
        let one = vec![hook.clone()];
        if let Err(e) =
            libcontainer::hooks::run_hooks(Some(&one), Some(state), cwd.as_deref(), None, None)
        {
            tracing::warn!(
                target: "rootlessrt",
                "{what} hook {}: {}",
                hook.path().display(),
                crate::errors::flatten(&e)
            );
        }
    }
}
