//! The live connections of one service, for `ipvsadm -Lc`-style listings.
//!
//! A slab of slots kept inside [`crate::service::ServiceCore`]: every state
//! change of a connection already takes the service's lock to count it
//! (active/inactive), so recording the state there costs a slot write, no
//! extra lock and no allocation once the slab has grown. A connection keeps
//! its slot from scheduling until its entry would expire in IPVS (after
//! TIME_WAIT/CLOSE for TCP).
//!
//! Expiry is the state's timeout from when the state was entered or, for a
//! connection that moves data, from its last bytes, as IPVS pushes an entry
//! back with every packet: the data path already records that instant for
//! its own idle timeout ([`Activity`]), the listing only reads it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldirector::backend::{ConnEntry, ConnProtocol, ConnState};

/// IPVS's SYN_RECV timeout: the entry of a connection whose real server
/// has not answered yet.
pub const SYN_RECV_TIMEOUT: Duration = Duration::from_secs(60);

/// When a connection last moved data: one relaxed store per read on the
/// data path, read by the idle timeout and by listings.
#[derive(Debug)]
pub struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    pub fn new(now: Instant) -> Arc<Activity> {
        Arc::new(Activity {
            epoch: now,
            last_ms: AtomicU64::new(0),
        })
    }

    /// Data moved at `now`.
    pub fn touch(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.epoch).as_millis();
        self.last_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn last(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

#[derive(Debug)]
struct Slot {
    client: SocketAddr,
    dest: SocketAddr,
    state: ConnState,
    /// The state's timeout, and when it runs out counted from the state's
    /// start.
    timeout: Duration,
    expires: Instant,
    activity: Option<Arc<Activity>>,
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
        now: Instant,
        timeout: Duration,
    ) -> SlotId {
        let slot = Some(Slot {
            client,
            dest,
            state,
            timeout,
            expires: now + timeout,
            activity: None,
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

    pub fn set(&mut self, id: SlotId, state: ConnState, now: Instant, timeout: Duration) {
        if let Some(Some(s)) = self.slots.get_mut(id) {
            s.state = state;
            s.timeout = timeout;
            s.expires = now + timeout;
        }
    }

    /// From now on the entry's expiry also counts from `activity`.
    pub fn attach(&mut self, id: SlotId, activity: Arc<Activity>) {
        if let Some(Some(s)) = self.slots.get_mut(id) {
            s.activity = Some(activity);
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
        out.extend(self.slots.iter().flatten().map(|s| {
            // After the end (TIME_WAIT, CLOSE) the last bytes are older
            // than the state, so only a live connection is pushed back.
            let expires = match &s.activity {
                Some(a) => s.expires.max(a.last() + s.timeout),
                None => s.expires,
            };
            ConnEntry {
                protocol: protocol.clone(),
                client: s.client,
                virtual_addr,
                destination: s.dest,
                state: s.state.clone(),
                expires: expires.saturating_duration_since(now),
            }
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
        let a = t.insert(c, d, ConnState::SynRecv, now, SYN_RECV_TIMEOUT);
        let b = t.insert(c, d, ConnState::SynRecv, now, SYN_RECV_TIMEOUT);
        t.set(b, ConnState::Established, now, Duration::from_secs(900));
        t.remove(a);
        assert_eq!(t.len(), 1);
        let again = t.insert(c, d, ConnState::Udp, now, Duration::from_secs(5));
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
        t.insert(c, d, ConnState::Udp, now, Duration::ZERO);
        assert_eq!(t.len(), 1);
    }

    /// Like IPVS, data pushes a live entry's expiry back; after the end the
    /// state's own timeout counts.
    #[test]
    fn data_pushes_the_expiry_back() {
        let t0 = Instant::now();
        let secs = Duration::from_secs;
        let c: SocketAddr = "10.0.0.1:1000".parse().unwrap();
        let d: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let v: SocketAddr = "10.0.0.100:80".parse().unwrap();
        let mut t = ConnTable::default();
        let id = t.insert(c, d, ConnState::SynRecv, t0, SYN_RECV_TIMEOUT);
        let act = Activity::new(t0);
        t.attach(id, act.clone());
        t.set(id, ConnState::Established, t0, secs(900));
        let expiry = |t: &ConnTable, now: Instant| {
            let mut out = Vec::new();
            t.entries(&ConnProtocol::Tcp, v, now, &mut out);
            out[0].expires
        };
        assert_eq!(expiry(&t, t0 + secs(100)), secs(800));
        act.touch(t0 + secs(100));
        assert_eq!(expiry(&t, t0 + secs(100)), secs(900));
        assert_eq!(expiry(&t, t0 + secs(160)), secs(840));
        t.set(id, ConnState::TimeWait, t0 + secs(200), secs(120));
        assert_eq!(expiry(&t, t0 + secs(200)), secs(120));
    }
}
