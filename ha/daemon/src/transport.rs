//! UDP media: `bcast`, `mcast` and `ucast` over IPv4.
//!
//! One socket per (interface, port), bound to `0.0.0.0:port` and to the
//! device (`SO_BINDTODEVICE`), serves every medium on that interface: it
//! receives broadcast, joined multicast and unicast datagrams alike, and it
//! sends to the broadcast address, the group, or the peer. The link a packet
//! arrived on is therefore its interface, which is also how heartbeat names
//! links ("Link node2:eth0 up.") whatever the medium type.
//!
//! A `ucast` line naming one of our own addresses is harmless (heartbeat's
//! sample configs list both nodes in both files): nothing is sent to it.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::task::{Context, Poll};

use hb_config::Medium;
use hb_membership::MediumId;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// `IPTOS_LOWDELAY`, as heartbeat sets on its write sockets.
const IPTOS_LOWDELAY: u32 = 0x10;
/// Largest UDP payload.
pub const MAX_DATAGRAM: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("interface {0} has no IPv4 address")]
    NoAddress(String),
    #[error("interface {0} has no IPv4 broadcast address")]
    NoBroadcast(String),
    #[error("{0}: IPv6 is not supported by this medium")]
    Ipv6(String),
    #[error("{what} on {iface} port {port}: {source}")]
    Socket {
        iface: String,
        port: u16,
        what: &'static str,
        source: io::Error,
    },
    #[error("cannot list network interfaces: {0}")]
    Interfaces(io::Error),
}

/// IPv4 facts about the host's interfaces (from `getifaddrs`).
#[derive(Clone, Debug, Default)]
pub struct Interfaces {
    by_name: HashMap<String, IfaceInfo>,
}

#[derive(Clone, Debug, Default)]
pub struct IfaceInfo {
    pub addrs: Vec<Ipv4Addr>,
    pub broadcast: Option<Ipv4Addr>,
    pub index: u32,
}

impl Interfaces {
    pub fn scan() -> Result<Self, TransportError> {
        let mut by_name: HashMap<String, IfaceInfo> = HashMap::new();
        let addrs = nix::ifaddrs::getifaddrs()
            .map_err(|e| TransportError::Interfaces(io::Error::from(e)))?;
        for ifa in addrs {
            let entry = by_name.entry(ifa.interface_name.clone()).or_default();
            if let Some(a) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()) {
                entry.addrs.push(a.ip());
                if let Some(b) = ifa.broadcast.as_ref().and_then(|b| b.as_sockaddr_in()) {
                    entry.broadcast.get_or_insert(b.ip());
                }
            }
        }
        for (name, info) in by_name.iter_mut() {
            info.index = nix::net::if_::if_nametoindex(name.as_str()).unwrap_or(0);
        }
        Ok(Self { by_name })
    }

    pub fn get(&self, iface: &str) -> Option<&IfaceInfo> {
        self.by_name.get(iface)
    }

    pub fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip.is_loopback() || self.by_name.values().any(|i| i.addrs.contains(&ip))
    }

    #[cfg(test)]
    pub fn from_table(t: &[(&str, IfaceInfo)]) -> Self {
        Self {
            by_name: t
                .iter()
                .map(|(n, i)| ((*n).to_owned(), i.clone()))
                .collect(),
        }
    }
}

/// Where one configured medium sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    Send {
        /// Index into the socket list.
        socket: usize,
        dest: SocketAddrV4,
    },
    /// `ucast` to one of our own addresses.
    SkipSelf,
}

/// The sockets to open and where every medium sends: the pure part of setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// (interface, port, link) per socket.
    pub sockets: Vec<(String, u16, MediumId)>,
    /// Per socket, the multicast groups to join with (ttl, loop).
    pub groups: Vec<Vec<(Ipv4Addr, u8, bool)>>,
    /// Per configured medium.
    pub plans: Vec<Plan>,
}

pub fn layout(
    media: &[Medium],
    link_of: &[MediumId],
    ifaces: &Interfaces,
) -> Result<Layout, TransportError> {
    let mut out = Layout {
        sockets: Vec::new(),
        groups: Vec::new(),
        plans: Vec::new(),
    };
    for (i, m) in media.iter().enumerate() {
        let iface = crate::config::medium_iface(m);
        let port = match m {
            Medium::Bcast { port, .. }
            | Medium::Mcast { port, .. }
            | Medium::Ucast { port, .. } => *port,
        };
        let link = link_of.get(i).copied().unwrap_or(0);
        let socket = match out
            .sockets
            .iter()
            .position(|(n, p, _)| n == iface && *p == port)
        {
            Some(s) => s,
            None => {
                out.sockets.push((iface.to_owned(), port, link));
                out.groups.push(Vec::new());
                out.sockets.len() - 1
            }
        };
        let plan = match m {
            Medium::Bcast { .. } => {
                let info = ifaces
                    .get(iface)
                    .ok_or_else(|| TransportError::NoAddress(iface.to_owned()))?;
                let b = info
                    .broadcast
                    .ok_or_else(|| TransportError::NoBroadcast(iface.to_owned()))?;
                Plan::Send {
                    socket,
                    dest: SocketAddrV4::new(b, port),
                }
            }
            Medium::Mcast {
                group, ttl, r#loop, ..
            } => {
                if let Some(g) = out.groups.get_mut(socket) {
                    g.push((*group, *ttl, *r#loop));
                }
                Plan::Send {
                    socket,
                    dest: SocketAddrV4::new(*group, port),
                }
            }
            Medium::Ucast { peer, .. } => match peer {
                IpAddr::V4(ip) if ifaces.is_local(*ip) => Plan::SkipSelf,
                IpAddr::V4(ip) => Plan::Send {
                    socket,
                    dest: SocketAddrV4::new(*ip, port),
                },
                IpAddr::V6(_) => return Err(TransportError::Ipv6(format!("ucast {iface} {peer}"))),
            },
        };
        out.plans.push(plan);
    }
    Ok(out)
}

/// Where a received datagram came from; the bytes are in the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub link: MediumId,
    pub from: SocketAddr,
    pub len: usize,
}

struct LinkSocket {
    link: MediumId,
    iface: String,
    port: u16,
    /// Registered for readability only: with tokio's `UdpSocket` (read and
    /// write interest, edge-triggered) every send would wake the loop once
    /// more for the socket turning writable again.
    socket: AsyncFd<std::net::UdpSocket>,
}

fn register(std_sock: std::net::UdpSocket) -> io::Result<AsyncFd<std::net::UdpSocket>> {
    // SAFETY: the `UdpSocket` owns its descriptor, which stays open and the
    // same until the `AsyncFd` (which owns the socket) is dropped; we never
    // swap the socket through `get_mut`.
    unsafe { AsyncFd::register_with_interest(std_sock, Interest::READABLE) }
        .map_err(io::Error::from)
}

/// The open media. Receiving polls every socket from the event loop itself
/// (no task or channel hop, no allocation per datagram): at keepalive 10 ms
/// that is most of what an idle node does.
pub struct Transport {
    sockets: Vec<LinkSocket>,
    plans: Vec<Plan>,
    /// Our IPv4 addresses, to recognise our own broadcasts coming back.
    local_addrs: Vec<Ipv4Addr>,
    /// Where the next poll starts, so one busy link cannot starve another.
    next: Cell<usize>,
}

fn open_socket(
    iface: &str,
    port: u16,
    info: Option<&IfaceInfo>,
    groups: &[(Ipv4Addr, u8, bool)],
) -> Result<std::net::UdpSocket, TransportError> {
    let err = |what, source| TransportError::Socket {
        iface: iface.to_owned(),
        port,
        what,
        source,
    };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| err("socket", e))?;
    s.set_reuse_address(true)
        .map_err(|e| err("SO_REUSEADDR", e))?;
    s.bind_device(Some(iface.as_bytes()))
        .map_err(|e| err("SO_BINDTODEVICE", e))?;
    s.set_broadcast(true).map_err(|e| err("SO_BROADCAST", e))?;
    // Priority is a nicety; a kernel refusing it must not stop heartbeat.
    let _ = s.set_tos(IPTOS_LOWDELAY);
    s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)).into())
        .map_err(|e| err("bind", e))?;
    for (group, ttl, lp) in groups {
        let index = info.map_or(0, |i| i.index);
        s.join_multicast_v4_n(group, &socket2::InterfaceIndexOrAddress::Index(index))
            .map_err(|e| err("IP_ADD_MEMBERSHIP", e))?;
        if let Some(addr) = info.and_then(|i| i.addrs.first()) {
            s.set_multicast_if_v4(addr)
                .map_err(|e| err("IP_MULTICAST_IF", e))?;
        }
        s.set_multicast_ttl_v4(u32::from(*ttl))
            .map_err(|e| err("IP_MULTICAST_TTL", e))?;
        s.set_multicast_loop_v4(*lp)
            .map_err(|e| err("IP_MULTICAST_LOOP", e))?;
    }
    s.set_nonblocking(true).map_err(|e| err("O_NONBLOCK", e))?;
    Ok(s.into())
}

impl Transport {
    /// Open every socket. Must run inside a tokio runtime.
    pub fn open(media: &[Medium], link_of: &[MediumId]) -> Result<Self, TransportError> {
        let ifaces = Interfaces::scan()?;
        let lay = layout(media, link_of, &ifaces)?;
        let mut sockets = Vec::with_capacity(lay.sockets.len());
        for (i, (iface, port, link)) in lay.sockets.iter().enumerate() {
            let groups = lay.groups.get(i).map_or(&[][..], Vec::as_slice);
            let std_sock = open_socket(iface, *port, ifaces.get(iface), groups)?;
            let socket = register(std_sock).map_err(|e| TransportError::Socket {
                iface: iface.clone(),
                port: *port,
                what: "tokio registration",
                source: e,
            })?;
            sockets.push(LinkSocket {
                link: *link,
                iface: iface.clone(),
                port: *port,
                socket,
            });
        }
        for (m, plan) in media.iter().zip(&lay.plans) {
            log_started(m, plan);
        }
        let local_addrs: Vec<Ipv4Addr> = ifaces
            .by_name
            .values()
            .flat_map(|i| i.addrs.clone())
            .collect();
        for ls in &sockets {
            drop_own_in_kernel(ls, &sockets, &local_addrs);
        }
        Ok(Self {
            sockets,
            plans: lay.plans,
            local_addrs,
            next: Cell::new(0),
        })
    }

    /// The next datagram on any medium, into `buf` (cancel-safe).
    pub async fn recv(&self, buf: &mut [u8]) -> Received {
        std::future::poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Received> {
        let n = self.sockets.len();
        let start = self.next.get();
        for k in 0..n {
            let i = (start + k) % n;
            let Some(ls) = self.sockets.get(i) else {
                continue;
            };
            // An ICMP error from an earlier send surfaces as one failed
            // receive; a few in a row must not make us spin.
            for _ in 0..8 {
                let mut guard = match ls.socket.poll_read_ready(cx) {
                    Poll::Ready(Ok(g)) => g,
                    Poll::Ready(Err(e)) => {
                        tracing::debug!(iface = %ls.iface, error = %e, "receive readiness error");
                        break;
                    }
                    Poll::Pending => break,
                };
                match guard.try_io(|s| s.get_ref().recv_from(buf)) {
                    Ok(Ok((len, from))) => {
                        self.next.set((i + 1) % n);
                        return Poll::Ready(Received {
                            link: ls.link,
                            from,
                            len,
                        });
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(iface = %ls.iface, error = %e, "receive error");
                    }
                    // Drained: readiness is cleared, the next poll re-arms.
                    Err(_would_block) => {}
                }
            }
        }
        Poll::Pending
    }

    /// True for our own broadcast or multicast coming back to us: sent from
    /// one of our addresses and from the port of the socket it arrived on.
    pub fn is_own(&self, r: &Received) -> bool {
        let SocketAddr::V4(from) = r.from else {
            return false;
        };
        self.sockets
            .iter()
            .any(|ls| ls.link == r.link && ls.port == from.port())
            && self.local_addrs.contains(from.ip())
    }

    /// Send `bytes` on every medium. Returns the failures (interface, error).
    pub fn send_all(&self, bytes: &[u8]) -> Vec<(String, io::Error)> {
        let mut errors = Vec::new();
        for plan in &self.plans {
            let Plan::Send { socket, dest } = plan else {
                continue;
            };
            let Some(ls) = self.sockets.get(*socket) else {
                continue;
            };
            // A plain non-blocking sendto(2); a full send buffer drops this
            // heartbeat, as it would in heartbeat.
            if let Err(e) = ls.socket.get_ref().send_to(bytes, SocketAddr::V4(*dest)) {
                errors.push((ls.iface.clone(), e));
            }
        }
        errors
    }
}

/// Attach the [`crate::ownfilter`] program matching what `is_own` tests for
/// packets arriving on `ls`: the ports of every socket on its link.
fn drop_own_in_kernel(ls: &LinkSocket, all: &[LinkSocket], local_addrs: &[Ipv4Addr]) {
    let mut ports: Vec<u16> = all
        .iter()
        .filter(|o| o.link == ls.link)
        .map(|o| o.port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    let Some(prog) = crate::ownfilter::own_packet_filter(local_addrs, &ports) else {
        return;
    };
    // Only an optimisation: `is_own` still skips what gets through.
    if let Err(e) = socket2::SockRef::from(ls.socket.get_ref()).attach_filter(&prog) {
        tracing::debug!(iface = %ls.iface, error = %e, "cannot attach the own-packet filter");
    }
}

fn log_started(m: &Medium, plan: &Plan) {
    match (m, plan) {
        (Medium::Bcast { iface, port }, _) => tracing::info!(
            medium = "bcast",
            iface = %iface,
            port,
            "UDP Broadcast heartbeat started on port {port} ({port}) interface {iface}"
        ),
        (
            Medium::Mcast {
                iface,
                group,
                port,
                ttl,
                r#loop,
            },
            _,
        ) => tracing::info!(
            medium = "mcast",
            iface = %iface,
            port,
            "UDP multicast heartbeat started for group {group} port {port} interface {iface} (ttl={ttl} loop={})",
            u8::from(*r#loop)
        ),
        (Medium::Ucast { iface, peer, port }, Plan::SkipSelf) => tracing::info!(
            medium = "ucast",
            iface = %iface,
            port,
            "ucast: {peer} is this node: listening on port {port} interface {iface}, not sending to it"
        ),
        (Medium::Ucast { iface, peer, port }, _) => tracing::info!(
            medium = "ucast",
            iface = %iface,
            port,
            "ucast: started on port {port} interface {iface} to {peer}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth0() -> Interfaces {
        Interfaces::from_table(&[(
            "eth0",
            IfaceInfo {
                addrs: vec![Ipv4Addr::new(192, 0, 2, 11)],
                broadcast: Some(Ipv4Addr::new(192, 0, 2, 255)),
                index: 2,
            },
        )])
    }

    #[test]
    fn bcast_sends_to_the_interface_broadcast_address() {
        let media = [Medium::Bcast {
            iface: "eth0".into(),
            port: 694,
        }];
        let l = layout(&media, &[0], &eth0()).unwrap();
        assert_eq!(l.sockets, [("eth0".to_owned(), 694, 0)]);
        assert_eq!(
            l.plans,
            [Plan::Send {
                socket: 0,
                dest: "192.0.2.255:694".parse().unwrap()
            }]
        );
    }

    #[test]
    fn ucast_to_ourselves_is_skipped_and_media_share_a_socket() {
        let media = [
            Medium::Ucast {
                iface: "eth0".into(),
                peer: "192.0.2.11".parse().unwrap(),
                port: 694,
            },
            Medium::Ucast {
                iface: "eth0".into(),
                peer: "192.0.2.12".parse().unwrap(),
                port: 694,
            },
            Medium::Mcast {
                iface: "eth0".into(),
                group: Ipv4Addr::new(239, 0, 0, 1),
                port: 694,
                ttl: 1,
                r#loop: false,
            },
        ];
        let l = layout(&media, &[0, 0, 0], &eth0()).unwrap();
        assert_eq!(l.sockets.len(), 1);
        assert_eq!(l.groups[0], [(Ipv4Addr::new(239, 0, 0, 1), 1, false)]);
        assert_eq!(
            l.plans,
            [
                Plan::SkipSelf,
                Plan::Send {
                    socket: 0,
                    dest: "192.0.2.12:694".parse().unwrap()
                },
                Plan::Send {
                    socket: 0,
                    dest: "239.0.0.1:694".parse().unwrap()
                },
            ]
        );
    }

    #[test]
    fn missing_broadcast_is_an_error_not_a_panic() {
        let media = [Medium::Bcast {
            iface: "eth9".into(),
            port: 694,
        }];
        assert!(matches!(
            layout(&media, &[0], &eth0()),
            Err(TransportError::NoAddress(_))
        ));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn loopback_socket_sends_and_receives() {
        // "lo" exists everywhere; unicast to ourselves on a free port.
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let std_sock = match open_socket("lo", port, None, &[]) {
            Ok(s) => s,
            // SO_BINDTODEVICE needs CAP_NET_RAW before Linux 5.7.
            Err(TransportError::Socket {
                what: "SO_BINDTODEVICE",
                ..
            }) => {
                eprintln!("skipped: SO_BINDTODEVICE not permitted");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let sock = register(std_sock).unwrap();
        let t = Transport {
            sockets: vec![LinkSocket {
                link: 0,
                iface: "lo".into(),
                port,
                socket: sock,
            }],
            plans: vec![Plan::Send {
                socket: 0,
                dest: SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
            }],
            local_addrs: vec![Ipv4Addr::LOCALHOST],
            next: Cell::new(0),
        };
        let errors = t.send_all(b"hello");
        assert!(errors.is_empty(), "{errors:?}");
        let mut buf = [0u8; 64];
        let r = tokio::time::timeout(std::time::Duration::from_secs(5), t.recv(&mut buf))
            .await
            .expect("datagram within 5 s");
        assert_eq!(&buf[..r.len], b"hello");
        assert_eq!(r.link, 0);
        // Sent from our own address and port: our own packet.
        assert!(t.is_own(&r));
        let other = Received {
            from: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 12), port)),
            ..r
        };
        assert!(!t.is_own(&other));
    }
}
