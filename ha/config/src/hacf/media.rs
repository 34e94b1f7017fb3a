//! Media lines: the HBcomm plugins Debian ships (`bcast mcast mcast6 ucast
//! ucast6 ping ping6 ping_group serial`), with the plugins' own checks and
//! messages.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Parser, MAXMEDIA, WHITESPACE};
use crate::{Medium, PingNode};

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(WHITESPACE).filter(|w| !w.is_empty())
}

impl Parser<'_> {
    /// `bcast`, `ping`, `ping6`, `serial`: one medium per value.
    pub(super) fn medium_value(
        &mut self,
        kind: &'static str,
        v: &str,
        lineno: usize,
    ) -> Result<(), String> {
        match kind {
            "bcast" => {
                let port = self.port_for("bcast");
                self.add_medium(Medium::Bcast {
                    iface: v.to_string(),
                    port,
                })
            }
            "ping" => {
                let ip = v
                    .parse::<Ipv4Addr>()
                    .map_err(|_| not_literal("ping", v, "IPv4"))?;
                self.add_ping(PingNode::Single(IpAddr::V4(ip)))
            }
            "ping6" => {
                let ip = v
                    .parse::<Ipv6Addr>()
                    .map_err(|_| not_literal("ping6", v, "IPv6"))?;
                self.add_ping(PingNode::Single(IpAddr::V6(ip)))
            }
            // "serial" is the only other per-value medium.
            _ => {
                self.add_unsupported(kind, lineno)?;
                self.warn(
                    Some(lineno),
                    format!(
                        "serial media are not supported by this implementation: no heartbeats go over {v}, \
                         so this cluster has less link redundancy than configured"
                    ),
                );
                Ok(())
            }
        }
    }

    /// `mcast`, `mcast6`, `ucast`, `ucast6`, `ping_group`: the rest of the
    /// line is one medium.
    pub(super) fn medium_line(
        &mut self,
        kind: &'static str,
        rest: &str,
        lineno: usize,
    ) -> Result<(), String> {
        let mut w = words(rest);
        let first = w.next();
        let medium = match (kind, first) {
            // mcast_parse/ucast_parse return OK without a device and add nothing.
            ("mcast" | "ucast", None) => {
                self.warn(
                    Some(lineno),
                    format!("\"{kind}\" has no value; the line is ignored"),
                );
                return Ok(());
            }
            ("mcast", Some(dev)) => mcast(dev, &mut w)?,
            ("ucast", Some(dev)) => {
                let peer = w
                    .next()
                    .ok_or_else(|| format!("ucast: [{dev}] missing target IP address/hostname"))?;
                let peer = match peer.parse::<IpAddr>() {
                    Ok(IpAddr::V4(ip)) => IpAddr::V4(ip),
                    Ok(IpAddr::V6(_)) => {
                        return Err(format!(
                            "ucast: [{peer}] is an IPv6 address; use ucast6 for it"
                        ))
                    }
                    Err(_) => return Err(not_literal("ucast", peer, "IPv4")),
                };
                Medium::Ucast {
                    iface: dev.to_string(),
                    peer,
                    port: self.port_for("ucast"),
                }
            }
            ("ucast6", None) => return Err("ucast6 statement without device".into()),
            ("ucast6", Some(dev)) => {
                let peer = w
                    .next()
                    .ok_or_else(|| format!("ucast6 [{dev}] missing ucast6 address"))?;
                let ip = peer
                    .parse::<Ipv6Addr>()
                    .map_err(|_| format!("ucast6 [{dev}] bad addr [{peer}]"))?;
                Medium::Ucast {
                    iface: dev.to_string(),
                    peer: IpAddr::V6(ip),
                    port: self.port_for("ucast6"),
                }
            }
            ("ping_group", None) => return Err("ping_group: missing group name".into()),
            ("ping_group", Some(name)) => {
                let addrs = w
                    .by_ref()
                    .map(|h| {
                        h.parse::<Ipv4Addr>()
                            .map(IpAddr::V4)
                            .map_err(|_| not_literal("ping_group", h, "IPv4"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if addrs.is_empty() {
                    return Err(format!("ping_group [{name}] has no members"));
                }
                return self.add_ping(PingNode::Group {
                    name: name.to_string(),
                    addrs,
                });
            }
            // mcast6 is the remaining whole-line medium.
            _ => {
                self.add_unsupported(kind, lineno)?;
                self.warn(
                    Some(lineno),
                    "mcast6 is not supported by this implementation: no heartbeats go over this medium",
                );
                return Ok(());
            }
        };
        let extra: Vec<&str> = w.collect();
        if !extra.is_empty() {
            self.warn(
                Some(lineno),
                format!("{kind}: extra text \"{}\" is ignored", extra.join(" ")),
            );
        }
        self.add_medium(medium)
    }

    /// The port a UDP plugin uses: latched at its first medium.
    fn port_for(&mut self, plugin: &'static str) -> u16 {
        if let Some((_, p)) = self.latched_port.iter().find(|(k, _)| *k == plugin) {
            return *p;
        }
        self.latched_port.push((plugin, self.udpport));
        self.udpport
    }

    fn count_medium(&mut self) -> Result<(), String> {
        if self.media_count >= MAXMEDIA {
            return Err(format!("Too many media specified (> {MAXMEDIA})"));
        }
        self.media_count += 1;
        Ok(())
    }

    fn add_medium(&mut self, m: Medium) -> Result<(), String> {
        self.count_medium()?;
        self.media.push(m);
        Ok(())
    }

    /// A ping medium is also a (ping) node in heartbeat.
    fn add_ping(&mut self, p: PingNode) -> Result<(), String> {
        self.count_medium()?;
        self.count_node()?;
        self.ping_nodes.push(p);
        self.ping_node_positions.push(self.nodes.len());
        Ok(())
    }

    fn add_unsupported(&mut self, kind: &'static str, lineno: usize) -> Result<(), String> {
        self.count_medium()?;
        self.unsupported_media.push((kind, lineno));
        Ok(())
    }
}

fn not_literal(kind: &str, v: &str, family: &str) -> String {
    format!(
        "{kind}: [{v}] is not an {family} address (host names are not resolved; write the address)"
    )
}

/// `mcast dev group port ttl loop`, checked like `mcast_parse`.
fn mcast<'s>(dev: &str, w: &mut impl Iterator<Item = &'s str>) -> Result<Medium, String> {
    let group = w
        .next()
        .ok_or_else(|| format!("mcast [{dev}] missing mcast address"))?;
    let group = group
        .parse::<Ipv4Addr>()
        .ok()
        .filter(Ipv4Addr::is_multicast)
        .ok_or_else(|| {
            format!("mcast [{dev}] bad addr [{group}] (expected an IPv4 multicast address)")
        })?;
    let port = w
        .next()
        .ok_or_else(|| format!("mcast [{dev}] missing port"))?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("mcast [{dev}] bad port [{port}]"))?;
    let ttl = w
        .next()
        .ok_or_else(|| format!("mcast [{dev}] missing ttl"))?;
    let ttl = ttl
        .parse::<u8>()
        .ok()
        .filter(|t| *t <= 4)
        .ok_or_else(|| format!("mcast [{dev}] bad ttl [{ttl}] (expected 0 to 4)"))?;
    let lp = w
        .next()
        .ok_or_else(|| format!("mcast [{dev}] missing loop"))?;
    let r#loop = match lp {
        "0" => false,
        "1" => true,
        _ => return Err(format!("mcast [{dev}] bad loop [{lp}] (expected 0 or 1)")),
    };
    Ok(Medium::Mcast {
        iface: dev.to_string(),
        group,
        port,
        ttl,
        r#loop,
    })
}
