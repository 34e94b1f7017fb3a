//! Our ldirectord on the real kernel IPVS of a user-mode-linux guest, end to
//! end: real nginx servers in namespaces behind an LVS-NAT and an LVS-DR
//! virtual service, a client namespace fetching through the VIPs, and the
//! kernel table (`ipvsadm -Ln`) after every step compared with what
//! ldirectord 4.12 leaves there (reference §4–§5: quiesce on failure,
//! fallback when no real is up, reload re-running the start-up logic with
//! the new config, cleanstop).
//!
//! The guest side is `tests/vm/ldirectord-scenario.sh`. `HA_VM_LDIRECTORD`
//! runs the same test against another ldirectord (e.g. Debian's Perl
//! `/usr/sbin/ldirectord`, to check the expectations themselves).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SCENARIO: &str = include_str!("../vm/ldirectord-scenario.sh");

const NAT_VIP: &str = "10.77.0.100";
const DR_VIP: &str = "10.77.0.200";

fn config(out: &Path, edited: bool) -> String {
    // the edit: quiescent yes→no, rs2's weight 2→5, scheduler wrr→rr (rr:
    // the HTTP answers stay predictable with unequal weights)
    let (quiescent, w2, sched) = if edited {
        ("no", 5, "rr")
    } else {
        ("yes", 2, "wrr")
    };
    format!(
        "# vm_ldirectord: NAT and DR virtual services\n\
         checktimeout=3\n\
         checkinterval=1\n\
         autoreload=no\n\
         logfile=\"{log}\"\n\
         quiescent={quiescent}\n\
         \n\
         virtual={NAT_VIP}:80\n\
         \treal=10.77.1.11:80 masq\n\
         \treal=10.77.1.12:80 masq {w2}\n\
         \tfallback=10.77.1.99:80 masq\n\
         \tservice=http\n\
         \trequest=\"index.html\"\n\
         \treceive=\"rs\"\n\
         \tscheduler={sched}\n\
         \tprotocol=tcp\n\
         \tchecktype=negotiate\n\
         \n\
         virtual={DR_VIP}:80\n\
         \treal=10.77.0.13:80 gate\n\
         \treal=10.77.0.14:80 gate\n\
         \tservice=http\n\
         \trequest=\"index.html\"\n\
         \treceive=\"rs\"\n\
         \tscheduler=rr\n\
         \tprotocol=tcp\n\
         \tchecktype=negotiate\n",
        log = out.join("ldirectord.log").display(),
    )
}

/// `(real, forwarding as listed, weight)`.
type Real = (&'static str, &'static str, u32);
/// `(scheduler, reals)` of one virtual service.
type Service = (&'static str, &'static [Real]);

/// One step: the kernel table ldirectord 4.12 leaves, as
/// `(scheduler, [(real, forwarding, weight)])` per VIP (absent = no service),
/// and which servers answer HTTP on each VIP (empty = nobody).
struct Step {
    name: &'static str,
    nat: Option<Service>,
    dr: Option<Service>,
    nat_http: &'static [&'static str],
    dr_http: &'static [&'static str],
}

const DR_UP: Service = (
    "rr",
    &[("10.77.0.13:80", "Route", 1), ("10.77.0.14:80", "Route", 1)],
);

const STEPS: &[Step] = &[
    // start: both reals of each service checked up, full weights
    Step {
        name: "start",
        nat: Some((
            "wrr",
            &[("10.77.1.11:80", "Masq", 1), ("10.77.1.12:80", "Masq", 2)],
        )),
        dr: Some(DR_UP),
        nat_http: &["rs1", "rs2"],
        dr_http: &["rs3", "rs4"],
    },
    // rs1 and rs3 stop: quiesced (weight 0), not deleted (quiescent=yes)
    Step {
        name: "down",
        nat: Some((
            "wrr",
            &[("10.77.1.11:80", "Masq", 0), ("10.77.1.12:80", "Masq", 2)],
        )),
        dr: Some((
            "rr",
            &[("10.77.0.13:80", "Route", 0), ("10.77.0.14:80", "Route", 1)],
        )),
        nat_http: &["rs2"],
        dr_http: &["rs4"],
    },
    // they come back: restored to their weights
    Step {
        name: "back",
        nat: Some((
            "wrr",
            &[("10.77.1.11:80", "Masq", 1), ("10.77.1.12:80", "Masq", 2)],
        )),
        dr: Some(DR_UP),
        nat_http: &["rs1", "rs2"],
        dr_http: &["rs3", "rs4"],
    },
    // both NAT reals down: both quiesced, the fallback added (-a … -w 1)
    Step {
        name: "alldown",
        nat: Some((
            "wrr",
            &[
                ("10.77.1.11:80", "Masq", 0),
                ("10.77.1.12:80", "Masq", 0),
                ("10.77.1.99:80", "Masq", 1),
            ],
        )),
        dr: Some(DR_UP),
        nat_http: &["sorry"],
        dr_http: &["rs3", "rs4"],
    },
    // one back: restored, fallback removed
    Step {
        name: "oneback",
        nat: Some((
            "wrr",
            &[("10.77.1.11:80", "Masq", 0), ("10.77.1.12:80", "Masq", 2)],
        )),
        dr: Some(DR_UP),
        nat_http: &["rs2"],
        dr_http: &["rs3", "rs4"],
    },
    // reload with quiescent=no, rs2 2→5, wrr→rr: -E with the new scheduler,
    // -e rs2 w5, and the down rs1 goes through the start-up flap (-e w1, -d)
    // and stays deleted
    Step {
        name: "reload",
        nat: Some(("rr", &[("10.77.1.12:80", "Masq", 5)])),
        dr: Some(DR_UP),
        nat_http: &["rs2"],
        dr_http: &["rs3", "rs4"],
    },
    // rs2 stops, now with quiescent=no: deleted; nothing up, so the fallback
    Step {
        name: "deleted",
        nat: Some(("rr", &[("10.77.1.99:80", "Masq", 1)])),
        dr: Some(DR_UP),
        nat_http: &["sorry"],
        dr_http: &["rs3", "rs4"],
    },
    // both back: re-added with the new weights, fallback removed
    Step {
        name: "allback",
        nat: Some((
            "rr",
            &[("10.77.1.11:80", "Masq", 1), ("10.77.1.12:80", "Masq", 5)],
        )),
        dr: Some(DR_UP),
        nat_http: &["rs1", "rs2"],
        dr_http: &["rs3", "rs4"],
    },
    // stop (cleanstop=yes): -d the up reals, -D the services
    Step {
        name: "stop",
        nat: None,
        dr: None,
        nat_http: &[],
        dr_http: &[],
    },
];

/// The scenario's normalized `ipvsadm -Ln`: `TCP <vip:port> <sched>` per
/// service and `TCP <vip:port> <sched> -> <rip:port> <fwd> <weight>` per
/// real, byte-sorted.
fn expected_table(step: &Step) -> String {
    let mut lines = Vec::new();
    for (vip, svc) in [(NAT_VIP, step.nat), (DR_VIP, step.dr)] {
        if let Some((sched, reals)) = svc {
            let head = format!("TCP {vip}:80 {sched}");
            for (rip, fwd, w) in reals {
                lines.push(format!("{head} -> {rip} {fwd} {w}"));
            }
            lines.push(head);
        }
    }
    lines.sort();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Bodies of the 200 answers per VIP in a `.http` record, and whether any
/// request failed.
fn answers(http: &str, vip: &str) -> (BTreeSet<String>, usize) {
    let mut names = BTreeSet::new();
    let mut failed = 0;
    for l in http.lines().filter_map(|l| l.strip_prefix(vip)) {
        match l.split_whitespace().collect::<Vec<_>>()[..] {
            [body, "200"] => {
                names.insert(body.to_string());
            }
            _ => failed += 1,
        }
    }
    (names, failed)
}

/// Ours, unless `HA_VM_LDIRECTORD` names another; the reason when ours is
/// missing or unusable.
/// `(binary, options, is the Perl original)`.
fn ldirectord() -> Result<(PathBuf, String, bool), String> {
    if let Some(p) = std::env::var_os("HA_VM_LDIRECTORD").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        // Debian's (Perl) takes no backend option
        let first_line: Vec<u8> = fs::read(&p)
            .unwrap_or_default()
            .into_iter()
            .take_while(|c| *c != b'\n')
            .collect();
        let perl =
            first_line.starts_with(b"#!") && String::from_utf8_lossy(&first_line).contains("perl");
        let opts = if perl { "" } else { "--ipvs kernel" };
        return Ok((p, opts.into(), perl));
    }
    let bin = ha_tests::env::ours_bin_dir().join("ldirectord");
    if !bin.exists() {
        return Err(format!(
            "{} missing: cargo build --release -p ldirectord",
            bin.display()
        ));
    }
    let version = Command::new(&bin)
        .arg("--version")
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if !version.status.success() {
        return Err(format!(
            "{} is not usable yet (`--version`: {}{})",
            bin.display(),
            String::from_utf8_lossy(&version.stdout).trim(),
            String::from_utf8_lossy(&version.stderr).trim()
        ));
    }
    Ok((bin, "--ipvs kernel".into(), false))
}

#[test]
fn ldirectord_drives_real_ipvs_nat_and_dr() {
    let vm = ha_tests::require_vm!(["ipvsadm", "nginx", "curl"]);
    let (ld, opts, perl) = match ldirectord() {
        Ok(found) => found,
        Err(why) => {
            if std::env::var_os("HA_E2E_REQUIRED").is_some_and(|v| !v.is_empty()) {
                panic!("HA_E2E_REQUIRED is set but {why}");
            }
            eprintln!("SKIP ldirectord_drives_real_ipvs_nat_and_dr: {why}");
            return;
        }
    };
    let dir = ha_tests::vm::scratch_dir().expect("scratch");
    let (out, exp) = (dir.path().join("out"), dir.path().join("exp"));
    fs::create_dir(&out).expect("out");
    fs::create_dir(&exp).expect("exp");
    fs::write(dir.path().join("scenario.sh"), SCENARIO).expect("scenario");
    let cf = dir.path().join("ldv.cf");
    fs::write(&cf, config(&out, false)).expect("cf");
    fs::write(dir.path().join("ldv-edited.cf"), config(&out, true)).expect("cf2");
    for s in STEPS {
        fs::write(exp.join(format!("{}.table", s.name)), expected_table(s)).expect("exp");
    }
    let vm = vm
        .env("OUT", out.to_string_lossy())
        .env("EXP", exp.to_string_lossy())
        .env("CF", cf.to_string_lossy())
        .env("CF2", dir.path().join("ldv-edited.cf").to_string_lossy())
        .env("LDIRECTORD", ld.to_string_lossy())
        .env("LD_OPTS", opts)
        // each Perl system() costs ~1 s under UML: its start-up flap alone
        // takes ~40 s there
        .env("STEP_DEADLINE", if perl { "150" } else { "30" });
    let run = vm
        .run(
            dir.path(),
            "exec sh ./scenario.sh",
            Duration::from_secs(400),
        )
        .expect("guest");
    let read = |f: &str| fs::read_to_string(out.join(f)).unwrap_or_default();
    eprintln!(
        "vm_ldirectord ({}): wall {:?}; guest timeline:\n{}",
        ld.display(),
        run.wall,
        read("timeline")
    );
    let context = || format!("{run}\n--- ldirectord log ---\n{}", read("ldirectord.log"));

    let rc = |n: &str| read(&format!("ld_{n}.rc")).trim().to_string();
    assert_eq!(
        rc("status_before"),
        "3",
        "status before start\n{}",
        context()
    );
    assert_eq!(
        rc("start"),
        "0",
        "start: {}\n{}",
        read("ld_start.err"),
        context()
    );

    for s in STEPS {
        let got = read(&format!("{}.table", s.name));
        assert_eq!(
            got,
            expected_table(s),
            "kernel table after step `{}` (left: ipvsadm -Ln in the guest)\n{}",
            s.name,
            context()
        );
        let http = read(&format!("{}.http", s.name));
        for (vip, want) in [(NAT_VIP, s.nat_http), (DR_VIP, s.dr_http)] {
            let (names, failed) = answers(&http, vip);
            let want: BTreeSet<String> = want.iter().map(|w| w.to_string()).collect();
            assert_eq!(names, want, "HTTP via {vip} after `{}`:\n{http}", s.name);
            // every request answered while someone serves; all refused after stop
            let want_failed = if want.is_empty() { 4 } else { 0 };
            assert_eq!(
                failed, want_failed,
                "HTTP via {vip} after `{}`:\n{http}",
                s.name
            );
        }
        if s.name == "start" {
            assert_eq!(rc("status_running"), "0", "status while running");
        }
        if s.name == "reload" {
            assert_eq!(rc("reload"), "0", "reload: {}", read("ld_reload.err"));
        }
    }
    assert_eq!(rc("stop"), "0");
    assert_eq!(rc("status_after"), "3", "status after stop");
    assert_eq!(run.code, Some(0), "{}", context());
}
