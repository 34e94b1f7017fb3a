//! Where ldirectord looks for its configuration and keeps its pid file.

use std::path::{Path, PathBuf};

/// Directories searched for a configuration named on the command line, in
/// ldirectord's order (before the name as given, relative to the cwd).
const CONFIG_DIRS: &[&str] = &["/etc/ha.d", "/etc/ha.d/conf"];

/// Default configuration name (no argument given).
pub const DEFAULT_CONFIG: &str = "ldirectord.cf";

/// The configuration an invocation is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigRef {
    /// The name as given (`ldirectord.cf` when none was).
    pub given: String,
    /// ldirectord's `CFGNAME`: the last path component, or `ldirectord`
    /// when no configuration was named (the systemd unit's pid file name).
    pub cfgname: String,
}

impl ConfigRef {
    pub fn new(arg: Option<&str>) -> ConfigRef {
        match arg {
            Some(a) => ConfigRef {
                given: a.to_string(),
                cfgname: Path::new(a)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| a.to_string()),
            },
            None => ConfigRef {
                given: DEFAULT_CONFIG.to_string(),
                cfgname: "ldirectord".to_string(),
            },
        }
    }

    /// First existing of `/etc/ha.d/<name>`, `/etc/ha.d/conf/<name>`,
    /// `<name>` (an absolute name is only tried as is), made absolute: the
    /// daemon re-reads it after `chdir /`.
    pub fn resolve(&self) -> Option<PathBuf> {
        let given = Path::new(&self.given);
        let mut candidates: Vec<PathBuf> = Vec::new();
        if !given.is_absolute() {
            candidates.extend(CONFIG_DIRS.iter().map(|d| Path::new(d).join(given)));
        }
        candidates.push(given.to_path_buf());
        let found = candidates.into_iter().find(|p| p.is_file())?;
        if found.is_absolute() {
            return Some(found);
        }
        Some(std::env::current_dir().ok()?.join(found))
    }
}

/// `/var/run`, or `$LDIRECTORD_RUNDIR` (tests, unprivileged runs).
pub fn run_dir() -> PathBuf {
    std::env::var_os("LDIRECTORD_RUNDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/run"))
}

/// `/var/run/ldirectord.<cfgname>.pid`.
pub fn pid_file(cfgname: &str) -> PathBuf {
    run_dir().join(format!("ldirectord.{cfgname}.pid"))
}

/// The control socket, next to the pid file.
pub fn control_socket(cfgname: &str) -> PathBuf {
    run_dir().join(format!("ldirectord.{cfgname}.sock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfgname_is_last_component_or_ldirectord() {
        let c = ConfigRef::new(Some("/tmp/x/lb.cf"));
        assert_eq!(c.cfgname, "lb.cf");
        let c = ConfigRef::new(None);
        assert_eq!(c.given, "ldirectord.cf");
        assert_eq!(c.cfgname, "ldirectord");
    }

    #[test]
    fn absolute_missing_config_does_not_resolve() {
        assert_eq!(
            ConfigRef::new(Some("/nonexistent/lddtest.cf")).resolve(),
            None
        );
    }
}
