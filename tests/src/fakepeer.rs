//! A stand-in heartbeat node built on hb-wire: it broadcasts signed
//! `t=status` messages exactly as heartbeat lays them out (§3.1 of the
//! reference). Used to validate the harness and the codec against the real
//! daemon; never to stand in for our daemon.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use hb_wire::{AuthKeys, Message};

use crate::netns::{broadcast, Netns};
use crate::udp::hex_now;

/// Who the fake claims to be.
#[derive(Clone, Debug)]
pub struct FakeIdentity {
    pub name: String,
    pub uuid: [u8; 16],
    pub generation: u64,
    /// Advertised as `dt` (the receiver uses it as our dead time).
    pub deadtime: Duration,
}

impl FakeIdentity {
    pub fn new(name: &str, generation: u64, deadtime: Duration) -> Self {
        let mut uuid = [0u8; 16];
        for (i, b) in name
            .bytes()
            .chain(std::iter::repeat(0x5a))
            .take(16)
            .enumerate()
        {
            if let Some(u) = uuid.get_mut(i) {
                *u = b ^ 0xa5;
            }
        }
        Self {
            name: name.to_owned(),
            uuid,
            generation,
            deadtime,
        }
    }

    /// The creator's fields of a status message; the control fields
    /// (`src` … `ttl`) follow when it is sent, and the codec adds `auth`.
    pub fn status_body(&self, st: &str) -> Message {
        let mut m = Message::with_type("status");
        m.add_str("st", st)
            .add_str("dt", format!("{:x}", self.deadtime.as_millis()))
            .add_str("protocol", "1");
        m
    }
}

/// Broadcasts `status active` every keepalive from a namespace, and
/// answers `reqnodes` addressed to it with `repnodes` (a real node waits for
/// that answer before it declares its communication up), until dropped.
#[derive(Debug)]
pub struct FakePeer {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

struct Peer {
    id: FakeIdentity,
    keys: AuthKeys,
    sock: UdpSocket,
    to: SocketAddr,
    seq: u64,
    nodelist: String,
}

impl Peer {
    fn send(&mut self, mut m: Message) -> bool {
        // Control fields go last, in heartbeat's order.
        for name in ["src", "srcuuid", "seq", "hg", "ts", "ld", "ttl"] {
            m.remove(name);
        }
        m.add_str("src", &self.id.name)
            .add_binary("srcuuid", self.id.uuid)
            .add_str("seq", format!("{:x}", self.seq))
            .add_str("hg", format!("{:x}", self.id.generation))
            .add_str("ts", hex_now())
            .add_str("ld", "0.00 0.00 0.00 1/100 100")
            .add_str("ttl", "3");
        self.seq += 1;
        match hb_wire::encode(&m, &self.keys) {
            Ok(bytes) => self.sock.send_to(&bytes, self.to).is_ok(),
            Err(_) => false,
        }
    }

    fn handle(&mut self, datagram: &[u8]) {
        let Ok((m, _)) = hb_wire::decode(datagram, &self.keys) else {
            return;
        };
        if m.msg_type() != Some("reqnodes") || m.get_str("dest") != Some(self.id.name.as_str()) {
            return;
        }
        let Some(from) = m.get_str("src") else {
            return;
        };
        let mut r = Message::new();
        r.add_str("dest", from).add_str("t", "repnodes");
        r.add_str("nodelist", &self.nodelist)
            .add_str("delnodelist", " ");
        if let Some(uuid) = m.get_binary("srcuuid") {
            r.add_binary("destuuid", uuid);
        }
        self.send(r);
    }
}

impl FakePeer {
    /// `nodes`: the cluster's node names, for `repnodes`.
    pub fn start(
        ns: &Netns,
        id: FakeIdentity,
        nodes: &[&str],
        keys: AuthKeys,
        keepalive: Duration,
        port: u16,
    ) -> Result<Self> {
        let sock = ns.udp_socket(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::UNSPECIFIED,
            port,
        )))?;
        let mut peer = Peer {
            id,
            keys,
            sock,
            to: broadcast(port),
            seq: 1,
            nodelist: nodes.iter().map(|n| format!("{n} ")).collect(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), sent.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            let mut next = Instant::now();
            while !s.load(Ordering::Relaxed) {
                let now = Instant::now();
                if now >= next {
                    let status = peer.id.status_body("active");
                    if peer.send(status) {
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                    next = now + keepalive;
                }
                // Receive until the next keepalive is due (bounded so that
                // `stop` is noticed).
                let wait = next
                    .saturating_duration_since(Instant::now())
                    .clamp(Duration::from_millis(1), Duration::from_millis(100));
                let _ = peer.sock.set_read_timeout(Some(wait));
                if let Ok((len, _)) = peer.sock.recv_from(&mut buf) {
                    if let Some(d) = buf.get(..len) {
                        peer.handle(d);
                    }
                }
            }
        });
        Ok(Self {
            stop,
            sent,
            thread: Some(thread),
        })
    }

    /// Status packets sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Stop sending (the fake "dies") and return how many packets it sent.
    pub fn stop(mut self) -> u64 {
        self.halt();
        self.sent()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.halt();
    }
}
