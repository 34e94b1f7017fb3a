//! Partitions and their healing, and graceful shutdown.

mod common;

use common::*;
use hb_membership::sim::Timing;
use hb_membership::{Event, NodeStatus};

fn timing() -> Timing {
    Timing::ms(10, 50, 30, 100)
}

#[test]
fn partition_kills_the_other_side_at_deadtime_and_heal_brings_it_back() {
    let mut sim = fast_sim(&["node1", "node2", "node3"], timing(), 1, 41);
    sim.start_all();
    sim.run_until(ms(200));
    sim.partition(&[0], &[1, 2]);
    sim.run_until(ms(400));
    // Everyone last heard the other side's 200 ms keepalive.
    for (i, gone) in [(0, "node2"), (0, "node3"), (1, "node1"), (2, "node1")] {
        let t = sim.first_event(i, |e| matches!(e, Event::NodeDead { node } if node == gone));
        assert_eq!(t, Some(ms(250)), "node{} about {gone}", i + 1);
    }
    for i in [1, 2] {
        assert_eq!(
            count(
                &sim,
                i,
                |e| matches!(e, Event::NodeDead { node } if node != "node1")
            ),
            0
        );
    }
    // Messages sent meanwhile on one side do not cross.
    sim.send(0, app_msg(1));
    sim.run_until(ms(450));
    sim.heal();
    sim.run_until(ms(600));
    for (i, back) in [(0, "node2"), (1, "node1"), (2, "node1")] {
        let healed = sim.first_event(
            i,
            |e| matches!(e, Event::PartitionHealed { node } if node == back),
        );
        assert!(
            healed.is_some_and(|t| t >= ms(450)),
            "node{}: {back}",
            i + 1
        );
        let late = sim.node(i).events.iter().find_map(|(_, e)| match e {
            Event::LateHeartbeat {
                node, after_dead, ..
            } if node == back => Some(*after_dead),
            _ => None,
        });
        assert_eq!(late, Some(true));
        assert_eq!(
            sim.machine(i).unwrap().node_status(back),
            Some(NodeStatus::Active)
        );
    }
    // The cluster works again.
    sim.send(1, app_msg(2));
    sim.run_until(ms(700));
    assert_eq!(app_numbers(&sim.delivered(0, "node2")), vec![2]);
    assert!(
        sim.delivered(1, "node1").is_empty(),
        "sent during the partition, to nobody"
    );
}

#[test]
fn graceful_shutdown_is_seen_at_once_and_completes() {
    let mut sim = fast_sim(&["node1", "node2"], timing(), 1, 42);
    sim.start_all();
    sim.run_until(ms(203));
    let mut rsc = hb_membership::hb_wire::Message::with_type("resource");
    rsc.add_str("rsc_hold", "none").add_str("info", "shutdown");
    sim.send(0, rsc);
    sim.shutdown(0);
    sim.run_until(ms(600));

    // node2: notice and death in the same instant, no deadtime wait.
    let notice = sim.first_event(
        1,
        |e| matches!(e, Event::PeerShutdown { node } if node == "node1"),
    );
    assert_eq!(notice, Some(ms(203)));
    assert_eq!(
        sim.first_event(1, |e| matches!(
            e,
            Event::NodeStatus { node, new: NodeStatus::Dead, .. } if node == "node1"
        )),
        Some(ms(203))
    );
    assert_eq!(count(&sim, 1, |e| matches!(e, Event::NodeDead { .. })), 0);
    // The resource message before shutdone was delivered, before the notice.
    let evs: Vec<Event> = sim.node(1).events.iter().map(|(_, e)| e.clone()).collect();
    let deliver = evs
        .iter()
        .position(|e| matches!(e, Event::Deliver { msg, .. } if field(msg, "info") == "shutdown"));
    let peer_shutdown = evs
        .iter()
        .position(|e| matches!(e, Event::PeerShutdown { .. }));
    assert!(deliver.is_some() && deliver < peer_shutdown);
    // Statuses node1 kept sending until it exited did not revive it.
    assert_eq!(
        sim.machine(1).unwrap().node_status("node1"),
        Some(NodeStatus::Dead)
    );

    // node1: status, shutdone st=dead, keepalives, two statuses one phase
    // (100 ms) later, then done one more phase later, and silence.
    let sent: Vec<(u64, String)> = sim
        .node(0)
        .sent
        .iter()
        .filter(|(t, m)| *t >= ms(203) && seq(m).is_some())
        .map(|(t, m)| (t.as_millis() as u64, kind(m)))
        .collect();
    assert_eq!(sent[0], (203, "resource".to_string()));
    assert_eq!(sent[1], (203, "status:active".to_string()));
    assert_eq!(sent[2], (203, "shutdone:dead".to_string()));
    let at_303: Vec<&str> = sent
        .iter()
        .filter(|(t, _)| *t == 303)
        .map(|(_, k)| k.as_str())
        .collect();
    assert_eq!(at_303, ["status:active", "status:active"]);
    let done = sim.first_event(0, |e| *e == Event::ShutdownComplete);
    assert_eq!(done, Some(ms(403)));
    assert!(sim.node(0).sent.iter().all(|(t, _)| *t <= ms(403)));
    assert!(sim.machine(0).unwrap().is_stopped());
    assert_eq!(sim.machine(0).unwrap().local_status(), NodeStatus::Dead);

    // Back with a new generation: a restart, and alive again.
    sim.crash(0);
    sim.restart(0);
    sim.run_until(ms(700));
    assert!(sim
        .first_event(
            1,
            |e| matches!(e, Event::NodeRestarted { node } if node == "node1")
        )
        .is_some());
    assert_eq!(
        sim.machine(1).unwrap().node_status("node1"),
        Some(NodeStatus::Active)
    );
}

#[test]
fn shutdown_before_comm_up_waits_for_it() {
    let mut sim = fast_sim(&["node1", "node2"], timing(), 1, 43);
    sim.start(0);
    sim.shutdown(0);
    sim.run_until(ms(99));
    assert!(sim
        .node(0)
        .sent
        .iter()
        .all(|(_, m)| field(m, "t") != "shutdone"));
    sim.run_until(ms(500));
    let shutdone = sim
        .node(0)
        .sent
        .iter()
        .find(|(_, m)| field(m, "t") == "shutdone")
        .map(|(t, _)| *t);
    // initdead (100 ms) brings comm up; the stop proceeds right then.
    assert_eq!(shutdone, Some(ms(100)));
    assert_eq!(
        sim.first_event(0, |e| *e == Event::ShutdownComplete),
        Some(ms(300))
    );
}
