//! Where the binaries are and whether this machine can run the end-to-end
//! tests at all.
//!
//! Gating: without root or without the Debian heartbeat package a test
//! prints `SKIP <test>: <reason>` and passes, unless `HA_E2E_REQUIRED` is
//! set (CI sets it), in which case the missing prerequisite fails the test.

use std::path::{Path, PathBuf};

/// The real daemon from the Debian package.
pub const REAL_DAEMON: &str = "/usr/libexec/heartbeat/heartbeat";
/// The real `cl_status` (talks to the real daemon's API socket only).
pub const REAL_CL_STATUS: &str = "/usr/bin/cl_status";
/// The stock init script used to start and stop real nodes.
pub const REAL_INIT: &str = "/etc/init.d/heartbeat";

/// What a test needs besides root and the real package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Only the real heartbeat.
    Real,
    /// Also our `heartbeat` and `cl_status` binaries.
    Ours,
}

/// Paths the harness runs.
#[derive(Clone, Debug)]
pub struct Env {
    /// The PID-1 reaper for node namespaces (`nsinit` of this crate).
    pub nsinit: PathBuf,
    /// Directory holding our `heartbeat` and `cl_status`.
    pub ours: PathBuf,
}

/// Our binaries: `$HA_BIN_DIR`, else `$CARGO_TARGET_DIR/release`, else the
/// workspace's `target/release`.
pub fn ours_bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("HA_BIN_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("release");
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("release")
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn find_in_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| is_executable(&d.join(prog))))
        .unwrap_or(false)
}

/// The first unmet prerequisite, if any.
pub fn missing(needs: Needs, nsinit: &Path) -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (namespaces and heartbeat need root)".into());
    }
    for p in [REAL_DAEMON, REAL_CL_STATUS, REAL_INIT] {
        if !is_executable(Path::new(p)) {
            return Some(format!(
                "{p} missing: install the Debian `heartbeat` package"
            ));
        }
    }
    for prog in ["ip", "unshare", "nsenter"] {
        if !find_in_path(prog) {
            return Some(format!("`{prog}` not in PATH (iproute2 / util-linux)"));
        }
    }
    if !is_executable(nsinit) {
        return Some(format!("{} missing (build ha-tests)", nsinit.display()));
    }
    if needs == Needs::Ours {
        let dir = ours_bin_dir();
        for b in ["heartbeat", "cl_status"] {
            if !is_executable(&dir.join(b)) {
                return Some(format!(
                    "our {} missing: run `cargo build --release -p heartbeat` or set HA_BIN_DIR",
                    dir.join(b).display()
                ));
            }
        }
    }
    None
}

/// `Some(env)` if `test` can run; otherwise prints why and returns `None`,
/// or panics when `HA_E2E_REQUIRED` is set.
pub fn require(test: &str, needs: Needs, nsinit: &Path) -> Option<Env> {
    match missing(needs, nsinit) {
        None => Some(Env {
            nsinit: nsinit.to_path_buf(),
            ours: ours_bin_dir(),
        }),
        Some(why) => {
            if std::env::var_os("HA_E2E_REQUIRED").is_some_and(|v| !v.is_empty()) {
                panic!("{test}: HA_E2E_REQUIRED is set but {why}");
            }
            // Straight to fd 2: libtest captures `eprintln!` of passing
            // tests, and a skip must be visible.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {test}: {why} (set HA_E2E_REQUIRED=1 to make this an error)"
            );
            None
        }
    }
}
