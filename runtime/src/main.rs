//! rootlessrt: a runc-compatible OCI runtime that an unprivileged user
//! without subordinate IDs can run, with fake root for package managers.

mod cgroups;
mod cli;
mod commands;
mod create;
mod emulation;
mod errors;
mod hooks;
mod init;
mod logging;
mod mounts;
mod passwd;
mod procs;
mod proctitle;
mod sealed;
mod seccomp_late;
mod signal;
mod store;
mod tty;
mod userns;
mod wait;

use clap::Parser;

use cli::{Cli, Command};

fn main() {
    // clap prints its own usage errors (exit 2), like runc's urfave/cli.
    // The re-executed, sealed image of a create/run/exec (sealed.rs).
    let resumed = sealed::take();
    let cli = Cli::parse();
    if let Command::Fakeroot(f) = &cli.command {
        std::process::exit(tracer::fakeroot_main(&f.command));
    }
    if let Command::Hook(h) = &cli.command {
        // Only returns on error; libcontainer shows our stderr.
        let e = hooks::shim(&h.status, &h.bundle, &h.path, &h.argv);
        eprintln!("rootlessrt: {}", errors::flatten(e.as_ref()));
        std::process::exit(1);
    }
    if let Err(e) = logging::init(
        cli.global.log.as_deref(),
        cli.global.log_format,
        cli.global.debug,
    ) {
        eprintln!("rootlessrt: cannot open log file: {e}");
        std::process::exit(1);
    }
    match dispatch(&cli, resumed) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = errors::flatten(e.as_ref());
            tracing::error!(target: "rootlessrt", "{msg}");
            // With --log the error is in the log; runc also prints it.
            if cli
                .global
                .log
                .as_deref()
                .is_some_and(|p| p != std::path::Path::new("/dev/stderr"))
            {
                eprintln!("rootlessrt: {msg}");
            }
            std::process::exit(1);
        }
    }
}

fn dispatch(cli: &Cli, resumed: Option<sealed::Resumed>) -> anyhow::Result<i32> {
    let g = &cli.global;
    let root = || store::state_root(g.root.as_deref());
    match &cli.command {
        Command::Create(c) => {
            let resumed = create::prepare(g, c, resumed)?;
            create::create(&create::Options {
                global: g,
                create: c,
                own_console: None,
                resumed,
            })?;
        }
        Command::Start(a) => commands::lifecycle::start(&root()?, &a.id)?,
        Command::State(a) => commands::state::state(&root()?, &a.id)?,
        Command::Kill(k) => commands::lifecycle::kill(&root()?, &k.id, k.signal.as_deref(), k.all)?,
        Command::Delete(d) => commands::lifecycle::delete(&root()?, &d.id, d.force)?,
        Command::Run(r) => return commands::run::run(g, r, resumed),
        Command::Exec(e) => return commands::exec::exec(g, e, resumed),
        Command::Ps(p) => commands::lifecycle::ps(&root()?, &p.id, &p.format, &p.ps_args)?,
        Command::List(l) => commands::state::list(&root()?, &l.format, l.quiet)?,
        Command::Pause(a) => commands::lifecycle::pause(&root()?, &a.id)?,
        Command::Resume(a) => commands::lifecycle::resume(&root()?, &a.id)?,
        Command::Spec(s) => commands::spec::spec(s.bundle.as_deref(), s.rootless)?,
        Command::Features => commands::info::features()?,
        Command::Update(u) => commands::info::update(&root()?, u)?,
        Command::Events(e) => commands::info::events(&root()?, &e.id, e.stats, e.interval)?,
        Command::Fakeroot(_) | Command::Hook(_) => unreachable!("handled before logging starts"),
    }
    Ok(0)
}
