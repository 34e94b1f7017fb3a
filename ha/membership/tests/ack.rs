//! Flow-control ACKs and retransmission, as a real heartbeat peer expects:
//! ACK on `seq % 10 == trigger` while nothing before is missing, answer
//! `NS_rexmit` with the original packet, NAK what is gone.

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use common::*;
use hb_membership::hb_wire::Message;
use hb_membership::sim::{cluster_configs, LinkParams, Timing};
use hb_membership::{Config, Event, Membership, Tuning};

#[test]
fn acks_follow_the_trigger_rule_exactly() {
    let mut sim = fast_sim(&["node1", "node2"], Timing::ms(10, 50, 30, 100), 1, 51);
    sim.start_all();
    for n in 0..40 {
        sim.send(1, app_msg(n));
        sim.run_for(ms(3));
    }
    sim.run_until(ms(1000));
    let trigger = sim.machine(0).unwrap().ack_trigger("node2").unwrap();
    let highest = sim
        .node(1)
        .sent
        .iter()
        .filter_map(|(_, m)| seq(m))
        .max()
        .unwrap();
    let expected: Vec<u64> = (1..=highest).filter(|s| s % 10 == trigger).collect();
    let acked: Vec<u64> = sim
        .node(0)
        .sent
        .iter()
        .filter(|(_, m)| field(m, "t") == "NS_ackmsg" && field(m, "dest") == "node2")
        .filter_map(|(_, m)| m.get_hex("ackseq"))
        .collect();
    assert!(highest > 100);
    assert_eq!(acked, expected, "trigger {trigger}");
}

#[test]
fn acks_wait_for_holes_and_resume_when_filled() {
    // Loss makes holes; an ACK must never name a seq above a hole that was
    // open at the time, and every trigger hit gets acknowledged in the end.
    let mut sim = fast_sim(&["node1", "node2"], Timing::ms(10, 500, 300, 1000), 1, 52);
    sim.set_link(
        1,
        0,
        LinkParams {
            loss: 0.3,
            ..Default::default()
        },
    );
    sim.start_all();
    sim.run_until(ms(3000));
    let trigger = sim.machine(0).unwrap().ack_trigger("node2").unwrap();
    let acked: Vec<u64> = sim
        .node(0)
        .sent
        .iter()
        .filter(|(_, m)| field(m, "t") == "NS_ackmsg" && field(m, "dest") == "node2")
        .filter_map(|(_, m)| m.get_hex("ackseq"))
        .collect();
    assert!(acked.iter().all(|s| s % 10 == trigger));
    assert!(
        acked.windows(2).all(|w| w[0] < w[1]),
        "increasing: {acked:?}"
    );
    assert!(sim.machine(0).unwrap().stats().recovered > 0);
    // Every decade node2 completed (up to 50 before its last seq) got its ACK.
    let highest = sim
        .node(1)
        .sent
        .iter()
        .filter_map(|(_, m)| seq(m))
        .max()
        .unwrap();
    let must: BTreeSet<u64> = (1..highest.saturating_sub(50))
        .filter(|s| s % 10 == trigger)
        .collect();
    let got: BTreeSet<u64> = acked.iter().copied().collect();
    assert!(
        must.is_subset(&got),
        "missing {:?}",
        must.difference(&got).collect::<Vec<_>>()
    );
}

fn core_for(local: usize, tuning: Tuning) -> (Membership, Instant) {
    let cfg: Config =
        cluster_configs(&["node1", "node2"], Timing::ms(10, 50, 30, 100), 1, 5).remove(local);
    let t0 = Instant::now();
    (Membership::with_tuning(cfg, tuning, t0), t0)
}

fn transmits(m: &mut Membership) -> Vec<Message> {
    std::iter::from_fn(|| m.poll_transmit())
        .map(|t| t.msg)
        .collect()
}

fn rexmit_request(first: u64, last: u64) -> Message {
    let mut r = peer_msg("node2", "NS_rexmit", None, 3);
    r.add_str("dest", "node1")
        .add_str("firstseq", first.to_string())
        .add_str("lastseq", last.to_string());
    r
}

#[test]
fn rexmit_is_answered_with_the_original_and_nak_when_gone() {
    let (mut m, t0) = core_for(0, fast_tuning());
    let t = t0 + ms(1);
    m.handle_message(t, 0, peer_status("node2", "up", 1, 3, 50))
        .unwrap();
    for n in 0..600 {
        m.send(t, app_msg(n));
    }
    let sent: Vec<Message> = transmits(&mut m);
    let original = sent
        .iter()
        .find(|msg| seq(msg) == Some(550))
        .cloned()
        .unwrap();

    m.handle_message(t, 0, rexmit_request(550, 550)).unwrap();
    assert_eq!(
        transmits(&mut m),
        vec![original.clone()],
        "the very same message"
    );
    // Asked again at once: heartbeat resends a packet at most once per
    // max_rexmit_delay - 10 ms.
    m.handle_message(t + ms(5), 0, rexmit_request(550, 550))
        .unwrap();
    assert!(transmits(&mut m).is_empty());
    m.handle_message(t + ms(10), 0, rexmit_request(550, 550))
        .unwrap();
    assert_eq!(
        transmits(&mut m)
            .into_iter()
            .filter(|x| field(x, "t") != "status")
            .collect::<Vec<_>>(),
        vec![original]
    );
    // Seq 5 fell out of the 500-message history: NAK, hex firstseq.
    m.handle_message(t + ms(10), 0, rexmit_request(5, 5))
        .unwrap();
    let nak: Vec<Message> = transmits(&mut m)
        .into_iter()
        .filter(|x| field(x, "t") == "NS_nak_rexmit")
        .collect();
    assert_eq!(nak.len(), 1);
    assert_eq!(field(&nak[0], "firstseq"), "5");
    assert_eq!(field(&nak[0], "dest"), "node2");
    assert_eq!(field(&nak[0], "info"), "seqno too low");
    // A hostile range is answered with at most 50 packets.
    m.handle_message(t + ms(40), 0, rexmit_request(1, u64::MAX / 2))
        .unwrap();
    let burst = transmits(&mut m)
        .into_iter()
        .filter(|x| ["NS_nak_rexmit", "ask_resources"].contains(&field(x, "t").as_str()))
        .count();
    assert_eq!(burst, 50);
    // Not yet sent: ignored.
    m.handle_message(t + ms(80), 0, rexmit_request(10_000, 10_001))
        .unwrap();
    assert!(transmits(&mut m)
        .iter()
        .all(|x| !["NS_nak_rexmit", "ask_resources"].contains(&field(x, "t").as_str())));
}

#[test]
fn acked_seqs_are_not_retransmitted_and_flow_control_pauses() {
    let (mut m, t0) = core_for(0, fast_tuning());
    let t = t0 + ms(1);
    m.handle_message(t, 0, peer_status("node2", "up", 1, 3, 50))
        .unwrap();
    for n in 0..300 {
        m.send(t, app_msg(n));
    }
    transmits(&mut m);
    assert!(m.flow_control_paused(), "node2 acknowledged nothing");
    let mut ack = peer_msg("node2", "NS_ackmsg", None, 3);
    ack.add_str("dest", "node1").add_str("ackseq", "64");
    m.handle_message(t, 0, ack).unwrap();
    assert!(!m.flow_control_paused());
    m.handle_message(t, 0, rexmit_request(0x60, 0x66)).unwrap();
    let resent: Vec<u64> = transmits(&mut m).iter().filter_map(seq).collect();
    assert_eq!(resent, vec![0x65, 0x66], "node2 already has up to 0x64");
}

#[test]
fn old_peer_without_protocol_turns_acks_off() {
    let (mut m, t0) = core_for(0, fast_tuning());
    let t = t0 + ms(1);
    let mut st = peer_status("node2", "up", 1, 3, 50);
    st.remove("protocol");
    transmits(&mut m);
    m.handle_message(t, 0, st).unwrap();
    for s in 2..40 {
        m.handle_message(t, 0, peer_status("node2", "up", s, 3, 50))
            .unwrap();
    }
    let out = transmits(&mut m);
    assert!(out.iter().all(|x| field(x, "t") != "NS_ackmsg"));
    let status = out.iter().find(|x| field(x, "t") == "status");
    // Once flow control is off heartbeat leaves `protocol` out, and it skips
    // the node-list exchange.
    assert!(m.comm_up());
    assert!(status.is_some_and(|s| s.get("protocol").is_none()));
    assert!(out.iter().all(|x| field(x, "t") != "reqnodes"));
    assert_eq!(
        std::iter::from_fn(|| m.poll_event())
            .filter(|e| *e == Event::CommUp)
            .count(),
        1
    );
}
