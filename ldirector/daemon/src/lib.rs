//! The ldirectord daemon: the tokio shell around [`ldirector::director`],
//! and ldirectord 4.12's command line (start/stop/status/… with its exit
//! codes, pid file and `/etc/ha.d` lookup), including its use as a
//! heartbeat resource script and as an OCF agent.

pub mod backend;
pub mod cli;
pub mod commands;
pub mod control;
pub mod daemon;
pub mod disk;
pub mod hooks;
pub mod load;
pub mod logging;
pub mod monitor;
pub mod ocf;
pub mod paths;
pub mod pidfile;
pub mod probe;
pub mod report;

pub use daemon::{run, Controller, RunOptions};

/// What `-v` prints; the version ldirectord 4.12 reports, then ours.
pub const VERSION_TEXT: &str = concat!(
    "Linux Director v1.186-ha\n",
    "ldirectord (Rust) ",
    env!("CARGO_PKG_VERSION"),
    "\n"
);
