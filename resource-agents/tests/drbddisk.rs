//! drbddisk against a fake `drbdadm` on PATH (a script written into the test's
//! temp dir): it logs every call, fails `primary`/`secondary` a set number of
//! times, and answers `role` from a file. A real DRBD test is separate.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::Run;

const DRBDDISK: &str = env!("CARGO_BIN_EXE_drbddisk");

const FAKE: &str = r#"#!/bin/sh
# fake drbdadm: $FAKE_DIR holds calls.log, fail-<verb> counters, role
dir="$FAKE_DIR"
echo "$*" >> "$dir/calls.log"
case "$1" in
primary|secondary)
    n=$(cat "$dir/fail-$1" 2>/dev/null || echo 0)
    if [ "$n" -gt 0 ]; then
        echo $((n - 1)) > "$dir/fail-$1"
        echo "$1: State change failed: (-2) Need access to UpToDate data" >&2
        exit 11
    fi
    exit 0 ;;
role)
    if [ -f "$dir/role" ]; then cat "$dir/role"; exit 0; fi
    echo "'$2' not defined in your config" >&2
    exit 10 ;;
sh-dev|sh-minor)
    exit 10 ;;
*)
    exit 20 ;;
esac
"#;

struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hba-drbd")
            .tempdir()
            .expect("tempdir");
        let script = dir.path().join("drbdadm");
        std::fs::write(&script, FAKE).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    fn set(&self, name: &str, value: &str) {
        std::fs::write(self.dir.path().join(name), value).unwrap();
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn run(&self, args: &[&str]) -> Run {
        let _ = std::fs::remove_file(self.dir.path().join("calls.log"));
        let path = format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Run::of(
            Command::new(DRBDDISK)
                .args(args)
                .env("PATH", path)
                .env_remove("DRBDADM")
                .env("FAKE_DIR", self.dir.path()),
        )
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

#[test]
fn start_retries_primary_until_it_works() {
    let fake = Fake::new();
    fake.set("fail-primary", "2");
    let r = fake.run(&["r0", "start"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(fake.calls(), ["primary r0"; 3]);
}

#[test]
fn start_gives_up_after_six_tries() {
    let fake = Fake::new();
    fake.set("fail-primary", "99");
    let r = fake.run(&["r0", "start"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(fake.calls(), ["primary r0"; 6]);
    assert!(
        r.stderr.contains("State change failed"),
        "drbdadm's own message shows: {r:?}"
    );
}

#[test]
fn stop_gives_up_after_three_tries_and_resource_defaults_to_all() {
    let fake = Fake::new();
    fake.set("fail-secondary", "99");
    let r = fake.run(&["stop"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(fake.calls(), ["secondary all"; 3]);

    fake.set("fail-secondary", "1");
    let r = fake.run(&["r1", "stop"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(fake.calls(), ["secondary r1"; 2]);
}

#[test]
fn status_words_and_codes() {
    let fake = Fake::new();
    let cases = [
        ("Primary/Secondary\n", "running (Primary)", 0, true),
        ("Primary\n", "running (Primary)", 0, true),
        ("Secondary/Primary\n", "stopped (Secondary)", 3, false),
        ("Unconfigured\n", "stopped (Unconfigured)", 3, false),
    ];
    for (role, words, code, ours) in cases {
        fake.set("role", role);
        let r = fake.run(&["r0", "status"]);
        assert_eq!((r.code, r.stdout.trim()), (code, words), "{role:?}: {r:?}");
        assert_eq!(hb_resources::says_running(&r.stdout), ours, "{role:?}");
        assert_eq!(fake.calls(), ["role r0"]);
    }
    fake.set("role", "Secondary\n");
    let r = fake.run(&["r0", "monitor"]);
    assert_eq!((r.code, r.stdout.trim()), (7, "stopped (Secondary)"));

    // A role drbdadm cannot tell: "may be running", so a failed stop is not
    // mistaken for a clean one.
    std::fs::remove_file(fake.path().join("role")).unwrap();
    let r = fake.run(&["r0", "status"]);
    if Path::new("/proc/drbd").exists() {
        // The fake has no minor for it, so /proc/drbd cannot say either.
        assert_eq!(
            (r.code, r.stdout.trim()),
            (4, "cannot determine status, may be running (Unknown)"),
            "{r:?}"
        );
        assert!(hb_resources::says_running(&r.stdout));
    } else {
        assert_eq!(
            (r.code, r.stdout.trim()),
            (3, "stopped (Unconfigured)"),
            "{r:?}"
        );
    }
}

#[test]
fn bad_calls() {
    let fake = Fake::new();
    let r = fake.run(&["status"]);
    assert_eq!(
        (r.code, r.stdout.trim()),
        (10, "A resource name is required for status inquiries.")
    );
    for args in [&[][..], &["r0", "promote"][..], &["a", "b", "start"][..]] {
        let r = fake.run(args);
        assert_eq!(
            (r.code, r.stdout.trim()),
            (1, "Usage: drbddisk [resource] {start|stop|status}"),
            "{args:?}"
        );
    }
    assert!(fake.calls().is_empty());
}
