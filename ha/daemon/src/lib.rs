//! The heartbeat daemon: the tokio shell around the sans-IO cores.
//!
//! The shell owns every socket, file, clock, signal and process; the cores
//! (`hb-wire`, `hb-membership`) make every decision. Module map:
//!
//! * [`cli`]: `heartbeat` command line (heartbeat 3.0.6 flags plus `-t`) and
//!   what each mode does ([`cli::heartbeat_main`]).
//! * [`paths`]: every path heartbeat hard-codes, as one struct.
//! * [`pidfile`], [`state`]: `/run/heartbeat.pid`, `hb_uuid`, `hb_generation`.
//! * [`logging`]: heartbeat's log line format for `logfile`, `debugfile`,
//!   syslog and stderr.
//! * [`transport`]: UDP media (bcast, mcast, ucast) on tokio sockets.
//! * [`fifo`]: `/var/lib/heartbeat/fifo`, where scripts write `>>>`…`<<<`.
//! * [`resources`]: the shell of the resource manager (`hb-resources`);
//!   [`agent`] runs resource scripts; [`fence`] is the self-fencing seam.
//! * [`control`]: our local control socket (JSON lines) for `cl_status`.
//! * [`daemon`]: [`daemon::run`], the event loop; [`timer`] its deadline.
//! * [`events`]: the log lines for the core's events.
//! * [`cl_status`], [`standby`]: the tools.

pub mod agent;
pub mod cl_status;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod defaults;
pub mod events;
pub mod fence;
pub mod fifo;
pub mod loadavg;
pub mod logging;
pub mod ownfilter;
pub mod paths;
pub mod pidfile;
pub mod ping;
pub mod ratelimit;
pub mod resources;
pub mod respawn;
pub mod standby;
pub mod state;
pub mod timer;
pub mod transport;

/// The heartbeat release whose behaviour we reproduce.
pub const HEARTBEAT_VERSION: &str = "3.0.6";

/// What `heartbeat -V` prints. Scripts read the first word.
pub fn version_string() -> String {
    format!(
        "{HEARTBEAT_VERSION} (rust heartbeat {})",
        env!("CARGO_PKG_VERSION")
    )
}
