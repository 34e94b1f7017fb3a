//! One real node and an hb-wire fake peer: validates the harness's packet
//! tools and the hb-wire codec against the real daemon (the §3.5
//! experiments), independently of our daemon.

use std::time::Duration;

use ha_tests::fakepeer::{FakeIdentity, FakePeer};
use ha_tests::netns::broadcast;
use ha_tests::udp::{decode, messages_from, reforge};
use ha_tests::{require, wait_for, Auth, ClusterSpec, HaCf, Kind, Needs, Timing};

use crate::common::{boot_deadline, revives, stays_dead, FAST_POLL};

const GEN: u64 = 0x6000_0000;

fn scenario(method: &str) {
    let env = require!(Needs::Real);
    let auth = Auth::reference(method).unwrap();
    let keys = auth.keys();
    let t = Timing::FAST;
    let mut c = ClusterSpec::new(auth.clone(), HaCf::with_timing(t))
        .node("node1", Kind::Real)
        .node("node2", Kind::Absent)
        .build(&env)
        .unwrap();
    let cap = c.capture().unwrap();
    let inj = c.injector().unwrap();
    let bcast = broadcast(c.udpport());
    c.node_mut("node1").start().unwrap();
    let real = c.node("node1");

    // The real node accepts our hand-built, hand-signed status packets.
    let id = FakeIdentity::new("node2", GEN, t.deadtime);
    let fake = FakePeer::start(
        &c.node("node2").host().ns,
        id,
        &["node1", "node2"],
        keys.clone(),
        t.keepalive,
        c.udpport(),
    )
    .unwrap();
    wait_for(
        "node1 to accept the fake node2",
        boot_deadline(&t),
        FAST_POLL,
        || real.expect_status("node2", "active"),
    )
    .unwrap();

    // hb-wire verifies every datagram the real node sent, and (keyed
    // methods) rejects them under another key.
    let from_real = cap.from_ip(real.ip());
    assert!(!from_real.is_empty(), "captured nothing from the real node");
    let wrong = auth.with_key("not-the-key");
    for p in &from_real {
        let m = decode(&p.bytes, &keys).unwrap();
        assert_eq!(m.get_str("src"), Some("node1"));
        if let Some(w) = &wrong {
            assert!(
                decode(&p.bytes, &w.keys()).is_err(),
                "accepted under a wrong key"
            );
        }
    }

    let sent = fake.stop();
    assert!(sent > 0);
    wait_for(
        "node1 to declare the fake dead",
        t.deadtime + Timing::DEAD_MARGIN,
        FAST_POLL,
        || real.expect_status("node2", "dead"),
    )
    .unwrap();

    // Replaying the fake's own packets does not revive it.
    let fakes = messages_from(&cap.packets(), "node2", &keys);
    let (last, last_msg) = fakes
        .iter()
        .rev()
        .find(|(_, m)| m.msg_type() == Some("status"))
        .cloned()
        .expect("captured the fake's status packets");
    for _ in 0..3 {
        inj.send(&last.bytes, bcast).unwrap();
    }
    stays_dead(&c, "node1", "node2", Duration::from_secs(2)).unwrap();

    // A correctly signed packet from an older generation is a replay.
    let seq = last_msg.get_hex("seq").unwrap() + 100;
    let older = reforge(
        &last_msg,
        &[
            ("hg", format!("{:x}", GEN - 1)),
            ("seq", format!("{seq:x}")),
        ],
        &keys,
    )
    .unwrap();
    inj.send(&older, bcast).unwrap();
    stays_dead(&c, "node1", "node2", Duration::from_secs(2)).unwrap();
    assert!(
        !real.log_lines("attempted replay attack").is_empty(),
        "real heartbeat did not flag the older generation"
    );

    // A newer generation under the wrong key is rejected.
    let newer = [("hg", format!("{:x}", GEN + 1)), ("seq", "1".to_owned())];
    if let Some(w) = &wrong {
        inj.send(&reforge(&last_msg, &newer, &w.keys()).unwrap(), bcast)
            .unwrap();
        stays_dead(&c, "node1", "node2", Duration::from_secs(2)).unwrap();
        assert!(!real.log_lines("authtoken does not match").is_empty());
    }

    // Control: the same newer generation correctly signed is a restart,
    // so the rejections above were the node's doing, not lost packets.
    inj.send(&reforge(&last_msg, &newer, &keys).unwrap(), bcast)
        .unwrap();
    let st = revives(&c, "node1", "node2", Duration::from_secs(3)).unwrap();
    eprintln!("{method}: node1 sees the restarted fake as {st}");
}

#[test]
fn fake_peer_crc() {
    scenario("crc");
}

#[test]
fn fake_peer_md5() {
    scenario("md5");
}

#[test]
fn fake_peer_sha1() {
    scenario("sha1");
}
