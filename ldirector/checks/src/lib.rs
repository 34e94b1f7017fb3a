//! ldirectord's health checks, run for real: each attempt is one future with
//! no blocking call in it, so any number run concurrently on one thread and a
//! hung server only ever costs its own timeout.
//!
//! The director core ([`ldirector::director`]) decides *when* to check and
//! what a result means; this crate only answers "is it up?".
//!
//! Every check is cancel-safe: dropping the future closes its sockets, kills
//! an external command's whole process group and forgets a pending ping.

mod dns;
mod external;
mod ftp;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod ldap;
mod lines;
mod mysql;
mod net;
mod pgsql;
mod ping;
mod radius;
mod tls;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ldirector::config::Service;
use ldirector::director::{AttemptKind, CheckMethod, CheckProtocol, CheckSpec, NegotiateSpec};
use ldirector::negotiate::Verdict;
use regex::Regex;

/// Result of one attempt, with a word for the log when it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    pub up: bool,
    /// Why it is down (`connection refused`, `HTTP 503`, `receive did not
    /// match`, …); empty when up.
    pub detail: String,
}

impl CheckResult {
    pub fn up() -> Self {
        CheckResult {
            up: true,
            detail: String::new(),
        }
    }

    pub fn down(detail: impl Into<String>) -> Self {
        CheckResult {
            up: false,
            detail: detail.into(),
        }
    }

    fn from_verdict(v: Verdict) -> Self {
        match v {
            Verdict::Up(_) => CheckResult::up(),
            Verdict::Down(why) => CheckResult::down(why),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckerError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(String),
}

/// Compiled `receive=` patterns are shared: thousands of reals usually have
/// a handful of distinct patterns, and compiling one per attempt would cost
/// more than the check.
const REGEX_CACHE_MAX: usize = 4096;

/// Shared state of all checks (ICMP sockets, TLS config, compiled regexes).
pub struct Checker {
    tls: tls::Tls,
    ping: ping::Pinger,
    regexes: Mutex<HashMap<String, Arc<Regex>>>,
}

impl Checker {
    pub fn new() -> Result<Checker, CheckerError> {
        Ok(Checker {
            tls: tls::Tls::new()?,
            ping: ping::Pinger::new(),
            regexes: Mutex::new(HashMap::new()),
        })
    }

    /// Run one attempt. The caller bounds it by the attempt's deadline
    /// (`tokio::time::timeout_at`); the check bounds itself by
    /// `spec.timeout(kind)` too, so it is usable on its own.
    pub async fn run(&self, spec: &CheckSpec, kind: AttemptKind) -> CheckResult {
        let limit = spec.timeout(kind);
        let self_bounded =
            kind == AttemptKind::Full && matches!(spec.method, CheckMethod::Ping { .. });
        let result = if self_bounded {
            // Each attempt waits checktimeout: the sum is the bound, and
            // the per-attempt text is the better log line.
            self.run_unbounded(spec, kind).await
        } else {
            match tokio::time::timeout(limit, self.run_unbounded(spec, kind)).await {
                Ok(r) => r,
                Err(_) => CheckResult::down(format!("timed out after {limit:?}")),
            }
        };
        tracing::debug!(
            target: "ld_checks",
            addr = %spec.addr,
            port = ?spec.port,
            method = method_name(spec, kind),
            up = result.up,
            detail = %result.detail,
            "check finished"
        );
        result
    }

    async fn run_unbounded(&self, spec: &CheckSpec, kind: AttemptKind) -> CheckResult {
        if kind == AttemptKind::Connect {
            return self.connect(spec).await;
        }
        match &spec.method {
            CheckMethod::Connect => self.connect(spec).await,
            CheckMethod::Ping { attempts } => {
                Box::pin(self.ping.check(spec.addr, *attempts, spec.checktimeout)).await
            }
            CheckMethod::External { command, args } => {
                Box::pin(external::run(command, None, args)).await
            }
            CheckMethod::ExternalPerl { command, args } => {
                Box::pin(external::run("perl", Some(command), args)).await
            }
            CheckMethod::Negotiate(n) => Box::pin(self.negotiate(spec, n)).await,
        }
    }

    async fn connect(&self, spec: &CheckSpec) -> CheckResult {
        let Some(target) = spec.target() else {
            return CheckResult::down("no port to check");
        };
        match net::connect_only(target, spec.protocol).await {
            Ok(()) => CheckResult::up(),
            Err(e) => CheckResult::down(format!("connect to {target}: {e}")),
        }
    }

    async fn negotiate(&self, spec: &CheckSpec, n: &NegotiateSpec) -> CheckResult {
        let Some(target) = spec.target() else {
            return CheckResult::down("no port to check");
        };
        let receive = match self.regex(&n.receive) {
            Ok(r) => r,
            Err(e) => return CheckResult::down(format!("bad receive pattern: {e}")),
        };
        let ctx = Ctx {
            target,
            protocol: spec.protocol,
            n,
            receive: &receive,
            tls: &self.tls,
        };
        // Each protocol's future on the heap, sized for that protocol: inline,
        // every check would carry the largest one (17 KiB, TLS), and 10,000
        // reals keep that many in flight.
        let r = match n.service {
            Service::None => Ok(Verdict::Up("none".into())),
            Service::Http | Service::Https | Service::HttpProxy => {
                Box::pin(http::check(&ctx)).await
            }
            Service::Smtp
            | Service::Submission
            | Service::Pop
            | Service::Pops
            | Service::Imap
            | Service::Imaps => Box::pin(lines::dialog(&ctx)).await,
            Service::Nntp => Box::pin(lines::nntp(&ctx)).await,
            Service::SimpleTcp => Box::pin(lines::simpletcp(&ctx)).await,
            Service::Sip => Box::pin(lines::sip(&ctx)).await,
            Service::Ftp => Box::pin(ftp::check(&ctx)).await,
            Service::Dns => Box::pin(dns::check(&ctx)).await,
            Service::Ldap | Service::Ldaps => Box::pin(ldap::check(&ctx)).await,
            Service::Radius => Box::pin(radius::check(&ctx)).await,
            Service::Mysql => Box::pin(mysql::check(&ctx)).await,
            Service::Pgsql => Box::pin(pgsql::check(&ctx)).await,
            Service::Oracle => Ok(Verdict::Down(
                "oracle checks are not supported (no Oracle client)".into(),
            )),
        };
        match r {
            Ok(v) => CheckResult::from_verdict(v),
            Err(e) => CheckResult::down(e.to_string()),
        }
    }

    fn regex(&self, pattern: &str) -> Result<Arc<Regex>, regex::Error> {
        let mut cache = self
            .regexes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(r) = cache.get(pattern) {
            return Ok(r.clone());
        }
        let r = Arc::new(Regex::new(pattern)?);
        if cache.len() >= REGEX_CACHE_MAX {
            cache.clear();
        }
        cache.insert(pattern.to_string(), r.clone());
        Ok(r)
    }
}

fn method_name(spec: &CheckSpec, kind: AttemptKind) -> &'static str {
    match (kind, &spec.method) {
        (AttemptKind::Connect, _) | (_, CheckMethod::Connect) => "connect",
        (_, CheckMethod::Ping { .. }) => "ping",
        (_, CheckMethod::External { .. }) => "external",
        (_, CheckMethod::ExternalPerl { .. }) => "external-perl",
        (_, CheckMethod::Negotiate(_)) => "negotiate",
    }
}

/// What a negotiate check needs.
pub(crate) struct Ctx<'a> {
    pub target: std::net::SocketAddr,
    pub protocol: CheckProtocol,
    pub n: &'a NegotiateSpec,
    pub receive: &'a Regex,
    pub tls: &'a tls::Tls,
}

/// Why a negotiate check could not finish (timeouts are the caller's).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Negotiate(#[from] ldirector::negotiate::NegotiateError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Protocol(String),
}

pub(crate) type CheckOut = Result<Verdict, CheckError>;
