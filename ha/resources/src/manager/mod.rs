//! The resource manager: heartbeat's `hb_resource.c` protocol (nice_failback
//! `starting`/`resource`, the 3-phase standby, hb_takeover, mach_down
//! takeover, legacy `ip-request`, graceful shutdown) driving an
//! [`Executor`](crate::exec) that runs the agents.

use std::collections::VecDeque;
use std::time::Instant;

use hb_membership::{Event, NodeStatus};
use hb_wire::Message;

use crate::command::{AgentResult, Command, LocalRequest, OpId};
use crate::config::{AutoFailback, Config, ConfigError};
use crate::exec::{Executor, GroupState, ResState};
use crate::hold::{Hold, RscStatus};
use crate::log::{Level, Source};
use crate::messages::{self, StandbyPhase, StonithResult};

/// heartbeat's `enum hb_rsc_state`; the numbers appear in its log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RState {
    /// Links not up yet.
    Init = 0,
    /// `starting` sent.
    Starting = 1,
    /// `starting` sent and received.
    BothStarting = 2,
    /// A `resource` report arrived; RQSTDELAY runs.
    RscRcvd = 3,
    /// Local resources acquired (or found unnecessary).
    Stable = 4,
    Shutdown = 5,
}

/// heartbeat's `enum standby` (`going_standby`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Going {
    Not = 0,
    Me = 1,
    Other = 2,
    Done = 3,
}

/// A group as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupView {
    pub key: String,
    pub home: String,
    pub state: GroupState,
    /// Start failures here since the last successful start.
    pub start_failures: u32,
}

#[derive(Clone, Debug)]
struct Peer {
    name: String,
    status: Option<NodeStatus>,
    /// heartbeat's `anypacketsyet`: heard from since it last died.
    heard: bool,
    /// heartbeat's `has_resources` (legacy STONITH decision).
    has_resources: bool,
    /// Its `shutdone` was handled (membership may report it twice).
    shutdown_seen: bool,
    fence_in_flight: bool,
    fence_retry_at: Option<Instant>,
}

impl Peer {
    fn alive(&self) -> bool {
        matches!(
            self.status,
            Some(NodeStatus::Init | NodeStatus::Up | NodeStatus::Active)
        )
    }
}

/// The sans-IO resource manager of one node.
///
/// Feed it membership events, agent results, fence results and local
/// requests; drain [`poll_command`](Self::poll_command) after every call and
/// call [`handle_timeout`](Self::handle_timeout) at
/// [`poll_timeout`](Self::poll_timeout).
pub struct ResourceManager {
    cfg: Config,
    nice: bool,
    auto_failback: bool,
    exec: Executor,
    out: VecDeque<Command>,
    /// Our own messages, applied as heartbeat applies the copies it receives;
    /// for our reports, with the protocol word we meant (see `send_held`).
    loopback: VecDeque<(Message, Option<Hold>)>,
    peers: Vec<Peer>,
    comm_up: bool,
    // The protocol state keeps heartbeat's names (hb_resource.c globals).
    /// `resourcestate`.
    rstate: RState,
    /// `procinfo->i_hold_resources`: the set this node is responsible for.
    i_hold: Hold,
    /// `other_holds_resources`: the peer's last reported word.
    other_holds: Hold,
    /// `other_is_stable`.
    other_stable: bool,
    /// `takeover_in_progress`: a mach_down job runs.
    takeover_in_progress: bool,
    /// `going_standby`.
    going: Going,
    /// `standby_running`: deadline of the current standby exchange.
    standby_running: Option<Instant>,
    /// `standby_rsctype`.
    standby_rsctype: Hold,
    /// Bumped whenever a standby exchange is abandoned, so the jobs it
    /// queued do not announce `done` into a later exchange.
    standby_epoch: u64,
    /// The peer's last full report arrived after the last standby exchange
    /// began or ended (reports sent during an exchange can be stale).
    peer_report_fresh: bool,
    /// The word of our last `resource` report.
    last_reported: Option<Hold>,
    /// The peer ended a standby with its `done`; its report of what it now
    /// holds follows (heartbeat sends it right after). heartbeat audits its
    /// own reply only when that reply loops back, by which time the peer's
    /// report is in; we apply our own at once, so the orphan part of the
    /// audit waits for the peer's report instead.
    peer_done_unreported: bool,
    /// Legacy: when to ask again for our groups nobody granted yet.
    reask_at: Option<Instant>,
    /// The latest `now` seen, for deadlines set deep inside handlers.
    clock: Instant,
    rsc_needs_failback: bool,
    failback_in_progress: bool,
    auto_failback_at: Option<Instant>,
    local_done: bool,
    foreign_done: bool,
    announced: bool,
    local_takeover_time: Option<Instant>,
    shutdown_in_progress: bool,
    rsc_needs_shutdown: bool,
    giveup_started: bool,
    fenced: bool,
    handoff: Option<(Instant, Hold)>,
    start_failures: Vec<u32>,
    /// Peers declared dead before Comm_now_up (initdead), recovered once
    /// the cluster is up, whichever event membership hands us first.
    dead_at_boot: Vec<String>,
    /// Ping nodes of `Config::isolation_ping_nodes` whose last status was
    /// `ping` (answering).
    pings_up: Vec<String>,
    /// Peers whose death came while no ping node answered: their takeover
    /// waits for a ping node (see `isolation`).
    held_deaths: Vec<String>,
}

impl ResourceManager {
    pub fn new(config: Config, now: Instant) -> Result<ResourceManager, ConfigError> {
        config.validate()?;
        let (nice, auto_failback) = match config.auto_failback {
            AutoFailback::On => (true, true),
            AutoFailback::Off => (true, false),
            AutoFailback::Legacy => (false, false),
        };
        let peers = config
            .nodes
            .iter()
            .filter(|n| **n != config.local)
            .map(|n| Peer {
                name: n.clone(),
                status: None,
                heard: false,
                has_resources: false,
                shutdown_seen: false,
                fence_in_flight: false,
                fence_retry_at: None,
            })
            .collect::<Vec<_>>();
        let mut rm = ResourceManager {
            exec: Executor::new(config.groups.clone(), config.timing.clone()),
            start_failures: vec![0; config.groups.len()],
            cfg: config,
            nice,
            auto_failback,
            out: VecDeque::new(),
            loopback: VecDeque::new(),
            peers,
            comm_up: false,
            rstate: RState::Init,
            i_hold: Hold::NONE,
            other_holds: Hold::NONE,
            other_stable: false,
            takeover_in_progress: false,
            going: Going::Not,
            standby_running: None,
            standby_rsctype: Hold::ALL,
            standby_epoch: 0,
            peer_report_fresh: false,
            last_reported: None,
            peer_done_unreported: false,
            reask_at: None,
            clock: now,
            rsc_needs_failback: false,
            failback_in_progress: false,
            auto_failback_at: None,
            local_done: false,
            foreign_done: false,
            announced: false,
            local_takeover_time: None,
            shutdown_in_progress: false,
            rsc_needs_shutdown: false,
            giveup_started: false,
            fenced: false,
            handoff: None,
            dead_at_boot: Vec::new(),
            pings_up: Vec::new(),
            held_deaths: Vec::new(),
        };
        if rm.peers.len() > 1 {
            rm.log(
                Level::Warn,
                "haresources takeover semantics (local/foreign) assume two nodes",
            );
        }
        Ok(rm)
    }

    // ------------------------------------------------------------------
    // Public inputs

    /// A membership event (from `Membership::poll_event`).
    pub fn handle_membership(&mut self, now: Instant, event: &Event) {
        self.clock = self.clock.max(now);
        if self.fenced {
            return;
        }
        match event {
            Event::CommUp => self.comm_up_action(now),
            Event::NodeStatus { node, new, .. } if self.is_guard_ping_node(node) => {
                self.ping_node_status(now, node, *new);
            }
            Event::NodeStatus { node, new, .. } => {
                let mut back = false;
                if let Some(p) = self.peer_mut(node) {
                    p.status = Some(*new);
                    if p.alive() {
                        p.heard = true;
                        p.has_resources = true;
                        p.shutdown_seen = false;
                        p.fence_retry_at = None;
                        back = true;
                    }
                }
                if back {
                    self.drop_held_death(node);
                }
            }
            Event::NodeRestarted { node } => {
                if let Some(p) = self.peer_mut(node) {
                    p.has_resources = true;
                    p.shutdown_seen = false;
                }
                self.legacy_ask_again();
            }
            Event::NodeDead { node } if !self.comm_up => self.dead_before_comm_up(node),
            Event::NodeDead { node } => self.peer_died(now, node),
            // Before Comm_now_up a peer's shutdown notice is a death like
            // any other: deferred until we know the cluster (acting on it in
            // state 0 took the group and left us in `transition`).
            Event::PeerShutdown { node } if !self.comm_up => self.dead_before_comm_up(node),
            Event::PeerShutdown { node } => {
                self.drop_held_death(node);
                self.peer_shutdown(now, node)
            }
            // Our own messages were applied when we sent them; membership
            // does not hand them back, and a copy must not apply twice.
            Event::Deliver { node, msg }
                if *node != self.cfg.local && self.peer_mut(node).is_some() =>
            {
                self.peer_message(now, node, msg);
            }
            _ => {}
        }
        self.pump(now);
    }

    /// The result of a [`Command::RunAgent`].
    pub fn handle_agent_result(&mut self, now: Instant, op: OpId, result: AgentResult) {
        self.clock = self.clock.max(now);
        if self.exec.handle_result(now, op, &result) {
            self.pump(now);
        }
    }

    /// The result of a [`Command::Fence`] for a peer.
    pub fn handle_fence_result(&mut self, now: Instant, node: &str, ok: bool) {
        self.clock = self.clock.max(now);
        if self.fenced {
            return;
        }
        let retry = self.cfg.timing.stonith_retry;
        let Some(p) = self.peer_mut(node) else { return };
        if !p.fence_in_flight {
            return;
        }
        p.fence_in_flight = false;
        let back = p.alive();
        if ok {
            self.log(Level::Info, format!("node {node} now reset."));
            self.send(messages::stonith(node, StonithResult::Ok));
            if back {
                // It rebooted and rejoined while the reset ran: the new
                // incarnation negotiates its groups like any booting node;
                // taking them now would run them twice.
                self.log(
                    Level::Info,
                    format!("{node} rejoined during STONITH; not taking over its resources."),
                );
            } else {
                self.takeover_from_node(now, node);
            }
        } else {
            if let Some(p) = self.peer_mut(node) {
                p.fence_retry_at = Some(now + retry);
            }
            self.log(Level::Error, format!("Host {node} not reset!"));
            self.send(messages::stonith(node, StonithResult::Bad));
            self.log(
                Level::Error,
                format!("STONITH of {node} failed.  Retrying..."),
            );
        }
        self.pump(now);
    }

    /// hb_standby, hb_takeover, graceful stop.
    pub fn handle_request(&mut self, now: Instant, req: LocalRequest) {
        self.clock = self.clock.max(now);
        if self.fenced {
            return;
        }
        match req {
            LocalRequest::Standby(scope) => {
                // An operator asking again is a reason to retry failed groups.
                self.start_failures.iter_mut().for_each(|c| *c = 0);
                let set = scope.standby_set();
                self.log_from(
                    Source::HbStandby,
                    Level::Info,
                    format!("Going standby [{set}]."),
                );
                self.send(messages::ask_resources(set, StandbyPhase::Me));
            }
            LocalRequest::Takeover(scope) => {
                self.start_failures.iter_mut().for_each(|c| *c = 0);
                self.send(messages::hb_takeover(scope));
            }
            LocalRequest::Shutdown => {
                if !self.shutdown_in_progress {
                    self.shutdown_in_progress = true;
                    self.handoff = None;
                    self.forget_held_deaths(now);
                    self.giveup_resources();
                }
            }
        }
        self.pump(now);
    }

    /// A message a local script wrote to heartbeat's FIFO (stock `hb_standby`,
    /// `hb_takeover`, …): it is sent, and applied like our own messages.
    pub fn handle_local_message(&mut self, now: Instant, msg: Message) {
        self.clock = self.clock.max(now);
        if self.fenced {
            return;
        }
        self.send(msg);
        self.pump(now);
    }

    /// Call at [`poll_timeout`](Self::poll_timeout) (early calls are harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.clock = self.clock.max(now);
        if self.fenced {
            self.pump(now);
            return;
        }
        if self.nice
            && self.rstate == RState::RscRcvd
            && self.local_takeover_time.is_some_and(|t| now >= t)
        {
            self.rstate = RState::Stable;
            self.req_our_resources(false);
            self.log(Level::Info, "local resource transition completed.");
            self.send_held(true, None);
            self.audit();
        }
        if self.standby_running.is_some_and(|t| now >= t) {
            self.standby_running = None;
            self.other_stable = true;
            self.set_going(Going::Not);
            self.standby_epoch += 1;
            self.log(
                Level::Warn,
                "No reply to standby request.  Standby request cancelled.",
            );
            if self.failback_in_progress {
                // heartbeat forgets the failback here; try again instead.
                self.failback_in_progress = false;
                self.rsc_needs_failback = true;
                self.auto_failback_at = Some(now + self.cfg.timing.auto_failback_retry);
            }
        }
        if self.auto_failback_at.is_some_and(|t| now >= t) {
            self.auto_failback_at = None;
            self.perform_auto_failback(now);
        }
        let due: Vec<String> = self
            .peers
            .iter()
            .filter(|p| p.fence_retry_at.is_some_and(|t| now >= t))
            .map(|p| p.name.clone())
            .collect();
        for node in due {
            if let Some(p) = self.peer_mut(&node) {
                p.fence_retry_at = None;
                if !p.alive() {
                    self.start_fence(&node);
                }
            }
        }
        if self.handoff.is_some_and(|(t, _)| now >= t) {
            self.try_handoff(now);
        }
        if self.reask_at.is_some_and(|t| now >= t) {
            self.reask_at = None;
            self.legacy_ask_again();
        }
        self.pump(now);
    }

    // ------------------------------------------------------------------
    // Public outputs and queries

    pub fn poll_command(&mut self) -> Option<Command> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let exec = self.exec.poll_timeout();
        if self.fenced {
            return exec;
        }
        let rqst = if self.nice && self.rstate == RState::RscRcvd {
            self.local_takeover_time
        } else {
            None
        };
        [
            exec,
            rqst,
            self.standby_running,
            self.auto_failback_at,
            self.handoff.map(|(t, _)| t),
            self.reask_at,
        ]
        .into_iter()
        .chain(self.peers.iter().map(|p| p.fence_retry_at))
        .flatten()
        .min()
    }

    /// `cl_status rscstatus`: the held word when stable, else `transition`.
    /// In legacy mode heartbeat never updates the word, so it stays `none`.
    pub fn rsc_status(&self) -> RscStatus {
        if self.is_stable() {
            RscStatus::Held(self.i_hold)
        } else {
            RscStatus::Transition
        }
    }

    /// The word this node advertises in `rsc_hold` (`i_hold_resources`).
    pub fn hold(&self) -> Hold {
        self.i_hold
    }

    pub fn resource_state(&self) -> RState {
        self.rstate
    }

    pub fn standby_state(&self) -> Going {
        self.going
    }

    /// heartbeat's `hb_rsc_isstable()`.
    pub fn is_stable(&self) -> bool {
        if !self.nice {
            return self.exec.idle();
        }
        if self.shutdown_in_progress && self.rstate == RState::Init {
            return true;
        }
        self.other_stable
            && !self.takeover_in_progress
            && self.going == Going::Not
            && self.standby_running.is_none()
            && self.exec.idle()
            && matches!(
                self.rstate,
                RState::Stable | RState::Shutdown | RState::Init
            )
    }

    /// A stop failed for good; the shell was told to fence this node.
    pub fn is_fenced(&self) -> bool {
        self.fenced
    }

    pub fn groups(&self) -> Vec<GroupView> {
        self.cfg
            .groups
            .iter()
            .enumerate()
            .map(|(g, spec)| GroupView {
                key: spec.key().to_string(),
                home: spec.node.clone(),
                state: self.exec.group_state(g),
                start_failures: self.start_failures.get(g).copied().unwrap_or(0),
            })
            .collect()
    }

    /// What this node believes about each resource of group `g`.
    pub fn resource_states(&self, g: usize) -> &[ResState] {
        self.exec.resource_states(g)
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Dead peers whose takeover the isolation guard holds back.
    pub fn held_takeovers(&self) -> &[String] {
        &self.held_deaths
    }
}

mod failover;
mod isolation;
mod legacy;
mod plumbing;
mod reports;
mod standby;
