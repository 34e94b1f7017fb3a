//! Sans-IO heartbeat membership core.
//!
//! Invariant: this crate never reads a clock, opens a socket, touches a file
//! or spawns anything. Time comes in as `now: Instant`, packets come in as
//! already-authenticated [`Message`]s, and everything the node must do comes
//! out of [`Membership::poll_transmit`] / [`Membership::poll_event`], with the
//! next deadline from [`Membership::poll_timeout`] (quinn-proto's shape).
//!
//! API contract (the daemon shell and the simulator code against this):
//! * `new(config, now)`; then loop: feed `handle_message` / `handle_timeout`
//!   / commands, drain `poll_transmit` and `poll_event`, sleep until
//!   `poll_timeout`.
//! * Every `Transmit` is a complete message except `auth`: the shell signs
//!   it with `hb_wire::encode` and sends it on every medium.
//!
//! What it does, as heartbeat 3.0.6 does it (facts from `heartbeat.c`,
//! `hb_rexmit.c`, `hb_resource.c` and the reference captures):
//! * Start: status `init` with `dt` = deadtime + 2 s, then `up` twice (seq
//!   1–3); the bump is withdrawn with an extra status after 5 s. Once every
//!   node was heard from or declared dead, `reqnodes` goes to the first live
//!   peer; its `repnodes` (or nobody to ask) is Comm_now_up: `active`.
//! * Keepalive status every `keepalive`; a peer is dead exactly `dt` after
//!   its last status (its own advertised `dt`; initdead before Comm_now_up).
//!   Links die the same way per medium.
//! * Per peer: generation (`hg`) and seq tracking; lower generation and
//!   already-seen seqs are refused, a higher generation is a restart. Holes
//!   are asked for with `NS_rexmit` (random first delay up to
//!   `max_rexmit_delay`, then every `max_rexmit_delay`) and given up on
//!   `NS_nak_rexmit` or after [`Tuning::rexmit_giveup`]; other messages are
//!   delivered in seq order exactly once.
//! * Flow control: `NS_ackmsg` whenever `seq % 10` hits the trigger drawn for
//!   the sender and nothing before it is missing, our own packets included
//!   (that ACK precedes the packet on the wire). Our last 500 packets are kept
//!   to answer `NS_rexmit`.
//! * Graceful stop: status, `shutdone st=dead`, two statuses a phase later,
//!   done a phase after that. A peer's `shutdone` kills it at once.
//!
//! * Ping nodes ([`ping`]): pseudo-members fed with authentic ICMP replies
//!   by the shell, dead after `deadping`; not counted for Comm_now_up or
//!   flow control, counted in `ttl` like heartbeat does.
//!
//! [`sim`] runs whole clusters of cores in virtual time.

use std::time::Duration;

use hb_wire::Message;

pub use hb_wire;

/// A node name, lower-cased as heartbeat does.
pub type NodeName = String;

/// Index of a heartbeat medium (`bcast eth0` → 0, `ucast eth1 …` → 1, …), in
/// ha.cf order; the shell passes it with every packet.
pub type MediumId = usize;

/// Everything the core needs to know; filled by the shell from ha.cf and
/// `/var/lib/heartbeat`.
#[derive(Clone, Debug)]
pub struct Config {
    /// This node (`uname -n` lower-cased, or `/etc/ha.d/nodeinfo`).
    pub local: NodeName,
    /// Every `node` line, including `local`.
    pub nodes: Vec<NodeName>,
    /// Medium names for link status ("eth0", "192.0.2.12", …), by `MediumId`.
    pub media: Vec<String>,
    pub keepalive: Duration,
    pub deadtime: Duration,
    pub warntime: Duration,
    pub initdead: Duration,
    /// `ttl` = hopfudge + number of nodes (ping nodes included).
    pub hopfudge: u32,
    /// This start's generation (`hb_generation`, already incremented and
    /// persisted by the shell).
    pub generation: u64,
    /// This node's uuid (`hb_uuid`).
    pub uuid: [u8; 16],
    /// Wall-clock seconds (`time(NULL)`) at `now` of `new()`, so `ts` fields
    /// can be derived from `Instant`s without reading a clock.
    pub wall_clock_at_start: u64,
    /// Seed for the per-peer ACK trigger (heartbeat picks 0–9 at random).
    pub seed: u64,
}

/// heartbeat's node status words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeStatus {
    Init,
    Up,
    Active,
    Dead,
    Ping,
}

impl NodeStatus {
    /// The word heartbeat puts in `st=` and `cl_status nodestatus` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Init => "init",
            NodeStatus::Up => "up",
            NodeStatus::Active => "active",
            NodeStatus::Dead => "dead",
            NodeStatus::Ping => "ping",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkStatus {
    Up,
    Dead,
}

/// What happened, for logs, `cl_status` and the resource manager.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// "Link node2:eth0 up." / "Link node2:eth0 dead."
    Link {
        node: NodeName,
        medium: MediumId,
        status: LinkStatus,
    },
    /// "Status update for node node2: status active". Also for the local
    /// node (init → up at start, up → active at Comm_now_up, → dead when a
    /// graceful stop completes) and for deaths (→ dead, after `NodeDead` or
    /// `PeerShutdown`).
    NodeStatus {
        node: NodeName,
        old: NodeStatus,
        new: NodeStatus,
    },
    /// "node node2: is dead" (deadtime expired).
    NodeDead { node: NodeName },
    /// "Late heartbeat: Node node2: interval 2500 ms" (`after_dead` = the CRIT
    /// variant, logged when it arrives after the node was declared dead).
    LateHeartbeat {
        node: NodeName,
        interval: Duration,
        after_dead: bool,
    },
    /// "Heartbeat restart on node node2" (new generation seen).
    NodeRestarted { node: NodeName },
    /// "node node2 changed its uuid to …"
    UuidChanged { node: NodeName, uuid: [u8; 16] },
    /// Packets `first..=last` from `node` will not arrive: given up after
    /// `NS_nak_rexmit`, the give-up time, overflow, or the node's death or
    /// restart. Holes that retransmission fills are never reported.
    /// (Heartbeat logs `N lost packet(s) for [node2] [a:b]` on every hole.)
    LostPackets {
        node: NodeName,
        first: u64,
        last: u64,
    },
    /// "Comm_now_up(): updating status to active": the cluster is up (peer
    /// seen, or initdead expired); resources may be considered now.
    CommUp,
    /// A non-membership cluster message from `node`, delivered once and in
    /// `seq` order (resource protocol, ask_resources, hb_takeover, …), if it
    /// is for us (no `dest`/`destuuid`, or ours). Our own messages are not
    /// looped back (heartbeat's resource code does see its own).
    Deliver { node: NodeName, msg: Message },
    /// "Received shutdown notice from 'node1'." The node is marked dead at
    /// once (a `NodeStatus { new: Dead }` follows), without a deadtime wait.
    PeerShutdown { node: NodeName },
    /// "Cluster node node2 returning after partition.": a node we had
    /// declared dead speaks again with the same generation (no restart).
    /// Real heartbeat answers this by giving up resources and restarting.
    PartitionHealed { node: NodeName },
    /// Our graceful shutdown finished (`shutdone` sent).
    ShutdownComplete,
}

/// A message to sign and send on every medium.
#[derive(Clone, Debug, PartialEq)]
pub struct Transmit {
    pub msg: Message,
}

/// Per-node view for `cl_status`.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub name: NodeName,
    pub status: NodeStatus,
    /// `cl_status nodetype`: "normal" or "ping".
    pub ping: bool,
    pub links: Vec<(MediumId, LinkStatus)>,
}

/// Reasons a packet was dropped after authentication; for logs and tests.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("message from unknown node {0:?}")]
    UnknownNode(String),
    #[error("message without src")]
    NoSource,
    #[error("lower generation {got} from {node} (current {current}): replay or stale node")]
    OldGeneration {
        node: String,
        got: u64,
        current: u64,
    },
    /// Routine with several media (every packet arrives once per medium).
    #[error("duplicate or replayed seq {seq} from {node}")]
    Duplicate { node: String, seq: u64 },
    #[error("malformed field {field} from {node}")]
    Malformed { node: String, field: &'static str },
}

/// Knobs that are not in [`Config`] (ha.cf's `max_rexmit_delay` and
/// heartbeat's compiled-in timings). `Default` is heartbeat 3.0.6.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// ha.cf `max_rexmit_delay` (default 250 ms): a retransmission request
    /// is first sent after a random delay in [50 ms, this] ([0, this] when it
    /// is below 100 ms) and then repeated every `max_rexmit_delay`.
    pub max_rexmit_delay: Duration,
    /// Added to the advertised `dt` right after start (`hb_add_deadtime(2000)`).
    pub startup_deadtime_bump: Duration,
    /// How long the bump lasts (`hb_pop_deadtime` after 5 s).
    pub startup_bump_duration: Duration,
    /// `reqnodes` is repeated this often until a `repnodes` arrives (1 s).
    pub reqnodes_retry: Duration,
    /// Graceful stop: status goes out twice one phase after `shutdone`, and
    /// the process ends one more phase later (`hb_mcp_final_shutdown`).
    pub shutdown_phase_delay: Duration,
    /// A missing packet not recovered within this time is given up
    /// (`LostPackets`) so in-order delivery can go on. `None`: the larger of
    /// the peer's deadtime and ten `max_rexmit_delay`s. Heartbeat itself asks
    /// forever; its peers answer with `NS_nak_rexmit` when they cannot help.
    pub rexmit_giveup: Option<Duration>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            max_rexmit_delay: Duration::from_millis(250),
            startup_deadtime_bump: Duration::from_millis(2000),
            startup_bump_duration: Duration::from_secs(5),
            reqnodes_retry: Duration::from_secs(1),
            shutdown_phase_delay: Duration::from_secs(1),
            rexmit_giveup: None,
        }
    }
}

/// Counters for logs, `cl_status`-style diagnostics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Copies of packets already seen (the same packet on two media, replays).
    pub duplicates: u64,
    /// Packets refused for a lower generation.
    pub old_generation: u64,
    /// Packets refused as malformed, from unknown nodes or without `src`.
    pub malformed: u64,
    pub rexmit_requests_sent: u64,
    pub retransmissions_sent: u64,
    pub naks_sent: u64,
    pub acks_sent: u64,
    /// Missing packets that arrived after all (retransmitted or late).
    pub recovered: u64,
    /// Missing packets given up (`LostPackets`).
    pub lost: u64,
    /// Events or transmits dropped because the shell did not drain the queues.
    pub queue_overflows: u64,
}

/// Current sizes of the bounded buffers, for diagnostics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Sent messages kept for retransmission (at most 500).
    pub history: usize,
    /// Missing seqs being asked for, over all peers (at most 500 each).
    pub missing: usize,
    /// Received packets waiting for an earlier one, over all peers.
    pub held: usize,
    pub held_bytes: usize,
    pub events: usize,
    pub transmits: usize,
}

mod ack;
pub mod core;
mod history;
mod inbound;
mod node;
mod outbound;
pub mod ping;
mod receive;
mod rng;
mod seqtrack;
pub mod sim;
mod timers;

pub use crate::core::Membership;
pub use crate::ping::PingSpec;
