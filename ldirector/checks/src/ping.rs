//! `ping`: ICMP echo, up on any reply within `checktimeout`, up to
//! `attempts` tries (Net::Ping "icmp" with 64 data bytes, as ldirectord).
//!
//! One socket per address family serves every check: a reader task
//! demultiplexes replies by (source address, sequence number) to the waiting
//! checks, so ten thousand reals cost two file descriptors, not ten
//! thousand. A raw socket is used when allowed (root / CAP_NET_RAW), else an
//! unprivileged ping socket (`net.ipv4.ping_group_range`).

use std::collections::HashMap;
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::{oneshot, OnceCell};
use tokio::task::JoinHandle;

use crate::CheckResult;

const PAYLOAD: usize = 64;
const RECV_BUFFER: usize = 8 << 20;
const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

type Waiters = Mutex<HashMap<(IpAddr, u16), oneshot::Sender<()>>>;

struct Icmp {
    sock: AsyncFd<Socket>,
    v6: bool,
    /// Raw sockets see every echo reply on the host; ping sockets only
    /// their own (the kernel sets and filters the identifier).
    raw: bool,
    id: u16,
    next_seq: AtomicU16,
    waiters: Waiters,
}

type Shared = OnceCell<Result<Arc<Icmp>, String>>;

pub struct Pinger {
    v4: Shared,
    v6: Shared,
    readers: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Pinger {
    fn drop(&mut self) {
        let readers = self
            .readers
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for r in readers.drain(..) {
            r.abort();
        }
    }
}

impl Pinger {
    pub fn new() -> Pinger {
        Pinger {
            v4: OnceCell::new(),
            v6: OnceCell::new(),
            readers: Mutex::new(Vec::new()),
        }
    }

    pub async fn check(&self, addr: IpAddr, attempts: u32, timeout: Duration) -> CheckResult {
        let icmp = match self.socket(addr.is_ipv6()).await {
            Ok(i) => i,
            Err(e) => return CheckResult::down(format!("no ICMP socket: {e}")),
        };
        let attempts = attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            match icmp.echo(addr, timeout).await {
                Ok(true) => return CheckResult::up(),
                Ok(false) => last = format!("no echo reply within {timeout:?}"),
                Err(e) => {
                    last = format!("ping {addr}: {e}");
                    // An immediate error (unreachable) would otherwise burn
                    // all attempts at once; ldirectord's attempts each wait.
                    tokio::time::sleep(timeout).await;
                }
            }
            tracing::trace!(target: "ld_checks", %addr, attempt, attempts, "ping attempt failed");
        }
        CheckResult::down(format!("{last} ({attempts} attempts)"))
    }

    async fn socket(&self, v6: bool) -> Result<Arc<Icmp>, String> {
        let cell = if v6 { &self.v6 } else { &self.v4 };
        cell.get_or_init(|| async {
            let icmp = Arc::new(Icmp::open(v6).map_err(|e| e.to_string())?);
            let reader = tokio::spawn(read_replies(icmp.clone()));
            self.readers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(reader);
            Ok(icmp)
        })
        .await
        .clone()
    }
}

impl Icmp {
    fn open(v6: bool) -> io::Result<Icmp> {
        let (domain, proto) = if v6 {
            (Domain::IPV6, Protocol::ICMPV6)
        } else {
            (Domain::IPV4, Protocol::ICMPV4)
        };
        let (sock, raw) = match Socket::new(domain, Type::RAW, Some(proto)) {
            Ok(s) => (s, true),
            Err(raw_err) => match Socket::new(domain, Type::DGRAM, Some(proto)) {
                Ok(s) => (s, false),
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("raw ICMP socket: {raw_err}; ping socket: {e}"),
                    ))
                }
            },
        };
        sock.set_nonblocking(true)?;
        if raw && !only_echo_replies(&sock, v6) {
            tracing::debug!(target: "ld_checks", "no ICMP type filter; the reader sorts all ICMP");
        }
        // Replies to thousands of checks arrive in bursts; a default-sized
        // buffer drops them (a raw socket also queues our own requests on
        // loopback). Root may exceed rmem_max.
        if sock.set_recv_buffer_size(RECV_BUFFER).is_err() || !force_rcvbuf(&sock) {
            tracing::debug!(target: "ld_checks", "ICMP receive buffer left at the system limit");
        }
        let mut id = [0u8; 2];
        getrandom::getrandom(&mut id).map_err(|e| io::Error::other(e.to_string()))?;
        // SAFETY: the socket owns its descriptor and is neither closed nor
        // replaced while registered (it lives inside the AsyncFd).
        let sock = unsafe { AsyncFd::register(sock)? };
        Ok(Icmp {
            sock,
            v6,
            raw,
            id: u16::from_be_bytes(id),
            next_seq: AtomicU16::new(0),
            waiters: Mutex::new(HashMap::new()),
        })
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<(IpAddr, u16), oneshot::Sender<()>>> {
        self.waiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One echo request; `Ok(true)` when its reply came within `timeout`.
    async fn echo(self: &Arc<Self>, addr: IpAddr, timeout: Duration) -> io::Result<bool> {
        let (tx, rx) = oneshot::channel();
        let seq = {
            let mut w = self.waiters();
            if w.len() >= usize::from(u16::MAX) {
                return Err(io::Error::other("too many pings in flight"));
            }
            loop {
                let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
                if let std::collections::hash_map::Entry::Vacant(e) = w.entry((addr, seq)) {
                    e.insert(tx);
                    break seq;
                }
            }
        };
        // Forget the waiter however this ends (reply, timeout, drop).
        struct Unregister<'a>(&'a Icmp, IpAddr, u16);
        impl Drop for Unregister<'_> {
            fn drop(&mut self) {
                self.0.waiters().remove(&(self.1, self.2));
            }
        }
        let _unregister = Unregister(self, addr, seq);
        let packet = echo_request(self.v6, self.id, seq);
        let dest = SockAddr::from(SocketAddr::new(addr, 0));
        loop {
            let mut ready = self.sock.writable().await?;
            match ready.try_io(|s| s.get_ref().send_to(&packet, &dest)) {
                Ok(r) => {
                    r?;
                    break;
                }
                Err(_would_block) => continue,
            }
        }
        Ok(matches!(
            tokio::time::timeout(timeout, rx).await,
            Ok(Ok(()))
        ))
    }

    /// The sequence number of an echo reply meant for us.
    fn parse_reply(&self, packet: &[u8]) -> Option<u16> {
        parse_echo_reply(packet, self.raw, self.v6, self.id)
    }
}

/// The sequence number of `packet` if it is an echo reply for identifier
/// `id` (checked only on raw sockets: ping sockets filter by it already).
/// Raw IPv4 sockets deliver the IP header too.
pub(crate) fn parse_echo_reply(packet: &[u8], raw: bool, v6: bool, id: u16) -> Option<u16> {
    let icmp = if raw && !v6 {
        let ihl = usize::from(packet.first()? & 0x0f) * 4;
        packet.get(ihl..)?
    } else {
        packet
    };
    let reply = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if *icmp.first()? != reply {
        return None;
    }
    let reply_id = u16::from_be_bytes([*icmp.get(4)?, *icmp.get(5)?]);
    let seq = u16::from_be_bytes([*icmp.get(6)?, *icmp.get(7)?]);
    (!raw || reply_id == id).then_some(seq)
}

async fn read_replies(icmp: Arc<Icmp>) {
    let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
    loop {
        let mut ready = match icmp.sock.readable().await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(target: "ld_checks", error = %e, "ICMP socket failed; ping checks will time out");
                return;
            }
        };
        let got = ready.try_io(|s| s.get_ref().recv_from(&mut buf));
        let (n, from) = match got {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                // ICMP errors queued on the socket etc.: not fatal.
                tracing::trace!(target: "ld_checks", error = %e, "ICMP receive error");
                continue;
            }
            Err(_would_block) => continue,
        };
        let n = n.min(buf.len());
        // SAFETY: recv_from initialised the first `n` bytes.
        let packet: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
        let Some(src) = from.as_socket().map(|s| s.ip()) else {
            continue;
        };
        if let Some(seq) = icmp.parse_reply(packet) {
            if let Some(tx) = icmp.waiters().remove(&(src, seq)) {
                let _ = tx.send(());
            }
        }
    }
}

/// A raw socket gets a copy of every ICMP packet the host receives; let
/// the kernel drop all but echo replies (ICMP_FILTER / ICMP6_FILTER, where
/// a set bit blocks that type).
fn only_echo_replies(sock: &Socket, v6: bool) -> bool {
    use std::os::fd::AsRawFd;
    const ICMP_FILTER: libc::c_int = 1;
    const ICMP6_FILTER: libc::c_int = 1;
    let (level, name, filter): (libc::c_int, libc::c_int, Vec<u32>) = if v6 {
        let mut f = vec![u32::MAX; 8];
        let t = usize::from(ECHO_REPLY_V6);
        if let Some(word) = f.get_mut(t / 32) {
            *word &= !(1u32 << (t % 32));
        }
        (libc::IPPROTO_ICMPV6, ICMP6_FILTER, f)
    } else {
        (libc::SOL_RAW, ICMP_FILTER, vec![!(1u32 << ECHO_REPLY_V4)])
    };
    // SAFETY: setsockopt reads `filter` for the given length only.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            filter.as_ptr().cast(),
            (filter.len() * std::mem::size_of::<u32>()) as libc::socklen_t,
        ) == 0
    }
}

/// SO_RCVBUFFORCE (CAP_NET_ADMIN): past `net.core.rmem_max`.
fn force_rcvbuf(sock: &Socket) -> bool {
    use std::os::fd::AsRawFd;
    let size = libc::c_int::try_from(RECV_BUFFER).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt reads `size` for the given length only.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}

fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + PAYLOAD);
    p.push(if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend((0..PAYLOAD).map(|i| (i % 256) as u8));
    if !v6 {
        // The kernel computes ICMPv6 checksums (pseudo-header); ICMPv4's is ours.
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_sockets_take_the_echo_reply_filter() {
        for (v6, domain, proto) in [
            (false, Domain::IPV4, Protocol::ICMPV4),
            (true, Domain::IPV6, Protocol::ICMPV6),
        ] {
            let Ok(s) = Socket::new(domain, Type::RAW, Some(proto)) else {
                if std::env::var("HA_E2E_REQUIRED").as_deref() == Ok("1") {
                    panic!("no raw ICMP socket");
                }
                eprintln!("SKIP: no raw ICMP socket (not root)");
                return;
            };
            assert!(only_echo_replies(&s, v6), "filter rejected (v6={v6})");
        }
    }

    #[test]
    fn echo_replies_are_read_from_any_bytes_without_panicking() {
        let icmp = [ECHO_REPLY_V4, 0, 0, 0, 0x12, 0x34, 0, 9];
        let mut ip = vec![0x45; 1];
        ip.resize(20, 0);
        ip.extend_from_slice(&icmp);
        assert_eq!(parse_echo_reply(&ip, true, false, 0x1234), Some(9));
        assert_eq!(parse_echo_reply(&ip, true, false, 0x4321), None);
        assert_eq!(parse_echo_reply(&icmp, false, false, 0), Some(9));
        // A header length past the packet, truncated and empty packets.
        assert_eq!(parse_echo_reply(&[0x4f; 30], true, false, 0), None);
        assert_eq!(parse_echo_reply(&icmp[..7], false, false, 0), None);
        assert_eq!(parse_echo_reply(&[], true, true, 0), None);
    }

    #[test]
    fn echo_request_checksum_verifies() {
        let p = echo_request(false, 0x1234, 7);
        assert_eq!(p.len(), 8 + PAYLOAD);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to 0");
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
    }
}
