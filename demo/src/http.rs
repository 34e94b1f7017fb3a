//! A stand-in service on the directors and the client that uses it.
//!
//! Server: `hademo serve-http`, run inside a director (so a power-off kills
//! it with everything else), answers every GET with the node's hostname.
//! It binds the wildcard address, so it answers on the VIP on whichever
//! node holds it.
//!
//! Client: a thread in the client namespace that GETs `http://VIP/` every
//! [`PERIOD`] and records who answered.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sched::{setns, CloneFlags};

use crate::timeline::Timeline;

pub const PORT: u16 = 80;
/// Request period of the client.
pub const PERIOD: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
const IO_TIMEOUT: Duration = Duration::from_millis(500);

fn answer(mut conn: TcpStream, body: &str) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut req = Vec::new();
    let mut buf = [0u8; 512];
    // Read the request head (bounded); its contents do not matter.
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 4096 {
        match conn.read(&mut buf)? {
            0 => break,
            n => req.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
    write!(
        conn,
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// `hademo serve-http`: serve forever.
pub fn serve(port: u16) -> ExitCode {
    let name = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into());
    let body = format!("{name}\n");
    let listener = match TcpListener::bind(SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::UNSPECIFIED,
        port,
    ))) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hademo serve-http: bind port {port}: {e}");
            return ExitCode::from(1);
        }
    };
    for conn in listener.incoming() {
        match conn {
            Ok(c) => {
                if let Err(e) = answer(c, &body) {
                    eprintln!("hademo serve-http: {e}");
                }
            }
            Err(e) => eprintln!("hademo serve-http: accept: {e}"),
        }
    }
    ExitCode::SUCCESS
}

/// What one request got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The body: the name of the node that answered.
    Node(String),
    Failed(String),
}

impl Outcome {
    pub fn node(&self) -> Option<&str> {
        match self {
            Outcome::Node(n) => Some(n),
            Outcome::Failed(_) => None,
        }
    }
}

fn kind(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "timeout".into(),
        std::io::ErrorKind::ConnectionRefused => "refused".into(),
        _ => match e.raw_os_error() {
            Some(libc::EHOSTUNREACH) => "host unreachable".into(),
            _ => e.to_string(),
        },
    }
}

/// One `GET /`; must be called from a thread inside the client namespace.
pub fn get(addr: SocketAddrV4) -> Outcome {
    let run = || -> std::io::Result<Outcome> {
        let mut s = TcpStream::connect_timeout(&SocketAddr::V4(addr), CONNECT_TIMEOUT)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        write!(s, "GET / HTTP/1.0\r\nHost: {}\r\n\r\n", addr.ip())?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp)?;
        let text = String::from_utf8_lossy(&resp);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return Ok(Outcome::Failed("malformed response".into()));
        };
        if !head.starts_with("HTTP/1.0 200") {
            return Ok(Outcome::Failed(
                head.lines().next().unwrap_or("").to_owned(),
            ));
        }
        Ok(Outcome::Node(body.trim().to_owned()))
    };
    run().unwrap_or_else(|e| Outcome::Failed(kind(&e)))
}

#[derive(Clone, Debug)]
pub struct Sample {
    pub at: Duration,
    pub outcome: Outcome,
}

/// The client's request loop; stops on drop.
#[derive(Debug)]
pub struct ClientLoop {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl ClientLoop {
    /// GET `addr` from namespace `netns` every [`PERIOD`], logging every
    /// change of who answers on the timeline.
    pub fn start(netns: &str, addr: SocketAddrV4, tl: Arc<Timeline>) -> Result<Self> {
        let path = format!("/run/netns/{netns}");
        let ns = File::open(&path).with_context(|| format!("open {path}"))?;
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, stop2) = (samples.clone(), stop.clone());
        // Fail here, not later in the thread, if the namespace cannot be joined.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("client".into())
            .spawn(move || {
                if let Err(e) = setns(&ns, CloneFlags::CLONE_NEWNET) {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
                let _ = ready_tx.send(Ok(()));
                let mut last: Option<Outcome> = None;
                let mut next = Instant::now();
                while !stop2.load(Ordering::Relaxed) {
                    let at = tl.now();
                    let outcome = get(addr);
                    // Only a change of who answers is news; timeouts and
                    // "host unreachable" alternate while nobody has the VIP.
                    if last.as_ref().map(Outcome::node) != Some(outcome.node()) {
                        let what = match &outcome {
                            Outcome::Node(n) => {
                                format!("GET http://{}/ answered by {n}", addr.ip())
                            }
                            Outcome::Failed(e) => {
                                format!("GET http://{}/ gets no answer ({e})", addr.ip())
                            }
                        };
                        tl.log_at(at, "client", what);
                    }
                    last = Some(outcome.clone());
                    s2.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(Sample { at, outcome });
                    next += PERIOD;
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else {
                        next = now;
                    }
                }
            })?;
        ready_rx
            .recv()
            .context("client thread died")?
            .context("join the client namespace")?;
        Ok(Self {
            samples,
            stop,
            handle: Some(handle),
        })
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// First request at or after `after` that `node` answered.
    pub fn first_answer_from(&self, node: &str, after: Duration) -> Option<Duration> {
        self.samples()
            .into_iter()
            .find(|s| s.at >= after && s.outcome.node() == Some(node))
            .map(|s| s.at)
    }

    /// Last answered request before `before`.
    pub fn last_answer_before(&self, before: Duration) -> Option<Sample> {
        self.samples()
            .into_iter()
            .rev()
            .find(|s| s.at < before && s.outcome.node().is_some())
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for ClientLoop {
    fn drop(&mut self) {
        self.stop();
    }
}
