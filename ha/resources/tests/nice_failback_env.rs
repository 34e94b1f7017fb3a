//! Which agent runs get `HA_NICEFAILBACK=yes` (`AgentRequest::nice_failback`).
//! heartbeat 3.0.6 exports it, with nice_failback on, only in the
//! processes that take groups at boot or from a dead peer
//! (`req_our_resources` → `req_resource` / `rc.d/ip-request-resp`, and
//! `notify_world` → `rc.d/status` → `mach_down`); `go_standby` and
//! `hb_giveup_resources` run `ResourceManager` without it, and legacy mode
//! never sets it.

mod cluster;

use std::time::Duration;

use cluster::{Cluster, N1, N2};
use hb_resources::{Action, AgentRequest, AutoFailback, LocalRequest};

const G1: usize = 0;
const G2: usize = 1;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn booted(afb: AutoFailback, seed: u64) -> Cluster {
    let mut c = Cluster::new(afb, false, seed);
    c.boot(N1);
    c.boot(N2);
    c.run_until(secs(30), Cluster::at_home)
        .unwrap_or_else(|| panic!("boot did not settle\n{}", c.dump()));
    c
}

/// Node `i`'s agent runs since `t`.
fn runs_since(c: &Cluster, i: usize, t: Duration) -> Vec<AgentRequest> {
    c.nodes[i]
        .runs
        .iter()
        .filter(|(at, _)| *at >= t)
        .map(|(_, r)| r.clone())
        .collect()
}

fn assert_env(runs: &[AgentRequest], want: bool, what: &str) {
    assert!(!runs.is_empty(), "{what}: no agent runs");
    let wrong: Vec<_> = runs.iter().filter(|r| r.nice_failback != want).collect();
    assert!(
        wrong.is_empty(),
        "{what}: HA_NICEFAILBACK should be {}: {wrong:?}",
        if want { "set" } else { "unset" }
    );
}

#[test]
fn set_for_boot_and_mach_down_takes_not_for_standby_or_shutdown() {
    let mut c = booted(AutoFailback::On, 21);
    // Boot: req_our_resources on both nodes (probe + start).
    for i in [N1, N2] {
        assert_env(&runs_since(&c, i, Duration::ZERO), true, "boot takeover");
    }

    // node1 dies: node2's mach_down takes G1.
    let t = c.now();
    c.crash(N1);
    c.run_until(secs(20), |c| c.owner(G1) == Some(N2))
        .expect("takeover");
    let taken = runs_since(&c, N2, t);
    assert!(taken
        .iter()
        .any(|r| r.group == G1 && r.action == Action::Start));
    assert_env(&taken, true, "mach_down takeover");
    c.run_for(secs(1));

    // node1 returns: auto failback is a standby of node2's foreign set
    // (go_standby on both sides).
    let t = c.now();
    c.boot(N1);
    c.run_until(secs(20), |c| {
        c.owner(G1) == Some(N1) && c.rm(N2).is_stable()
    })
    .expect("failback");
    let gave = runs_since(&c, N2, t);
    assert!(gave
        .iter()
        .any(|r| r.group == G1 && r.action == Action::Stop));
    assert_env(&gave, false, "failback release");
    let took = runs_since(&c, N1, t);
    assert!(took
        .iter()
        .any(|r| r.group == G1 && r.action == Action::Start));
    assert_env(&took, false, "failback acquisition");
    c.run_for(secs(2));

    // hb_standby: go_standby again.
    let t = c.now();
    c.request(N2, LocalRequest::Standby(hb_resources::Scope::All));
    c.run_until(secs(10), |c| {
        c.owner(G2) == Some(N1) && c.rm(N1).is_stable()
    })
    .expect("standby");
    assert_env(&runs_since(&c, N2, t), false, "standby release");
    assert_env(&runs_since(&c, N1, t), false, "standby acquisition");
    c.run_for(secs(2));

    // Graceful stop: hb_giveup_resources.
    let t = c.now();
    c.request(N1, LocalRequest::Shutdown);
    c.run_until(secs(10), |c| !c.is_up(N1)).expect("shutdown");
    assert_env(&runs_since(&c, N1, t), false, "shutdown release");
}

#[test]
fn never_set_in_legacy_mode() {
    let mut c = booted(AutoFailback::Legacy, 22);
    c.crash(N1);
    c.run_until(secs(20), |c| c.owner(G1) == Some(N2))
        .expect("takeover");
    c.boot(N1);
    c.run_until(secs(20), |c| c.owner(G1) == Some(N1))
        .expect("ip-request failback");
    for i in [N1, N2] {
        assert_env(&runs_since(&c, i, Duration::ZERO), false, "legacy");
    }
}
