//! End-to-end tests of the built `rootlessrt` binary, in four settings:
//! `user` (unprivileged, no subuid, host cgroup layout), `user_cgv2` (same
//! user on a simulated pure cgroup v2 host), `root`, `root_userns`.
//! See integration/src/lib.rs for the harness. Test names are
//! `<module>::<scenario>::<setting>`, e.g. `lifecycle::run_exit_code::user`.

mod bad_input;
mod cli;
mod containment;
mod contract;
mod exec;
mod introspect;
mod lifecycle;
mod signals;
mod spec_rules;
mod tty;
