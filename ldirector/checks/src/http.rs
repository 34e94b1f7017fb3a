//! http, https and http_proxy: the request and verdict come from
//! [`ldirector::negotiate::http`]; this drives the connections, TLS and
//! redirects.

use ldirector::negotiate::http::{http_request, judge_http, redirect_request, HttpProgress};
use ldirector::negotiate::Verdict;
use tokio::io::AsyncWriteExt;

use crate::net::{self, Stream};
use crate::{CheckOut, Ctx};

/// LWP::UserAgent's default `max_redirect`.
const MAX_REDIRECTS: usize = 7;

pub async fn check(ctx: &Ctx<'_>) -> CheckOut {
    let mut req = http_request(ctx.n, ctx.target.ip(), ctx.target.port())?;
    for _ in 0..=MAX_REDIRECTS {
        // The first hop goes to the real itself (its address is in the URL);
        // only redirects can name other hosts.
        let to = net::resolve(&req.connect_host, req.connect_port).await?;
        let tcp = net::tcp(to).await?;
        let mut s = if req.tls {
            ctx.tls.wrap(tcp, &req.url.host).await?
        } else {
            Stream::Plain(tcp)
        };
        s.write_all(&req.bytes).await?;
        s.flush().await?;
        let mut buf = Vec::new();
        let progress = loop {
            // A TLS peer that closes without close_notify is still an end of
            // the response (many servers do), so a read error after some
            // bytes counts as EOF when judging.
            let eof = match s.read_more(&mut buf).await {
                Ok(n) => n == 0,
                Err(e) if !buf.is_empty() => {
                    tracing::debug!(target: "ld_checks", error = %e, "read error taken as end of response");
                    true
                }
                Err(e) => return Err(e.into()),
            };
            match judge_http(ctx.n.httpmethod, ctx.receive, &buf, eof) {
                HttpProgress::Incomplete if !eof => continue,
                HttpProgress::Incomplete => {
                    break HttpProgress::Done(Verdict::Down("incomplete response".into()))
                }
                p => break p,
            }
        };
        match progress {
            HttpProgress::Done(v) => return Ok(v),
            HttpProgress::Redirect(location) => req = redirect_request(&req, &location)?,
            HttpProgress::Incomplete => {}
        }
    }
    Ok(Verdict::Down(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}
