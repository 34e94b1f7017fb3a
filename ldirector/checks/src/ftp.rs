//! `ftp`: what ldirectord does with Net::FTP: log in (anonymous when no
//! login), `CWD /`, `TYPE I`, passive mode, `RETR request`; up when the
//! file's content matches `receive`.
//!
//! The data connection goes to the real's own address with the port from
//! the PASV reply (never to an address the server names: a health check
//! must not be steerable elsewhere, and NAT'd servers report the wrong one).

use std::net::SocketAddr;

use ldirector::negotiate::{perl_match, Verdict, MAX_REPLY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::{self, Stream, MAX_RESPONSE};
use crate::{CheckError, CheckOut, Ctx};

/// A complete FTP reply at the start of `buf`: (code, last line, bytes used).
/// Multi-line replies (`123-` … `123 `) are returned whole.
pub(crate) fn parse_reply(buf: &[u8]) -> Option<(u16, String, usize)> {
    let mut used = 0;
    let mut first_code: Option<&[u8]> = None;
    loop {
        let rest = buf.get(used..)?;
        let end = rest.iter().position(|b| *b == b'\n')?;
        let line = rest.get(..end)?;
        used += end + 1;
        let code = line.get(..3);
        let sep = line.get(3).copied();
        match first_code {
            None => {
                let code = code.filter(|c| c.iter().all(u8::is_ascii_digit))?;
                if sep == Some(b'-') {
                    first_code = Some(code);
                    continue;
                }
                return Some((parse_code(code), text(line), used));
            }
            Some(fc) if code == Some(fc) && sep != Some(b'-') => {
                return Some((parse_code(fc), text(line), used));
            }
            Some(_) => continue,
        }
    }
}

fn parse_code(c: &[u8]) -> u16 {
    c.iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d.saturating_sub(b'0')))
}

fn text(line: &[u8]) -> String {
    String::from_utf8_lossy(line).trim_end().to_string()
}

/// Port from `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`.
pub(crate) fn pasv_port(reply: &str) -> Option<u16> {
    // Past the reply code.
    let inner = reply.get(4..)?;
    let nums: Vec<u16> = inner
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(6)
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    match nums.as_slice() {
        [_, _, _, _, p1, p2] if *p1 < 256 && *p2 < 256 => Some(p1 * 256 + p2),
        _ => None,
    }
}

/// Port from `229 Entering Extended Passive Mode (|||port|)`.
pub(crate) fn epsv_port(reply: &str) -> Option<u16> {
    let open = reply.find('(')?;
    let inner = reply.get(open + 1..)?;
    let delim = inner.chars().next()?;
    inner.split(delim).nth(3)?.parse().ok()
}

struct Control {
    s: Stream,
    buf: Vec<u8>,
}

impl Control {
    async fn reply(&mut self) -> Result<(u16, String), CheckError> {
        loop {
            if let Some((code, line, used)) = parse_reply(&self.buf) {
                self.buf.drain(..used);
                return Ok((code, line));
            }
            // Each read rescans the reply from its start: the cap keeps that
            // cheap (and the buffer small) against an endless reply.
            if self.buf.len() > MAX_REPLY {
                return Err(CheckError::Protocol(format!(
                    "FTP reply longer than {MAX_REPLY} bytes"
                )));
            }
            if self.s.read_more(&mut self.buf).await? == 0 {
                return Err(CheckError::Protocol("FTP control connection closed".into()));
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> Result<(u16, String), CheckError> {
        self.s.write_all(format!("{line}\r\n").as_bytes()).await?;
        self.reply().await
    }
}

pub async fn check(ctx: &Ctx<'_>) -> CheckOut {
    let mut c = Control {
        s: Stream::Plain(net::tcp(ctx.target).await?),
        buf: Vec::new(),
    };
    let (code, line) = c.reply().await?;
    if code / 100 != 2 {
        return Ok(Verdict::Down(line));
    }
    let n = ctx.n;
    // Net::FTP's anonymous defaults.
    let (user, pass) = if n.login.is_empty() {
        (
            "anonymous",
            if n.passwd.is_empty() {
                "-anonymous@"
            } else {
                &n.passwd
            },
        )
    } else {
        (n.login.as_str(), n.passwd.as_str())
    };
    let (mut code, mut line) = c.cmd(&format!("USER {user}")).await?;
    if code / 100 == 3 {
        (code, line) = c.cmd(&format!("PASS {pass}")).await?;
    }
    if code / 100 != 2 {
        return Ok(Verdict::Down(format!("login failed: {line}")));
    }
    c.cmd("CWD /").await?;
    c.cmd("TYPE I").await?;
    let data_port = if ctx.target.is_ipv6() {
        let (code, line) = c.cmd("EPSV").await?;
        (code == 229).then(|| epsv_port(&line)).flatten()
    } else {
        let (code, line) = c.cmd("PASV").await?;
        (code == 227).then(|| pasv_port(&line)).flatten()
    };
    let Some(data_port) = data_port else {
        return Ok(Verdict::Down("passive mode refused".into()));
    };
    let mut data = net::tcp(SocketAddr::new(ctx.target.ip(), data_port)).await?;
    let (code, line) = c.cmd(&format!("RETR {}", n.request)).await?;
    if code / 100 != 1 {
        return Ok(Verdict::Down(format!("RETR {}: {line}", n.request)));
    }
    let mut content = Vec::new();
    let mut chunk = [0u8; 8192];
    while content.len() < MAX_RESPONSE {
        let got = data.read(&mut chunk).await?;
        if got == 0 {
            break;
        }
        content.extend_from_slice(chunk.get(..got).unwrap_or_default());
    }
    drop(data);
    // The transfer's final reply; the content decides either way.
    let _ = c.reply().await;
    let _ = c.s.write_all(b"QUIT\r\n").await;
    let text = String::from_utf8_lossy(&content);
    Ok(if perl_match(ctx.receive, &text) {
        Verdict::Up(format!("{} bytes", content.len()))
    } else {
        Verdict::Down("receive string not found".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(
            parse_reply(b"220 ready\r\nx"),
            Some((220, "220 ready".into(), 11))
        );
        let multi = b"230-Welcome\r\n  more\r\n230 Login ok\r\n";
        assert_eq!(
            parse_reply(multi),
            Some((230, "230 Login ok".into(), multi.len()))
        );
        assert_eq!(parse_reply(b"230-Welcome\r\n"), None);
        assert_eq!(parse_reply(b"22"), None);
        assert_eq!(parse_reply(b"hello\r\n"), None);
    }

    #[tokio::test]
    async fn an_endless_reply_is_refused_at_the_cap() {
        let (s, server) = net::serve_one(|mut s| async move {
            // Continuation lines for ever (until the client hangs up).
            while s.write_all(b"220-still greeting you\r\n").await.is_ok() {}
        })
        .await;
        let mut c = Control { s, buf: Vec::new() };
        let err = c.reply().await.unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
        assert!(c.buf.len() <= MAX_REPLY + 8192);
        drop(c);
        server.await.unwrap();
    }

    #[test]
    fn passive_ports() {
        assert_eq!(
            pasv_port("227 Entering Passive Mode (127,0,0,1,195,80)."),
            Some(195 * 256 + 80)
        );
        assert_eq!(
            pasv_port("227 Entering Passive Mode 127,0,0,1,4,1"),
            Some(1025)
        );
        assert_eq!(pasv_port("227 nope"), None);
        assert_eq!(pasv_port("227 (1,2,3,4,999,1)"), None);
        assert_eq!(
            epsv_port("229 Entering Extended Passive Mode (|||6446|)"),
            Some(6446)
        );
        assert_eq!(epsv_port("229 ()"), None);
    }
}
