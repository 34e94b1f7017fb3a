//! IPVS's schedulers as a sans-IO state machine: the caller keeps the
//! destination list (in IPVS's list order, with its connection counts and
//! overload flags), tells the scheduler when that list changed, and asks it
//! for a destination per new connection.
//!
//! Every scheduler follows `net/netfilter/ipvs/ip_vs_<name>.c` of Linux 6.x:
//! the same skipping of quiesced (weight 0) and overloaded destinations, the
//! same integer comparisons (`loh * dw > doh * lw`), the same hash tables for
//! `sh`/`dh`/`mh`. Where IPVS hashes a packet field, we hash the same thing of
//! the proxied connection: the client address (`sh`, `mh`) or the address the
//! client connected to, the VIP (`dh`, `lblc`, `lblcr`).

mod hash;
mod lblc;
mod wrr;

use std::net::SocketAddr;
use std::time::Instant;

pub use ldirector::config::Scheduler as Kind;

/// What the scheduler may know about one destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestView {
    pub addr: SocketAddr,
    pub weight: u32,
    /// The last weight above 0 (`mh` keeps a quiesced destination's slots).
    pub last_weight: u32,
    pub active: u32,
    pub inactive: u32,
    /// IPVS's `IP_VS_DEST_F_OVERLOAD` (upper threshold reached).
    pub overloaded: bool,
}

impl DestView {
    pub fn new(addr: SocketAddr, weight: u32) -> Self {
        DestView {
            addr,
            weight,
            last_weight: weight,
            active: 0,
            inactive: 0,
            overloaded: false,
        }
    }

    /// `ip_vs_dest_conn_overhead`: active connections weigh 256 inactive ones.
    pub fn overhead(&self) -> i64 {
        (i64::from(self.active) << 8) + i64::from(self.inactive)
    }

    fn weight(&self) -> i64 {
        i64::from(self.weight)
    }

    /// Not quiesced and not over its upper threshold.
    fn usable(&self) -> bool {
        !self.overloaded && self.weight > 0
    }
}

/// The connection being scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    pub client: SocketAddr,
    /// The virtual address the client connected to.
    pub vip: SocketAddr,
}

/// `-b` flags: `sh-fallback`/`mh-fallback` (`flag-1`), `sh-port`/`mh-port`
/// (`flag-2`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub fallback: bool,
    pub port: bool,
}

impl Flags {
    /// ipvsadm's comma separated `--sched-flags`; unknown words are ignored
    /// as the kernel ignores flags a scheduler does not use.
    pub fn parse(s: Option<&str>) -> Flags {
        let mut f = Flags::default();
        for w in s.unwrap_or("").split(',').map(str::trim) {
            match w {
                "sh-fallback" | "mh-fallback" | "flag-1" => f.fallback = true,
                "sh-port" | "mh-port" | "flag-2" => f.port = true,
                _ => {}
            }
        }
        f
    }
}

/// How the destination list changed (IPVS's add_dest/del_dest/upd_dest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Added(SocketAddr),
    /// `prev`: the destination before it in the list, `None` if it was first.
    Removed {
        addr: SocketAddr,
        prev: Option<SocketAddr>,
    },
    Updated(SocketAddr),
}

/// One service's scheduler state.
#[derive(Debug)]
pub struct Scheduler {
    kind: Kind,
    flags: Flags,
    state: State,
}

#[derive(Debug)]
enum State {
    Stateless,
    /// rr: the destination picked last; `None` = the list head.
    Rr(Option<SocketAddr>),
    Wrr(wrr::Wrr),
    Sh(hash::ShTable),
    Dh(hash::DhTable),
    Mh(hash::MhTable),
    Lblc(lblc::Lblc),
    Lblcr(lblc::Lblcr),
    Twos(XorShift),
}

impl Scheduler {
    /// `seed` feeds `twos`'s random choices (IPVS uses the kernel RNG).
    pub fn new(kind: Kind, flags: Flags, dests: &[DestView], seed: u64) -> Self {
        let state = match kind {
            Kind::Rr => State::Rr(None),
            Kind::Wrr => State::Wrr(wrr::Wrr::new(dests)),
            Kind::Sh => State::Sh(hash::ShTable::new(dests)),
            Kind::Dh => State::Dh(hash::DhTable::new(dests)),
            Kind::Mh => State::Mh(hash::MhTable::new(dests)),
            Kind::Lblc => State::Lblc(lblc::Lblc::default()),
            Kind::Lblcr => State::Lblcr(lblc::Lblcr::default()),
            Kind::Twos => State::Twos(XorShift::new(seed)),
            Kind::Lc | Kind::Wlc | Kind::Sed | Kind::Nq | Kind::Fo | Kind::Ovf => State::Stateless,
        };
        Scheduler { kind, flags, state }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The list changed (`dests` is the list after the change).
    pub fn update(&mut self, change: Change, dests: &[DestView]) {
        match &mut self.state {
            State::Rr(pos) => {
                if let Change::Removed { addr, prev } = change {
                    if *pos == Some(addr) {
                        *pos = prev;
                    }
                }
            }
            State::Wrr(w) => w.changed(dests),
            State::Sh(t) => *t = hash::ShTable::new(dests),
            // ip_vs_dh has no upd_dest: a weight change keeps the table.
            State::Dh(t) => {
                if !matches!(change, Change::Updated(_)) {
                    *t = hash::DhTable::new(dests)
                }
            }
            State::Mh(t) => *t = hash::MhTable::new(dests),
            State::Lblcr(t) => {
                if let Change::Removed { addr, .. } = change {
                    t.forget(addr);
                }
            }
            State::Lblc(_) | State::Twos(_) | State::Stateless => {}
        }
    }

    /// The destination (index into `dests`) for a new connection, or `None`
    /// ("no destination available").
    pub fn schedule(&mut self, dests: &[DestView], conn: &ConnInfo, now: Instant) -> Option<usize> {
        match &mut self.state {
            State::Rr(pos) => {
                let i = rr(dests, *pos)?;
                *pos = Some(dests.get(i)?.addr);
                Some(i)
            }
            State::Wrr(w) => w.schedule(dests),
            State::Sh(t) => t.schedule(dests, conn, self.flags),
            State::Dh(t) => t.schedule(dests, conn),
            State::Mh(t) => t.schedule(dests, conn, self.flags),
            State::Lblc(t) => t.schedule(dests, conn, now),
            State::Lblcr(t) => t.schedule(dests, conn, now),
            State::Twos(rng) => twos(dests, rng),
            State::Stateless => match self.kind {
                Kind::Lc => lc(dests),
                Kind::Wlc => weighted_least(dests, DestView::overhead),
                Kind::Sed => weighted_least(dests, |d| i64::from(d.active) + 1),
                Kind::Nq => nq(dests),
                Kind::Fo => fo(dests),
                Kind::Ovf => ovf(dests),
                _ => None,
            },
        }
    }
}

/// ip_vs_rr: the next usable destination after the last one picked.
fn rr(dests: &[DestView], last: Option<SocketAddr>) -> Option<usize> {
    let n = dests.len();
    let start = last
        .and_then(|a| dests.iter().position(|d| d.addr == a))
        .map_or(0, |p| p + 1);
    (0..n).map(|k| (start + k) % n).find(|&i| dests[i].usable())
}

/// ip_vs_lc: least `overhead`, weights only decide quiescence.
fn lc(dests: &[DestView]) -> Option<usize> {
    let mut least: Option<(usize, i64)> = None;
    for (i, d) in dests.iter().enumerate() {
        if !d.usable() {
            continue;
        }
        let doh = d.overhead();
        if least.is_none_or(|(_, loh)| doh < loh) {
            least = Some((i, doh));
        }
    }
    least.map(|(i, _)| i)
}

/// ip_vs_wlc / ip_vs_sed: least `overhead / weight`, compared as
/// `loh * dw > doh * lw`; the first usable destination wins ties.
fn weighted_least(dests: &[DestView], overhead: impl Fn(&DestView) -> i64) -> Option<usize> {
    let first = dests.iter().position(DestView::usable)?;
    let (mut least, mut loh) = (first, overhead(&dests[first]));
    for (i, d) in dests.iter().enumerate().skip(first + 1) {
        if d.overloaded {
            continue;
        }
        let doh = overhead(d);
        if loh * d.weight() > doh * dests[least].weight() {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}

/// ip_vs_nq: an idle usable destination at once, else as sed.
fn nq(dests: &[DestView]) -> Option<usize> {
    let mut least: Option<(usize, i64)> = None;
    for (i, d) in dests.iter().enumerate() {
        if !d.usable() {
            continue;
        }
        let doh = i64::from(d.active) + 1;
        if d.active == 0 {
            return Some(i);
        }
        if least.is_none_or(|(l, loh)| loh * d.weight() > doh * dests[l].weight()) {
            least = Some((i, doh));
        }
    }
    least.map(|(i, _)| i)
}

/// ip_vs_fo: the highest weight among usable destinations.
fn fo(dests: &[DestView]) -> Option<usize> {
    let mut hi: Option<usize> = None;
    for (i, d) in dests.iter().enumerate() {
        if d.usable() && hi.is_none_or(|h| d.weight > dests[h].weight) {
            hi = Some(i);
        }
    }
    hi
}

/// ip_vs_ovf: the highest weight among usable destinations whose active
/// connections do not exceed their weight.
fn ovf(dests: &[DestView]) -> Option<usize> {
    let mut hi: Option<usize> = None;
    for (i, d) in dests.iter().enumerate() {
        if !d.usable() || d.active > d.weight {
            continue;
        }
        if hi.is_none_or(|h| d.weight > dests[h].weight) {
            hi = Some(i);
        }
    }
    hi
}

/// ip_vs_twos: two weighted random picks, the less loaded (per weight) wins.
fn twos(dests: &[DestView], rng: &mut XorShift) -> Option<usize> {
    let total: i64 = dests
        .iter()
        .filter(|d| d.usable())
        .map(DestView::weight)
        .sum();
    let last = dests.iter().rposition(DestView::usable)?;
    // Inclusive of the total, like IPVS (a pick past the end falls back to
    // the last usable destination).
    let mut r1 = rng.below(total + 1);
    let mut r2 = rng.below(total + 1);
    let (mut c1, mut c2): (Option<usize>, Option<usize>) = (None, None);
    for (i, d) in dests.iter().enumerate() {
        if !d.usable() {
            continue;
        }
        r1 -= d.weight();
        r2 -= d.weight();
        if r1 <= 0 && c1.is_none() {
            c1 = Some(i);
        }
        if r2 <= 0 && c2.is_none() {
            c2 = Some(i);
        }
        if c1.is_some() && c2.is_some() {
            break;
        }
    }
    let c1 = c1.unwrap_or(last);
    let Some(c2) = c2 else { return Some(c1) };
    let (d1, d2) = (&dests[c1], &dests[c2]);
    if d2.weight() * d1.overhead() > d1.weight() * d2.overhead() {
        Some(c2)
    } else {
        Some(c1)
    }
}

/// A small PRNG for `twos` (no need for cryptographic quality).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-enough in `0..n` (`n` > 0).
    fn below(&mut self, n: i64) -> i64 {
        let n = n.max(1) as u64;
        (self.next() % n) as i64
    }
}

/// Folds an address to 32 bits as IPVS's hash functions do (IPv6: the XOR of
/// its four words), in host order.
fn addr_fold(addr: &std::net::IpAddr) -> u32 {
    match addr {
        std::net::IpAddr::V4(a) => u32::from(*a),
        std::net::IpAddr::V6(a) => {
            let o = a.octets();
            let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            w(0) ^ w(4) ^ w(8) ^ w(12)
        }
    }
}
