//! What the director reports, rendered in ldirectord's words.

use std::fmt;
use std::net::SocketAddr;

use crate::config::VirtualAddr;

/// When a purge happened (ldirectord's `(start)` / `(stop)` tag; reloads run
/// its start code, so they say `start` too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Start,
    Stop,
}

impl Phase {
    fn word(self) -> &'static str {
        match self {
            Phase::Start => "start",
            Phase::Stop => "stop",
        }
    }
}

/// A log-worthy state change. `Display` gives ldirectord's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    VirtualAdded {
        virt: VirtualAddr,
    },
    VirtualChanged {
        virt: VirtualAddr,
    },
    VirtualPurged {
        virt: VirtualAddr,
        phase: Phase,
    },
    RealAdded {
        virt: VirtualAddr,
        dest: SocketAddr,
        weight: u32,
    },
    RealRestored {
        virt: VirtualAddr,
        dest: SocketAddr,
        weight: u32,
    },
    RealQuiesced {
        virt: VirtualAddr,
        dest: SocketAddr,
    },
    RealDeleted {
        virt: VirtualAddr,
        dest: SocketAddr,
        /// The address as configured, when IPVS stores another port.
        mapped_from: Option<SocketAddr>,
    },
    /// Removed because the configuration does not (or no longer) list it.
    RealPurged {
        virt: VirtualAddr,
        dest: SocketAddr,
        phase: Phase,
    },
    FallbackAdded {
        virt: VirtualAddr,
        dest: SocketAddr,
    },
    FallbackDeleted {
        virt: VirtualAddr,
        dest: SocketAddr,
    },
    SoftFailure {
        virt: VirtualAddr,
        real: SocketAddr,
        count: u32,
        limit: u32,
    },
    SoftFailureReset {
        virt: VirtualAddr,
        real: SocketAddr,
    },
    Maintenance {
        virt: VirtualAddr,
        real: SocketAddr,
        on: bool,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::VirtualAdded { virt } => write!(f, "Added virtual server: {virt}"),
            Event::VirtualChanged { virt } => write!(f, "Changed virtual server: {virt}"),
            Event::VirtualPurged { virt, phase } => {
                write!(f, "Purged virtual server ({}): {virt}", phase.word())
            }
            Event::RealAdded { virt, dest, weight } => write!(
                f,
                "Added real server: {dest} ({virt}) (Weight set to {weight})"
            ),
            Event::RealRestored { virt, dest, weight } => write!(
                f,
                "Restored real server: {dest} ({virt}) (Weight set to {weight})"
            ),
            Event::RealQuiesced { virt, dest } => write!(
                f,
                "Quiescent real server: {dest} ({virt}) (Weight set to 0)"
            ),
            Event::RealDeleted {
                virt,
                dest,
                mapped_from: Some(m),
            } => write!(f, "Deleted real server: {dest} mapped from {m} ({virt})"),
            Event::RealDeleted { virt, dest, .. } => {
                write!(f, "Deleted real server: {dest} ({virt})")
            }
            Event::RealPurged { virt, dest, phase } => {
                write!(f, "Purged real server ({}): {dest} ({virt})", phase.word())
            }
            Event::FallbackAdded { virt, dest } => write!(
                f,
                "Added fallback server: {dest} ({virt}) (Weight set to 1)"
            ),
            Event::FallbackDeleted { virt, dest } => {
                write!(f, "Deleted fallback server: {dest} ({virt})")
            }
            Event::SoftFailure {
                virt,
                real,
                count,
                limit,
            } => write!(
                f,
                "Soft failure real server: {real} ({}) failure {count}/{limit}",
                virt.id_str()
            ),
            Event::SoftFailureReset { virt, real } => write!(
                f,
                "Resetting soft failure count: {real} ({})",
                virt.id_str()
            ),
            Event::Maintenance { virt, real, on } => write!(
                f,
                "{}: {real} ({virt})",
                if *on {
                    "Server in maintenance"
                } else {
                    "Server out of maintenance"
                }
            ),
        }
    }
}
