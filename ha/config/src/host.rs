//! The few facts about the running system that heartbeat checks while it
//! reads `ha.cf` (respawn users and commands, apiauth users and groups).
//!
//! The parsers take a `&dyn Host` so that `parse_*` stay pure (they accept
//! every name) and only `load_*` ask the real system.

use std::path::Path;

pub(crate) trait Host {
    fn user_exists(&self, name: &str) -> bool;
    fn group_exists(&self, name: &str) -> bool;
    /// `access(path, X_OK)`, as heartbeat checks respawn commands.
    fn is_executable(&self, path: &Path) -> bool;
}

/// Accepts everything: what the pure `parse_*` functions use.
pub(crate) struct NoChecks;

impl Host for NoChecks {
    fn user_exists(&self, _: &str) -> bool {
        true
    }
    fn group_exists(&self, _: &str) -> bool {
        true
    }
    fn is_executable(&self, _: &Path) -> bool {
        true
    }
}

/// The real system (passwd, group, file modes).
pub(crate) struct System;

impl Host for System {
    fn user_exists(&self, name: &str) -> bool {
        matches!(nix::unistd::User::from_name(name), Ok(Some(_)))
    }
    fn group_exists(&self, name: &str) -> bool {
        matches!(nix::unistd::Group::from_name(name), Ok(Some(_)))
    }
    fn is_executable(&self, path: &Path) -> bool {
        nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok()
    }
}
