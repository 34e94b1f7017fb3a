//! The node table (heartbeat's `struct node_info` / `struct link`).

use std::time::{Duration, Instant};

use crate::seqtrack::SeqTrack;
use crate::{LinkStatus, NodeName, NodeStatus};

#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) status: LinkStatus,
    pub(crate) last_rx: Instant,
}

#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) name: NodeName,
    pub(crate) uuid: Option<[u8; 16]>,
    pub(crate) status: NodeStatus,
    /// The node's own deadtime from its `dt` field; ours until it says.
    pub(crate) deadtime: Duration,
    /// Dead-detection base: start, then every fresh status (heartbeat's
    /// `local_lastupdate`, which it also sets to "now" at start).
    pub(crate) alive_since: Instant,
    /// When the previous status arrived, for "Late heartbeat"; unknown at
    /// first contact and after a restart.
    pub(crate) last_status_rx: Option<Instant>,
    /// Seq of the newest status applied; older (retransmitted) ones are not.
    pub(crate) status_seq: u64,
    /// `anypacketsyet`: heard from since start or since declared dead.
    pub(crate) heard: bool,
    /// A `shutdone` of the current generation arrived: the node is dead
    /// until it restarts, whatever it still sends.
    pub(crate) shut_down: bool,
    /// The generation the node had when it was last declared dead. Coming
    /// back with the same one is a healed partition; with a newer one, a
    /// restart, whichever message first carried it (often the node's ACK of
    /// its own first status, not the status itself).
    pub(crate) died_in_generation: Option<u64>,
    pub(crate) links: Vec<Link>,
    pub(crate) track: SeqTrack,
}

impl Node {
    pub(crate) fn new(
        name: NodeName,
        media: usize,
        deadtime: Duration,
        now: Instant,
        ack_trigger: u64,
    ) -> Self {
        Node {
            name,
            uuid: None,
            status: NodeStatus::Init,
            deadtime,
            alive_since: now,
            last_status_rx: None,
            status_seq: 0,
            heard: false,
            shut_down: false,
            died_in_generation: None,
            links: (0..media)
                .map(|_| Link {
                    status: LinkStatus::Dead,
                    last_rx: now,
                })
                .collect(),
            track: SeqTrack::new(ack_trigger),
        }
    }

    /// Up or active: counts for flow control and can answer requests.
    pub(crate) fn is_live(&self) -> bool {
        matches!(self.status, NodeStatus::Up | NodeStatus::Active)
    }
}
