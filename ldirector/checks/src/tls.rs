//! TLS for https, pops, imaps and ldaps. Like ldirectord (LWP with
//! `verify_hostname => 0`, IO::Socket::SSL defaults in the mail modules) the
//! real's certificate is not verified: a health check asks whether the
//! service answers, and reals commonly carry self-signed or VIP-named
//! certificates. The handshake signature itself is still checked.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::net::Stream;
use crate::{CheckError, CheckerError};

const TLS_SESSIONS: usize = 16 * 1024;

/// One client config for every check (session resumption is shared too).
pub struct Tls {
    connector: TlsConnector,
}

impl Tls {
    pub fn new() -> Result<Tls, CheckerError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| CheckerError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert { provider }))
            .with_no_client_auth();
        // Resume sessions with every real, not just the last 256 (the
        // default): a full handshake costs far more than the check.
        config.resumption = rustls::client::Resumption::in_memory_sessions(TLS_SESSIONS);
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Handshake on `tcp`. `host` is the name for SNI (an IP literal, with or
    /// without brackets, sends none).
    pub async fn wrap(&self, tcp: TcpStream, host: &str) -> Result<Stream, CheckError> {
        let h = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let name = match h.parse::<std::net::IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(h.to_string())
                .map_err(|e| CheckError::Tls(format!("server name {h:?}: {e}")))?,
        };
        let s = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| CheckError::Tls(e.to_string()))?;
        Ok(Stream::Tls(Box::new(s)))
    }
}

#[derive(Debug)]
struct AnyCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
