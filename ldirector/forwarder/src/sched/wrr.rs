//! ip_vs_wrr: the weighted round-robin walk. A current weight `cw` starts at
//! the maximum weight and steps down by the weights' gcd each time the walk
//! passes the list head; a destination is picked when its weight >= `cw`.

use super::DestView;

#[derive(Debug)]
pub(super) struct Wrr {
    /// Position of the last pick; `None` = the list head.
    cl: Option<usize>,
    /// Current weight.
    cw: i64,
    /// Maximum weight, less (gcd - 1).
    mw: i64,
    /// gcd of the weights above 0.
    di: i64,
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn gcd_weight(dests: &[DestView]) -> i64 {
    let g = dests
        .iter()
        .map(|d| i64::from(d.weight))
        .filter(|&w| w > 0)
        .fold(0, |g, w| if g > 0 { gcd(w, g) } else { w });
    if g > 0 {
        g
    } else {
        1
    }
}

fn max_weight(dests: &[DestView]) -> i64 {
    dests.iter().map(|d| i64::from(d.weight)).max().unwrap_or(0)
}

impl Wrr {
    pub(super) fn new(dests: &[DestView]) -> Self {
        let di = gcd_weight(dests);
        let mw = max_weight(dests) - (di - 1);
        Wrr {
            cl: None,
            cw: mw,
            mw,
            di,
        }
    }

    /// ip_vs_wrr_dest_changed: restart at the head, keep `cw` where it can.
    pub(super) fn changed(&mut self, dests: &[DestView]) {
        self.cl = None;
        self.di = gcd_weight(dests);
        self.mw = max_weight(dests) - (self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }

    pub(super) fn schedule(&mut self, dests: &[DestView]) -> Option<usize> {
        if self.mw == 0 {
            return None;
        }
        let n = dests.len();
        let last = self.cl;
        let mut pos = self.cl;
        let mut stop: Option<usize> = None;
        let mut last_pass = false;
        let mut restarted = false;
        loop {
            // Walk from after `pos` to the end of the list.
            let from = pos.map_or(0, |p| p + 1);
            for (i, d) in dests.iter().enumerate().take(n).skip(from) {
                if !d.overloaded && i64::from(d.weight) >= self.cw {
                    self.cl = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    self.cl = Some(i);
                    return None;
                }
            }
            pos = None;
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                // Every destination was already tried at weight >= 1.
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
        }
    }
}
