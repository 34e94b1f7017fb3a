//! Raw heartbeat datagrams from the outside: capture what the nodes
//! broadcast, inject replayed or forged packets, and re-sign captured
//! messages with hb-wire.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use hb_wire::{AuthKeys, Message};

use crate::netns::Netns;

/// One received datagram.
#[derive(Clone, Debug)]
pub struct Captured {
    pub at: Instant,
    pub from: SocketAddr,
    pub bytes: Vec<u8>,
}

/// Background receiver of every datagram to a UDP port in one namespace
/// (the client's, which sees all broadcasts on the LAN). Stops on drop.
#[derive(Debug)]
pub struct Capture {
    stop: Arc<AtomicBool>,
    packets: Arc<Mutex<Vec<Captured>>>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    pub fn start(ns: &Netns, port: u16) -> Result<Self> {
        let sock = ns.udp_socket(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::UNSPECIFIED,
            port,
        )))?;
        // Bounded wait so the thread notices `stop`.
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let packets = Arc::new(Mutex::new(Vec::new()));
        let (s, p) = (stop.clone(), packets.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !s.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let c = Captured {
                        at: Instant::now(),
                        from,
                        bytes: buf.get(..n).unwrap_or_default().to_vec(),
                    };
                    if let Ok(mut v) = p.lock() {
                        v.push(c);
                    }
                }
            }
        });
        Ok(Self {
            stop,
            packets,
            thread: Some(thread),
        })
    }

    /// Everything received so far, oldest first.
    pub fn packets(&self) -> Vec<Captured> {
        self.packets.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Datagrams sent from `ip`.
    pub fn from_ip(&self, ip: Ipv4Addr) -> Vec<Captured> {
        self.packets()
            .into_iter()
            .filter(|c| c.from.ip() == ip)
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A socket in some namespace for sending hand-made datagrams.
#[derive(Debug)]
pub struct Injector {
    sock: UdpSocket,
}

impl Injector {
    pub fn new(ns: &Netns) -> Result<Self> {
        let sock = ns.udp_socket(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)))?;
        Ok(Self { sock })
    }

    pub fn send(&self, bytes: &[u8], to: SocketAddr) -> Result<()> {
        let n = self.sock.send_to(bytes, to)?;
        if n != bytes.len() {
            return Err(anyhow!("short send: {n} of {} bytes", bytes.len()));
        }
        Ok(())
    }
}

/// Verify and parse one datagram.
pub fn decode(bytes: &[u8], keys: &AuthKeys) -> Result<Message> {
    hb_wire::decode(bytes, keys)
        .map(|(m, _)| m)
        .map_err(|e| anyhow!("hb-wire rejected datagram: {e}"))
}

/// The captured datagrams that verify under `keys` and come from node
/// `src`, with their messages, oldest first.
pub fn messages_from(packets: &[Captured], src: &str, keys: &AuthKeys) -> Vec<(Captured, Message)> {
    packets
        .iter()
        .filter_map(|c| decode(&c.bytes, keys).ok().map(|m| (c.clone(), m)))
        .filter(|(_, m)| m.get_str("src") == Some(src))
        .collect()
}

/// `msg` with some string fields replaced (in place, keeping field order)
/// and signed afresh under `keys`: a "correctly signed" forgery.
pub fn reforge(msg: &Message, changes: &[(&str, String)], keys: &AuthKeys) -> Result<Vec<u8>> {
    let mut m = msg.clone();
    for (k, v) in changes {
        m.set_str(k, v);
    }
    hb_wire::encode(&m, keys).map_err(|e| anyhow!("hb-wire cannot encode: {e}"))
}

/// Seconds since the epoch, hex, as heartbeat writes `ts`.
pub fn hex_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{secs:x}")
}
