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
            loop {
                let got = s.read_more(&mut buf).await?;
                // Judge each complete line as it arrives: ldirectord stops at
                // the first matching one without waiting for the close.
                let complete = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                let v =
                    judge_simpletcp(ctx.receive, if got == 0 { &buf } else { &buf[..complete] });
                if v.is_up() || got == 0 {
                    return Ok(v);
                }
            }
        }
        CheckProtocol::Udp => {
            let s = net::udp_connect(ctx.target).await?;
            s.send(&request).await?;
            let mut dgram = vec![0u8; 65536];
            loop {
                let got = s.recv(&mut dgram).await?;
                buf.extend_from_slice(dgram.get(..got).unwrap_or_default());
                let v = judge_simpletcp(ctx.receive, &buf);
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
