//! End-to-end harness: real Debian heartbeat 3.0.6 and our heartbeat, side
//! by side in network namespaces on one machine.
//!
//! * [`cluster`]: [`ClusterSpec`] → [`Cluster`] (LAN + nodes + client host).
//! * [`node`]: one node in its own net + UTS + mount + PID namespace, with
//!   start / graceful stop / crash (power-off) / exec / `cl_status` / ha-log.
//! * [`netns`]: namespaces, the bridge LAN, sockets inside a namespace.
//! * [`udp`]: capture, replay and re-signed forgeries of heartbeat datagrams.
//! * [`media`]: a second LAN (`eth1`), capture on a switch port (sees
//!   unicast), random loss of a peer's packets inside a node.
//! * [`fakepeer`]: an hb-wire stand-in node (harness/codec validation only).
//! * [`wait`]: polling with deadlines (the only way tests wait).
//! * [`env`]: binary locations and the SKIP / `HA_E2E_REQUIRED` gating.
//! * [`procfs`]: process trees, RSS and CPU time (footprint benchmark).
//!
//! Everything is RAII: dropping a [`Cluster`] powers off its nodes and
//! deletes its namespaces and scratch dir, also on panic (then the nodes'
//! logs are printed). Leftovers of killed test processes are swept on the
//! next run ([`names::sweep_stale`]).

pub mod cluster;
pub mod cmd;
pub mod conf;
pub mod env;
pub mod fakepeer;
pub mod media;
pub mod names;
pub mod netns;
pub mod node;
pub mod procfs;
pub mod udp;
pub mod vip;
pub mod vm;
pub mod wait;

pub use cluster::{Cluster, ClusterSpec};
pub use conf::{Auth, HaCf, Timing};
pub use env::{require, Env, Needs};
pub use node::{Kind, Node};
pub use wait::{hold_for, wait_for};

/// `ha_tests::require!(Needs::Real)`: the [`Env`] for this test, or return
/// early (SKIP) when prerequisites are missing and not required. Only for
/// integration tests of this package (it names the `nsinit` binary).
#[macro_export]
macro_rules! require {
    ($needs:expr) => {{
        let test = ::std::thread::current().name().unwrap_or("e2e").to_owned();
        match $crate::env::require(
            &test,
            $needs,
            ::std::path::Path::new(env!("CARGO_BIN_EXE_nsinit")),
        ) {
            Some(env) => env,
            None => return,
        }
    }};
}
