//! The in-bench real-server farm: one listening socket per loopback
//! address (127.0.1.1 onwards, one port), all in one current-thread tokio
//! runtime. Each accepted connection is time-stamped (that is how check
//! rounds are seen from the server side, for any ldirectord), then: a
//! request head gets `HTTP/1.0 200` with `ldirectord-ok <addr>`; a connect
//! check, which closes without sending, gets nothing.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The `i`-th farm address (0-based) from 127.0.1.1.
pub fn addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 1, 1)) + i)
}

pub struct Farm {
    accepts: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

async fn serve(conn: tokio::net::TcpStream, body: Arc<[u8]>) {
    let mut conn = conn;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
            }
        }
        true
    };
    if tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap_or(false)
    {
        let _ = conn.write_all(&body).await;
    }
}

impl Farm {
    /// Listen on `count` addresses, port `port`; returns once all listen.
    pub fn start(count: u32, port: u16) -> Result<Farm> {
        let accepts = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
        let (acc, st) = (accepts.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("farm".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                rt.block_on(async move {
                    let mut listeners = Vec::new();
                    for i in 0..count {
                        let a = SocketAddr::V4(SocketAddrV4::new(addr(i), port));
                        match tokio::net::TcpListener::bind(a).await {
                            Ok(l) => listeners.push((a, l)),
                            Err(e) => {
                                let _ = ready_tx.send(Err(e).context(format!("bind {a}")));
                                return;
                            }
                        }
                    }
                    for (a, l) in listeners {
                        let body = format!("ldirectord-ok {}\n", a.ip());
                        let resp: Arc<[u8]> = format!(
                            "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                        .into_bytes()
                        .into();
                        let acc = acc.clone();
                        tokio::spawn(async move {
                            loop {
                                let Ok((c, _)) = l.accept().await else {
                                    continue;
                                };
                                acc.lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .push(Instant::now());
                                tokio::spawn(serve(c, resp.clone()));
                            }
                        });
                    }
                    let _ = ready_tx.send(Ok(()));
                    while !st.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                });
            })?;
        ready_rx.recv().context("farm thread died")??;
        Ok(Farm {
            accepts,
            stop,
            thread: Some(thread),
        })
    }

    /// Accept times so far.
    pub fn accepts(&self) -> Vec<Instant> {
        self.accepts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Check rounds among accept times: a gap longer than `gap` separates two
/// rounds; only rounds with at least 95 % of `n` checks count.
pub fn rounds(times: &[Instant], gap: Duration, n: usize) -> Vec<(Instant, Instant)> {
    let mut out = Vec::new();
    let mut sorted = times.to_vec();
    sorted.sort();
    let mut start: Option<(Instant, Instant, usize)> = None;
    let full = |k: usize| k * 100 >= n * 95;
    for t in sorted {
        start = match start {
            Some((s, last, k)) if t.duration_since(last) <= gap => Some((s, t, k + 1)),
            Some((s, last, k)) => {
                if full(k) {
                    out.push((s, last));
                }
                Some((t, t, 1))
            }
            None => Some((t, t, 1)),
        };
    }
    if let Some((s, last, k)) = start {
        if full(k) {
            out.push((s, last));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_split_on_gaps() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let times = [at(0), at(5), at(10), at(1000), at(1004), at(2000)];
        let r = rounds(&times, Duration::from_millis(500), 3);
        assert_eq!(r, vec![(at(0), at(10))]);
        let r = rounds(&times, Duration::from_millis(500), 2);
        assert_eq!(r, vec![(at(0), at(10)), (at(1000), at(1004))]);
        assert_eq!(addr(0), Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(addr(255), Ipv4Addr::new(127, 0, 2, 0));
    }

    #[test]
    fn farm_answers_and_counts() {
        let farm = Farm::start(2, 18080).expect("farm");
        let mut s = std::net::TcpStream::connect((addr(1), 18080)).expect("connect");
        std::io::Write::write_all(&mut s, b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
        let mut got = String::new();
        std::io::Read::read_to_string(&mut s, &mut got).expect("read");
        assert!(got.ends_with("ldirectord-ok 127.0.1.2\n"), "{got}");
        drop(std::net::TcpStream::connect((addr(0), 18080)).expect("connect only"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while farm.accepts().len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(farm.accepts().len(), 2);
    }
}
