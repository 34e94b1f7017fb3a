//! The demo's clock: every event is printed as it happens with its offset
//! from the start.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    /// Keeps lines whole and in order across the client and main threads.
    out: Mutex<()>,
}

/// `+  12345 ms`, right-aligned so that columns line up.
pub fn offset(at: Duration) -> String {
    format!("+{:>7} ms", at.as_millis())
}

/// One timeline line.
pub fn line(at: Duration, who: &str, what: &str) -> String {
    format!("{}  {who:<8} {what}", offset(at))
}

impl Timeline {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            out: Mutex::new(()),
        }
    }

    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Print an event happening now; returns its offset.
    pub fn log(&self, who: &str, what: impl AsRef<str>) -> Duration {
        let at = self.now();
        self.log_at(at, who, what);
        at
    }

    /// Print an event observed at `at` (e.g. when a request was sent).
    pub fn log_at(&self, at: Duration, who: &str, what: impl AsRef<str>) {
        self.note(&line(at, who, what.as_ref()));
    }

    /// A line without a timestamp (headings, log excerpts).
    pub fn note(&self, text: &str) {
        let _guard = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_millisecond_aligned() {
        assert_eq!(offset(Duration::from_micros(1_234_567)), "+   1234 ms");
        assert_eq!(offset(Duration::ZERO), "+      0 ms");
        assert_eq!(
            line(Duration::from_millis(42), "node2", "x"),
            "+     42 ms  node2    x"
        );
    }
}
