//! Packet loss: retransmission requests recover gaps, delivery stays
//! exactly-once and in order, and nobody is declared dead wrongly.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hb_membership::sim::{cluster_configs, LinkParams, Sim, Timing};
use hb_membership::{Config, Event, Membership, NodeStatus, Tuning};

#[test]
fn twenty_percent_loss_recovers_everything_in_order() {
    // deadtime 500 ms ≫ keepalive 10 ms.
    let timing = Timing::ms(10, 500, 300, 1000);
    let cfgs = cluster_configs(&["node1", "node2", "node3"], timing, 1, 21);
    let tuning = Tuning {
        rexmit_giveup: Some(Duration::from_secs(5)),
        ..fast_tuning()
    };
    let mut sim = Sim::with_tuning(cfgs, tuning, 21);
    sim.set_default_link(LinkParams {
        loss: 0.2,
        delay: ms(1),
        jitter: ms(2),
    });
    sim.start_all();
    sim.run_until(ms(500));
    for n in 0..300u64 {
        sim.send((n % 3) as usize, app_msg(n));
        sim.run_for(ms(5));
    }
    sim.run_for(ms(2000));

    for i in 0..3 {
        let me = sim.node(i).name.clone();
        for (j, from) in ["node1", "node2", "node3"].iter().enumerate() {
            if i == j {
                continue;
            }
            let got = app_numbers(&sim.delivered(i, from));
            let want: Vec<u64> = (0..300).filter(|n| n % 3 == j as u64).collect();
            assert_eq!(got, want, "{me} from {from}: exactly once, in order");
        }
        assert_eq!(
            count(&sim, i, |e| matches!(e, Event::NodeDead { .. })),
            0,
            "{me}"
        );
        assert_eq!(
            count(&sim, i, |e| matches!(e, Event::LostPackets { .. })),
            0,
            "{me}"
        );
        let st = sim.machine(i).unwrap().stats().clone();
        assert!(st.rexmit_requests_sent > 0, "{me}: {st:?}");
        assert!(st.retransmissions_sent > 0, "{me}: {st:?}");
        assert!(st.recovered > 0, "{me}: {st:?}");
        assert_eq!(st.lost, 0, "{me}");
        assert!(
            sim.machine(i)
                .unwrap()
                .nodes()
                .iter()
                .all(|v| v.status == NodeStatus::Active),
            "{me}"
        );
    }
}

#[test]
fn two_media_hide_single_medium_loss_as_duplicates() {
    let timing = Timing::ms(10, 100, 60, 200);
    let mut sim = fast_sim(&["node1", "node2"], timing, 2, 22);
    sim.set_medium_link(
        0,
        1,
        0,
        LinkParams {
            loss: 0.5,
            ..Default::default()
        },
    );
    sim.start_all();
    sim.run_until(ms(300));
    for n in 0..50 {
        sim.send(0, app_msg(n));
    }
    sim.run_for(ms(300));
    assert_eq!(
        app_numbers(&sim.delivered(1, "node1")),
        (0..50).collect::<Vec<_>>()
    );
    let st = sim.machine(1).unwrap().stats().clone();
    assert!(st.duplicates > 0, "copies on the second medium are counted");
    assert_eq!(st.lost, 0);
}

/// A bare core fed by hand, to drive the NAK and give-up paths.
fn lone_core(tuning: Tuning) -> (Membership, Instant) {
    let cfg: Config =
        cluster_configs(&["node1", "node2"], Timing::ms(10, 50, 30, 100), 1, 9).remove(0);
    let t0 = Instant::now();
    (Membership::with_tuning(cfg, tuning, t0), t0)
}

fn drain_events(m: &mut Membership) -> Vec<Event> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

#[test]
fn nak_gives_up_the_hole_and_releases_what_waited() {
    let (mut m, t0) = lone_core(fast_tuning());
    let t = t0 + ms(1);
    m.handle_message(t, 0, peer_status("node2", "up", 1, 7, 50))
        .unwrap();
    let mut a = app_msg(1);
    for f in peer_msg("node2", "x", Some(3), 7).fields().iter().skip(1) {
        a.push(f.name.clone(), f.value.clone());
    }
    m.handle_message(t, 0, a).unwrap();
    let before = drain_events(&mut m);
    assert!(
        !before.iter().any(|e| matches!(e, Event::Deliver { .. })),
        "seq 3 waits for seq 2: {before:?}"
    );
    let mut nak = peer_msg("node2", "NS_nak_rexmit", None, 7);
    nak.add_str("firstseq", "2").add_str("dest", "node1");
    m.handle_message(t, 0, nak).unwrap();
    let evs = drain_events(&mut m);
    let lost = evs.iter().position(|e| {
        *e == Event::LostPackets {
            node: "node2".into(),
            first: 2,
            last: 2,
        }
    });
    let deliver = evs.iter().position(|e| matches!(e, Event::Deliver { .. }));
    assert!(
        lost.is_some() && deliver.is_some() && lost < deliver,
        "{evs:?}"
    );
    assert_eq!(m.stats().lost, 1);
}

#[test]
fn unanswered_hole_is_given_up_after_the_giveup_time() {
    let tuning = Tuning {
        rexmit_giveup: Some(ms(200)),
        ..fast_tuning()
    };
    let (mut m, t0) = lone_core(tuning);
    let t = t0 + ms(1);
    m.handle_message(t, 0, peer_status("node2", "up", 1, 7, 5000))
        .unwrap();
    let mut rep = peer_msg("node2", "repnodes", Some(2), 7);
    rep.add_str("dest", "node1")
        .add_str("nodelist", "node1 node2 ");
    m.handle_message(t, 0, rep).unwrap();
    assert!(m.comm_up(), "so node2's own dt (5 s) is its deadtime");
    m.handle_message(t, 0, peer_status("node2", "up", 6, 7, 5000))
        .unwrap();
    let mut asked = Vec::new();
    let mut now = t;
    while let Some(next) = m.poll_timeout() {
        if next > t + ms(300) {
            break;
        }
        now = next;
        m.handle_timeout(now);
        while let Some(tx) = m.poll_transmit() {
            if field(&tx.msg, "t") == "NS_rexmit" {
                asked.push((
                    now - t,
                    field(&tx.msg, "firstseq"),
                    field(&tx.msg, "lastseq"),
                ));
            }
        }
    }
    assert!(now >= t + ms(200));
    // Asked again and again, every max_rexmit_delay, for 3..5 as a range
    // (decimal on the wire), until given up.
    assert!(asked.len() >= 8, "{asked:?}");
    assert!(
        asked.iter().all(|(_, f, l)| f == "3" && l == "5"),
        "{asked:?}"
    );
    let gaps: Vec<Duration> = asked.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.iter().all(|g| *g == ms(20)), "{gaps:?}");
    let evs = drain_events(&mut m);
    assert!(evs.contains(&Event::LostPackets {
        node: "node2".into(),
        first: 3,
        last: 5
    }));
    assert!(asked.iter().all(|(at, _, _)| *at < ms(200)));
}
