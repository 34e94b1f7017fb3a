//! The live connections of one service, for `ipvsadm -Lc`-style listings.
//!
//! A slab of slots kept inside [`crate::service::ServiceCore`]: every state
//! change of a connection already takes the service's lock to count it
//! (active/inactive), so recording the state there costs a slot write, no
//! extra lock and no allocation once the slab has grown. A connection keeps
//! its slot from scheduling until its entry would expire in IPVS (after
//! TIME_WAIT/CLOSE for TCP).
//!
//! Expiry is derived from the state's timeout and when the state was
//! entered: unlike the kernel's, it is not pushed back by every packet of
//! an ESTABLISHED connection or UDP flow (that would cost the data path a
//! shared write per packet).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ldirector::backend::{ConnEntry, ConnProtocol, ConnState};

/// IPVS's SYN_RECV timeout: the entry of a connection whose real server
/// has not answered yet.
pub const SYN_RECV_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Slot {
    client: SocketAddr,
    dest: SocketAddr,
    state: ConnState,
    expires: Instant,
}

/// Slot index of one connection (valid until [`ConnTable::remove`]).
pub type SlotId = usize;

#[derive(Debug, Default)]
pub struct ConnTable {
    slots: Vec<Option<Slot>>,
    free: Vec<SlotId>,
}

impl ConnTable {
    pub fn insert(
        &mut self,
        client: SocketAddr,
        dest: SocketAddr,
        state: ConnState,
        expires: Instant,
    ) -> SlotId {
        let slot = Some(Slot {
            client,
            dest,
            state,
            expires,
        });
        match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i) {
                    *s = slot;
                }
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        }
    }

    pub fn set(&mut self, id: SlotId, state: ConnState, expires: Instant) {
        if let Some(Some(s)) = self.slots.get_mut(id) {
            s.state = state;
            s.expires = expires;
        }
    }

    pub fn remove(&mut self, id: SlotId) {
        if let Some(s) = self.slots.get_mut(id) {
            if s.take().is_some() {
                self.free.push(id);
            }
        }
    }

    /// Give the memory of a burst back once it is over (from the timer).
    pub fn compact(&mut self) {
        if self.len() == 0 && self.slots.capacity() > 64 {
            self.slots = Vec::new();
            self.free = Vec::new();
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// The entries as IPVS lists them, `virtual_addr` being the service's.
    pub fn entries(
        &self,
        protocol: &ConnProtocol,
        virtual_addr: SocketAddr,
        now: Instant,
        out: &mut Vec<ConnEntry>,
    ) {
        out.extend(self.slots.iter().flatten().map(|s| ConnEntry {
            protocol: protocol.clone(),
            client: s.client,
            virtual_addr,
            destination: s.dest,
            state: s.state.clone(),
            expires: s.expires.saturating_duration_since(now),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_and_listed() {
        let now = Instant::now();
        let c: SocketAddr = "10.0.0.1:1000".parse().unwrap();
        let d: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let v: SocketAddr = "10.0.0.100:80".parse().unwrap();
        let mut t = ConnTable::default();
        let a = t.insert(c, d, ConnState::SynRecv, now + SYN_RECV_TIMEOUT);
        let b = t.insert(c, d, ConnState::SynRecv, now + SYN_RECV_TIMEOUT);
        t.set(b, ConnState::Established, now + Duration::from_secs(900));
        t.remove(a);
        assert_eq!(t.len(), 1);
        let again = t.insert(c, d, ConnState::Udp, now + Duration::from_secs(5));
        assert_eq!(again, a);
        let mut out = Vec::new();
        t.entries(&ConnProtocol::Tcp, v, now, &mut out);
        let states: Vec<_> = out.iter().map(|e| e.state.clone()).collect();
        assert_eq!(states, [ConnState::Udp, ConnState::Established]);
        assert_eq!(out[1].expires, Duration::from_secs(900));
        t.remove(a);
        t.remove(b);
        t.remove(b);
        assert_eq!(t.len(), 0);
        t.compact();
        t.insert(c, d, ConnState::Udp, now);
        assert_eq!(t.len(), 1);
    }
}
