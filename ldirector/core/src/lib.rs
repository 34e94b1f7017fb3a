//! ldirectord library: the pure (sans-IO) parts of an ldirectord 4.12
//! compatible Linux Director.
//!
//! - [`config`]: `ldirectord.cf` parser (typed, every problem as `path:line:`).
//! - [`ipvs`]: the IPVS table as a value, the commands that change it and
//!   their ipvsadm spelling.
//! - [`director`]: the check scheduler and real-server state machine; takes
//!   `now` and check results, emits IPVS commands, check starts and log events.
//! - [`negotiate`]: request bytes and response verdicts of negotiate checks.
//! - [`backend`]: the [`backend::Backend`] trait every IPVS implementation
//!   (kernel netlink, userspace forwarder, memory) provides, snapshots with
//!   counters and their `ipvsadm -Ln` listing.

pub mod backend;
pub mod config;
pub mod director;
pub mod ipvs;
pub mod negotiate;
