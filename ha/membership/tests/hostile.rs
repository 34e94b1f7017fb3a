//! Hostile or broken input: typed rejections, no panics, bounded memory.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hb_membership::hb_wire::{Message, Value};
use hb_membership::sim::{cluster_configs, Timing};
use hb_membership::{Config, Membership, Reject, Tuning};
use proptest::prelude::*;

const NODES: [&str; 3] = ["node1", "node2", "node3"];

fn core() -> (Membership, Instant) {
    let cfg: Config = cluster_configs(&NODES, Timing::ms(10, 50, 30, 100), 2, 77).remove(0);
    let t0 = Instant::now();
    (Membership::with_tuning(cfg, fast_tuning(), t0), t0)
}

fn drain(m: &mut Membership) {
    while m.poll_event().is_some() {}
    while m.poll_transmit().is_some() {}
}

#[test]
fn typed_rejections() {
    let (mut m, t0) = core();
    let t = t0 + ms(1);
    let mut no_src = peer_msg("node2", "status", Some(1), 1);
    no_src.remove("src");
    assert_eq!(m.handle_message(t, 0, no_src), Err(Reject::NoSource));
    assert_eq!(
        m.handle_message(t, 0, peer_msg("intruder", "status", Some(1), 1)),
        Err(Reject::UnknownNode("intruder".into()))
    );
    let mut bad_seq = peer_msg("node2", "resource", None, 1);
    bad_seq.add_str("seq", "12zz");
    assert_eq!(
        m.handle_message(t, 0, bad_seq),
        Err(Reject::Malformed {
            node: "node2".into(),
            field: "seq"
        })
    );
    assert_eq!(
        m.handle_message(t, 0, peer_msg("node2", "resource", None, 1)),
        Err(Reject::Malformed {
            node: "node2".into(),
            field: "seq"
        }),
        "only NS_* types may lack seq"
    );
    let mut no_ts = peer_msg("node2", "resource", Some(1), 1);
    no_ts.remove("ts");
    assert!(matches!(
        m.handle_message(t, 0, no_ts),
        Err(Reject::Malformed { field: "ts", .. })
    ));
    // A status without st is refused, but its seq is used up so the peer is
    // not asked for it again and again.
    assert!(matches!(
        m.handle_message(t, 0, peer_msg("node2", "status", Some(1), 1)),
        Err(Reject::Malformed { field: "st", .. })
    ));
    assert!(matches!(
        m.handle_message(t, 0, peer_status("node2", "up", 1, 1, 50)),
        Err(Reject::Duplicate { seq: 1, .. })
    ));
    let mut weird = peer_status("node2", "up", 2, 1, 50);
    weird.set_str("st", "zombie");
    assert!(matches!(
        m.handle_message(t, 0, weird),
        Err(Reject::Malformed { field: "st", .. })
    ));
    let mut bad_rexmit = peer_msg("node2", "NS_rexmit", None, 1);
    bad_rexmit
        .add_str("dest", "node1")
        .add_str("firstseq", "9")
        .add_str("lastseq", "3");
    assert!(matches!(
        m.handle_message(t, 0, bad_rexmit),
        Err(Reject::Malformed {
            field: "firstseq",
            ..
        })
    ));
    // An out-of-range medium index from a confused shell is harmless.
    assert!(m
        .handle_message(t, 99, peer_status("node2", "up", 3, 1, 50))
        .is_ok());
    assert!(m.stats().malformed >= 7);
}

#[test]
fn flood_of_holes_and_jumps_stays_bounded() {
    let (mut m, t0) = core();
    let mut t = t0;
    let mut seq = 1u64;
    let mut max_held = 0;
    let mut max_missing = 0;
    for k in 0..20_000u64 {
        t += Duration::from_micros(200);
        // Every other seq missing, a big jump now and then.
        seq += if k % 997 == 0 { 100_000 } else { 2 };
        let mut msg = app_msg(k);
        for f in peer_msg("node2", "x", Some(seq), 1).fields().iter().skip(1) {
            msg.push(f.name.clone(), f.value.clone());
        }
        let _ = m.handle_message(t, 1, msg);
        if k % 100 == 0 {
            let u = m.usage();
            max_held = max_held.max(u.held);
            max_missing = max_missing.max(u.missing);
            drain(&mut m);
        }
    }
    assert!(max_missing <= 500, "{max_missing}");
    assert!(max_held <= 257, "{max_held}");
    let u = m.usage();
    assert!(u.history <= 500);
    assert!(m.stats().lost > 0, "holes are given up, not kept");
}

#[test]
fn extreme_seqs_neither_overflow_nor_allocate() {
    let (mut m, t0) = core();
    let t = t0 + ms(1);
    m.handle_message(t, 0, peer_status("node2", "up", 1, 1, 50))
        .unwrap();
    // A jump of 2^64 - 3 lost packets is one LostPackets range, not a list.
    m.handle_message(t, 0, peer_status("node2", "up", u64::MAX - 1, 1, 50))
        .unwrap();
    m.handle_message(t, 0, peer_status("node2", "up", u64::MAX, 1, 50))
        .unwrap();
    assert!(matches!(
        m.handle_message(t, 0, peer_status("node2", "up", u64::MAX, 1, 50)),
        Err(Reject::Duplicate { .. })
    ));
    let lost: Vec<_> = std::iter::from_fn(|| m.poll_event())
        .filter(|e| matches!(e, hb_membership::Event::LostPackets { .. }))
        .collect();
    assert_eq!(
        lost,
        vec![hb_membership::Event::LostPackets {
            node: "node2".into(),
            first: 2,
            last: u64::MAX - 2
        }]
    );
    assert_eq!(m.usage().missing, 0);
    // Generation at the top of the range, too.
    m.handle_message(t, 0, peer_status("node3", "up", 1, u64::MAX, 50))
        .unwrap();
    m.handle_timeout(t + ms(500));
}

#[test]
fn undrained_queues_are_capped() {
    let (mut m, t0) = core();
    // A shell that never drains: queues stop at their cap.
    for k in 0..70_000u64 {
        m.send(t0 + Duration::from_micros(k), app_msg(k));
    }
    let u = m.usage();
    assert!(u.transmits <= 65_536);
    assert!(u.history <= 500);
    assert!(m.stats().queue_overflows > 0);
}

fn arb_value() -> impl Strategy<Value = Value> {
    let strs = prop::sample::select(vec![
        "node1",
        "node2",
        "node3",
        "NODE2",
        "",
        "0",
        "1",
        "2",
        "a",
        "ff",
        "1388",
        "6b03af58",
        "ffffffffffffffff",
        "10000000000000000",
        "-1",
        "status",
        "NS_rexmit",
        "NS_ackmsg",
        "NS_nak_rexmit",
        "reqnodes",
        "repnodes",
        "shutdone",
        "init",
        "up",
        "active",
        "dead",
        "node1 node2 ",
        " ",
        "zz",
        "\u{0}",
    ]);
    prop_oneof![
        6 => strs.prop_map(|s| Value::Str(s.as_bytes().to_vec())),
        1 => prop::collection::vec(any::<u8>(), 0..20).prop_map(Value::Str),
        2 => prop::collection::vec(any::<u8>(), 0..20).prop_map(Value::Binary),
        1 => Just(Value::Binary(hb_membership::sim::uuid_for("node2").to_vec())),
        1 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..4), 0..3).prop_map(Value::List),
        1 => Just(Value::Struct(Message::with_type("inner"))),
        1 => prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Compressed),
    ]
}

fn arb_message() -> impl Strategy<Value = Message> {
    let names = prop::sample::select(vec![
        "t",
        "src",
        "srcuuid",
        "seq",
        "hg",
        "ts",
        "dest",
        "destuuid",
        "st",
        "dt",
        "protocol",
        "firstseq",
        "lastseq",
        "ackseq",
        "nodelist",
        "delnodelist",
        "info",
        "x",
    ]);
    prop::collection::vec((names, arb_value()), 0..14).prop_map(|fields| {
        let mut m = Message::new();
        for (n, v) in fields {
            m.push(n, v);
        }
        m
    })
}

/// Mostly well-formed peer messages with one field disturbed, so the
/// deeper paths get exercised too.
fn arb_mutated() -> impl Strategy<Value = Message> {
    let kinds = prop::sample::select(vec![
        "status",
        "NS_rexmit",
        "NS_ackmsg",
        "NS_nak_rexmit",
        "reqnodes",
        "repnodes",
        "shutdone",
        "resource",
    ]);
    (
        kinds,
        prop::sample::select(vec!["node2", "node3"]),
        1u64..400,
        1u64..4,
        prop::sample::select(vec![
            "st", "dt", "firstseq", "lastseq", "ackseq", "dest", "seq", "hg",
        ]),
        arb_value(),
    )
        .prop_map(|(t, src, seq, hg, field, value)| {
            let noseq = t.starts_with("NS_");
            let mut m = if t == "status" {
                peer_status(src, "up", seq, hg, 50)
            } else {
                peer_msg(src, t, (!noseq).then_some(seq), hg)
            };
            m.add_str("dest", "node1")
                .add_str("firstseq", (seq / 2 + 1).to_string())
                .add_str("lastseq", seq.to_string())
                .add_str("ackseq", format!("{seq:x}"));
            m.set(field, value);
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn random_messages_never_panic_and_stay_bounded(
        msgs in prop::collection::vec(
            (0u64..30, 0usize..3, prop_oneof![arb_message(), arb_mutated()]),
            1..120,
        )
    ) {
        let (mut m, t0) = core();
        let mut t = t0;
        for (step, medium, msg) in msgs {
            t += ms(step);
            if m.poll_timeout().is_some_and(|d| d <= t) {
                m.handle_timeout(t);
            }
            match m.handle_message(t, medium, msg) {
                Ok(()) | Err(Reject::UnknownNode(_)) | Err(Reject::NoSource)
                | Err(Reject::OldGeneration { .. }) | Err(Reject::Duplicate { .. })
                | Err(Reject::Malformed { .. }) => {}
            }
            let u = m.usage();
            prop_assert!(u.history <= 500);
            prop_assert!(u.missing <= 1000);
            prop_assert!(u.held <= 2 * 257);
            prop_assert!(u.transmits < 2000, "{u:?}");
            drain(&mut m);
            prop_assert!(m.poll_timeout().is_some());
        }
    }
}

#[test]
fn a_peer_advertising_absurd_deadtime_cannot_break_timers() {
    let (mut m, t0) = core();
    let t = t0 + ms(1);
    let mut st = peer_status("node2", "up", 1, 1, 0);
    st.set_str("dt", "ffffffffffffffff");
    m.handle_message(t, 0, st).unwrap();
    let mut st = peer_status("node3", "up", 1, 1, 0);
    st.set_str("dt", "0");
    m.handle_message(t, 0, st).unwrap();
    // Timers keep advancing: no deadline stuck in the past.
    let mut now = t;
    for _ in 0..1000 {
        let next = m.poll_timeout().unwrap();
        assert!(next >= now);
        now = next.max(now + Duration::from_micros(1));
        m.handle_timeout(now);
        drain(&mut m);
    }
    assert!(now > t + ms(100));
    let _ = Tuning::default();
}
