//! Shared helpers for the integration tests: test data paths and scratch
//! `/etc/ha.d`-like directories that are removed even when a test fails.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hb_config::Paths;

pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(data(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A scratch config directory, removed on drop.
pub struct ConfDir(PathBuf);

impl ConfDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "hb-config-it-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("create scratch dir");
        Self(d)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn paths(&self) -> Paths {
        Paths::under(&self.0)
    }

    /// Write `name` with `mode`.
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>, mode: u32) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).expect("write config file");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        p
    }

    /// A complete directory: ha.cf, authkeys (0600), optional haresources,
    /// nodeinfo naming `node`.
    pub fn with(
        tag: &str,
        hacf: &str,
        authkeys: &str,
        haresources: Option<&str>,
        node: &str,
    ) -> Self {
        let d = Self::new(tag);
        d.write("ha.cf", hacf, 0o644);
        d.write("authkeys", authkeys, 0o600);
        if let Some(h) = haresources {
            d.write("haresources", h, 0o644);
        }
        d.write("nodeinfo", format!("{node}\n"), 0o644);
        d
    }
}

impl Drop for ConfDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every problem of an error, rendered as `path:line: message`.
pub fn rendered(e: &hb_config::ConfigError) -> Vec<String> {
    e.problems.iter().map(ToString::to_string).collect()
}
