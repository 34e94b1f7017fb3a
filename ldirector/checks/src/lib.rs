//! ldirectord's health checks, run for real: each attempt is one future with
//! no blocking call in it, so any number run concurrently on one thread and a
//! hung server only ever costs its own timeout.
//!
//! The director core ([`ldirector::director`]) decides *when* to check and
//! what a result means; this crate only answers "is it up?".

use ldirector::director::{AttemptKind, CheckSpec};

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
}

#[derive(Debug, thiserror::Error)]
pub enum CheckerError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Shared state of all checks (ICMP socket, TLS config, …).
pub struct Checker {
    _private: (),
}

impl Checker {
    pub fn new() -> Result<Checker, CheckerError> {
        Ok(Checker { _private: () })
    }

    /// Run one attempt. The caller bounds it by the attempt's deadline
    /// (`tokio::time::timeout_at`); the check itself must not need longer
    /// than `spec.timeout(kind)` and must release everything when dropped.
    pub async fn run(&self, spec: &CheckSpec, kind: AttemptKind) -> CheckResult {
        let _ = (spec, kind);
        CheckResult::down("checks not implemented yet")
    }
}
