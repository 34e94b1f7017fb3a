//! `mysql`: log in like DBD::mysql (`database`, `login`, `passwd`), run
//! `request` as a query, up when it returns at least one row.
//!
//! The client side of the MySQL protocol that this needs: the v10
//! handshake, TLS when the server offers it (libmysqlclient's default
//! `ssl-mode=PREFERRED`), mysql_native_password and caching_sha2_password
//! (fast path; full authentication over TLS), COM_QUERY and counting rows.

use ldirector::negotiate::Verdict;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::net::{self, Stream};
use crate::{CheckError, CheckOut, Ctx};

const CLIENT_LONG_PASSWORD: u32 = 0x1;
const CLIENT_LONG_FLAG: u32 = 0x4;
const CLIENT_CONNECT_WITH_DB: u32 = 0x8;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_SSL: u32 = 0x800;
const CLIENT_TRANSACTIONS: u32 = 0x2000;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x80000;
const MAX_PACKET: u32 = 16 << 20;
/// utf8mb4_general_ci
const CHARSET: u8 = 45;

fn proto(msg: impl Into<String>) -> CheckError {
    CheckError::Protocol(msg.into())
}

/// The server's first packet.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Greeting {
    pub version: String,
    pub caps: u32,
    pub scramble: Vec<u8>,
    pub plugin: String,
}

fn cstr(b: &[u8]) -> (&[u8], &[u8]) {
    match b.iter().position(|x| *x == 0) {
        Some(i) => (
            b.get(..i).unwrap_or_default(),
            b.get(i + 1..).unwrap_or_default(),
        ),
        None => (b, &[]),
    }
}

pub(crate) fn parse_greeting(p: &[u8]) -> Result<Greeting, CheckError> {
    match p.first() {
        Some(10) => {}
        Some(0xff) => return Err(proto(format!("server refused: {}", err_text(p)))),
        _ => return Err(proto("not a MySQL v10 handshake")),
    }
    let (version, rest) = cstr(p.get(1..).unwrap_or_default());
    let short = || proto("short MySQL handshake");
    let part1 = rest.get(4..12).ok_or_else(short)?;
    let cap_lo = rest.get(13..15).ok_or_else(short)?;
    let mut caps = u32::from(u16::from_le_bytes([cap_lo[0], cap_lo[1]]));
    let mut scramble = part1.to_vec();
    let mut plugin = String::from("mysql_native_password");
    if let (Some(cap_hi), Some(&auth_len)) = (rest.get(18..20), rest.get(20)) {
        caps |= u32::from(u16::from_le_bytes([cap_hi[0], cap_hi[1]])) << 16;
        let after = rest.get(31..).unwrap_or_default();
        let mut tail = after;
        if caps & CLIENT_SECURE_CONNECTION != 0 {
            let len = (usize::from(auth_len).saturating_sub(8)).max(13);
            let part2 = after.get(..len).ok_or_else(short)?;
            // The last byte is a NUL terminator, not scramble.
            scramble.extend_from_slice(part2.get(..len - 1).unwrap_or_default());
            tail = after.get(len..).unwrap_or_default();
        }
        if caps & CLIENT_PLUGIN_AUTH != 0 {
            let (name, _) = cstr(tail);
            if !name.is_empty() {
                plugin = String::from_utf8_lossy(name).into_owned();
            }
        }
    }
    Ok(Greeting {
        version: String::from_utf8_lossy(version).into_owned(),
        caps,
        scramble,
        plugin,
    })
}

pub(crate) fn err_text(p: &[u8]) -> String {
    // 0xff, code (2), then `#` + SQLSTATE (5) with protocol 4.1, then text.
    let code = p
        .get(1..3)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .unwrap_or(0);
    let rest = p.get(3..).unwrap_or_default();
    let msg = if rest.first() == Some(&b'#') {
        rest.get(6..).unwrap_or_default()
    } else {
        rest
    };
    format!("{code} {}", String::from_utf8_lossy(msg))
}

/// SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))).
pub(crate) fn native_password(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let h1 = Sha1::digest(password);
    let h2 = Sha1::digest(h1);
    let mut h = Sha1::new();
    h.update(scramble.get(..20).unwrap_or(scramble));
    h.update(h2);
    h1.iter().zip(h.finalize()).map(|(a, b)| a ^ b).collect()
}

/// SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble).
pub(crate) fn caching_sha2(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let h1 = Sha256::digest(password);
    let h2 = Sha256::digest(h1);
    let mut h = Sha256::new();
    h.update(h2);
    h.update(scramble.get(..20).unwrap_or(scramble));
    h1.iter().zip(h.finalize()).map(|(a, b)| a ^ b).collect()
}

struct Conn {
    s: Stream,
    buf: Vec<u8>,
    seq: u8,
}

impl Conn {
    async fn read(&mut self) -> Result<Vec<u8>, CheckError> {
        loop {
            if let Some((seq, p)) = take_packet(&mut self.buf) {
                self.seq = seq.wrapping_add(1);
                return Ok(p);
            }
            if self.s.read_more(&mut self.buf).await? == 0 {
                return Err(proto("MySQL server closed the connection"));
            }
        }
    }

    async fn write(&mut self, payload: &[u8]) -> Result<(), CheckError> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|l| *l < 1 << 24)
            .ok_or_else(|| proto("MySQL packet too long"))?;
        let mut p = len.to_le_bytes()[..3].to_vec();
        p.push(self.seq);
        p.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        self.s.write_all(&p).await?;
        Ok(())
    }
}

/// The next whole packet at the start of `buf` (its sequence number and
/// payload), removed from it. A packet's 3-byte length is at most 16 MiB;
/// `read_more` stops filling `buf` at `MAX_RESPONSE` before that.
pub(crate) fn take_packet(buf: &mut Vec<u8>) -> Option<(u8, Vec<u8>)> {
    let &[l0, l1, l2, seq] = buf.get(..4)? else {
        return None;
    };
    let len = usize::from(l0) | usize::from(l1) << 8 | usize::from(l2) << 16;
    let p = buf.get(4..4 + len)?.to_vec();
    buf.drain(..4 + len);
    Some((seq, p))
}

pub(crate) fn lenenc(p: &[u8]) -> Option<(u64, usize)> {
    match *p.first()? {
        x @ 0..=0xfa => Some((u64::from(x), 1)),
        0xfc => Some((u64::from(u16::from_le_bytes([*p.get(1)?, *p.get(2)?])), 3)),
        0xfd => Some((
            u64::from(u32::from_le_bytes([*p.get(1)?, *p.get(2)?, *p.get(3)?, 0])),
            4,
        )),
        0xfe => {
            let b: [u8; 8] = p.get(1..9)?.try_into().ok()?;
            Some((u64::from_le_bytes(b), 9))
        }
        _ => None,
    }
}

fn is_eof(p: &[u8]) -> bool {
    p.first() == Some(&0xfe) && p.len() < 9
}

pub async fn check(ctx: &Ctx<'_>) -> CheckOut {
    let n = ctx.n;
    let query = n.request.strip_prefix('/').unwrap_or(&n.request);
    if n.login.is_empty() || query.is_empty() {
        return Ok(Verdict::Down("mysql checks need login and request".into()));
    }
    let mut c = Conn {
        s: Stream::Plain(net::tcp(ctx.target).await?),
        buf: Vec::new(),
        seq: 0,
    };
    let g = parse_greeting(&c.read().await?)?;
    let mut caps = CLIENT_LONG_PASSWORD
        | CLIENT_LONG_FLAG
        | CLIENT_PROTOCOL_41
        | CLIENT_TRANSACTIONS
        | CLIENT_SECURE_CONNECTION
        | CLIENT_PLUGIN_AUTH;
    if !n.database.is_empty() {
        caps |= CLIENT_CONNECT_WITH_DB;
    }
    let mut head = Vec::with_capacity(32);
    let tls = g.caps & CLIENT_SSL != 0;
    if tls {
        caps |= CLIENT_SSL;
        head.extend_from_slice(&caps.to_le_bytes());
        head.extend_from_slice(&MAX_PACKET.to_le_bytes());
        head.push(CHARSET);
        head.extend_from_slice(&[0; 23]);
        c.write(&head).await?;
        let Stream::Plain(tcp) = c.s else {
            return Err(proto("TLS twice"));
        };
        c.s = ctx.tls.wrap(tcp, &ctx.target.ip().to_string()).await?;
        head.clear();
    }
    head.extend_from_slice(&caps.to_le_bytes());
    head.extend_from_slice(&MAX_PACKET.to_le_bytes());
    head.push(CHARSET);
    head.extend_from_slice(&[0; 23]);
    let mut plugin = g.plugin.clone();
    let auth = match plugin.as_str() {
        "caching_sha2_password" => caching_sha2(n.passwd.as_bytes(), &g.scramble),
        _ => {
            plugin = "mysql_native_password".into();
            native_password(n.passwd.as_bytes(), &g.scramble)
        }
    };
    let mut resp = head;
    resp.extend_from_slice(n.login.as_bytes());
    resp.push(0);
    resp.push(auth.len() as u8);
    resp.extend_from_slice(&auth);
    if !n.database.is_empty() {
        resp.extend_from_slice(n.database.as_bytes());
        resp.push(0);
    }
    resp.extend_from_slice(plugin.as_bytes());
    resp.push(0);
    c.write(&resp).await?;

    loop {
        let p = c.read().await?;
        match p.first() {
            Some(0x00) => break,
            Some(0xff) => return Ok(Verdict::Down(format!("login failed: {}", err_text(&p)))),
            Some(0xfe) => {
                // AuthSwitchRequest: another plugin, a new scramble.
                let (name, data) = cstr(p.get(1..).unwrap_or_default());
                let data = data.strip_suffix(&[0]).unwrap_or(data);
                plugin = String::from_utf8_lossy(name).into_owned();
                let answer = match plugin.as_str() {
                    "mysql_native_password" => native_password(n.passwd.as_bytes(), data),
                    "caching_sha2_password" => caching_sha2(n.passwd.as_bytes(), data),
                    "mysql_clear_password" if tls => {
                        let mut pw = n.passwd.as_bytes().to_vec();
                        pw.push(0);
                        pw
                    }
                    other => {
                        return Ok(Verdict::Down(format!(
                            "unsupported MySQL auth plugin {other}"
                        )))
                    }
                };
                c.write(&answer).await?;
            }
            Some(0x01) => match p.get(1) {
                // caching_sha2_password: 3 = fast auth ok (OK follows),
                // 4 = full authentication: the password itself, only over TLS.
                Some(3) => {}
                Some(4) if tls => {
                    let mut pw = n.passwd.as_bytes().to_vec();
                    pw.push(0);
                    c.write(&pw).await?;
                }
                Some(4) => return Ok(Verdict::Down(
                    "caching_sha2_password needs full authentication and the server offers no TLS"
                        .into(),
                )),
                _ => return Err(proto("unexpected MySQL auth data")),
            },
            _ => return Err(proto("unexpected MySQL auth reply")),
        }
    }

    c.seq = 0;
    let mut q = vec![0x03];
    q.extend_from_slice(query.as_bytes());
    c.write(&q).await?;
    let first = c.read().await?;
    let rows = match first.first() {
        Some(0xff) => return Ok(Verdict::Down(format!("query failed: {}", err_text(&first)))),
        // Not a result set: DBI's rows() is the affected-row count.
        Some(0x00) => lenenc(first.get(1..).unwrap_or_default()).map_or(0, |(v, _)| v),
        _ => {
            let mut eofs = 0;
            let mut rows = 0u64;
            while eofs < 2 {
                let p = c.read().await?;
                if p.first() == Some(&0xff) {
                    return Ok(Verdict::Down(format!("query failed: {}", err_text(&p))));
                }
                if is_eof(&p) {
                    eofs += 1;
                } else if eofs == 1 {
                    rows += 1;
                }
            }
            rows
        }
    };
    c.seq = 0;
    let _ = c.write(&[0x01]).await;
    Ok(if rows > 0 {
        Verdict::Up(format!("{rows} rows"))
    } else {
        Verdict::Down("query returned no rows".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_split_off_the_buffer_and_partial_ones_wait() {
        let mut buf = b"\x01\0\0\x07A\0\0\0\x08\xff\xff\xff\x09xy".to_vec();
        assert_eq!(take_packet(&mut buf), Some((7, b"A".to_vec())));
        assert_eq!(take_packet(&mut buf), Some((8, Vec::new())));
        // 16 MiB announced, two bytes there.
        assert_eq!(take_packet(&mut buf), None);
        assert_eq!(buf.len(), 6);
        assert_eq!(take_packet(&mut b"\x01\0".to_vec()), None);
    }

    #[test]
    fn greeting_and_scrambles() {
        // A MySQL 8 style greeting.
        let mut p = vec![10];
        p.extend_from_slice(b"8.0.36\0");
        p.extend_from_slice(&[1, 0, 0, 0]);
        p.extend_from_slice(b"abcdefgh");
        p.push(0);
        p.extend_from_slice(&0xffffu16.to_le_bytes());
        p.push(45);
        p.extend_from_slice(&[2, 0]);
        p.extend_from_slice(&0x000fu16.to_le_bytes()); // PLUGIN_AUTH among the upper caps
        p.push(21);
        p.extend_from_slice(&[0; 10]);
        p.extend_from_slice(b"ijklmnopqrst\0");
        p.extend_from_slice(b"caching_sha2_password\0");
        let g = parse_greeting(&p).unwrap();
        assert_eq!(g.version, "8.0.36");
        assert_eq!(g.scramble, b"abcdefghijklmnopqrst");
        assert_eq!(g.plugin, "caching_sha2_password");
        assert!(g.caps & CLIENT_SSL != 0);
        assert!(parse_greeting(&p[..10]).is_err());
        assert!(parse_greeting(b"\xff\x15\x04#28000Access denied").is_err());

        assert!(native_password(b"", &g.scramble).is_empty());
        let a = native_password(b"secret", &g.scramble);
        assert_eq!(a.len(), 20);
        // What a server checks: SHA1(scramble + stored) XOR answer = SHA1(pw),
        // whose SHA1 is the stored hash.
        let stored = Sha1::digest(Sha1::digest(b"secret"));
        let mut h = Sha1::new();
        h.update(&g.scramble);
        h.update(stored);
        let x: Vec<u8> = a.iter().zip(h.finalize()).map(|(a, b)| a ^ b).collect();
        assert_eq!(Sha1::digest(&x), stored);
        assert_eq!(caching_sha2(b"secret", &g.scramble).len(), 32);
        assert_eq!(lenenc(&[0xfc, 0x01, 0x02]), Some((0x0201, 3)));
        assert_eq!(lenenc(&[0xfb]), None);
    }
}
