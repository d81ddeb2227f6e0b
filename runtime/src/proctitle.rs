//! What a container sees of the rootlessrt process that stays in it (the
//! tracer, PID 1 or under `exec`): a short neutral name, as docker-init or
//! catatonit show, instead of the runtime's command line, whose host paths
//! (`--root`, `--bundle`, the binary's location) `/proc/<pid>/cmdline` gives
//! to anyone. The environment the runtime was started with (the user's or
//! the engine's) is wiped too: the process is non-dumpable (sealed.rs), so
//! `/proc/<pid>/environ` is closed anyway; this is the second lock.

/// The name the tracer shows (`ps`, `top`, `/proc/<pid>/{comm,cmdline}`).
pub const NAME: &str = "rlrt-init";

/// Renames this process and wipes its original argument and environment
/// strings. Call it once the environment has been copied (libcontainer's
/// `setup_envs` replaced every variable, so none points there any more).
pub fn set_neutral() {
    let name = std::ffi::CString::new(NAME).expect("no NUL");
    // SAFETY: PR_SET_NAME copies at most 16 bytes of a NUL-terminated string.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) };
    let Some([arg_start, arg_end, env_start, env_end]) = areas() else {
        return;
    };
    wipe(arg_start, arg_end, NAME.as_bytes(), true);
    wipe(env_start, env_end, b"", false);
}

/// arg_start, arg_end, env_start, env_end: fields 48-51 of /proc/self/stat.
fn areas() -> Option<[usize; 4]> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which may hold spaces and ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts with field 3 (state).
    let at = |n: usize| f.get(n - 3)?.parse::<usize>().ok();
    let a = [at(48)?, at(49)?, at(50)?, at(51)?];
    (a[0] < a[1] && a[2] <= a[3]).then_some(a)
}

/// Overwrites [start, end) of our own memory with `text` and NULs. `title`:
/// the last byte is left non-NUL, which tells the kernel the area holds a
/// process title (setproctitle(3)): `/proc/<pid>/cmdline` then ends at the
/// first NUL, after `text`, instead of showing the whole area.
fn wipe(start: usize, end: usize, text: &[u8], title: bool) {
    let len = end - start;
    // SAFETY: the kernel's own bounds of this process's argument or
    // environment strings: mapped, writable stack memory that nothing reads
    // any more (see set_neutral).
    let area = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, len) };
    area.fill(0);
    let n = text.len().min(len.saturating_sub(2));
    area[..n].copy_from_slice(&text[..n]);
    if title && len > n + 1 {
        area[len - 1] = b' ';
    }
}
