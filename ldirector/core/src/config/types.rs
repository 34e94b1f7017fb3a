//! The typed result of parsing `ldirectord.cf`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::Problem;

/// Transport protocol of an address:port virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// What a `virtual=` line names: an address and port, or a firewall mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VirtualAddr {
    Inet {
        protocol: Protocol,
        addr: SocketAddr,
    },
    /// `virtual=7` (`ipv6` for `virtual6=7`, ipvsadm's `-f 7 -6`).
    Fwmark { mark: u32, ipv6: bool },
}

impl VirtualAddr {
    /// ldirectord's `protocol` value: tcp, udp or fwm.
    pub fn protocol_name(&self) -> &'static str {
        match self {
            VirtualAddr::Inet { protocol, .. } => protocol.name(),
            VirtualAddr::Fwmark { .. } => "fwm",
        }
    }

    /// The port of an address service; 0 for a firewall mark (as ldirectord).
    pub fn port(&self) -> u16 {
        match self {
            VirtualAddr::Inet { addr, .. } => addr.port(),
            VirtualAddr::Fwmark { .. } => 0,
        }
    }

    pub fn is_ipv6(&self) -> bool {
        match self {
            VirtualAddr::Inet { addr, .. } => addr.is_ipv6(),
            VirtualAddr::Fwmark { ipv6, .. } => *ipv6,
        }
    }

    /// `get_virtual_id_str`: `tcp:127.0.0.100:80`, `fwm:7`, `fwm6:7`.
    pub fn id_str(&self) -> String {
        match self {
            VirtualAddr::Inet { protocol, addr } => format!("{}:{}", protocol.name(), addr),
            VirtualAddr::Fwmark { mark, ipv6 } => {
                format!("fwm{}:{}", if *ipv6 { "6" } else { "" }, mark)
            }
        }
    }
}

/// `get_virtual`: `127.0.0.100:80`, `[2001:db8::100]:80`, or the mark.
impl fmt::Display for VirtualAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VirtualAddr::Inet { addr, .. } => write!(f, "{addr}"),
            VirtualAddr::Fwmark { mark, .. } => write!(f, "{mark}"),
        }
    }
}

/// LVS forwarding method of a real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Forwarding {
    /// Direct routing (`gate`, ipvsadm `-g`, listed as `Route`).
    Gate,
    /// NAT (`masq`, `-m`, `Masq`).
    Masq,
    /// Tunnelling (`ipip`, `-i`, `Tunnel`).
    Ipip,
}

impl Forwarding {
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "gate" => Some(Forwarding::Gate),
            "masq" => Some(Forwarding::Masq),
            "ipip" => Some(Forwarding::Ipip),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Forwarding::Gate => "gate",
            Forwarding::Masq => "masq",
            Forwarding::Ipip => "ipip",
        }
    }

    /// The ipvsadm flag.
    pub fn flag(self) -> &'static str {
        match self {
            Forwarding::Gate => "-g",
            Forwarding::Masq => "-m",
            Forwarding::Ipip => "-i",
        }
    }
}

/// IPVS schedulers. ldirectord passes any `[a-z]+` through and lets ipvsadm
/// reject unknown ones at run time; we reject them while parsing instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheduler {
    Rr,
    Wrr,
    Lc,
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Fo,
    Ovf,
    Mh,
    Twos,
}

impl Scheduler {
    pub const ALL: [Scheduler; 14] = [
        Scheduler::Rr,
        Scheduler::Wrr,
        Scheduler::Lc,
        Scheduler::Wlc,
        Scheduler::Lblc,
        Scheduler::Lblcr,
        Scheduler::Dh,
        Scheduler::Sh,
        Scheduler::Sed,
        Scheduler::Nq,
        Scheduler::Fo,
        Scheduler::Ovf,
        Scheduler::Mh,
        Scheduler::Twos,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Mh => "mh",
            Scheduler::Twos => "twos",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// `service=`: which protocol a negotiate check speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Dns,
    Ftp,
    Http,
    Https,
    HttpProxy,
    Imap,
    Imaps,
    Ldap,
    Ldaps,
    Mysql,
    Nntp,
    None,
    Oracle,
    Pgsql,
    Pop,
    Pops,
    Radius,
    SimpleTcp,
    Sip,
    Smtp,
    Submission,
}

impl Service {
    pub const ALL: [Service; 21] = [
        Service::Dns,
        Service::Ftp,
        Service::Http,
        Service::Https,
        Service::HttpProxy,
        Service::Imap,
        Service::Imaps,
        Service::Ldap,
        Service::Ldaps,
        Service::Mysql,
        Service::Nntp,
        Service::None,
        Service::Oracle,
        Service::Pgsql,
        Service::Pop,
        Service::Pops,
        Service::Radius,
        Service::SimpleTcp,
        Service::Sip,
        Service::Smtp,
        Service::Submission,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::Dns => "dns",
            Service::Ftp => "ftp",
            Service::Http => "http",
            Service::Https => "https",
            Service::HttpProxy => "http_proxy",
            Service::Imap => "imap",
            Service::Imaps => "imaps",
            Service::Ldap => "ldap",
            Service::Ldaps => "ldaps",
            Service::Mysql => "mysql",
            Service::Nntp => "nntp",
            Service::None => "none",
            Service::Oracle => "oracle",
            Service::Pgsql => "pgsql",
            Service::Pop => "pop",
            Service::Pops => "pops",
            Service::Radius => "radius",
            Service::SimpleTcp => "simpletcp",
            Service::Sip => "sip",
            Service::Smtp => "smtp",
            Service::Submission => "submission",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.name() == s)
    }

    /// `ld_service_to_port` (used when a real has no port and no checkport).
    pub fn default_port(self) -> Option<u16> {
        Some(match self {
            Service::Ftp => 21,
            Service::Smtp => 25,
            Service::Dns => 53,
            Service::Http => 80,
            Service::Pop => 110,
            Service::Nntp => 119,
            Service::Imap => 143,
            Service::Ldap => 389,
            Service::Https => 443,
            Service::Submission => 587,
            Service::Ldaps => 636,
            Service::Imaps => 993,
            Service::Pops => 995,
            Service::Oracle => 1521,
            Service::Radius => 1812,
            Service::HttpProxy => 3128,
            Service::Mysql => 3306,
            Service::Sip => 5060,
            Service::Pgsql => 5432,
            Service::None | Service::SimpleTcp => return None,
        })
    }

    /// `ld_port_to_service`: the default `service` of a virtual by its port.
    pub fn from_port(port: u16) -> Self {
        Self::ALL
            .into_iter()
            .find(|s| s.default_port() == Some(port))
            .unwrap_or(Service::None)
    }
}

/// `checktype=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckType {
    Connect,
    Negotiate,
    Ping,
    External,
    ExternalPerl,
    /// Never brought up by checks.
    Off,
    /// Always up, never checked.
    On,
    /// `checktype=N`: N connect checks between two negotiate checks.
    Combined(u32),
}

impl CheckType {
    pub fn name(self) -> String {
        match self {
            CheckType::Connect => "connect".into(),
            CheckType::Negotiate => "negotiate".into(),
            CheckType::Ping => "ping".into(),
            CheckType::External => "external".into(),
            CheckType::ExternalPerl => "external-perl".into(),
            CheckType::Off => "off".into(),
            CheckType::On => "on".into(),
            CheckType::Combined(n) => n.to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HttpMethod {
    Get,
    Head,
}

impl HttpMethod {
    pub fn name(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
        }
    }
}

/// `netmask=` (ipvsadm `-M`): a dotted quad for IPv4, a prefix for IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Netmask {
    V4(Ipv4Addr),
    V6Prefix(u8),
}

impl fmt::Display for Netmask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netmask::V4(a) => write!(f, "{a}"),
            Netmask::V6Prefix(p) => write!(f, "{p}"),
        }
    }
}

/// The fallback server of one virtual service, resolved (port filled in from
/// the virtual when the configuration gave none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fallback {
    pub addr: IpAddr,
    pub port: u16,
    pub forward: Forwarding,
}

/// A global `fallback=`/`fallback6=`: ldirectord resolves its port once for tcp
/// and once for udp and picks by the virtual's protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalFallback {
    pub line: usize,
    pub addr: IpAddr,
    pub tcp_port: Option<u16>,
    pub udp_port: Option<u16>,
    pub forward: Forwarding,
}

/// `logfile=`: a path (leading `/`) or a syslog facility name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    File(PathBuf),
    Syslog(String),
}

/// `emailalertstatus=`: the daemon states in which alerts are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AlertStatus(pub u8);

impl AlertStatus {
    pub const NONE: AlertStatus = AlertStatus(0);
    pub const STARTING: AlertStatus = AlertStatus(1);
    pub const RUNNING: AlertStatus = AlertStatus(2);
    pub const STOPPING: AlertStatus = AlertStatus(4);
    pub const RELOADING: AlertStatus = AlertStatus(8);
    pub const ALL: AlertStatus = AlertStatus(15);

    pub fn contains(self, other: AlertStatus) -> bool {
        self.0 & other.0 == other.0
    }
}

/// One `real=` entry (a range line yields one per address).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RealServer {
    pub line: usize,
    pub addr: IpAddr,
    /// The port as configured (0 when omitted). See [`VirtualService::dest_port`]
    /// for the port IPVS actually stores.
    pub port: u16,
    pub forward: Forwarding,
    pub weight: u32,
    /// Per-real `"request", "receive"` (request already has its leading `/`).
    pub request: Option<String>,
    pub receive: Option<String>,
    /// `l:N` (ipvsadm `-y`).
    pub lower_threshold: u32,
    /// `u:N` (ipvsadm `-x`).
    pub upper_threshold: u32,
}

/// One `virtual=`/`virtual6=` block with globals already inherited
/// (`ld_setup`'s resolution of timeouts and counts, `fallback_find`).
#[derive(Clone, Debug, PartialEq)]
pub struct VirtualService {
    pub line: usize,
    pub addr: VirtualAddr,
    pub reals: Vec<RealServer>,
    pub scheduler: Scheduler,
    pub persistent: Option<u32>,
    /// Only emitted together with `persistent`, as ldirectord does.
    pub netmask: Option<Netmask>,
    pub schedflags: Option<String>,
    /// `ops=yes` (one-packet scheduling, udp only).
    pub ops: bool,
    pub service: Service,
    pub checktype: CheckType,
    pub checkcommand: String,
    pub checkport: Option<u16>,
    /// With its leading `/`.
    pub request: String,
    /// A regular expression; empty = anything.
    pub receive: String,
    pub httpmethod: HttpMethod,
    pub virtualhost: Option<String>,
    pub login: String,
    pub passwd: String,
    pub database: String,
    pub secret: String,
    pub load: Option<String>,
    pub checktimeout: Duration,
    pub negotiatetimeout: Duration,
    pub checkcount: u32,
    pub failurecount: u32,
    /// Extension (`risecount=`): consecutive successes before a down real is
    /// restored. 1 = ldirectord.
    pub risecount: u32,
    /// The interval this virtual's reals are checked at: its own
    /// `checkinterval` with `fork=yes`, else the global one.
    pub checkinterval: Duration,
    pub quiescent: bool,
    pub cleanstop: bool,
    pub fallback: Option<Fallback>,
    pub fallbackcommand: Option<String>,
    pub emailalert: Option<String>,
    pub emailalertfreq: Duration,
    pub emailalertstatus: AlertStatus,
    pub smtp: Option<String>,
    pub monitorfile: Option<PathBuf>,
    pub servicename: Option<String>,
    pub comment: Option<String>,
}

impl VirtualService {
    /// The port IPVS stores for a real server: for gate/ipip on an
    /// address:port service the kernel (via ipvsadm) uses the virtual's port,
    /// whatever the configuration says (ldirectord 4.12 mis-tracks this, F7).
    pub fn dest_port(&self, r: &RealServer) -> u16 {
        match (self.addr, r.forward) {
            (VirtualAddr::Inet { addr, .. }, Forwarding::Gate | Forwarding::Ipip) => addr.port(),
            _ => r.port,
        }
    }

    /// The IPVS destination of a real server.
    pub fn dest_addr(&self, r: &RealServer) -> SocketAddr {
        SocketAddr::new(r.addr, self.dest_port(r))
    }

    /// `ld_checkport`: `checkport`, else the real's configured port, else the
    /// service's well-known port.
    pub fn check_port(&self, r: &RealServer) -> Option<u16> {
        if let Some(p) = self.checkport {
            return Some(p);
        }
        if r.port > 0 {
            return Some(r.port);
        }
        self.service.default_port()
    }

    /// Request and receive used for a real (per-real pair wins, as a pair).
    pub fn request_receive<'a>(&'a self, r: &'a RealServer) -> (&'a str, &'a str) {
        match (&r.request, &r.receive) {
            (Some(q), Some(c)) => (q, c),
            _ => (&self.request, &self.receive),
        }
    }
}

/// Global directives (after parsing, with ldirectord's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct Global {
    pub checktimeout: Option<Duration>,
    pub negotiatetimeout: Option<Duration>,
    pub checkinterval: Duration,
    pub checkcount: u32,
    pub failurecount: u32,
    pub risecount: u32,
    pub fallback: Option<GlobalFallback>,
    pub fallback6: Option<GlobalFallback>,
    /// Kept as written (quotes included): it is handed to `/bin/sh`.
    pub fallbackcommand: Option<String>,
    pub autoreload: bool,
    pub callback: Option<String>,
    pub logfile: LogTarget,
    pub execute: Vec<String>,
    pub fork: bool,
    pub supervised: bool,
    pub quiescent: bool,
    pub readdquiescent: bool,
    pub emailalert: Option<String>,
    pub emailalertfreq: Duration,
    pub emailalertstatus: AlertStatus,
    pub emailalertfrom: Option<String>,
    pub smtp: Option<String>,
    pub cleanstop: bool,
    pub maintenancedir: Option<PathBuf>,
}

impl Default for Global {
    /// `set_defaults` of ldirectord 4.12.
    fn default() -> Self {
        Global {
            checktimeout: None,
            negotiatetimeout: None,
            checkinterval: Duration::from_secs(10),
            checkcount: 1,
            failurecount: 1,
            risecount: 1,
            fallback: None,
            fallback6: None,
            fallbackcommand: None,
            autoreload: false,
            callback: None,
            logfile: LogTarget::File(PathBuf::from("/var/log/ldirectord.log")),
            execute: Vec::new(),
            fork: false,
            supervised: false,
            quiescent: false,
            readdquiescent: false,
            emailalert: None,
            emailalertfreq: Duration::ZERO,
            emailalertstatus: AlertStatus::ALL,
            emailalertfrom: None,
            smtp: None,
            cleanstop: true,
            maintenancedir: None,
        }
    }
}

/// A parsed `ldirectord.cf`.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub path: PathBuf,
    pub global: Global,
    pub virtuals: Vec<VirtualService>,
    /// What ldirectord prints as `Warning ... reading file` and goes on.
    pub warnings: Vec<Problem>,
}

/// An address as ldirectord prints it (IPv6 in brackets).
pub fn fmt_ip(a: IpAddr) -> String {
    match a {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}
