//! Polling with deadlines: the only way tests wait. There is no "sleep a
//! bit" helper on purpose.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// Poll `probe` every `every` until it yields `Some`, or fail after
/// `timeout` with the last observation. Returns the value and the time it
/// took, measured from the call.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> Result<(T, Duration)> {
    let start = Instant::now();
    loop {
        let last = match probe() {
            Ok(v) => return Ok((v, start.elapsed())),
            Err(e) => e,
        };
        if start.elapsed() >= timeout {
            bail!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
        }
        thread::sleep(every);
    }
}

/// Check `invariant` every `every` for `period`; fail at the first violation.
/// This is an observation window (e.g. "stays dead for 2 s"), not a delay.
pub fn hold_for(
    what: &str,
    period: Duration,
    every: Duration,
    mut invariant: impl FnMut() -> Result<(), String>,
) -> Result<()> {
    let start = Instant::now();
    loop {
        if let Err(e) = invariant() {
            bail!("{what} broke after {:?}: {e}", start.elapsed());
        }
        if start.elapsed() >= period {
            return Ok(());
        }
        thread::sleep(
            every
                .min(period.saturating_sub(start.elapsed()))
                .max(Duration::from_millis(1)),
        );
    }
}
