//! `ldirectord.cf`: the grammar exactly as ldirectord 4.12 (`read_config`,
//! `ld_setup`) implements it, with the code's defaults (not the man page's).
//!
//! [`parse`] is pure: it takes the file's text, the name it was read from (for
//! `path:line:` messages), a [`Resolver`] for host and service names and the
//! local host name (ldirectord derives ftp/sip defaults from it). Every problem
//! is collected; the result is typed and already has the per-virtual
//! inheritance of globals applied, the way `ld_setup` resolves it.

mod parse;
mod resolve;
mod types;

pub use parse::{parse, ParseOptions};
pub use resolve::{Resolver, StaticResolver};
pub use types::*;

use std::fmt;
use std::path::PathBuf;

/// One problem in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    /// 1-based; `None` for problems about the whole file.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.path.display(), l, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Every error found in a configuration; never empty.
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
