//! Replay protection and restarts: old seqs and old generations are
//! refused, a new generation is a restart, a new uuid is reported.

mod common;

use common::*;
use hb_membership::hb_wire::Message;
use hb_membership::sim::{uuid_for, Timing};
use hb_membership::{Event, NodeStatus, Reject};

fn timing() -> Timing {
    Timing::ms(10, 50, 30, 100)
}

/// The first message node `from` sent with `t=ask_resources`.
fn captured_app(sim: &hb_membership::sim::Sim, from: usize) -> Message {
    sim.node(from)
        .sent
        .iter()
        .map(|(_, m)| m.clone())
        .find(|m| field(m, "t") == "ask_resources")
        .expect("captured")
}

#[test]
fn replayed_message_of_the_same_generation_is_dropped() {
    let mut sim = fast_sim(&["node1", "node2"], timing(), 1, 31);
    sim.start_all();
    sim.run_until(ms(100));
    sim.send(0, app_msg(1));
    sim.run_until(ms(200));
    let old = captured_app(&sim, 0);
    let seq = old.get_hex("seq").unwrap();
    let dups_before = sim.machine(1).unwrap().stats().duplicates;
    assert_eq!(
        sim.inject(1, 0, old.clone()),
        Err(Reject::Duplicate {
            node: "node1".into(),
            seq
        })
    );
    assert_eq!(sim.machine(1).unwrap().stats().duplicates, dups_before + 1);
    assert_eq!(app_numbers(&sim.delivered(1, "node1")), vec![1]);
    // Also after node1 was declared dead (heartbeat forgets its seqs then
    // and would take the replay in).
    sim.freeze(0);
    sim.run_until(ms(300));
    assert_eq!(
        sim.machine(1).unwrap().node_status("node1"),
        Some(NodeStatus::Dead)
    );
    assert!(matches!(
        sim.inject(1, 0, old),
        Err(Reject::Duplicate { .. })
    ));
    assert_eq!(app_numbers(&sim.delivered(1, "node1")), vec![1]);
    assert_eq!(
        sim.machine(1).unwrap().node_status("node1"),
        Some(NodeStatus::Dead),
        "a replay does not revive a dead node"
    );
}

#[test]
fn restart_is_reported_and_old_generation_is_refused() {
    let mut sim = fast_sim(&["node1", "node2"], timing(), 1, 32);
    sim.start_all();
    sim.run_until(ms(100));
    sim.send(0, app_msg(1));
    sim.run_until(ms(150));
    let old = captured_app(&sim, 0);
    sim.crash(0);
    sim.run_until(ms(170));
    sim.restart(0);
    let restart_at = sim.now();
    sim.run_until(ms(300));

    assert_eq!(
        sim.first_event(
            1,
            |e| matches!(e, Event::NodeRestarted { node } if node == "node1")
        ),
        Some(restart_at)
    );
    assert_eq!(
        count(&sim, 1, |e| matches!(e, Event::NodeDead { .. })),
        0,
        "restarted within deadtime"
    );
    // Status goes back to init with the new run, then up, then active.
    let statuses: Vec<(NodeStatus, NodeStatus)> = sim
        .node(1)
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::NodeStatus { node, old, new } if node == "node1" && *t >= restart_at => {
                Some((*old, *new))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (NodeStatus::Active, NodeStatus::Init),
            (NodeStatus::Init, NodeStatus::Up),
            (NodeStatus::Up, NodeStatus::Active)
        ]
    );
    // The new run's messages (seq from 1 again) are delivered.
    sim.send(0, app_msg(2));
    sim.run_until(ms(350));
    assert_eq!(app_numbers(&sim.delivered(1, "node1")), vec![1, 2]);
    // A packet from the previous run is refused as a replay.
    assert_eq!(
        sim.inject(1, 0, old),
        Err(Reject::OldGeneration {
            node: "node1".into(),
            got: 1,
            current: 2
        })
    );
    assert_eq!(app_numbers(&sim.delivered(1, "node1")), vec![1, 2]);
    // No generation at all counts as 0.
    let mut bare = peer_msg("node1", "ask_resources", Some(99), 0);
    bare.remove("hg");
    assert!(matches!(
        sim.inject(1, 0, bare),
        Err(Reject::OldGeneration { got: 0, .. })
    ));
}

#[test]
fn new_uuid_is_reported() {
    let mut sim = fast_sim(&["node1", "node2"], timing(), 1, 33);
    sim.start_all();
    sim.run_until(ms(100));
    sim.crash(1);
    let fresh = uuid_for("node2-reinstalled");
    sim.restart_with_uuid(1, fresh);
    sim.run_until(ms(200));
    let evs: Vec<Event> = sim
        .node(0)
        .events
        .iter()
        .filter(|(t, _)| *t >= ms(100))
        .map(|(_, e)| e.clone())
        .collect();
    let uuid_at = evs.iter().position(|e| {
        *e == Event::UuidChanged {
            node: "node2".into(),
            uuid: fresh,
        }
    });
    let restart_at = evs.iter().position(|e| {
        *e == Event::NodeRestarted {
            node: "node2".into(),
        }
    });
    assert!(
        uuid_at.is_some() && restart_at.is_some() && uuid_at < restart_at,
        "{evs:?}"
    );
    // Messages addressed to node2 now carry its new uuid.
    sim.send(0, {
        let mut m = app_msg(5);
        m.add_str("dest", "node2");
        m
    });
    let last = sim.node(0).sent.last().unwrap().1.clone();
    assert_eq!(last.get_binary("destuuid"), Some(&fresh[..]));
}

#[test]
fn someone_elses_uuid_is_malformed() {
    let mut sim = fast_sim(&["node1", "node2", "node3"], timing(), 1, 34);
    sim.start_all();
    sim.run_until(ms(100));
    let mut forged = peer_msg("node3", "ask_resources", Some(500), 1);
    forged.set(
        "srcuuid",
        hb_membership::hb_wire::Value::Binary(uuid_for("node2").to_vec()),
    );
    assert_eq!(
        sim.inject(0, 0, forged),
        Err(Reject::Malformed {
            node: "node3".into(),
            field: "srcuuid"
        })
    );
}

/// A dead peer that comes back with a new generation is a restart, not a
/// healed partition, even when the first packet of its new run is not a
/// status. A real node ACKs its own message just before sending it
/// (`NS_ackmsg dest=<itself>`), so its self-ACK can carry the new `hg`
/// first. Mistaking this for a partition makes the daemon give up its
/// resources and restart.
#[test]
fn restart_announced_by_a_self_ack_is_not_a_partition() {
    let mut sim = fast_sim(&["node1", "node2"], timing(), 1, 37);
    sim.start_all();
    sim.run_until(ms(100));
    let hg = sim
        .node(1)
        .sent
        .iter()
        .rev()
        .find(|(_, m)| field(m, "t") == "status")
        .and_then(|(_, m)| m.get_hex("hg"))
        .expect("node2 sent a status");
    sim.crash(1);
    sim.run_until(ms(300));
    assert!(
        sim.first_event(
            0,
            |e| matches!(e, Event::NodeDead { node } if node == "node2")
        )
        .is_some(),
        "node2 declared dead"
    );

    let mut ack = peer_msg("node2", "NS_ackmsg", None, hg + 1);
    ack.set_str("dest", "node2").set_str("ackseq", "1");
    sim.inject(0, 0, ack)
        .expect("self-ACK of the new run accepted");
    sim.inject(0, 0, peer_status("node2", "init", 1, hg + 1, 50))
        .expect("first status of the new run accepted");

    assert!(
        sim.first_event(
            0,
            |e| matches!(e, Event::NodeRestarted { node } if node == "node2")
        )
        .is_some(),
        "restart reported"
    );
    assert_eq!(
        count(&sim, 0, |e| matches!(e, Event::PartitionHealed { .. })),
        0,
        "a restart must not be taken for a healed partition"
    );
}
