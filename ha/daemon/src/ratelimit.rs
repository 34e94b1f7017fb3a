//! Log rate limiting for things a peer (or an attacker) can repeat at line
//! rate: bad signatures, malformed packets, send errors.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` if this occurrence may be logged, `n` being how many were
    /// swallowed since the last logged one; `None` to stay quiet.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_passes_then_counts_until_interval() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(Duration::from_secs(10));
        assert_eq!(rl.allow(t0), Some(0));
        assert_eq!(rl.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(rl.allow(t0 + Duration::from_secs(9)), None);
        assert_eq!(rl.allow(t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(rl.allow(t0 + Duration::from_secs(11)), None);
        assert_eq!(rl.allow(t0 + Duration::from_secs(30)), Some(1));
    }
}
