//! Receive-side sequence tracking for one peer (heartbeat's `seqtrack` plus
//! an in-order release queue heartbeat does not have).
//!
//! Heartbeat hands packets to its clients as they arrive; we release them in
//! `seq` order, exactly once: a packet after a hole waits here until the hole
//! is filled by a retransmission or given up. Everything is bounded: at most
//! [`MAX_MISSING`] missing seqs and [`MAX_HELD`] / [`MAX_HELD_BYTES`] of
//! waiting packets per peer, whatever the peer sends.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use hb_wire::Message;

use crate::rng::SplitMix64;
use crate::timers::later;

/// `MAXMISSING`.
pub(crate) const MAX_MISSING: usize = 500;
/// `FLOWCONTROL_LIMIT`: a jump of more lost packets than this restarts
/// tracking instead of asking for them all.
pub(crate) const FLOWCONTROL_LIMIT: u64 = 250;
pub(crate) const MAX_HELD: usize = 256;
pub(crate) const MAX_HELD_BYTES: usize = 4 << 20;

/// What an accepted packet turns into once its turn comes.
#[derive(Debug)]
pub(crate) enum Held {
    /// Already handled on arrival (status, node lists) or not for us.
    Skip,
    Deliver(Message),
    Shutdone,
}

/// Where a packet's seq falls.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// At or below the last seq seen before the node was declared dead.
    Stale,
    Duplicate,
    /// The first packet tracked, or the next one.
    InOrder,
    /// Newer, with `first..=last` missing before it.
    Gap {
        first: u64,
        last: u64,
    },
    /// Newer, with more than `FLOWCONTROL_LIMIT` missing.
    TooFar {
        first: u64,
        last: u64,
    },
    /// One we were missing.
    Recovered,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct RexmitParams {
    pub(crate) max_delay: Duration,
    pub(crate) giveup: Duration,
}

#[derive(Debug)]
struct Missing {
    next_request: Instant,
    giveup_at: Instant,
}

#[derive(Debug)]
pub(crate) struct SeqTrack {
    /// Peer's generation (`hg`); 0 until its first packet.
    pub(crate) generation: u64,
    /// The trigger we drew for this sender (0–9).
    pub(crate) ack_trigger: u64,
    /// Highest of OUR seqs this node acknowledged (`NS_ackmsg`).
    pub(crate) ackseq: u64,
    last_seq: Option<u64>,
    /// Heartbeat forgets everything about a node it declares dead, which lets
    /// a replayed packet of the same generation in. We remember how far we
    /// got instead.
    floor: u64,
    missing: BTreeMap<u64, Missing>,
    requests: BTreeSet<(Instant, u64)>,
    giveups: BTreeSet<(Instant, u64)>,
    held: BTreeMap<u64, (Held, usize)>,
    held_bytes: usize,
    next_release: u64,
}

/// What a reset leaves behind: holes that will never be filled and packets
/// still waiting, in seq order.
#[derive(Debug, Default)]
pub(crate) struct Flush {
    pub(crate) lost: Vec<u64>,
    pub(crate) items: Vec<Held>,
}

impl SeqTrack {
    pub(crate) fn new(ack_trigger: u64) -> Self {
        SeqTrack {
            generation: 0,
            ack_trigger,
            ackseq: 0,
            last_seq: None,
            floor: 0,
            missing: BTreeMap::new(),
            requests: BTreeSet::new(),
            giveups: BTreeSet::new(),
            held: BTreeMap::new(),
            held_bytes: 0,
            next_release: 0,
        }
    }

    pub(crate) fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    pub(crate) fn first_missing(&self) -> Option<u64> {
        self.missing.keys().next().copied()
    }

    pub(crate) fn classify(&self, seq: u64) -> Class {
        if seq <= self.floor {
            return Class::Stale;
        }
        let Some(last) = self.last_seq else {
            return Class::InOrder;
        };
        if seq == last {
            Class::Duplicate
        } else if seq > last {
            let gap = seq - last - 1;
            if gap == 0 {
                Class::InOrder
            } else if gap > FLOWCONTROL_LIMIT {
                Class::TooFar {
                    first: last + 1,
                    last: seq - 1,
                }
            } else {
                Class::Gap {
                    first: last + 1,
                    last: seq - 1,
                }
            }
        } else if self.missing.contains_key(&seq) {
            Class::Recovered
        } else {
            Class::Duplicate
        }
    }

    /// Record `seq` as the newest; with a gap, the seqs in between become
    /// missing and get a first retransmission request after a random delay.
    /// Returns seqs pushed out of the full missing set (given up).
    pub(crate) fn advance(
        &mut self,
        seq: u64,
        now: Instant,
        params: RexmitParams,
        rng: &mut SplitMix64,
    ) -> Vec<u64> {
        let mut evicted = Vec::new();
        match self.last_seq {
            None => self.next_release = seq,
            Some(last) if seq > last.saturating_add(1) => {
                let max_ms = u64::try_from(params.max_delay.as_millis()).unwrap_or(u64::MAX);
                let lo_ms = if max_ms < 100 { 0 } else { 50 };
                // Heartbeat draws a delay per missing seq; one draw per gap
                // keeps the same per-seq rate but lets a whole gap go out as
                // one `firstseq..lastseq` request.
                let delay = Duration::from_millis(rng.between(lo_ms, max_ms));
                for k in last + 1..seq {
                    if self.missing.len() >= MAX_MISSING {
                        if let Some(low) = self.first_missing() {
                            self.remove_missing(low);
                            evicted.push(low);
                        }
                    }
                    let m = Missing {
                        next_request: later(now, delay),
                        giveup_at: later(now, params.giveup),
                    };
                    self.requests.insert((m.next_request, k));
                    self.giveups.insert((m.giveup_at, k));
                    self.missing.insert(k, m);
                }
            }
            Some(_) => {}
        }
        match self.last_seq {
            Some(last) if last >= seq => {}
            _ => self.last_seq = Some(seq),
        }
        evicted
    }

    /// Forget a missing seq (found, NAKed or given up). True if it was missing.
    pub(crate) fn remove_missing(&mut self, seq: u64) -> bool {
        match self.missing.remove(&seq) {
            Some(m) => {
                self.requests.remove(&(m.next_request, seq));
                self.giveups.remove(&(m.giveup_at, seq));
                true
            }
            None => false,
        }
    }

    pub(crate) fn hold(&mut self, seq: u64, item: Held, bytes: usize) {
        if seq < self.next_release {
            return;
        }
        self.held_bytes = self.held_bytes.saturating_add(bytes);
        if let Some((_, old)) = self.held.insert(seq, (item, bytes)) {
            self.held_bytes = self.held_bytes.saturating_sub(old);
        }
    }

    pub(crate) fn over_budget(&self) -> bool {
        self.held.len() > MAX_HELD || self.held_bytes > MAX_HELD_BYTES
    }

    /// Everything now releasable in seq order; holes given up are skipped.
    pub(crate) fn release(&mut self) -> Vec<Held> {
        let mut out = Vec::new();
        let Some(last) = self.last_seq else {
            return out;
        };
        while self.next_release <= last {
            let seq = self.next_release;
            if let Some((item, bytes)) = self.held.remove(&seq) {
                self.held_bytes = self.held_bytes.saturating_sub(bytes);
                out.push(item);
            } else if self.missing.contains_key(&seq) {
                break;
            }
            // Neither held nor missing: a hole already given up.
            match seq.checked_add(1) {
                Some(next) => self.next_release = next,
                None => break,
            }
        }
        out
    }

    /// Missing seqs whose retransmission request is due; each is asked for
    /// again `max_delay` later (heartbeat's per-seq timer).
    pub(crate) fn due_requests(&mut self, now: Instant, max_delay: Duration) -> Vec<u64> {
        let mut due = Vec::new();
        while let Some(&(at, seq)) = self.requests.first() {
            if at > now {
                break;
            }
            self.requests.pop_first();
            due.push(seq);
        }
        let next = later(now, max_delay);
        for &seq in &due {
            if let Some(m) = self.missing.get_mut(&seq) {
                m.next_request = next;
                self.requests.insert((next, seq));
            }
        }
        due.sort_unstable();
        due
    }

    /// Missing seqs past their give-up time, removed.
    pub(crate) fn due_giveups(&mut self, now: Instant) -> Vec<u64> {
        let mut due = Vec::new();
        while let Some(&(at, seq)) = self.giveups.first() {
            if at > now {
                break;
            }
            self.remove_missing(seq);
            due.push(seq);
        }
        due.sort_unstable();
        due
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let r = self.requests.first().map(|(t, _)| *t);
        let g = self.giveups.first().map(|(t, _)| *t);
        match (r, g) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Drop all tracking (node dead, restarted, or too far ahead). With
    /// `keep_floor`, seqs up to the last one seen stay refused.
    pub(crate) fn reset(&mut self, keep_floor: bool) -> Flush {
        let lost: Vec<u64> = self.missing.keys().copied().collect();
        self.missing.clear();
        self.requests.clear();
        self.giveups.clear();
        let items = std::mem::take(&mut self.held)
            .into_values()
            .map(|(item, _)| item)
            .collect();
        self.held_bytes = 0;
        self.floor = if keep_floor {
            self.floor.max(self.last_seq.unwrap_or(0))
        } else {
            0
        };
        self.last_seq = None;
        self.next_release = 0;
        self.ackseq = 0;
        Flush { lost, items }
    }

    pub(crate) fn missing_count(&self) -> usize {
        self.missing.len()
    }

    pub(crate) fn held_count(&self) -> (usize, usize) {
        (self.held.len(), self.held_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> RexmitParams {
        RexmitParams {
            max_delay: Duration::from_millis(250),
            giveup: Duration::from_secs(30),
        }
    }

    fn deliver(t: &mut SeqTrack, seq: u64, now: Instant, rng: &mut SplitMix64) {
        t.advance(seq, now, params(), rng);
        t.remove_missing(seq);
        let mut m = Message::with_type("x");
        m.add_str("seq", format!("{seq:x}"));
        t.hold(seq, Held::Deliver(m), 10);
    }

    fn released_seqs(items: Vec<Held>) -> Vec<u64> {
        items
            .into_iter()
            .filter_map(|h| match h {
                Held::Deliver(m) => m.get_hex("seq"),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn classifies_like_should_drop_message() {
        let now = Instant::now();
        let mut rng = SplitMix64::new(1);
        let mut t = SeqTrack::new(3);
        assert_eq!(t.classify(5), Class::InOrder);
        t.advance(5, now, params(), &mut rng);
        assert_eq!(t.classify(5), Class::Duplicate);
        assert_eq!(t.classify(6), Class::InOrder);
        assert_eq!(t.classify(4), Class::Duplicate);
        assert_eq!(t.classify(9), Class::Gap { first: 6, last: 8 });
        assert_eq!(
            t.classify(5 + 252),
            Class::TooFar {
                first: 6,
                last: 256
            }
        );
        t.advance(9, now, params(), &mut rng);
        assert_eq!(t.classify(7), Class::Recovered);
        assert_eq!(t.first_missing(), Some(6));
        t.reset(true);
        assert_eq!(t.classify(9), Class::Stale);
        assert_eq!(t.classify(10), Class::InOrder);
        t.reset(false);
        assert_eq!(t.classify(1), Class::InOrder);
    }

    #[test]
    fn releases_in_order_across_a_filled_hole() {
        let now = Instant::now();
        let mut rng = SplitMix64::new(1);
        let mut t = SeqTrack::new(0);
        deliver(&mut t, 1, now, &mut rng);
        assert_eq!(released_seqs(t.release()), vec![1]);
        deliver(&mut t, 4, now, &mut rng);
        deliver(&mut t, 5, now, &mut rng);
        assert!(t.release().is_empty(), "2 and 3 missing");
        deliver(&mut t, 3, now, &mut rng);
        assert!(t.release().is_empty());
        deliver(&mut t, 2, now, &mut rng);
        assert_eq!(released_seqs(t.release()), vec![2, 3, 4, 5]);
    }

    #[test]
    fn given_up_hole_is_skipped() {
        let now = Instant::now();
        let mut rng = SplitMix64::new(1);
        let mut t = SeqTrack::new(0);
        deliver(&mut t, 1, now, &mut rng);
        deliver(&mut t, 3, now, &mut rng);
        assert_eq!(released_seqs(t.release()), vec![1]);
        assert!(t.remove_missing(2));
        assert_eq!(released_seqs(t.release()), vec![3]);
        assert_eq!(t.classify(2), Class::Duplicate, "a late copy stays out");
    }

    #[test]
    fn requests_follow_heartbeat_timing_and_giveups_fire() {
        let now = Instant::now();
        let mut rng = SplitMix64::new(9);
        let mut t = SeqTrack::new(0);
        t.advance(1, now, params(), &mut rng);
        t.advance(5, now, params(), &mut rng);
        let first = t.next_deadline().expect("requests scheduled");
        let d = first - now;
        assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(250));
        assert!(t.due_requests(now, params().max_delay).is_empty());
        let all = later(now, Duration::from_millis(250));
        let due = t.due_requests(all, params().max_delay);
        assert_eq!(due, vec![2, 3, 4]);
        assert_eq!(
            t.next_deadline(),
            Some(later(all, Duration::from_millis(250)))
        );
        let gone = t.due_giveups(later(now, Duration::from_secs(30)));
        assert_eq!(gone, vec![2, 3, 4]);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn missing_set_and_held_queue_are_bounded() {
        let now = Instant::now();
        let mut rng = SplitMix64::new(2);
        let mut t = SeqTrack::new(0);
        t.advance(1, now, params(), &mut rng);
        let mut seq = 1;
        let mut evicted = 0;
        for _ in 0..10 {
            seq += 200;
            evicted += t.advance(seq, now, params(), &mut rng).len();
        }
        assert!(t.missing_count() <= MAX_MISSING);
        assert_eq!(evicted + t.missing_count(), 10 * 199);
        for s in seq + 1..seq + 1 + MAX_HELD as u64 + 5 {
            t.advance(s, now, params(), &mut rng);
            t.hold(s, Held::Skip, 1);
        }
        assert!(t.over_budget());
    }
}
