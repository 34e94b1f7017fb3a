//! The seam between the director and whatever forwards packets.
//!
//! ldirectord's logic ([`crate::director`]) only ever produces
//! [`IpvsCommand`]s and reads a [`Table`]; a [`Backend`] turns those into
//! reality. Implementations:
//! - `ld-ipvs-kernel`: the kernel's IPVS over generic netlink;
//! - `ld-forwarder`: a userspace L4 forwarder with IPVS's schedulers;
//! - [`memory::MemoryBackend`]: a table in memory (tests, `--ipvs none`).
//!
//! The trait is synchronous: netlink requests are short, and the userspace
//! forwarder applies a command by updating shared state (its sockets run on
//! their own tasks). A backend must never block for long in `apply`.

mod conn;
pub mod listing;
pub mod memory;

pub use conn::{ConnEntry, ConnProtocol, ConnState};

use std::net::SocketAddr;

use crate::ipvs::{DestParams, IpvsCommand, IpvsError, ServiceKey, ServiceParams, Table};

/// Why a backend could not do something.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend cannot run here at all (no IPVS in the kernel, no
    /// permission, …). `auto` mode falls back to userspace on this.
    #[error("{backend} backend unavailable: {reason}")]
    Unavailable {
        backend: &'static str,
        reason: String,
    },
    /// The backend refused one change, with ipvsadm's word for it where
    /// there is one.
    #[error("{cmd}: {error}")]
    Refused { cmd: String, error: IpvsError },
    /// The backend cannot do this kind of thing (e.g. fwmark services in
    /// userspace).
    #[error("{cmd}: not supported by the {backend} backend: {reason}")]
    Unsupported {
        backend: &'static str,
        cmd: String,
        reason: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A malformed or unexpected answer (netlink attribute missing, …).
    #[error("{0}")]
    Protocol(String),
}

/// Commands of one [`Backend::apply`] batch that failed; the others were
/// applied.
#[derive(Debug, thiserror::Error)]
#[error("{} of the IPVS changes failed; first: {}", .failures.len(), .failures.first().map(|f| f.1.to_string()).unwrap_or_default())]
pub struct ApplyError {
    /// (index into the batch, why)
    pub failures: Vec<(usize, BackendError)>,
}

/// Packet/byte counters and rates as IPVS keeps them (`ipvsadm --stats` /
/// `--rate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
    pub cps: u64,
    pub inpps: u64,
    pub outpps: u64,
    pub inbps: u64,
    pub outbps: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestSnapshot {
    pub addr: SocketAddr,
    pub params: DestParams,
    /// Connections in ESTABLISHED (TCP) — IPVS's ActiveConn.
    pub active_conns: u32,
    /// Every other state (and UDP) — IPVS's InActConn.
    pub inactive_conns: u32,
    pub persist_conns: u32,
    pub stats: Stats,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSnapshot {
    pub key: ServiceKey,
    pub params: ServiceParams,
    pub stats: Stats,
    pub dests: Vec<DestSnapshot>,
}

/// The table with its counters, in the backend's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub services: Vec<ServiceSnapshot>,
}

impl Snapshot {
    /// The table without counters.
    pub fn table(&self) -> Table {
        let mut t = Table::default();
        for s in &self.services {
            t.services.insert(
                s.key,
                crate::ipvs::ServiceEntry {
                    params: s.params.clone(),
                    dests: s.dests.iter().map(|d| (d.addr, d.params)).collect(),
                },
            );
        }
        t
    }
}

/// Something that holds an IPVS-like table. See the module documentation.
pub trait Backend: Send {
    /// `kernel`, `userspace`, `memory`: for logs and `status`.
    fn name(&self) -> &'static str;

    /// The current table.
    fn read(&mut self) -> Result<Table, BackendError> {
        Ok(self.snapshot()?.table())
    }

    /// Apply `cmds` in order (one netlink batch where possible). Every
    /// command is attempted; the ones that failed are reported.
    fn apply(&mut self, cmds: &[IpvsCommand]) -> Result<(), ApplyError>;

    /// The table with connection counts and statistics.
    fn snapshot(&mut self) -> Result<Snapshot, BackendError>;

    /// The connection entries and persistence templates (`ipvsadm -Lc`),
    /// in the backend's order. Backends that track none list none.
    fn connections(&mut self) -> Result<Vec<ConnEntry>, BackendError> {
        Ok(Vec::new())
    }
}
