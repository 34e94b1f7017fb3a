//! The TCP data path on loopback: scheduling through real sockets, echo and
//! half-close, draining on quiesce/delete, failed connects, IPv6, counters,
//! the ipvsadm-shaped listing, refusals.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use ld_forwarder::{Forwarder, Options};
use ldirector::backend::listing::{render, ListFormat};
use ldirector::backend::{Backend, BackendError};
use ldirector::config::{Scheduler, VirtualAddr};
use ldirector::ipvs::IpvsCommand;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LO: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrr_through_the_proxy_follows_weights_and_echoes() {
    let (a, _ta) = tcp_real(LO.into(), "A").await;
    let (b, _tb) = tcp_real(LO.into(), "B").await;
    let v = vip(1, 18001);
    let mut fwd = forwarder();
    fwd.apply(&[
        add_service(tcp(v), Scheduler::Wrr),
        add_dest(tcp(v), a, 2),
        add_dest(tcp(v), b, 1),
    ])
    .unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for i in 0..30 {
        let c = connect(v).await.expect("connect through forwarder");
        *seen.entry(c.id.clone()).or_default() += 1;
        let msg = format!("ping {i}");
        assert_eq!(c.echo_and_close(msg.as_bytes()).await, msg.as_bytes());
    }
    assert_eq!(seen.get("A"), Some(&20), "{seen:?}");
    assert_eq!(seen.get("B"), Some(&10), "{seen:?}");
    let s = until(&mut fwd, "all closed", |s| {
        conns(s, a) == Some((0, 0)) && conns(s, b) == Some((0, 0))
    })
    .await;
    assert_eq!(s.services[0].stats.conns, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_half_close_still_carries_the_client_data() {
    // A real server that says goodbye and shuts down its side first, then
    // still reads what the client sends.
    let l = tokio::net::TcpListener::bind(SocketAddr::from(LO))
        .await
        .unwrap();
    let real = l.local_addr().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"bye\n").await.unwrap();
        s.shutdown().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        tx.send(got).unwrap();
    });
    let v = vip(2, 18002);
    let mut fwd = forwarder();
    fwd.apply(&[
        add_service(tcp(v), Scheduler::Rr),
        add_dest(tcp(v), real, 1),
    ])
    .unwrap();
    let mut c = TcpStream::connect(v).await.unwrap();
    let mut greet = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut greet))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(greet, b"bye\n");
    // FIN seen: no longer ESTABLISHED.
    until(&mut fwd, "inactive after FIN", |s| {
        conns(s, real) == Some((0, 1))
    })
    .await;
    c.write_all(b"after your FIN").await.unwrap();
    c.shutdown().await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some(&b"after your FIN"[..]));
    until(&mut fwd, "closed", |s| conns(s, real) == Some((0, 0))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiesced_destination_drains() {
    let (a, _ta) = tcp_real(LO.into(), "A").await;
    let (b, _tb) = tcp_real(LO.into(), "B").await;
    let v = vip(3, 18003);
    let mut fwd = forwarder();
    fwd.apply(&[add_service(tcp(v), Scheduler::Wlc), add_dest(tcp(v), a, 1)])
        .unwrap();
    let held = connect(v).await.unwrap();
    assert_eq!(held.id, "A");
    until(&mut fwd, "A active", |s| conns(s, a) == Some((1, 0))).await;
    fwd.apply(&[
        add_dest(tcp(v), b, 1),
        IpvsCommand::EditDest {
            key: tcp(v),
            dest: a,
            params: dest(0),
        },
    ])
    .unwrap();
    for _ in 0..5 {
        let c = connect(v).await.unwrap();
        assert_eq!(c.id, "B", "a quiesced server gets no new connections");
        c.echo_and_close(b"x").await;
    }
    // The existing connection goes on.
    assert_eq!(held.echo_and_close(b"still here").await, b"still here");
    until(&mut fwd, "drained", |s| conns(s, a) == Some((0, 0))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_destination_and_service_let_connections_finish() {
    let (a, _ta) = tcp_real(LO.into(), "A").await;
    let v = vip(4, 18004);
    let mut fwd = forwarder();
    fwd.apply(&[add_service(tcp(v), Scheduler::Rr), add_dest(tcp(v), a, 1)])
        .unwrap();
    let held1 = connect(v).await.unwrap();
    fwd.apply(&[IpvsCommand::DelDest {
        key: tcp(v),
        dest: a,
    }])
    .unwrap();
    // No destination: the client is reset or closed at once.
    assert!(connect(v).await.is_err());
    let s = fwd.snapshot().unwrap();
    assert!(s.services[0].dests.is_empty());
    fwd.apply(&[add_dest(tcp(v), a, 1)]).unwrap();
    let held2 = connect(v).await.unwrap();
    fwd.apply(&[IpvsCommand::DeleteService { key: tcp(v) }])
        .unwrap();
    // Not listening any more...
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(v).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "still listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...but both connections still work.
    assert_eq!(held1.echo_and_close(b"one").await, b"one");
    assert_eq!(held2.echo_and_close(b"two").await, b"two");
    assert!(fwd.snapshot().unwrap().services.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_connect_resets_the_client_and_counts_like_ipvs() {
    let dead = {
        let l = std::net::TcpListener::bind(SocketAddr::from(LO)).unwrap();
        l.local_addr().unwrap()
    };
    let v = vip(5, 18005);
    // Default timeouts: the failed entry lingers in CLOSE for 10 s.
    let mut fwd = Forwarder::with_options(tokio::runtime::Handle::current(), Options::default());
    fwd.apply(&[
        add_service(tcp(v), Scheduler::Rr),
        add_dest(tcp(v), dead, 1),
    ])
    .unwrap();
    // The reset may beat the client's own view of its handshake.
    let r = match TcpStream::connect(v).await {
        Err(e) => Err(e),
        Ok(mut c) => {
            let mut buf = [0u8; 16];
            tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
                .await
                .unwrap()
        }
    };
    match r {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
        Ok(n) => panic!("expected a reset, read {n} bytes"),
    }
    let s = until(&mut fwd, "failed conn counted", |s| {
        s.services[0].stats.conns == 1
    })
    .await;
    assert_eq!(conns(&s, dead), Some((0, 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_loopback() {
    let lo6: SocketAddr = "[::1]:0".parse().unwrap();
    let (a, _ta) = tcp_real(lo6, "A6").await;
    let v: SocketAddr = "[::1]:18006".parse().unwrap();
    let mut fwd = forwarder();
    fwd.apply(&[add_service(tcp(v), Scheduler::Sh), add_dest(tcp(v), a, 1)])
        .unwrap();
    let c = connect(v).await.unwrap();
    assert_eq!(c.id, "A6");
    assert_eq!(c.echo_and_close(b"v6").await, b"v6");
    let listing = render(&fwd.snapshot().unwrap(), ListFormat::Plain);
    assert!(listing.contains("[::1]:18006"), "{listing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_counts_bytes_and_packets_both_ways() {
    let (a, _ta) = tcp_real(LO.into(), "A").await;
    let v = vip(7, 18007);
    let mut fwd = forwarder();
    fwd.apply(&[add_service(tcp(v), Scheduler::Rr), add_dest(tcp(v), a, 1)])
        .unwrap();
    let payload = vec![7u8; 300_000];
    let c = connect(v).await.unwrap();
    assert_eq!(c.echo_and_close(&payload).await.len(), payload.len());
    let s = until(&mut fwd, "closed", |s| conns(s, a) == Some((0, 0))).await;
    let (svc, d) = (&s.services[0].stats, &s.services[0].dests[0].stats);
    assert_eq!(svc.conns, 1);
    assert_eq!(d.inbytes, 300_000);
    // Greeting "A\n" plus the echo.
    assert_eq!(d.outbytes, 300_002);
    assert!(d.inpkts >= 1 && d.outpkts >= 2, "{d:?}");
    assert_eq!((svc.inbytes, svc.outbytes), (d.inbytes, d.outbytes));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_looks_like_ipvsadm() {
    let (a, _ta) = tcp_real(LO.into(), "A").await;
    let v = vip(8, 18008);
    let quiet: SocketAddr = "127.0.0.3:80".parse().unwrap();
    let mut fwd = forwarder();
    fwd.apply(&[
        add_service(tcp(v), Scheduler::Wlc),
        add_dest(tcp(v), a, 3),
        add_dest(tcp(v), quiet, 0),
    ])
    .unwrap();
    let held = connect(v).await.unwrap();
    let s = until(&mut fwd, "one active", |s| conns(s, a) == Some((1, 0))).await;
    let out = render(&s, ListFormat::Plain);
    let expect = format!(
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n\
         \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  127.77.8.1:18008 wlc\n\
         \x20 -> {:<28} Masq    3      1          0         \n\
         \x20 -> 127.0.0.3:80                 Masq    0      0          0         \n",
        a.to_string()
    );
    assert_eq!(out, expect);
    held.echo_and_close(b"x").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_match_ipvsadm_and_fwmark_is_unsupported() {
    let v = vip(9, 18009);
    let mut fwd = forwarder();
    let fwm = VirtualAddr::Fwmark {
        mark: 7,
        ipv6: false,
    };
    let err = fwd.apply(&[add_service(fwm, Scheduler::Rr)]).unwrap_err();
    assert!(
        matches!(&err.failures[..], [(0, BackendError::Unsupported { .. })]),
        "{err:?}"
    );
    assert!(err.to_string().contains("firewall-mark"), "{err}");
    let err = fwd
        .apply(&[
            add_service(tcp(v), Scheduler::Rr),
            add_service(tcp(v), Scheduler::Rr),
            add_dest(tcp(vip(9, 1)), v, 1),
        ])
        .unwrap_err();
    let msgs: Vec<(usize, String)> = err
        .failures
        .iter()
        .map(|(i, e)| (*i, e.to_string()))
        .collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert_eq!(msgs[0].0, 1);
    assert!(msgs[0].1.ends_with("Service already exists"), "{msgs:?}");
    assert!(msgs[1].1.ends_with("No such service"), "{msgs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vip_not_configured_yet_can_be_served() {
    // 192.0.2.0/24 (TEST-NET-1) is on no interface: IP_FREEBIND lets the
    // service exist before heartbeat adds the address. No traffic is sent.
    let v: SocketAddr = "192.0.2.77:18010".parse().unwrap();
    let mut fwd = forwarder();
    fwd.apply(&[
        add_service(tcp(v), Scheduler::Rr),
        add_service(udp(v), Scheduler::Rr),
    ])
    .unwrap();
    assert_eq!(fwd.snapshot().unwrap().services.len(), 2);
    fwd.apply(&[
        IpvsCommand::DeleteService { key: tcp(v) },
        IpvsCommand::DeleteService { key: udp(v) },
    ])
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_dropped_after_the_tcp_timeout() {
    let (a, _ta) = tcp_real(LO.into(), "A").await;
    let v = vip(11, 18011);
    let mut opts = Options::default();
    opts.timeouts.tcp_established = Duration::from_millis(300);
    opts.timeouts.tcp_close = Duration::ZERO;
    let mut fwd = Forwarder::with_options(tokio::runtime::Handle::current(), opts);
    fwd.apply(&[add_service(tcp(v), Scheduler::Rr), add_dest(tcp(v), a, 1)])
        .unwrap();
    let mut c = connect(v).await.unwrap();
    until(&mut fwd, "established", |s| conns(s, a) == Some((1, 0))).await;
    // Nothing moves: the forwarder gives up and resets.
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(10), c.r.read_to_end(&mut rest))
        .await
        .expect("dropped in time");
    assert!(r.is_err() || rest.is_empty(), "{r:?} {rest:?}");
    until(&mut fwd, "forgotten", |s| conns(s, a) == Some((0, 0))).await;
}

/// Current-thread runtimes on their own threads, all accepting from one
/// listening socket (how the standalone `ld-forwarder` and ldirectord's
/// userspace mode run): held connections end up spread over the threads
/// whichever thread wakes first for each, and every count drops back to 0.
#[test]
fn several_current_thread_runtimes_share_a_service() {
    let handles = ld_forwarder::runtimes::spawn(2, "ldf-share").unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    client_rt.block_on(async {
        let (a, _ta) = tcp_real(LO.into(), "A").await;
        let v = vip(12, 18012);
        let mut fwd = Forwarder::with_runtimes(handles, Options::default());
        fwd.apply(&[add_service(tcp(v), Scheduler::Rr), add_dest(tcp(v), a, 1)])
            .unwrap();
        let held: Vec<Client> = {
            let mut v2 = Vec::new();
            for _ in 0..20 {
                v2.push(connect(v).await.unwrap());
            }
            v2
        };
        // Each connect returned after the real server's greeting, so every
        // connection is counted on its runtime by now.
        let loads = fwd.runtime_loads();
        assert_eq!(loads.iter().sum::<usize>(), 20, "{loads:?}");
        assert!(
            loads[0].abs_diff(loads[1]) <= 2,
            "connections not spread over the runtimes: {loads:?}"
        );
        for (i, c) in held.into_iter().enumerate() {
            let m = format!("m{i}");
            assert_eq!(c.echo_and_close(m.as_bytes()).await, m.as_bytes());
        }
        let s = fwd.snapshot().unwrap();
        assert_eq!(s.services[0].stats.conns, 20);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while fwd.runtime_loads() != [0, 0] {
            assert!(
                std::time::Instant::now() < deadline,
                "connections still counted: {:?}",
                fwd.runtime_loads()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(fwd);
    });
}

/// While one forwarding thread is stuck in a long task, the other accepts
/// every new connection — and hands half of them over, so a burst of long
/// connections does not all land on one thread; they are served once the
/// stuck thread is free again.
#[test]
fn a_burst_accepted_by_one_thread_is_shared_with_a_busy_one() {
    let handles = ld_forwarder::runtimes::spawn(2, "ldf-test").unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    client_rt.block_on(async {
        let (a, _ta) = tcp_real(LO.into(), "A").await;
        let v = vip(13, 18013);
        let mut fwd = Forwarder::with_runtimes(handles.clone(), Options::default());
        fwd.apply(&[add_service(tcp(v), Scheduler::Rr), add_dest(tcp(v), a, 1)])
            .unwrap();
        // Runtime 0's only thread blocks until released.
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let (entered_tx, entered) = tokio::sync::oneshot::channel();
        handles[0].spawn(async move {
            let _ = entered_tx.send(());
            let _ = stuck.recv();
        });
        entered.await.unwrap();
        let mut raw = Vec::new();
        for _ in 0..20 {
            raw.push(TcpStream::connect(v).await.unwrap());
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while fwd.runtime_loads().iter().sum::<usize>() < 20 {
            assert!(
                std::time::Instant::now() < deadline,
                "not all accepted: {:?}",
                fwd.runtime_loads()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let loads = fwd.runtime_loads();
        assert!(loads[0].abs_diff(loads[1]) <= 2, "{loads:?}");
        release.send(()).unwrap();
        for (i, mut s) in raw.into_iter().enumerate() {
            let mut greeting = [0u8; 2];
            tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut greeting))
                .await
                .expect("greeting in time")
                .expect("greeting");
            assert_eq!(&greeting, b"A\n", "connection {i}");
        }
    });
}

/// ldirectord's fallback is just one more destination: when every real
/// server is quiesced it is added, and it is removed when one comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_takes_over_while_the_reals_are_quiesced() {
    let (a, _ta) = tcp_real(LO.into(), "A").await;
    let (f, _tf) = tcp_real(LO.into(), "FALLBACK").await;
    let v = vip(13, 18013);
    let mut fwd = forwarder();
    fwd.apply(&[add_service(tcp(v), Scheduler::Wrr), add_dest(tcp(v), a, 1)])
        .unwrap();
    assert_eq!(connect(v).await.unwrap().id, "A");
    fwd.apply(&[
        IpvsCommand::EditDest {
            key: tcp(v),
            dest: a,
            params: dest(0),
        },
        add_dest(tcp(v), f, 1),
    ])
    .unwrap();
    for _ in 0..3 {
        assert_eq!(connect(v).await.unwrap().id, "FALLBACK");
    }
    fwd.apply(&[
        IpvsCommand::EditDest {
            key: tcp(v),
            dest: a,
            params: dest(1),
        },
        IpvsCommand::DelDest {
            key: tcp(v),
            dest: f,
        },
    ])
    .unwrap();
    for _ in 0..3 {
        assert_eq!(connect(v).await.unwrap().id, "A");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_service_keeps_a_client_on_one_real() {
    let (a, _ta) = tcp_real(LO.into(), "A").await;
    let (b, _tb) = tcp_real(LO.into(), "B").await;
    let v = vip(14, 18014);
    let mut fwd = forwarder();
    fwd.apply(&[
        IpvsCommand::AddService {
            key: tcp(v),
            params: ldirector::ipvs::ServiceParams {
                scheduler: Scheduler::Rr,
                persistent: Some(300),
                netmask: Some(ldirector::config::Netmask::V4(
                    "255.255.255.0".parse().unwrap(),
                )),
                schedflags: None,
                ops: false,
            },
        },
        add_dest(tcp(v), a, 1),
        add_dest(tcp(v), b, 1),
    ])
    .unwrap();
    // rr would alternate; persistence keeps 127.0.0.1 on its first pick.
    let first = connect(v).await.unwrap().id;
    for _ in 0..6 {
        assert_eq!(connect(v).await.unwrap().id, first);
    }
    let s = fwd.snapshot().unwrap();
    let persist: u32 = s.services[0].dests.iter().map(|d| d.persist_conns).sum();
    assert_eq!(persist, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rates_come_from_the_two_second_estimator() {
    let (a, _ta) = tcp_real(LO.into(), "A").await;
    let v = vip(15, 18015);
    let mut fwd = forwarder();
    fwd.apply(&[add_service(tcp(v), Scheduler::Rr), add_dest(tcp(v), a, 1)])
        .unwrap();
    assert_eq!(fwd.snapshot().unwrap().services[0].stats.cps, 0);
    // Keep traffic going until an estimator interval has seen it.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        for _ in 0..20 {
            connect(v).await.unwrap().echo_and_close(&[1u8; 1000]).await;
        }
        let s = fwd.snapshot().unwrap();
        let st = &s.services[0].stats;
        if st.cps > 0 && st.inbps > 0 && st.outbps > 0 && st.inpps > 0 {
            assert_eq!(s.services[0].dests[0].stats.cps, st.cps);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no rates: {st:?}");
    }
    let out = render(&fwd.snapshot().unwrap(), ListFormat::Rate);
    assert!(out.contains("CPS"), "{out}");
}
