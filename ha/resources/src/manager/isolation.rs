//! The isolation guard: with `Config::isolation_ping_nodes`, a peer's death
//! is acted on only while at least one of those ping nodes answers.
//!
//! A node that hears neither its peer nor any ping node cannot tell the
//! peer's death from its own isolation; taking over then starts a second
//! copy of every group beside a peer that may be fine. heartbeat has no
//! such rule (its ipfail only ever gives resources away: its `NodeStatus`
//! callback just logs "NS: We are dead. :<" while heartbeat's mach_down
//! takes over regardless), so this is the one place where a node with
//! built-in ipfail behaves differently from heartbeat + ipfail.
//!
//! A held death is acted on as soon as a ping node answers while the peer
//! is still dead (heartbeat would hold those groups by then anyway), and is
//! dropped if the peer comes back first, or by our own shutdown.

use std::time::Instant;

use hb_membership::NodeStatus;

use super::ResourceManager;
use crate::log::Level;

impl ResourceManager {
    pub(super) fn is_guard_ping_node(&self, node: &str) -> bool {
        self.cfg
            .isolation_ping_nodes
            .iter()
            .any(|p| p.eq_ignore_ascii_case(node))
    }

    /// No configured ping node answers: we may be the isolated one.
    fn isolated(&self) -> bool {
        !self.cfg.isolation_ping_nodes.is_empty() && self.pings_up.is_empty()
    }

    /// Membership declared a peer dead (after Comm_now_up).
    pub(super) fn peer_died(&mut self, now: Instant, node: &str) {
        if !self.isolated() {
            self.recover_dead_resources(now, node);
            return;
        }
        let Some(p) = self.peer_mut(node) else { return };
        p.status = Some(NodeStatus::Dead);
        if !self.held_deaths.iter().any(|n| n == node) {
            self.held_deaths.push(node.to_string());
        }
        let configured = self.cfg.isolation_ping_nodes.len();
        self.log(
            Level::Warn,
            format!(
                "Node {node} is dead but we see none of our {configured} ping node(s): we may be the isolated one. Not taking over its resources."
            ),
        );
    }

    /// A guard ping node's status changed.
    pub(super) fn ping_node_status(&mut self, now: Instant, node: &str, status: NodeStatus) {
        self.pings_up.retain(|p| !p.eq_ignore_ascii_case(node));
        if status == NodeStatus::Ping {
            self.pings_up.push(node.to_string());
        }
        if self.isolated() || self.held_deaths.is_empty() {
            return;
        }
        for dead in std::mem::take(&mut self.held_deaths) {
            if self.peers.iter().any(|p| p.name == dead && !p.alive()) {
                self.log(
                    Level::Info,
                    format!(
                        "Ping node {node} answers again: taking over the resources of dead node {dead}."
                    ),
                );
                self.recover_dead_resources(now, &dead);
            }
        }
    }

    /// The peer is alive again (or announced its shutdown): its held death
    /// is void.
    pub(super) fn drop_held_death(&mut self, node: &str) {
        let before = self.held_deaths.len();
        self.held_deaths.retain(|n| n != node);
        if self.held_deaths.len() != before {
            self.log(
                Level::Info,
                format!("Node {node} is alive again: held-back takeover cancelled."),
            );
        }
    }

    /// Our shutdown began: nothing will be taken over any more, but the
    /// dead peers' bookkeeping (cancelled standby exchanges, stability)
    /// must still happen or the release could wait for ever.
    pub(super) fn forget_held_deaths(&mut self, now: Instant) {
        for dead in std::mem::take(&mut self.held_deaths) {
            self.recover_dead_resources(now, &dead);
        }
    }
}
