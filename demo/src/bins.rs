//! Finding (and, from a source tree, building) the programs the cluster
//! runs: our `heartbeat` and `cl_status`, the harness's `nsinit`, our
//! `LVSRealServer` agent for the real servers, and our `ldirectord` (optional:
//! without a working one the demo tells the VIP-only story).
//! `cargo run -p hademo` builds only this package, so the first run builds
//! the others into the same target dir.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

pub const NEEDED: [&str; 4] = ["heartbeat", "cl_status", "nsinit", "LVSRealServer"];
pub const LDIRECTORD: &str = "ldirectord";

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

/// `cargo build --release -p <pkg> --bin …` into `target`.
fn cargo_build(manifest: &Path, target: &Path, pkg: &str, bins: &[&str]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut c = Command::new(&cargo);
    c.args(["build", "--release", "--quiet"])
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target)
        .args(["-p", pkg]);
    for b in bins {
        c.args(["--bin", b]);
    }
    let status = c
        .status()
        .with_context(|| format!("run {}", Path::new(&cargo).display()))?;
    if !status.success() {
        bail!("cargo build of {pkg} failed ({status})");
    }
    Ok(())
}

/// Directory holding [`NEEDED`] (and maybe [`LDIRECTORD`]). `explicit`
/// (`--bin-dir`, `HA_BIN_DIR`) is used as is; otherwise, from a source
/// tree, `cargo build --release` of the daemons, the agent and the harness
/// (a no-op when up to date).
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
                "{} lacks {}: build them with `cargo build --release -p heartbeat -p ha-tests \
                 -p resource-agents -p ldirectord --bins`",
                dir.display(),
                gone.join(", ")
            );
        }
        // Absolute: the nodes run these paths from their own directories
        // (a relative one made every agent call exit 127).
        return std::fs::canonicalize(&dir).with_context(|| format!("bin dir {}", dir.display()));
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
    println!(
        "building our heartbeat, cl_status, LVSRealServer, ldirectord and the harness's nsinit (release) ..."
    );
    cargo_build(&manifest, &target, "heartbeat", &["heartbeat", "cl_status"])?;
    cargo_build(&manifest, &target, "ha-tests", &["nsinit"])?;
    cargo_build(&manifest, &target, "resource-agents", &["LVSRealServer"])?;
    // Optional: a broken ldirectord build leaves the VIP-only story.
    if let Err(e) = cargo_build(&manifest, &target, "ldirectord", &[LDIRECTORD]) {
        println!("  ({e:#}: the demo runs without ldirectord)");
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

/// Our `ldirectord` in `dir` if it is a working daemon (it answers
/// `--version` like ldirectord does), else why not.
pub fn ldirectord(dir: &Path) -> Result<PathBuf, String> {
    let bin = dir.join(LDIRECTORD);
    if !bin.is_file() {
        return Err(format!("{} not built", bin.display()));
    }
    let out = ha_tests::cmd::run(Command::new(&bin).arg("--version"), Duration::from_secs(5))
        .map_err(|e| format!("{e:#}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && text.to_ascii_lowercase().contains("director") {
        Ok(bin)
    } else {
        Err(format!(
            "{} --version: {} ({})",
            bin.display(),
            text.lines().next().unwrap_or("").trim(),
            out.status
        ))
    }
}
