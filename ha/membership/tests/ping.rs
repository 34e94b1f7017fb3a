//! Ping nodes: up on an authentic reply, dead after `deadping` without one,
//! a `ping_group` up while any member answers, and none of it touching the
//! cluster membership (Comm_now_up, node list).

use std::time::{Duration, Instant};

use hb_membership::{Config, Event, LinkStatus, Membership, NodeStatus, PingSpec, Reject};

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

fn config() -> Config {
    Config {
        local: "node1".into(),
        nodes: vec!["node1".into(), "node2".into()],
        media: vec!["eth0".into()],
        keepalive: ms(100),
        deadtime: ms(1000),
        warntime: ms(500),
        initdead: ms(2000),
        hopfudge: 1,
        generation: 7,
        uuid: [1; 16],
        wall_clock_at_start: 1_700_000_000,
        seed: 3,
    }
}

fn spec(name: &str, members: &[&str], medium: usize, deadping: Duration) -> PingSpec {
    PingSpec {
        name: name.into(),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        medium,
        deadping,
    }
}

fn drain(m: &mut Membership) -> Vec<Event> {
    while m.poll_transmit().is_some() {}
    let mut v = Vec::new();
    while let Some(e) = m.poll_event() {
        v.push(e);
    }
    v
}

/// Only the events about `node`.
fn about(events: &[Event], node: &str) -> Vec<Event> {
    events
        .iter()
        .filter(|e| match e {
            Event::Link { node: n, .. }
            | Event::NodeStatus { node: n, .. }
            | Event::NodeDead { node: n }
            | Event::LateHeartbeat { node: n, .. } => n == node,
            _ => false,
        })
        .cloned()
        .collect()
}

/// Run the core's timers up to `until`, as the shell would.
fn run_until(m: &mut Membership, until: Instant) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(t) = m.poll_timeout() {
        if t > until {
            break;
        }
        m.handle_timeout(t);
        events.extend(drain(m));
    }
    m.handle_timeout(until);
    events.extend(drain(m));
    events
}

const PN: &str = "192.0.2.100";

#[test]
fn reply_brings_ping_node_up_with_heartbeat_events() {
    let t0 = Instant::now();
    let mut m = Membership::new(config(), t0);
    m.add_ping_node(t0, spec(PN, &[PN], 1, ms(1000)));
    drain(&mut m);
    assert_eq!(m.node_status(PN), Some(NodeStatus::Init));
    assert!(m.is_ping_node(PN));
    assert_eq!(m.ping_nodes_up(), 0);

    m.handle_ping_reply(t0 + ms(10), PN).unwrap();
    let ev = about(&drain(&mut m), PN);
    assert_eq!(
        ev,
        vec![
            Event::Link {
                node: PN.into(),
                medium: 1,
                status: LinkStatus::Up
            },
            Event::NodeStatus {
                node: PN.into(),
                old: NodeStatus::Init,
                new: NodeStatus::Ping
            },
        ]
    );
    assert_eq!(m.ping_nodes_up(), 1);
    // A second reply changes nothing visible.
    m.handle_ping_reply(t0 + ms(110), PN).unwrap();
    assert!(about(&drain(&mut m), PN).is_empty());

    let view = m.nodes();
    let pv = view.iter().find(|v| v.name == PN).unwrap();
    assert!(pv.ping);
    assert_eq!(pv.status, NodeStatus::Ping);
    assert_eq!(pv.links, vec![(1, LinkStatus::Up)]);
    // Normal nodes stay normal.
    assert!(!view.iter().find(|v| v.name == "node2").unwrap().ping);
}

#[test]
fn ping_node_dies_exactly_deadping_after_last_reply() {
    let t0 = Instant::now();
    let mut m = Membership::new(config(), t0);
    m.add_ping_node(t0, spec(PN, &[PN], 1, ms(700)));
    m.handle_ping_reply(t0 + ms(100), PN).unwrap();
    drain(&mut m);
    // The core asks to be woken for the death.
    assert!(m.poll_timeout().unwrap() <= t0 + ms(800));

    let ev = about(&run_until(&mut m, t0 + ms(799)), PN);
    assert!(ev.is_empty(), "{ev:?}");
    assert_eq!(m.node_status(PN), Some(NodeStatus::Ping));

    let ev = about(&run_until(&mut m, t0 + ms(800)), PN);
    assert_eq!(
        ev,
        vec![
            Event::NodeDead { node: PN.into() },
            Event::NodeStatus {
                node: PN.into(),
                old: NodeStatus::Ping,
                new: NodeStatus::Dead
            },
            Event::Link {
                node: PN.into(),
                medium: 1,
                status: LinkStatus::Dead
            },
        ]
    );
    assert_eq!(m.ping_nodes_up(), 0);
    // Dead stays dead: no second death, no timer for it.
    assert!(about(&run_until(&mut m, t0 + ms(5000)), PN).is_empty());
}

#[test]
fn never_answering_ping_node_is_declared_dead_after_deadping() {
    let t0 = Instant::now();
    let mut m = Membership::new(config(), t0);
    m.add_ping_node(t0, spec(PN, &[PN], 1, ms(500)));
    let ev = about(&run_until(&mut m, t0 + ms(500)), PN);
    assert_eq!(ev.first(), Some(&Event::NodeDead { node: PN.into() }));
    // No link ever came up, so no "Link … dead." either.
    assert!(
        !ev.iter().any(|e| matches!(e, Event::Link { .. })),
        "{ev:?}"
    );
}

#[test]
fn reply_after_death_revives_with_late_heartbeat() {
    let t0 = Instant::now();
    let mut m = Membership::new(config(), t0);
    m.add_ping_node(t0, spec(PN, &[PN], 1, ms(500)));
    m.handle_ping_reply(t0, PN).unwrap();
    run_until(&mut m, t0 + ms(600));
    assert_eq!(m.node_status(PN), Some(NodeStatus::Dead));

    m.handle_ping_reply(t0 + ms(2000), PN).unwrap();
    let ev = about(&drain(&mut m), PN);
    assert_eq!(
        ev,
        vec![
            Event::Link {
                node: PN.into(),
                medium: 1,
                status: LinkStatus::Up
            },
            Event::LateHeartbeat {
                node: PN.into(),
                interval: ms(2000),
                after_dead: true
            },
            Event::NodeStatus {
                node: PN.into(),
                old: NodeStatus::Dead,
                new: NodeStatus::Ping
            },
        ]
    );
}

#[test]
fn late_reply_is_judged_after_the_deadline_passed() {
    // The shell may hand in a reply without having run the timer first.
    let t0 = Instant::now();
    let mut m = Membership::new(config(), t0);
    m.add_ping_node(t0, spec(PN, &[PN], 1, ms(500)));
    m.handle_ping_reply(t0, PN).unwrap();
    drain(&mut m);
    m.handle_ping_reply(t0 + ms(900), PN).unwrap();
    let ev = about(&drain(&mut m), PN);
    assert!(ev.contains(&Event::NodeDead { node: PN.into() }), "{ev:?}");
    assert_eq!(m.node_status(PN), Some(NodeStatus::Ping));
}

#[test]
fn ping_group_is_up_while_any_member_answers() {
    let t0 = Instant::now();
    let mut m = Membership::new(config(), t0);
    m.add_ping_node(t0, spec("routers", &["192.0.2.1", "192.0.2.2"], 1, ms(500)));
    m.handle_ping_reply(t0, "192.0.2.1").unwrap();
    drain(&mut m);
    assert_eq!(m.node_status("routers"), Some(NodeStatus::Ping));
    // Only the second member answers from now on: still up.
    for k in 1..=10 {
        m.handle_ping_reply(t0 + ms(200 * k), "192.0.2.2").unwrap();
        let ev = about(&run_until(&mut m, t0 + ms(200 * k)), "routers");
        assert!(ev.is_empty(), "{ev:?}");
    }
    assert_eq!(m.ping_nodes_up(), 1);
    // Nobody answers: dead deadping after the last member's reply.
    let ev = about(&run_until(&mut m, t0 + ms(2500)), "routers");
    assert!(ev.contains(&Event::NodeDead {
        node: "routers".into()
    }));
}

#[test]
fn replies_from_strangers_are_rejected() {
    let t0 = Instant::now();
    let mut m = Membership::new(config(), t0);
    m.add_ping_node(t0, spec(PN, &[PN], 1, ms(500)));
    assert_eq!(
        m.handle_ping_reply(t0, "192.0.2.99"),
        Err(Reject::UnknownNode("192.0.2.99".into()))
    );
    // A cluster member's name is not a ping node either.
    assert!(m.handle_ping_reply(t0, "node2").is_err());
    assert_eq!(m.ping_nodes_up(), 0);
}

#[test]
fn ping_nodes_do_not_join_the_cluster() {
    let t0 = Instant::now();
    let mut m = Membership::new(config(), t0);
    m.add_ping_node(t0, spec(PN, &[PN], 1, ms(500)));
    // A ping node named like a member is refused.
    m.add_ping_node(t0, spec("node2", &["192.0.2.12"], 2, ms(500)));
    assert_eq!(m.ping_node_count(), 1);
    m.handle_ping_reply(t0, PN).unwrap();
    // Alone, Comm_now_up still waits for node2 (initdead), not for pings.
    let ev = run_until(&mut m, t0 + ms(1900));
    assert!(!ev.contains(&Event::CommUp), "{ev:?}");
    let ev = run_until(&mut m, t0 + ms(2100));
    assert!(ev.contains(&Event::CommUp), "{ev:?}");
    // And ping nodes never appear in a transmitted node list or as deaths
    // of cluster members beyond their own.
    assert_eq!(m.node_status("node2"), Some(NodeStatus::Dead));
}

#[test]
fn ttl_counts_ping_nodes_from_the_first_packet() {
    // Reference capture exp-ping_ipfail: two nodes, one ping node, ttl=4
    // (hopfudge 1 + 3 nodes) on every packet, boot statuses included.
    let t0 = Instant::now();
    let mut m = Membership::with_ping_nodes(
        config(),
        hb_membership::Tuning::default(),
        vec![spec(PN, &[PN], 1, ms(1000))],
        t0,
    );
    let mut n = 0;
    while let Some(t) = m.poll_transmit() {
        assert_eq!(t.msg.get_str("ttl"), Some("4"), "{:?}", t.msg);
        n += 1;
    }
    assert!(n >= 3, "boot sends init, up, up");
    assert!(m.is_ping_node(PN));
    // Without ping nodes: hopfudge 1 + 2 nodes.
    let mut plain = Membership::new(config(), t0);
    assert_eq!(plain.poll_transmit().unwrap().msg.get_str("ttl"), Some("3"));
}
