//! The heartbeat daemon: the tokio shell around the sans-IO cores.
//!
//! The shell owns every socket, file, clock, signal and process; the cores
//! (`hb-wire`, `hb-membership`, `hb-resources` with its built-in ipfail)
//! make every decision. Module map:
//!
//! * [`cli`]: `heartbeat` command line (heartbeat 3.0.6 flags plus `-t`) and
//!   what each mode does ([`cli::heartbeat_main`]); [`config`] loads and
//!   checks what it runs with; [`defaults`] is `-D` and `hbparameter`.
//! * [`paths`]: every path heartbeat hard-codes, as one struct.
//! * [`pidfile`], [`state`]: `/run/heartbeat.pid`, `hb_uuid`, `hb_generation`.
//! * [`logging`]: heartbeat's log line format for `logfile`, `debugfile`,
//!   syslog and stderr (and ResourceManager's for its lines);
//!   [`ratelimit`] keeps a peer from flooding it.
//! * [`transport`]: UDP media (bcast, mcast, ucast) on tokio sockets;
//!   [`ownfilter`] drops our own broadcasts in the kernel.
//! * [`ping`]: ping media (`ping`, `ping6`, `ping_group`) and the glue to
//!   the built-in ipfail ([`hb_resources::ipfail`]).
//! * [`fifo`]: `/var/lib/heartbeat/fifo`, where scripts write `>>>`…`<<<`.
//! * [`resources`]: the shell of the resource manager (`hb-resources`);
//!   [`agent`] runs resource scripts (and OCF agents, [`agent::ocf`]) with
//!   time limits; [`fence`] is the self-fencing seam.
//! * [`respawn`]: `respawn` and `failfast` clients with heartbeat's restart
//!   rule (ipfail is not started: it runs built in).
//! * [`control`]: our local control socket (JSON lines) for `cl_status`.
//! * [`daemon`]: [`daemon::run`], the event loop; [`timer`] its one deadline
//!   (a timerfd); [`loadavg`] the `ld` field.
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
