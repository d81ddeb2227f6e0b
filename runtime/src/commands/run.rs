//! `run`: create, start, and (unless `--detach`) wait and delete.

use anyhow::{bail, Result};

use crate::cli::{Global, Run};
use crate::create::{self, Options};
use crate::sealed::Resumed;
use crate::tty::ConsoleListener;

pub fn run(global: &Global, r: &Run, resumed: Option<Resumed>) -> Result<i32> {
    let c = &r.create;
    // Before any fd or file of ours exists: this re-executes the process.
    let resumed = create::prepare(global, c, resumed)?;
    let (_, spec) = create::load_bundle(&c.bundle)?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let own_console = if terminal && c.console_socket.is_none() {
        if r.detach {
            bail!("cannot allocate a terminal in detached mode: pass --console-socket");
        }
        Some(ConsoleListener::new()?)
    } else {
        None
    };
    let root = resumed.root.clone();
    let opts = Options {
        resumed,
        global,
        create: c,
        own_console: own_console.as_ref().map(|l| l.path.clone()),
    };
    let pid = create::create(&opts)?;
    let master = match &own_console {
        Some(l) => Some(l.receive()?),
        None => None,
    };
    // In the foreground the wait for the workload's exec is ours anyway.
    if let Err(e) = crate::commands::lifecycle::start_with(&root, &c.id, r.detach) {
        let _ = crate::commands::lifecycle::delete(&root, &c.id, true);
        return Err(e);
    }
    if r.detach {
        return Ok(0);
    }
    let code = crate::wait::foreground(pid, master)?;
    if !r.keep {
        crate::commands::lifecycle::delete(&root, &c.id, true)?;
    }
    Ok(code)
}
