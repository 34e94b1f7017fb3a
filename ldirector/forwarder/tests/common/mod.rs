//! Loopback fixtures: tiny real servers that say who they are, service and
//! destination commands, polling with a deadline.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ld_forwarder::{Forwarder, Options, Timeouts};
use ldirector::backend::{Backend, Snapshot};
use ldirector::config::{Forwarding, Protocol, Scheduler, VirtualAddr};
use ldirector::ipvs::{DestParams, IpvsCommand, ServiceParams};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// A VIP of this test binary's own: 127.77.<n>.1 (all of 127/8 is local).
pub fn vip(n: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([127, 77, n, 1], port))
}

pub fn tcp(addr: SocketAddr) -> VirtualAddr {
    VirtualAddr::Inet {
        protocol: Protocol::Tcp,
        addr,
    }
}

pub fn udp(addr: SocketAddr) -> VirtualAddr {
    VirtualAddr::Inet {
        protocol: Protocol::Udp,
        addr,
    }
}

pub fn add_service(key: VirtualAddr, scheduler: Scheduler) -> IpvsCommand {
    IpvsCommand::AddService {
        key,
        params: ServiceParams::new(scheduler),
    }
}

pub fn dest(weight: u32) -> DestParams {
    DestParams {
        forward: Forwarding::Masq,
        weight,
        upper_threshold: 0,
        lower_threshold: 0,
    }
}

pub fn add_dest(key: VirtualAddr, addr: SocketAddr, weight: u32) -> IpvsCommand {
    IpvsCommand::AddDest {
        key,
        dest: addr,
        params: dest(weight),
    }
}

/// Connections end without TIME_WAIT/CLOSE lingering, so counts drop to 0.
pub fn forwarder() -> Forwarder {
    Forwarder::with_options(
        tokio::runtime::Handle::current(),
        Options {
            timeouts: Timeouts {
                tcp_time_wait: Duration::ZERO,
                tcp_close: Duration::ZERO,
                udp: Duration::from_millis(300),
                ..Timeouts::default()
            },
            ..Options::default()
        },
    )
}

/// A TCP real server: greets every connection with "<id>\n", then echoes
/// until the client's FIN, then closes.
pub async fn tcp_real(bind: SocketAddr, id: &'static str) -> (SocketAddr, JoinHandle<()>) {
    let l = TcpListener::bind(bind).await.expect("bind real server");
    let addr = l.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                if s.write_all(format!("{id}\n").as_bytes()).await.is_err() {
                    return;
                }
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    (addr, task)
}

/// A UDP real server answering "<id>:<datagram>".
pub async fn udp_real(bind: SocketAddr, id: &'static str) -> (SocketAddr, JoinHandle<()>) {
    let s = UdpSocket::bind(bind).await.expect("bind udp real");
    let addr = s.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let mut out = format!("{id}:").into_bytes();
            out.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&out, from).await;
        }
    });
    (addr, task)
}

/// A connection through the forwarder, with the real server's greeting read.
pub struct Client {
    pub id: String,
    pub r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    pub w: tokio::net::tcp::OwnedWriteHalf,
}

pub async fn connect(addr: SocketAddr) -> std::io::Result<Client> {
    let s = TcpStream::connect(addr).await?;
    let (r, w) = s.into_split();
    let mut r = BufReader::new(r);
    let mut id = String::new();
    tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut id))
        .await
        .map_err(|_| std::io::Error::other("no greeting"))??;
    if id.is_empty() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Client {
        id: id.trim_end().to_string(),
        r,
        w,
    })
}

impl Client {
    /// Send `data`, half-close, read the echo up to the server's FIN.
    pub async fn echo_and_close(mut self, data: &[u8]) -> Vec<u8> {
        self.w.write_all(data).await.expect("write");
        self.w.shutdown().await.expect("shutdown");
        let mut back = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), self.r.read_to_end(&mut back))
            .await
            .expect("echo in time")
            .expect("read echo");
        back
    }
}

/// Wait until `f` holds on a fresh snapshot (10 s at most).
pub async fn until(fwd: &mut Forwarder, what: &str, f: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = fwd.snapshot().expect("snapshot");
        if f(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// (active, inactive) of destination `addr` of the first service.
pub fn conns(s: &Snapshot, addr: SocketAddr) -> Option<(u32, u32)> {
    s.services
        .first()?
        .dests
        .iter()
        .find(|d| d.addr == addr)
        .map(|d| (d.active_conns, d.inactive_conns))
}
