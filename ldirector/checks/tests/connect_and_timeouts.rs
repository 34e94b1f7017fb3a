//! connect checks, and the timeout behaviour every check shares: refused is
//! down at once, hung and half-open servers end exactly at the timeout.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ld_checks::Checker;
use ldirector::config::Service;
use ldirector::director::{AttemptKind, CheckMethod, CheckProtocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout, Instant};

#[tokio::test(start_paused = true)]
async fn connect_up_and_refused_is_down_without_waiting() {
    let c = Checker::new().unwrap();
    let up = serve(|_s| async {}).await;
    assert_eq!(
        c.run(&spec(CheckMethod::Connect, up), AttemptKind::Full)
            .await,
        ld_checks::CheckResult::up()
    );

    let start = Instant::now();
    let r = c
        .run(
            &spec(CheckMethod::Connect, closed_port()),
            AttemptKind::Full,
        )
        .await;
    assert!(!r.up);
    assert!(r.detail.contains("refused"), "{}", r.detail);
    // Paused clock: any wait on a timer would show as elapsed virtual time.
    assert!(start.elapsed() < Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn connect_round_of_a_negotiate_check_only_connects() {
    let c = Checker::new().unwrap();
    // Accepts and says nothing: a negotiate http check would time out, the
    // connect round of checktype=N is up.
    let silent = serve(|s| async move {
        let _hold = s;
        std::future::pending::<()>().await
    })
    .await;
    let s = neg_spec(negotiate(Service::Http, "/", ""), silent);
    assert!(c.run(&s, AttemptKind::Connect).await.up);
    assert!(!c.run(&s, AttemptKind::Full).await.up);
}

#[tokio::test(start_paused = true)]
async fn udp_connect_is_a_local_connect() {
    let c = Checker::new().unwrap();
    let mut s = spec(CheckMethod::Connect, closed_port());
    s.protocol = CheckProtocol::Udp;
    assert!(c.run(&s, AttemptKind::Full).await.up);
    s.port = None;
    assert!(!c.run(&s, AttemptKind::Full).await.up);
}

/// Pending until just before `limit`, finished (down, "timed out") just
/// after it.
async fn ends_on_schedule(
    fut: impl std::future::Future<Output = ld_checks::CheckResult>,
    limit: Duration,
) {
    let eps = Duration::from_millis(10);
    let start = Instant::now();
    tokio::pin!(fut);
    assert!(
        timeout(limit - eps, &mut fut).await.is_err(),
        "finished before its timeout"
    );
    let r = timeout(eps * 5, &mut fut)
        .await
        .expect("still running after its timeout");
    assert!(!r.up);
    assert!(r.detail.contains("timed out"), "{}", r.detail);
    let took = start.elapsed();
    assert!(took >= limit && took <= limit + eps * 5, "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn hung_server_times_out_on_schedule_for_every_dialog() {
    let c = Checker::new().unwrap();
    let hung = serve(|s| async move {
        let _hold = s;
        std::future::pending::<()>().await
    })
    .await;
    for service in [
        Service::Http,
        Service::Https,
        Service::Smtp,
        Service::Pop,
        Service::Imap,
        Service::Nntp,
        Service::Sip,
        Service::SimpleTcp,
        Service::Ftp,
        Service::Ldap,
        Service::Mysql,
        Service::Pgsql,
        Service::Dns,
    ] {
        let mut n = negotiate(service, "/x", "x");
        n.login = "u".into();
        n.passwd = "p".into();
        n.database = "d".into();
        let s = neg_spec(n, hung);
        let limit = s.timeout(AttemptKind::Full);
        ends_on_schedule(c.run(&s, AttemptKind::Full), limit).await;
    }
}

#[tokio::test(start_paused = true)]
async fn half_open_response_times_out_on_schedule() {
    let c = Checker::new().unwrap();
    // Starts an answer, then stalls with the connection open.
    let half = serve(|mut s| async move {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            .await;
        std::future::pending::<()>().await
    })
    .await;
    let s = neg_spec(negotiate(Service::Http, "/", ""), half);
    ends_on_schedule(c.run(&s, AttemptKind::Full), s.timeout(AttemptKind::Full)).await;

    let smtp_half = serve(|mut s| async move {
        let _ = s.write_all(b"220-mx.example ESMTP\r\n").await;
        std::future::pending::<()>().await
    })
    .await;
    let s = neg_spec(negotiate(Service::Smtp, "/", ""), smtp_half);
    ends_on_schedule(c.run(&s, AttemptKind::Full), s.timeout(AttemptKind::Full)).await;
}

/// A listener whose accept queue is full drops SYNs: connect() hangs.
#[test]
fn connect_to_a_full_backlog_times_out_on_schedule() {
    use socket2::{Domain, Socket, Type};
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let mut held = Vec::new();
    let mut full = false;
    for _ in 0..16 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => held.push(s),
            Err(_) => {
                full = true;
                break;
            }
        }
    }
    assert!(full, "accept queue never filled");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let c = Checker::new().unwrap();
        let s = spec(CheckMethod::Connect, addr);
        ends_on_schedule(c.run(&s, AttemptKind::Full), s.checktimeout).await;
    });
    drop(held);
}

#[tokio::test(flavor = "current_thread")]
async fn a_thousand_concurrent_http_checks_all_complete() {
    let c = Arc::new(Checker::new().unwrap());
    let web = serve(|mut s| async move {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
            .await;
    })
    .await;
    let s = Arc::new(neg_spec(negotiate(Service::Http, "/", "^ok"), web));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (c, s) = (c.clone(), s.clone());
        set.spawn(async move { c.run(&s, AttemptKind::Full).await });
    }
    let mut up = 0;
    let mut down = Vec::new();
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        if r.up {
            up += 1;
        } else {
            down.push(r.detail);
        }
    }
    assert_eq!(up, 1000, "down: {:?}", &down[..down.len().min(5)]);
}

#[tokio::test]
async fn ipv6_connect_and_http() {
    let Ok(l) = tokio::net::TcpListener::bind("[::1]:0").await else {
        require(false, "no IPv6 loopback");
        return;
    };
    let at = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                // ldirectord's Host for an IPv6 real is the bracketed address.
                let body = if head.contains("\r\nHost: [::1]\r\n") {
                    "v6 ok"
                } else {
                    "bad host"
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    let c = Checker::new().unwrap();
    assert!(
        c.run(&spec(CheckMethod::Connect, at), AttemptKind::Full)
            .await
            .up
    );
    let r = c
        .run(
            &neg_spec(negotiate(Service::Http, "/", "^v6 ok$"), at),
            AttemptKind::Full,
        )
        .await;
    assert!(r.up, "{}", r.detail);
}

#[test]
fn checker_and_its_futures_can_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let c = Checker::new().unwrap();
    send_sync(&c);
    let s = spec(CheckMethod::Connect, closed_port());
    send(&c.run(&s, AttemptKind::Full));
}

#[tokio::test(start_paused = true)]
async fn silent_udp_server_times_out_on_schedule() {
    let c = Checker::new().unwrap();
    // Receives and never answers (a closed port would answer with ICMP).
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let at = silent.local_addr().unwrap();
    for service in [
        Service::Dns,
        Service::Radius,
        Service::Sip,
        Service::SimpleTcp,
    ] {
        let mut s = neg_spec(negotiate(service, "/x", "x"), at);
        s.protocol = CheckProtocol::Udp;
        let limit = s.timeout(AttemptKind::Full);
        ends_on_schedule(c.run(&s, AttemptKind::Full), limit).await;
    }
    drop(silent);
}

/// TIME_WAIT sockets whose remote end is `port` (/proc/net/tcp, state 06).
fn time_wait_towards(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let remote = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(2).is_some_and(|r| r.ends_with(&remote)) && f.get(3) == Some(&"06")
        })
        .count()
}

#[tokio::test]
async fn connect_checks_leave_no_time_wait_behind() {
    let c = Checker::new().unwrap();
    let at = serve(|mut s| async move {
        let mut b = [0u8; 16];
        let _ = s.read(&mut b).await;
    })
    .await;
    for _ in 0..20 {
        assert!(
            c.run(&spec(CheckMethod::Connect, at), AttemptKind::Full)
                .await
                .up
        );
    }
    assert_eq!(time_wait_towards(at.port()), 0);
}

/// ldirectord keeps one check future per real in flight (10,000 of them on
/// a big director): each protocol's state lives on the heap, sized for that
/// protocol, instead of every future carrying the largest (TLS, 17 KiB).
#[test]
fn a_check_in_flight_is_small() {
    let c = Checker::new().unwrap();
    let spec = neg_spec(
        negotiate(Service::Https, "/", "ok"),
        "127.0.0.1:1".parse().unwrap(),
    );
    let f = c.run(&spec, AttemptKind::Full);
    let size = std::mem::size_of_val(&f);
    assert!(size <= 1024, "a check future is {size} bytes");
}
