//! The line-oriented checks: smtp/submission, pop(s), imap(s) (the
//! [`Dialog`] of the core), nntp, simpletcp and sip.

use ldirector::config::Service;
use ldirector::director::CheckProtocol;
use ldirector::negotiate::{
    judge_nntp, judge_simpletcp, judge_sip, simpletcp_request, sip_request, Dialog, DialogStep,
    Verdict,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::{self, Stream, MAX_RESPONSE};
use crate::{CheckError, CheckOut, Ctx};

/// Net::SMTP's default `Hello` domain.
const SMTP_HELLO: &str = "localhost.localdomain";

pub async fn dialog(ctx: &Ctx<'_>) -> CheckOut {
    let n = ctx.n;
    let mut d = Dialog::new(n.service, &n.login, &n.passwd, SMTP_HELLO)?;
    let tcp = net::tcp(ctx.target).await?;
    let mut s = match n.service {
        Service::Pops | Service::Imaps => ctx.tls.wrap(tcp, &ctx.target.ip().to_string()).await?,
        _ => Stream::Plain(tcp),
    };
    let mut step = d.on_data(&[]);
    let mut chunk = vec![0u8; 4096];
    let mut total = 0usize;
    loop {
        step = match step {
            DialogStep::Send(bytes) => {
                s.write_all(&bytes).await?;
                d.on_data(&[])
            }
            DialogStep::Wait => {
                let got = s.read(&mut chunk).await?;
                total += got;
                if got == 0 || total > MAX_RESPONSE {
                    return Ok(Verdict::Down("connection closed by server".into()));
                }
                d.on_data(chunk.get(..got).unwrap_or_default())
            }
            DialogStep::Done { verdict, quit } => {
                if verdict.is_up() {
                    // Polite QUIT/LOGOUT; the verdict does not depend on it.
                    let _ = s.write_all(&quit).await;
                    let _ = s.shutdown().await;
                }
                return Ok(verdict);
            }
        };
    }
}

/// `check_nntp`: the first read of at most 64 bytes.
pub async fn nntp(ctx: &Ctx<'_>) -> CheckOut {
    let mut s = net::tcp(ctx.target).await?;
    let mut banner = [0u8; 64];
    let n = s.read(&mut banner).await?;
    Ok(judge_nntp(banner.get(..n).unwrap_or_default()))
}

/// `check_simpletcp`: send, half-close, then look for a line matching
/// `receive` until the server closes.
pub async fn simpletcp(ctx: &Ctx<'_>) -> CheckOut {
    let request = simpletcp_request(&ctx.n.request);
    let mut buf = Vec::new();
    match ctx.protocol {
        CheckProtocol::Tcp => {
            let mut s = Stream::Plain(net::tcp(ctx.target).await?);
            s.write_all(&request).await?;
            s.shutdown().await?;
            let mut lines = NewLines::default();
            loop {
                let got = s.read_more(&mut buf).await?;
                // Judge each complete line as it arrives: ldirectord stops at
                // the first matching one without waiting for the close.
                let v = judge_simpletcp(ctx.receive, lines.next(&buf, got == 0));
                if v.is_up() || got == 0 {
                    return Ok(v);
                }
            }
        }
        CheckProtocol::Udp => {
            let s = net::udp_connect(ctx.target).await?;
            s.send(&request).await?;
            let mut dgram = vec![0u8; 65536];
            let mut lines = NewLines::default();
            loop {
                let got = s.recv(&mut dgram).await?;
                buf.extend_from_slice(dgram.get(..got).unwrap_or_default());
                // A datagram ends what it carries even without a newline.
                let v = judge_simpletcp(ctx.receive, lines.next(&buf, true));
                if v.is_up() {
                    return Ok(v);
                }
                if buf.len() > MAX_RESPONSE {
                    return Ok(v);
                }
            }
        }
    }
}

/// The part of a growing response not judged yet. Judging only that keeps
/// a check linear in what the server sends (up to `MAX_RESPONSE`), where
/// judging the whole buffer after each read would be quadratic.
#[derive(Default)]
struct NewLines {
    judged: usize,
}

impl NewLines {
    /// The complete lines that arrived since the last call, and at `end`
    /// (the server closed, or a datagram ended) the unterminated rest too.
    /// An unterminated line judged at a datagram's end is judged again with
    /// what follows it, as a line of the whole response would be.
    fn next<'a>(&mut self, buf: &'a [u8], end: bool) -> &'a [u8] {
        let new = buf.get(self.judged..).unwrap_or_default();
        let complete = new.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let part = if end {
            new
        } else {
            new.get(..complete).unwrap_or_default()
        };
        self.judged += complete;
        part
    }
}

/// `check_sip`: OPTIONS, up when the status line is `SIP/2.0 200 OK`.
pub async fn sip(ctx: &Ctx<'_>) -> CheckOut {
    let call_id = call_id()?;
    match ctx.protocol {
        CheckProtocol::Tcp => {
            let mut s = Stream::Plain(net::tcp(ctx.target).await?);
            let req = sip_request(&ctx.n.login, s.local_addr()?, &call_id);
            s.write_all(&req).await?;
            let mut buf = Vec::new();
            loop {
                let got = s.read_more(&mut buf).await?;
                if let Some(v) = judge_sip(&buf) {
                    return Ok(v);
                }
                if got == 0 {
                    return Ok(Verdict::Down("No OK".into()));
                }
            }
        }
        CheckProtocol::Udp => {
            let s = net::udp_connect(ctx.target).await?;
            let req = sip_request(&ctx.n.login, s.local_addr()?, &call_id);
            s.send(&req).await?;
            let mut dgram = vec![0u8; 65536];
            let got = s.recv(&mut dgram).await?;
            let mut reply = dgram.get(..got).unwrap_or_default().to_vec();
            // A datagram is a whole message; let an unterminated status
            // line still be judged.
            reply.push(b'\n');
            Ok(judge_sip(&reply).unwrap_or_else(|| Verdict::Down("No OK".into())))
        }
    }
}

fn call_id() -> Result<String, CheckError> {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).map_err(|e| CheckError::Protocol(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::NewLines;

    #[test]
    fn each_line_is_judged_once_and_partial_ones_wait() {
        let mut l = NewLines::default();
        let mut buf = b"one\ntw".to_vec();
        assert_eq!(l.next(&buf, false), b"one\n");
        buf.extend_from_slice(b"o\nthr");
        assert_eq!(l.next(&buf, false), b"two\n");
        assert_eq!(l.next(&buf, false), b"");
        // At the end the rest counts; a datagram's end does not consume it.
        assert_eq!(l.next(&buf, true), b"thr");
        buf.extend_from_slice(b"ee");
        assert_eq!(l.next(&buf, true), b"three");
    }
}
