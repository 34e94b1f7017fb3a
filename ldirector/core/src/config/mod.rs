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

pub use config_diag::{ConfigError, Problem};
