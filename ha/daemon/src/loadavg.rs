//! The `ld` field: the first line of `/proc/loadavg`, read through one
//! descriptor kept open (a `pread` per refresh) and at most once per interval.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct LoadAvg {
    file: Option<File>,
    every: Duration,
    last: Option<Instant>,
}

impl LoadAvg {
    /// `every`: the minimum time between two reads.
    pub fn open(path: &Path, every: Duration) -> Self {
        Self {
            file: File::open(path).ok(),
            every,
            last: None,
        }
    }

    /// The current value if it is time to refresh, else `None`.
    pub fn poll(&mut self, now: Instant) -> Option<String> {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < self.every)
        {
            return None;
        }
        self.last = Some(now);
        let file = self.file.as_ref()?;
        let mut buf = [0u8; 128];
        let n = file.read_at(&mut buf, 0).ok()?;
        parse_loadavg(buf.get(..n)?)
    }
}

/// First line, without the newline; `None` if empty or not text.
pub fn parse_loadavg(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text.lines().next()?.trim_end();
    (!line.is_empty()).then(|| line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_first_line() {
        assert_eq!(
            parse_loadavg(b"0.73 0.87 0.52 4/120 160\n").as_deref(),
            Some("0.73 0.87 0.52 4/120 160")
        );
        assert_eq!(parse_loadavg(b""), None);
        assert_eq!(parse_loadavg(b"\xff\xfe"), None);
    }

    #[test]
    fn rereads_only_after_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loadavg");
        std::fs::write(&path, "1.00 1.00 1.00 1/1 1\n").unwrap();
        let t0 = Instant::now();
        let mut la = LoadAvg::open(&path, Duration::from_secs(1));
        assert_eq!(la.poll(t0).as_deref(), Some("1.00 1.00 1.00 1/1 1"));
        std::fs::write(&path, "2.00 2.00 2.00 2/2 2\n").unwrap();
        assert_eq!(la.poll(t0 + Duration::from_millis(500)), None);
        assert_eq!(
            la.poll(t0 + Duration::from_secs(1)).as_deref(),
            Some("2.00 2.00 2.00 2/2 2")
        );
    }
}
