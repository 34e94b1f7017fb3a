//! Our heartbeat next to the real one, for each auth method: membership,
//! death detection both ways, steady-state packet flow, and rejection of
//! wrong keys, replays and older generations.
//!
//! node1 runs OUR daemon (queried with our cl_status), node2 the REAL one
//! (queried with /usr/bin/cl_status).

use std::time::Duration;

use ha_tests::netns::broadcast;
use ha_tests::udp::{decode, messages_from, reforge};
use ha_tests::{hold_for, require, wait_for, Auth, ClusterSpec, HaCf, Kind, Needs, Timing};

use crate::common::{
    boot_deadline, crash_and_time_death, graceful_stop_seen, restart_seen, revives, stays_dead,
    steady_state, FAST_POLL, SLOW_POLL,
};

const OURS: &str = "node1";
const REAL: &str = "node2";

/// Which node gets powered off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Victim {
    Ours,
    Real,
}

fn pair(method: &str, t: Timing, victim: Victim) {
    let env = require!(Needs::Ours);
    let auth = Auth::reference(method).unwrap();
    let keys = auth.keys();
    let mut c = ClusterSpec::new(auth, HaCf::with_timing(t))
        .node(OURS, Kind::Ours)
        .node(REAL, Kind::Real)
        .build(&env)
        .unwrap();
    let cap = c.capture().unwrap();
    let inj = c.injector().unwrap();
    let bcast = broadcast(c.udpport());
    c.start_all().unwrap();
    let took = c.wait_all_active(boot_deadline(&t)).unwrap();
    eprintln!("{method}: ours and real active after {took:?}");
    steady_state(&c, OURS, REAL).unwrap();

    // Our cl_status speaks the same exit codes as the real one.
    assert_eq!(
        c.node(OURS).status_with_code(REAL).unwrap(),
        (Some(0), "active".to_owned())
    );
    // Everything our daemon sent verifies under the shared key.
    let ours_ip = c.node(OURS).ip();
    let ours_pkts = cap.from_ip(ours_ip);
    assert!(!ours_pkts.is_empty(), "captured nothing from our daemon");
    for p in &ours_pkts {
        let m = decode(&p.bytes, &keys).unwrap();
        assert_eq!(m.get_str("src"), Some(OURS));
    }

    let (dead, survivor) = match victim {
        Victim::Ours => (OURS, REAL),
        Victim::Real => (REAL, OURS),
    };
    crash_and_time_death(&mut c, dead, survivor).unwrap();
    if victim == Victim::Real {
        assert_eq!(
            c.node(OURS).status_with_code(REAL).unwrap(),
            (Some(1), "dead".to_owned())
        );
    }

    // Replaying what the dead node sent while alive does not revive it.
    let sent = messages_from(&cap.packets(), dead, &keys);
    let statuses: Vec<_> = sent
        .iter()
        .filter(|(_, m)| m.msg_type() == Some("status"))
        .cloned()
        .collect();
    let (_, last) = statuses
        .last()
        .cloned()
        .expect("captured the victim's status packets");
    for (p, _) in statuses.iter().rev().take(5) {
        inj.send(&p.bytes, bcast).unwrap();
    }
    stays_dead(&c, survivor, dead, Duration::from_secs(2)).unwrap();

    // A correctly signed status from an older generation is rejected.
    let gen = last.get_hex("hg").expect("status has hg");
    let seq = last.get_hex("seq").expect("status has seq");
    let ts = ha_tests::udp::hex_now();
    let older = reforge(
        &last,
        &[
            ("hg", format!("{:x}", gen - 1)),
            ("seq", format!("{:x}", seq + 100)),
            ("ts", ts.clone()),
        ],
        &keys,
    )
    .unwrap();
    inj.send(&older, bcast).unwrap();
    stays_dead(&c, survivor, dead, Duration::from_secs(2)).unwrap();
    if victim == Victim::Ours {
        assert!(
            !c.node(REAL).log_lines("attempted replay attack").is_empty(),
            "real heartbeat did not flag the older generation"
        );
    }

    // Control: a newer generation, correctly signed, is a restart and is
    // accepted, so the rejections above were real decisions.
    let newer = reforge(
        &last,
        &[
            ("hg", format!("{:x}", gen + 1)),
            ("seq", "1".into()),
            ("ts", ts),
        ],
        &keys,
    )
    .unwrap();
    inj.send(&newer, bcast).unwrap();
    let st = revives(&c, survivor, dead, Duration::from_secs(3)).unwrap();
    eprintln!("{method}: {survivor} accepted the forged restart of {dead} as {st}");
}

/// Different keys on the two sides: neither may accept the other.
fn wrong_key(method: &str) {
    let env = require!(Needs::Ours);
    let t = Timing::FAST;
    let auth = Auth::reference(method).unwrap();
    let other = auth.with_key("SomethingElse").unwrap();
    let c = {
        let mut c = ClusterSpec::new(auth, HaCf::with_timing(t))
            .node(OURS, Kind::Ours)
            .node(REAL, Kind::Real)
            .auth_for(REAL, other)
            .build(&env)
            .unwrap();
        c.start_all().unwrap();
        c
    };
    let (ours, real) = (c.node(OURS), c.node(REAL));
    wait_for(
        "both sides to give up on each other",
        boot_deadline(&t),
        FAST_POLL,
        || {
            real.expect_status(OURS, "dead")?;
            ours.expect_status(REAL, "dead")
        },
    )
    .unwrap();
    stays_dead(&c, REAL, OURS, Duration::from_secs(2)).unwrap();
    stays_dead(&c, OURS, REAL, Duration::from_secs(1)).unwrap();
    let rejected = real.log_lines("authtoken does not match");
    assert!(
        !rejected.is_empty(),
        "real heartbeat did not reject our packets"
    );
    eprintln!(
        "{method}: real rejected ours {} times; our log on auth: {:?}",
        rejected.len(),
        ours.ha_log()
            .lines()
            .filter(|l| l.to_ascii_lowercase().contains("auth"))
            .take(3)
            .collect::<Vec<_>>()
    );
}

/// Graceful stops and restarts in both directions: our shutdown notice is
/// understood by the real node, our restart is a new generation to it, and
/// we follow the real node's stop and restart.
#[test]
fn interop_sha1_graceful_stop_and_restart() {
    let env = require!(Needs::Ours);
    let t = Timing::FAST;
    let mut c = ClusterSpec::new(Auth::reference("sha1").unwrap(), HaCf::with_timing(t))
        .node(OURS, Kind::Ours)
        .node(REAL, Kind::Real)
        .build(&env)
        .unwrap();
    c.start_all().unwrap();
    c.wait_all_active(boot_deadline(&t)).unwrap();
    // Heartbeat advertises deadtime + 2 s for its first 5 s (§3.2 `dt`), and
    // the peer times the death by that: stay past it before stopping.
    let (a, b) = (c.node(OURS), c.node(REAL));
    hold_for("both active", Duration::from_secs(6), SLOW_POLL, || {
        a.expect_status(REAL, "active")?;
        b.expect_status(OURS, "active")
    })
    .unwrap();

    graceful_stop_seen(&mut c, OURS, REAL).unwrap();
    assert!(
        !c.node(REAL)
            .log_lines(&format!("Received shutdown notice from '{OURS}'"))
            .is_empty(),
        "the real node did not see our shutdown notice"
    );
    restart_seen(&mut c, OURS, REAL).unwrap();
    assert!(
        !c.node(REAL)
            .log_lines(&format!("Heartbeat restart on node {OURS}"))
            .is_empty(),
        "the real node did not see our restart as a new generation"
    );
    assert!(c.node(REAL).log_lines("attempted replay attack").is_empty());

    graceful_stop_seen(&mut c, REAL, OURS).unwrap();
    restart_seen(&mut c, REAL, OURS).unwrap();
}

#[test]
fn interop_crc_ours_dies() {
    pair("crc", Timing::FAST, Victim::Ours);
}

#[test]
fn interop_crc_real_dies() {
    pair("crc", Timing::FAST, Victim::Real);
}

#[test]
fn interop_md5_ours_dies() {
    pair("md5", Timing::STANDARD, Victim::Ours);
}

#[test]
fn interop_md5_real_dies() {
    pair("md5", Timing::STANDARD, Victim::Real);
}

#[test]
fn interop_sha1_ours_dies() {
    pair("sha1", Timing::FAST, Victim::Ours);
}

#[test]
fn interop_sha1_real_dies() {
    pair("sha1", Timing::FAST, Victim::Real);
}

#[test]
fn wrong_key_md5_rejected_both_ways() {
    wrong_key("md5");
}

#[test]
fn wrong_key_sha1_rejected_both_ways() {
    wrong_key("sha1");
}
