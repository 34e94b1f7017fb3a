//! Each IPVS scheduler against a reference model written from the
//! scheduler's documented rule (not from its code): distributions over many
//! picks, weight semantics, quiesced and overloaded destinations.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ld_forwarder::sched::{Change, ConnInfo, DestView, Flags, Kind, Scheduler};

fn dests(weights: &[u32]) -> Vec<DestView> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| DestView::new(SocketAddr::from(([10, 0, 0, i as u8 + 1], 80)), w))
        .collect()
}

fn conn(client: u32, port: u16) -> ConnInfo {
    ConnInfo {
        client: SocketAddr::from((client.to_be_bytes(), port)),
        vip: SocketAddr::from(([192, 0, 2, 1], 80)),
    }
}

/// Pick `n` times from distinct clients, holding every connection (active).
fn hold(kind: Kind, flags: Flags, ds: &mut [DestView], n: usize) -> Vec<usize> {
    let mut s = Scheduler::new(kind, flags, ds, 42);
    let now = Instant::now();
    let mut picks = vec![0; ds.len()];
    for c in 0..n {
        if let Some(i) = s.schedule(ds, &conn(0x0a01_0000 + c as u32, 40000), now) {
            picks[i] += 1;
            ds[i].active += 1;
        }
    }
    picks
}

/// Pick `n` times from distinct clients without any connection staying.
fn picks(kind: Kind, flags: Flags, ds: &[DestView], n: usize) -> Vec<usize> {
    let mut s = Scheduler::new(kind, flags, ds, 7);
    let now = Instant::now();
    let mut picks = vec![0; ds.len()];
    for c in 0..n {
        if let Some(i) = s.schedule(
            ds,
            &conn(0x0a02_0000 + (c as u32) * 7919, 40000 + c as u16),
            now,
        ) {
            picks[i] += 1;
        }
    }
    picks
}

fn assert_near(got: &[usize], weights: &[u32], tol: f64) {
    let total: usize = got.iter().sum();
    let wsum: u32 = weights.iter().sum();
    for (g, w) in got.iter().zip(weights) {
        let expect = total as f64 * f64::from(*w) / f64::from(wsum);
        assert!(
            (*g as f64 - expect).abs() <= tol * total as f64,
            "picks {got:?} not proportional to weights {weights:?}"
        );
    }
}

#[test]
fn rr_cycles_over_usable_destinations_in_list_order() {
    let mut ds = dests(&[1, 0, 5, 1]);
    ds[3].overloaded = true;
    let mut s = Scheduler::new(Kind::Rr, Flags::default(), &ds, 1);
    let now = Instant::now();
    let seq: Vec<usize> = (0..6)
        .filter_map(|c| s.schedule(&ds, &conn(c, 1), now))
        .collect();
    // Weight only decides quiescence: 0 and 2 alternate.
    assert_eq!(seq, [0, 2, 0, 2, 0, 2]);
}

#[test]
fn rr_after_removing_the_last_pick_continues_with_its_successor() {
    let mut ds = dests(&[1, 1, 1]);
    let mut s = Scheduler::new(Kind::Rr, Flags::default(), &ds, 1);
    let now = Instant::now();
    assert_eq!(s.schedule(&ds, &conn(1, 1), now), Some(0));
    assert_eq!(s.schedule(&ds, &conn(1, 1), now), Some(1));
    let gone = ds.remove(1);
    s.update(
        Change::Removed {
            addr: gone.addr,
            prev: Some(ds[0].addr),
        },
        &ds,
    );
    // The old third destination (now index 1) is next.
    assert_eq!(s.schedule(&ds, &conn(1, 1), now), Some(1));
}

#[test]
fn wrr_walks_down_from_the_max_weight_by_the_gcd() {
    let ds = dests(&[4, 3, 2]);
    let mut s = Scheduler::new(Kind::Wrr, Flags::default(), &ds, 1);
    let now = Instant::now();
    let seq: Vec<usize> = (0..18)
        .filter_map(|c| s.schedule(&ds, &conn(c, 1), now))
        .collect();
    // cw = 4: a; 3: a b; 2: a b c; 1: a b c — twice.
    let one = [0, 0, 1, 0, 1, 2, 0, 1, 2];
    assert_eq!(seq[..9], one);
    assert_eq!(seq[9..], one);
}

#[test]
fn wrr_distribution_is_exact_per_cycle_and_skips_quiesced() {
    for weights in [&[1u32, 2, 3][..], &[10, 0, 5], &[6, 4, 2, 0, 8], &[100, 1]] {
        let ds = dests(weights);
        let cycle: u32 = weights.iter().sum();
        let got = picks(Kind::Wrr, Flags::default(), &ds, cycle as usize * 50);
        let expect: Vec<usize> = weights.iter().map(|w| *w as usize * 50).collect();
        assert_eq!(got, expect, "weights {weights:?}");
    }
}

#[test]
fn wrr_all_overloaded_or_quiesced_is_no_destination() {
    let mut ds = dests(&[3, 0]);
    ds[0].overloaded = true;
    let mut s = Scheduler::new(Kind::Wrr, Flags::default(), &ds, 1);
    assert_eq!(s.schedule(&ds, &conn(1, 1), Instant::now()), None);
    let z = dests(&[0, 0]);
    let mut s = Scheduler::new(Kind::Wrr, Flags::default(), &z, 1);
    assert_eq!(s.schedule(&z, &conn(1, 1), Instant::now()), None);
}

/// The reference rule for the least-connection family: the minimum of
/// `cost(d) / weight(d)` over usable destinations, first in list order on
/// ties (compared exactly, in rationals).
fn reference_least(
    ds: &[DestView],
    cost: impl Fn(&DestView) -> u64,
    weighted: bool,
) -> Option<usize> {
    let mut best: Option<(usize, u64, u64)> = None;
    for (i, d) in ds.iter().enumerate() {
        if d.weight == 0 || d.overloaded {
            continue;
        }
        let (num, den) = (cost(d), if weighted { u64::from(d.weight) } else { 1 });
        match best {
            Some((_, bn, bd))
                if u128::from(num) * u128::from(bd) >= u128::from(bn) * u128::from(den) => {}
            _ => best = Some((i, num, den)),
        }
    }
    best.map(|b| b.0)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn lc_wlc_sed_nq_match_the_reference_rule_on_random_states() {
    let mut rng = Rng(0x1234_5678);
    let now = Instant::now();
    for _ in 0..3000 {
        let n = 1 + rng.next(6) as usize;
        let mut ds = dests(&vec![0; n]);
        for d in &mut ds {
            d.weight = rng.next(5) as u32;
            d.active = rng.next(6) as u32;
            d.inactive = rng.next(300) as u32;
            d.overloaded = rng.next(8) == 0;
        }
        let overhead = |d: &DestView| u64::from(d.active) * 256 + u64::from(d.inactive);
        let c = conn(1, 1);
        let mut lc = Scheduler::new(Kind::Lc, Flags::default(), &ds, 1);
        assert_eq!(
            lc.schedule(&ds, &c, now),
            reference_least(&ds, overhead, false),
            "lc {ds:?}"
        );
        let mut wlc = Scheduler::new(Kind::Wlc, Flags::default(), &ds, 1);
        assert_eq!(
            wlc.schedule(&ds, &c, now),
            reference_least(&ds, overhead, true),
            "wlc {ds:?}"
        );
        let sed_cost = |d: &DestView| u64::from(d.active) + 1;
        let mut sed = Scheduler::new(Kind::Sed, Flags::default(), &ds, 1);
        assert_eq!(
            sed.schedule(&ds, &c, now),
            reference_least(&ds, sed_cost, true),
            "sed {ds:?}"
        );
        // nq: an idle usable destination first, else sed.
        let idle = ds
            .iter()
            .position(|d| d.weight > 0 && !d.overloaded && d.active == 0);
        let mut nq = Scheduler::new(Kind::Nq, Flags::default(), &ds, 1);
        assert_eq!(
            nq.schedule(&ds, &c, now),
            idle.or_else(|| reference_least(&ds, sed_cost, true)),
            "nq {ds:?}"
        );
    }
}

#[test]
fn least_connection_schedulers_spread_held_connections_by_weight() {
    for kind in [Kind::Wlc, Kind::Sed, Kind::Nq, Kind::Lblcr] {
        let weights = [1, 2, 3, 0];
        let mut ds = dests(&weights);
        let got = hold(kind, Flags::default(), &mut ds, 600);
        if kind == Kind::Lblcr {
            // One VIP: lblcr keeps a set and only grows it when the least
            // loaded member is busy, so it still never uses weight 0.
            assert_eq!(got[3], 0, "{kind:?}: {got:?}");
            continue;
        }
        assert_near(&got, &weights, 0.01);
    }
    // lc ignores weights (except 0).
    let mut ds = dests(&[1, 5, 0]);
    assert_eq!(hold(Kind::Lc, Flags::default(), &mut ds, 100), [50, 50, 0]);
}

#[test]
fn lc_picks_the_least_loaded() {
    let mut ds = dests(&[1, 1, 1]);
    ds[0].active = 3;
    ds[1].active = 1;
    ds[1].inactive = 10;
    ds[2].active = 1;
    ds[2].inactive = 2;
    let mut s = Scheduler::new(Kind::Lc, Flags::default(), &ds, 1);
    assert_eq!(s.schedule(&ds, &conn(1, 1), Instant::now()), Some(2));
}

#[test]
fn quiesced_destinations_are_never_picked() {
    let all = [
        Kind::Rr,
        Kind::Wrr,
        Kind::Lc,
        Kind::Wlc,
        Kind::Sed,
        Kind::Nq,
        Kind::Fo,
        Kind::Ovf,
        Kind::Twos,
        Kind::Sh,
        Kind::Dh,
        Kind::Mh,
        Kind::Lblc,
        Kind::Lblcr,
    ];
    for kind in all {
        for flags in [
            Flags::default(),
            Flags {
                fallback: true,
                port: true,
            },
        ] {
            let mut ds = dests(&[0, 3, 0, 1]);
            let got = hold(kind, flags, &mut ds, 400);
            assert_eq!((got[0], got[2]), (0, 0), "{kind:?} {flags:?}: {got:?}");
        }
    }
}

#[test]
fn fo_and_ovf_prefer_the_heaviest_usable() {
    let mut ds = dests(&[2, 5, 5, 1]);
    let mut fo = Scheduler::new(Kind::Fo, Flags::default(), &ds, 1);
    assert_eq!(fo.schedule(&ds, &conn(1, 1), Instant::now()), Some(1));
    ds[1].overloaded = true;
    assert_eq!(fo.schedule(&ds, &conn(1, 1), Instant::now()), Some(2));
    // ovf overflows to the next heaviest once active > weight.
    let mut ds = dests(&[2, 3]);
    let got = hold(Kind::Ovf, Flags::default(), &mut ds, 6);
    // The heavy one takes connections until active (4) > weight (3).
    assert_eq!(got, [2, 4], "{got:?}");
}

#[test]
fn twos_follows_weights_with_held_connections() {
    let weights = [1, 3, 0, 4];
    let mut ds = dests(&weights);
    let got = hold(Kind::Twos, Flags::default(), &mut ds, 4000);
    assert_eq!(got[2], 0);
    assert_near(&got, &weights, 0.05);
}

#[test]
fn sh_maps_each_client_to_one_destination_by_weight() {
    let weights = [1, 2, 1];
    let ds = dests(&weights);
    let got = picks(Kind::Sh, Flags::default(), &ds, 20000);
    assert_near(&got, &weights, 0.05);
    // Same client address, any port: same destination (without sh-port).
    let mut s = Scheduler::new(Kind::Sh, Flags::default(), &ds, 1);
    let now = Instant::now();
    for c in 0..200u32 {
        let a = s.schedule(&ds, &conn(0x0a09_0000 + c, 1000), now);
        let b = s.schedule(&ds, &conn(0x0a09_0000 + c, 2000), now);
        assert_eq!(a, b);
    }
    // With sh-port the port takes part in the hash.
    let mut s = Scheduler::new(
        Kind::Sh,
        Flags {
            fallback: false,
            port: true,
        },
        &ds,
        1,
    );
    let differs = (0..200u32).any(|c| {
        s.schedule(&ds, &conn(0x0a09_0000 + c, 1000), now)
            != s.schedule(&ds, &conn(0x0a09_0000 + c, 1001), now)
    });
    assert!(differs);
}

#[test]
fn sh_and_mh_without_fallback_refuse_clients_of_an_unavailable_destination() {
    for kind in [Kind::Sh, Kind::Mh] {
        let mut ds = dests(&[1, 1]);
        ds[0].overloaded = true;
        let got = picks(kind, Flags::default(), &ds, 1000);
        let none = 1000 - got.iter().sum::<usize>();
        assert!(none > 300 && got[0] == 0, "{kind:?}: {got:?}");
        let fb = Flags {
            fallback: true,
            port: false,
        };
        let got = picks(kind, fb, &ds, 1000);
        assert_eq!(got, [0, 1000], "{kind:?} with fallback");
    }
}

#[test]
fn mh_is_consistent_when_a_destination_leaves() {
    let mut ds = dests(&[1, 1, 1, 1]);
    let mut s = Scheduler::new(Kind::Mh, Flags::default(), &ds, 1);
    let now = Instant::now();
    let clients: Vec<ConnInfo> = (0..4000u32)
        .map(|c| conn(0x0b00_0000 + c * 13, 1))
        .collect();
    let before: Vec<SocketAddr> = clients
        .iter()
        .map(|c| ds[s.schedule(&ds, c, now).unwrap()].addr)
        .collect();
    let gone = ds.remove(2);
    s.update(
        Change::Removed {
            addr: gone.addr,
            prev: Some(ds[1].addr),
        },
        &ds,
    );
    let mut moved = 0;
    for (c, was) in clients.iter().zip(&before) {
        let now_at = ds[s.schedule(&ds, c, now).unwrap()].addr;
        if *was != gone.addr && now_at != *was {
            moved += 1;
        }
    }
    // Maglev: clients of the remaining destinations mostly stay put.
    assert!(moved < 4000 / 10, "{moved} of the others moved");
    let got = picks(Kind::Mh, Flags::default(), &dests(&[1, 3]), 20000);
    assert_near(&got, &[1, 3], 0.05);
}

#[test]
fn dh_sends_one_destination_address_to_one_server() {
    let ds = dests(&[1, 1, 1]);
    let got = picks(Kind::Dh, Flags::default(), &ds, 300);
    assert_eq!(got.iter().filter(|&&n| n > 0).count(), 1, "{got:?}");
    assert_eq!(got.iter().sum::<usize>(), 300);
}

#[test]
fn lblc_sticks_until_the_destination_is_busy() {
    let mut ds = dests(&[2, 2]);
    let mut s = Scheduler::new(Kind::Lblc, Flags::default(), &ds, 1);
    let now = Instant::now();
    let first = s.schedule(&ds, &conn(1, 1), now).unwrap();
    for _ in 0..3 {
        assert_eq!(s.schedule(&ds, &conn(2, 1), now), Some(first));
        ds[first].active += 1;
    }
    // active 3 > weight 2 and the other is under half loaded: move.
    let other = 1 - first;
    assert_eq!(s.schedule(&ds, &conn(3, 1), now), Some(other));
    // The new choice is cached.
    assert_eq!(s.schedule(&ds, &conn(4, 1), now), Some(other));
    // A day without use forgets the entry: back to least connections.
    ds[other].active = 50;
    ds[first].active = 0;
    let later = now + Duration::from_secs(24 * 3600 + 1);
    assert_eq!(s.schedule(&ds, &conn(5, 1), later), Some(first));
}

#[test]
fn lblcr_grows_its_set_when_busy() {
    let mut ds = dests(&[2, 2, 2]);
    let mut s = Scheduler::new(Kind::Lblcr, Flags::default(), &ds, 1);
    let now = Instant::now();
    let mut used = std::collections::BTreeSet::new();
    for c in 0..12 {
        let i = s.schedule(&ds, &conn(c, 1), now).unwrap();
        used.insert(i);
        ds[i].active += 1;
    }
    assert_eq!(used.len(), 3, "all joined the set under load");
}
