//! The same behaviours as `scenarios.rs`, through real membership cores:
//! Comm_now_up, deadtime, initdead, generations and graceful shutdown come
//! from hb-membership, not from a model of it.

mod cluster;

use std::time::Duration;

use cluster::{Cluster, N1, N2};
use hb_resources::{AutoFailback, Hold, LocalRequest, RscStatus, Scope};

const G1: usize = 0;
const G2: usize = 1;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn booted(afb: AutoFailback) -> Cluster {
    let mut c = Cluster::new(afb, false, 7);
    c.boot(N1);
    c.boot(N2);
    c.run_until(secs(30), Cluster::at_home)
        .unwrap_or_else(|| panic!("boot did not settle\n{}", c.dump()));
    c
}

#[test]
fn boot_together_groups_come_up_after_rqstdelay() {
    let mut c = Cluster::new(AutoFailback::On, false, 1);
    c.boot(N1);
    c.boot(N2);
    let t = c
        .run_until(secs(30), |c| {
            c.owner(G1) == Some(N1) && c.owner(G2) == Some(N2)
        })
        .expect("groups up");
    // Reference: VIP ≈ 11 s after both are active (RQSTDELAY 10 s).
    assert!(
        t >= secs(10) && t <= secs(13),
        "groups up after {t:?}\n{}",
        c.dump()
    );
    for i in [N1, N2] {
        assert!(c.has_log(i, "Initial resource acquisition complete (T_RESOURCES(us))"));
    }
}

#[test]
fn alone_takes_everything_after_initdead() {
    let mut c = Cluster::new(AutoFailback::On, false, 2);
    c.boot(N1);
    let t = c
        .run_until(secs(20), |c| {
            c.owner(G1) == Some(N1) && c.owner(G2) == Some(N1)
        })
        .expect("all groups");
    assert!(t >= secs(6) && t < secs(8), "took {t:?}");
    assert!(c.has_log(N1, "Resources being acquired from node2."));
}

#[test]
fn crash_then_takeover_then_auto_failback() {
    let mut c = booted(AutoFailback::On);
    c.crash(N1);
    let t = c
        .run_until(secs(20), |c| c.owner(G1) == Some(N2))
        .expect("takeover");
    // Dead deadtime after the last heartbeat heard (reference: 2.5–3.5 s),
    // then probe and start.
    assert!(t >= secs(2) && t < secs(5), "takeover after {t:?}");
    c.run_for(secs(2));
    c.boot(N1);
    let back = c
        .run_until(secs(20), |c| c.owner(G1) == Some(N1))
        .expect("failback");
    // Reference: 2.8–3.4 s at ka1/dt3 from the restart.
    assert!(back < secs(5), "failback took {back:?}\n{}", c.dump());
    assert!(c.has_log(N2, "node2 wants to go standby [foreign]"));
    c.run_for(secs(2));
    assert_eq!(c.rm(N1).rsc_status(), RscStatus::Held(Hold::LOCAL));
    assert_eq!(c.rm(N2).rsc_status(), RscStatus::Held(Hold::LOCAL));
    no_audit_errors(&c);
}

/// The failback's `done` used to overtake the giver's updated report, so
/// the taker logged "Both machines own our resources!" (and the giver "No
/// one owns foreign resources!") with nothing running twice.
fn no_audit_errors(c: &Cluster) {
    for i in [N1, N2] {
        let bad: Vec<_> = c.nodes[i]
            .logs
            .iter()
            .filter(|(_, l)| l.text.contains("Both machines own") || l.text.contains("No one owns"))
            .collect();
        assert!(bad.is_empty(), "{bad:?}\n{}", c.dump());
    }
}

#[test]
fn auto_failback_off_keeps_groups_until_hb_takeover() {
    let mut c = booted(AutoFailback::Off);
    c.crash(N1);
    c.run_until(secs(20), |c| c.owner(G1) == Some(N2))
        .expect("takeover");
    c.boot(N1);
    c.run_for(secs(15));
    assert_eq!(c.owner(G1), Some(N2));
    c.request(N1, LocalRequest::Takeover(Scope::All));
    c.run_until(secs(10), |c| {
        c.owner(G1) == Some(N1) && c.owner(G2) == Some(N1)
    })
    .expect("hb_takeover");
}

#[test]
fn standby_and_graceful_stop() {
    let mut c = booted(AutoFailback::On);
    c.request(N1, LocalRequest::Standby(Scope::All));
    let t = c
        .run_until(secs(10), |c| {
            c.owner(G1) == Some(N2) && c.owner(G2) == Some(N2)
        })
        .expect("standby");
    assert!(t < secs(2), "standby took {t:?}");
    c.request(N1, LocalRequest::Takeover(Scope::All));
    c.run_until(secs(10), |c| {
        c.owner(G1) == Some(N1) && c.owner(G2) == Some(N1)
    })
    .expect("takeover");
    c.run_for(secs(1));
    c.request(N1, LocalRequest::Shutdown);
    let t = c
        .run_until(secs(10), |c| {
            c.owner(G1) == Some(N2) && c.owner(G2) == Some(N2)
        })
        .expect("graceful handover");
    // Reference: the peer had the VIP ≈1 s after the stop began.
    assert!(t < secs(2), "handover took {t:?}\n{}", c.dump());
    assert!(c.has_log(N2, "Received shutdown notice from 'node1'."));
    c.run_for(secs(5));
    assert!(!c.is_up(N1), "node1 finished its shutdown");
    no_audit_errors(&c);
}

#[test]
fn stop_failure_fences_and_peer_takes_over() {
    let mut c = booted(AutoFailback::On);
    c.nodes[N1].fail_stop.insert((G1, 1));
    c.request(N1, LocalRequest::Standby(Scope::All));
    c.run_until(secs(30), |c| c.nodes[N1].fenced)
        .expect("self-fence");
    let t = c
        .run_until(secs(20), |c| c.owner(G1) == Some(N2))
        .expect("takeover");
    assert!(t < secs(5), "took {t:?}");
}

#[test]
fn start_failure_hands_the_group_to_the_peer() {
    let mut c = Cluster::new(AutoFailback::On, false, 3);
    c.nodes[N1].fail_start.insert((G1, 1));
    c.boot(N1);
    c.boot(N2);
    c.run_until(secs(40), |c| c.owner(G1) == Some(N2))
        .expect("hand-off");
}

#[test]
fn legacy_ip_request_failback() {
    let mut c = booted(AutoFailback::Legacy);
    c.crash(N1);
    c.run_until(secs(20), |c| c.owner(G1) == Some(N2))
        .expect("takeover");
    c.boot(N1);
    c.run_until(secs(20), |c| c.owner(G1) == Some(N1))
        .expect("ip-request failback");
}
