//! ip_vs_lblc and ip_vs_lblcr: locality-based least-connection. A cache maps
//! the address the client asked for (here: the VIP) to a destination (lblc)
//! or a set of destinations (lblcr); a miss or an overloaded entry falls back
//! to weighted least-connection. Entries unused for 24 hours (IPVS's default
//! `lblc_expiration`/`lblcr_expiration`) are forgotten.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::{ConnInfo, DestView};

pub const EXPIRATION: Duration = Duration::from_secs(24 * 60 * 60);

/// __ip_vs_lblc_schedule: wlc over non-overloaded destinations.
fn least(dests: &[DestView]) -> Option<usize> {
    let first = dests.iter().position(|d| !d.overloaded && d.weight > 0)?;
    let (mut least, mut loh) = (first, dests[first].overhead());
    for (i, d) in dests.iter().enumerate().skip(first + 1) {
        if d.overloaded {
            continue;
        }
        let doh = d.overhead();
        if loh * i64::from(d.weight) > doh * i64::from(dests[least].weight) {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}

/// "Overloaded and someone else is less than half loaded": active
/// connections above the weight while another destination has active * 2 <
/// weight.
fn busy(d: &DestView, dests: &[DestView]) -> bool {
    d.active > d.weight
        && dests
            .iter()
            .any(|o| u64::from(o.active) * 2 < u64::from(o.weight))
}

#[derive(Debug, Default)]
pub(super) struct Lblc {
    cache: HashMap<IpAddr, (SocketAddr, Instant)>,
}

impl Lblc {
    pub(super) fn schedule(
        &mut self,
        dests: &[DestView],
        conn: &ConnInfo,
        now: Instant,
    ) -> Option<usize> {
        let key = conn.vip.ip();
        self.cache
            .retain(|_, (_, used)| now.saturating_duration_since(*used) < EXPIRATION);
        if let Some((addr, used)) = self.cache.get_mut(&key) {
            *used = now;
            if let Some(i) = dests.iter().position(|d| d.addr == *addr) {
                let d = &dests[i];
                if d.weight > 0 && !busy(d, dests) {
                    return Some(i);
                }
            }
        }
        let i = least(dests)?;
        self.cache.insert(key, (dests[i].addr, now));
        Some(i)
    }
}

#[derive(Debug)]
struct DestSet {
    /// Most recently added first, like the kernel's list.
    members: Vec<SocketAddr>,
    lastmod: Instant,
    lastuse: Instant,
}

impl DestSet {
    fn members<'a>(
        &'a self,
        dests: &'a [DestView],
    ) -> impl Iterator<Item = (usize, &'a DestView)> + 'a {
        self.members
            .iter()
            .filter_map(|a| dests.iter().position(|d| d.addr == *a))
            .map(|i| (i, &dests[i]))
    }

    /// ip_vs_dest_set_min: weighted least connections among the members.
    fn min(&self, dests: &[DestView]) -> Option<usize> {
        let mut it = self.members(dests);
        let (mut least, mut loh) = loop {
            let (i, d) = it.next()?;
            if !d.overloaded && d.weight > 0 {
                break (i, d.overhead());
            }
        };
        for (i, d) in it {
            if d.overloaded {
                continue;
            }
            let doh = d.overhead();
            if loh * i64::from(d.weight) > doh * i64::from(dests[least].weight) {
                least = i;
                loh = doh;
            }
        }
        Some(least)
    }

    /// ip_vs_dest_set_max: weighted most connections among the members.
    fn max(&self, dests: &[DestView]) -> Option<SocketAddr> {
        let mut it = self.members(dests);
        let (mut most, mut moh) = loop {
            let (i, d) = it.next()?;
            if d.weight > 0 {
                break (i, d.overhead());
            }
        };
        for (i, d) in it {
            let doh = d.overhead();
            if d.weight > 0 && moh * i64::from(d.weight) < doh * i64::from(dests[most].weight) {
                most = i;
                moh = doh;
            }
        }
        Some(dests[most].addr)
    }

    fn insert(&mut self, addr: SocketAddr, now: Instant) {
        if !self.members.contains(&addr) {
            self.members.insert(0, addr);
            self.lastmod = now;
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Lblcr {
    cache: HashMap<IpAddr, DestSet>,
}

impl Lblcr {
    /// A removed destination leaves every set.
    pub(super) fn forget(&mut self, addr: SocketAddr) {
        for set in self.cache.values_mut() {
            set.members.retain(|a| *a != addr);
        }
    }

    pub(super) fn schedule(
        &mut self,
        dests: &[DestView],
        conn: &ConnInfo,
        now: Instant,
    ) -> Option<usize> {
        let key = conn.vip.ip();
        self.cache
            .retain(|_, s| now.saturating_duration_since(s.lastuse) < EXPIRATION);
        let Some(set) = self.cache.get_mut(&key) else {
            let i = least(dests)?;
            self.cache.insert(
                key,
                DestSet {
                    members: vec![dests[i].addr],
                    lastmod: now,
                    lastuse: now,
                },
            );
            return Some(i);
        };
        set.lastuse = now;
        let pick = set.min(dests);
        // A set that has not grown for a while sheds its busiest member.
        if set.members.len() > 1 && now.saturating_duration_since(set.lastmod) > EXPIRATION {
            if let Some(m) = set.max(dests) {
                set.members.retain(|a| *a != m);
                set.lastmod = now;
            }
        }
        if let Some(i) = pick {
            if !busy(&dests[i], dests) {
                return Some(i);
            }
        }
        let i = least(dests)?;
        set.insert(dests[i].addr, now);
        Some(i)
    }
}
