//! `dns`: ask the real for `request` (an A query, or PTR when the request
//! is an IP address, as Net::DNS's `search` does) over UDP, or TCP when the
//! virtual service is TCP; up when an A answer's address or a PTR answer's
//! name matches `receive`. Like ldirectord an empty `receive` never matches.

use std::net::IpAddr;

use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use ldirector::director::CheckProtocol;
use ldirector::negotiate::{perl_match, Verdict};
use regex::Regex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net;
use crate::{CheckError, CheckOut, Ctx};

pub(crate) fn query(request: &str, id: u16) -> Result<Vec<u8>, CheckError> {
    let text = request.strip_prefix('/').unwrap_or(request);
    let (name, qtype) = match text.parse::<IpAddr>() {
        Ok(ip) => (Name::from(ip), RecordType::PTR),
        Err(_) => {
            let mut n = Name::from_utf8(text)
                .map_err(|e| CheckError::Protocol(format!("DNS name {text:?}: {e}")))?;
            n.set_fqdn(true);
            (n, RecordType::A)
        }
    };
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(name, qtype));
    m.to_vec()
        .map_err(|e| CheckError::Protocol(format!("DNS query: {e}")))
}

pub(crate) fn judge(answer: &Message, receive: &Regex) -> Verdict {
    if receive.as_str().is_empty() {
        return Verdict::Down("Response mismatch (empty receive)".into());
    }
    for rr in answer.answers() {
        let text = match rr.data() {
            RData::A(a) => a.0.to_string(),
            RData::PTR(p) => p.0.to_utf8().trim_end_matches('.').to_string(),
            _ => continue,
        };
        if perl_match(receive, &text) {
            return Verdict::Up(text);
        }
    }
    Verdict::Down(format!(
        "Response mismatch ({}, {} answers)",
        answer.response_code(),
        answer.answers().len()
    ))
}

fn random_id() -> u16 {
    let mut b = [0u8; 2];
    // A fixed id only weakens spoofing resistance of a health check.
    let _ = getrandom::getrandom(&mut b);
    u16::from_be_bytes(b)
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Message, CheckError> {
    Message::from_vec(bytes).map_err(|e| CheckError::Protocol(format!("bad DNS reply: {e}")))
}

pub async fn check(ctx: &Ctx<'_>) -> CheckOut {
    let id = random_id();
    let q = query(&ctx.n.request, id)?;
    let answer = match ctx.protocol {
        CheckProtocol::Udp => {
            let a = over_udp(ctx, &q, id).await?;
            if a.truncated() {
                over_tcp(ctx, &q).await?
            } else {
                a
            }
        }
        CheckProtocol::Tcp => over_tcp(ctx, &q).await?,
    };
    if answer.id() != id {
        return Ok(Verdict::Down("DNS reply with another id".into()));
    }
    Ok(judge(&answer, ctx.receive))
}

async fn over_udp(ctx: &Ctx<'_>, q: &[u8], id: u16) -> Result<Message, CheckError> {
    let s = net::udp_connect(ctx.target).await?;
    s.send(q).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = s.recv(&mut buf).await?;
        // Stray datagrams (late replies to an earlier attempt) are skipped.
        if let Ok(m) = parse(buf.get(..n).unwrap_or_default()) {
            if m.id() == id && m.message_type() == MessageType::Response {
                return Ok(m);
            }
        }
    }
}

async fn over_tcp(ctx: &Ctx<'_>, q: &[u8]) -> Result<Message, CheckError> {
    let mut s = net::tcp(ctx.target).await?;
    let len = u16::try_from(q.len()).map_err(|_| CheckError::Protocol("query too long".into()))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(q);
    s.write_all(&framed).await?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut reply).await?;
    parse(&reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_a_or_ptr() {
        let q = Message::from_vec(&query("/www.example.com", 7).unwrap()).unwrap();
        assert_eq!(q.id(), 7);
        assert!(q.recursion_desired());
        let qq = &q.queries()[0];
        assert_eq!(qq.query_type(), RecordType::A);
        assert_eq!(qq.name().to_utf8(), "www.example.com.");
        let q = Message::from_vec(&query("/127.0.0.1", 8).unwrap()).unwrap();
        assert_eq!(q.queries()[0].query_type(), RecordType::PTR);
        assert_eq!(q.queries()[0].name().to_utf8(), "1.0.0.127.in-addr.arpa.");
    }
}
