//! Ping media (`ping`, `ping6`, `ping_group`) and the built-in ipfail.
//!
//! Every keepalive each ping address gets an ICMP echo request whose data
//! is a signed `t=NS_st st=ping info=ping src=<address> ts=<hex>` message,
//! as heartbeat's ping plugin sends it. The echo reply carries it back; a
//! reply counts only if the payload still verifies with our keys, names the
//! address that answered and is fresh, so a stray or forged reply cannot
//! keep a ping node alive. The membership core turns replies into up/dead
//! ([`hb_membership::ping`]).
//!
//! [`PingSide`] is everything the event loop needs: it registers the ping
//! nodes with the core, sends and receives the echoes, and runs
//! [`hb_resources::ipfail`] when ha.cf respawns ipfail, showing it the
//! events and messages it cares about. Whether a dead peer may be taken
//! over while no ping node answers is the resource manager's decision
//! (`Config::isolation_ping_nodes`, see [`PingSide::isolation_ping_nodes`]);
//! every event goes to it unfiltered.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hb_config::{AutoFailback, PingNode};
use hb_membership::{Event, Membership, NodeView, PingSpec};
use hb_resources::ipfail::{EventContext, IpFail, IpFailConfig, Output};
use hb_wire::{AuthKeys, Message};
use nix::sys::socket::{recvfrom, SockaddrLike, SockaddrStorage};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::ratelimit::RateLimit;

const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;
/// Largest ICMP packet we read (heartbeat's payloads are ~200 bytes).
const MAX_ICMP: usize = 4096;
/// Clock skew and delay allowed on a reply's `ts` beyond deadping.
const TS_SLACK: u64 = 2;

/// Raw ICMP sockets for the ping targets.
pub struct PingMedia {
    v4: Option<AsyncFd<Socket>>,
    v6: Option<AsyncFd<Socket>>,
    ident: u16,
    seq: u16,
}

fn raw_socket(v6: bool) -> io::Result<AsyncFd<Socket>> {
    let (domain, proto) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    let s = Socket::new(domain, Type::RAW, Some(proto))?;
    s.set_nonblocking(true)?;
    s.set_cloexec(true)?;
    // SAFETY: the `Socket` owns its descriptor, which stays open and the
    // same until the `AsyncFd` (which owns the socket) is dropped; we never
    // swap the socket through `get_mut`. Read interest only: sends never
    // wait (a full buffer drops the echo, as a lost packet would).
    unsafe { AsyncFd::register_with_interest(s, Interest::READABLE) }.map_err(io::Error::from)
}

/// RFC 1071 checksum (ICMPv4; the kernel fills it in for ICMPv6).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let hi = u32::from(pair.first().copied().unwrap_or(0));
        let lo = u32::from(pair.get(1).copied().unwrap_or(0));
        sum = sum.wrapping_add((hi << 8) | lo);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request with `payload` as data.
pub fn echo_request(v6: bool, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let kind = if v6 {
        ICMP6_ECHO_REQUEST
    } else {
        ICMP_ECHO_REQUEST
    };
    let mut p = Vec::with_capacity(8 + payload.len());
    p.extend_from_slice(&[kind, 0, 0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    if !v6 {
        let c = checksum(&p).to_be_bytes();
        p[2] = c[0];
        p[3] = c[1];
    }
    p
}

/// The data of an echo reply to `ident`, or `None` for any other packet.
/// IPv4 raw sockets hand us the IP header too; IPv6 ones do not.
pub fn echo_reply_payload(v6: bool, packet: &[u8], ident: u16) -> Option<&[u8]> {
    let icmp = if v6 {
        packet
    } else {
        let ihl = usize::from(packet.first()? & 0x0f) * 4;
        packet.get(ihl..)?
    };
    let want = if v6 {
        ICMP6_ECHO_REPLY
    } else {
        ICMP_ECHO_REPLY
    };
    if *icmp.first()? != want || *icmp.get(1)? != 0 {
        return None;
    }
    let id = u16::from_be_bytes([*icmp.get(4)?, *icmp.get(5)?]);
    (id == ident).then(|| icmp.get(8..)).flatten()
}

impl PingMedia {
    /// Sockets for the address families in `targets` (raw ICMP: root).
    pub fn open(targets: &[IpAddr]) -> io::Result<PingMedia> {
        let v4 = targets
            .iter()
            .any(IpAddr::is_ipv4)
            .then(|| raw_socket(false))
            .transpose()?;
        let v6 = targets
            .iter()
            .any(IpAddr::is_ipv6)
            .then(|| raw_socket(true))
            .transpose()?;
        Ok(PingMedia {
            v4,
            v6,
            // heartbeat's ping plugin identifies its echoes by pid.
            ident: (std::process::id() & 0xffff) as u16,
            seq: 0,
        })
    }

    pub fn send(&mut self, target: IpAddr, payload: &[u8]) -> io::Result<()> {
        let v6 = target.is_ipv6();
        let sock = if v6 { &self.v6 } else { &self.v4 };
        let Some(sock) = sock else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "no socket for this address family",
            ));
        };
        let pkt = echo_request(v6, self.ident, self.seq, payload);
        self.seq = self.seq.wrapping_add(1);
        sock.get_ref()
            .send_to(&pkt, &SockAddr::from(SocketAddr::new(target, 0)))?;
        Ok(())
    }

    /// The next echo reply to us: (who answered, its data).
    pub async fn recv(&self) -> io::Result<(IpAddr, Vec<u8>)> {
        tokio::select! {
            r = recv_reply(self.v4.as_ref(), false, self.ident) => r,
            r = recv_reply(self.v6.as_ref(), true, self.ident) => r,
        }
    }
}

async fn recv_reply(
    fd: Option<&AsyncFd<Socket>>,
    v6: bool,
    ident: u16,
) -> io::Result<(IpAddr, Vec<u8>)> {
    let Some(fd) = fd else {
        return std::future::pending().await;
    };
    let mut buf = vec![0u8; MAX_ICMP];
    loop {
        let mut guard = fd.readable().await?;
        let got = guard.try_io(|s| {
            recvfrom::<SockaddrStorage>(s.get_ref().as_raw_fd(), &mut buf).map_err(io::Error::from)
        });
        let Ok(got) = got else { continue };
        let (n, from) = got?;
        let from = from.and_then(|a| match a.family() {
            Some(nix::sys::socket::AddressFamily::Inet) => {
                a.as_sockaddr_in().map(|s| IpAddr::V4(s.ip()))
            }
            Some(nix::sys::socket::AddressFamily::Inet6) => {
                a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip()))
            }
            _ => None,
        });
        let (Some(from), Some(data)) = (from, buf.get(..n)) else {
            continue;
        };
        if let Some(payload) = echo_reply_payload(v6, data, ident) {
            return Ok((from, payload.to_vec()));
        }
    }
}

fn wall_clock_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// heartbeat's ping status message for `target`, unsigned.
pub fn ns_st(target: &IpAddr, ts: u64) -> Message {
    let mut m = Message::with_type("NS_st");
    m.add_str("st", "ping")
        .add_str("info", "ping")
        .add_str("src", target.to_string())
        .add_str("ts", format!("{ts:x}"));
    m
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("bad or unsigned payload: {0}")]
    Decode(String),
    #[error("not an NS_st ping message")]
    NotPing,
    #[error("payload names {named}, reply came from {from}")]
    WrongSource { named: String, from: IpAddr },
    #[error("stale payload (ts {ts:x}, now {now:x})")]
    Stale { ts: u64, now: u64 },
}

/// Is this reply's data our authentic, fresh `NS_st` for `from`?
pub fn check_reply(
    from: IpAddr,
    payload: &[u8],
    keys: &AuthKeys,
    now_wall: u64,
    max_age: Duration,
) -> Result<(), ReplyError> {
    let (msg, _) = hb_wire::decode(payload, keys).map_err(|e| ReplyError::Decode(e.to_string()))?;
    if msg.msg_type() != Some("NS_st") {
        return Err(ReplyError::NotPing);
    }
    let named = msg.get_str("src").unwrap_or_default();
    if named.parse::<IpAddr>().ok() != Some(from) {
        return Err(ReplyError::WrongSource {
            named: named.to_owned(),
            from,
        });
    }
    let ts = msg.get_hex("ts").unwrap_or(0);
    let limit = max_age.as_secs().saturating_add(TS_SLACK);
    if ts.abs_diff(now_wall) > limit {
        return Err(ReplyError::Stale { ts, now: now_wall });
    }
    Ok(())
}

/// The ping nodes of ha.cf as the core's specs, their link names starting
/// at link id `first_link`, and every address to ping.
pub fn specs(
    nodes: &[PingNode],
    deadping: Duration,
    first_link: usize,
) -> (Vec<PingSpec>, Vec<IpAddr>) {
    let mut specs = Vec::new();
    let mut targets: Vec<IpAddr> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let (name, addrs) = match n {
            PingNode::Single(a) => (a.to_string(), vec![*a]),
            PingNode::Group { name, addrs } => (name.clone(), addrs.clone()),
        };
        for a in &addrs {
            if !targets.contains(a) {
                targets.push(*a);
            }
        }
        specs.push(PingSpec {
            name,
            members: addrs.iter().map(IpAddr::to_string).collect(),
            medium: first_link + i,
            deadping,
        });
    }
    (specs, targets)
}

/// ipfail's settings from ha.cf, or why it cannot run (heartbeat's ipfail
/// exits 100 in the same cases, and is then not respawned).
pub fn ipfail_config(loaded: &hb_config::Loaded) -> Result<IpFailConfig, String> {
    let cf = &loaded.hacf;
    let auto_failback = match cf.auto_failback {
        AutoFailback::On => true,
        AutoFailback::Off => false,
        AutoFailback::Legacy => {
            return Err("auto_failback set to incompatible legacy option.".into())
        }
    };
    let peers: Vec<&String> = cf
        .nodes
        .iter()
        .filter(|n| !n.eq_ignore_ascii_case(&loaded.local_node))
        .collect();
    let [peer] = peers.as_slice() else {
        return Err(format!(
            "ipfail needs exactly one other node, ha.cf has {}.",
            peers.len()
        ));
    };
    if loaded.haresources.groups.is_empty() {
        return Err("No managed resources".into());
    }
    Ok(IpFailConfig {
        local: loaded.local_node.to_ascii_lowercase(),
        peer: peer.to_ascii_lowercase(),
        auto_failback,
        keepalive: cf.keepalive,
    })
}

/// The ping side of ha.cf: the membership core with the ping nodes (their
/// link names appended to `links`), ipfail built in if a `respawn` line
/// runs it, and the other `respawn`/`failfast` clients to start at
/// Comm_now_up.
pub fn setup(
    loaded: &hb_config::Loaded,
    config: hb_membership::Config,
    tuning: hb_membership::Tuning,
    links: &mut Vec<String>,
    now: Instant,
) -> (Membership, PingSide, Vec<crate::respawn::ClientSpec>) {
    let (clients, ipfail_wanted) = crate::respawn::clients(&loaded.hacf);
    let ipfail = if ipfail_wanted {
        match ipfail_config(loaded) {
            Ok(c) => {
                tracing::info!(source = "ipfail", peer = %c.peer,
                    "ipfail runs built in: comparing ping node counts with {}.", c.peer);
                Some(c)
            }
            Err(e) => {
                tracing::error!(source = "ipfail", "{e}");
                None
            }
        }
    } else {
        None
    };
    let cf = &loaded.hacf;
    let first_link = links.len();
    let (specs, targets) = specs(&cf.ping_nodes, cf.deadping, first_link);
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    links.extend(names.iter().cloned());
    let core = Membership::with_ping_nodes(config, tuning, specs, now);
    let side = PingSide::new(cf, first_link, targets, names, ipfail, now);
    (core, side, clients)
}

/// The core's node views (cluster nodes, then ping nodes) in heartbeat's
/// node-table order: ha.cf order, a ping node where its line was
/// (`positions`: how many cluster nodes came before each).
pub fn in_hacf_order(views: Vec<NodeView>, positions: &[usize]) -> Vec<NodeView> {
    let (ping, normal): (Vec<NodeView>, Vec<NodeView>) = views.into_iter().partition(|v| v.ping);
    let mut out = Vec::with_capacity(normal.len() + ping.len());
    let mut ping = ping
        .into_iter()
        .zip(
            positions
                .iter()
                .copied()
                .chain(std::iter::repeat(usize::MAX)),
        )
        .peekable();
    for (i, n) in normal.into_iter().enumerate() {
        while let Some((p, _)) = ping.next_if(|(_, pos)| *pos <= i) {
            out.push(p);
        }
        out.push(n);
    }
    out.extend(ping.map(|(p, _)| p));
    out
}

/// An ipfail log line, tagged with ipfail as its source.
pub fn log_ipfail(level: hb_resources::Level, text: &str) {
    match level {
        hb_resources::Level::Debug => tracing::debug!(source = "ipfail", "{text}"),
        hb_resources::Level::Info => tracing::info!(source = "ipfail", "{text}"),
        hb_resources::Level::Warn => tracing::warn!(source = "ipfail", "{text}"),
        hb_resources::Level::Error | hb_resources::Level::Crit => {
            tracing::error!(source = "ipfail", "{text}")
        }
    }
}

pub struct PingSide {
    /// Link ids from here on are ping nodes' links.
    first_link: usize,
    media: Option<PingMedia>,
    targets: Vec<IpAddr>,
    /// The ping nodes' names as membership reports them.
    names: Vec<String>,
    keepalive: Duration,
    deadping: Duration,
    next_send: Option<Instant>,
    ipfail: Option<IpFail>,
    send_noise: RateLimit,
    reply_noise: RateLimit,
}

impl PingSide {
    /// Open the ICMP sockets for `targets`; link ids from `first_link` on
    /// are the ping nodes'.
    pub fn new(
        cf: &hb_config::HaCf,
        first_link: usize,
        targets: Vec<IpAddr>,
        names: Vec<String>,
        ipfail: Option<IpFailConfig>,
        now: Instant,
    ) -> PingSide {
        let media = if targets.is_empty() {
            None
        } else {
            match PingMedia::open(&targets) {
                Ok(m) => {
                    tracing::info!("glib: ping heartbeat started.");
                    Some(m)
                }
                Err(e) => {
                    tracing::error!(error = %e, "Cannot open ICMP socket for ping nodes: {e}");
                    None
                }
            }
        };
        PingSide {
            first_link,
            media,
            targets,
            names,
            keepalive: cf.keepalive,
            deadping: cf.deadping,
            next_send: Some(now),
            ipfail: ipfail.map(IpFail::new),
            send_noise: RateLimit::new(Duration::from_secs(10)),
            reply_noise: RateLimit::new(Duration::from_secs(10)),
        }
    }

    /// The first link id that belongs to a ping node (= the number of our
    /// own links).
    pub fn first_link(&self) -> usize {
        self.first_link
    }

    pub fn ipfail_enabled(&self) -> bool {
        self.ipfail.is_some()
    }

    /// The resource manager's `Config::isolation_ping_nodes`: every ping
    /// node when ipfail runs built in (a node that sees none of them does
    /// not take over from a dead peer), none otherwise (heartbeat's rule).
    pub fn isolation_ping_nodes(&self) -> Vec<String> {
        if self.ipfail.is_some() {
            self.names.clone()
        } else {
            Vec::new()
        }
    }

    /// `cl_status clientstatus <node> ipfail` while ipfail runs built in:
    /// online here; on the peer, once its ipfail signed on. `None` for
    /// other clients or nodes.
    pub fn ipfail_client_status(&self, node: &str, client: &str, local: &str) -> Option<bool> {
        let f = self.ipfail.as_ref()?;
        if client != "ipfail" {
            return None;
        }
        if node.eq_ignore_ascii_case(local) {
            Some(true)
        } else if node.eq_ignore_ascii_case(&f.config().peer) {
            Some(f.peer_online())
        } else {
            None
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let send = self.media.as_ref().and(self.next_send);
        let giveup = self.ipfail.as_ref().and_then(IpFail::poll_timeout);
        send.into_iter().chain(giveup).min()
    }

    /// Send the due echoes; fire ipfail's delayed give-up.
    pub fn timeout(&mut self, now: Instant, keys: &AuthKeys, stable: bool) {
        if let Some(f) = self.ipfail.as_mut() {
            f.handle_timeout(now, stable);
        }
        let Some(media) = self.media.as_mut() else {
            return;
        };
        if self.next_send.is_some_and(|t| now < t) {
            return;
        }
        let ts = wall_clock_secs();
        for t in &self.targets {
            let r = hb_wire::encode(&ns_st(t, ts), keys)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
                .and_then(|payload| media.send(*t, &payload));
            if let Err(e) = r {
                if let Some(n) = self.send_noise.allow(now) {
                    tracing::error!(target_addr = %t, error = %e, suppressed = n, "Error sending packet to ping node {t}: {e}");
                }
            }
        }
        // Keep the phase however late we are; one round per call.
        let every = self.keepalive.max(Duration::from_millis(1));
        let mut next = self.next_send.unwrap_or(now);
        while next <= now {
            let Some(t) = next.checked_add(every) else {
                self.next_send = None;
                return;
            };
            next = t;
        }
        self.next_send = Some(next);
    }

    /// The next echo reply (never resolves without ping nodes).
    pub async fn recv(&self) -> io::Result<(IpAddr, Vec<u8>)> {
        match &self.media {
            Some(m) => m.recv().await,
            None => std::future::pending().await,
        }
    }

    /// An echo reply arrived: verify it and tell the core.
    pub fn reply(
        &mut self,
        now: Instant,
        from: IpAddr,
        payload: &[u8],
        keys: &AuthKeys,
        core: &mut Membership,
    ) {
        match check_reply(from, payload, keys, wall_clock_secs(), self.deadping) {
            Ok(()) => {
                if let Err(reject) = core.handle_ping_reply(now, &from.to_string()) {
                    tracing::debug!(from = %from, reason = %reject, "ping reply dropped: {reject}");
                }
            }
            Err(e) => {
                if let Some(n) = self.reply_noise.allow(now) {
                    tracing::warn!(from = %from, error = %e, suppressed = n, "Ignoring echo reply from {from}: {e}");
                }
            }
        }
    }

    /// Heartbeat is active: ipfail signs on.
    pub fn comm_up(&mut self) {
        if let Some(f) = self.ipfail.as_mut() {
            f.start();
        }
    }

    /// Let ipfail see `ev`.
    pub fn event(
        &mut self,
        now: Instant,
        ev: &Event,
        core: &Membership,
        links: &[String],
        stable: bool,
    ) {
        if let Some(f) = self.ipfail.as_mut() {
            let is_ping = |n: &str| core.is_ping_node(n);
            let cx = EventContext {
                ping_up: core.ping_nodes_up(),
                is_ping: &is_ping,
                links,
                stable,
            };
            f.handle_event(now, ev, &cx);
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.ipfail.as_mut()?.poll_output()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hb_membership::NodeStatus;
    use hb_wire::AuthMethod;
    use std::net::Ipv4Addr;

    fn keys() -> AuthKeys {
        AuthKeys::single(
            2,
            AuthMethod::Sha1 {
                key: b"HI!".to_vec(),
            },
        )
    }

    const PN: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));

    #[test]
    fn ns_st_matches_heartbeats_payload() {
        // exp-ping_ipfail/capture.pcap, first echo request (sha1 "HI!").
        let bytes = hb_wire::encode(&ns_st(&PN, 0x6b03_b24f), &keys()).unwrap();
        let want = b"###\n10:(0)t=NS_st,10:(0)st=ping,12:(0)info=ping,18:(0)src=192.0.2.100,14:(0)ts=6b03b24f,50:(0)auth=2 648e0c8ec938079f31a9c7aa1f22c634aaff38c4,%%%\n42:2 59d8d87bbba82ce7c23444a4c7c1282e3a422e66,";
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            String::from_utf8_lossy(want)
        );
    }

    #[test]
    fn reply_must_be_signed_fresh_and_from_the_named_address() {
        let now = 0x6b03_b24f;
        let payload = hb_wire::encode(&ns_st(&PN, now), &keys()).unwrap();
        let dp = Duration::from_secs(3);
        assert_eq!(check_reply(PN, &payload, &keys(), now + 1, dp), Ok(()));
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99));
        assert!(matches!(
            check_reply(other, &payload, &keys(), now, dp),
            Err(ReplyError::WrongSource { .. })
        ));
        assert!(matches!(
            check_reply(PN, &payload, &keys(), now + 60, dp),
            Err(ReplyError::Stale { .. })
        ));
        let wrong = AuthKeys::single(
            2,
            AuthMethod::Sha1 {
                key: b"nope".to_vec(),
            },
        );
        assert!(matches!(
            check_reply(PN, &payload, &wrong, now, dp),
            Err(ReplyError::Decode(_))
        ));
        let mut m = ns_st(&PN, now);
        m.set_str("t", "status");
        let p = hb_wire::encode(&m, &keys()).unwrap();
        assert_eq!(
            check_reply(PN, &p, &keys(), now, dp),
            Err(ReplyError::NotPing)
        );
        assert!(check_reply(PN, b"garbage", &keys(), now, dp).is_err());
    }

    #[test]
    fn echo_round_trip_and_filtering() {
        let req = echo_request(false, 0x8300, 7, b"hello");
        assert_eq!(req[0], ICMP_ECHO_REQUEST);
        // A valid checksum sums to zero.
        assert_eq!(checksum(&req), 0);
        // Turn it into a reply behind a 20-byte IPv4 header.
        let mut reply = vec![0x45u8];
        reply.extend_from_slice(&[0; 19]);
        let mut icmp = req.clone();
        icmp[0] = ICMP_ECHO_REPLY;
        reply.extend_from_slice(&icmp);
        assert_eq!(
            echo_reply_payload(false, &reply, 0x8300),
            Some(&b"hello"[..])
        );
        // Someone else's echo, a request, a truncated packet: ignored.
        assert_eq!(echo_reply_payload(false, &reply, 0x8301), None);
        let mut as_request = reply.clone();
        as_request[20] = ICMP_ECHO_REQUEST;
        assert_eq!(echo_reply_payload(false, &as_request, 0x8300), None);
        assert_eq!(echo_reply_payload(false, &reply[..23], 0x8300), None);
        assert_eq!(echo_reply_payload(false, &[], 0x8300), None);
        // ICMPv6: no IP header.
        let mut v6 = echo_request(true, 1, 1, b"x");
        v6[0] = ICMP6_ECHO_REPLY;
        assert_eq!(echo_reply_payload(true, &v6, 1), Some(&b"x"[..]));
    }

    #[test]
    fn node_table_follows_hacf_order() {
        let v = |name: &str, ping: bool| NodeView {
            name: name.into(),
            status: NodeStatus::Up,
            ping,
            links: Vec::new(),
        };
        let names = |vs: Vec<NodeView>| vs.into_iter().map(|v| v.name).collect::<Vec<_>>();
        let core = || {
            vec![
                v("node1", false),
                v("node2", false),
                v("p1", true),
                v("p2", true),
            ]
        };
        // ping before the node lines (cl_status, reversed: node2 node1 p…).
        assert_eq!(
            names(in_hacf_order(core(), &[0, 0])),
            ["p1", "p2", "node1", "node2"]
        );
        assert_eq!(
            names(in_hacf_order(core(), &[1, 2])),
            ["node1", "p1", "node2", "p2"]
        );
        assert_eq!(
            names(in_hacf_order(core(), &[])),
            ["node1", "node2", "p1", "p2"]
        );
    }

    #[test]
    fn specs_name_groups_and_dedup_targets() {
        let a = PN;
        let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 101));
        let nodes = vec![
            PingNode::Single(a),
            PingNode::Group {
                name: "routers".into(),
                addrs: vec![a, b],
            },
        ];
        let (s, t) = specs(&nodes, Duration::from_secs(3), 2);
        assert_eq!(s[0].name, "192.0.2.100");
        assert_eq!(s[0].medium, 2);
        assert_eq!(s[1].name, "routers");
        assert_eq!(s[1].members, ["192.0.2.100", "192.0.2.101"]);
        assert_eq!(s[1].medium, 3);
        assert_eq!(t, [a, b]);
    }

    /// Real raw sockets on loopback: the kernel answers our echoes, for
    /// IPv4 and IPv6, and the payload comes back intact. Needs root (raw
    /// sockets); skipped otherwise unless HA_E2E_REQUIRED is set.
    #[tokio::test]
    async fn loopback_echo_round_trip_v4_and_v6() {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
        for target in [v4, v6] {
            let mut media = match PingMedia::open(&[target]) {
                Ok(m) => m,
                Err(e)
                    if (e.kind() == io::ErrorKind::PermissionDenied
                        && std::env::var_os("HA_E2E_REQUIRED").is_none())
                        || (target.is_ipv6() && e.raw_os_error() == Some(libc::EAFNOSUPPORT)) =>
                {
                    eprintln!("SKIP loopback echo to {target}: {e} (raw sockets need root)");
                    continue;
                }
                Err(e) => panic!("cannot open raw ICMP socket for {target}: {e}"),
            };
            let payload = hb_wire::encode(&ns_st(&target, wall_clock_secs()), &keys()).unwrap();
            media.send(target, &payload).unwrap();
            let (from, got) = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    let (from, got) = media.recv().await.unwrap();
                    if from == target {
                        return (from, got);
                    }
                }
            })
            .await
            .expect("no echo reply on loopback");
            assert_eq!(got, payload);
            check_reply(
                from,
                &got,
                &keys(),
                wall_clock_secs(),
                Duration::from_secs(3),
            )
            .unwrap();
        }
    }
}
