//! Ping nodes (`ping`, `ping6`, `ping_group` in ha.cf): pseudo-members that
//! never speak heartbeat. The shell sends them ICMP echo requests carrying a
//! signed `NS_st` and reports each authentic reply with
//! [`Membership::handle_ping_reply`]; the core decides up and dead.
//!
//! They are kept apart from the normal nodes on purpose: heartbeat does not
//! count them for Comm_now_up, flow control, `reqnodes` or `ttl`, so none of
//! that code has to learn to skip them. What they share with normal nodes is
//! the event vocabulary (`Link`, `NodeStatus`, `NodeDead`, `LateHeartbeat`),
//! so logs and `cl_status` look the same as heartbeat's:
//! "Link 192.0.2.100:192.0.2.100 up.", "Status update for node 192.0.2.100:
//! status ping", "node 192.0.2.100: is dead".

use std::time::{Duration, Instant};

use crate::core::MAX_DEADTIME;
use crate::timers::later;
use crate::{Event, LinkStatus, MediumId, Membership, NodeName, NodeStatus, NodeView, Reject};

/// One ping node as ha.cf declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingSpec {
    /// The node name heartbeat shows: the address for `ping`/`ping6`, the
    /// group name for `ping_group`.
    pub name: NodeName,
    /// Addresses whose replies count for this node (one for `ping`, every
    /// member of a `ping_group`: up while any of them answers).
    pub members: Vec<String>,
    /// The link id this node's `Link` events carry; the shell names it
    /// (heartbeat's ping medium is named after the address or group).
    pub medium: MediumId,
    /// ha.cf `deadping` (default: deadtime).
    pub deadping: Duration,
}

#[derive(Debug)]
pub(crate) struct PingMember {
    spec: PingSpec,
    status: NodeStatus,
    /// Last reply, or when the node was added (the dead-detection base).
    last_rx: Instant,
    link: LinkStatus,
}

impl PingMember {
    fn deadline(&self) -> Option<Instant> {
        (self.status != NodeStatus::Dead).then(|| later(self.last_rx, self.spec.deadping))
    }
}

impl Membership {
    /// Declare a ping node. It starts in `init` and is declared dead when no
    /// reply came within `deadping`. Adding a name twice replaces nothing.
    pub fn add_ping_node(&mut self, now: Instant, mut spec: PingSpec) {
        spec.name = spec.name.to_ascii_lowercase();
        spec.deadping = spec.deadping.clamp(Duration::from_millis(1), MAX_DEADTIME);
        for m in &mut spec.members {
            *m = m.to_ascii_lowercase();
        }
        if spec.name.is_empty()
            || self.ping.iter().any(|p| p.spec.name == spec.name)
            || self.index_of(&spec.name).is_some()
        {
            return;
        }
        self.ping.push(PingMember {
            spec,
            status: NodeStatus::Init,
            last_rx: now,
            link: LinkStatus::Dead,
        });
    }

    /// An authentic echo reply came back from address `from` (the shell has
    /// checked the `NS_st` signature). Every ping node `from` belongs to is
    /// refreshed.
    pub fn handle_ping_reply(&mut self, now: Instant, from: &str) -> Result<(), Reject> {
        if self.is_stopped() {
            return Ok(());
        }
        // A reply arriving after deadping finds the node already dead.
        self.check_ping_nodes(now);
        let mut found = false;
        for i in 0..self.ping.len() {
            if !self.ping[i]
                .spec
                .members
                .iter()
                .any(|m| m.eq_ignore_ascii_case(from))
            {
                continue;
            }
            found = true;
            self.ping_alive(now, i);
        }
        if found {
            Ok(())
        } else {
            Err(Reject::UnknownNode(from.to_owned()))
        }
    }

    fn ping_alive(&mut self, now: Instant, i: usize) {
        let p = &mut self.ping[i];
        let interval = now.saturating_duration_since(p.last_rx);
        let old = p.status;
        p.last_rx = now;
        let link_came_up = p.link == LinkStatus::Dead;
        p.link = LinkStatus::Up;
        p.status = NodeStatus::Ping;
        let node = p.spec.name.clone();
        let medium = p.spec.medium;
        if link_came_up {
            self.emit(Event::Link {
                node: node.clone(),
                medium,
                status: LinkStatus::Up,
            });
        }
        if old == NodeStatus::Dead {
            self.emit(Event::LateHeartbeat {
                node: node.clone(),
                interval,
                after_dead: true,
            });
        }
        if old != NodeStatus::Ping {
            self.emit(Event::NodeStatus {
                node,
                old,
                new: NodeStatus::Ping,
            });
        }
    }

    /// deadping expired: "node X: is dead", then the link.
    pub(crate) fn check_ping_nodes(&mut self, now: Instant) {
        for i in 0..self.ping.len() {
            if self.ping[i].deadline().is_none_or(|d| now < d) {
                continue;
            }
            let p = &mut self.ping[i];
            let old = p.status;
            p.status = NodeStatus::Dead;
            let link_was_up = std::mem::replace(&mut p.link, LinkStatus::Dead) == LinkStatus::Up;
            let node = p.spec.name.clone();
            let medium = p.spec.medium;
            self.emit(Event::NodeDead { node: node.clone() });
            self.emit(Event::NodeStatus {
                node: node.clone(),
                old,
                new: NodeStatus::Dead,
            });
            if link_was_up {
                self.emit(Event::Link {
                    node,
                    medium,
                    status: LinkStatus::Dead,
                });
            }
        }
    }

    pub(crate) fn next_ping_deadline(&self) -> Option<Instant> {
        self.ping.iter().filter_map(PingMember::deadline).min()
    }

    /// True if `name` is a ping node (not a cluster member).
    pub fn is_ping_node(&self, name: &str) -> bool {
        self.ping
            .iter()
            .any(|p| p.spec.name.eq_ignore_ascii_case(name))
    }

    /// How many ping nodes are up (status `ping`): ipfail's count.
    pub fn ping_nodes_up(&self) -> usize {
        self.ping
            .iter()
            .filter(|p| p.status == NodeStatus::Ping)
            .count()
    }

    /// How many ping nodes are configured.
    pub fn ping_node_count(&self) -> usize {
        self.ping.len()
    }

    /// The ping nodes as `cl_status` shows them (type `ping`).
    pub fn ping_views(&self) -> Vec<NodeView> {
        self.ping
            .iter()
            .map(|p| NodeView {
                name: p.spec.name.clone(),
                status: p.status,
                ping: true,
                links: vec![(p.spec.medium, p.link)],
            })
            .collect()
    }
}
