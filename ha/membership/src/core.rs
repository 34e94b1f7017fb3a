//! The membership state machine. (Implementation in progress; the method
//! signatures below are the contract with the daemon shell and may only be
//! extended.)

use std::time::Instant;

use hb_wire::Message;

use crate::{Config, Event, MediumId, NodeStatus, NodeView, Reject, Transmit};

/// The membership state machine for one node.
#[derive(Debug)]
pub struct Membership {
    config: Config,
}

impl Membership {
    pub fn new(config: Config, now: Instant) -> Self {
        let _ = now;
        Self { config }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// An authenticated message arrived on `medium`.
    pub fn handle_message(
        &mut self,
        now: Instant,
        medium: MediumId,
        msg: Message,
    ) -> Result<(), Reject> {
        let _ = (now, medium, msg);
        unimplemented!()
    }

    /// Call when `poll_timeout()` has passed (calling early is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
        unimplemented!()
    }

    /// Queue a cluster message from a local client (FIFO, hb_standby, the
    /// resource manager). The core adds src/srcuuid/seq/hg/ts/ld/ttl.
    pub fn send(&mut self, now: Instant, msg: Message) {
        let _ = (now, msg);
        unimplemented!()
    }

    /// The first line of /proc/loadavg, for the `ld` field (the shell reads it).
    pub fn set_loadavg(&mut self, ld: String) {
        let _ = ld;
    }

    /// Begin a graceful shutdown; `Event::ShutdownComplete` follows.
    pub fn shutdown(&mut self, now: Instant) {
        let _ = now;
        unimplemented!()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        unimplemented!()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        unimplemented!()
    }

    /// The next instant `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        unimplemented!()
    }

    pub fn local_status(&self) -> NodeStatus {
        unimplemented!()
    }

    /// True once Comm_now_up happened (a peer was seen or initdead expired):
    /// `cl_status` answers only from then on, like heartbeat's API socket.
    pub fn comm_up(&self) -> bool {
        unimplemented!()
    }

    /// Every configured node (local included), for `cl_status`.
    pub fn nodes(&self) -> Vec<NodeView> {
        unimplemented!()
    }
}
