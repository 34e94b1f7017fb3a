//! heartbeat resource agents (resource.d style): `IPaddr`, `IPaddr2`,
//! `drbddisk`, `Filesystem` and `LVSRealServer`.
//!
//! Every agent is called as `<Agent> <args…> start|stop|status|monitor`, like
//! the scripts in `/etc/ha.d/resource.d/`. heartbeat's ResourceManager ignores
//! the exit code of `status` and matches its stdout instead, so the words on
//! stdout are part of the interface (see [`ocf`]). Diagnostics go to stderr,
//! which ResourceManager sends to its debug log.
//!
//! | agent | stdout | exit |
//! |---|---|---|
//! | IPaddr, IPaddr2, Filesystem, LVSRealServer `start`/`stop` ok | `INFO:  Success` | 0 |
//! | … `status`/`monitor`, running | `INFO:  Running OK` | 0 |
//! | … `status`, stopped | `INFO:  Resource is stopped` | 3 (LSB) |
//! | … `monitor`, stopped | `INFO:  Resource is stopped` | 7 (OCF) |
//! | … failure | `ERROR:  Generic error` / `Illegal argument` / `Program is not installed` / `Program is not configured` / `User had insufficient privilege` | 1 / 2 / 5 / 6 / 4 |
//! | … no/unknown action, wrong argument count | `usage: …` | 2 |
//! | drbddisk `status` | `running (Primary)` / `stopped (Secondary)` / `cannot determine status, may be running (…)` | 0 / 3 / 4 |
//!
//! The bins are thin; each agent lives in its own module, the pieces they share
//! (netlink, interface lookup, gratuitous ARP, mount table, …) in others.

pub mod alias;
pub mod arp;
pub mod cli;
pub mod drbddisk;
pub mod filesystem;
pub mod findif;
pub mod fuser;
pub mod ipaddr;
pub mod ipaddr2;
pub mod ipspec;
pub mod lvs_real_server;
pub mod mount_opts;
pub mod mounts;
pub mod netlink;
pub mod ocf;
pub mod state;
pub mod sysctl;
