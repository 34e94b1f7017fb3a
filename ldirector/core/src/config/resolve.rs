//! Host and service names in `ldirectord.cf`.
//!
//! ldirectord resolves every name while parsing (`getaddrinfo` for hosts, first
//! answer; `getservbyname` for ports). The parser stays pure by asking a
//! [`Resolver`]. [`StaticResolver::offline`] answers without any I/O: IP
//! literals, `localhost`, and a built-in copy of the well-known service names
//! of netbase's `/etc/services`. A shell that wants the system's view can load
//! `/etc/hosts` and `/etc/services` text into a [`StaticResolver`], or
//! implement [`Resolver`] over `getaddrinfo`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Name resolution used while parsing.
pub trait Resolver {
    /// Resolve a host name (without brackets) for IPv4 (`ipv6 == false`) or
    /// IPv6. IP literals of the right family must resolve to themselves.
    fn host(&self, name: &str, ipv6: bool) -> Option<IpAddr>;
    /// Resolve a service name for `protocol` ("tcp", "udp"; `None` = any).
    fn service(&self, name: &str, protocol: Option<&str>) -> Option<u16>;
}

/// Service names built into [`StaticResolver::offline`]: (name, port, tcp, udp).
const WELL_KNOWN: &[(&str, u16, bool, bool)] = &[
    ("ftp-data", 20, true, false),
    ("ftp", 21, true, false),
    ("ssh", 22, true, false),
    ("telnet", 23, true, false),
    ("smtp", 25, true, false),
    ("domain", 53, true, true),
    ("tftp", 69, false, true),
    ("gopher", 70, true, false),
    ("finger", 79, true, false),
    ("http", 80, true, false),
    ("www", 80, true, false),
    ("kerberos", 88, true, true),
    ("pop3", 110, true, false),
    ("sunrpc", 111, true, true),
    ("nntp", 119, true, false),
    ("ntp", 123, false, true),
    ("imap2", 143, true, false),
    ("imap", 143, true, false),
    ("snmp", 161, true, true),
    ("ldap", 389, true, false),
    ("https", 443, true, true),
    ("submissions", 465, true, false),
    ("syslog", 514, false, true),
    ("submission", 587, true, false),
    ("ldaps", 636, true, false),
    ("rsync", 873, true, false),
    ("imaps", 993, true, false),
    ("pop3s", 995, true, false),
    ("openvpn", 1194, true, true),
    ("ms-sql-s", 1433, true, false),
    ("radius", 1812, false, true),
    ("radius-acct", 1813, false, true),
    ("nfs", 2049, true, true),
    ("mysql", 3306, true, false),
    ("sip", 5060, true, true),
    ("sip-tls", 5061, true, true),
    ("postgresql", 5432, true, false),
    ("x11", 6000, true, false),
    ("http-alt", 8080, true, false),
    ("webcache", 8080, true, false),
];

/// A resolver from tables in memory.
#[derive(Clone, Debug, Default)]
pub struct StaticResolver {
    hosts: HashMap<String, Vec<IpAddr>>,
    /// name → (port, protocol); a name may appear once per protocol.
    services: HashMap<String, Vec<(u16, String)>>,
}

impl StaticResolver {
    /// Literals, `localhost` and the built-in service names; no I/O.
    pub fn offline() -> Self {
        let mut r = StaticResolver::default();
        r.add_host("localhost", IpAddr::V4(Ipv4Addr::LOCALHOST));
        r.add_host("localhost", IpAddr::V6(Ipv6Addr::LOCALHOST));
        for &(name, port, tcp, udp) in WELL_KNOWN {
            if tcp {
                r.add_service(name, port, "tcp");
            }
            if udp {
                r.add_service(name, port, "udp");
            }
        }
        r
    }

    pub fn add_host(&mut self, name: &str, addr: IpAddr) {
        self.hosts
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(addr);
    }

    pub fn add_service(&mut self, name: &str, port: u16, protocol: &str) {
        self.services
            .entry(name.to_string())
            .or_default()
            .push((port, protocol.to_string()));
    }

    /// Add the entries of an `/etc/hosts`-format text.
    pub fn load_hosts(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(addr) = words.next().and_then(|a| a.parse::<IpAddr>().ok()) else {
                continue;
            };
            for name in words {
                self.add_host(name, addr);
            }
        }
    }

    /// Add the entries of an `/etc/services`-format text (names and aliases).
    pub fn load_services(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(portproto)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, proto)) = portproto.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            self.add_service(name, port, proto);
            for alias in words {
                self.add_service(alias, port, proto);
            }
        }
    }
}

impl Resolver for StaticResolver {
    fn host(&self, name: &str, ipv6: bool) -> Option<IpAddr> {
        if let Ok(a) = name.parse::<IpAddr>() {
            return (a.is_ipv6() == ipv6).then_some(a);
        }
        self.hosts
            .get(&name.to_ascii_lowercase())?
            .iter()
            .copied()
            .find(|a| a.is_ipv6() == ipv6)
    }

    fn service(&self, name: &str, protocol: Option<&str>) -> Option<u16> {
        self.services
            .get(name)?
            .iter()
            .find(|(_, p)| match protocol {
                Some(want) => want == p,
                None => true,
            })
            .map(|(port, _)| *port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_resolves_literals_localhost_and_services() {
        let r = StaticResolver::offline();
        assert_eq!(r.host("10.0.0.1", false), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(r.host("10.0.0.1", true), None);
        assert_eq!(r.host("::1", true), Some("::1".parse().unwrap()));
        assert_eq!(
            r.host("LocalHost", false),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(r.host("web1.example.com", false), None);
        assert_eq!(r.service("https", Some("tcp")), Some(443));
        assert_eq!(r.service("domain", Some("udp")), Some(53));
        assert_eq!(r.service("http", Some("udp")), None);
        assert_eq!(r.service("http", None), Some(80));
        assert_eq!(r.service("nonesuch", None), None);
    }

    #[test]
    fn loads_hosts_and_services_text() {
        let mut r = StaticResolver::default();
        r.load_hosts("# c\n192.0.2.7 web1.example.com web1 # x\n2001:db8::7 web1\nbad line\n");
        r.load_services("myproto 4711/tcp alias1 # c\nbroken\nx 99999/tcp\n");
        assert_eq!(r.host("web1", false), Some("192.0.2.7".parse().unwrap()));
        assert_eq!(r.host("web1", true), Some("2001:db8::7".parse().unwrap()));
        assert_eq!(r.service("alias1", Some("tcp")), Some(4711));
        assert_eq!(r.service("x", None), None);
    }
}
