//! The control socket (`ldirectord.<cfg>.sock` next to the pid file) and
//! the optional Prometheus HTTP listener. Both only forward a [`Query`] to
//! the daemon loop, which owns the director and the backend, and write the
//! answer back. One request per connection: a line in, text out.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::Path;
use std::time::Duration;

use ldirector::backend::listing::ListFormat;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, oneshot};

/// Longest request line / HTTP head we read.
const MAX_REQUEST: usize = 8192;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    /// `ipvsadm -Ln` shaped listing.
    Listing(ListFormat),
    /// `ipvsadm -Lcn` shaped connection listing.
    Connections,
    /// [`crate::report::StatusReport`] as JSON.
    Json,
    /// Prometheus text.
    Metrics,
    /// Re-read the configuration (what SIGHUP does); answers `ok` or the
    /// problems.
    Reload,
}

impl Query {
    pub fn word(self) -> &'static str {
        match self {
            Query::Listing(ListFormat::Plain) => "list",
            Query::Listing(ListFormat::Stats) => "list stats",
            Query::Listing(ListFormat::Rate) => "list rate",
            Query::Connections => "list conns",
            Query::Json => "json",
            Query::Metrics => "metrics",
            Query::Reload => "reload",
        }
    }

    pub fn parse(s: &str) -> Option<Query> {
        Some(match s.trim() {
            "list" => Query::Listing(ListFormat::Plain),
            "list stats" => Query::Listing(ListFormat::Stats),
            "list rate" => Query::Listing(ListFormat::Rate),
            "list conns" => Query::Connections,
            "json" => Query::Json,
            "metrics" => Query::Metrics,
            "reload" => Query::Reload,
            _ => return None,
        })
    }
}

pub struct Request {
    pub query: Query,
    pub reply: oneshot::Sender<String>,
}

async fn ask(tx: &mpsc::Sender<Request>, query: Query) -> Option<String> {
    let (reply, rx) = oneshot::channel();
    tx.send(Request { query, reply }).await.ok()?;
    rx.await.ok()
}

pub async fn serve_socket(listener: UnixListener, tx: mpsc::Sender<Request>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let (rd, mut wr) = stream.into_split();
            let mut line = String::new();
            let mut rd = BufReader::new(rd.take(MAX_REQUEST as u64));
            let read = tokio::time::timeout(IO_TIMEOUT, rd.read_line(&mut line)).await;
            if !matches!(read, Ok(Ok(_))) {
                return;
            }
            let answer = match Query::parse(&line) {
                Some(q) => ask(&tx, q)
                    .await
                    .unwrap_or_else(|| "error: stopping\n".into()),
                None => format!("error: unknown request {:?}\n", line.trim()),
            };
            let _ = tokio::time::timeout(IO_TIMEOUT, wr.write_all(answer.as_bytes())).await;
            let _ = wr.shutdown().await;
        });
    }
}

/// A minimal HTTP/1.x server: `GET /metrics` (or `/`) answers the
/// Prometheus text, anything else 404.
pub async fn serve_metrics(listener: TcpListener, tx: mpsc::Sender<Request>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            let got_head = tokio::time::timeout(IO_TIMEOUT, async {
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
                    }
                }
                true
            })
            .await;
            if got_head != Ok(true) {
                return;
            }
            let first = String::from_utf8_lossy(&head);
            let target = first.split_whitespace().nth(1).unwrap_or("");
            let path = target.split('?').next().unwrap_or("");
            let (status, body) = if first.starts_with("GET ") && (path == "/metrics" || path == "/")
            {
                match ask(&tx, Query::Metrics).await {
                    Some(b) => ("200 OK", b),
                    None => ("503 Service Unavailable", "stopping\n".into()),
                }
            } else {
                ("404 Not Found", "not found\n".into())
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tokio::time::timeout(IO_TIMEOUT, stream.write_all(resp.as_bytes())).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// Longest answer the client reads: a JSON report of 10,000 reals is a few
/// MiB; anything past this is not the daemon talking sense.
pub const MAX_ANSWER: u64 = 64 << 20;

/// Client side, for the CLI (no runtime needed).
pub fn query(socket: &Path, q: Query) -> std::io::Result<String> {
    let s = StdUnixStream::connect(socket)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    (&s).write_all(format!("{}\n", q.word()).as_bytes())?;
    read_answer(s, socket, MAX_ANSWER)
}

fn read_answer(r: impl std::io::Read, socket: &Path, max: u64) -> std::io::Result<String> {
    let mut buf = Vec::new();
    r.take(max.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "answer on control socket {} is larger than {max} bytes, not read",
                socket.display()
            ),
        ));
    }
    String::from_utf8(buf).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("answer on control socket {} is not UTF-8", socket.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_words_round_trip() {
        for q in [
            Query::Listing(ListFormat::Plain),
            Query::Listing(ListFormat::Stats),
            Query::Listing(ListFormat::Rate),
            Query::Connections,
            Query::Json,
            Query::Metrics,
            Query::Reload,
        ] {
            assert_eq!(Query::parse(q.word()), Some(q));
        }
        assert_eq!(Query::parse("rm -rf"), None);
    }

    #[test]
    fn an_oversized_answer_is_refused_by_name() {
        let sock = Path::new("/run/ldirectord.x.sock");
        let ok = read_answer(&b"ok\n"[..], sock, 3).expect("fits");
        assert_eq!(ok, "ok\n");
        let e = read_answer(&b"ok\n!"[..], sock, 3).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(
            e.to_string(),
            "answer on control socket /run/ldirectord.x.sock is larger than 3 bytes, not read"
        );
    }
}
