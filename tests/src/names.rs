//! Unique names for namespaces and scratch dirs, and the sweep of leftovers
//! from test processes that died without cleaning up (SIGKILL, OOM, CI
//! timeout).
//!
//! Every name is `hbt<pid>x<n>…`: `<pid>` is the owning test process, so a
//! prefix whose process is gone is garbage, and parallel tests (or parallel
//! test binaries) never collide.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use crate::cmd;

/// Prefix of every namespace and scratch dir this harness creates.
pub const PREFIX: &str = "hbt";

static COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// A fresh `hbt<pid>x<n>` prefix. The first call per process sweeps stale
/// resources of dead test processes.
pub fn fresh_prefix() -> String {
    SWEEP.call_once(|| {
        for what in sweep_stale() {
            eprintln!("ha-tests: removed stale {what}");
        }
    });
    format!(
        "{PREFIX}{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The pid encoded in a harness name, if `name` is one.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, _) = rest.split_once('x')?;
    pid.parse().ok()
}

fn is_stale(name: &str) -> bool {
    owner_pid(name).is_some_and(|pid| {
        pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
    })
}

/// Kill what still runs in stale `hbt*` network namespaces, delete them and
/// their scratch dirs. Returns what was removed.
pub fn sweep_stale() -> Vec<String> {
    let mut removed = Vec::new();
    let netns: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    for ns in netns.iter().filter(|n| is_stale(n)) {
        if let Ok(pids) = cmd::check(Command::new("ip").args(["netns", "pids", ns]), cmd::SHORT) {
            for pid in pids
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                // SAFETY: plain kill(2) on a pid that lives in our stale namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if cmd::ip(&["netns", "del", ns]).is_ok() {
            removed.push(format!("netns {ns}"));
        }
    }
    if let Ok(d) = std::fs::read_dir(std::env::temp_dir()) {
        for e in d.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if is_stale(&name) && std::fs::remove_dir_all(e.path()).is_ok() {
                removed.push(format!("dir {}", e.path().display()));
            }
        }
    }
    removed
}

/// A scratch directory removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(name: &str) -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(name);
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        std::fs::create_dir_all(&path)?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Debugging aid: keep the node dirs under a name the sweep ignores.
        if std::env::var_os("HA_KEEP_DIRS").is_some_and(|v| !v.is_empty()) {
            if let Some(name) = self.path.file_name() {
                let kept = self
                    .path
                    .with_file_name(format!("kept-{}", name.to_string_lossy()));
                if std::fs::rename(&self.path, &kept).is_ok() {
                    eprintln!("ha-tests: kept {}", kept.display());
                    return;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_only_harness_names() {
        assert_eq!(owner_pid("hbt1234x7n1"), Some(1234));
        assert_eq!(owner_pid("hbt1234x0sw"), Some(1234));
        assert_eq!(owner_pid("hbp1"), None);
        assert_eq!(owner_pid("hbtabcx1"), None);
        assert_eq!(owner_pid("hbt99"), None);
    }

    #[test]
    fn own_and_live_prefixes_are_not_stale() {
        assert!(!is_stale(&format!("hbt{}x3n1", std::process::id())));
        // pid 1 always exists.
        assert!(!is_stale("hbt1x0sw"));
        assert!(!is_stale("unrelated"));
    }
}
