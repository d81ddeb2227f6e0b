//! `rootlessrt fakeroot [--] CMD ARGS...`: a fresh single-ID user namespace, the host
//! filesystem as it is, and the tracer.

use crate::{run_then_exit, CapSets, Config, Credentials, Error, Mode};
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;

fn fail(code: i32, msg: impl std::fmt::Display) -> i32 {
    eprintln!("rootlessrt fakeroot: {msg}");
    code
}

fn write_file(path: &str, data: &str) -> Result<(), String> {
    std::fs::write(path, data).map_err(|e| format!("writing {path}: {e}"))
}

/// Enter a new user namespace mapping only 0 → the caller's uid/gid.
fn enter_userns() -> Result<(), String> {
    // SAFETY: plain getters.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    // SAFETY: unshare of the calling (single-threaded) process.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
        return Err(format!(
            "unshare(CLONE_NEWUSER): {}",
            std::io::Error::last_os_error()
        ));
    }
    write_file("/proc/self/setgroups", "deny")?;
    write_file("/proc/self/uid_map", &format!("0 {uid} 1\n"))?;
    write_file("/proc/self/gid_map", &format!("0 {gid} 1\n"))?;
    Ok(())
}

fn parse_user(s: &str) -> Option<Credentials> {
    let mut it = s.split(':');
    let uid = it.next()?.parse().ok()?;
    let gid = it.next()?.parse().ok()?;
    let groups = match it.next() {
        Some(g) if !g.is_empty() => g
            .split(',')
            .map(|x| x.parse().ok())
            .collect::<Option<Vec<u32>>>()?,
        _ => vec![],
    };
    Some(Credentials { uid, gid, groups })
}

pub fn fakeroot_main(args: &[OsString]) -> i32 {
    let args = match args.first() {
        Some(a) if a == "--" => &args[1..],
        _ => args,
    };
    if args.is_empty() {
        return fail(125, "usage: rootlessrt fakeroot [--] CMD [ARGS...]");
    }
    let mode = match std::env::var("RLRT_FAKEROOT_MODE") {
        Ok(m) if !m.is_empty() => match m.parse::<Mode>() {
            Ok(m) => m,
            Err(e) => return fail(125, format!("RLRT_FAKEROOT_MODE: {e}")),
        },
        _ => Mode::Full,
    };
    let mut argv = Vec::with_capacity(args.len());
    for a in args {
        match CString::new(a.as_bytes()) {
            Ok(c) => argv.push(c),
            Err(_) => return fail(125, "argument contains a NUL byte"),
        }
    }
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut b = k.as_bytes().to_vec();
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            CString::new(b).ok()
        })
        .collect();
    if let Err(e) = enter_userns() {
        return fail(125, e);
    }
    // Test knob: RLRT_FAKEROOT_USER=uid:gid[:g1,g2...] starts from other fake credentials
    // (what the runtime does for a non-root OCI process.user).
    let creds = match std::env::var("RLRT_FAKEROOT_USER") {
        Ok(s) if !s.is_empty() => match parse_user(&s) {
            Some(c) => c,
            None => return fail(125, format!("RLRT_FAKEROOT_USER: invalid value {s:?}")),
        },
        _ => Credentials {
            uid: 0,
            gid: 0,
            groups: vec![],
        },
    };
    let cfg = Config {
        mode,
        creds,
        caps: Some(CapSets::full()),
        no_new_privs: false,
        init: false,
        pre_exec: None,
        stat_shim: false,
        workload_caps: None,
        container_root: false,
    };
    let cmd = args[0].to_string_lossy();
    match run_then_exit(&cfg, &argv, &env) {
        Error::Exec(e) if e == libc::ENOENT => fail(127, format!("{cmd}: command not found")),
        Error::Exec(e) => fail(
            126,
            format!("{cmd}: {}", std::io::Error::from_raw_os_error(e)),
        ),
        e => fail(125, e),
    }
}
