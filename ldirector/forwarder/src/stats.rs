//! Traffic counters and IPVS's rate estimator.
//!
//! Packets are not visible to a proxy: a packet here is one successful read
//! (or splice) from a socket, which is what one TCP segment or one datagram
//! usually turns into on loopback and LAN links, but large transfers read in
//! 64 KiB chunks count fewer "packets" than went over the wire.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ldirector::backend::Stats;

/// Counters the data path bumps without taking the service lock.
#[derive(Debug, Default)]
pub struct Traffic {
    inpkts: AtomicU64,
    inbytes: AtomicU64,
    outpkts: AtomicU64,
    outbytes: AtomicU64,
}

impl Traffic {
    /// Client to real server.
    pub fn add_in(&self, bytes: usize) {
        self.inpkts.fetch_add(1, Ordering::Relaxed);
        self.inbytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Real server to client.
    pub fn add_out(&self, bytes: usize) {
        self.outpkts.fetch_add(1, Ordering::Relaxed);
        self.outbytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn totals(&self, conns: u64) -> Totals {
        Totals {
            conns,
            inpkts: self.inpkts.load(Ordering::Relaxed),
            outpkts: self.outpkts.load(Ordering::Relaxed),
            inbytes: self.inbytes.load(Ordering::Relaxed),
            outbytes: self.outbytes.load(Ordering::Relaxed),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
}

/// ip_vs_est: every 2 seconds, each rate moves a quarter of the way towards
/// the last interval's rate. Fixed point as in the kernel: connection and
/// packet rates scaled by 2^10 per second, byte rates by 2^5.
#[derive(Clone, Debug, Default)]
pub struct Estimator {
    last: Totals,
    last_tick: Option<Instant>,
    cps: i64,
    inpps: i64,
    outpps: i64,
    inbps: i64,
    outbps: i64,
}

pub const EST_INTERVAL: Duration = Duration::from_secs(2);

impl Estimator {
    /// Feed the current totals; rates move once per elapsed 2 s interval.
    pub fn tick(&mut self, now: Instant, t: Totals) {
        let Some(mut at) = self.last_tick else {
            self.last = t;
            self.last_tick = Some(now);
            return;
        };
        while now.saturating_duration_since(at) >= EST_INTERVAL {
            let step = |avg: &mut i64, new: u64, old: u64, shift: u32| {
                let rate = (new.saturating_sub(old) << shift) as i64;
                *avg += (rate - *avg) >> 2;
            };
            step(&mut self.cps, t.conns, self.last.conns, 9);
            step(&mut self.inpps, t.inpkts, self.last.inpkts, 9);
            step(&mut self.outpps, t.outpkts, self.last.outpkts, 9);
            step(&mut self.inbps, t.inbytes, self.last.inbytes, 4);
            step(&mut self.outbps, t.outbytes, self.last.outbytes, 4);
            // Later missed intervals saw no new traffic.
            self.last = t;
            at += EST_INTERVAL;
        }
        self.last_tick = Some(at);
    }

    /// The totals with the current rates, as `ipvsadm --stats/--rate` show.
    pub fn stats(&self, t: Totals) -> Stats {
        let per_sec = |v: i64, round: i64, shift: u32| ((v.max(0) + round) >> shift) as u64;
        Stats {
            conns: t.conns,
            inpkts: t.inpkts,
            outpkts: t.outpkts,
            inbytes: t.inbytes,
            outbytes: t.outbytes,
            cps: per_sec(self.cps, 0x1FF, 10),
            inpps: per_sec(self.inpps, 0x1FF, 10),
            outpps: per_sec(self.outpps, 0x1FF, 10),
            inbps: per_sec(self.inbps, 0xF, 5),
            outbps: per_sec(self.outbps, 0xF, 5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_converge_to_steady_traffic() {
        let mut e = Estimator::default();
        let t0 = Instant::now();
        let mut t = Totals::default();
        e.tick(t0, t);
        // 100 conns/s and 1 MB/s in, for a minute.
        for k in 1..=30u64 {
            t.conns = 200 * k;
            t.inbytes = 2_000_000 * k;
            t.inpkts = 2_000 * k;
            e.tick(t0 + EST_INTERVAL * k as u32, t);
        }
        let s = e.stats(t);
        assert_eq!(s.conns, 6000);
        assert!((99..=101).contains(&s.cps), "cps {}", s.cps);
        assert!(
            (999_000..=1_001_000).contains(&s.inbps),
            "inbps {}",
            s.inbps
        );
        assert!((999..=1001).contains(&s.inpps), "inpps {}", s.inpps);
        assert_eq!(s.outbps, 0);
        // After a quiet minute the rates decay towards 0.
        for k in 31..=60u64 {
            e.tick(t0 + EST_INTERVAL * k as u32, t);
        }
        assert_eq!(e.stats(t).cps, 0);
    }

    #[test]
    fn first_interval_moves_a_quarter() {
        let mut e = Estimator::default();
        let t0 = Instant::now();
        e.tick(t0, Totals::default());
        let t = Totals {
            conns: 800,
            ..Totals::default()
        };
        e.tick(t0 + Duration::from_millis(1999), t);
        assert_eq!(e.stats(t).cps, 0, "no interval elapsed yet");
        e.tick(t0 + EST_INTERVAL, t);
        // 400/s observed, a quarter of it: 100.
        assert_eq!(e.stats(t).cps, 100);
    }
}
