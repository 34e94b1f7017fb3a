//! The resource manager: heartbeat's `hb_resource.c` protocol (nice_failback
//! `starting`/`resource`, the 3-phase standby, hb_takeover, mach_down
//! takeover, legacy `ip-request`, graceful shutdown) driving an
//! [`Executor`](crate::exec) that runs the agents.

use std::collections::VecDeque;
use std::time::Instant;

use hb_membership::{Event, NodeStatus};
use hb_wire::Message;

use crate::command::{AgentResult, Command, FenceTarget, LocalRequest, OpId};
use crate::config::{AutoFailback, Config, ConfigError};
use crate::exec::{Executor, GroupState, Notice, Out, ResState, Step};
use crate::hold::{Hold, RscStatus};
use crate::log::{Level, Log, Source};
use crate::messages::{self, Incoming, StandbyPhase, StonithResult};

const RSC_MGR: &str = "/usr/share/heartbeat/ResourceManager";
const MACH_DOWN: &str = "/usr/share/heartbeat/mach_down";

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
    rstate: RState,
    i_hold: Hold,
    other_holds: Hold,
    other_stable: bool,
    takeover_in_progress: bool,
    going: Going,
    standby_running: Option<Instant>,
    standby_rsctype: Hold,
    /// Bumped whenever a standby exchange is abandoned, so the jobs it
    /// queued do not announce `done` into a later exchange.
    standby_epoch: u64,
    /// The peer's last full report arrived after the last standby exchange
    /// began or ended (reports sent during an exchange can be stale).
    peer_report_fresh: bool,
    /// The word of our last `resource` report.
    last_reported: Option<Hold>,
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
}

impl ResourceManager {
    pub fn new(config: Config, now: Instant) -> Result<ResourceManager, ConfigError> {
        let _ = now;
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
        if self.fenced {
            return;
        }
        match event {
            Event::CommUp => self.comm_up_action(now),
            Event::NodeStatus { node, new, .. } => {
                if let Some(p) = self.peer_mut(node) {
                    p.status = Some(*new);
                    if p.alive() {
                        p.heard = true;
                        p.has_resources = true;
                        p.shutdown_seen = false;
                        p.fence_retry_at = None;
                    }
                }
            }
            Event::NodeRestarted { node } => {
                if let Some(p) = self.peer_mut(node) {
                    p.has_resources = true;
                    p.shutdown_seen = false;
                }
                self.legacy_ask_again();
            }
            Event::NodeDead { node } => self.recover_dead_resources(now, node),
            Event::PeerShutdown { node } => self.peer_shutdown(now, node),
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
        if self.exec.handle_result(now, op, &result) {
            self.pump(now);
        }
    }

    /// The result of a [`Command::Fence`] for a peer.
    pub fn handle_fence_result(&mut self, now: Instant, node: &str, ok: bool) {
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
                    self.giveup_resources();
                }
            }
        }
        self.pump(now);
    }

    /// A message a local script wrote to heartbeat's FIFO (stock `hb_standby`,
    /// `hb_takeover`, …): it is sent, and applied like our own messages.
    pub fn handle_local_message(&mut self, now: Instant, msg: Message) {
        if self.fenced {
            return;
        }
        self.send(msg);
        self.pump(now);
    }

    /// Call at [`poll_timeout`](Self::poll_timeout) (early calls are harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
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

    // ------------------------------------------------------------------
    // Plumbing

    fn peer_mut(&mut self, node: &str) -> Option<&mut Peer> {
        self.peers.iter_mut().find(|p| p.name == node)
    }

    fn log(&mut self, level: Level, text: impl Into<String>) {
        self.log_from(Source::Heartbeat, level, text);
    }

    fn log_from(&mut self, source: Source, level: Level, text: impl Into<String>) {
        self.out
            .push_back(Command::Log(Log::new(level, source, text)));
    }

    /// Send to the cluster; heartbeat also receives its own copy.
    fn send(&mut self, msg: Message) {
        if self.fenced {
            return;
        }
        self.out.push_back(Command::Send(msg.clone()));
        self.loopback.push_back((msg, None));
    }

    /// heartbeat's `hb_send_resources_held()`, but with the word of what
    /// still runs here: heartbeat clears bits *before* the stops (standby,
    /// shutdown), and a peer that boots meanwhile takes those groups when
    /// its RQSTDELAY expires, while slow or retried stops still run here.
    fn send_held(&mut self, stable: bool, info: Option<&str>) {
        if !self.nice || self.fenced {
            return;
        }
        let word = self.advertised();
        self.last_reported = Some(word);
        let msg = messages::resource(word, stable, info);
        self.out.push_back(Command::Send(msg.clone()));
        self.loopback.push_back((msg, Some(self.i_hold)));
    }

    /// `i_hold` plus the set of every group that runs, may run, or is about
    /// to be started here.
    fn advertised(&self) -> Hold {
        self.cfg
            .groups
            .iter()
            .enumerate()
            .filter(|(g, _)| self.exec.claims(*g))
            .fold(self.i_hold, |h, (_, spec)| {
                h.union(if spec.node == self.cfg.local {
                    Hold::LOCAL
                } else {
                    Hold::FOREIGN
                })
            })
    }

    /// Run queued work and apply our own messages until nothing moves.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            let peers = &self.peers;
            self.exec.advance(now, &|node: &str| {
                peers.iter().any(|p| p.name == node && p.alive())
            });
            while let Some(o) = self.exec.pop_out() {
                moved = true;
                self.exec_out(now, o);
            }
            while let Some((m, meant)) = self.loopback.pop_front() {
                moved = true;
                if !self.fenced {
                    self.own_message(now, &m, meant);
                }
            }
            if self.rsc_needs_shutdown && !self.fenced && self.is_stable() {
                moved = true;
                self.giveup_resources();
            }
            if self.exec.idle() && !self.i_hold.intersects(Hold::LOCAL) {
                let before = self.i_hold;
                self.repair_orphans();
                moved |= self.i_hold != before;
            }
            moved |= self.report_if_changed();
            if !moved {
                break;
            }
        }
    }

    fn exec_out(&mut self, now: Instant, o: Out) {
        match o {
            Out::Log(l) => self.out.push_back(Command::Log(l)),
            Out::Run(req) => self.out.push_back(Command::RunAgent(req)),
            Out::Send(m) => self.send(m),
            Out::SendHeld { stable, info } => self.send_held(stable, Some(info)),
            Out::StandbyDone {
                epoch,
                hold,
                given,
                acquired,
            } => {
                if epoch == self.standby_epoch {
                    self.send(messages::ask_resources(hold, StandbyPhase::Done));
                } else {
                    // heartbeat's child would still send it, and a peer in a
                    // newer exchange would take it as its own `done`.
                    self.log(
                        Level::Info,
                        "Standby was cancelled; not announcing its completion.",
                    );
                    // The exchange is void: hold exactly what the job left.
                    self.i_hold = self.i_hold.minus(given).union(acquired);
                }
            }
            Out::FenceLocal(reason) => {
                self.fenced = true;
                self.handoff = None;
                self.loopback.clear();
                self.out.push_back(Command::Fence {
                    target: FenceTarget::Local,
                    reason,
                });
            }
            _ if self.fenced => {}
            Out::Notice(n) => self.notice(n),
            Out::StartFailed(g) => self.start_failed(now, g),
            Out::TakeSucceeded(g) => {
                if let Some(c) = self.start_failures.get_mut(g) {
                    *c = 0;
                }
            }
        }
    }

    fn notice(&mut self, n: Notice) {
        match n {
            Notice::ReqOurResourcesDone => {
                self.local_done = true;
                self.announce("req_our_resources");
            }
            Notice::IpRespTaken => {
                self.local_done = true;
                self.announce("ip-request-resp");
            }
            Notice::MachDownDone => {
                if !self.nice {
                    self.foreign_done = true;
                    self.announce("status");
                }
            }
            Notice::ShutdownReleased => self.out.push_back(Command::ShutdownReady),
        }
    }

    fn announce(&mut self, reason: &str) {
        if self.announced || !self.local_done || !self.foreign_done {
            return;
        }
        self.announced = true;
        self.log(
            Level::Info,
            format!("Initial resource acquisition complete ({reason})"),
        );
    }

    fn group_indices(&self, set: Hold) -> Vec<usize> {
        self.cfg
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| {
                let local = g.node == self.cfg.local;
                (local && set.intersects(Hold::LOCAL)) || (!local && set.intersects(Hold::FOREIGN))
            })
            .map(|(i, _)| i)
            .collect()
    }

    fn group_index(&self, key: &str) -> Option<usize> {
        self.cfg.groups.iter().position(|g| g.key() == key)
    }

    fn active_peers(&self) -> usize {
        self.peers
            .iter()
            .filter(|p| p.status == Some(NodeStatus::Active))
            .count()
    }

    // ------------------------------------------------------------------
    // Boot

    fn comm_up_action(&mut self, now: Instant) {
        let _ = now;
        self.peer_report_fresh = false;
        if self.comm_up {
            return;
        }
        self.comm_up = true;
        if self.shutdown_in_progress {
            // Stopped before the cluster came up: take part in nothing.
            return;
        }
        if self.peers.iter().all(Peer::alive) {
            self.foreign_done = true;
        }
        if self.peers.is_empty() {
            // heartbeat would wait for a `resource` report that nobody
            // sends; a lone node simply takes its groups.
            self.other_stable = true;
            if self.nice {
                self.rstate = RState::Stable;
            }
            self.req_our_resources(true);
            return;
        }
        if self.nice {
            self.send(messages::starting());
            self.rstate = RState::Starting;
        } else {
            self.req_our_resources(false);
        }
    }

    /// heartbeat's `req_our_resources()`: acquire our own groups.
    fn req_our_resources(&mut self, getthemanyway: bool) {
        if self.shutdown_in_progress {
            return;
        }
        if self.nice {
            if (self.other_holds.intersects(Hold::FOREIGN) || self.i_hold.intersects(Hold::LOCAL))
                && !getthemanyway
                && self.going == Going::Not
            {
                self.log(Level::Info, "Local Resource acquisition completed. (none)");
                return;
            }
            self.i_hold = self.i_hold.union(Hold::LOCAL);
        }
        // `req_resource` asks the peer only in legacy mode with company.
        let dont_ask = self.nice || 1 + self.active_peers() < 2;
        let local = self.cfg.local.clone();
        let mut steps = Vec::new();
        let ours = self.group_indices(Hold::LOCAL);
        for &g in &ours {
            let key = self.cfg.groups[g].key().to_string();
            if dont_ask {
                steps.push(Step::Send(messages::ip_request_resp(&local, &key, true)));
                steps.push(Step::Log(Log::new(
                    Level::Info,
                    Source::IpRequestResp,
                    format!("received ip-request-resp {key} OK yes"),
                )));
                steps.push(Step::Take(g));
            } else {
                steps.push(Step::Send(messages::ip_request(&key)));
            }
        }
        let text = if ours.is_empty() {
            format!("No local resources [{RSC_MGR} listkeys {local}] to acquire.")
        } else {
            "Local Resource acquisition completed.".to_string()
        };
        steps.push(Step::Log(Log::new(Level::Info, Source::Heartbeat, text)));
        if self.nice {
            steps.push(Step::SendHeld {
                stable: true,
                info: "req_our_resources()",
            });
        }
        steps.push(Step::Notice(Notice::ReqOurResourcesDone));
        self.exec.enqueue(steps);
    }

    // ------------------------------------------------------------------
    // Messages

    fn own_message(&mut self, now: Instant, m: &Message, meant: Option<Hold>) {
        match Incoming::parse(m) {
            Incoming::Resource {
                hold,
                full,
                isstable,
                info,
            } => {
                let hold = meant.map_or(hold, |h| Some(h.as_str()));
                self.process_resources(now, true, hold, full, isstable, info)
            }
            Incoming::AskResources { hold, info } => {
                let me = self.cfg.local.clone();
                self.ask_for_resources(now, true, &me, hold, info);
            }
            // `starting` from us is ignored; the rc.d scripts for
            // hb_takeover / ip-request exit on their own messages; our own
            // ip-request-resp was acted on when it was sent.
            _ => {}
        }
    }

    fn peer_message(&mut self, now: Instant, node: &str, m: &Message) {
        if let Some(p) = self.peer_mut(node) {
            p.heard = true;
        }
        let incoming = Incoming::parse(m);
        if let Incoming::Shutdone = incoming {
            self.peer_shutdown(now, node);
            return;
        }
        // heartbeat registers the resource handlers at Comm_now_up.
        if !self.comm_up {
            return;
        }
        match incoming {
            Incoming::Starting => self.process_starting(now),
            Incoming::Resource {
                hold,
                full,
                isstable,
                info,
            } => self.process_resources(now, false, hold, full, isstable, info),
            Incoming::AskResources { hold, info } => {
                self.ask_for_resources(now, false, node, hold, info)
            }
            Incoming::HbTakeover { hold } => self.hb_takeover_request(hold),
            Incoming::IpRequest { key: Some(key) } => self.ip_request(node, key),
            Incoming::IpRequestResp {
                dest: Some(dest),
                key: Some(key),
                weown,
                ok,
            } if dest == self.cfg.local => self.ip_request_resp(key, weown, ok),
            _ => {}
        }
    }

    /// A peer's `starting`: reply with what we hold.
    fn process_starting(&mut self, now: Instant) {
        if !self.nice {
            return;
        }
        let mut new = self.rstate;
        match self.rstate {
            RState::RscRcvd | RState::Stable | RState::Shutdown => {}
            RState::Starting => {
                new = RState::BothStarting;
                self.foreign_done = true;
                self.announce("HB_R_BOTHSTARTING");
            }
            RState::Init | RState::BothStarting => {
                self.log(
                    Level::Error,
                    format!("Received 'starting' message in state {}", self.rstate as u8),
                );
                return;
            }
        }
        self.other_stable = false;
        if self.takeover_in_progress {
            self.log(Level::Warn, "T_STARTING received during takeover.");
        }
        // A `starting` comes from a new incarnation (a restart quicker than
        // deadtime): a standby with the old one can never finish, and
        // heartbeat would wait an hour with the released groups down.
        self.cancel_standby();
        self.peer_report_fresh = false;
        self.send_held(self.rstate == RState::Stable, None);
        self.set_rstate(now, new);
    }

    fn set_rstate(&mut self, now: Instant, new: RState) {
        self.rstate = new;
        if new == RState::RscRcvd && self.local_takeover_time.is_none() {
            // Set once, like heartbeat's local_takeover_time.
            self.local_takeover_time = Some(now + self.cfg.timing.rqst_delay);
        }
    }

    /// A `resource` report, from the peer or from ourselves.
    fn process_resources(
        &mut self,
        now: Instant,
        from_self: bool,
        hold: Option<&str>,
        full: bool,
        isstable: Option<&str>,
        info: Option<&str>,
    ) {
        if !self.nice {
            return;
        }
        let Some(word) = hold else {
            self.log(Level::Error, "resource message without rsc_hold field.");
            return;
        };
        let n = Hold::parse(word).unwrap_or_else(|| {
            self.log(
                Level::Error,
                format!("encode_resources: bad resource type [{word}]"),
            );
            Hold::NONE
        });
        let mut new = self.rstate;
        match self.rstate {
            RState::Starting | RState::BothStarting => {
                new = RState::RscRcvd;
                if !self.auto_failback {
                    self.foreign_done = true;
                    self.announce("T_RESOURCES");
                }
            }
            RState::RscRcvd | RState::Stable | RState::Shutdown => {}
            RState::Init => {
                self.log(Level::Error, "resource message received in state 0");
                return;
            }
        }
        if !from_self {
            self.other_holds = self.other_holds.updated(n, full);
            if full {
                self.peer_report_fresh = self.going == Going::Not;
            }
            if let Some(s) = isstable {
                if s == "1" {
                    if !self.other_stable {
                        self.log(Level::Info, "remote resource transition completed.");
                        self.other_stable = true;
                        self.send_held(self.rstate == RState::Stable, None);
                        self.perform_auto_failback(now);
                    }
                } else {
                    self.other_stable = false;
                }
            }
            if !matches!(self.rstate, RState::Stable | RState::Shutdown) && self.other_stable {
                self.log(Level::Info, "remote resource transition completed.");
                self.req_our_resources(false);
                new = RState::Stable;
                self.send_held(true, None);
                self.perform_auto_failback(now);
                self.foreign_done = true;
                if !self.auto_failback && self.other_holds.intersects(Hold::FOREIGN) {
                    self.local_done = true;
                }
                self.announce("T_RESOURCES(them)");
            }
        } else {
            self.i_hold = self.i_hold.updated(n, full);
            if self.i_hold.intersects(Hold::LOCAL) {
                self.local_done = true;
                self.announce("T_RESOURCES(us)");
            }
            match info {
                Some("mach_down") => {
                    self.log(Level::Info, "mach_down takeover complete.");
                    self.takeover_in_progress = false;
                    self.i_hold = self.i_hold.union(Hold::FOREIGN);
                    self.rsc_needs_failback = true;
                    self.other_stable = true;
                    self.foreign_done = true;
                    self.announce("mach_down");
                }
                Some("shutdown") => {
                    self.rstate = RState::Shutdown;
                    new = RState::Shutdown;
                }
                _ => {}
            }
        }
        self.set_rstate(now, new);
        self.audit();
    }

    /// Once idle and stable, tell the peer if what we hold changed without a
    /// report (a cancelled standby's stops, a skipped or failed take):
    /// heartbeat never needs this because its word never includes running
    /// or pending work, but ours does and the peer must see it shrink.
    fn report_if_changed(&mut self) -> bool {
        if !self.nice
            || self.fenced
            || !self.comm_up
            || self.shutdown_in_progress
            || self.rstate != RState::Stable
            || self.going != Going::Not
            || self.standby_running.is_some()
            || !self.exec.idle()
            || !matches!(self.last_reported, Some(w) if w != self.advertised())
            || !self.peers.iter().any(Peer::alive)
        {
            return false;
        }
        self.send_held(true, None);
        true
    }

    /// heartbeat only logs "No one owns our local resources!". When the
    /// peer's fresh, stable, full report and our own idle state agree that
    /// nobody holds our local groups (e.g. a standby partner restarted
    /// mid-way), take them back. Each side only repairs its own local set,
    /// so the two never reach for the same group; a standby in progress, or
    /// a report from before the last exchange ended, rules it out.
    fn repair_orphans(&mut self) {
        if self.nice
            && !self.fenced
            && self.peer_report_fresh
            && self.peers.iter().any(Peer::alive)
            && self.is_stable()
            && self.rstate == RState::Stable
            && !self.shutdown_in_progress
            && !self.i_hold.intersects(Hold::LOCAL)
            && !self.other_holds.intersects(Hold::FOREIGN)
            && !self.group_indices(Hold::LOCAL).is_empty()
        {
            self.req_our_resources(false);
        }
    }

    /// heartbeat's `AuditResources()`: complain about duplicated or orphaned
    /// resource sets.
    fn audit(&mut self) {
        if !self.nice {
            return;
        }
        if self.i_hold.intersects(Hold::LOCAL) && self.other_holds.intersects(Hold::FOREIGN) {
            self.log(Level::Error, "Both machines own our resources!");
        }
        if self.other_holds.intersects(Hold::LOCAL) && self.i_hold.intersects(Hold::FOREIGN) {
            self.log(Level::Error, "Both machines own foreign resources!");
        }
        if self.is_stable() && !self.shutdown_in_progress && self.rstate != RState::Shutdown {
            if !self.i_hold.intersects(Hold::LOCAL) && !self.other_holds.intersects(Hold::FOREIGN) {
                self.log(Level::Error, "No one owns our local resources!");
            }
            if !self.other_holds.intersects(Hold::LOCAL) && !self.i_hold.intersects(Hold::FOREIGN) {
                self.log(Level::Error, "No one owns foreign resources!");
            }
        }
    }

    /// heartbeat's `PerformAutoFailback()`.
    fn perform_auto_failback(&mut self, now: Instant) {
        if self.shutdown_in_progress
            || !self.i_hold.intersects(Hold::FOREIGN)
            || !self.rsc_needs_failback
            || !self.auto_failback
        {
            self.rsc_needs_failback = false;
            return;
        }
        if self.going != Going::Not || !self.other_stable || self.rstate != RState::Stable {
            self.log(Level::Debug, "Auto failback delayed.");
            self.auto_failback_at = Some(now + self.cfg.timing.auto_failback_retry);
            return;
        }
        self.failback_in_progress = true;
        self.standby_rsctype = Hold::FOREIGN;
        self.send(messages::ask_resources(Hold::FOREIGN, StandbyPhase::Me));
        self.rsc_needs_failback = false;
    }

    /// heartbeat's `ask_for_resources()`: the 3-phase standby protocol.
    fn ask_for_resources(
        &mut self,
        now: Instant,
        from_me: bool,
        from: &str,
        hold: Option<&str>,
        info: Option<&str>,
    ) {
        if !self.nice {
            self.log(
                Level::Info,
                "Standby mode only implemented when nice_failback on",
            );
            return;
        }
        if self.rstate == RState::Shutdown {
            self.log(Level::Debug, "standby message ignored during shutdown");
            return;
        }
        let rtype = match hold {
            None => Hold::ALL,
            Some(w) => Hold::parse(w).unwrap_or_else(|| {
                self.log(
                    Level::Error,
                    format!("encode_resources: bad resource type [{w}]"),
                );
                Hold::NONE
            }),
        };
        let Some(info) = info else {
            self.log(Level::Error, "Received standby message without info/from");
            return;
        };
        let is = |word: &str| info.eq_ignore_ascii_case(word);
        if let Some(until) = self.standby_running {
            if now < until && is("me") {
                let ms = until.saturating_duration_since(now).as_millis();
                let secs = ms.div_ceil(1000);
                self.log(
                    Level::Warn,
                    format!(
                        "Standby in progress- new request from {from} ignored [{secs} seconds left]"
                    ),
                );
                return;
            }
        }
        let orig = self.going;
        let run_to = self.cfg.timing.standby_run_timeout;
        let mut ignored = false;
        match self.going {
            Going::Not => {
                if !self.other_stable {
                    self.log(
                        Level::Warn,
                        format!(
                            "standby message [{info}] from {from} ignored.  Other side is in flux."
                        ),
                    );
                    return;
                }
                if self.rstate != RState::Stable {
                    self.log(
                        Level::Warn,
                        format!("standby message [{info}] from {from} ignored.  local resources in flux."),
                    );
                    return;
                }
                self.standby_rsctype = rtype;
                if is("me") {
                    self.other_stable = false;
                    self.log(Level::Info, format!("{from} wants to go standby [{rtype}]"));
                    if from_me {
                        self.standby_running = Some(now + self.cfg.timing.standby_reply_timeout);
                        self.set_going(Going::Me);
                    } else {
                        self.set_going(Going::Other);
                        self.send(messages::ask_resources(
                            self.standby_rsctype,
                            StandbyPhase::Other,
                        ));
                        self.standby_running = Some(now + run_to);
                    }
                } else {
                    ignored = true;
                }
            }
            Going::Me => {
                if !from_me {
                    self.standby_rsctype = rtype;
                    self.standby_running = Some(now + run_to);
                    if is("other") {
                        self.log(
                            Level::Info,
                            format!("standby: {from} can take our {rtype} resources"),
                        );
                        self.go_standby_me(rtype);
                    } else {
                        ignored = true;
                    }
                } else if is("done") {
                    self.log(
                        Level::Info,
                        format!("Local standby process completed [{rtype}]."),
                    );
                    self.set_going(Going::Done);
                    self.i_hold = self.i_hold.minus(self.standby_rsctype);
                    self.standby_running = Some(now + run_to);
                } else {
                    ignored = true;
                }
            }
            Going::Other => {
                self.standby_rsctype = rtype;
                if is("done") {
                    self.standby_running = Some(now + run_to);
                    if !from_me {
                        self.log(
                            Level::Info,
                            format!("standby: acquire [{rtype}] resources from {from}"),
                        );
                        self.go_standby_other(self.standby_rsctype);
                        self.set_going(Going::Done);
                    } else {
                        ignored = true;
                    }
                } else if !from_me || !is("other") {
                    ignored = true;
                }
            }
            Going::Done => {
                self.standby_rsctype = rtype;
                if info == "done" {
                    self.standby_running = None;
                    self.set_going(Going::Not);
                    self.failback_in_progress = false;
                    if from_me {
                        self.log(
                            Level::Info,
                            format!("Standby resource acquisition done [{rtype}]."),
                        );
                        if self.auto_failback {
                            self.local_done = true;
                            self.announce("auto_failback");
                        }
                        self.i_hold = self.i_hold.union(rtype.mirrored());
                    } else {
                        self.log(
                            Level::Info,
                            format!("Other node completed standby takeover of {rtype} resources."),
                        );
                    }
                    self.send_held(true, None);
                } else {
                    ignored = true;
                }
            }
        }
        if ignored {
            self.log(
                Level::Error,
                format!(
                    "Ignored standby message '{info}' from {from} in state {}",
                    orig as u8
                ),
            );
        }
    }

    fn set_going(&mut self, going: Going) {
        if going != self.going {
            self.peer_report_fresh = false;
        }
        self.going = going;
    }

    /// Abandon a standby exchange whose partner is gone; true if one ran.
    fn cancel_standby(&mut self) -> bool {
        if self.going == Going::Not {
            return false;
        }
        self.log(Level::Info, "Cancelling pending standby operation");
        self.set_going(Going::Not);
        self.standby_running = None;
        self.standby_epoch += 1;
        if std::mem::take(&mut self.failback_in_progress) {
            self.rsc_needs_failback = true;
        }
        true
    }

    /// Give up `set` for a standby (`go_standby(ME, …)`); the job ends with
    /// our `done`.
    fn go_standby_me(&mut self, set: Hold) {
        self.other_stable = false;
        self.i_hold = self.i_hold.minus(set);
        self.send_held(false, Some("standby"));
        if set.is_none() {
            self.log(Level::Error, "no resources to give up");
            return;
        }
        let mut steps = vec![Step::Log(Log::new(
            Level::Info,
            Source::Heartbeat,
            format!("give up {set} HA resources (standby)."),
        ))];
        steps.extend(self.group_indices(set).into_iter().map(Step::Give));
        steps.push(Step::Log(Log::new(
            Level::Info,
            Source::Heartbeat,
            format!("{set} HA resource release completed (standby)."),
        )));
        steps.push(Step::StandbyDone {
            epoch: self.standby_epoch,
            hold: self.standby_rsctype,
            given: set,
            acquired: Hold::NONE,
        });
        self.exec.enqueue(steps);
    }

    /// Acquire what the peer gave up (`go_standby(OTHER, …)`): its `local`
    /// is our `foreign`.
    fn go_standby_other(&mut self, set: Hold) {
        let act = set.mirrored();
        if act.is_none() {
            self.log(Level::Error, "no resources to acquire");
            return;
        }
        let mut steps = vec![Step::Log(Log::new(
            Level::Info,
            Source::Heartbeat,
            format!("acquire {act} HA resources (standby)."),
        ))];
        steps.extend(self.group_indices(act).into_iter().map(Step::Take));
        steps.push(Step::Log(Log::new(
            Level::Info,
            Source::Heartbeat,
            format!("{act} HA resource acquisition completed (standby)."),
        )));
        steps.push(Step::StandbyDone {
            epoch: self.standby_epoch,
            hold: self.standby_rsctype,
            given: Hold::NONE,
            acquired: act,
        });
        self.exec.enqueue(steps);
    }

    /// The peer ran `hb_takeover`: its `rc.d/hb_takeover` runs `hb_standby`
    /// on us with all→all, local→foreign, foreign→local (anything else,
    /// `failback` included, → all).
    fn hb_takeover_request(&mut self, hold: Option<&str>) {
        let set = match hold {
            Some("local") => Hold::FOREIGN,
            Some("foreign") => Hold::LOCAL,
            _ => Hold::ALL,
        };
        self.exec.enqueue(vec![
            Step::Log(Log::new(
                Level::Info,
                Source::HbStandby,
                format!("Going standby [{set}]."),
            )),
            Step::Send(messages::ask_resources(set, StandbyPhase::Me)),
        ]);
    }

    /// Legacy mode asks for its groups once (`req_resource`) and never
    /// again. A peer that restarted quicker than deadtime may have lost our
    /// unanswered `ip-request`s: ask again for the groups not running here.
    fn legacy_ask_again(&mut self) {
        if self.nice || !self.comm_up || self.shutdown_in_progress {
            return;
        }
        let steps: Vec<Step> = self
            .group_indices(Hold::LOCAL)
            .into_iter()
            .filter(|g| !self.exec.claims(*g))
            .map(|g| Step::Send(messages::ip_request(self.cfg.groups[g].key())))
            .collect();
        self.exec.enqueue(steps);
    }

    /// `rc.d/ip-request`: give the group up if it runs here, then answer.
    fn ip_request(&mut self, from: &str, key: &str) {
        let step = match self.group_index(key) {
            Some(group) => Step::GiveIfOwned {
                group,
                requester: from.to_string(),
            },
            None => Step::Send(messages::ip_request_resp(from, key, false)),
        };
        self.exec.enqueue(vec![step]);
    }

    /// `rc.d/ip-request-resp` addressed to us: take the group.
    fn ip_request_resp(&mut self, key: &str, weown: Option<&str>, ok: Option<&str>) {
        let Some(g) = self.group_index(key) else {
            return;
        };
        if ok != Some("OK") || self.shutdown_in_progress {
            return;
        }
        self.exec.enqueue(vec![
            Step::Log(Log::new(
                Level::Info,
                Source::IpRequestResp,
                format!(
                    "received ip-request-resp {key} {} {}",
                    ok.unwrap_or(""),
                    weown.unwrap_or("")
                ),
            )),
            Step::Take(g),
            Step::Notice(Notice::IpRespTaken),
        ]);
    }

    // ------------------------------------------------------------------
    // Failures

    /// heartbeat's `hb_rsc_recover_dead_resources()`.
    fn recover_dead_resources(&mut self, now: Instant, node: &str) {
        let Some(p) = self.peer_mut(node) else { return };
        p.status = Some(NodeStatus::Dead);
        let heard = std::mem::replace(&mut p.heard, false);
        let has_resources = p.has_resources;
        let announced_shutdown = p.shutdown_seen;
        self.peer_report_fresh = false;
        if self.cancel_standby() && !self.other_stable && self.i_hold == Hold::ALL {
            self.other_stable = true;
        }
        if self.shutdown_in_progress {
            if !matches!(self.rstate, RState::Shutdown | RState::Stable) {
                self.rsc_needs_shutdown = true;
            }
            return;
        }
        self.rsc_needs_failback = true;
        let mut need_stonith = true;
        if self.cfg.stonith {
            // heartbeat skips STONITH when the peer *reported* holding
            // nothing; a partitioned peer that reported nothing takes
            // everything too (split brain right after boot). With a device
            // configured, fence every dead peer that did not stop cleanly.
            need_stonith = !announced_shutdown;
        } else if heard {
            if self.nice {
                if self.other_holds.is_none() {
                    need_stonith = false;
                }
            } else if !has_resources {
                need_stonith = false;
            }
        }
        if need_stonith {
            if self.cfg.stonith {
                self.start_fence(node);
                return;
            }
            self.send(messages::stonith(node, StonithResult::NotConfigured));
            self.log(Level::Warn, "No STONITH device configured.");
            self.log(Level::Warn, "Shared disks are not protected.");
            self.takeover_from_node(now, node);
        } else {
            self.log(Level::Info, format!("Dead node {node} gave up resources."));
            self.send(messages::stonith(node, StonithResult::Unneeded));
            if self.nice {
                if self.i_hold == Hold::ALL {
                    self.other_stable = true;
                    return;
                }
                if !self.i_hold.intersects(Hold::LOCAL) {
                    self.req_our_resources(true);
                }
                if !self.i_hold.intersects(Hold::FOREIGN) {
                    self.takeover_from_node(now, node);
                }
            } else {
                self.takeover_from_node(now, node);
            }
        }
    }

    fn start_fence(&mut self, node: &str) {
        if let Some(p) = self.peer_mut(node) {
            p.fence_in_flight = true;
        }
        self.log(Level::Info, format!("Resetting node {node}"));
        self.out.push_back(Command::Fence {
            target: FenceTarget::Node(node.to_string()),
            reason: format!("node {node} is dead and may hold resources"),
        });
    }

    /// heartbeat's `takeover_from_node()`: run mach_down for `node` and
    /// make sure we hold our own groups.
    fn takeover_from_node(&mut self, now: Instant, node: &str) {
        let _ = now;
        if self.shutdown_in_progress {
            self.log(
                Level::Info,
                "Resource takeover cancelled - shutdown in progress.",
            );
            return;
        }
        self.log(
            Level::Info,
            format!("Resources being acquired from {node}."),
        );
        let mut steps = Vec::new();
        for (g, spec) in self.cfg.groups.iter().enumerate() {
            if spec.node == node {
                steps.push(Step::Log(Log::new(
                    Level::Info,
                    Source::MachDown,
                    format!("Taking over resource group {}", spec.key()),
                )));
                // nice_failback already claims these groups in `rsc_hold`, so
                // a returning node waits for us and any release is queued
                // behind this take. Legacy claims nothing: the node asks with
                // ip-request when it is back, and a late take would run the
                // group twice.
                steps.push(if self.nice {
                    Step::Take(g)
                } else {
                    Step::TakeFromDead {
                        group: g,
                        node: node.to_string(),
                    }
                });
            }
        }
        if self.nice {
            steps.push(Step::Log(Log::new(
                Level::Info,
                Source::MachDown,
                format!("{MACH_DOWN}: nice_failback: foreign resources acquired"),
            )));
            steps.push(Step::Send(messages::mach_down_done()));
        }
        steps.push(Step::Log(Log::new(
            Level::Info,
            Source::MachDown,
            format!("mach_down takeover complete for node {node}."),
        )));
        steps.push(Step::Notice(Notice::MachDownDone));
        self.exec.enqueue(steps);
        if self.nice {
            self.i_hold = self.i_hold.union(Hold::FOREIGN);
            self.other_holds = Hold::NONE;
            self.other_stable = true;
            self.takeover_in_progress = true;
        }
        self.req_our_resources(true);
    }

    /// The peer finished a graceful stop (`shutdone`): it holds nothing, take
    /// its groups now instead of waiting for deadtime.
    ///
    /// heartbeat also runs a standby acquisition here whose set it computes
    /// from a stale global and whose `done` message carries a stale word;
    /// the mach_down path that follows it does the real work, so only that
    /// path is kept.
    fn peer_shutdown(&mut self, now: Instant, node: &str) {
        let Some(p) = self.peer_mut(node) else { return };
        if p.shutdown_seen {
            return;
        }
        p.shutdown_seen = true;
        p.has_resources = false;
        if self.nice {
            self.other_stable = true;
            self.other_holds = Hold::NONE;
            self.cancel_standby();
        }
        self.log(
            Level::Info,
            format!("Received shutdown notice from '{node}'."),
        );
        self.takeover_from_node(now, node);
    }

    fn start_failed(&mut self, now: Instant, g: usize) {
        let Some(count) = self.start_failures.get_mut(g) else {
            return;
        };
        *count += 1;
        let count = *count;
        let spec = &self.cfg.groups[g];
        let key = spec.key().to_string();
        let set = if spec.node == self.cfg.local {
            Hold::LOCAL
        } else {
            Hold::FOREIGN
        };
        if count > 1 {
            self.log(
                Level::Crit,
                format!("Resource group {key} failed to start here again; leaving it stopped."),
            );
            return;
        }
        if !self.nice {
            self.log(
                Level::Error,
                format!("Resource group {key} stays stopped: handing it over needs auto_failback on or off."),
            );
            return;
        }
        let (at, prev) = match self.handoff {
            Some((t, h)) => (t, h),
            None => (now + self.cfg.timing.handoff_delay, Hold::NONE),
        };
        self.handoff = Some((at, prev.union(set)));
    }

    /// Hand the set holding a group that failed to start to the peer,
    /// through the standby protocol (what heartbeat's delayed `hb_standby`
    /// means to do).
    fn try_handoff(&mut self, now: Instant) {
        let Some((_, set)) = self.handoff else { return };
        if self.shutdown_in_progress {
            self.handoff = None;
            return;
        }
        if !self.peers.iter().any(Peer::alive) {
            self.handoff = None;
            self.log(
                Level::Warn,
                format!("No node can take over the failed {set} resources; they stay stopped."),
            );
            return;
        }
        if self.going != Going::Not
            || self.standby_running.is_some()
            || !self.other_stable
            || self.rstate != RState::Stable
            || !self.exec.idle()
        {
            self.handoff = Some((now + self.cfg.timing.auto_failback_retry, set));
            return;
        }
        self.handoff = None;
        self.log_from(
            Source::HbStandby,
            Level::Info,
            format!("Going standby [{set}]."),
        );
        self.send(messages::ask_resources(set, StandbyPhase::Me));
    }

    /// heartbeat's `hb_giveup_resources()`: wait until stable, then release
    /// every group and report [`Command::ShutdownReady`].
    fn giveup_resources(&mut self) {
        if !self.is_stable() {
            if !self.rsc_needs_shutdown {
                self.log(
                    Level::Warn,
                    "Shutdown delayed until current resource activity finishes.",
                );
                self.rsc_needs_shutdown = true;
            }
            return;
        }
        self.rsc_needs_shutdown = false;
        if self.giveup_started {
            self.log(Level::Info, "Heartbeat shutdown already underway.");
            return;
        }
        self.giveup_started = true;
        self.i_hold = Hold::NONE;
        self.rstate = RState::Shutdown;
        self.send_held(false, Some("shutdown"));
        self.log(Level::Info, "Heartbeat shutdown in progress.");
        let mut steps = vec![Step::Log(Log::new(
            Level::Info,
            Source::Heartbeat,
            "Giving up all HA resources.",
        ))];
        // `listkeys '.*'`: every group, held or not; stops are idempotent.
        steps.extend((0..self.cfg.groups.len()).map(Step::Give));
        steps.push(Step::Log(Log::new(
            Level::Info,
            Source::Heartbeat,
            "All HA resources relinquished.",
        )));
        steps.push(Step::Notice(Notice::ShutdownReleased));
        self.exec.enqueue(steps);
    }
}
