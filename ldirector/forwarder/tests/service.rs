//! The sans-IO service core: IPVS's connection accounting, thresholds,
//! persistence templates with netmask, statistics.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ld_forwarder::sched::ConnInfo;
use ld_forwarder::service::{Ended, ServiceCore, Timeouts};
use ldirector::config::{Forwarding, Netmask, Protocol, Scheduler, VirtualAddr};
use ldirector::ipvs::{DestParams, ServiceParams};

const VIP: ([u8; 4], u16) = ([192, 0, 2, 1], 80);

fn core(s: Scheduler, persistent: Option<u32>, netmask: Option<Netmask>) -> ServiceCore {
    let key = VirtualAddr::Inet {
        protocol: Protocol::Tcp,
        addr: SocketAddr::from(VIP),
    };
    let params = ServiceParams {
        scheduler: s,
        persistent,
        netmask,
        schedflags: None,
        ops: false,
    };
    ServiceCore::new(key, params, Timeouts::default(), 1)
}

fn dp(weight: u32, u: u32, l: u32) -> DestParams {
    DestParams {
        forward: Forwarding::Masq,
        weight,
        upper_threshold: u,
        lower_threshold: l,
    }
}

fn real(n: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, n], 80))
}

fn client(a: [u8; 4], port: u16) -> ConnInfo {
    ConnInfo {
        client: SocketAddr::from((a, port)),
        vip: SocketAddr::from(VIP),
    }
}

fn counts(c: &ServiceCore) -> Vec<(SocketAddr, u32, u32, u32)> {
    c.snapshot()
        .dests
        .iter()
        .map(|d| (d.addr, d.active_conns, d.inactive_conns, d.persist_conns))
        .collect()
}

#[test]
fn connection_states_count_like_ipvs() {
    let mut c = core(Scheduler::Rr, None, None);
    c.add_dest(real(1), dp(1, 0, 0)).unwrap();
    let t0 = Instant::now();
    let a = c.schedule(&client([10, 1, 0, 1], 1000), t0).unwrap();
    // Until the real server accepted: not ESTABLISHED yet.
    assert_eq!(counts(&c), [(real(1), 0, 1, 0)]);
    c.established(&a, t0);
    assert_eq!(counts(&c), [(real(1), 1, 0, 0)]);
    c.closing(&a, t0);
    assert_eq!(counts(&c), [(real(1), 0, 1, 0)]);
    c.ended(&a, false, Ended::Closed, t0);
    // TIME_WAIT: still an inactive entry for 2 minutes.
    c.tick(t0 + Duration::from_secs(119));
    assert_eq!(counts(&c), [(real(1), 0, 1, 0)]);
    c.tick(t0 + Duration::from_secs(120));
    assert_eq!(counts(&c), [(real(1), 0, 0, 0)]);
    // A reset lingers 10 s (CLOSE).
    let b = c.schedule(&client([10, 1, 0, 1], 1001), t0).unwrap();
    c.ended(&b, false, Ended::Reset, t0);
    c.tick(t0 + Duration::from_secs(9));
    assert_eq!(counts(&c), [(real(1), 0, 1, 0)]);
    c.tick(t0 + Duration::from_secs(10));
    assert_eq!(counts(&c), [(real(1), 0, 0, 0)]);
    assert_eq!(c.snapshot().stats.conns, 2);
    assert_eq!(c.snapshot().dests[0].stats.conns, 2);
}

#[test]
fn upper_threshold_overloads_and_lower_threshold_releases() {
    let mut c = core(Scheduler::Wrr, None, None);
    c.add_dest(real(1), dp(1, 2, 1)).unwrap();
    let t0 = Instant::now();
    let mut held = Vec::new();
    for p in 0..2 {
        let a = c.schedule(&client([10, 1, 0, 1], 1000 + p), t0).unwrap();
        c.established(&a, t0);
        held.push(a);
    }
    // conns >= upper: overloaded, no destination.
    assert!(c.schedule(&client([10, 1, 0, 1], 2000), t0).is_none());
    let a = held.pop().unwrap();
    c.ended(&a, true, Ended::Expired, t0);
    // 1 conn left, not < lower (1): still overloaded.
    assert!(c.schedule(&client([10, 1, 0, 1], 2001), t0).is_none());
    let a = held.pop().unwrap();
    c.ended(&a, true, Ended::Expired, t0);
    assert!(c.schedule(&client([10, 1, 0, 1], 2002), t0).is_some());
}

#[test]
fn without_lower_threshold_overload_lifts_below_three_quarters() {
    let mut c = core(Scheduler::Rr, None, None);
    c.add_dest(real(1), dp(1, 4, 0)).unwrap();
    let t0 = Instant::now();
    let held: Vec<_> = (0..4)
        .map(|p| c.schedule(&client([10, 1, 0, 1], p), t0).unwrap())
        .collect();
    assert!(c.schedule(&client([10, 1, 0, 1], 99), t0).is_none());
    // 3 left: 3*4 < 4*3 is false.
    c.ended(&held[0], false, Ended::Expired, t0);
    assert!(c.schedule(&client([10, 1, 0, 1], 99), t0).is_none());
    c.ended(&held[1], false, Ended::Expired, t0);
    assert!(c.schedule(&client([10, 1, 0, 1], 99), t0).is_some());
}

#[test]
fn raising_the_upper_threshold_lifts_the_overload_at_once() {
    let mut c = core(Scheduler::Rr, None, None);
    c.add_dest(real(1), dp(1, 1, 0)).unwrap();
    let t0 = Instant::now();
    c.schedule(&client([10, 1, 0, 1], 1), t0).unwrap();
    assert!(c.schedule(&client([10, 1, 0, 1], 2), t0).is_none());
    c.edit_dest(real(1), dp(1, 5, 0)).unwrap();
    assert!(c.schedule(&client([10, 1, 0, 1], 3), t0).is_some());
}

#[test]
fn persistence_groups_clients_by_netmask_and_expires() {
    let mask = Some(Netmask::V4("255.255.255.0".parse().unwrap()));
    let mut c = core(Scheduler::Rr, Some(60), mask);
    c.add_dest(real(1), dp(1, 0, 0)).unwrap();
    c.add_dest(real(2), dp(1, 0, 0)).unwrap();
    let t0 = Instant::now();
    let a = c.schedule(&client([10, 1, 0, 1], 1), t0).unwrap();
    // Same /24: same real server, whatever rr would say.
    for h in 2..20 {
        let b = c.schedule(&client([10, 1, 0, h], 1), t0).unwrap();
        assert_eq!(b.addr, a.addr);
        c.ended(&b, false, Ended::Expired, t0);
    }
    // Another /24 gets the other one (rr moves on from the first pick).
    let other = c.schedule(&client([10, 1, 1, 1], 1), t0).unwrap();
    assert_ne!(other.addr, a.addr);
    c.ended(&other, false, Ended::Expired, t0);
    let persist: u32 = c.snapshot().dests.iter().map(|d| d.persist_conns).sum();
    assert_eq!(persist, 2, "one template per client network");
    // The template outlives its connections by the persistence timeout...
    c.ended(&a, false, Ended::Expired, t0);
    c.tick(t0 + Duration::from_secs(59));
    assert_eq!(
        c.snapshot()
            .dests
            .iter()
            .map(|d| d.persist_conns)
            .sum::<u32>(),
        2
    );
    c.tick(t0 + Duration::from_secs(61));
    assert_eq!(
        c.snapshot()
            .dests
            .iter()
            .map(|d| d.persist_conns)
            .sum::<u32>(),
        0
    );
}

#[test]
fn a_template_with_live_connections_does_not_expire() {
    let mut c = core(Scheduler::Rr, Some(10), None);
    c.add_dest(real(1), dp(1, 0, 0)).unwrap();
    let t0 = Instant::now();
    let a = c.schedule(&client([10, 1, 0, 1], 1), t0).unwrap();
    c.established(&a, t0);
    c.tick(t0 + Duration::from_secs(30));
    assert_eq!(c.snapshot().dests[0].persist_conns, 1);
    c.ended(&a, true, Ended::Expired, t0 + Duration::from_secs(30));
    c.tick(t0 + Duration::from_secs(45));
    assert_eq!(c.snapshot().dests[0].persist_conns, 0);
}

#[test]
fn quiesced_destination_keeps_persistent_clients_but_not_new_ones() {
    let mut c = core(Scheduler::Wlc, Some(300), None);
    c.add_dest(real(1), dp(1, 0, 0)).unwrap();
    c.add_dest(real(2), dp(1, 0, 0)).unwrap();
    let t0 = Instant::now();
    let a = c.schedule(&client([10, 1, 0, 1], 1), t0).unwrap();
    let quiet = a.addr;
    c.edit_dest(quiet, dp(0, 0, 0)).unwrap();
    // IPVS's default (expire_quiescent_template = 0): the known client
    // still goes there...
    assert_eq!(
        c.schedule(&client([10, 1, 0, 1], 2), t0).unwrap().addr,
        quiet
    );
    // ...new clients do not.
    for h in 2..30 {
        assert_ne!(
            c.schedule(&client([10, 1, 0, h], 1), t0).unwrap().addr,
            quiet
        );
    }
    // Deleting the destination drops its templates: rescheduled.
    c.del_dest(quiet).unwrap();
    assert_ne!(
        c.schedule(&client([10, 1, 0, 1], 3), t0).unwrap().addr,
        quiet
    );
}

#[test]
fn ipv6_persistence_uses_the_prefix_length() {
    let key = VirtualAddr::Inet {
        protocol: Protocol::Tcp,
        addr: "[2001:db8::100]:80".parse().unwrap(),
    };
    let params = ServiceParams {
        scheduler: Scheduler::Rr,
        persistent: Some(60),
        netmask: Some(Netmask::V6Prefix(64)),
        schedflags: None,
        ops: false,
    };
    let mut c = ServiceCore::new(key, params, Timeouts::default(), 1);
    c.add_dest("[2001:db8::1]:80".parse().unwrap(), dp(1, 0, 0))
        .unwrap();
    c.add_dest("[2001:db8::2]:80".parse().unwrap(), dp(1, 0, 0))
        .unwrap();
    let t0 = Instant::now();
    let at = |c: &mut ServiceCore, s: &str| {
        c.schedule(
            &ConnInfo {
                client: s.parse().unwrap(),
                vip: "[2001:db8::100]:80".parse().unwrap(),
            },
            t0,
        )
        .unwrap()
        .addr
    };
    let a = at(&mut c, "[2001:db8:1:2::5]:1000");
    assert_eq!(at(&mut c, "[2001:db8:1:2:ffff::9]:1000"), a);
    assert_ne!(at(&mut c, "[2001:db8:1:3::5]:1000"), a);
}

#[test]
fn destinations_are_listed_newest_first_like_ipvs() {
    let mut c = core(Scheduler::Rr, None, None);
    for n in 1..=3 {
        c.add_dest(real(n), dp(1, 0, 0)).unwrap();
    }
    let order: Vec<SocketAddr> = c.snapshot().dests.iter().map(|d| d.addr).collect();
    assert_eq!(order, [real(3), real(2), real(1)]);
    assert!(c.add_dest(real(2), dp(1, 0, 0)).is_err());
    assert!(c.del_dest(real(9)).is_err());
}
