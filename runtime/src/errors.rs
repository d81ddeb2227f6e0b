//! One-line error messages: libcontainer's errors nest their causes, and a
//! caller (containerd, a shell) wants them on one line.

use std::error::Error;

pub fn flatten(e: &dyn Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    one_line(&parts.join(": "))
}

/// Why the workload's command cannot run, in runc's words (containerd and
/// podman look for "executable file not found" and "no such file or
/// directory" to report exit status 127): a path is stat'ed, a bare name is
/// looked up in $PATH.
pub fn exec_not_found(arg0: &str) -> String {
    if !arg0.contains('/') {
        return format!("exec: {arg0:?}: executable file not found in $PATH");
    }
    let why = match std::fs::metadata(arg0) {
        Err(e) => {
            let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT));
            format!("stat {arg0}: {}", lower_first(errno.desc()))
        }
        Ok(_) => "permission denied".to_string(),
    };
    format!("exec: {arg0:?}: {why}")
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// A failed `create`, on one line. When the container's init reported the
/// failure (the command cannot run, a mount failed, ...), libcontainer wraps
/// its text as "failed to create container: exec process failed with error
/// error in executing process : <text>" (its error types hide the inner one
/// from `source()`); that becomes runc's "unable to start container
/// process: <text>".
pub fn create_failed(e: &libcontainer::error::LibcontainerError) -> String {
    const WRAPPED: &str = "exec process failed with error error in executing process : ";
    let text = flatten(e);
    match text.find(WRAPPED) {
        Some(at) => format!(
            "unable to start container process: {}",
            &text[at + WRAPPED.len()..]
        ),
        None => text,
    }
}

pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_errors_read_like_runc() {
        assert_eq!(
            exec_not_found("/no/such"),
            "exec: \"/no/such\": stat /no/such: no such file or directory"
        );
        assert_eq!(
            exec_not_found("nosuch"),
            "exec: \"nosuch\": executable file not found in $PATH"
        );
    }

    #[test]
    fn newlines_and_chains_fold_into_one_line() {
        let inner = std::io::Error::other("disk\nfull");
        let outer = anyhow::Error::new(inner).context("cannot write");
        let s = flatten(outer.as_ref());
        assert_eq!(s, "cannot write: disk full");
    }
}
