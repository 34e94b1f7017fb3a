//! Finding (and, from a source tree, building) the programs the cluster
//! runs: our `heartbeat` and `cl_status`, and the harness's `nsinit`.
//! `cargo run -p hademo` builds only this package, so the first run builds
//! the others into the same target dir.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

pub const NEEDED: [&str; 3] = ["heartbeat", "cl_status", "nsinit"];

fn missing_in(dir: &Path) -> Vec<&'static str> {
    NEEDED
        .into_iter()
        .filter(|b| !dir.join(b).is_file())
        .collect()
}

/// The target dir this binary was built into (`<target>/<profile>/hademo`).
fn own_target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.to_path_buf())
}

fn workspace_manifest() -> Option<PathBuf> {
    let m = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("Cargo.toml");
    m.is_file().then_some(m)
}

/// Directory holding [`NEEDED`]. `explicit` (`--bin-dir`, `HA_BIN_DIR`) is
/// used as is; otherwise, from a source tree, `cargo build --release` of
/// the daemon and the harness (a no-op when up to date).
pub fn locate(explicit: Option<PathBuf>) -> Result<PathBuf> {
    let explicit = explicit.or_else(|| {
        std::env::var_os("HA_BIN_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    });
    if let Some(dir) = explicit {
        let gone = missing_in(&dir);
        if !gone.is_empty() {
            bail!(
                "{} lacks {}: build them with `cargo build --release -p heartbeat -p ha-tests --bins`",
                dir.display(),
                gone.join(", ")
            );
        }
        return Ok(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(own_target_dir)
        .context("cannot tell where this binary was built; pass --bin-dir")?;
    let release = target.join("release");
    let Some(manifest) = workspace_manifest() else {
        let gone = missing_in(&release);
        if gone.is_empty() {
            return Ok(release);
        }
        bail!(
            "no source tree to build {} from; pass --bin-dir",
            gone.join(", ")
        );
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    println!("building our heartbeat, cl_status and the harness's nsinit (release) ...");
    let status = Command::new(&cargo)
        .args(["build", "--release", "--quiet"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .args([
            "-p",
            "heartbeat",
            "--bin",
            "heartbeat",
            "--bin",
            "cl_status",
        ])
        .status()
        .with_context(|| format!("run {}", Path::new(&cargo).display()))?;
    if !status.success() {
        bail!("cargo build of the daemon failed ({status})");
    }
    let status = Command::new(&cargo)
        .args(["build", "--release", "--quiet"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .args(["-p", "ha-tests", "--bin", "nsinit"])
        .status()
        .with_context(|| format!("run {}", Path::new(&cargo).display()))?;
    if !status.success() {
        bail!("cargo build of nsinit failed ({status})");
    }
    let gone = missing_in(&release);
    if !gone.is_empty() {
        bail!(
            "{} still lacks {} after the build",
            release.display(),
            gone.join(", ")
        );
    }
    Ok(release)
}
