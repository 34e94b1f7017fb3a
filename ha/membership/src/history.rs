//! Our send history (heartbeat's `msghist`): the last `MAXMSGHIST` sequenced
//! messages we sent, so a peer's `NS_rexmit` can be answered with the very
//! same message (same seq, same `ts`, same bytes once signed).

use std::collections::VecDeque;
use std::time::Instant;

use hb_wire::Message;

/// `MAXMSGHIST`.
pub(crate) const MAX_HISTORY: usize = 500;

#[derive(Debug)]
pub(crate) struct Sent {
    pub(crate) seq: u64,
    pub(crate) msg: Message,
    pub(crate) last_rexmit: Option<Instant>,
}

/// Seqs are contiguous from `front().seq` to `hiseq`; older ones were
/// dropped (ring full, or acknowledged by every live node).
#[derive(Debug, Default)]
pub(crate) struct History {
    entries: VecDeque<Sent>,
    hiseq: u64,
}

pub(crate) enum Lookup<'a> {
    /// Dropped from the history: answer with `NS_nak_rexmit`.
    TooOld,
    /// Never sent (a peer from before our restart, or garbage): ignore.
    TooNew,
    Found(&'a mut Sent),
}

impl History {
    pub(crate) fn push(&mut self, seq: u64, msg: Message) {
        if self.entries.len() >= MAX_HISTORY {
            self.entries.pop_front();
        }
        self.hiseq = seq;
        self.entries.push_back(Sent {
            seq,
            msg,
            last_rexmit: None,
        });
    }

    pub(crate) fn hiseq(&self) -> u64 {
        self.hiseq
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn lookup(&mut self, seq: u64) -> Lookup<'_> {
        if seq > self.hiseq || seq == 0 {
            return Lookup::TooNew;
        }
        let Some(front) = self.entries.front().map(|e| e.seq) else {
            return Lookup::TooOld;
        };
        if seq < front {
            return Lookup::TooOld;
        }
        let idx = usize::try_from(seq - front).unwrap_or(usize::MAX);
        match self.entries.get_mut(idx) {
            Some(e) if e.seq == seq => Lookup::Found(e),
            _ => Lookup::TooOld,
        }
    }

    /// Forget messages every live node has acknowledged.
    pub(crate) fn release_through(&mut self, acked: u64) {
        while self.entries.front().is_some_and(|e| e.seq < acked) {
            self.entries.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: u64) -> Message {
        let mut m = Message::with_type("x");
        m.add_str("n", i.to_string());
        m
    }

    #[test]
    fn ring_keeps_the_last_500_and_classifies_lookups() {
        let mut h = History::default();
        for seq in 1..=600 {
            h.push(seq, msg(seq));
        }
        assert_eq!(h.len(), MAX_HISTORY);
        assert!(matches!(h.lookup(100), Lookup::TooOld));
        assert!(matches!(h.lookup(601), Lookup::TooNew));
        assert!(matches!(h.lookup(0), Lookup::TooNew));
        match h.lookup(101) {
            Lookup::Found(e) => assert_eq!(e.msg, msg(101)),
            _ => panic!("101 is the oldest kept"),
        }
        h.release_through(550);
        assert!(matches!(h.lookup(549), Lookup::TooOld));
        assert!(matches!(h.lookup(550), Lookup::Found(_)));
    }
}
