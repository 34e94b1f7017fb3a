//! Bad calls fail with a message and the LSB/OCF code, never a panic. These
//! fail before touching the system, so they run without root.

mod common;

use std::process::Command;

use common::Run;

const AGENTS: [&str; 4] = [
    env!("CARGO_BIN_EXE_IPaddr"),
    env!("CARGO_BIN_EXE_IPaddr2"),
    env!("CARGO_BIN_EXE_Filesystem"),
    env!("CARGO_BIN_EXE_LVSRealServer"),
];

fn run(bin: &str, args: &[&str]) -> Run {
    Run::of(
        Command::new(bin)
            .args(args)
            .env("HA_RSCTMP", std::env::temp_dir().join("hba-never-created")),
    )
}

#[test]
fn no_action_or_unknown_action_is_an_argument_error_with_usage() {
    for bin in AGENTS {
        for args in [&[][..], &["1.2.3.4", "restart"][..], &["frobnicate"][..]] {
            let r = run(bin, args);
            assert_eq!(r.code, 2, "{bin} {args:?}: {r:?}");
            assert!(r.stdout.starts_with("usage: "), "{bin} {args:?}: {r:?}");
            assert!(!r.stderr.is_empty(), "{bin} {args:?}: no message");
        }
        let r = run(bin, &["usage"]);
        assert_eq!(r.code, 0, "{bin} usage: {r:?}");
    }
}

#[test]
fn malformed_ip_arguments_are_configuration_errors() {
    for bin in [AGENTS[0], AGENTS[1]] {
        for arg in [
            "192.0.2",
            "192.0.2.300",
            "0.0.0.1",
            "fe80::1",
            "192.0.2.1/33",
            "192.0.2.1/abc",
            "192.0.2.1/24/eth0/999.1.1.1",
            "192.0.2.1/24/bad/iface",
        ] {
            for action in ["start", "stop", "status"] {
                let r = run(bin, &[arg, action]);
                assert_eq!(r.code, 6, "{bin} {arg} {action}: {r:?}");
                assert_eq!(r.stdout.trim(), "ERROR:  Program is not configured");
                assert!(r.stderr.contains("ERROR"), "{bin} {arg}: {r:?}");
                assert!(!hb_resources::says_running(&r.stdout));
            }
        }
        let r = run(bin, &["192.0.2.1", "192.0.2.2", "start"]);
        assert_eq!(r.code, 2, "{bin}: two IPs: {r:?}");
    }
    let r = run(AGENTS[1], &["192.0.2.1/24/eth0:labeltoolong", "start"]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(r.stderr.contains("15"), "{r:?}");
}

#[test]
fn filesystem_argument_errors() {
    let fs = AGENTS[2];
    let r = run(fs, &["/dev/sdz9", "start"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = run(fs, &["/dev/sdz9", "relative/dir", "ext4", "start"]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(r.stderr.contains("absolute"), "{r:?}");
    let r = run(fs, &["/dev/sdz9", "/mnt/x", "ext4", "loop", "start"]);
    assert_eq!(r.code, 6, "{r:?}");
    let r = run(fs, &["-L", "/mnt/x", "ext4", "start"]);
    assert_eq!(r.code, 6, "{r:?}");
    let r = run(fs, &["/dev/sdz9", "/mnt/x", "ext4", "rw", "extra", "start"]);
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn lvs_real_server_argument_errors() {
    let lvs = AGENTS[3];
    let r = run(lvs, &["start"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = run(lvs, &["10.0.0.300", "start"]);
    assert_eq!(r.code, 6, "{r:?}");
    let r = run(lvs, &["10.0.0.3", "eth0/../x", "start"]);
    assert_eq!(r.code, 6, "{r:?}");
}
