//! The runc-compatible command line. Flags and their spelling follow runc so
//! that containerd's shim, podman and the runtime-tools suite can drive us.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "rootlessrt",
    version,
    about = "An OCI runtime for unprivileged users, with fake root for package managers",
    long_version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0\nlibcontainer: 0.7.0")
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Root directory for container state
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Log file (default: stderr)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use the systemd cgroup manager
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: auto, true or false (before the subcommand)
    #[arg(long = "rootless", id = "global_rootless", default_value = "auto")]
    pub rootless: String,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container (it waits for `start`)
    Create(Create),
    /// Start a created container
    Start(IdArg),
    /// Print the state of a container as JSON
    State(IdArg),
    /// Send a signal to the container's init (or every process with --all)
    Kill(Kill),
    /// Delete a container and everything it holds
    Delete(Delete),
    /// Create and start a container, wait for it unless --detach
    Run(Run),
    /// Run a new process inside a running container
    Exec(Box<Exec>),
    /// List the processes of a container
    Ps(Ps),
    /// List containers
    List(List),
    /// Suspend every process of a container
    Pause(IdArg),
    /// Resume a paused container
    Resume(IdArg),
    /// Write a new config.json
    Spec(SpecCmd),
    /// Print what this runtime supports, as JSON
    Features,
    /// Update a container's resource limits
    Update(Update),
    /// Print container events and resource usage
    Events(Events),
    /// Run a command as fake root in a fresh single-ID user namespace
    Fakeroot(Fakeroot),
    /// Internal: runs an OCI hook with the state the spec wants (hooks.rs)
    #[command(hide = true)]
    Hook(HookShim),
}

#[derive(Args, Debug)]
pub struct IdArg {
    /// Container ID
    pub id: String,
}

#[derive(Args, Debug)]
pub struct Create {
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    #[arg(long)]
    pub no_pivot: bool,
    #[arg(long)]
    pub no_new_keyring: bool,
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: i32,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct Run {
    #[command(flatten)]
    pub create: Create,
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long)]
    pub keep: bool,
    #[arg(long)]
    pub no_subreaper: bool,
}

#[derive(Args, Debug)]
pub struct Kill {
    #[arg(short, long)]
    pub all: bool,
    pub id: String,
    /// Signal name (TERM, SIGTERM) or number; default SIGTERM
    pub signal: Option<String>,
}

#[derive(Args, Debug)]
pub struct Delete {
    #[arg(short, long)]
    pub force: bool,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct Exec {
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    #[arg(short, long)]
    pub env: Vec<String>,
    #[arg(short, long)]
    pub tty: bool,
    /// UID[:GID]
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(long = "additional-gids", short = 'g')]
    pub additional_gids: Vec<u32>,
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    #[arg(long)]
    pub process_label: Option<String>,
    #[arg(long)]
    pub apparmor: Option<String>,
    #[arg(long)]
    pub no_new_privs: bool,
    #[arg(long)]
    pub cap: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: i32,
    #[arg(long)]
    pub ignore_paused: bool,
    #[arg(long)]
    pub cgroup: Option<String>,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct Ps {
    #[arg(short, long, default_value = "table")]
    pub format: String,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct List {
    #[arg(short, long, default_value = "table")]
    pub format: String,
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SpecCmd {
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    #[arg(long)]
    pub rootless: bool,
}

#[derive(Args, Debug)]
pub struct Update {
    /// JSON file with linux.resources, or - for stdin
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    #[arg(long)]
    pub memory: Option<i64>,
    #[arg(long)]
    pub pids_limit: Option<i64>,
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    #[arg(long)]
    pub cpu_period: Option<u64>,
    #[arg(long)]
    pub cpu_share: Option<u64>,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct Events {
    #[arg(long, default_value_t = 5)]
    pub interval: u32,
    #[arg(long)]
    pub stats: bool,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct Fakeroot {
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Args, Debug)]
pub struct HookShim {
    /// The status the hook must see
    pub status: String,
    /// The user's bundle
    pub bundle: PathBuf,
    /// The hook's path
    pub path: PathBuf,
    /// The hook's argv (argv[0] first)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub argv: Vec<String>,
}
