//! `pgsql`: log in like DBD::Pg (`dbname=database`, `login`, `passwd`),
//! run `request` with the simple query protocol, up when it returns at least
//! one row. TLS is used when the server accepts it (libpq's default
//! `sslmode=prefer`); password, md5 and SCRAM-SHA-256 authentication come
//! from `postgres-protocol`.

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use ldirector::negotiate::Verdict;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::backend::{ErrorResponseBody, Message};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::{self, Stream, MAX_RESPONSE};
use crate::{CheckError, CheckOut, Ctx};

fn proto(msg: impl Into<String>) -> CheckError {
    CheckError::Protocol(msg.into())
}

fn error_text(body: &ErrorResponseBody) -> String {
    let mut fields = body.fields();
    let mut code = String::new();
    let mut message = String::new();
    while let Ok(Some(f)) = fields.next() {
        match f.type_() {
            b'C' => code = String::from_utf8_lossy(f.value_bytes()).into_owned(),
            b'M' => message = String::from_utf8_lossy(f.value_bytes()).into_owned(),
            _ => {}
        }
    }
    format!("{code} {message}")
}

/// The next backend message in `buf`, `None` while incomplete. The length
/// in the header is checked first: `Message::parse` reserves room for the
/// announced length, so a five-byte header claiming 4 GiB would allocate
/// that much before a byte of it arrived. No message we wait for is larger
/// than a whole response may be.
pub(crate) fn parse_message(buf: &mut BytesMut) -> Result<Option<Message>, CheckError> {
    if let Some(head) = buf.get(1..5).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
        let len = u32::from_be_bytes(head);
        if usize::try_from(len).map_or(true, |l| l > MAX_RESPONSE) {
            return Err(proto(format!("PostgreSQL message of {len} bytes")));
        }
    }
    Ok(Message::parse(buf)?)
}

struct Conn {
    s: Stream,
    buf: BytesMut,
    total: usize,
}

impl Conn {
    async fn next(&mut self) -> Result<Message, CheckError> {
        loop {
            if let Some(m) = parse_message(&mut self.buf)? {
                return Ok(m);
            }
            let mut chunk = [0u8; 8192];
            let n = self.s.read(&mut chunk).await?;
            self.total += n;
            if n == 0 || self.total > MAX_RESPONSE {
                return Err(proto("PostgreSQL server closed the connection"));
            }
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }

    async fn send(&mut self, out: &mut BytesMut) -> Result<(), CheckError> {
        self.s.write_all(out).await?;
        out.clear();
        Ok(())
    }
}

pub async fn check(ctx: &Ctx<'_>) -> CheckOut {
    let n = ctx.n;
    let query = n.request.strip_prefix('/').unwrap_or(&n.request);
    if n.login.is_empty() || query.is_empty() {
        return Ok(Verdict::Down("pgsql checks need login and request".into()));
    }
    let mut tcp = net::tcp(ctx.target).await?;
    let mut out = BytesMut::new();
    frontend::ssl_request(&mut out);
    tcp.write_all(&out).await?;
    out.clear();
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await?;
    let s = match answer[0] {
        b'S' => ctx.tls.wrap(tcp, &ctx.target.ip().to_string()).await?,
        b'N' => Stream::Plain(tcp),
        // Pre-7.x servers answer with an error message; nothing to talk to.
        _ => return Ok(Verdict::Down("not a PostgreSQL server".into())),
    };
    let mut c = Conn {
        s,
        buf: BytesMut::new(),
        total: 0,
    };
    let mut params = vec![("user", n.login.as_str())];
    if !n.database.is_empty() {
        params.push(("database", n.database.as_str()));
    }
    params.push(("application_name", "ldirectord"));
    frontend::startup_message(params, &mut out)?;
    c.send(&mut out).await?;

    let mut scram: Option<ScramSha256> = None;
    loop {
        match c.next().await? {
            Message::AuthenticationOk => {}
            Message::AuthenticationCleartextPassword => {
                frontend::password_message(n.passwd.as_bytes(), &mut out)?;
                c.send(&mut out).await?;
            }
            Message::AuthenticationMd5Password(body) => {
                let hash = md5_hash(n.login.as_bytes(), n.passwd.as_bytes(), body.salt());
                frontend::password_message(hash.as_bytes(), &mut out)?;
                c.send(&mut out).await?;
            }
            Message::AuthenticationSasl(body) => {
                let mut mechs = body.mechanisms();
                let mut has_scram = false;
                while let Some(m) = mechs.next()? {
                    has_scram |= m == SCRAM_SHA_256;
                }
                if !has_scram {
                    return Ok(Verdict::Down("no supported SASL mechanism".into()));
                }
                let s = ScramSha256::new(n.passwd.as_bytes(), ChannelBinding::unsupported());
                frontend::sasl_initial_response(SCRAM_SHA_256, s.message(), &mut out)?;
                c.send(&mut out).await?;
                scram = Some(s);
            }
            Message::AuthenticationSaslContinue(body) => {
                let mut s = scram
                    .take()
                    .ok_or_else(|| proto("SASL continue without start"))?;
                // PBKDF2 with the server's iteration count (up to 100,000
                // rounds): tens of milliseconds that must not stall the
                // thread every other check runs on.
                let data = body.data().to_vec();
                let s = tokio::task::spawn_blocking(move || s.update(&data).map(|()| s))
                    .await
                    .map_err(|e| proto(format!("SCRAM: {e}")))??;
                frontend::sasl_response(s.message(), &mut out)?;
                c.send(&mut out).await?;
                scram = Some(s);
            }
            Message::AuthenticationSaslFinal(body) => {
                let s = scram
                    .as_mut()
                    .ok_or_else(|| proto("SASL final without start"))?;
                s.finish(body.data())?;
            }
            Message::ErrorResponse(body) => {
                return Ok(Verdict::Down(format!(
                    "login failed: {}",
                    error_text(&body)
                )))
            }
            Message::ReadyForQuery(_) => break,
            Message::AuthenticationGss
            | Message::AuthenticationKerberosV5
            | Message::AuthenticationScmCredential
            | Message::AuthenticationSspi
            | Message::AuthenticationGssContinue(_) => {
                return Ok(Verdict::Down("unsupported authentication method".into()))
            }
            // ParameterStatus, BackendKeyData, notices.
            _ => {}
        }
    }

    frontend::query(query, &mut out)?;
    c.send(&mut out).await?;
    let mut rows = 0u64;
    let mut failed = None;
    loop {
        match c.next().await? {
            Message::DataRow(_) => rows += 1,
            Message::ErrorResponse(body) => failed = Some(error_text(&body)),
            Message::ReadyForQuery(_) => break,
            _ => {}
        }
    }
    frontend::terminate(&mut out);
    let _ = c.send(&mut out).await;
    Ok(match failed {
        Some(e) => Verdict::Down(format!("query failed: {e}")),
        None if rows > 0 => Verdict::Up(format!("{rows} rows")),
        None => Verdict::Down("query returned no rows".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_announced_length_is_refused_before_allocating() {
        let mut buf = BytesMut::from(&b"R\xff\xff\xff\xff"[..]);
        let err = parse_message(&mut buf).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("4294967295 bytes"), "{err}");
        assert!(buf.capacity() < 1 << 20, "reserved {}", buf.capacity());
    }

    #[test]
    fn messages_parse_and_partial_ones_wait() {
        // AuthenticationOk, then half of a ReadyForQuery.
        let mut buf = BytesMut::from(&b"R\0\0\0\x08\0\0\0\0Z\0\0"[..]);
        assert!(matches!(
            parse_message(&mut buf),
            Ok(Some(Message::AuthenticationOk))
        ));
        assert!(matches!(parse_message(&mut buf), Ok(None)));
        buf.extend_from_slice(b"\0\x05I");
        assert!(matches!(
            parse_message(&mut buf),
            Ok(Some(Message::ReadyForQuery(_)))
        ));
    }
}
