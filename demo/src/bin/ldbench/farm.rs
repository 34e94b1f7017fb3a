//! The in-bench real-server farm: one listening socket per loopback
//! address (127.0.1.1 onwards, one port), all in one current-thread tokio
//! runtime. Each accepted connection is time-stamped with the index of the
//! address it came to (that is how check rounds and each real's check
//! interval are seen from the server side, for any ldirectord), then: a
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

/// An accepted connection: the farm address index and when.
pub type Accept = (u32, Instant);

pub struct Farm {
    accepts: Arc<Mutex<Vec<Accept>>>,
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
                    for (i, (a, l)) in (0u32..).zip(listeners) {
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
                                    .push((i, Instant::now()));
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

    /// Accepts so far, with the address index.
    pub fn accepts_by_real(&self) -> Vec<Accept> {
        self.accepts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many distinct addresses have been connected to.
    pub fn reals_seen(&self) -> usize {
        let acc = self.accepts.lock().unwrap_or_else(|e| e.into_inner());
        acc.iter()
            .map(|(i, _)| *i)
            .collect::<std::collections::HashSet<_>>()
            .len()
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
/// rounds; only rounds with at least 95 % of `n` checks count, and none
/// with more than 1.5 × `n` (that is rounds running into each other, e.g.
/// 10,000 reals checked every second: one gap-free stretch is no round).
pub fn rounds(times: &[Instant], gap: Duration, n: usize) -> Vec<(Instant, Instant)> {
    let mut out = Vec::new();
    let mut sorted = times.to_vec();
    sorted.sort();
    let mut start: Option<(Instant, Instant, usize)> = None;
    let full = |k: usize| k * 100 >= n * 95 && k * 2 <= n * 3;
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

/// Per-real check intervals: the time between two consecutive accepts on
/// the same address, for every accept in `from..=to` (the previous one may
/// be earlier, so intervals longer than the window count), and how many
/// addresses had one. Unlike [`rounds`] this needs no quiet gap between
/// rounds, so it works when rounds run into each other.
pub fn intervals(accepts: &[Accept], from: Instant, to: Instant) -> (Vec<Duration>, usize) {
    let mut by: std::collections::HashMap<u32, Vec<Instant>> = std::collections::HashMap::new();
    for (i, t) in accepts {
        by.entry(*i).or_default().push(*t);
    }
    let mut out = Vec::new();
    let mut reals = 0;
    for times in by.values_mut() {
        times.sort();
        let before = out.len();
        out.extend(times.windows(2).filter_map(|w| match w {
            [a, b] if *b >= from && *b <= to => Some(b.duration_since(*a)),
            _ => None,
        }));
        if out.len() > before {
            reals += 1;
        }
    }
    (out, reals)
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
        // With one real, a stretch of 2 or 3 checks is rounds run together.
        let r = rounds(&times, Duration::from_millis(500), 1);
        assert_eq!(r, vec![(at(2000), at(2000))]);
        assert_eq!(addr(0), Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(addr(255), Ipv4Addr::new(127, 0, 2, 0));
    }

    #[test]
    fn intervals_are_per_real_and_ignore_interleaving() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Two reals checked in overlapping, gap-free rounds; a third once.
        let acc = [
            (0, at(0)),
            (1, at(400)),
            (0, at(1000)),
            (2, at(500)),
            (1, at(1500)),
            (0, at(2100)),
        ];
        let (mut iv, reals) = intervals(&acc, at(0), at(3000));
        iv.sort();
        let ms: Vec<u128> = iv.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![1000, 1100, 1100]);
        assert_eq!(reals, 2);
        // A 1.2 s window still sees the 1.1 s intervals that end in it.
        let (iv, reals) = intervals(&acc, at(1400), at(2600));
        let ms: Vec<u128> = iv.iter().map(|d| d.as_millis()).collect();
        assert_eq!((ms, reals), (vec![1100, 1100], 2));
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
        while farm.accepts_by_real().len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(farm.accepts_by_real().len(), 2);
    }
}
