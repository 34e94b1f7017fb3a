//! What runs a check attempt: `ld_checks::Checker` in the daemon, anything
//! that answers "is it up?" in tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ld_checks::{CheckResult, Checker};
use ldirector::director::{AttemptKind, CheckSpec};

pub type ProbeFuture = Pin<Box<dyn Future<Output = CheckResult> + Send>>;

pub trait Probe: Send + Sync + 'static {
    /// One attempt; the caller bounds it by the attempt's deadline and drops
    /// it when the director cancels it.
    fn probe(&self, spec: Arc<CheckSpec>, kind: AttemptKind) -> ProbeFuture;
}

/// The real health checks.
pub struct CheckerProbe(pub Arc<Checker>);

impl Probe for CheckerProbe {
    fn probe(&self, spec: Arc<CheckSpec>, kind: AttemptKind) -> ProbeFuture {
        let checker = self.0.clone();
        Box::pin(async move { checker.run(&spec, kind).await })
    }
}
