//! Typed parsers for heartbeat's configuration files.
//!
//! Every problem is collected (not just the first) as `path:line: message`.
//! Public types below are the contract with the daemon; the parsing lives in
//! the submodules.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where heartbeat 3.0.6 looks for things. Tests point these elsewhere.
#[derive(Clone, Debug)]
pub struct Paths {
    pub ha_cf: PathBuf,
    pub authkeys: PathBuf,
    pub haresources: PathBuf,
    pub nodeinfo: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Self::under(Path::new("/etc/ha.d"))
    }
}

impl Paths {
    pub fn under(dir: &Path) -> Self {
        Self {
            ha_cf: dir.join("ha.cf"),
            authkeys: dir.join("authkeys"),
            haresources: dir.join("haresources"),
            nodeinfo: dir.join("nodeinfo"),
        }
    }
}

/// One problem in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    /// 1-based; `None` for whole-file problems (missing file, bad mode).
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.path.display(), l, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// All problems found; never empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoFailback {
    On,
    Off,
    Legacy,
}

/// A heartbeat communication medium (one HBcomm plugin instance).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Medium {
    /// `bcast eth0 [eth1 …]` (one `Medium` per interface).
    Bcast { iface: String, port: u16 },
    /// `mcast eth0 239.0.0.1 694 1 0` (iface, group, port, ttl, loop).
    Mcast {
        iface: String,
        group: Ipv4Addr,
        port: u16,
        ttl: u8,
        r#loop: bool,
    },
    /// `ucast eth0 192.0.2.12`.
    Ucast { iface: String, peer: IpAddr, port: u16 },
}

impl Medium {
    /// The name heartbeat shows for the link ("eth0", "192.0.2.12").
    pub fn link_name(&self) -> String {
        match self {
            Medium::Bcast { iface, .. } | Medium::Mcast { iface, .. } => iface.clone(),
            Medium::Ucast { peer, .. } => peer.to_string(),
        }
    }
}

/// `ping` / `ping_group` pseudo-nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PingNode {
    Single(IpAddr),
    Group { name: String, addrs: Vec<IpAddr> },
}

/// `respawn user /path/to/cmd args…`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Respawn {
    pub user: String,
    pub command: String,
}

/// Parsed and validated `ha.cf`.
#[derive(Clone, Debug, PartialEq)]
pub struct HaCf {
    pub keepalive: Duration,
    pub deadtime: Duration,
    pub warntime: Duration,
    pub initdead: Duration,
    pub deadping: Duration,
    pub udpport: u16,
    pub media: Vec<Medium>,
    /// `node` lines, lower-cased, in order, without duplicates.
    pub nodes: Vec<String>,
    pub auto_failback: AutoFailback,
    pub ping_nodes: Vec<PingNode>,
    pub respawn: Vec<Respawn>,
    pub logfile: Option<PathBuf>,
    pub debugfile: Option<PathBuf>,
    /// `logfacility` (`none` → None).
    pub logfacility: Option<String>,
    pub use_logd: bool,
    pub hopfudge: u32,
    pub realtime: bool,
    pub debug: u32,
    pub watchdog: Option<PathBuf>,
    pub autojoin: String,
    /// Every directive as written (name lower-cased, raw value), for
    /// `cl_status hbparameter -p NAME`, which prints the raw string.
    pub raw: Vec<(String, String)>,
    /// Accepted-but-ignored directives, to be logged as warnings at start.
    pub warnings: Vec<Problem>,
}

pub mod authkeys;
pub mod duration;
pub mod hacf;
pub mod haresources;
pub mod nodeinfo;

pub use authkeys::load_authkeys;
pub use hacf::{load_ha_cf, parse_ha_cf};
pub use nodeinfo::local_node_name;
