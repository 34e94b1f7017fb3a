//! `ldap`/`ldaps`: what ldirectord does with Net::LDAP: a simple bind
//! (with `login`/`passwd` when both are set, else anonymous), then a
//! base-scope search of `request` (without its `/`) for `(objectClass=*)`;
//! up when exactly one entry comes back and its DN matches `receive`.
//!
//! Only the handful of LDAPv3 messages this needs are encoded here (BER,
//! definite lengths): a full LDAP client would be far more code than the
//! check.

use ldirector::config::Service;
use ldirector::negotiate::{perl_match, Verdict};
use tokio::io::AsyncWriteExt;

use crate::net::{self, Stream, MAX_RESPONSE};
use crate::{CheckError, CheckOut, Ctx};

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

fn int(tag: u8, v: u32) -> Vec<u8> {
    let mut c = v.to_be_bytes().to_vec();
    // Minimal two's complement: drop leading zero bytes that don't carry
    // the sign of the next one.
    while c.len() > 1 && c.first() == Some(&0) && c.get(1).is_some_and(|b| b & 0x80 == 0) {
        c.remove(0);
    }
    if c.first().is_some_and(|b| b & 0x80 != 0) {
        c.insert(0, 0);
    }
    tlv(tag, &c)
}

fn message(id: u32, op: Vec<u8>) -> Vec<u8> {
    let mut c = int(0x02, id);
    c.extend_from_slice(&op);
    tlv(0x30, &c)
}

pub(crate) fn bind_request(id: u32, dn: &str, password: &str) -> Vec<u8> {
    let mut c = int(0x02, 3);
    c.extend(tlv(0x04, dn.as_bytes()));
    c.extend(tlv(0x80, password.as_bytes()));
    message(id, tlv(0x60, &c))
}

pub(crate) fn search_request(id: u32, base: &str) -> Vec<u8> {
    let mut c = tlv(0x04, base.as_bytes());
    c.extend(int(0x0a, 0)); // scope: baseObject
    c.extend(int(0x0a, 2)); // derefAliases: derefFindingBaseObj (Net::LDAP's "find")
    c.extend(int(0x02, 0)); // sizeLimit
    c.extend(int(0x02, 0)); // timeLimit
    c.extend(tlv(0x01, &[0])); // typesOnly FALSE
    c.extend(tlv(0x87, b"objectClass")); // (objectClass=*)
    c.extend(tlv(0x30, &[])); // all attributes
    message(id, tlv(0x63, &c))
}

fn unbind_request(id: u32) -> Vec<u8> {
    message(id, tlv(0x42, &[]))
}

/// (tag, content, bytes used).
type Tlv<'a> = (u8, &'a [u8], usize);

/// The tag, content length and header length of the TLV at the start of
/// `b`; `None` if the header is incomplete, `Err` if malformed.
fn tlv_header(b: &[u8]) -> Result<Option<(u8, usize, usize)>, CheckError> {
    let (Some(&tag), Some(&l0)) = (b.first(), b.get(1)) else {
        return Ok(None);
    };
    if l0 < 0x80 {
        return Ok(Some((tag, usize::from(l0), 2)));
    }
    let n = usize::from(l0 & 0x7f);
    if n == 0 || n > 4 {
        return Err(CheckError::Protocol("malformed LDAP message".into()));
    }
    Ok(b.get(2..2 + n).map(|bytes| {
        let len = bytes.iter().fold(0usize, |a, x| (a << 8) | usize::from(*x));
        (tag, len, 2 + n)
    }))
}

/// One TLV at the start of `b`. `None` if incomplete; `Err` if malformed.
pub(crate) fn read_tlv(b: &[u8]) -> Result<Option<Tlv<'_>>, CheckError> {
    let Some((tag, len, head)) = tlv_header(b)? else {
        return Ok(None);
    };
    Ok(b.get(head..head.saturating_add(len))
        .map(|content| (tag, content, head + len)))
}

/// A response: (operation tag, operation content).
pub(crate) fn op_of(msg: &[u8]) -> Result<(u8, &[u8]), CheckError> {
    let bad = || CheckError::Protocol("malformed LDAP message".into());
    let (tag, content, _) = read_tlv(msg)?.ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (_, _, id_len) = read_tlv(content)?.ok_or_else(bad)?;
    let (op, op_content, _) =
        read_tlv(content.get(id_len..).unwrap_or_default())?.ok_or_else(bad)?;
    Ok((op, op_content))
}

/// resultCode of an LDAPResult, and its diagnostic message.
pub(crate) fn result_of(op_content: &[u8]) -> Result<(u32, String), CheckError> {
    let bad = || CheckError::Protocol("malformed LDAP result".into());
    let (_, code, used) = read_tlv(op_content)?.ok_or_else(bad)?;
    let code = code.iter().fold(0u32, |a, x| (a << 8) | u32::from(*x));
    let rest = op_content.get(used..).unwrap_or_default();
    let diag = read_tlv(rest)
        .ok()
        .flatten()
        .and_then(|(_, _, u)| read_tlv(rest.get(u..)?).ok().flatten())
        .map(|(_, m, _)| String::from_utf8_lossy(m).into_owned())
        .unwrap_or_default();
    Ok((code, diag))
}

struct Conn {
    s: Stream,
    buf: Vec<u8>,
}

impl Conn {
    async fn next_message(&mut self) -> Result<Vec<u8>, CheckError> {
        loop {
            if let Some((_, _, used)) = read_tlv(&self.buf)? {
                return Ok(self.buf.drain(..used).collect());
            }
            // Refuse at once what could never be read whole (`read_more`
            // stops at MAX_RESPONSE) rather than reading up to it first.
            if let Some((_, len, head)) = tlv_header(&self.buf)? {
                if len.saturating_add(head) > MAX_RESPONSE {
                    return Err(CheckError::Protocol(format!("LDAP message of {len} bytes")));
                }
            }
            if self.s.read_more(&mut self.buf).await? == 0 {
                return Err(CheckError::Protocol(
                    "LDAP server closed the connection".into(),
                ));
            }
        }
    }
}

pub async fn check(ctx: &Ctx<'_>) -> CheckOut {
    let tcp = net::tcp(ctx.target).await?;
    let s = if ctx.n.service == Service::Ldaps {
        ctx.tls.wrap(tcp, &ctx.target.ip().to_string()).await?
    } else {
        Stream::Plain(tcp)
    };
    let mut c = Conn { s, buf: Vec::new() };
    let n = ctx.n;
    let (dn, pw) = if !n.login.is_empty() && !n.passwd.is_empty() {
        (n.login.as_str(), n.passwd.as_str())
    } else {
        ("", "")
    };
    c.s.write_all(&bind_request(1, dn, pw)).await?;
    loop {
        let m = c.next_message().await?;
        let (op, content) = op_of(&m)?;
        if op == 0x61 {
            let (code, diag) = result_of(content)?;
            if code != 0 {
                return Ok(Verdict::Down(format!("Bind failed ({code} {diag})")));
            }
            break;
        }
    }
    let base = n.request.strip_prefix('/').unwrap_or(&n.request);
    c.s.write_all(&search_request(2, base)).await?;
    let mut dns = Vec::new();
    loop {
        let m = c.next_message().await?;
        let (op, content) = op_of(&m)?;
        match op {
            0x64 => {
                let dn = read_tlv(content)?
                    .map(|(_, d, _)| String::from_utf8_lossy(d).into_owned())
                    .unwrap_or_default();
                dns.push(dn);
            }
            0x65 => break,
            _ => {}
        }
    }
    let _ = c.s.write_all(&unbind_request(3)).await;
    let [dn] = dns.as_slice() else {
        return Ok(Verdict::Down(format!(
            "No answer received ({} entries)",
            dns.len()
        )));
    };
    if ctx.receive.as_str().is_empty() || perl_match(ctx.receive, dn) {
        Ok(Verdict::Up(dn.clone()))
    } else {
        Ok(Verdict::Down(format!("Response mismatch ({dn})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_message_announcing_more_than_a_response_may_hold_is_refused_at_once() {
        let (s, server) = net::serve_one(|mut s| async move {
            // A SEQUENCE of 2 GiB, then silence (the connection stays open).
            s.write_all(b"\x30\x84\x80\0\0\0\x02\x01").await.unwrap();
            let mut rest = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut s, &mut rest).await;
        })
        .await;
        let mut c = Conn { s, buf: Vec::new() };
        let err = c.next_message().await.unwrap_err();
        assert!(err.to_string().contains("2147483648 bytes"), "{err}");
        drop(c);
        server.await.unwrap();
    }

    #[test]
    fn lengths_of_any_size_are_incomplete_or_malformed() {
        assert!(matches!(read_tlv(b"\x30\x84\xff\xff\xff\xff\0"), Ok(None)));
        assert!(read_tlv(b"\x30\x85\xff\xff\xff\xff\xff").is_err());
        assert!(read_tlv(b"\x30\x80").is_err());
        assert!(matches!(read_tlv(b"\x30\x82\0"), Ok(None)));
        assert!(matches!(read_tlv(b"\x04\x01ab"), Ok(Some((4, b"a", 3)))));
    }

    #[test]
    fn encodes_like_the_rfc_examples() {
        // Anonymous simple bind, message 1.
        assert_eq!(
            bind_request(1, "", ""),
            vec![
                0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00
            ]
        );
        assert_eq!(int(0x02, 128), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(int(0x02, 0x1234), vec![0x02, 0x02, 0x12, 0x34]);
        assert_eq!(int(0x02, 0), vec![0x02, 0x01, 0x00]);
        assert_eq!(int(0x02, 0x8000_0000), vec![0x02, 0x05, 0, 0x80, 0, 0, 0]);
        let long = tlv(0x04, &[b'x'; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(read_tlv(&long).unwrap().unwrap().2, 304);
        assert!(read_tlv(&long[..100]).unwrap().is_none());
        let s = search_request(2, "dc=example,dc=com");
        let (tag, _, used) = read_tlv(&s).unwrap().unwrap();
        assert_eq!((tag, used), (0x30, s.len()));
        let (op, _) = op_of(&s).unwrap();
        assert_eq!(op, 0x63);
    }
}
