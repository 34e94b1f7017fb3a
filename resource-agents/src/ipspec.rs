//! The haresources IP argument: `ip[/bits[/nic[/bcast]]]`.
//!
//! As heartbeat's `IPaddr`/`IPaddr2` wrappers split it: the third part is the
//! broadcast address (and there is no NIC) when it starts with a digit;
//! otherwise it is the NIC (`IPaddr2` also accepts `nic:label`) and a fourth
//! part is the broadcast. `bits` may also be a dotted-quad netmask, which
//! resource-agents' findif converts to a prefix length.

use std::net::Ipv4Addr;

use crate::ocf::RaError;

/// The broadcast part of the argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broadcast {
    /// Not given: computed from the address and prefix.
    Default,
    /// `+`: computed, as `ip addr add … brd +`.
    Computed,
    /// `-`: no broadcast address.
    None,
    Explicit(Ipv4Addr),
}

/// A parsed `ip[/bits[/nic[/bcast]]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpSpec {
    pub ip: Ipv4Addr,
    pub prefix: Option<u8>,
    /// Interface name without any `:label` suffix.
    pub nic: Option<String>,
    /// The `label` of `nic:label`, if given.
    pub label: Option<String>,
    pub broadcast: Broadcast,
}

impl IpSpec {
    pub fn parse(arg: &str) -> Result<Self, RaError> {
        let parts: Vec<&str> = arg.split('/').collect();
        if parts.len() > 4 {
            return Err(RaError::not_configured(format!(
                "Invalid IP argument [{arg}]: expected ip[/bits[/nic[/broadcast]]]"
            )));
        }
        let ip = parse_ipv4(parts.first().copied().unwrap_or(""))?;
        let prefix = match parts.get(1).copied() {
            None | Some("") => None,
            Some(bits) => Some(parse_prefix(bits)?),
        };
        let (nic_part, bcast_part) = match parts.get(2).copied() {
            None | Some("") => (None, parts.get(3).copied()),
            Some(p) if p.starts_with(|c: char| c.is_ascii_digit()) => (None, Some(p)),
            Some(p) => (Some(p), parts.get(3).copied()),
        };
        let (nic, label) = match nic_part {
            None => (None, None),
            Some(p) => {
                let (nic, label) = match p.split_once(':') {
                    Some((nic, label)) => (nic, Some(label)),
                    None => (p, None),
                };
                validate_ifname(nic)?;
                if let Some(l) = label {
                    if l.is_empty() {
                        return Err(RaError::not_configured(format!(
                            "Invalid interface label in [{p}]"
                        )));
                    }
                }
                (Some(nic.to_string()), label.map(str::to_string))
            }
        };
        let broadcast = match bcast_part {
            None | Some("") => Broadcast::Default,
            Some("+") => Broadcast::Computed,
            Some("-") => Broadcast::None,
            Some(b) => Broadcast::Explicit(b.parse().map_err(|_| {
                RaError::not_configured(format!("Invalid broadcast address [{b}]."))
            })?),
        };
        Ok(Self {
            ip,
            prefix,
            nic,
            label,
            broadcast,
        })
    }
}

/// A dotted-quad IPv4 address whose first octet is not 0 (findif's check).
pub fn parse_ipv4(s: &str) -> Result<Ipv4Addr, RaError> {
    if s.contains(':') {
        return Err(RaError::not_configured(format!(
            "IP address [{s}] is IPv6, which this agent does not manage (use IPv6addr)."
        )));
    }
    match s.parse::<Ipv4Addr>() {
        Ok(ip) if ip.octets()[0] != 0 => Ok(ip),
        _ => Err(RaError::not_configured(format!(
            "IP address [{s}] not valid."
        ))),
    }
}

/// Prefix length 1..=32, or a contiguous dotted-quad netmask.
pub fn parse_prefix(s: &str) -> Result<u8, RaError> {
    let bad = || RaError::not_configured(format!("Invalid netmask specification [{s}]."));
    if s.contains('.') {
        let mask: Ipv4Addr = s.parse().map_err(|_| bad())?;
        let m = u32::from(mask);
        let bits = m.leading_ones();
        if m.checked_shl(bits).unwrap_or(0) != 0 || bits == 0 {
            return Err(bad());
        }
        tracing::warn!(
            netmask = s,
            bits,
            "Please convert dotted quad netmask to CIDR notation"
        );
        return u8::try_from(bits).map_err(|_| bad());
    }
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match s.parse::<u8>() {
        Ok(n @ 1..=32) => Ok(n),
        _ => Err(bad()),
    }
}

/// Kernel interface names: 1..=15 bytes, no `/`, whitespace or `:`.
pub fn validate_ifname(name: &str) -> Result<(), RaError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0);
    if ok {
        Ok(())
    } else {
        Err(RaError::not_configured(format!(
            "Invalid interface name [{name}]"
        )))
    }
}

/// The broadcast address of `ip/prefix`, if the subnet has one (prefix ≤ 30).
pub fn subnet_broadcast(ip: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    if prefix > 30 {
        return None;
    }
    let host_mask = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    Some(Ipv4Addr::from(u32::from(ip) | host_mask))
}

/// `ip` masked to `prefix` bits.
pub fn network(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip) & netmask_bits(prefix))
}

pub fn netmask_bits(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX.checked_shl(32 - u32::from(p.min(32))).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn the_four_forms() {
        let s = IpSpec::parse("192.0.2.50").unwrap();
        assert_eq!(
            (s.ip, s.prefix, s.nic.as_deref()),
            (ip("192.0.2.50"), None, None)
        );
        assert_eq!(s.broadcast, Broadcast::Default);

        let s = IpSpec::parse("192.0.2.50/24").unwrap();
        assert_eq!(s.prefix, Some(24));

        let s = IpSpec::parse("192.0.2.50/24/eth0").unwrap();
        assert_eq!(s.nic.as_deref(), Some("eth0"));
        assert_eq!(s.broadcast, Broadcast::Default);

        let s = IpSpec::parse("192.0.2.50/24/eth0/192.0.2.255").unwrap();
        assert_eq!(s.nic.as_deref(), Some("eth0"));
        assert_eq!(s.broadcast, Broadcast::Explicit(ip("192.0.2.255")));
    }

    #[test]
    fn third_part_starting_with_a_digit_is_the_broadcast() {
        let s = IpSpec::parse("192.0.2.50/25/192.0.2.127").unwrap();
        assert_eq!(s.nic, None);
        assert_eq!(s.broadcast, Broadcast::Explicit(ip("192.0.2.127")));
    }

    #[test]
    fn nic_with_label_and_special_broadcasts() {
        let s = IpSpec::parse("10.0.0.1/8/eth1:vip/+").unwrap();
        assert_eq!(s.nic.as_deref(), Some("eth1"));
        assert_eq!(s.label.as_deref(), Some("vip"));
        assert_eq!(s.broadcast, Broadcast::Computed);
        let s = IpSpec::parse("10.0.0.1/8/eth1/-").unwrap();
        assert_eq!(s.broadcast, Broadcast::None);
    }

    #[test]
    fn dotted_netmask_is_converted() {
        assert_eq!(
            IpSpec::parse("10.0.0.1/255.255.255.0").unwrap().prefix,
            Some(24)
        );
        assert!(IpSpec::parse("10.0.0.1/255.0.255.0").is_err());
        assert!(IpSpec::parse("10.0.0.1/0.0.0.0").is_err());
    }

    #[test]
    fn rejects_bad_input_as_not_configured() {
        for bad in [
            "",
            "192.0.2",
            "192.0.2.256",
            "0.1.2.3",
            "fe80::1",
            "host.example",
            "192.0.2.1/33",
            "192.0.2.1/0",
            "192.0.2.1/x",
            "192.0.2.1/24/eth0/300.1.1.1",
            "192.0.2.1/24/eth0:",
            "192.0.2.1/24/averyveryverylongifname",
            "192.0.2.1/24/eth0/192.0.2.255/extra",
        ] {
            let e = IpSpec::parse(bad).expect_err(bad);
            assert_eq!(e.rc, crate::ocf::Rc::NotConfigured, "{bad}");
            assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn broadcast_and_network() {
        assert_eq!(
            subnet_broadcast(ip("192.0.2.50"), 24),
            Some(ip("192.0.2.255"))
        );
        assert_eq!(
            subnet_broadcast(ip("192.0.2.50"), 25),
            Some(ip("192.0.2.127"))
        );
        assert_eq!(
            subnet_broadcast(ip("10.1.2.3"), 8),
            Some(ip("10.255.255.255"))
        );
        assert_eq!(subnet_broadcast(ip("10.1.2.3"), 31), None);
        assert_eq!(subnet_broadcast(ip("10.1.2.3"), 32), None);
        assert_eq!(network(ip("192.0.2.200"), 25), ip("192.0.2.128"));
        assert_eq!(network(ip("192.0.2.200"), 32), ip("192.0.2.200"));
        assert_eq!(network(ip("192.0.2.200"), 0), ip("0.0.0.0"));
    }
}
