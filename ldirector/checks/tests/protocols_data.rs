//! dns, ldap, radius and mysql against in-test servers.

mod common;

use std::net::{Ipv4Addr, SocketAddr};

use common::*;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use ld_checks::{CheckResult, Checker};
use ldirector::config::Service;
use ldirector::director::{AttemptKind, CheckProtocol, CheckSpec, NegotiateSpec};
use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

async fn run(c: &Checker, s: &CheckSpec) -> CheckResult {
    c.run(s, AttemptKind::Full).await
}

/// www.example.com → 10.1.2.3, 127.0.0.1 → localhost, else NXDOMAIN.
fn dns_answer(query: &[u8]) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let question = q.queries().first()?.clone();
    let mut r = Message::new();
    r.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_recursion_desired(q.recursion_desired())
        .add_query(question.clone());
    let name = question.name().clone();
    match (name.to_utf8().as_str(), question.query_type()) {
        ("www.example.com.", RecordType::A) => {
            r.add_answer(Record::from_rdata(
                name,
                60,
                RData::A(A(Ipv4Addr::new(10, 1, 2, 3))),
            ));
        }
        ("1.0.0.127.in-addr.arpa.", RecordType::PTR) => {
            let target = Name::from_ascii("localhost.").ok()?;
            r.add_answer(Record::from_rdata(name, 60, RData::PTR(PTR(target))));
        }
        _ => {
            r.set_response_code(ResponseCode::NXDomain);
        }
    }
    r.to_vec().ok()
}

#[tokio::test]
async fn dns_over_udp_and_tcp() {
    let c = Checker::new().unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let at = udp.local_addr().unwrap();
    tokio::spawn(async move {
        let mut b = [0u8; 1500];
        while let Ok((n, from)) = udp.recv_from(&mut b).await {
            if let Some(a) = dns_answer(&b[..n]) {
                let _ = udp.send_to(&a, from).await;
            }
        }
    });
    let check = |req: &str, rec: &str, proto| {
        let mut s = neg_spec(negotiate(Service::Dns, req, rec), at);
        s.protocol = proto;
        s
    };
    let r = run(
        &c,
        &check("/www.example.com", "10\\.1\\.2\\.3", CheckProtocol::Udp),
    )
    .await;
    assert!(r.up, "{}", r.detail);
    assert!(
        run(&c, &check("/127.0.0.1", "^localhost$", CheckProtocol::Udp))
            .await
            .up
    );
    assert!(
        !run(&c, &check("/www.example.com", "10\\.9", CheckProtocol::Udp))
            .await
            .up
    );
    let r = run(&c, &check("/nx.example.com", ".", CheckProtocol::Udp)).await;
    assert!(!r.up && r.detail.contains("mismatch"), "{}", r.detail);
    // ldirectord: an empty receive never matches.
    assert!(
        !run(&c, &check("/www.example.com", "", CheckProtocol::Udp))
            .await
            .up
    );

    // The same server over TCP, on the same port number.
    let tl = tokio::net::TcpListener::bind(at).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = tl.accept().await {
            tokio::spawn(async move {
                let mut len = [0u8; 2];
                if s.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                if s.read_exact(&mut q).await.is_err() {
                    return;
                }
                if let Some(a) = dns_answer(&q) {
                    let mut framed = (a.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&a);
                    let _ = s.write_all(&framed).await;
                }
            });
        }
    });
    let r = run(
        &c,
        &check("/www.example.com", "^10\\.1\\.2\\.3$", CheckProtocol::Tcp),
    )
    .await;
    assert!(r.up, "{}", r.detail);
}

/// Read one BER TLV (the check's requests are small).
async fn read_ldap_message<S: AsyncRead + Unpin>(s: &mut S) -> Option<Vec<u8>> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await.ok()?;
    let len = if head[1] < 0x80 {
        usize::from(head[1])
    } else {
        let mut l = vec![0u8; usize::from(head[1] & 0x7f)];
        s.read_exact(&mut l).await.ok()?;
        l.iter().fold(0, |a, b| (a << 8) | usize::from(*b))
    };
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.ok()?;
    Some(body)
}

fn ldap_result(id: u8, op: u8, code: u8) -> Vec<u8> {
    vec![
        0x30, 0x0c, 0x02, 0x01, id, op, 0x07, 0x0a, 0x01, code, 0x04, 0x00, 0x04, 0x00,
    ]
}

fn ldap_entry(id: u8, dn: &str) -> Vec<u8> {
    let mut op = vec![0x04, dn.len() as u8];
    op.extend_from_slice(dn.as_bytes());
    op.extend_from_slice(&[0x30, 0x00]);
    let mut m = vec![0x02, 0x01, id, 0x64, op.len() as u8];
    m.extend_from_slice(&op);
    let mut out = vec![0x30, m.len() as u8];
    out.extend_from_slice(&m);
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn ldap_session<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) {
    while let Some(m) = read_ldap_message(&mut s).await {
        // [msgid INT][op]
        let id = m.get(2).copied().unwrap_or(0);
        let op = m.get(3).copied().unwrap_or(0);
        let reply = match op {
            0x60 if contains(&m, b"wrongpw") => ldap_result(id, 0x61, 49),
            0x60 => ldap_result(id, 0x61, 0),
            0x63 if contains(&m, b"dc=example,dc=com") && contains(&m, b"objectClass") => {
                let mut r = ldap_entry(id, "dc=example,dc=com");
                r.extend(ldap_result(id, 0x65, 0));
                r
            }
            0x63 => ldap_result(id, 0x65, 32), // noSuchObject
            _ => return,
        };
        if s.write_all(&reply).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn ldap_bind_and_base_search() {
    let c = Checker::new().unwrap();
    let ldap = serve(ldap_session).await;
    let n = |req: &str, rec: &str| negotiate(Service::Ldap, req, rec);
    let r = run(&c, &neg_spec(n("/dc=example,dc=com", "example"), ldap)).await;
    assert!(r.up, "{}", r.detail);
    assert!(
        run(&c, &neg_spec(n("/dc=example,dc=com", ""), ldap))
            .await
            .up
    );
    let r = run(&c, &neg_spec(n("/dc=example,dc=com", "^ou=other"), ldap)).await;
    assert!(!r.up && r.detail.contains("mismatch"), "{}", r.detail);
    let r = run(&c, &neg_spec(n("/dc=nowhere", ""), ldap)).await;
    assert!(!r.up && r.detail.contains("0 entries"), "{}", r.detail);
    let mut bad = n("/dc=example,dc=com", "");
    bad.login = "cn=admin,dc=example,dc=com".into();
    bad.passwd = "wrongpw".into();
    let r = run(&c, &neg_spec(bad, ldap)).await;
    assert!(!r.up && r.detail.contains("Bind failed"), "{}", r.detail);

    let ldaps = serve_tls(ldap_session).await;
    let mut n = n("/dc=example,dc=com", "example");
    n.service = Service::Ldaps;
    let r = run(&c, &neg_spec(n, ldaps)).await;
    assert!(r.up, "ldaps: {}", r.detail);
}

fn radius_spec(at: SocketAddr, secret: &str) -> CheckSpec {
    let mut n: NegotiateSpec = negotiate(Service::Radius, "/", "");
    n.login = "probe".into();
    n.passwd = "pw".into();
    n.secret = secret.into();
    let mut s = neg_spec(n, at);
    s.protocol = CheckProtocol::Udp;
    s.checktimeout = std::time::Duration::from_millis(500);
    s
}

#[tokio::test]
async fn radius_any_signed_reply_is_up() {
    let c = Checker::new().unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let at = udp.local_addr().unwrap();
    tokio::spawn(async move {
        let mut b = [0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut b).await {
            if n < 20 || b[0] != 1 {
                continue;
            }
            // Access-Reject, signed with the shared secret.
            let mut reply = vec![3u8, b[1], 0, 20];
            let mut h = Md5::new();
            h.update(&reply[..4]);
            h.update(&b[4..20]);
            h.update(b"testing123");
            reply.extend_from_slice(&h.finalize());
            let _ = udp.send_to(&reply, from).await;
        }
    });
    let r = run(&c, &radius_spec(at, "testing123")).await;
    assert!(r.up, "{}", r.detail);
    let r = run(&c, &radius_spec(at, "wrong")).await;
    assert!(!r.up && r.detail.contains("authenticator"), "{}", r.detail);
    // Nobody there: ICMP port unreachable, down.
    let dead = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(!run(&c, &radius_spec(dead, "testing123")).await.up);
}

/// A MySQL server with one user `probe`/`secret` (mysql_native_password)
/// that knows two queries.
async fn mysql_session(mut s: TcpStream) {
    let scramble = *b"0123456789abcdefghij";
    let mut g = vec![10];
    g.extend_from_slice(b"5.7.0-ldc\0");
    g.extend_from_slice(&[7, 0, 0, 0]);
    g.extend_from_slice(&scramble[..8]);
    g.push(0);
    g.extend_from_slice(&0xf7ffu16.to_le_bytes()); // no CLIENT_SSL (0x800)
    g.push(33);
    g.extend_from_slice(&[2, 0]);
    g.extend_from_slice(&0x0008u16.to_le_bytes()); // CLIENT_PLUGIN_AUTH >> 16
    g.push(21);
    g.extend_from_slice(&[0; 10]);
    g.extend_from_slice(&scramble[8..]);
    g.push(0);
    g.extend_from_slice(b"mysql_native_password\0");
    let send = |seq: u8, p: &[u8]| {
        let mut out = (p.len() as u32).to_le_bytes()[..3].to_vec();
        out.push(seq);
        out.extend_from_slice(p);
        out
    };
    if s.write_all(&send(0, &g)).await.is_err() {
        return;
    }
    async fn read(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
        let mut h = [0u8; 4];
        s.read_exact(&mut h).await.ok()?;
        let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
        let mut p = vec![0u8; len];
        s.read_exact(&mut p).await.ok()?;
        Some((h[3], p))
    }
    let Some((seq, resp)) = read(&mut s).await else {
        return;
    };
    // caps(4) max(4) charset(1) zero(23), user\0, len, auth, db\0, plugin\0
    let rest = &resp[32..];
    let user_end = rest.iter().position(|b| *b == 0).unwrap();
    let user = &rest[..user_end];
    let alen = usize::from(rest[user_end + 1]);
    let auth = &rest[user_end + 2..user_end + 2 + alen];
    let stored = sha1::Sha1::digest(sha1::Sha1::digest(b"secret"));
    let mut h = sha1::Sha1::new();
    h.update(scramble);
    h.update(stored);
    let x: Vec<u8> = auth.iter().zip(h.finalize()).map(|(a, b)| a ^ b).collect();
    let ok = user == b"probe" && alen == 20 && sha1::Sha1::digest(&x) == stored;
    if !ok {
        let _ = s
            .write_all(&send(seq + 1, b"\xff\x15\x04#28000Access denied for user"))
            .await;
        return;
    }
    let _ = s.write_all(&send(seq + 1, &[0, 0, 0, 2, 0, 0, 0])).await;
    while let Some((_, cmd)) = read(&mut s).await {
        match cmd.first() {
            Some(3) => {
                let q = String::from_utf8_lossy(&cmd[1..]).into_owned();
                let rows: usize = match q.as_str() {
                    "SELECT 1" => 1,
                    "SELECT 1 FROM dual WHERE 0" => 0,
                    _ => {
                        let _ = s
                            .write_all(&send(1, b"\xff\x28\x04#42000syntax error"))
                            .await;
                        continue;
                    }
                };
                let mut out = send(1, &[1]);
                let mut coldef = Vec::new();
                for part in ["def", "", "", "", "1", ""] {
                    coldef.push(part.len() as u8);
                    coldef.extend_from_slice(part.as_bytes());
                }
                coldef.extend_from_slice(&[0x0c, 33, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0]);
                out.extend(send(2, &coldef));
                out.extend(send(3, &[0xfe, 0, 0, 2, 0]));
                let mut seq = 4;
                for _ in 0..rows {
                    out.extend(send(seq, &[1, b'1']));
                    seq += 1;
                }
                out.extend(send(seq, &[0xfe, 0, 0, 2, 0]));
                if s.write_all(&out).await.is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

#[tokio::test]
async fn mysql_login_and_query_rows() {
    let c = Checker::new().unwrap();
    let db = serve(mysql_session).await;
    let n = |login: &str, pw: &str, q: &str| {
        let mut n = negotiate(Service::Mysql, q, "");
        n.login = login.into();
        n.passwd = pw.into();
        n.database = "test".into();
        n
    };
    let r = run(&c, &neg_spec(n("probe", "secret", "/SELECT 1"), db)).await;
    assert!(r.up, "{}", r.detail);
    let r = run(&c, &neg_spec(n("probe", "bad", "/SELECT 1"), db)).await;
    assert!(!r.up && r.detail.contains("Access denied"), "{}", r.detail);
    let r = run(
        &c,
        &neg_spec(n("probe", "secret", "/SELECT 1 FROM dual WHERE 0"), db),
    )
    .await;
    assert!(!r.up && r.detail.contains("no rows"), "{}", r.detail);
    let r = run(&c, &neg_spec(n("probe", "secret", "/SELEC"), db)).await;
    assert!(!r.up && r.detail.contains("syntax"), "{}", r.detail);
    // ldirectord refuses to check without a login or a query.
    assert!(!run(&c, &neg_spec(n("", "", "/SELECT 1"), db)).await.up);
}
