//! Which interface, prefix and broadcast an address gets (resource-agents'
//! `findif`): a pure function of the link/address/route tables.
//!
//! With a NIC and a prefix both given, nothing is looked up. Otherwise the
//! candidates are the main table's connected routes (`scope link`) whose
//! prefix contains the IP (and is no longer than a given prefix; on the given
//! NIC if one was named); the longest prefix wins. The NIC and a missing
//! prefix come from that route. `127.*` addresses may also match the local
//! table's host-scope route on `lo`.

use std::net::Ipv4Addr;

use crate::ipspec::{network, subnet_broadcast, Broadcast};
use crate::netlink::{Addr4, Link, Route4, RT_TABLE_LOCAL, RT_TABLE_MAIN};
use crate::ocf::RaError;

/// The kernel state findif looks at.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    pub links: Vec<Link>,
    pub addrs: Vec<Addr4>,
    pub routes: Vec<Route4>,
}

impl Tables {
    pub fn link_by_name(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }
    pub fn link_by_index(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }
    /// Every address equal to `ip`, on any interface.
    pub fn addrs_with_ip(&self, ip: Ipv4Addr) -> impl Iterator<Item = &Addr4> {
        self.addrs.iter().filter(move |a| a.local == ip)
    }
}

/// Where the address goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicInfo {
    pub ifindex: u32,
    pub nic: String,
    pub prefix: u8,
    pub broadcast: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FindIfError {
    #[error("Invalid interface name [{0}]: no such device")]
    NoSuchInterface(String),
    #[error("Unable to find nic or netmask.")]
    NoRoute,
}

impl From<FindIfError> for RaError {
    fn from(e: FindIfError) -> Self {
        match e {
            FindIfError::NoSuchInterface(_) => RaError::not_configured(e.to_string()),
            FindIfError::NoRoute => RaError::generic(e.to_string()),
        }
    }
}

pub fn findif(
    t: &Tables,
    ip: Ipv4Addr,
    nic: Option<&str>,
    prefix: Option<u8>,
    broadcast: Broadcast,
) -> Result<NicInfo, FindIfError> {
    let wanted = match nic {
        Some(name) => Some(
            t.link_by_name(name)
                .ok_or_else(|| FindIfError::NoSuchInterface(name.to_string()))?,
        ),
        None => None,
    };
    let (link, prefix) = match (wanted, prefix) {
        (Some(link), Some(p)) => (link, p),
        _ => {
            let route =
                best_route(t, ip, wanted.map(|l| l.index), prefix).ok_or(FindIfError::NoRoute)?;
            let oif = route.oif.ok_or(FindIfError::NoRoute)?;
            let link = t.link_by_index(oif).ok_or(FindIfError::NoRoute)?;
            (link, prefix.unwrap_or(route.prefix))
        }
    };
    let broadcast = match broadcast {
        Broadcast::Explicit(b) => Some(b),
        Broadcast::None => None,
        Broadcast::Default | Broadcast::Computed => subnet_broadcast(ip, prefix),
    };
    Ok(NicInfo {
        ifindex: link.index,
        nic: link.name.clone(),
        prefix,
        broadcast,
    })
}

fn best_route<'a>(
    t: &'a Tables,
    ip: Ipv4Addr,
    oif: Option<u32>,
    max_prefix: Option<u8>,
) -> Option<&'a Route4> {
    let contains = |r: &Route4| {
        r.prefix <= max_prefix.unwrap_or(32) && network(ip, r.prefix) == network(r.dst, r.prefix)
    };
    let on_nic = |r: &Route4| oif.is_none() || r.oif == oif;
    // `>=` keeps the last of equally long prefixes, as findif's awk does.
    let longest = |best: Option<&'a Route4>, r: &'a Route4| match best {
        Some(b) if b.prefix > r.prefix => Some(b),
        _ => Some(r),
    };
    let connected = t
        .routes
        .iter()
        .filter(|r| r.table == RT_TABLE_MAIN && r.scope_link && r.unicast)
        .filter(|r| contains(r) && on_nic(r))
        .fold(None, longest);
    if connected.is_some() || ip.octets()[0] != 127 {
        return connected;
    }
    t.routes
        .iter()
        .filter(|r| r.table == RT_TABLE_LOCAL && r.scope_host && r.local && r.prefix < 32)
        .filter(|r| contains(r) && on_nic(r))
        .fold(None, longest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn link(index: u32, name: &str) -> Link {
        Link {
            index,
            name: name.into(),
            up: true,
            mac: Some([2, 0, 0, 0, 0, index as u8]),
        }
    }

    fn connected(dst: &str, prefix: u8, oif: u32) -> Route4 {
        Route4 {
            table: RT_TABLE_MAIN,
            scope_link: true,
            scope_host: false,
            unicast: true,
            local: false,
            dst: ip(dst),
            prefix,
            oif: Some(oif),
        }
    }

    fn tables() -> Tables {
        let mut default = connected("0.0.0.0", 0, 2);
        default.scope_link = false;
        Tables {
            links: vec![link(1, "lo"), link(2, "eth0"), link(3, "eth1")],
            addrs: vec![],
            routes: vec![
                default,
                connected("192.0.2.0", 24, 2),
                connected("10.0.0.0", 8, 3),
                connected("10.1.0.0", 16, 2),
                Route4 {
                    table: RT_TABLE_LOCAL,
                    scope_link: false,
                    scope_host: true,
                    unicast: false,
                    local: true,
                    dst: ip("127.0.0.0"),
                    prefix: 8,
                    oif: Some(1),
                },
            ],
        }
    }

    #[test]
    fn picks_the_interface_of_the_connected_route() {
        let got = findif(&tables(), ip("192.0.2.50"), None, None, Broadcast::Default).unwrap();
        assert_eq!(
            got,
            NicInfo {
                ifindex: 2,
                nic: "eth0".into(),
                prefix: 24,
                broadcast: Some(ip("192.0.2.255"))
            }
        );
    }

    #[test]
    fn longest_prefix_wins_and_nic_restricts() {
        let t = tables();
        let got = findif(&t, ip("10.1.2.3"), None, None, Broadcast::Default).unwrap();
        assert_eq!((got.nic.as_str(), got.prefix), ("eth0", 16));
        let got = findif(&t, ip("10.1.2.3"), Some("eth1"), None, Broadcast::Default).unwrap();
        assert_eq!((got.nic.as_str(), got.prefix), ("eth1", 8));
        assert_eq!(got.broadcast, Some(ip("10.255.255.255")));
    }

    #[test]
    fn a_given_prefix_only_matches_routes_not_longer_than_it() {
        let t = tables();
        // 10.1.2.3/12 is not inside 10.1.0.0/16, only inside 10.0.0.0/8.
        let got = findif(&t, ip("10.1.2.3"), None, Some(12), Broadcast::Default).unwrap();
        assert_eq!((got.nic.as_str(), got.prefix), ("eth1", 12));
        assert_eq!(got.broadcast, Some(ip("10.15.255.255")));
    }

    #[test]
    fn default_route_alone_is_not_enough() {
        assert_eq!(
            findif(
                &tables(),
                ip("198.51.100.7"),
                None,
                None,
                Broadcast::Default
            ),
            Err(FindIfError::NoRoute)
        );
    }

    #[test]
    fn nic_and_prefix_given_need_no_route() {
        let got = findif(
            &tables(),
            ip("198.51.100.7"),
            Some("eth1"),
            Some(25),
            Broadcast::None,
        )
        .unwrap();
        assert_eq!((got.ifindex, got.prefix, got.broadcast), (3, 25, None));
    }

    #[test]
    fn unknown_nic_is_a_configuration_error() {
        let e = findif(
            &tables(),
            ip("192.0.2.5"),
            Some("eth9"),
            Some(24),
            Broadcast::Default,
        )
        .unwrap_err();
        assert_eq!(e, FindIfError::NoSuchInterface("eth9".into()));
        assert_eq!(RaError::from(e).rc, crate::ocf::Rc::NotConfigured);
    }

    #[test]
    fn explicit_broadcast_is_kept_and_loopback_uses_the_local_table() {
        let t = tables();
        let got = findif(
            &t,
            ip("192.0.2.50"),
            None,
            None,
            Broadcast::Explicit(ip("192.0.2.127")),
        )
        .unwrap();
        assert_eq!(got.broadcast, Some(ip("192.0.2.127")));
        let got = findif(&t, ip("127.0.0.2"), None, None, Broadcast::Default).unwrap();
        assert_eq!((got.nic.as_str(), got.prefix), ("lo", 8));
    }
}
