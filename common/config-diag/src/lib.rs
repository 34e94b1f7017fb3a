//! The problem list every configuration parser in the suite returns.
//!
//! Parsers collect *all* problems rather than stopping at the first, so an
//! operator fixes a file in one pass; each prints as `path:line: message`,
//! the shape editors and `grep -n` understand.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    /// 1-based; `None` for whole-file problems (missing file, bad mode).
    pub line: Option<usize>,
    pub message: String,
}

impl Problem {
    pub fn new(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.path.display(), l, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Every problem found in a configuration; never empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_path_line_message_one_per_line() {
        let e = ConfigError {
            problems: vec![
                Problem::new(
                    Path::new("/etc/ha.d/ha.cf"),
                    Some(3),
                    "unknown directive \"x\"",
                ),
                Problem::new(Path::new("/etc/ha.d/authkeys"), None, "bad mode"),
            ],
        };
        assert_eq!(
            e.to_string(),
            "/etc/ha.d/ha.cf:3: unknown directive \"x\"\n/etc/ha.d/authkeys: bad mode"
        );
    }
}
