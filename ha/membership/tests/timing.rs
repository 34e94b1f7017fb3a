//! keepalive / warntime / deadtime / initdead at millisecond granularity, in
//! virtual time: deaths land exactly on `last status + dt`.

mod common;

use std::time::Duration;

use common::*;
use hb_membership::sim::{cluster_configs, Sim, Timing};
use hb_membership::{Event, LinkStatus, NodeStatus, Tuning};

/// keepalive 10 ms, deadtime 50 ms, warntime 30 ms, initdead 100 ms.
fn timing() -> Timing {
    Timing::ms(10, 50, 30, 100)
}

fn dead_at(sim: &Sim, i: usize, node: &str) -> Option<Duration> {
    sim.first_event(i, |e| matches!(e, Event::NodeDead { node: n } if n == node))
}

fn late(sim: &Sim, i: usize) -> Vec<(Duration, Duration, bool)> {
    sim.node(i)
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::LateHeartbeat {
                interval,
                after_dead,
                ..
            } => Some((*t, *interval, *after_dead)),
            _ => None,
        })
        .collect()
}

#[test]
fn frozen_peer_is_dead_exactly_at_last_status_plus_deadtime() {
    let mut sim = fast_sim(&["node1", "node2"], timing(), 1, 1);
    sim.start_all();
    sim.run_until(ms(203));
    sim.freeze(1);
    sim.run_until(ms(400));
    let last = last_status_at_or_before(&sim.node(1).sent, ms(203));
    assert_eq!(last, ms(200));
    assert_eq!(dead_at(&sim, 0, "node2"), Some(last + ms(50)));
    assert_eq!(
        sim.machine(0).unwrap().node_status("node2"),
        Some(NodeStatus::Dead)
    );
    // The link dies with it, in the same instant.
    let link_dead = sim.first_event(
        0,
        |e| matches!(e, Event::Link { node, status: LinkStatus::Dead, .. } if node == "node2"),
    );
    assert_eq!(link_dead, Some(ms(250)));
}

#[test]
fn nothing_dies_while_heartbeats_flow() {
    let mut sim = fast_sim(&["node1", "node2", "node3"], timing(), 2, 4);
    sim.start_all();
    sim.run_until(ms(5000));
    for i in 0..3 {
        assert_eq!(count(&sim, i, |e| matches!(e, Event::NodeDead { .. })), 0);
        assert_eq!(
            count(&sim, i, |e| matches!(e, Event::LateHeartbeat { .. })),
            0
        );
        assert!(sim
            .machine(i)
            .unwrap()
            .nodes()
            .iter()
            .all(|v| v.status == NodeStatus::Active));
    }
}

#[test]
fn late_heartbeat_only_above_warntime_and_critical_after_dead() {
    let mut sim = fast_sim(&["node1", "node2"], timing(), 1, 2);
    sim.start_all();
    // Interval of exactly warntime (30 ms): no warning (heartbeat: `>`).
    sim.run_until(ms(200));
    sim.freeze(1);
    sim.run_until(ms(230));
    sim.thaw(1);
    sim.run_until(ms(300));
    assert!(late(&sim, 0).is_empty(), "{:?}", late(&sim, 0));
    // 31 ms: warning, node not dead.
    sim.freeze(1);
    sim.run_until(ms(331));
    sim.thaw(1);
    sim.run_until(ms(400));
    assert_eq!(late(&sim, 0), vec![(ms(331), ms(31), false)]);
    assert_eq!(dead_at(&sim, 0, "node2"), None);
    // 60 ms: dead at 450 sharp, then the late one is the critical kind.
    sim.freeze(1);
    sim.run_until(ms(460));
    sim.thaw(1);
    sim.run_until(ms(500));
    assert_eq!(dead_at(&sim, 0, "node2"), Some(ms(450)));
    assert_eq!(late(&sim, 0)[1], (ms(460), ms(60), true));
    let healed = sim.first_event(
        0,
        |e| matches!(e, Event::PartitionHealed { node } if node == "node2"),
    );
    assert_eq!(healed, Some(ms(460)));
    assert_eq!(
        sim.machine(0).unwrap().node_status("node2"),
        Some(NodeStatus::Active)
    );
}

#[test]
fn initdead_declares_a_silent_peer_dead_then_comm_up() {
    let mut sim = fast_sim(&["node1", "node2"], timing(), 1, 3);
    sim.start(0);
    sim.run_until(ms(99));
    assert!(!sim.machine(0).unwrap().comm_up());
    assert_eq!(sim.machine(0).unwrap().local_status(), NodeStatus::Up);
    sim.run_until(ms(150));
    assert_eq!(dead_at(&sim, 0, "node2"), Some(ms(100)));
    assert_eq!(sim.first_event(0, |e| *e == Event::CommUp), Some(ms(100)));
    let evs: Vec<Event> = sim.node(0).events.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(
        evs,
        vec![
            Event::NodeStatus {
                node: "node1".into(),
                old: NodeStatus::Init,
                new: NodeStatus::Up
            },
            Event::NodeDead {
                node: "node2".into()
            },
            Event::NodeStatus {
                node: "node2".into(),
                old: NodeStatus::Init,
                new: NodeStatus::Dead
            },
            Event::CommUp,
            Event::NodeStatus {
                node: "node1".into(),
                old: NodeStatus::Up,
                new: NodeStatus::Active
            },
        ]
    );
    // Nobody to ask for the node list: no reqnodes went out.
    assert!(sim
        .node(0)
        .sent
        .iter()
        .all(|(_, m)| field(m, "t") != "reqnodes"));
    // The late peer is welcomed normally.
    sim.start(1);
    sim.run_until(ms(200));
    assert_eq!(
        sim.machine(0).unwrap().node_status("node2"),
        Some(NodeStatus::Active)
    );
}

#[test]
fn peer_advertised_deadtime_wins_over_ours() {
    // node2 is configured with deadtime 80 ms and advertises it; node1's own
    // deadtime is 50 ms.
    let mut cfgs = cluster_configs(&["node1", "node2"], timing(), 1, 5);
    cfgs[1].deadtime = ms(80);
    cfgs[1].initdead = ms(160);
    let tuning = Tuning {
        startup_deadtime_bump: Duration::ZERO,
        ..fast_tuning()
    };
    let mut sim = Sim::with_tuning(cfgs, tuning, 5);
    sim.start_all();
    sim.run_until(ms(300));
    sim.freeze(1);
    sim.run_until(ms(500));
    let last = last_status_at_or_before(&sim.node(1).sent, ms(300));
    assert_eq!(dead_at(&sim, 0, "node2"), Some(last + ms(80)));
}

#[test]
fn startup_bump_is_honoured_by_the_peer() {
    // Default tuning: dt = deadtime + 2000 ms for the first 5 s. A peer
    // frozen at 1 s dies 2050 ms after its last status, not 50 ms.
    let cfgs = cluster_configs(&["node1", "node2"], timing(), 1, 6);
    let mut sim = Sim::with_tuning(cfgs, fast_tuning(), 6);
    sim.start_all();
    sim.run_until(ms(1000));
    sim.freeze(1);
    sim.run_until(ms(4000));
    let last = last_status_at_or_before(&sim.node(1).sent, ms(1000));
    assert_eq!(dead_at(&sim, 0, "node2"), Some(last + ms(2050)));
    // After the bump pops, the plain 50 ms applies.
    let mut sim = Sim::with_tuning(
        cluster_configs(&["node1", "node2"], timing(), 1, 6),
        fast_tuning(),
        6,
    );
    sim.start_all();
    sim.run_until(ms(6000));
    sim.freeze(1);
    sim.run_until(ms(6200));
    let last = last_status_at_or_before(&sim.node(1).sent, ms(6000));
    assert_eq!(dead_at(&sim, 0, "node2"), Some(last + ms(50)));
}

#[test]
fn one_medium_down_kills_only_that_link() {
    let mut sim = fast_sim(&["node1", "node2"], timing(), 2, 7);
    sim.start_all();
    sim.run_until(ms(200));
    let cut = hb_membership::sim::LinkParams {
        loss: 1.0,
        ..Default::default()
    };
    sim.set_medium_link(1, 0, 1, cut);
    sim.run_until(ms(400));
    let dead = sim.first_event(0, |e| {
        matches!(e, Event::Link { node, medium: 1, status: LinkStatus::Dead } if node == "node2")
    });
    // Last packet from node2 on medium 1 was sent at 200 ms.
    assert_eq!(dead, Some(ms(250)));
    assert_eq!(count(&sim, 0, |e| matches!(e, Event::NodeDead { .. })), 0);
    let view = sim.machine(0).unwrap().nodes();
    let n2 = view.iter().find(|v| v.name == "node2").unwrap();
    assert_eq!(n2.links, vec![(0, LinkStatus::Up), (1, LinkStatus::Dead)]);
    sim.set_medium_link(1, 0, 1, Default::default());
    sim.run_until(ms(500));
    let n2 = sim
        .machine(0)
        .unwrap()
        .nodes()
        .into_iter()
        .find(|v| v.name == "node2")
        .unwrap();
    assert_eq!(n2.links, vec![(0, LinkStatus::Up), (1, LinkStatus::Up)]);
}
