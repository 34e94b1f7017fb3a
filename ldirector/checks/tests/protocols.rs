//! Every negotiate service against a small in-test server that speaks just
//! enough of the protocol, with the up and the down case.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::*;
use ld_checks::{CheckResult, Checker};
use ldirector::config::Service;
use ldirector::director::{AttemptKind, CheckProtocol, CheckSpec, NegotiateSpec};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};

type Log = Arc<Mutex<Vec<String>>>;

/// A line server: `greeting`, then `respond(line)` for each line received
/// (`None` = hang up). Every line is logged.
async fn line_server(
    greeting: &'static str,
    respond: fn(&str) -> Option<String>,
) -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let l = log.clone();
    let addr = serve(move |s| {
        let l = l.clone();
        async move { line_session(s, greeting, respond, l).await }
    })
    .await;
    (addr, log)
}

async fn line_session<S: AsyncRead + AsyncWrite + Unpin>(
    s: S,
    greeting: &str,
    respond: fn(&str) -> Option<String>,
    log: Log,
) {
    let (r, mut w) = tokio::io::split(s);
    if w.write_all(greeting.as_bytes()).await.is_err() {
        return;
    }
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        log.lock().unwrap().push(line.clone());
        match respond(&line) {
            Some(reply) => {
                if w.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
            None => return,
        }
    }
}

async fn run(c: &Checker, s: &CheckSpec) -> CheckResult {
    c.run(s, AttemptKind::Full).await
}

fn with_login(mut n: NegotiateSpec, login: &str, passwd: &str) -> NegotiateSpec {
    n.login = login.into();
    n.passwd = passwd.into();
    n
}

#[tokio::test]
async fn smtp_and_submission() {
    let c = Checker::new().unwrap();
    let (mx, log) = line_server("220-mx.example ESMTP\r\n220 ready\r\n", |l| {
        if l.starts_with("EHLO ") {
            Some("250-mx.example\r\n250 8BITMIME\r\n".into())
        } else if l == "QUIT" {
            Some("221 bye\r\n".into())
        } else {
            None
        }
    })
    .await;
    for svc in [Service::Smtp, Service::Submission] {
        let r = run(&c, &neg_spec(negotiate(svc, "/", ""), mx)).await;
        assert!(r.up, "{}", r.detail);
    }
    assert!(
        wait_for(std::time::Duration::from_secs(5), || {
            log.lock().unwrap().iter().filter(|l| *l == "QUIT").count() == 2
        })
        .await
    );
    assert_eq!(log.lock().unwrap()[0], "EHLO localhost.localdomain");

    let (busy, _) = line_server("554 no service\r\n", |_| None).await;
    let r = run(&c, &neg_spec(negotiate(Service::Smtp, "/", ""), busy)).await;
    assert!(!r.up && r.detail.contains("554"), "{}", r.detail);
    let r = run(
        &c,
        &neg_spec(negotiate(Service::Smtp, "/", ""), closed_port()),
    )
    .await;
    assert!(!r.up);
}

fn pop_reply(l: &str) -> Option<String> {
    Some(match l {
        "USER u" => "+OK\r\n".into(),
        "PASS right" => "+OK logged in\r\n".into(),
        l if l.starts_with("PASS") => "-ERR auth failed\r\n".into(),
        "QUIT" => "+OK bye\r\n".into(),
        _ => return None,
    })
}

#[tokio::test]
async fn pop_with_and_without_login() {
    let c = Checker::new().unwrap();
    let (pop, log) = line_server("+OK POP3 ready\r\n", pop_reply).await;
    assert!(
        run(&c, &neg_spec(negotiate(Service::Pop, "/", ""), pop))
            .await
            .up
    );
    let n = with_login(negotiate(Service::Pop, "/", ""), "u", "right");
    assert!(run(&c, &neg_spec(n, pop)).await.up);
    assert!(log.lock().unwrap().contains(&"PASS right".to_string()));
    let n = with_login(negotiate(Service::Pop, "/", ""), "u", "wrong");
    let r = run(&c, &neg_spec(n, pop)).await;
    assert!(!r.up && r.detail.contains("-ERR"), "{}", r.detail);
    let pops =
        serve_tls(|tls| line_session(tls, "+OK POP3 ready\r\n", pop_reply, Log::default())).await;
    let n = with_login(negotiate(Service::Pops, "/", ""), "u", "right");
    let r = run(&c, &neg_spec(n, pops)).await;
    assert!(r.up, "pops: {}", r.detail);
    let (notpop, _) = line_server("-ERR go away\r\n", pop_reply).await;
    assert!(
        !run(&c, &neg_spec(negotiate(Service::Pop, "/", ""), notpop))
            .await
            .up
    );
}

fn imap_reply(l: &str) -> Option<String> {
    Some(match l {
        "a1 LOGIN \"u\" \"right\"" => "* CAPABILITY IMAP4rev1\r\na1 OK LOGIN completed\r\n".into(),
        l if l.starts_with("a1 LOGIN") => "a1 NO [AUTHENTICATIONFAILED] bad\r\n".into(),
        "a2 LOGOUT" => "* BYE\r\na2 OK\r\n".into(),
        _ => return None,
    })
}

#[tokio::test]
async fn imap_and_imaps_login() {
    let c = Checker::new().unwrap();
    let (imap, _) = line_server("* OK [CAPABILITY IMAP4rev1] ready\r\n", imap_reply).await;
    assert!(
        run(&c, &neg_spec(negotiate(Service::Imap, "/", ""), imap))
            .await
            .up
    );
    let good = with_login(negotiate(Service::Imap, "/", ""), "u", "right");
    assert!(run(&c, &neg_spec(good.clone(), imap)).await.up);
    let bad = with_login(negotiate(Service::Imap, "/", ""), "u", "nope");
    assert!(!run(&c, &neg_spec(bad, imap)).await.up);

    // imaps: the same dialog inside TLS with a self-signed certificate.
    let imaps =
        serve_tls(|tls| line_session(tls, "* OK ready\r\n", imap_reply, Log::default())).await;
    let mut n = good;
    n.service = Service::Imaps;
    let r = run(&c, &neg_spec(n.clone(), imaps)).await;
    assert!(r.up, "{}", r.detail);
    // Plain imap against the TLS port gets no greeting: timeout, down.
    n.service = Service::Imap;
    let mut s = neg_spec(n, imaps);
    s.negotiatetimeout = std::time::Duration::from_millis(300);
    assert!(!run(&c, &s).await.up);
}

#[tokio::test]
async fn nntp_banner() {
    let c = Checker::new().unwrap();
    let (ok, _) = line_server("200 news.example InterNetNews ready\r\n", |_| None).await;
    assert!(
        run(&c, &neg_spec(negotiate(Service::Nntp, "/", ""), ok))
            .await
            .up
    );
    let (no, _) = line_server("502 no permission\r\n", |_| None).await;
    assert!(
        !run(&c, &neg_spec(negotiate(Service::Nntp, "/", ""), no))
            .await
            .up
    );
}

#[tokio::test]
async fn simpletcp_over_tcp_and_udp() {
    let c = Checker::new().unwrap();
    let tcp = serve(|mut s| async move {
        // The check half-closes after its request: read to EOF.
        let mut req = Vec::new();
        let _ = s.read_to_end(&mut req).await;
        let reply: &[u8] = if req == b"PING\nQUIT\n" {
            b"hello\r\n+PONG\r\n"
        } else {
            b"-ERR\r\n"
        };
        let _ = s.write_all(reply).await;
    })
    .await;
    let n = negotiate(Service::SimpleTcp, "/PING\\nQUIT\\n", "^\\+PONG");
    assert!(run(&c, &neg_spec(n, tcp)).await.up);
    let n = negotiate(Service::SimpleTcp, "/PONG", "^\\+PONG");
    let r = run(&c, &neg_spec(n, tcp)).await;
    assert!(!r.up && r.detail.contains("No OK"), "{}", r.detail);

    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let at = udp.local_addr().unwrap();
    tokio::spawn(async move {
        let mut b = [0u8; 1500];
        while let Ok((n, from)) = udp.recv_from(&mut b).await {
            let reply: &[u8] = if &b[..n] == b"status" {
                b"OK running\n"
            } else {
                b"?\n"
            };
            let _ = udp.send_to(reply, from).await;
        }
    });
    let mut s = neg_spec(negotiate(Service::SimpleTcp, "/status", "^OK"), at);
    s.protocol = CheckProtocol::Udp;
    assert!(run(&c, &s).await.up);
}

#[tokio::test]
async fn sip_options_over_tcp_and_udp() {
    let c = Checker::new().unwrap();
    let tcp = serve(|mut s| async move {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1500];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let req = String::from_utf8_lossy(&buf);
        let reply: &[u8] = if req.starts_with("OPTIONS sip:probe@example SIP/2.0\r\n") {
            b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
        } else {
            b"SIP/2.0 404 Not Found\r\n\r\n"
        };
        let _ = s.write_all(reply).await;
    })
    .await;
    let mut n = negotiate(Service::Sip, "/", "");
    n.login = "probe@example".into();
    assert!(run(&c, &neg_spec(n.clone(), tcp)).await.up);
    let mut other = n.clone();
    other.login = "x@y".into();
    assert!(!run(&c, &neg_spec(other, tcp)).await.up);

    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let at = udp.local_addr().unwrap();
    tokio::spawn(async move {
        let mut b = [0u8; 1500];
        while let Ok((len, from)) = udp.recv_from(&mut b).await {
            let req = String::from_utf8_lossy(&b[..len]).into_owned();
            // The Via header names the socket the check sent from.
            let via_ok = req.contains(&format!("Via: SIP/2.0/UDP {}:{};", from.ip(), from.port()));
            let reply: &[u8] = if via_ok {
                b"SIP/2.0 200 OK\r\n\r\n"
            } else {
                b"SIP/2.0 400 Bad Via\r\n\r\n"
            };
            let _ = udp.send_to(reply, from).await;
        }
    });
    let mut s = neg_spec(n, at);
    s.protocol = CheckProtocol::Udp;
    let r = run(&c, &s).await;
    assert!(r.up, "{}", r.detail);
}

#[tokio::test]
async fn ftp_login_pasv_retr() {
    let c = Checker::new().unwrap();
    let log: Log = Arc::default();
    let l = log.clone();
    let ftp = serve(move |s| {
        let log = l.clone();
        async move {
            let (r, mut w) = s.into_split();
            let _ = w.write_all(b"220-Welcome\r\n220 FTP ready\r\n").await;
            let mut lines = BufReader::new(r).lines();
            let mut data: Option<TcpListener> = None;
            while let Ok(Some(line)) = lines.next_line().await {
                log.lock().unwrap().push(line.clone());
                let reply = match line.as_str() {
                    "USER anonymous" | "USER u" => "331 password please\r\n".to_string(),
                    "PASS -anonymous@" | "PASS pw" => "230 logged in\r\n".into(),
                    l if l.starts_with("PASS") => "530 bad login\r\n".into(),
                    "CWD /" => "250 ok\r\n".into(),
                    "TYPE I" => "200 binary\r\n".into(),
                    "PASV" => {
                        let dl = TcpListener::bind("127.0.0.1:0").await.unwrap();
                        let p = dl.local_addr().unwrap().port();
                        data = Some(dl);
                        format!(
                            "227 Entering Passive Mode (127,0,0,1,{},{}).\r\n",
                            p / 256,
                            p % 256
                        )
                    }
                    "RETR /welcome.txt" => {
                        let Some(dl) = data.take() else { return };
                        let _ = w.write_all(b"150 opening\r\n").await;
                        let (mut d, _) = dl.accept().await.unwrap();
                        let _ = d.write_all(b"Welcome to the ldirectord FTP check\n").await;
                        drop(d);
                        "226 done\r\n".into()
                    }
                    l if l.starts_with("RETR") => "550 no such file\r\n".into(),
                    "QUIT" => "221 bye\r\n".into(),
                    _ => "500 what\r\n".into(),
                };
                if w.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let n = negotiate(Service::Ftp, "/welcome.txt", "ldirectord FTP");
    let r = run(&c, &neg_spec(n.clone(), ftp)).await;
    assert!(r.up, "{}", r.detail);
    assert!(log.lock().unwrap().starts_with(&[
        "USER anonymous".to_string(),
        "PASS -anonymous@".to_string(),
        "CWD /".to_string(),
        "TYPE I".to_string(),
        "PASV".to_string(),
        "RETR /welcome.txt".to_string(),
    ]));
    assert!(
        run(&c, &neg_spec(with_login(n.clone(), "u", "pw"), ftp))
            .await
            .up
    );
    let r = run(&c, &neg_spec(with_login(n.clone(), "u", "bad"), ftp)).await;
    assert!(!r.up && r.detail.contains("530"), "{}", r.detail);
    let mut other = n.clone();
    other.receive = "not in the file".into();
    assert!(!run(&c, &neg_spec(other, ftp)).await.up);
    let missing = negotiate(Service::Ftp, "/missing.txt", "");
    let r = run(&c, &neg_spec(missing, ftp)).await;
    assert!(!r.up && r.detail.contains("550"), "{}", r.detail);
}
