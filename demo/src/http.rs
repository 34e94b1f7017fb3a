//! A stand-in service on the directors and the client that uses it.
//!
//! Server: `hademo serve-http`, run inside a director (so a power-off kills
//! it with everything else) or a real server, answers every GET with the
//! host name, and `/alive` with `alive` (ldirectord's negotiate check, as
//! `examples/demo/nginx-realserver.conf` does). On the wildcard address it
//! answers on the VIP on whichever director holds it; on 127.0.0.1 it is
//! ldirectord's fallback ("sorry") server.
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
/// An outcome not seen for this long is logged again.
const NEWS_AFTER: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
const IO_TIMEOUT: Duration = Duration::from_millis(500);

/// The path of a request head's first line (`GET /alive HTTP/1.1`).
fn path_of(head: &[u8]) -> &str {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    std::str::from_utf8(line)
        .ok()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
}

pub fn answer(mut conn: TcpStream, name: &str) -> std::io::Result<()> {
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
    let body = match path_of(&req) {
        "/alive" => "alive\n".to_owned(),
        _ => format!("{name}\n"),
    };
    write!(
        conn,
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// `hademo serve-http`: serve forever.
pub fn serve(bind: Ipv4Addr, port: u16) -> ExitCode {
    let name = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into());
    let listener = match TcpListener::bind(SocketAddr::V4(SocketAddrV4::new(bind, port))) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hademo serve-http: bind {bind}:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    for conn in listener.incoming() {
        match conn {
            Ok(c) => {
                if let Err(e) = answer(c, &name) {
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
    get_path(addr, "/")
}

/// One `GET <path>`; the body (trimmed) is the outcome's "node".
pub fn get_path(addr: SocketAddrV4, path: &str) -> Outcome {
    let run = || -> std::io::Result<Outcome> {
        let mut s = TcpStream::connect_timeout(&SocketAddr::V4(addr), CONNECT_TIMEOUT)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", addr.ip())?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp)?;
        let text = String::from_utf8_lossy(&resp);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return Ok(Outcome::Failed("malformed response".into()));
        };
        // nginx answers an HTTP/1.0 request with an HTTP/1.1 status line.
        let status = head.lines().next().unwrap_or("");
        if !(status.starts_with("HTTP/1.") && status.split_whitespace().nth(1) == Some("200")) {
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
    /// GET `addr` from namespace `netns` (`None`: this process's) every
    /// [`PERIOD`], logging every change of who answers on the timeline.
    pub fn start(netns: Option<&str>, addr: SocketAddrV4, tl: Arc<Timeline>) -> Result<Self> {
        let ns = match netns {
            Some(n) => {
                let path = format!("/run/netns/{n}");
                Some(File::open(&path).with_context(|| format!("open {path}"))?)
            }
            None => None,
        };
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, stop2) = (samples.clone(), stop.clone());
        // Fail here, not later in the thread, if the namespace cannot be joined.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("client".into())
            .spawn(move || {
                if let Some(ns) = &ns {
                    if let Err(e) = setns(ns, CloneFlags::CLONE_NEWNET) {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                }
                let _ = ready_tx.send(Ok(()));
                // Only news is logged: an outcome not seen in the last
                // second (so answers alternating between real servers, or
                // timeouts alternating with "unreachable", are shown once).
                let mut last_seen: Vec<(String, Duration)> = Vec::new();
                let mut next = Instant::now();
                while !stop2.load(Ordering::Relaxed) {
                    let at = tl.now();
                    let outcome = get(addr);
                    let key = match &outcome {
                        Outcome::Node(n) => n.clone(),
                        Outcome::Failed(e) => format!("failed: {e}"),
                    };
                    let news = last_seen
                        .iter()
                        .find(|(k, _)| *k == key)
                        .is_none_or(|(_, t)| at.saturating_sub(*t) > NEWS_AFTER);
                    if news {
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
                    last_seen.retain(|(k, _)| *k != key);
                    last_seen.push((key, at));
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

/// Wait until a GET of `addr` from `from`'s namespace is answered by the
/// server named `want` (what `answer` puts in its reply).
pub fn wait_answering(
    from: &ha_tests::netns::Host,
    addr: SocketAddrV4,
    want: &str,
    what: &str,
    timeout: Duration,
) -> Result<()> {
    ha_tests::wait_for(what, timeout, Duration::from_millis(50), || {
        let got = from
            .ns
            .run_in(move || get(addr))
            .map_err(|e| e.to_string())?;
        match got.node() {
            Some(n) if n == want => Ok(()),
            _ => Err(format!("{got:?}")),
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_name_and_alive() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = match l.local_addr().expect("addr") {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!("bound an IPv4 address"),
        };
        let server = std::thread::spawn(move || {
            for c in l.incoming().take(2) {
                answer(c.expect("accept"), "rs9").expect("answer");
            }
        });
        assert_eq!(get(addr), Outcome::Node("rs9".into()));
        assert_eq!(get_path(addr, "/alive"), Outcome::Node("alive".into()));
        server.join().expect("server");
        assert_eq!(path_of(b"GET /x HTTP/1.1\r\n"), "/x");
        assert_eq!(path_of(b"\xff"), "/");
    }
}
