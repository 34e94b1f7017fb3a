//! http / https / http_proxy against a private nginx (when installed) and an
//! in-test server for what nginx can't easily be made to do.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ld_checks::Checker;
use ldirector::config::{HttpMethod, Service};
use ldirector::director::AttemptKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Read one request head; `None` if the peer went away first.
async fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

#[tokio::test]
async fn request_shape_status_receive_and_redirects() {
    let c = Checker::new().unwrap();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let web = serve(move |mut s| {
        let log = log.clone();
        async move {
            let Some(head) = read_head(&mut s).await else {
                return;
            };
            log.lock().unwrap().push(head.clone());
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            let resp: &[u8] = match path.as_str() {
                "/ok" => b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nldirectord-ok\n",
                "/missing" => b"HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\nldirectord-ok",
                "/moved" => b"HTTP/1.1 301 Moved\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n",
                "/loop" => b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n",
                "/chunked" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nldire\r\n8\r\nctord-ok\r\n0\r\n\r\n",
                "/close" => b"HTTP/1.0 200 OK\r\n\r\nbody until close: ldirectord-ok",
                _ => b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
            };
            let _ = s.write_all(resp).await;
        }
    })
    .await;
    let check = |req: &str, receive: &str| neg_spec(negotiate(Service::Http, req, receive), web);

    let r = c
        .run(&check("/ok", "ldirectord-ok"), AttemptKind::Full)
        .await;
    assert!(r.up, "{}", r.detail);
    let head = seen.lock().unwrap().last().cloned().unwrap();
    assert!(head.starts_with("GET /ok HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nHost: 127.0.0.1\r\n"), "{head}");
    assert!(head.contains("User-Agent: libwww-perl/"), "{head}");

    let r = c
        .run(&check("/ok", "something else"), AttemptKind::Full)
        .await;
    assert!(!r.up && r.detail.contains("receive"), "{}", r.detail);
    let r = c.run(&check("/missing", ""), AttemptKind::Full).await;
    assert!(!r.up && r.detail.contains("404"), "{}", r.detail);
    let r = c
        .run(&check("/moved", "^ldirectord-ok$"), AttemptKind::Full)
        .await;
    assert!(r.up, "{}", r.detail);
    let r = c.run(&check("/loop", ""), AttemptKind::Full).await;
    assert!(!r.up && r.detail.contains("redirects"), "{}", r.detail);
    assert!(
        c.run(&check("/chunked", "^ldirectord-ok$"), AttemptKind::Full)
            .await
            .up
    );
    assert!(
        c.run(&check("/close", "until close"), AttemptKind::Full)
            .await
            .up
    );
    let r = c.run(&check("/ok", "(unclosed"), AttemptKind::Full).await;
    assert!(
        !r.up && r.detail.contains("receive pattern"),
        "{}",
        r.detail
    );

    // virtualhost and HEAD.
    let mut n = negotiate(Service::Http, "/ok", "");
    n.virtualhost = Some("www.example.com".into());
    n.httpmethod = HttpMethod::Head;
    assert!(c.run(&neg_spec(n, web), AttemptKind::Full).await.up);
    let head = seen.lock().unwrap().last().cloned().unwrap();
    assert!(head.starts_with("HEAD /ok HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nHost: www.example.com\r\n"), "{head}");

    // A server that is not HTTP at all.
    let ssh = serve(|mut s| async move {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
    })
    .await;
    assert!(
        !c.run(
            &neg_spec(negotiate(Service::Http, "/", ""), ssh),
            AttemptKind::Full
        )
        .await
        .up
    );
}

#[tokio::test]
async fn http_proxy_sends_the_absolute_url_to_the_real() {
    let c = Checker::new().unwrap();
    let seen = Arc::new(Mutex::new(String::new()));
    let log = seen.clone();
    let proxy = serve(move |mut s| {
        let log = log.clone();
        async move {
            if let Some(h) = read_head(&mut s).await {
                *log.lock().unwrap() = h;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nproxied")
                    .await;
            }
        }
    })
    .await;
    let n = negotiate(
        Service::HttpProxy,
        "/http://www.example.com/index.html",
        "proxied",
    );
    let r = c.run(&neg_spec(n, proxy), AttemptKind::Full).await;
    assert!(r.up, "{}", r.detail);
    let head = seen.lock().unwrap().clone();
    assert!(
        head.starts_with("GET http://www.example.com/index.html HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nHost: www.example.com\r\n"), "{head}");
}

/// A private nginx on its own ports and directory, killed on drop.
struct Nginx {
    child: Child,
    http: SocketAddr,
    https: SocketAddr,
    _dir: TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> Option<&'static str> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

fn start_nginx() -> Option<Nginx> {
    let bin = nginx_binary();
    if !require(
        bin.is_some(),
        "nginx not installed (apt-get install nginx-light)",
    ) {
        return None;
    }
    let dir = TempDir::new();
    let d = dir.path();
    let cert = rcgen::generate_simple_self_signed(vec!["real.example".to_string()]).unwrap();
    std::fs::write(d.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(d.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    std::fs::create_dir_all(d.join("www")).unwrap();
    std::fs::write(d.join("www/index.html"), "ldirectord-ok from nginx\n").unwrap();
    let (http, https) = (closed_port(), closed_port());
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/tmp;\n proxy_temp_path {d}/tmp;\n\
         fastcgi_temp_path {d}/tmp;\n uwsgi_temp_path {d}/tmp;\n scgi_temp_path {d}/tmp;\n\
         root {d}/www;\n\
         server {{ listen {http}; location = /old {{ return 302 /index.html; }} }}\n\
         server {{ listen {https} ssl; ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem; }}\n}}\n",
        d = d.display()
    );
    std::fs::write(d.join("nginx.conf"), conf).unwrap();
    let child = Command::new(bin?)
        .arg("-p")
        .arg(d)
        .arg("-c")
        .arg(d.join("nginx.conf"))
        .arg("-e")
        .arg(d.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nginx");
    let mut n = Nginx {
        child,
        http,
        https,
        _dir: dir,
    };
    let ready = wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(n.http).is_ok()
            && std::net::TcpStream::connect(n.https).is_ok()
    });
    if !ready {
        let log = std::fs::read_to_string(n._dir.path().join("error.log")).unwrap_or_default();
        let _ = n.child.kill();
        panic!("nginx did not start: {log}");
    }
    Some(n)
}

#[tokio::test]
async fn nginx_http_and_https() {
    let Some(nginx) = start_nginx() else {
        return;
    };
    let c = Checker::new().unwrap();
    let check = |svc, req: &str, rec: &str, at| neg_spec(negotiate(svc, req, rec), at);

    let r = c
        .run(
            &check(Service::Http, "/index.html", "ldirectord-ok", nginx.http),
            AttemptKind::Full,
        )
        .await;
    assert!(r.up, "{}", r.detail);
    let r = c
        .run(
            &check(Service::Http, "/old", "from nginx", nginx.http),
            AttemptKind::Full,
        )
        .await;
    assert!(r.up, "redirect: {}", r.detail);
    let r = c
        .run(
            &check(Service::Http, "/nope.html", "", nginx.http),
            AttemptKind::Full,
        )
        .await;
    assert!(!r.up && r.detail.contains("404"), "{}", r.detail);

    // Self-signed certificate for another name: accepted, like ldirectord.
    let r = c
        .run(
            &check(Service::Https, "/index.html", "ldirectord-ok", nginx.https),
            AttemptKind::Full,
        )
        .await;
    assert!(r.up, "https: {}", r.detail);
    let r = c
        .run(
            &check(Service::Https, "/index.html", "not there", nginx.https),
            AttemptKind::Full,
        )
        .await;
    assert!(!r.up);
    // https against the plain port fails the handshake; http against TLS
    // gets nginx's 400.
    let r = c
        .run(
            &check(Service::Https, "/", "", nginx.http),
            AttemptKind::Full,
        )
        .await;
    assert!(!r.up && r.detail.contains("TLS"), "{}", r.detail);
    assert!(
        !c.run(
            &check(Service::Http, "/", "", nginx.https),
            AttemptKind::Full
        )
        .await
        .up
    );

    drop(nginx);
    let r = c
        .run(
            &check(Service::Http, "/", "", closed_port()),
            AttemptKind::Full,
        )
        .await;
    assert!(!r.up);
}
