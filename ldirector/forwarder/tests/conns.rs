//! The connection listing (`ipvsadm -Lc`) of the userspace forwarder: live
//! TCP connections with their IPVS states, UDP flows, persistence
//! templates, and their ageing out.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use ld_forwarder::{Forwarder, Options, Timeouts};
use ldirector::backend::listing::render_connections;
use ldirector::backend::{Backend, ConnEntry, ConnProtocol, ConnState};
use ldirector::config::Scheduler;
use ldirector::ipvs::{IpvsCommand, ServiceParams};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const LO: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

/// Short lingering so entries age out within a test.
fn forwarder() -> Forwarder {
    Forwarder::with_options(
        tokio::runtime::Handle::current(),
        Options {
            timeouts: Timeouts {
                tcp_time_wait: Duration::from_millis(300),
                tcp_close: Duration::from_millis(300),
                udp: Duration::from_millis(300),
                ..Timeouts::default()
            },
            ..Options::default()
        },
    )
}

/// Wait until the listing satisfies `f` (10 s at most).
async fn until_conns(
    fwd: &mut Forwarder,
    what: &str,
    f: impl Fn(&[ConnEntry]) -> bool,
) -> Vec<ConnEntry> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = fwd.connections().expect("connections");
        if f(&c) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {c:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count(c: &[ConnEntry], state: ConnState) -> usize {
    c.iter().filter(|e| e.state == state).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_list_established_then_time_wait_then_age_out() {
    let (a, _ta) = tcp_real(LO.into(), "A").await;
    let (b, _tb) = tcp_real(LO.into(), "B").await;
    let v = vip(40, 18040);
    let mut fwd = forwarder();
    fwd.apply(&[
        add_service(tcp(v), Scheduler::Rr),
        add_dest(tcp(v), a, 1),
        add_dest(tcp(v), b, 1),
    ])
    .unwrap();
    let mut clients = Vec::new();
    let mut locals = Vec::new();
    for _ in 0..6 {
        let c = connect(v).await.unwrap();
        locals.push(c.w.local_addr().unwrap());
        clients.push(c);
    }
    let listed = until_conns(&mut fwd, "6 ESTABLISHED", |c| {
        count(c, ConnState::Established) == 6
    })
    .await;
    assert_eq!(listed.len(), 6);
    for e in &listed {
        assert_eq!(e.protocol, ConnProtocol::Tcp);
        assert_eq!(e.virtual_addr, v);
        assert!(locals.contains(&e.client), "{e:?}");
        assert!([a, b].contains(&e.destination), "{e:?}");
        assert!(e.expires > Duration::from_secs(890) && e.expires <= Duration::from_secs(900));
    }
    let to_a = listed.iter().filter(|e| e.destination == a).count();
    assert_eq!(to_a, 3, "rr splits evenly");
    let text = render_connections(&listed, true);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("IPVS connection entries"));
    assert_eq!(
        lines.next(),
        Some("pro expire state       source             virtual            destination")
    );
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("TCP 1") && first.contains(" ESTABLISHED "),
        "{first}"
    );

    for c in clients {
        c.echo_and_close(b"bye").await;
    }
    until_conns(&mut fwd, "6 TIME_WAIT", |c| {
        c.len() == 6 && count(c, ConnState::TimeWait) == 6
    })
    .await;
    // TIME_WAIT is 300 ms here; the timer runs every second.
    until_conns(&mut fwd, "entries aged out", |c| c.is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_closed_connection_is_fin_wait() {
    // A real server that accepts and then only holds its connections.
    let l = TcpListener::bind(SocketAddr::from(LO)).await.unwrap();
    let real = l.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let v = vip(41, 18041);
    let mut fwd = forwarder();
    fwd.apply(&[
        add_service(tcp(v), Scheduler::Rr),
        add_dest(tcp(v), real, 1),
    ])
    .unwrap();
    let mut c = TcpStream::connect(v).await.unwrap();
    until_conns(&mut fwd, "ESTABLISHED", |c| {
        count(c, ConnState::Established) == 1
    })
    .await;
    c.shutdown().await.unwrap();
    let listed = until_conns(&mut fwd, "FIN_WAIT", |c| count(c, ConnState::FinWait) == 1).await;
    assert!(listed[0].expires <= Duration::from_secs(120));
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_flows_and_persistence_templates() {
    let (r, _tr) = udp_real(LO.into(), "U").await;
    let v = vip(42, 18042);
    let mut fwd = forwarder();
    fwd.apply(&[
        IpvsCommand::AddService {
            key: udp(v),
            params: ServiceParams {
                persistent: Some(1),
                ..ServiceParams::new(Scheduler::Rr)
            },
        },
        add_dest(udp(v), r, 1),
    ])
    .unwrap();
    let sock = UdpSocket::bind(SocketAddr::from(LO)).await.unwrap();
    sock.send_to(b"hi", v).await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
        .await
        .expect("reply in time")
        .unwrap();
    assert_eq!(&buf[..n], b"U:hi");
    let listed = fwd.connections().unwrap();
    let flow = listed
        .iter()
        .find(|e| e.state == ConnState::Udp)
        .expect("the flow");
    assert_eq!(flow.client, sock.local_addr().unwrap());
    assert_eq!((flow.virtual_addr, flow.destination), (v, r));
    assert_eq!(flow.protocol, ConnProtocol::Udp);
    let template = listed
        .iter()
        .find(|e| e.state == ConnState::None)
        .expect("the template");
    assert_eq!(template.client, SocketAddr::from(([127, 0, 0, 1], 0)));
    assert_eq!((template.virtual_addr, template.destination), (v, r));
    assert!(template.expires <= Duration::from_secs(1));
    assert_eq!(listed.len(), 2, "{listed:#?}");
    // The flow idles out (300 ms), then the template expires.
    until_conns(&mut fwd, "flow gone", |c| count(c, ConnState::Udp) == 0).await;
    until_conns(&mut fwd, "template gone", |c| c.is_empty()).await;
}

/// As in IPVS, data on an ESTABLISHED connection pushes its entry's expiry
/// back to the full timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_pushes_an_established_entry_back() {
    let (a, _ta) = tcp_real(LO.into(), "A").await;
    let v = vip(43, 18043);
    let mut fwd = forwarder();
    fwd.apply(&[add_service(tcp(v), Scheduler::Rr), add_dest(tcp(v), a, 1)])
        .unwrap();
    let mut c = connect(v).await.unwrap();
    let full = Timeouts::default().tcp_established;
    // Listed expiry is whole seconds: wait until it has dropped by one.
    until_conns(&mut fwd, "the entry ageing", |c| {
        c.len() == 1
            && c[0].state == ConnState::Established
            && c[0].expires < full - Duration::from_secs(1)
    })
    .await;
    c.w.write_all(b"ping\n").await.unwrap();
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut c.r, &mut line)
        .await
        .unwrap();
    assert_eq!(line, "ping\n");
    let c2 = fwd.connections().unwrap();
    assert!(
        c2[0].expires > full - Duration::from_secs(1),
        "not pushed back: {c2:#?}"
    );
}
