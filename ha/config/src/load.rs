//! `load_all`: every configuration file plus the rules that span files.
//! This is what `heartbeat -t` runs and what the daemon starts from.

use std::io;

use hb_wire::AuthKeys;

use crate::authkeys::load_authkeys_with_warnings;
use crate::haresources::parse_checked;
use crate::{hacf, local_node_name, ConfigError, HaCf, Haresources, Paths, Problem};

/// Everything the daemon needs from `/etc/ha.d`.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub hacf: HaCf,
    pub authkeys: AuthKeys,
    /// Warnings about `authkeys` (truncated keys, ...). `hacf.warnings`
    /// holds ha.cf's.
    pub authkeys_warnings: Vec<Problem>,
    /// Empty when the file does not exist.
    pub haresources: Haresources,
    /// `nodeinfo` or `uname -n`, lower-cased; one of `hacf.nodes`.
    pub local_node: String,
    /// Cross-file warnings (a missing `haresources`).
    pub warnings: Vec<Problem>,
}

impl Loaded {
    /// Every warning, ha.cf's first, in the order they should be logged.
    pub fn all_warnings(&self) -> impl Iterator<Item = &Problem> {
        self.hacf
            .warnings
            .iter()
            .chain(&self.authkeys_warnings)
            .chain(&self.warnings)
    }
}

/// Load `ha.cf`, `authkeys`, `haresources` and the node name, collecting
/// the problems of **all** files before failing.
///
/// A missing `haresources` means "no resources" (with a warning; heartbeat
/// 3.0.6 itself refuses to start without the file).
pub fn load_all(paths: &Paths) -> Result<Loaded, ConfigError> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();

    let local_node = match local_node_name(&paths.nodeinfo) {
        Ok(n) => Some(n),
        Err(e) => {
            problems.push(Problem::new(
                &paths.nodeinfo,
                None,
                format!("cannot read node name: {e}"),
            ));
            None
        }
    };

    let outcome = hacf::load_outcome(&paths.ha_cf);
    let hacf = match outcome.result {
        Ok(h) => Some(h),
        Err(e) => {
            problems.extend(e.problems);
            None
        }
    };
    if let (Some(nodes), Some(local)) = (&outcome.nodes, &local_node) {
        if !nodes.contains(local) {
            problems.push(Problem::new(
                &paths.ha_cf,
                None,
                format!(
                    "Current node [{local}] not in configuration! Cluster nodes are named by \
                     `uname -n` (or the first line of {}) and must be declared with a 'node' \
                     directive",
                    paths.nodeinfo.display()
                ),
            ));
        }
    }

    let authkeys = match load_authkeys_with_warnings(&paths.authkeys) {
        Ok(p) => Some(p),
        Err(e) => {
            problems.extend(e.problems);
            None
        }
    };

    let haresources = match std::fs::read(&paths.haresources) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            match parse_checked(&paths.haresources, &text, outcome.nodes.as_deref()) {
                Ok(h) => h,
                Err(e) => {
                    problems.extend(e.problems);
                    Haresources::default()
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            warnings.push(Problem::new(
                &paths.haresources,
                None,
                "does not exist: no resources will be managed (heartbeat 3.0.6 refuses to \
                 start without this file)",
            ));
            Haresources::default()
        }
        Err(e) => {
            problems.push(Problem::new(
                &paths.haresources,
                None,
                format!("cannot open resources file: {e}"),
            ));
            Haresources::default()
        }
    };

    match (hacf, authkeys, local_node) {
        (Some(hacf), Some(authkeys), Some(local_node)) if problems.is_empty() => Ok(Loaded {
            hacf,
            authkeys: authkeys.keys,
            authkeys_warnings: authkeys.warnings,
            haresources,
            local_node,
            warnings,
        }),
        _ => Err(ConfigError { problems }),
    }
}
