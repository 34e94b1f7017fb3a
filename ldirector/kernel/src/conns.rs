//! The kernel's connection table, read from `/proc/net/ip_vs_conn` as
//! ipvsadm's `-Lc` does (there is no netlink dump of connections).
//!
//! A line is `Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires
//! [PEName PEData]`: IPv4 addresses as 8 hex digits, IPv6 ones in full `%pI6` form, ports as 4
//! hex digits, the expiry in whole seconds. IPv4 and IPv6 entries share the
//! file; a destination may be of the other family than the client (IPv4
//! tunnelled over IPv6), so each address is read on its own.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ldirector::backend::{ConnEntry, ConnProtocol, ConnState};

pub const CONN_PROC_FILE: &str = "/proc/net/ip_vs_conn";

fn addr(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else if s.len() == 8 {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| IpAddr::V4(Ipv4Addr::from(v)))
    } else {
        None
    }
}

fn sockaddr(a: &str, port: &str) -> Option<SocketAddr> {
    let port = u16::from_str_radix(port, 16).ok()?;
    Some(SocketAddr::new(addr(a)?, port))
}

/// One line of the file; `None` for the header and anything malformed.
pub fn parse_line(line: &str) -> Option<ConnEntry> {
    let mut f = line.split_whitespace();
    let protocol = f.next()?;
    if protocol == "Pro" {
        return None;
    }
    let client = sockaddr(f.next()?, f.next()?)?;
    let virtual_addr = sockaddr(f.next()?, f.next()?)?;
    let destination = sockaddr(f.next()?, f.next()?)?;
    let state = ConnState::from_name(f.next()?);
    let expires = Duration::from_secs(f.next()?.parse().ok()?);
    Some(ConnEntry {
        protocol: ConnProtocol::from_name(protocol),
        client,
        virtual_addr,
        destination,
        state,
        expires,
    })
}

/// Every entry of the file's text, in its order; malformed lines are
/// skipped (and counted in the second value).
pub fn parse(text: &str) -> (Vec<ConnEntry>, usize) {
    let mut bad = 0;
    let entries = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let e = parse_line(l);
            if e.is_none() && i > 0 && !l.trim().is_empty() {
                bad += 1;
            }
            e
        })
        .collect();
    (entries, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from /proc/net/ip_vs_conn on the 6.1 kernel (UML guest):
    // a persistent TCP service (template NONE, client port 0), plain TCP
    // and UDP services, a persistent IPv6 UDP service.
    const CAPTURED: &str = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
UDP 0A090001 E096 0A090064 14E9 0A090003 14E9 UDP             297
TCP 0A090001 EE42 0A090065 0050 0A090005 0050 SYN_RECV         59
TCP 0A090001 927A 0A090064 0050 0A090002 0050 SYN_RECV         59
TCP 0A090000 0000 0A090064 0050 0A090002 0050 NONE            359
UDP 2001:0db8:0009:0000:0000:0000:0000:0001 E730 2001:0db8:0009:0000:0000:0000:0000:0100 0035 2001:0db8:0009:0000:0000:0000:0000:0002 0035 UDP             298
UDP 2001:0db8:0009:0000:0000:0000:0000:0001 0000 2001:0db8:0009:0000:0000:0000:0000:0100 0035 2001:0db8:0009:0000:0000:0000:0000:0002 0035 NONE             28
";

    // ipvsadm -Lcn over the same lines.
    const IPVSADM: &str = "\
IPVS connection entries
pro expire state       source             virtual            destination
UDP 04:57  UDP         10.9.0.1:57494     10.9.0.100:5353    10.9.0.3:5353
TCP 00:59  SYN_RECV    10.9.0.1:60994     10.9.0.101:80      10.9.0.5:80
TCP 00:59  SYN_RECV    10.9.0.1:37498     10.9.0.100:80      10.9.0.2:80
TCP 05:59  NONE        10.9.0.0:0         10.9.0.100:80      10.9.0.2:80
UDP 04:58  UDP         [2001:db8:9::1]:59184 [2001:db8:9::100]:53 [2001:db8:9::2]:53
UDP 00:28  NONE        [2001:db8:9::1]:0  [2001:db8:9::100]:53 [2001:db8:9::2]:53
";

    #[test]
    fn renders_like_ipvsadm() {
        let (e, bad) = parse(CAPTURED);
        assert_eq!(bad, 0);
        assert_eq!(
            ldirector::backend::listing::render_connections(&e, true),
            IPVSADM
        );
    }

    #[test]
    fn parses_captured_lines() {
        let (e, bad) = parse(CAPTURED);
        assert_eq!(bad, 0);
        assert_eq!(e.len(), 6);
        assert_eq!(
            e[2],
            ConnEntry {
                protocol: ConnProtocol::Tcp,
                client: "10.9.0.1:37498".parse().unwrap(),
                virtual_addr: "10.9.0.100:80".parse().unwrap(),
                destination: "10.9.0.2:80".parse().unwrap(),
                state: ConnState::SynRecv,
                expires: Duration::from_secs(59),
            }
        );
        assert_eq!(e[0].state, ConnState::Udp);
        assert_eq!(e[3].client, "10.9.0.0:0".parse().unwrap());
        assert_eq!(e[3].state, ConnState::None);
        assert_eq!(e[4].client, "[2001:db8:9::1]:59184".parse().unwrap());
        assert_eq!(e[5].destination, "[2001:db8:9::2]:53".parse().unwrap());
        assert_eq!(e[5].expires, Duration::from_secs(28));
        // A fwmark template (from the kernel's source: IPPROTO_IP, the
        // mark as the virtual address; the destination's hex in lower
        // case on older kernels).
        let fwm = parse_line("IP  0A090001 0000 00000007 0000 0a090004 0000 NONE             60")
            .expect("fwmark template");
        assert_eq!(fwm.protocol, ConnProtocol::Ip);
        assert_eq!(fwm.virtual_addr, "0.0.0.7:0".parse().unwrap());
        assert_eq!(fwm.destination, "10.9.0.4:0".parse().unwrap());
    }

    #[test]
    fn odd_lines_are_skipped_not_fatal() {
        let text = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP 0A090001 A0F2
TCP ZZZZZZZZ A0F2 0A090064 0050 0a090002 0050 SYN_RECV 57
TCP 0A090001 FFFFF 0A090064 0050 0a090002 0050 SYN_RECV 57
TCP 0A0900011 A0F2 0A090064 0050 0a090002 0050 SYN_RECV 57
TCP 0A090001 A0F2 0A090064 0050 0a090002 0050 SYN_RECV -1
TCP 0A090001 A0F2 0A090064 0050 0a090002 0050 SYN_RECV
TCP 1:2:3 A0F2 0A090064 0050 0a090002 0050 SYN_RECV 5
\u{0}\u{ff}é

UDP 0A090001 8F3C 0A090064 14E9 0a090003 14E9 UDP             299 sip 1234
SCTP 0A090001 8F3C 0A090064 14E9 0a090003 14E9 ESTABLISHED 3
";
        let (e, bad) = parse(text);
        assert_eq!(bad, 8);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].protocol, ConnProtocol::Udp);
        assert_eq!(e[1].protocol, ConnProtocol::Sctp);
        assert_eq!(e[1].state, ConnState::Established);
    }
}
