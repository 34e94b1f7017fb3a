//! `scripts/install.sh DESTDIR` lays out the Debian package paths, and the
//! init script parses and answers like Debian's.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn install_into_destdir_has_the_debian_layout() {
    let bin = ha_tests::env::ours_bin_dir();
    if !bin.join("heartbeat").exists() || !bin.join("hb_takeover").exists() {
        if std::env::var_os("HA_E2E_REQUIRED").is_some() {
            panic!("{} has no release binaries", bin.display());
        }
        println!("SKIP install: no release binaries in {}", bin.display());
        return;
    }
    let dest = Dir(std::env::temp_dir().join(format!("hbr{}-install", std::process::id())));
    let out = Command::new(repo().join("scripts/install.sh"))
        .arg(&dest.0)
        .env("BIN_DIR", &bin)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let d = &dest.0;
    for (p, m) in [
        ("usr/libexec/heartbeat/heartbeat", 0o755),
        ("usr/bin/cl_status", 0o755),
        ("usr/share/heartbeat/hb_standby", 0o755),
        ("usr/share/heartbeat/hb_takeover", 0o755),
        ("etc/init.d/heartbeat", 0o755),
        ("lib/systemd/system/heartbeat.service", 0o644),
        ("usr/lib/tmpfiles.d/heartbeat.conf", 0o644),
        ("etc/ha.d/resource.d", 0o755),
        ("var/lib/heartbeat", 0o755),
    ] {
        assert_eq!(mode(&d.join(p)), m, "{p}");
    }
    // No configuration is installed; /etc/heartbeat is ha.d.
    for p in [
        "etc/ha.d/ha.cf",
        "etc/ha.d/authkeys",
        "etc/ha.d/haresources",
    ] {
        assert!(!d.join(p).exists(), "{p} must not be installed");
    }
    assert_eq!(
        std::fs::read_link(d.join("etc/heartbeat")).unwrap(),
        Path::new("ha.d")
    );
    // Agents: exactly the ones that were built.
    for a in [
        "IPaddr",
        "IPaddr2",
        "LVSRealServer",
        "Filesystem",
        "drbddisk",
    ] {
        assert_eq!(
            d.join("etc/ha.d/resource.d").join(a).exists(),
            bin.join(a).exists(),
            "{a}"
        );
    }
    if bin.join("ldirectord").exists() {
        assert_eq!(
            std::fs::read_link(d.join("etc/ha.d/resource.d/ldirectord")).unwrap(),
            Path::new("/usr/sbin/ldirectord")
        );
    }
    // The installed daemon is the one we built and runs.
    let v = Command::new(d.join("usr/libexec/heartbeat/heartbeat"))
        .arg("-V")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("3.0.6"));
    // Installing again over an existing tree works (no clobbered links).
    let again = Command::new(repo().join("scripts/install.sh"))
        .arg(&dest.0)
        .env("BIN_DIR", &bin)
        .output()
        .unwrap();
    assert!(again.status.success());
}

#[test]
fn init_script_parses_and_rejects_unknown_verbs() {
    let script = repo().join("packaging/init.d/heartbeat");
    let n = Command::new("sh").arg("-n").arg(&script).status().unwrap();
    assert!(n.success());
    let out = Command::new("sh")
        .arg(&script)
        .arg("bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Usage: /")
            || String::from_utf8_lossy(&out.stdout)
                .contains("{start|stop|status|restart|reload|force-reload}")
    );
    let unit = std::fs::read_to_string(repo().join("packaging/systemd/heartbeat.service")).unwrap();
    for line in [
        "Type=simple",
        "ExecStart=/usr/libexec/heartbeat/heartbeat -f",
        "ExecStop=/usr/libexec/heartbeat/heartbeat -k",
        "KillMode=process",
        "SendSIGKILL=no",
    ] {
        assert!(unit.lines().any(|l| l == line), "unit lacks {line}");
    }
}
