//! Shared test helpers: specs, throwaway directories, in-test servers.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ldirector::config::{HttpMethod, Service};
use ldirector::director::{CheckMethod, CheckProtocol, CheckSpec, NegotiateSpec};
use tokio::net::{TcpListener, TcpStream};

pub fn spec(method: CheckMethod, target: SocketAddr) -> CheckSpec {
    CheckSpec {
        method,
        combined: None,
        addr: target.ip(),
        port: Some(target.port()),
        protocol: CheckProtocol::Tcp,
        checktimeout: Duration::from_secs(2),
        negotiatetimeout: Duration::from_secs(3),
        interval: Duration::from_secs(5),
    }
}

pub fn negotiate(service: Service, request: &str, receive: &str) -> NegotiateSpec {
    NegotiateSpec {
        service,
        request: request.into(),
        receive: receive.into(),
        virtualhost: None,
        httpmethod: HttpMethod::Get,
        login: String::new(),
        passwd: String::new(),
        database: String::new(),
        secret: String::new(),
    }
}

pub fn neg_spec(n: NegotiateSpec, target: SocketAddr) -> CheckSpec {
    spec(CheckMethod::Negotiate(n), target)
}

/// Whether root-only tests should run; panics instead of skipping when CI
/// requires them (HA_E2E_REQUIRED=1).
pub fn require(ok: bool, why: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var("HA_E2E_REQUIRED").as_deref() == Ok("1") {
        panic!("required test cannot run: {why}");
    }
    eprintln!("SKIP: {why}");
    false
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A directory `ldc-<pid>-<n>` under the temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "ldc-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Serve every connection on a fresh 127.0.0.1 port with `handle`.
pub async fn serve<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    // A deep accept queue: tokio's default (128) overflows when a thousand
    // checks connect at once, and dropped SYNs cost 1 s retransmits.
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let l: TcpListener = sock.listen(4096).expect("listen");
    let addr = l.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(handle(s));
        }
    });
    addr
}

/// A port nothing listens on (bound, then closed).
pub fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local addr")
}

/// Poll `cond` every 20 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`wait_until`] for async tests (lets the runtime's servers run).
pub async fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Serve TLS (self-signed certificate for another name) on a fresh
/// 127.0.0.1 port; `handle` gets the decrypted stream.
pub async fn serve_tls<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(tokio_rustls::server::TlsStream<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let cert = rcgen::generate_simple_self_signed(vec!["real.example".to_string()]).expect("cert");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![CertificateDer::from(cert.cert.der().to_vec())], key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let handle = std::sync::Arc::new(handle);
    serve(move |s| {
        let (acceptor, handle) = (acceptor.clone(), handle.clone());
        async move {
            if let Ok(tls) = acceptor.accept(s).await {
                handle(tls).await;
            }
        }
    })
    .await
}
