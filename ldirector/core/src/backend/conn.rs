//! One IPVS connection entry (`/proc/net/ip_vs_conn`, `ipvsadm -Lc`) as
//! plain data, and its `ipvsadm -Lcn` listing.
//!
//! Persistence templates are entries too, as the kernel shows them: the
//! client address under the persistence mask with port 0, state `NONE`
//! (`ASSURED` once confirmed), protocol `IP` and the firewall mark as the
//! virtual address for fwmark services.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The protocol column (`ip_vs_proto_name`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ConnProtocol {
    Tcp,
    Udp,
    Sctp,
    /// Firewall-mark persistence templates (`IPPROTO_IP`).
    Ip,
    /// Whatever else the kernel names (`ICMP`, `ERR!`, …), verbatim.
    Other(String),
}

impl ConnProtocol {
    pub fn name(&self) -> &str {
        match self {
            ConnProtocol::Tcp => "TCP",
            ConnProtocol::Udp => "UDP",
            ConnProtocol::Sctp => "SCTP",
            ConnProtocol::Ip => "IP",
            ConnProtocol::Other(s) => s,
        }
    }

    pub fn from_name(s: &str) -> ConnProtocol {
        match s {
            "TCP" => ConnProtocol::Tcp,
            "UDP" => ConnProtocol::Udp,
            "SCTP" => ConnProtocol::Sctp,
            "IP" => ConnProtocol::Ip,
            other => ConnProtocol::Other(other.to_string()),
        }
    }
}

impl fmt::Display for ConnProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The state column: IPVS's state names (TCP's, `UDP` for UDP entries,
/// `NONE`/`ASSURED` for templates). Names we do not model (SCTP's, `ERR!`)
/// are kept verbatim in `Other`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    None,
    Established,
    SynSent,
    SynRecv,
    FinWait,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    Synack,
    /// Every UDP entry.
    Udp,
    /// A template that has seen its connection confirmed.
    Assured,
    Other(String),
}

impl ConnState {
    pub fn name(&self) -> &str {
        match self {
            ConnState::None => "NONE",
            ConnState::Established => "ESTABLISHED",
            ConnState::SynSent => "SYN_SENT",
            ConnState::SynRecv => "SYN_RECV",
            ConnState::FinWait => "FIN_WAIT",
            ConnState::TimeWait => "TIME_WAIT",
            ConnState::Close => "CLOSE",
            ConnState::CloseWait => "CLOSE_WAIT",
            ConnState::LastAck => "LAST_ACK",
            ConnState::Listen => "LISTEN",
            ConnState::Synack => "SYNACK",
            ConnState::Udp => "UDP",
            ConnState::Assured => "ASSURED",
            ConnState::Other(s) => s,
        }
    }

    pub fn from_name(s: &str) -> ConnState {
        match s {
            "NONE" => ConnState::None,
            "ESTABLISHED" => ConnState::Established,
            "SYN_SENT" => ConnState::SynSent,
            "SYN_RECV" => ConnState::SynRecv,
            "FIN_WAIT" => ConnState::FinWait,
            "TIME_WAIT" => ConnState::TimeWait,
            "CLOSE" => ConnState::Close,
            "CLOSE_WAIT" => ConnState::CloseWait,
            "LAST_ACK" => ConnState::LastAck,
            "LISTEN" => ConnState::Listen,
            "SYNACK" => ConnState::Synack,
            "UDP" => ConnState::Udp,
            "ASSURED" => ConnState::Assured,
            other => ConnState::Other(other.to_string()),
        }
    }
}

impl fmt::Display for ConnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One connection (or persistence template) as IPVS lists it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConnEntry {
    pub protocol: ConnProtocol,
    pub client: SocketAddr,
    pub virtual_addr: SocketAddr,
    pub destination: SocketAddr,
    pub state: ConnState,
    /// Time left before the entry expires (the kernel counts whole
    /// seconds down from the state's timeout, reset by traffic).
    pub expires: Duration,
}

/// `ipvsadm -Lcn` (or `-Lc`), in the order given (ipvsadm prints the
/// kernel's hash-table order unsorted).
///
/// `numeric == false` (`-Lc`) would make ipvsadm resolve host and service
/// names; this prints numbers either way: a status listing should not wait
/// on DNS for every client, and the numbers are what operators grep for.
/// The persistence-engine columns (`--persistent-conn`) are not printed.
pub fn render_connections(entries: &[ConnEntry], numeric: bool) -> String {
    let _ = numeric;
    let mut out = String::with_capacity(80 * (entries.len() + 2));
    out.push_str("IPVS connection entries\n");
    out.push_str("pro expire state       source             virtual            destination\n");
    for e in entries {
        let secs = e.expires.as_secs();
        let expire = format!("{:02}:{:02}", secs / 60, secs % 60);
        let _ = writeln!(
            out,
            "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
            e.protocol.name(),
            expire,
            e.state.name(),
            addr_port(&e.client),
            addr_port(&e.virtual_addr),
            addr_port(&e.destination)
        );
    }
    out
}

fn addr_port(a: &SocketAddr) -> String {
    match a.ip() {
        IpAddr::V4(ip) => format!("{ip}:{}", a.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", a.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(p: ConnProtocol, c: &str, v: &str, d: &str, s: ConnState, secs: u64) -> ConnEntry {
        ConnEntry {
            protocol: p,
            client: c.parse().unwrap(),
            virtual_addr: v.parse().unwrap(),
            destination: d.parse().unwrap(),
            state: s,
            expires: Duration::from_millis(secs * 1000 + 999),
        }
    }

    #[test]
    fn listing_has_ipvsadms_columns() {
        let out = render_connections(
            &[
                entry(
                    ConnProtocol::Tcp,
                    "10.9.0.1:41234",
                    "10.9.0.100:80",
                    "10.9.0.2:80",
                    ConnState::SynRecv,
                    59,
                ),
                entry(
                    ConnProtocol::Tcp,
                    "10.9.0.0:0",
                    "10.9.0.100:80",
                    "10.9.0.2:80",
                    ConnState::None,
                    360,
                ),
                entry(
                    ConnProtocol::Ip,
                    "10.9.0.1:0",
                    "0.0.0.7:0",
                    "10.9.0.3:0",
                    ConnState::None,
                    6000,
                ),
                entry(
                    ConnProtocol::Udp,
                    "[2001:db8::1]:5353",
                    "[2001:db8::100]:53",
                    "[2001:db8::2]:53",
                    ConnState::Udp,
                    299,
                ),
            ],
            true,
        );
        assert_eq!(
            out,
            "IPVS connection entries\n\
pro expire state       source             virtual            destination\n\
TCP 00:59  SYN_RECV    10.9.0.1:41234     10.9.0.100:80      10.9.0.2:80\n\
TCP 06:00  NONE        10.9.0.0:0         10.9.0.100:80      10.9.0.2:80\n\
IP  100:00 NONE        10.9.0.1:0         0.0.0.7:0          10.9.0.3:0\n\
UDP 04:59  UDP         [2001:db8::1]:5353 [2001:db8::100]:53 [2001:db8::2]:53\n"
        );
    }

    #[test]
    fn names_round_trip() {
        for s in [
            "NONE",
            "ESTABLISHED",
            "SYN_SENT",
            "SYN_RECV",
            "FIN_WAIT",
            "TIME_WAIT",
            "CLOSE",
            "CLOSE_WAIT",
            "LAST_ACK",
            "LISTEN",
            "SYNACK",
            "UDP",
            "ASSURED",
            "SHUTDOWN_SENT",
        ] {
            assert_eq!(ConnState::from_name(s).name(), s);
        }
        assert_eq!(ConnState::from_name("CLOSE"), ConnState::Close);
        for p in ["TCP", "UDP", "SCTP", "IP", "ERR!"] {
            assert_eq!(ConnProtocol::from_name(p).name(), p);
        }
    }
}
