//! Typed parsers for heartbeat's configuration files.
//!
//! Every problem is collected (not just the first) as `path:line: message`.
//! Public types below are the contract with the daemon; the parsing lives in
//! the submodules.
//!
//! * [`load_all`]: what `heartbeat -t` and the daemon run: `nodeinfo`,
//!   `ha.cf`, `authkeys`, `haresources`, the rules that span files, and the
//!   problems of all of them at once.
//! * Per file: [`load_ha_cf`] / [`parse_ha_cf`], [`load_authkeys`] /
//!   [`load_authkeys_with_warnings`] / [`parse_authkeys`],
//!   [`load_haresources`] / [`parse_haresources`], [`local_node_name`];
//!   [`parse_duration`] for `cl_get_msec` time values.
//! * `load_*` read files and check the system where heartbeat does (authkeys
//!   mode, respawn users and commands, apiauth users and groups); `parse_*`
//!   are pure.
//! * Errors are a [`ConfigError`] (never empty). Warnings (accepted but
//!   ignored directives, heartbeat's own advisories, serial media) are
//!   [`Problem`]s in [`HaCf::warnings`], [`ParsedAuthKeys::warnings`] and
//!   [`Loaded::warnings`]; [`Loaded::all_warnings`] chains them.

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

pub use config_diag::{ConfigError, Problem};

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
    Ucast {
        iface: String,
        peer: IpAddr,
        port: u16,
    },
}

impl Medium {
    /// The name heartbeat shows for the link: always the interface, ucast
    /// included (`ucast_new` names the medium after `intf`; real log:
    /// "Link node2:eth0 up." with `ucast eth0 192.0.2.12`, exp-ucast).
    pub fn link_name(&self) -> String {
        match self {
            Medium::Bcast { iface, .. }
            | Medium::Mcast { iface, .. }
            | Medium::Ucast { iface, .. } => iface.clone(),
        }
    }
}

/// `ping` / `ping_group` pseudo-nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PingNode {
    Single(IpAddr),
    Group { name: String, addrs: Vec<IpAddr> },
}

/// `respawn user /path/to/cmd args…` (also `failfast`, same shape).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Respawn {
    pub user: String,
    /// The whole command line, starting with an absolute path.
    pub command: String,
}

impl Respawn {
    /// The executable: the first word of `command`.
    pub fn path(&self) -> &str {
        self.command.split_ascii_whitespace().next().unwrap_or("")
    }

    /// True for heartbeat's own ipfail, which our daemon runs built in: its
    /// binary need not exist (distributions put it under different paths).
    pub fn is_ipfail(&self) -> bool {
        is_ipfail_command(&self.command)
    }
}

/// True if a `respawn` command line runs heartbeat's ipfail
/// (`/usr/lib/heartbeat/ipfail`, Debian's `/usr/libexec/heartbeat/ipfail`,
/// RHEL's `/usr/lib64/heartbeat/ipfail`, …).
pub fn is_ipfail_command(command: &str) -> bool {
    let path = command.split_ascii_whitespace().next().unwrap_or("");
    path.starts_with('/') && path.ends_with("/heartbeat/ipfail")
}

/// `apiauth client [uid=a,b] [gid=c,d]`: who may sign on to the API as
/// `client`. Heartbeat adds defaults for `ipfail`, `ccm`, `ping`,
/// `lha-snmpagent` and `anon` unless the file names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiAuth {
    pub client: String,
    /// User names or numeric uids, as written.
    pub uids: Vec<String>,
    /// Group names or numeric gids, as written.
    pub gids: Vec<String>,
}

/// `stonith <type> <config-file>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stonith {
    pub stonith_type: String,
    pub config_file: String,
}

/// `stonith_host <host|*> <type> <params…>`. Heartbeat only uses lines whose
/// host is `*` or the local node ([`StonithHost::applies_to`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StonithHost {
    /// Lower-cased host name, or `*`.
    pub host: String,
    pub stonith_type: String,
    /// The rest of the line, as written.
    pub params: String,
}

impl StonithHost {
    pub fn applies_to(&self, local_node: &str) -> bool {
        self.host == "*" || self.host == local_node
    }
}

/// `hbgenmethod`: how the heartbeat generation (`hg`) is chosen at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenMethod {
    /// Increment the number in `/var/lib/heartbeat/hb_generation`.
    File,
    /// Use the current time.
    Time,
}

/// `uuidfrom`: where the node uuid comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UuidFrom {
    File,
    NodeName,
}

/// `msgfmt`. Heartbeat 3.0.6 sends netstring with either value (see the
/// reference, section 3.1); kept so `cl_status hbparameter` and logs can show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgFmt {
    Classic,
    Netstring,
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
    /// For each of `ping_nodes`, how many `nodes` ha.cf named before it.
    /// heartbeat keeps one node table in file order, ping nodes included,
    /// and `cl_status listnodes` shows that order.
    pub ping_node_positions: Vec<usize>,
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
    /// Heartbeat's parameter table, for `cl_status hbparameter -p NAME`,
    /// which prints the raw string: one entry per recorded directive with
    /// the last value written (`0.5`, `1500ms`), then heartbeat's defaults
    /// and derived values for the rest (`keepalive` → `1000ms`, `warntime`
    /// → `"<deadtime/2>ms"`, `udpport` → `694`, ...). Directives heartbeat
    /// does not record (`node`, media, `nice_failback`, `respawn`, ...)
    /// are absent, as they are from heartbeat's table. Use
    /// [`HaCf::parameter`] to look one up.
    pub raw: Vec<(String, String)>,
    /// Accepted-but-ignored directives and heartbeat's own configuration
    /// warnings (legacy auto_failback, nice_failback, small initdead, ...),
    /// to be logged as warnings at start.
    pub warnings: Vec<Problem>,
    /// `failfast user /cmd`: like `respawn`, but heartbeat reboots the node
    /// if the child dies.
    pub failfast: Vec<Respawn>,
    /// `apiauth`, plus heartbeat's defaults for well-known clients.
    pub apiauth: Vec<ApiAuth>,
    pub stonith: Vec<Stonith>,
    /// Every `stonith_host` line; filter with [`StonithHost::applies_to`].
    pub stonith_host: Vec<StonithHost>,
    /// `env NAME=value`: heartbeat exports `HA_NAME=value` to its children
    /// (respawn clients and resource scripts). Names here include `HA_`.
    pub env: Vec<(String, String)>,
    /// `rtprio` (SCHED_FIFO priority) when realtime is on.
    pub rtprio: Option<u8>,
    pub hbgenmethod: GenMethod,
    pub uuidfrom: UuidFrom,
    pub msgfmt: MsgFmt,
    /// `max_rexmit_delay` (ms in ha.cf; default 250).
    pub max_rexmit_delay: Duration,
}

impl HaCf {
    /// What `cl_status hbparameter -p name` prints, if anything.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.raw
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub mod authkeys;
pub mod duration;
pub mod hacf;
pub mod haresources;
mod host;

/// Read a config file as text. Heartbeat reads bytes; invalid UTF-8 (a
/// Latin-1 comment, say) must not make a file unreadable, so it is replaced.
pub(crate) fn read_text(path: &Path, what: &str) -> Result<String, Problem> {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| Problem::new(path, None, format!("cannot open {what}: {e}")))
}

mod load;
pub mod nodeinfo;

pub use authkeys::{load_authkeys, load_authkeys_with_warnings, parse_authkeys, ParsedAuthKeys};
pub use duration::{parse_duration, DurationError};
pub use hacf::{load_ha_cf, parse_ha_cf};
pub use haresources::{load_haresources, parse_haresources, Haresources, Resource, ResourceGroup};
pub use load::{load_all, Loaded};
pub use nodeinfo::local_node_name;

#[cfg(test)]
pub(crate) mod testutil {
    use std::path::{Path, PathBuf};

    /// A scratch directory removed on drop, also when the test panics.
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let d = std::env::temp_dir().join(format!(
                "hb-config-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).expect("create scratch dir");
            Self(d)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
