//! HTTP/HTTPS/http_proxy negotiate checks: what LWP sends for ldirectord and
//! how ldirectord judges the answer (`check_http`).

use std::net::IpAddr;

use regex::Regex;

use super::{NegotiateError, Verdict};
use crate::config::{fmt_ip, HttpMethod, Service};
use crate::director::NegotiateSpec;

/// LWP follows at most this many redirects.
pub const MAX_REDIRECTS: usize = 7;

/// The User-Agent LWP 6.68 sends for ldirectord 4.12; kept so that server
/// configurations that recognise health checks keep working.
pub const USER_AGENT: &str = "libwww-perl/6.68";

/// A parsed absolute URL (only what the checks need).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `http` or `https`.
    pub scheme: String,
    /// As written (IPv6 in brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(s: &str) -> Option<Url> {
        let (scheme, rest) = s.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']')?;
            let host = &authority[..end + 2];
            match authority[end + 2..].strip_prefix(':') {
                Some(p) if !p.is_empty() => (host, p.parse().ok()?),
                _ => (host, default_port),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) if !p.is_empty() => (h, p.parse().ok()?),
                Some((h, _)) => (h, default_port),
                None => (authority, default_port),
            }
        };
        if host.is_empty() {
            return None;
        }
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        Some(Url {
            scheme,
            host: host.to_string(),
            port,
            path,
        })
    }

    fn default_port(&self) -> u16 {
        if self.scheme == "https" {
            443
        } else {
            80
        }
    }

    /// `host[:port]` as a Host header (port only when not the default).
    pub fn host_header(&self) -> String {
        if self.port == self.default_port() {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}:{}{}",
            self.scheme, self.host, self.port, self.path
        )
    }
}

/// One HTTP request to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub url: Url,
    /// Where to connect: the URL's host, or the proxy for http_proxy.
    pub connect_host: String,
    pub connect_port: u16,
    /// Whether to speak TLS on the connection (certificates are not verified,
    /// like ldirectord's `verify_hostname => 0`).
    pub tls: bool,
    pub method: HttpMethod,
    pub bytes: Vec<u8>,
}

/// The URL ldirectord checks (`ld_setup`): `<scheme>://<rip>:<port>/<request>`,
/// or the request itself when it already is an absolute URL (per-real
/// requests, and always for http_proxy).
pub fn check_url(spec: &NegotiateSpec, addr: IpAddr, port: u16) -> Result<Url, NegotiateError> {
    let scheme = match spec.service {
        Service::Https => "https",
        Service::Http | Service::HttpProxy => "http",
        other => return Err(NegotiateError::NotHttp(other)),
    };
    let uri = spec.request.strip_prefix('/').unwrap_or(&spec.request);
    let text = if spec.service == Service::HttpProxy || uri.starts_with(&format!("{scheme}://")) {
        uri.to_string()
    } else {
        format!("{scheme}://{}:{port}/{uri}", fmt_ip(addr))
    };
    Url::parse(&text).ok_or(NegotiateError::BadUrl(text))
}

fn build(url: Url, method: HttpMethod, host: &str, proxy: Option<(String, u16)>) -> HttpRequest {
    let target = if proxy.is_some() {
        format!("{}://{}{}", url.scheme, url.host_header(), url.path)
    } else {
        url.path.clone()
    };
    let bytes = format!(
        "{} {target} HTTP/1.1\r\nConnection: close\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n\r\n",
        method.name()
    )
    .into_bytes();
    let (connect_host, connect_port, tls) = match proxy {
        Some((h, p)) => (h, p, false),
        None => (url.host.clone(), url.port, url.scheme == "https"),
    };
    HttpRequest {
        url,
        connect_host,
        connect_port,
        tls,
        method,
        bytes,
    }
}

/// The first request of a check of the real at `addr`, port `port` (the
/// check port). The `Host:` header is `virtualhost`, else the real's address
/// (what ldirectord sets explicitly); http_proxy sends the absolute URL to
/// the real as a proxy.
pub fn http_request(
    spec: &NegotiateSpec,
    addr: IpAddr,
    port: u16,
) -> Result<HttpRequest, NegotiateError> {
    let url = check_url(spec, addr, port)?;
    if spec.service == Service::HttpProxy {
        let host = url.host_header();
        return Ok(build(
            url,
            spec.httpmethod,
            &host,
            Some((fmt_ip(addr), port)),
        ));
    }
    let host = spec.virtualhost.clone().unwrap_or_else(|| fmt_ip(addr));
    Ok(build(url, spec.httpmethod, &host, None))
}

/// The request for a redirect (`Location`), as LWP builds it: same method,
/// the Host header taken from the new URL.
pub fn redirect_request(prev: &HttpRequest, location: &str) -> Result<HttpRequest, NegotiateError> {
    let url = if location.starts_with('/') {
        Url {
            path: location.to_string(),
            ..prev.url.clone()
        }
    } else {
        Url::parse(location).ok_or_else(|| NegotiateError::BadUrl(location.to_string()))?
    };
    let host = url.host_header();
    let proxy = (prev.connect_host != prev.url.host || prev.connect_port != prev.url.port)
        .then(|| (prev.connect_host.clone(), prev.connect_port));
    Ok(build(url, prev.method, &host, proxy))
}

/// Outcome of looking at the bytes received so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpProgress {
    /// More bytes are needed (and the peer has not closed).
    Incomplete,
    Done(Verdict),
    /// Follow this `Location` (3xx) with [`redirect_request`].
    Redirect(String),
}

/// Judge a response the way `check_http` does: up when the status is 2xx and
/// the body matches `receive` (an empty `receive` accepts any body).
/// `eof`: the peer closed the connection (bodies without length end there).
pub fn judge_http(method: HttpMethod, receive: &Regex, bytes: &[u8], eof: bool) -> HttpProgress {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if eof => {
            return HttpProgress::Done(Verdict::Down("incomplete response".into()))
        }
        Ok(httparse::Status::Partial) => return HttpProgress::Incomplete,
        Err(e) => return HttpProgress::Done(Verdict::Down(format!("bad response: {e}"))),
    };
    let code = resp.code.unwrap_or(0);
    let status_line = format!("{code} {}", resp.reason.unwrap_or(""));
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
    };
    if (300..400).contains(&code) && code != 304 {
        if let Some(loc) = header("location") {
            return HttpProgress::Redirect(loc);
        }
    }
    let rest = &bytes[head_len..];
    let no_body = method == HttpMethod::Head || code == 204 || code == 304 || code < 200;
    let body: Vec<u8> = if no_body {
        Vec::new()
    } else if header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        match dechunk(rest) {
            Chunked::Body(b) => b,
            Chunked::Malformed => {
                return HttpProgress::Done(Verdict::Down("malformed chunked body".into()))
            }
            Chunked::Incomplete if eof => {
                return HttpProgress::Done(Verdict::Down("truncated chunked body".into()))
            }
            Chunked::Incomplete => return HttpProgress::Incomplete,
        }
    } else if let Some(len) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        if rest.len() >= len {
            rest[..len].to_vec()
        } else if eof {
            return HttpProgress::Done(Verdict::Down("truncated body".into()));
        } else {
            return HttpProgress::Incomplete;
        }
    } else if eof {
        rest.to_vec()
    } else {
        return HttpProgress::Incomplete;
    };
    if !(200..300).contains(&code) {
        return HttpProgress::Done(Verdict::Down(status_line));
    }
    if receive.as_str().is_empty() || super::perl_match(receive, &String::from_utf8_lossy(&body)) {
        HttpProgress::Done(Verdict::Up(status_line))
    } else {
        HttpProgress::Done(Verdict::Down("receive string not found".into()))
    }
}

enum Chunked {
    Body(Vec<u8>),
    Incomplete,
    Malformed,
}

/// Decode a chunked body (trailers are ignored, like the chunk
/// extensions).
fn dechunk(mut b: &[u8]) -> Chunked {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = b.windows(2).position(|w| w == b"\r\n") else {
            return Chunked::Incomplete;
        };
        let size = std::str::from_utf8(b.get(..line_end).unwrap_or_default())
            .ok()
            .and_then(|l| l.split(';').next())
            .and_then(|l| usize::from_str_radix(l.trim(), 16).ok());
        // A size that cannot be in memory is as malformed as one that is not
        // hex (and `size + 2` must not overflow).
        let Some((size, with_crlf)) = size.and_then(|s| Some((s, s.checked_add(2)?))) else {
            return Chunked::Malformed;
        };
        b = b.get(line_end + 2..).unwrap_or_default();
        if size == 0 {
            return Chunked::Body(out);
        }
        let Some(data) = b.get(..size).filter(|_| b.len() >= with_crlf) else {
            return Chunked::Incomplete;
        };
        out.extend_from_slice(data);
        b = b.get(with_crlf..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(service: Service, request: &str) -> NegotiateSpec {
        NegotiateSpec {
            service,
            request: request.into(),
            receive: String::new(),
            virtualhost: None,
            httpmethod: HttpMethod::Get,
            login: String::new(),
            passwd: String::new(),
            database: String::new(),
            secret: String::new(),
        }
    }

    fn re(s: &str) -> Regex {
        Regex::new(s).unwrap()
    }

    #[test]
    fn request_line_and_host_like_lwp_for_ldirectord() {
        // Reference F2/lwp-request.txt (minus LWP's TE header, see module docs).
        let r = http_request(
            &spec(Service::Http, "/index.html"),
            "127.0.2.1".parse().unwrap(),
            8080,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(r.bytes.clone()).unwrap(),
            "GET /index.html HTTP/1.1\r\nConnection: close\r\nHost: 127.0.2.1\r\nUser-Agent: libwww-perl/6.68\r\n\r\n"
        );
        assert_eq!(
            (r.connect_host.as_str(), r.connect_port, r.tls),
            ("127.0.2.1", 8080, false)
        );

        let mut s = spec(Service::Https, "/");
        s.virtualhost = Some("www.example.com".into());
        s.httpmethod = HttpMethod::Head;
        let r = http_request(&s, "2001:db8::2".parse().unwrap(), 443).unwrap();
        assert!(r.tls);
        assert_eq!(r.connect_host, "[2001:db8::2]");
        assert_eq!(
            String::from_utf8(r.bytes).unwrap(),
            "HEAD / HTTP/1.1\r\nConnection: close\r\nHost: www.example.com\r\nUser-Agent: libwww-perl/6.68\r\n\r\n"
        );
    }

    #[test]
    fn absolute_and_proxy_urls() {
        let r = http_request(
            &spec(Service::Http, "/http://other.example:8081/x?y=1"),
            "10.0.0.2".parse().unwrap(),
            80,
        )
        .unwrap();
        assert_eq!(r.url.to_string(), "http://other.example:8081/x?y=1");
        assert_eq!(r.connect_host, "other.example");
        let r = http_request(
            &spec(Service::HttpProxy, "/http://www.example.com/"),
            "10.0.0.2".parse().unwrap(),
            3128,
        )
        .unwrap();
        assert_eq!(
            (r.connect_host.as_str(), r.connect_port),
            ("10.0.0.2", 3128)
        );
        assert!(String::from_utf8(r.bytes)
            .unwrap()
            .starts_with("GET http://www.example.com/ HTTP/1.1\r\n"));
        assert!(matches!(
            http_request(&spec(Service::Smtp, "/"), "10.0.0.2".parse().unwrap(), 25),
            Err(NegotiateError::NotHttp(Service::Smtp))
        ));
    }

    #[test]
    fn verdicts() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\nldirectord-ok!\r\n";
        assert_eq!(
            judge_http(HttpMethod::Get, &re("ldirectord-ok"), ok, false),
            HttpProgress::Done(Verdict::Up("200 OK".into()))
        );
        assert_eq!(
            judge_http(HttpMethod::Get, &re("other"), ok, false),
            HttpProgress::Done(Verdict::Down("receive string not found".into()))
        );
        assert_eq!(
            judge_http(HttpMethod::Get, &re("ldirectord-ok"), &ok[..40], false),
            HttpProgress::Incomplete
        );
        let nf = b"HTTP/1.0 404 Not Found\r\n\r\nldirectord-ok";
        assert_eq!(
            judge_http(HttpMethod::Get, &re(""), nf, true),
            HttpProgress::Done(Verdict::Down("404 Not Found".into()))
        );
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nldir\r\n9\r\nectord-ok\r\n0\r\n\r\n";
        assert_eq!(
            judge_http(HttpMethod::Get, &re("^ldirectord-ok$"), chunked, false),
            HttpProgress::Done(Verdict::Up("200 OK".into()))
        );
        let to_close = b"HTTP/1.0 200 OK\r\n\r\nhello";
        assert_eq!(
            judge_http(HttpMethod::Get, &re("hel+o"), to_close, false),
            HttpProgress::Incomplete
        );
        assert_eq!(
            judge_http(HttpMethod::Get, &re("hel+o"), to_close, true),
            HttpProgress::Done(Verdict::Up("200 OK".into()))
        );
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n";
        assert_eq!(
            judge_http(HttpMethod::Head, &re(""), head, false),
            HttpProgress::Done(Verdict::Up("200 OK".into()))
        );
        assert!(matches!(
            judge_http(HttpMethod::Get, &re(""), b"SSH-2.0-OpenSSH\r\n", true),
            HttpProgress::Done(Verdict::Down(_))
        ));
    }

    #[test]
    fn hostile_chunk_sizes_are_malformed_not_a_panic() {
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for chunks in [
            &b"ffffffffffffffff\r\nx"[..],
            b"fffffffffffffffe\r\nx",
            b"1ffffffffffffffff\r\nx",
            b"zz\r\nx",
        ] {
            let resp = [head.as_slice(), chunks].concat();
            assert_eq!(
                judge_http(HttpMethod::Get, &re(""), &resp, false),
                HttpProgress::Done(Verdict::Down("malformed chunked body".into())),
                "{}",
                String::from_utf8_lossy(chunks)
            );
        }
        // A big but representable size is just not there yet.
        let resp = [head.as_slice(), b"fffffff\r\nx"].concat();
        assert_eq!(
            judge_http(HttpMethod::Get, &re(""), &resp, false),
            HttpProgress::Incomplete
        );
    }

    #[test]
    fn redirects_are_followed_with_a_new_host() {
        let first = http_request(
            &spec(Service::Http, "/old"),
            "10.0.0.2".parse().unwrap(),
            8080,
        )
        .unwrap();
        let resp = b"HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n";
        let HttpProgress::Redirect(loc) = judge_http(HttpMethod::Get, &re(""), resp, false) else {
            panic!("redirect expected");
        };
        let next = redirect_request(&first, &loc).unwrap();
        assert_eq!(next.url.to_string(), "http://10.0.0.2:8080/new");
        assert!(String::from_utf8(next.bytes)
            .unwrap()
            .contains("Host: 10.0.0.2:8080\r\n"));
        let next = redirect_request(&first, "https://secure.example/login").unwrap();
        assert!(next.tls && next.connect_port == 443 && next.connect_host == "secure.example");
    }
}
