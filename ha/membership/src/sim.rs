//! A deterministic cluster simulator for [`Membership`] cores.
//!
//! Virtual time only: nothing sleeps, and the whole run is a function of the
//! configs and the seed. Packets are `Message` values (no codec), broadcast
//! by each node on each of its media to every other node, through per-link
//! loss, delay and jitter (jitter reorders). On top: partitions (directional
//! cuts), frozen nodes (a stopped process: no timers, packets to it are
//! lost), crashes and restarts (a new generation, as heartbeat's
//! `hb_generation` gives), and injection of arbitrary messages (replays,
//! garbage).
//!
//! It is pure library code, meant for this crate's tests, the resource
//! manager's tests and fault-injection suites.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::{Duration, Instant};

use hb_wire::Message;

use crate::rng::SplitMix64;
use crate::{Config, Event, MediumId, Membership, Reject, Tuning};

/// The four ha.cf timings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub keepalive: Duration,
    pub deadtime: Duration,
    pub warntime: Duration,
    pub initdead: Duration,
}

impl Timing {
    /// Timings in milliseconds: keepalive, deadtime, warntime, initdead.
    pub fn ms(keepalive: u64, deadtime: u64, warntime: u64, initdead: u64) -> Self {
        Timing {
            keepalive: Duration::from_millis(keepalive),
            deadtime: Duration::from_millis(deadtime),
            warntime: Duration::from_millis(warntime),
            initdead: Duration::from_millis(initdead),
        }
    }
}

/// A uuid derived from the node name, stable across runs.
pub fn uuid_for(name: &str) -> [u8; 16] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = SplitMix64::new(h);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    out[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    out
}

/// One `Config` per node of a cluster `names`, with `media` media each,
/// generation 1, uuids from [`uuid_for`] and seeds derived from `seed`.
pub fn cluster_configs(names: &[&str], timing: Timing, media: usize, seed: u64) -> Vec<Config> {
    let nodes: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| Config {
            local: name.to_string(),
            nodes: nodes.clone(),
            media: (0..media).map(|m| format!("eth{m}")).collect(),
            keepalive: timing.keepalive,
            deadtime: timing.deadtime,
            warntime: timing.warntime,
            initdead: timing.initdead,
            hopfudge: 1,
            generation: 1,
            uuid: uuid_for(name),
            wall_clock_at_start: 0x6b03_af58,
            seed: seed.wrapping_mul(31).wrapping_add(i as u64),
        })
        .collect()
}

/// Behaviour of the path from one node to another on one medium.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkParams {
    /// Probability that a packet is lost.
    pub loss: f64,
    pub delay: Duration,
    /// Extra delay drawn uniformly in `[0, jitter]` per packet.
    pub jitter: Duration,
}

impl Default for LinkParams {
    fn default() -> Self {
        LinkParams {
            loss: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Not started, or crashed.
    Down,
    Running,
    /// Stopped (SIGSTOP, a hung machine): no timers; packets to it are lost.
    Frozen,
}

/// A node of the simulation and what happened to it. Times are offsets
/// from the simulation's start.
#[derive(Debug)]
pub struct SimNode {
    pub name: String,
    pub state: NodeState,
    pub config: Config,
    pub tuning: Tuning,
    pub machine: Option<Membership>,
    pub events: Vec<(Duration, Event)>,
    pub sent: Vec<(Duration, Message)>,
    pub rejects: Vec<(Duration, Reject)>,
}

#[derive(Debug)]
struct Flight {
    at: Instant,
    serial: u64,
    to: usize,
    medium: MediumId,
    msg: Message,
}

impl PartialEq for Flight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.serial) == (other.at, other.serial)
    }
}
impl Eq for Flight {}
impl PartialOrd for Flight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Flight {
    /// Reversed, so the `BinaryHeap` pops the earliest (then oldest) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.serial).cmp(&(self.at, self.serial))
    }
}

/// The simulated cluster.
#[derive(Debug)]
pub struct Sim {
    epoch: Instant,
    now: Instant,
    rng: SplitMix64,
    nodes: Vec<SimNode>,
    flights: BinaryHeap<Flight>,
    serial: u64,
    default_link: LinkParams,
    links: HashMap<(usize, usize, MediumId), LinkParams>,
    cuts: HashSet<(usize, usize)>,
    /// Every packet that left a node: (time, from, message).
    pub wire: Vec<(Duration, usize, Message)>,
    /// Consecutive timer firings of one node at one instant, to catch a core
    /// whose `poll_timeout` does not move on.
    stuck: (Option<(Instant, usize)>, u32),
}

/// More timer calls than this at one instant for one node is a core bug.
const MAX_TIMER_REPEATS: u32 = 10_000;

impl Sim {
    /// Nodes start `Down`; see [`Sim::start_all`].
    pub fn new(configs: Vec<Config>, seed: u64) -> Self {
        Self::with_tuning(configs, Tuning::default(), seed)
    }

    pub fn with_tuning(configs: Vec<Config>, tuning: Tuning, seed: u64) -> Self {
        // The one clock read: an arbitrary origin for virtual time. Nothing
        // depends on its value.
        let epoch = Instant::now();
        Sim {
            epoch,
            now: epoch,
            rng: SplitMix64::new(seed),
            nodes: configs
                .into_iter()
                .map(|config| SimNode {
                    name: config.local.clone(),
                    state: NodeState::Down,
                    config,
                    tuning: tuning.clone(),
                    machine: None,
                    events: Vec::new(),
                    sent: Vec::new(),
                    rejects: Vec::new(),
                })
                .collect(),
            flights: BinaryHeap::new(),
            serial: 0,
            default_link: LinkParams::default(),
            links: HashMap::new(),
            cuts: HashSet::new(),
            wire: Vec::new(),
            stuck: (None, 0),
        }
    }

    /// Virtual time since the start.
    pub fn now(&self) -> Duration {
        self.now - self.epoch
    }

    /// The `Instant` the machines saw for a given offset.
    pub fn instant(&self, offset: Duration) -> Instant {
        self.epoch + offset
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, i: usize) -> &SimNode {
        &self.nodes[i]
    }

    pub fn node_mut(&mut self, i: usize) -> &mut SimNode {
        &mut self.nodes[i]
    }

    /// The running (or frozen) core of node `i`.
    pub fn machine(&self, i: usize) -> Option<&Membership> {
        self.nodes[i].machine.as_ref()
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// `Deliver`ed messages node `i` got from `from`, in order.
    pub fn delivered(&self, i: usize, from: &str) -> Vec<Message> {
        self.nodes[i]
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Deliver { node, msg } if node == from => Some(msg.clone()),
                _ => None,
            })
            .collect()
    }

    /// First time node `i` logged an event matching `pred`.
    pub fn first_event(&self, i: usize, mut pred: impl FnMut(&Event) -> bool) -> Option<Duration> {
        self.nodes[i]
            .events
            .iter()
            .find(|(_, e)| pred(e))
            .map(|(t, _)| *t)
    }

    pub fn set_default_link(&mut self, params: LinkParams) {
        self.default_link = params;
    }

    /// Path `from` → `to` on every medium.
    pub fn set_link(&mut self, from: usize, to: usize, params: LinkParams) {
        let media = self.nodes[from].config.media.len().max(1);
        for m in 0..media {
            self.links.insert((from, to, m), params);
        }
    }

    pub fn set_medium_link(
        &mut self,
        from: usize,
        to: usize,
        medium: MediumId,
        params: LinkParams,
    ) {
        self.links.insert((from, to, medium), params);
    }

    /// Cut every path between a node of `a` and a node of `b`, both ways.
    pub fn partition(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.cuts.insert((x, y));
                self.cuts.insert((y, x));
            }
        }
    }

    /// Remove every cut.
    pub fn heal(&mut self) {
        self.cuts.clear();
    }

    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
    }

    pub fn start(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.machine = Some(Membership::with_tuning(
            n.config.clone(),
            n.tuning.clone(),
            self.now,
        ));
        n.state = NodeState::Running;
        self.drain(i);
    }

    /// Power off: state is lost, nothing more is sent.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].machine = None;
        self.nodes[i].state = NodeState::Down;
    }

    /// Start again with the next generation (and new ACK triggers), like a
    /// heartbeat restart.
    pub fn restart(&mut self, i: usize) {
        let c = &mut self.nodes[i].config;
        c.generation += 1;
        c.seed = c.seed.wrapping_add(0x9e37_79b9);
        self.start(i);
    }

    /// Restart with a new uuid (a reinstalled node).
    pub fn restart_with_uuid(&mut self, i: usize, uuid: [u8; 16]) {
        self.nodes[i].config.uuid = uuid;
        self.restart(i);
    }

    pub fn freeze(&mut self, i: usize) {
        if self.nodes[i].state == NodeState::Running {
            self.nodes[i].state = NodeState::Frozen;
        }
    }

    pub fn thaw(&mut self, i: usize) {
        if self.nodes[i].state == NodeState::Frozen {
            self.nodes[i].state = NodeState::Running;
        }
    }

    /// A local client of node `i` sends `msg` now.
    pub fn send(&mut self, i: usize, msg: Message) {
        let now = self.now;
        if let Some(m) = self.nodes[i].machine.as_mut() {
            m.send(now, msg);
        }
        self.drain(i);
    }

    pub fn shutdown(&mut self, i: usize) {
        let now = self.now;
        if let Some(m) = self.nodes[i].machine.as_mut() {
            m.shutdown(now);
        }
        self.drain(i);
    }

    /// Hand `msg` to node `i` now, as if it arrived on `medium`.
    pub fn inject(&mut self, i: usize, medium: MediumId, msg: Message) -> Result<(), Reject> {
        let now = self.now;
        let result = match self.nodes[i].machine.as_mut() {
            Some(m) => m.handle_message(now, medium, msg),
            None => Ok(()),
        };
        if let Err(e) = &result {
            let at = self.now();
            self.nodes[i].rejects.push((at, e.clone()));
        }
        self.drain(i);
        result
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now() + d;
        self.run_until(until);
    }

    /// Process everything up to and including `until` (offset from start).
    pub fn run_until(&mut self, until: Duration) {
        let limit = self.epoch + until;
        while self.step(limit) {}
        if self.now < limit {
            self.now = limit;
        }
    }

    /// Run until node `i` logs an event matching `pred` or `until` passes;
    /// returns when it happened.
    pub fn run_until_event(
        &mut self,
        i: usize,
        until: Duration,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Option<Duration> {
        let limit = self.epoch + until;
        let mut seen = self.nodes[i].events.len();
        loop {
            if let Some((t, _)) = self.nodes[i].events[seen..].iter().find(|(_, e)| pred(e)) {
                return Some(*t);
            }
            seen = self.nodes[i].events.len();
            if !self.step(limit) {
                if self.now < limit {
                    self.now = limit;
                }
                return None;
            }
        }
    }

    /// Run until `until`, calling `react(node, event)` for every event as it
    /// happens; the messages it returns are sent by that node at that
    /// instant. This is how a resource manager (or any client) plugs in.
    pub fn run_with(
        &mut self,
        until: Duration,
        mut react: impl FnMut(usize, &Event) -> Vec<Message>,
    ) {
        let limit = self.epoch + until;
        let mut seen: Vec<usize> = self.nodes.iter().map(|n| n.events.len()).collect();
        loop {
            let mut reacted = false;
            for (i, cursor) in seen.iter_mut().enumerate() {
                while let Some((_, ev)) = self.nodes[i].events.get(*cursor) {
                    let ev = ev.clone();
                    *cursor += 1;
                    for msg in react(i, &ev) {
                        self.send(i, msg);
                        reacted = true;
                    }
                }
            }
            if !reacted && !self.step(limit) {
                break;
            }
        }
        if self.now < limit {
            self.now = limit;
        }
    }

    /// One packet delivery or one node's timers, whichever is due first.
    fn step(&mut self, limit: Instant) -> bool {
        let flight_at = self.flights.peek().map(|f| f.at);
        let timer = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.state == NodeState::Running)
            .filter_map(|(i, n)| Some((n.machine.as_ref()?.poll_timeout()?, i)))
            .min();
        let flight_first = match (flight_at, timer) {
            (None, None) => return false,
            (Some(f), Some((t, _))) => f <= t,
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        let at = if flight_first {
            flight_at
        } else {
            timer.map(|(t, _)| t)
        };
        let Some(at) = at else { return false };
        if at > limit {
            return false;
        }
        self.now = self.now.max(at);
        let now = self.now;
        if flight_first {
            let Some(f) = self.flights.pop() else {
                return false;
            };
            let node = &mut self.nodes[f.to];
            if node.state != NodeState::Running {
                return true;
            }
            let Some(m) = node.machine.as_mut() else {
                return true;
            };
            if let Err(e) = m.handle_message(now, f.medium, f.msg) {
                node.rejects.push((now - self.epoch, e));
            }
            self.drain(f.to);
        } else if let Some((_, i)) = timer {
            if self.stuck.0 == Some((now, i)) {
                self.stuck.1 += 1;
                assert!(
                    self.stuck.1 < MAX_TIMER_REPEATS,
                    "{}: poll_timeout stays at {:?} after handle_timeout",
                    self.nodes[i].name,
                    now - self.epoch
                );
            } else {
                self.stuck = (Some((now, i)), 0);
            }
            if let Some(m) = self.nodes[i].machine.as_mut() {
                m.handle_timeout(now);
            }
            self.drain(i);
        }
        true
    }

    /// Collect node `i`'s events and put its packets on the wire.
    fn drain(&mut self, i: usize) {
        let at = self.now();
        let mut out = Vec::new();
        let node = &mut self.nodes[i];
        if let Some(m) = node.machine.as_mut() {
            while let Some(e) = m.poll_event() {
                node.events.push((at, e));
            }
            while let Some(t) = m.poll_transmit() {
                out.push(t.msg);
            }
        }
        let media = self.nodes[i].config.media.len().max(1);
        for msg in out {
            self.nodes[i].sent.push((at, msg.clone()));
            self.wire.push((at, i, msg.clone()));
            for to in 0..self.nodes.len() {
                if to == i || self.cuts.contains(&(i, to)) {
                    continue;
                }
                for medium in 0..media {
                    let p = self
                        .links
                        .get(&(i, to, medium))
                        .copied()
                        .unwrap_or(self.default_link);
                    if self.rng.chance(p.loss) {
                        continue;
                    }
                    let jitter_us = u64::try_from(p.jitter.as_micros()).unwrap_or(u64::MAX);
                    let extra = Duration::from_micros(self.rng.between(0, jitter_us));
                    self.serial += 1;
                    self.flights.push(Flight {
                        at: self.now + p.delay + extra,
                        serial: self.serial,
                        to,
                        medium,
                        msg: msg.clone(),
                    });
                }
            }
        }
    }
}
