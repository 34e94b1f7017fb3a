//! heartbeat resource agents (resource.d style): `IPaddr`, `IPaddr2`,
//! `drbddisk`, `Filesystem` and `LVSRealServer`.
//!
//! Every agent is called as `<Agent> <args…> start|stop|status|monitor`, like
//! the scripts in `/etc/ha.d/resource.d/`. heartbeat's ResourceManager ignores
//! the exit code of `status` and matches its stdout instead, so the words on
//! stdout are part of the interface (see [`ocf`]). Diagnostics go to stderr,
//! which ResourceManager sends to its debug log.
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
