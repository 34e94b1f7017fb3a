//! UDP services on loopback: per-client flows, scheduling, idle expiry,
//! counters, IPv6.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use ldirector::backend::Backend;
use ldirector::config::Scheduler;
use tokio::net::UdpSocket;

async fn ask(s: &UdpSocket, to: SocketAddr, msg: &str) -> String {
    s.send_to(msg.as_bytes(), to).await.unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = tokio::time::timeout(Duration::from_secs(10), s.recv_from(&mut buf))
        .await
        .expect("answer in time")
        .unwrap();
    assert_eq!(from, to, "answers come from the VIP");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_stick_to_their_real_server_and_expire_when_idle() {
    let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (a, _ta) = udp_real(lo, "A").await;
    let (b, _tb) = udp_real(lo, "B").await;
    let v = vip(20, 18020);
    let mut fwd = forwarder();
    fwd.apply(&[
        add_service(udp(v), Scheduler::Rr),
        add_dest(udp(v), a, 1),
        add_dest(udp(v), b, 1),
    ])
    .unwrap();
    let c1 = UdpSocket::bind(lo).await.unwrap();
    let c2 = UdpSocket::bind(lo).await.unwrap();
    let r1 = ask(&c1, v, "one").await;
    let r2 = ask(&c2, v, "two").await;
    // rr over two clients: one each; each flow keeps its server.
    let (id1, id2) = (&r1[..1], &r2[..1]);
    assert_ne!(id1, id2, "{r1} {r2}");
    assert_eq!(&r1[1..], ":one");
    for i in 0..5 {
        assert_eq!(ask(&c1, v, &format!("m{i}")).await, format!("{id1}:m{i}"));
    }
    // UDP entries are inactive connections.
    let s = fwd.snapshot().unwrap();
    assert_eq!(conns(&s, a), Some((0, 1)));
    assert_eq!(conns(&s, b), Some((0, 1)));
    let d = &s.services[0].stats;
    assert_eq!(d.conns, 2);
    assert_eq!(d.inpkts, 7);
    assert_eq!(d.outpkts, 7);
    assert_eq!(d.inbytes, (3 + 3 + 5 * 2) as u64);
    // Idle for the UDP timeout (300 ms here): the flows end.
    until(&mut fwd, "flows expired", |s| {
        conns(s, a) == Some((0, 0)) && conns(s, b) == Some((0, 0))
    })
    .await;
    // A returning client is a new flow.
    let again = ask(&c1, v, "back").await;
    assert!(again.ends_with(":back"), "{again}");
    assert_eq!(fwd.snapshot().unwrap().services[0].stats.conns, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_over_ipv6_loopback() {
    let lo6: SocketAddr = "[::1]:0".parse().unwrap();
    let (a, _ta) = udp_real(lo6, "A6").await;
    let v: SocketAddr = "[::1]:18021".parse().unwrap();
    let mut fwd = forwarder();
    fwd.apply(&[add_service(udp(v), Scheduler::Wlc), add_dest(udp(v), a, 1)])
        .unwrap();
    let c = UdpSocket::bind(lo6).await.unwrap();
    assert_eq!(ask(&c, v, "hi").await, "A6:hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_destination_drops_the_datagram() {
    let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (a, _ta) = udp_real(lo, "A").await;
    let v = vip(22, 18022);
    let mut fwd = forwarder();
    fwd.apply(&[add_service(udp(v), Scheduler::Rr), add_dest(udp(v), a, 0)])
        .unwrap();
    let c = UdpSocket::bind(lo).await.unwrap();
    c.send_to(b"lost", v).await.unwrap();
    // An absence: nothing to wait for but a bounded time.
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(Duration::from_millis(300), c.recv_from(&mut buf)).await;
    assert!(r.is_err(), "a quiesced-only service answers nothing");
    assert_eq!(fwd.snapshot().unwrap().services[0].stats.conns, 0);
    fwd.apply(&[ldirector::ipvs::IpvsCommand::EditDest {
        key: udp(v),
        dest: a,
        params: dest(1),
    }])
    .unwrap();
    assert_eq!(ask(&c, v, "found").await, "A:found");
    assert_eq!(fwd.snapshot().unwrap().services[0].stats.conns, 1);
}
