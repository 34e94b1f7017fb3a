//! The isolation guard (`Config::isolation_ping_nodes`, set when ipfail
//! runs built in) through real membership cores in virtual time: a peer
//! declared dead while no ping node answers is not taken over; the
//! takeover runs once a ping node answers while the peer is still dead, and
//! is dropped if the peer comes back first. The sim has no ICMP, so the
//! ping node's status is the `NodeStatus` event membership would raise.

mod cluster;

use std::time::Duration;

use cluster::{Cluster, N1, N2};
use hb_resources::{Action, AutoFailback, LocalRequest};

const G1: usize = 0;
const G2: usize = 1;
const PING: &str = "192.0.2.100";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Both nodes up, each group at home, both seeing the ping node.
fn booted(guard: bool, seed: u64) -> Cluster {
    let mut c = Cluster::new(AutoFailback::On, false, seed);
    if guard {
        c.isolation_ping_nodes = vec![PING.to_string()];
    }
    c.boot(N1);
    c.boot(N2);
    c.ping_node(N1, PING, true);
    c.ping_node(N2, PING, true);
    c.run_until(secs(30), Cluster::at_home)
        .unwrap_or_else(|| panic!("boot did not settle\n{}", c.dump()));
    c
}

fn logged(c: &Cluster, i: usize, part: &str) -> bool {
    c.nodes[i].logs.iter().any(|(_, l)| l.text.contains(part))
}

/// Starts node `i` asked for on group `g` since `t`.
fn starts_on(c: &Cluster, i: usize, g: usize, t: Duration) -> usize {
    c.nodes[i]
        .runs
        .iter()
        .filter(|(at, r)| *at >= t && r.group == g && r.action == Action::Start)
        .count()
}

/// node2 lost the ping node, then node1 dies: node2 holds back; when the
/// ping node answers again (node1 still dead) node2 takes over.
#[test]
fn isolated_survivor_takes_over_only_once_a_ping_node_answers() {
    let mut c = booted(true, 11);
    c.ping_node(N2, PING, false);
    let t_crash = c.now();
    c.crash(N1);
    c.run_until(secs(10), |c| !c.rm(N2).held_takeovers().is_empty())
        .unwrap_or_else(|| panic!("node1's death not held\n{}", c.dump()));
    c.run_for(secs(20));
    assert_eq!(c.owner(G1), None, "taken over while isolated\n{}", c.dump());
    assert_eq!(starts_on(&c, N2, G1, t_crash), 0, "{}", c.dump());
    assert_eq!(c.owner(G2), Some(N2), "its own group stays");
    assert_eq!(c.rm(N2).held_takeovers(), ["node1"]);
    assert!(logged(
        &c,
        N2,
        "Node node1 is dead but we see none of our 1 ping node(s): we may be the isolated one. Not taking over its resources."
    ));
    assert!(!logged(&c, N2, "Resources being acquired from node1."));

    c.ping_node(N2, PING, true);
    let t = c
        .run_until(secs(10), |c| c.owner(G1) == Some(N2))
        .unwrap_or_else(|| panic!("no takeover after the ping node answered\n{}", c.dump()));
    // Probe and start of two resources, 100 ms each: no waiting on top.
    assert!(t < secs(1), "takeover took {t:?}");
    assert!(c.rm(N2).held_takeovers().is_empty());
    assert!(logged(
        &c,
        N2,
        "Ping node 192.0.2.100 answers again: taking over the resources of dead node node1."
    ));
    assert!(c.has_log(N2, "Resources being acquired from node1."));
    assert_eq!(c.owner(G2), Some(N2));
}

/// The control case: seeing a ping node, the survivor takes over at once.
#[test]
fn survivor_that_sees_a_ping_node_takes_over_at_once() {
    let mut c = booted(true, 12);
    c.crash(N1);
    let t = c
        .run_until(secs(20), |c| c.owner(G1) == Some(N2))
        .expect("takeover");
    assert!(t < secs(5), "takeover after {t:?}");
    assert!(c.rm(N2).held_takeovers().is_empty());
    assert!(!logged(&c, N2, "Not taking over"));
}

/// Without the guard (no ipfail), ping node events change nothing: the
/// survivor takes over even though it sees no ping node.
#[test]
fn without_the_guard_a_dead_ping_node_does_not_hold_the_takeover() {
    let mut c = booted(false, 13);
    c.ping_node(N2, PING, false);
    c.crash(N1);
    c.run_until(secs(20), |c| c.owner(G1) == Some(N2))
        .expect("takeover");
    assert!(!logged(&c, N2, "Not taking over"));
}

/// The peer reboots while its death is held: the held takeover is void,
/// the pair negotiates as usual, and a ping node answering later takes
/// nothing.
#[test]
fn held_takeover_is_dropped_when_the_peer_comes_back() {
    let mut c = booted(true, 14);
    c.ping_node(N2, PING, false);
    c.crash(N1);
    c.run_until(secs(10), |c| !c.rm(N2).held_takeovers().is_empty())
        .expect("held");
    c.run_for(secs(2));
    c.boot(N1);
    c.ping_node(N1, PING, true);
    c.run_until(secs(30), |c| {
        c.owner(G1) == Some(N1) && c.owner(G2) == Some(N2) && c.rm(N1).is_stable()
    })
    .unwrap_or_else(|| panic!("pair did not settle\n{}", c.dump()));
    assert!(c.rm(N2).held_takeovers().is_empty());
    assert!(logged(
        &c,
        N2,
        "Node node1 is alive again: held-back takeover cancelled."
    ));
    let t = c.now();
    c.ping_node(N2, PING, true);
    c.run_for(secs(5));
    assert_eq!(c.owner(G1), Some(N1));
    assert_eq!(starts_on(&c, N2, G1, t), 0, "{}", c.dump());
    assert!(!c.has_log(N2, "Resources being acquired from node1."));
}

/// A node booting alone that sees no ping node takes nothing (its peer may
/// be up behind the same broken network), then everything once a ping
/// node answers.
#[test]
fn lone_boot_without_a_ping_node_takes_nothing_until_one_answers() {
    let mut c = Cluster::new(AutoFailback::On, false, 15);
    c.isolation_ping_nodes = vec![PING.to_string()];
    c.boot(N1);
    c.run_for(secs(30));
    assert_eq!(c.owner(G1), None, "{}", c.dump());
    assert_eq!(c.owner(G2), None);
    assert_eq!(c.rm(N1).held_takeovers(), ["node2"]);
    c.ping_node(N1, PING, true);
    c.run_until(secs(10), |c| {
        c.owner(G1) == Some(N1) && c.owner(G2) == Some(N1)
    })
    .unwrap_or_else(|| panic!("no takeover\n{}", c.dump()));
}

/// Our own shutdown while a death is held completes, and takes nothing.
#[test]
fn shutdown_while_holding_completes_without_taking_over() {
    let mut c = booted(true, 16);
    c.ping_node(N2, PING, false);
    let t_crash = c.now();
    c.crash(N1);
    c.run_until(secs(10), |c| !c.rm(N2).held_takeovers().is_empty())
        .expect("held");
    c.request(N2, LocalRequest::Shutdown);
    c.run_until(secs(15), |c| !c.is_up(N2))
        .unwrap_or_else(|| panic!("shutdown did not complete\n{}", c.dump()));
    assert_eq!(starts_on(&c, N2, G1, t_crash), 0, "{}", c.dump());
    assert!(c.has_log(N2, "All HA resources relinquished."));
}
