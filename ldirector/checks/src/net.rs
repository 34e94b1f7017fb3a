//! Sockets for the checks: non-blocking connects, one stream type for plain
//! and TLS connections, bounded reads.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use ldirector::director::CheckProtocol;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UdpSocket};

/// The most any check reads from one connection; a real that streams more
/// than this is judged on what arrived (checks look at banners and small
/// pages, and an endless body must not eat memory).
pub const MAX_RESPONSE: usize = 4 << 20;

/// `connect` check: a TCP handshake (a socket in the listen backlog counts,
/// as for ldirectord). For UDP only a local `connect()`, which ldirectord's
/// `ld_open_socket` also treats as success.
pub async fn connect_only(target: SocketAddr, protocol: CheckProtocol) -> io::Result<()> {
    match protocol {
        CheckProtocol::Tcp => {
            let s = TcpStream::connect(target).await?;
            // Close with RST: an orderly close would leave a TIME_WAIT
            // socket per check for a minute (600k at 10k checks/s, past
            // the kernel's bucket limit). Health checkers like haproxy do
            // the same.
            let _ = s.set_zero_linger();
            Ok(())
        }
        CheckProtocol::Udp => udp_connect(target).await.map(drop),
    }
}

pub async fn udp_connect(target: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = UdpSocket::bind(local).await?;
    s.connect(target).await?;
    Ok(s)
}

pub async fn tcp(target: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect(target).await?;
    // Small request/response dialogs: don't let Nagle hold a request back.
    let _ = s.set_nodelay(true);
    // No TIME_WAIT on our side when we close first (see `connect_only`);
    // what we sent has left by the time the verdict is in.
    let _ = s.set_zero_linger();
    Ok(s)
}

/// A host as written in a URL (`[v6]`, an IP, or a name) to an address.
/// Names only come from redirects; they go through the system resolver on
/// tokio's blocking pool so this thread never waits on DNS.
pub async fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    tokio::net::lookup_host((h, port))
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{h}: no address")))
}

/// A plain or TLS connection.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Plain(s) => s.local_addr(),
            Stream::Tls(s) => s.get_ref().0.local_addr(),
        }
    }

    /// Read once into `buf` (growing it), `Ok(0)` at end of stream or when
    /// [`MAX_RESPONSE`] is reached.
    pub async fn read_more(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        if buf.len() >= MAX_RESPONSE {
            return Ok(0);
        }
        // Read straight into `buf`, growing it with what it holds (1 KiB to
        // start): thousands of checks wait for their reply at once, and most
        // replies are a few hundred bytes.
        let start = buf.len();
        let room = start.clamp(1024, 64 * 1024).min(MAX_RESPONSE - start);
        buf.resize(start + room, 0);
        let r = self.read(buf.get_mut(start..).unwrap_or_default()).await;
        let n = *r.as_ref().unwrap_or(&0);
        buf.truncate(start + n);
        r
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A server on 127.0.0.1 that hands its first connection to `serve`, and a
/// plain client stream connected to it (for the parsers' unit tests).
#[cfg(test)]
pub(crate) async fn serve_one<F, Fut>(serve: F) -> (Stream, tokio::task::JoinHandle<()>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        serve(s).await;
    });
    (Stream::Plain(tcp(addr).await.unwrap()), server)
}
