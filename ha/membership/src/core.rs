//! The membership state machine: public API, local status and the send path.
//! Receiving lives in `receive.rs`, timers in `timers.rs`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hb_wire::Message;

use crate::ack;
use crate::history::History;
use crate::node::Node;
use crate::outbound::{self, Control};
use crate::rng::SplitMix64;
use crate::timers::later;
use crate::{
    Config, Event, LinkStatus, MediumId, NodeStatus, NodeView, Reject, Stats, Transmit, Tuning,
    Usage,
};

/// Queued events/transmits beyond this are dropped oldest-first (counted in
/// `Stats::queue_overflows`): a shell that stops draining must not make the
/// core grow without bound.
pub(crate) const MAX_QUEUE: usize = 65_536;
/// `FLOWCONTROL_LIMIT` on the send side: clients pause beyond this many
/// unacknowledged messages.
pub(crate) const FLOW_WINDOW: u64 = 250;
/// Peers' `dt` is trusted but kept sane so deadlines stay representable.
pub(crate) const MAX_DEADTIME: Duration = Duration::from_secs(24 * 3600);
const MAX_LOADAVG_LEN: usize = 256;
const DEFAULT_LOADAVG: &str = "0.00 0.00 0.00 1/1 1";

/// Comm_now_up progress (`heartbeat_comm_state` plus the reqnodes exchange).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Comm {
    /// Not every node heard from (or declared dead) yet.
    Waiting,
    /// Everyone accounted for; asking `next` for its node list.
    AskingNodes {
        next: usize,
        retry_at: Instant,
    },
    Up,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shutdown {
    Running,
    /// Requested before Comm_now_up: heartbeat delays it until then.
    Pending,
    /// `shutdone` sent; `phase` counts `hb_mcp_final_shutdown` steps.
    Lingering {
        phase: u8,
        at: Instant,
    },
    Done,
}

/// The membership state machine for one node.
#[derive(Debug)]
pub struct Membership {
    pub(crate) config: Config,
    pub(crate) tuning: Tuning,
    pub(crate) start: Instant,
    pub(crate) nodes: Vec<Node>,
    pub(crate) local: usize,
    pub(crate) local_status: NodeStatus,
    /// What our `dt` says: deadtime, plus the start-up bump for a while.
    pub(crate) advertised_deadtime: Duration,
    pub(crate) bump_ends: Option<Instant>,
    pub(crate) next_keepalive: Instant,
    pub(crate) comm: Comm,
    /// Off once a peer's status lacks `protocol` (an older heartbeat):
    /// then no ACKs and no `protocol` field, as heartbeat does.
    pub(crate) flow_control: bool,
    pub(crate) seq: u64,
    pub(crate) history: History,
    /// Lowest seq of ours every live node has acknowledged.
    pub(crate) hist_ackseq: u64,
    pub(crate) loadavg: String,
    pub(crate) rng: SplitMix64,
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) shutdown: Shutdown,
    pub(crate) stats: Stats,
    /// Ping nodes ([`crate::ping`]), apart from the cluster members.
    pub(crate) ping: Vec<crate::ping::PingMember>,
}

impl Membership {
    pub fn new(config: Config, now: Instant) -> Self {
        Self::with_tuning(config, Tuning::default(), now)
    }

    /// Like [`Membership::new`], with non-default [`Tuning`] (ha.cf's
    /// `max_rexmit_delay`, or fast timings for tests).
    pub fn with_tuning(config: Config, tuning: Tuning, now: Instant) -> Self {
        Self::with_ping_nodes(config, tuning, Vec::new(), now)
    }

    /// Like [`Membership::with_tuning`], with ha.cf's ping nodes known from
    /// the first packet on: heartbeat counts them in every `ttl` it sends
    /// (hopfudge + all nodes, ping nodes included: `ttl=4` for two nodes and
    /// one ping node in the reference capture).
    pub fn with_ping_nodes(
        mut config: Config,
        mut tuning: Tuning,
        ping: Vec<crate::PingSpec>,
        now: Instant,
    ) -> Self {
        normalize(&mut config, &mut tuning);
        let mut rng = SplitMix64::new(config.seed);
        let nodes: Vec<Node> = config
            .nodes
            .iter()
            .map(|name| {
                // Heartbeat draws each node's trigger with rand() % 10.
                let trigger = rng.between(0, ack::ACK_MSG_DIV - 1);
                Node::new(
                    name.clone(),
                    config.media.len(),
                    config.deadtime,
                    now,
                    trigger,
                )
            })
            .collect();
        let local = config
            .nodes
            .iter()
            .position(|n| *n == config.local)
            .unwrap_or(0);
        let mut m = Membership {
            next_keepalive: later(now, config.keepalive),
            advertised_deadtime: config.deadtime,
            config,
            tuning,
            start: now,
            nodes,
            local,
            local_status: NodeStatus::Init,
            bump_ends: None,
            comm: Comm::Waiting,
            flow_control: true,
            seq: 0,
            history: History::default(),
            hist_ackseq: 0,
            loadavg: DEFAULT_LOADAVG.to_string(),
            rng,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            shutdown: Shutdown::Running,
            stats: Stats::default(),
            ping: Vec::new(),
        };
        m.nodes[m.local].uuid = Some(m.config.uuid);
        for p in ping {
            m.add_ping_node(now, p);
        }
        m.boot(now);
        m
    }

    /// `master_control_process` start-up: `hb_add_deadtime(2000)` announces
    /// the bumped `dt` while still `init`, then `up` is set and sent, and
    /// sent once more: status init, up, up back to back (seq 1–3).
    fn boot(&mut self, now: Instant) {
        let bump = self.tuning.startup_deadtime_bump;
        if !bump.is_zero() {
            self.advertised_deadtime = self.config.deadtime.saturating_add(bump).min(MAX_DEADTIME);
            self.bump_ends = Some(later(now, self.tuning.startup_bump_duration));
        }
        // Without a bump heartbeat would skip this one; peers should see the
        // same start either way.
        self.send_status(now);
        self.set_local_status(now, NodeStatus::Up);
        self.send_status(now);
        self.check_comm(now);
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// An authenticated message arrived on `medium`.
    pub fn handle_message(
        &mut self,
        now: Instant,
        medium: MediumId,
        msg: Message,
    ) -> Result<(), Reject> {
        if self.shutdown == Shutdown::Done {
            return Ok(());
        }
        // Deadlines that passed before this packet count first: a heartbeat
        // arriving after the peer's deadtime finds it already dead.
        self.run_timers(now);
        let result = self.receive(now, medium, msg);
        self.check_comm(now);
        result
    }

    /// Call when `poll_timeout()` has passed (calling early is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.run_timers(now);
    }

    /// Queue a cluster message from a local client (FIFO, hb_standby, the
    /// resource manager). The core adds src/srcuuid/seq/hg/ts/ld/ttl.
    /// Messages without `t` are dropped, as heartbeat does.
    pub fn send(&mut self, now: Instant, msg: Message) {
        if self.shutdown == Shutdown::Done {
            return;
        }
        let Some(t) = msg.msg_type() else {
            tracing::warn!("dropping local message without t");
            return;
        };
        if outbound::is_noseq(t) {
            self.send_unsequenced(now, msg);
        } else {
            self.send_sequenced(now, msg);
        }
    }

    /// The first line of /proc/loadavg, for the `ld` field (the shell reads it).
    pub fn set_loadavg(&mut self, ld: String) {
        let line = ld.lines().next().unwrap_or_default().trim();
        if !line.is_empty() {
            self.loadavg = line.chars().take(MAX_LOADAVG_LEN).collect();
        }
    }

    /// Begin a graceful shutdown; `Event::ShutdownComplete` follows.
    ///
    /// Heartbeat sends its status, then (after the resource manager gave
    /// everything up and sent `resource rsc_hold=none info=shutdown` through
    /// [`Membership::send`]) `shutdone st=dead`; status goes out twice more a
    /// phase later and the process ends one phase after that. Before
    /// Comm_now_up the stop waits for it, like heartbeat's "Shutdown delayed
    /// until Communication is up."
    pub fn shutdown(&mut self, now: Instant) {
        if self.shutdown != Shutdown::Running {
            return;
        }
        if self.comm == Comm::Up {
            self.begin_shutdown(now);
        } else {
            self.shutdown = Shutdown::Pending;
        }
    }

    pub(crate) fn begin_shutdown(&mut self, now: Instant) {
        self.send_status(now);
        self.send_sequenced(now, outbound::shutdone());
        self.shutdown = Shutdown::Lingering {
            phase: 0,
            at: later(now, self.tuning.shutdown_phase_delay),
        };
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next instant `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline()
    }

    pub fn local_status(&self) -> NodeStatus {
        self.local_status
    }

    /// True once Comm_now_up happened (a peer was seen or initdead expired):
    /// `cl_status` answers only from then on, like heartbeat's API socket.
    pub fn comm_up(&self) -> bool {
        self.comm == Comm::Up
    }

    /// True once a graceful shutdown completed: nothing more is sent.
    pub fn is_stopped(&self) -> bool {
        self.shutdown == Shutdown::Done
    }

    /// Heartbeat pauses its API clients while more than 250 of our messages
    /// are unacknowledged by some live node; the shell should stop reading
    /// client messages meanwhile.
    pub fn flow_control_paused(&self) -> bool {
        let live_peers = self.live_peers();
        self.flow_control
            && live_peers > 0
            && self.history.hiseq().saturating_sub(self.hist_ackseq) > FLOW_WINDOW
    }

    /// Sizes of the bounded buffers.
    pub fn usage(&self) -> Usage {
        let mut u = Usage {
            history: self.history.len(),
            events: self.events.len(),
            transmits: self.transmits.len(),
            ..Usage::default()
        };
        for n in &self.nodes {
            let (held, bytes) = n.track.held_count();
            u.missing += n.track.missing_count();
            u.held += held;
            u.held_bytes += bytes;
        }
        u
    }

    /// The ACK trigger (0–9) drawn for `node`'s packets.
    pub fn ack_trigger(&self, node: &str) -> Option<u64> {
        self.index_of(node).map(|i| self.nodes[i].track.ack_trigger)
    }

    /// A node's status, `None` if it is not configured.
    pub fn node_status(&self, node: &str) -> Option<NodeStatus> {
        self.index_of(node)
            .map(|i| {
                if i == self.local {
                    self.local_status
                } else {
                    self.nodes[i].status
                }
            })
            .or_else(|| {
                self.ping_views()
                    .into_iter()
                    .find(|p| p.name.eq_ignore_ascii_case(node))
                    .map(|p| p.status)
            })
    }

    /// Every configured node (local included), then the ping nodes, for
    /// `cl_status`.
    pub fn nodes(&self) -> Vec<NodeView> {
        let mut all: Vec<NodeView> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| NodeView {
                name: n.name.clone(),
                status: if i == self.local {
                    self.local_status
                } else {
                    n.status
                },
                ping: false,
                links: n
                    .links
                    .iter()
                    .enumerate()
                    .map(|(m, l)| {
                        let st = if i == self.local {
                            LinkStatus::Up
                        } else {
                            l.status
                        };
                        (m, st)
                    })
                    .collect(),
            })
            .collect();
        all.extend(self.ping_views());
        all
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.name.eq_ignore_ascii_case(name))
    }

    pub(crate) fn live_peers(&self) -> usize {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| *i != self.local && n.is_live())
            .count()
    }

    pub(crate) fn emit(&mut self, ev: Event) {
        if self.events.len() >= MAX_QUEUE {
            self.events.pop_front();
            self.stats.queue_overflows += 1;
        }
        self.events.push_back(ev);
    }

    pub(crate) fn push_transmit(&mut self, msg: Message) {
        if self.transmits.len() >= MAX_QUEUE {
            self.transmits.pop_front();
            self.stats.queue_overflows += 1;
        }
        self.transmits.push_back(Transmit { msg });
    }

    /// `set_local_status`: announce a change at once.
    pub(crate) fn set_local_status(&mut self, now: Instant, new: NodeStatus) {
        let old = self.local_status;
        if old == new {
            return;
        }
        self.local_status = new;
        let node = self.config.local.clone();
        self.emit(Event::NodeStatus { node, old, new });
        self.send_status(now);
    }

    /// `send_local_status`.
    pub(crate) fn send_status(&mut self, now: Instant) {
        let ms = u64::try_from(self.advertised_deadtime.as_millis()).unwrap_or(u64::MAX);
        let msg = outbound::status(self.local_status.as_str(), ms, self.flow_control);
        self.send_sequenced(now, msg);
    }

    fn finish(&self, msg: &mut Message, now: Instant, seq: Option<u64>) {
        let elapsed = now.saturating_duration_since(self.start).as_secs();
        let ctl = Control {
            src: &self.config.local,
            uuid: self.config.uuid,
            generation: self.config.generation,
            ts: self.config.wall_clock_at_start.saturating_add(elapsed),
            ld: &self.loadavg,
            ttl: u64::from(self.config.hopfudge)
                .saturating_add(self.nodes.len() as u64)
                .saturating_add(self.ping.len() as u64),
        };
        let uuid_of = |name: &str| self.index_of(name).and_then(|i| self.nodes[i].uuid);
        let name_of = |uuid: &[u8]| {
            self.nodes
                .iter()
                .find(|n| n.uuid.is_some_and(|u| u.as_slice() == uuid))
                .map(|n| n.name.clone())
        };
        outbound::add_control_fields(msg, &ctl, seq, uuid_of, name_of);
    }

    /// `send_cluster_msg` for sequenced types: number, remember, and run our
    /// own copy through the receive rules first (heartbeat's loopback), which
    /// is why our self-ACK precedes the message it acknowledges on the wire.
    pub(crate) fn send_sequenced(&mut self, now: Instant, mut msg: Message) {
        self.seq += 1;
        let seq = self.seq;
        self.finish(&mut msg, now, Some(seq));
        self.history.push(seq, msg.clone());
        let trigger = self.nodes[self.local].track.ack_trigger;
        if self.flow_control && ack::should_ack(seq, trigger, None) {
            let local = self.config.local.clone();
            self.send_unsequenced(now, outbound::ack(&local, seq));
            self.stats.acks_sent += 1;
            self.apply_ack(self.local, seq);
        }
        self.push_transmit(msg);
    }

    pub(crate) fn send_unsequenced(&mut self, now: Instant, mut msg: Message) {
        self.finish(&mut msg, now, None);
        self.push_transmit(msg);
    }

    pub(crate) fn send_ack(&mut self, now: Instant, node: usize, seq: u64) {
        let name = self.nodes[node].name.clone();
        self.send_unsequenced(now, outbound::ack(&name, seq));
        self.stats.acks_sent += 1;
    }

    /// `HBDoMsg_T_ACKMSG`: `from` acknowledged our `ackseq`.
    pub(crate) fn apply_ack(&mut self, from: usize, ackseq: u64) {
        let hiseq = self.history.hiseq();
        let mine = self.nodes[from].track.ackseq;
        if ackseq <= mine || ackseq <= self.hist_ackseq || ackseq > hiseq {
            return;
        }
        self.nodes[from].track.ackseq = ackseq;
        self.recompute_hist_ack();
    }

    pub(crate) fn recompute_hist_ack(&mut self) {
        let hiseq = self.history.hiseq();
        let new = if self.live_peers() == 0 {
            // Nobody else to wait for: keep the window open (heartbeat does
            // the same so a lone node never pauses its clients).
            if hiseq.saturating_sub(self.hist_ackseq) >= FLOW_WINDOW {
                hiseq - (FLOW_WINDOW - 1)
            } else {
                self.hist_ackseq
            }
        } else {
            let min = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, n)| *i == self.local || n.status != NodeStatus::Dead)
                .map(|(_, n)| n.track.ackseq)
                .min()
                .unwrap_or(0);
            if min > 0 {
                min
            } else {
                self.hist_ackseq
            }
        };
        if new > self.hist_ackseq {
            self.hist_ackseq = new;
            self.history.release_through(new);
        }
    }

    /// `check_comm_isup` and the reqnodes exchange that leads to
    /// `comm_now_up`.
    pub(crate) fn check_comm(&mut self, now: Instant) {
        match self.comm {
            Comm::Waiting => {
                let all_heard = self
                    .nodes
                    .iter()
                    .enumerate()
                    .all(|(i, n)| i == self.local || n.heard || n.status == NodeStatus::Dead);
                if !all_heard {
                    return;
                }
                if self.flow_control {
                    self.send_reqnodes(now, 0);
                } else {
                    // Mixed-version cluster: heartbeat skips the node-list
                    // exchange.
                    self.comm_now_up(now);
                }
            }
            Comm::AskingNodes { next, retry_at } if now >= retry_at => {
                self.send_reqnodes(now, next);
            }
            _ => {}
        }
    }

    /// `send_reqnodes_msg`: ask the first node not known dead, from `from`
    /// on; with nobody to ask, communication is up.
    fn send_reqnodes(&mut self, now: Instant, from: usize) {
        let from = if from >= self.nodes.len() { 0 } else { from };
        let target = (from..self.nodes.len())
            .find(|&i| i != self.local && self.nodes[i].status != NodeStatus::Dead);
        match target {
            None => self.comm_now_up(now),
            Some(i) => {
                let name = self.nodes[i].name.clone();
                self.send_sequenced(now, outbound::reqnodes(&name));
                self.comm = Comm::AskingNodes {
                    next: i,
                    retry_at: later(now, self.tuning.reqnodes_retry),
                };
            }
        }
    }

    /// `comm_now_up`: once, and a shutdown asked for meanwhile starts now.
    pub(crate) fn comm_now_up(&mut self, now: Instant) {
        if self.comm == Comm::Up {
            return;
        }
        self.comm = Comm::Up;
        self.emit(Event::CommUp);
        self.set_local_status(now, NodeStatus::Active);
        if self.shutdown == Shutdown::Pending {
            self.shutdown = Shutdown::Running;
            self.begin_shutdown(now);
        }
    }

    /// The `nodelist` heartbeat puts in `repnodes`: every normal node, each
    /// followed by a space.
    pub(crate) fn nodelist(&self) -> String {
        self.nodes.iter().map(|n| format!("{} ", n.name)).collect()
    }
}

/// Make the config safe to run on: names lower-cased and unique, the local
/// node present, no zero periods (which would make timers spin).
fn normalize(config: &mut Config, tuning: &mut Tuning) {
    const MIN: Duration = Duration::from_millis(1);
    config.local = config.local.to_ascii_lowercase();
    let mut nodes: Vec<String> = Vec::with_capacity(config.nodes.len() + 1);
    for n in &config.nodes {
        let n = n.to_ascii_lowercase();
        if !n.is_empty() && !nodes.contains(&n) {
            nodes.push(n);
        }
    }
    if !nodes.contains(&config.local) {
        nodes.push(config.local.clone());
    }
    config.nodes = nodes;
    config.keepalive = config.keepalive.clamp(MIN, MAX_DEADTIME);
    config.deadtime = config.deadtime.clamp(MIN, MAX_DEADTIME);
    config.initdead = config.initdead.min(MAX_DEADTIME);
    config.warntime = config.warntime.min(MAX_DEADTIME);
    tuning.max_rexmit_delay = tuning.max_rexmit_delay.clamp(MIN, MAX_DEADTIME);
    tuning.reqnodes_retry = tuning.reqnodes_retry.clamp(MIN, MAX_DEADTIME);
    tuning.startup_deadtime_bump = tuning.startup_deadtime_bump.min(MAX_DEADTIME);
    tuning.startup_bump_duration = tuning.startup_bump_duration.min(MAX_DEADTIME);
    tuning.shutdown_phase_delay = tuning.shutdown_phase_delay.min(MAX_DEADTIME);
    if let Some(g) = tuning.rexmit_giveup.as_mut() {
        *g = (*g).clamp(MIN, MAX_DEADTIME);
    }
}
