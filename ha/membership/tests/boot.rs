//! Start-up: the exact message sequence heartbeat 3.0.6 produces (capture
//! `scenario-sha1/capture.pcap`), status init → up → active on both sides,
//! Comm_now_up, and the temporary `dt` bump.

mod common;

use common::*;
use hb_membership::sim::{cluster_configs, Sim, Timing};
use hb_membership::{Event, LinkStatus, NodeStatus};

/// The reference cluster's ha.cf: keepalive 1, deadtime 3, warntime 2,
/// initdead 6.
fn reference_sim() -> Sim {
    let cfgs = cluster_configs(
        &["node1", "node2"],
        Timing::ms(1000, 3000, 2000, 6000),
        1,
        11,
    );
    let mut sim = Sim::new(cfgs, 3);
    sim.start_all();
    sim
}

#[test]
fn boot_sends_init_up_up_then_node_lists_then_active() {
    let mut sim = reference_sim();
    sim.run_for(ms(500));
    for i in 0..2 {
        let seqd = sequenced(&sim.node(i).sent);
        let kinds: Vec<String> = seqd.iter().map(|(_, m)| kind(m)).collect();
        assert_eq!(
            kinds,
            [
                "status:init",
                "status:up",
                "status:up",
                "reqnodes",
                "repnodes",
                "status:active"
            ],
            "node{}",
            i + 1
        );
        let seqs: Vec<u64> = seqd.iter().filter_map(|(_, m)| seq(m)).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
        let peer = if i == 0 { "node2" } else { "node1" };
        for (_, m) in &seqd[3..5] {
            assert_eq!(field(m, "dest"), peer);
        }
        assert_eq!(field(&seqd[4].1, "nodelist"), "node1 node2 ");
        assert_eq!(field(&seqd[4].1, "delnodelist"), " ");
        // Everything at boot goes out with deadtime + 2000 ms = 0x1388.
        for (_, m) in seqd.iter().filter(|(_, m)| field(m, "t") == "status") {
            assert_eq!(field(m, "dt"), "1388");
            assert_eq!(field(m, "protocol"), "1");
            assert_eq!(field(m, "ttl"), "3");
            assert_eq!(field(m, "hg"), "1");
            assert_eq!(field(m, "ts"), "6b03af58");
        }
    }
}

#[test]
fn both_sides_see_init_up_active_and_comm_up_without_losses() {
    let mut sim = reference_sim();
    sim.run_for(ms(3500));
    for (i, me, peer) in [(0, "node1", "node2"), (1, "node2", "node1")] {
        let evs: Vec<Event> = sim.node(i).events.iter().map(|(_, e)| e.clone()).collect();
        let expected_prefix = vec![
            Event::NodeStatus {
                node: me.into(),
                old: NodeStatus::Init,
                new: NodeStatus::Up,
            },
            Event::Link {
                node: peer.into(),
                medium: 0,
                status: LinkStatus::Up,
            },
            Event::NodeStatus {
                node: peer.into(),
                old: NodeStatus::Init,
                new: NodeStatus::Up,
            },
            Event::CommUp,
            Event::NodeStatus {
                node: me.into(),
                old: NodeStatus::Up,
                new: NodeStatus::Active,
            },
            Event::NodeStatus {
                node: peer.into(),
                old: NodeStatus::Up,
                new: NodeStatus::Active,
            },
        ];
        assert_eq!(evs, expected_prefix, "{me}: nothing else happens in 3.5 s");
        let m = sim.machine(i).unwrap();
        assert!(m.comm_up());
        assert_eq!(m.local_status(), NodeStatus::Active);
        assert_eq!(m.node_status(peer), Some(NodeStatus::Active));
        assert!(sim.node(i).rejects.is_empty(), "{:?}", sim.node(i).rejects);
        assert_eq!(m.stats().lost, 0);
        assert_eq!(m.stats().rexmit_requests_sent, 0);
    }
}

#[test]
fn field_order_matches_the_capture() {
    let mut sim = reference_sim();
    sim.run_for(ms(100));
    let sent = &sim.node(0).sent;
    let first = |t: &str| {
        sent.iter()
            .map(|(_, m)| m)
            .find(|m| field(m, "t") == t)
            .cloned()
            .unwrap_or_else(|| panic!("no {t} sent"))
    };
    // Orders as captured from real heartbeat 3.0.6 (auth excluded).
    assert_eq!(
        names(&first("status")),
        ["t", "st", "dt", "protocol", "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl"]
    );
    assert_eq!(
        names(&first("reqnodes")),
        ["t", "dest", "destuuid", "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl"]
    );
    assert_eq!(
        names(&first("repnodes")),
        [
            "dest",
            "t",
            "nodelist",
            "delnodelist",
            "destuuid",
            "src",
            "srcuuid",
            "seq",
            "hg",
            "ts",
            "ld",
            "ttl"
        ]
    );
    let ack = sim
        .wire
        .iter()
        .map(|(_, _, m)| m)
        .find(|m| field(m, "t") == "NS_ackmsg")
        .expect("some node acks within the first 100 ms");
    assert_eq!(
        names(ack),
        ["t", "dest", "ackseq", "destuuid", "src", "srcuuid", "hg", "ts", "ttl"]
    );
}

#[test]
fn keepalive_ts_and_dt_pop_after_five_seconds() {
    let mut sim = reference_sim();
    sim.run_for(ms(6500));
    let statuses: Vec<_> = sim
        .node(0)
        .sent
        .iter()
        .filter(|(at, m)| field(m, "t") == "status" && *at > ms(0))
        .cloned()
        .collect();
    let times: Vec<u64> = statuses.iter().map(|(t, _)| t.as_millis() as u64).collect();
    // A keepalive every second, and at 5 s an extra one announcing the
    // plain deadtime (hb_pop_deadtime), after that second's keepalive.
    assert_eq!(times, [1000, 2000, 3000, 4000, 5000, 5000, 6000]);
    let dts: Vec<String> = statuses.iter().map(|(_, m)| field(m, "dt")).collect();
    assert_eq!(dts, ["1388", "1388", "1388", "1388", "1388", "bb8", "bb8"]);
    let ts: Vec<String> = statuses.iter().map(|(_, m)| field(m, "ts")).collect();
    assert_eq!(ts[0], "6b03af59");
    assert_eq!(ts[6], "6b03af5e");
}

#[test]
fn single_node_cluster_is_up_at_once() {
    let cfgs = cluster_configs(&["solo"], Timing::ms(1000, 3000, 2000, 6000), 1, 1);
    let mut sim = Sim::new(cfgs, 1);
    sim.start_all();
    let m = sim.machine(0).unwrap();
    assert!(m.comm_up());
    assert_eq!(m.local_status(), NodeStatus::Active);
    let kinds: Vec<String> = sequenced(&sim.node(0).sent)
        .iter()
        .map(|(_, m)| kind(m))
        .collect();
    assert_eq!(
        kinds,
        ["status:init", "status:up", "status:up", "status:active"]
    );
}

#[test]
fn own_ack_goes_out_just_before_the_message_it_acknowledges() {
    let mut sim = reference_sim();
    sim.run_for(ms(30_500));
    for i in 0..2 {
        let me = sim.node(i).name.clone();
        let trigger = sim.machine(i).unwrap().ack_trigger(&me).unwrap();
        let sent = &sim.node(i).sent;
        let mut self_acks = 0;
        for (k, (_, m)) in sent.iter().enumerate() {
            if field(m, "t") == "NS_ackmsg" && field(m, "dest") == me {
                self_acks += 1;
                let acked = m.get_hex("ackseq").unwrap();
                assert_eq!(acked % 10, trigger);
                let next = &sent[k + 1].1;
                assert_eq!(seq(next), Some(acked), "{me}: ack precedes seq {acked}");
            }
        }
        let highest = sent.iter().filter_map(|(_, m)| seq(m)).max().unwrap();
        let expected = (1..=highest).filter(|s| s % 10 == trigger).count();
        assert_eq!(self_acks, expected, "{me}: one self-ack per trigger hit");
    }
}
