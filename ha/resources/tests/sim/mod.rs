//! A virtual-time two-node cluster for the resource manager.
//!
//! hb-membership has no simulator yet, so this bus reports what membership
//! would: peers heard (`NodeStatus` active, `NodeRestarted`), `CommUp` once
//! every peer was heard or initdead passed, `NodeDead` deadtime after a node
//! went silent, `PeerShutdown` after a graceful stop, and in-order delivery
//! of cluster messages between live incarnations. Resource agents are a
//! model of the real world: `start` makes a resource run (from the moment it
//! begins, to catch overlaps early), `stop` ends it, `status` prints
//! "running"/"stopped", and failures can be injected per resource.
//!
//! After every step the safety invariant is checked: no group runs on two
//! live nodes at once.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::{Duration, Instant};

use hb_membership::{Event, NodeStatus};
use hb_resources::{
    group, Action, AgentRequest, AgentResult, AutoFailback, Command, Config, FenceTarget,
    LocalRequest, Log, OpId, ResourceGroup, ResourceManager, Timing,
};
use hb_wire::Message;

pub const N1: usize = 0;
pub const N2: usize = 1;

/// node1's group as in the reference test cluster, plus one group for node2.
pub fn groups() -> Vec<ResourceGroup> {
    vec![
        group(
            "node1",
            &["IPaddr::192.0.2.50/24/eth0", "hbtest::alpha::beta"],
        ),
        group("node2", &["IPaddr::192.0.2.60/24/eth0", "hbtest::gamma"]),
    ]
}

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub auto_failback: AutoFailback,
    pub stonith: bool,
    pub groups: Vec<ResourceGroup>,
    pub timing: Timing,
    pub deadtime: Duration,
    pub initdead: Duration,
    /// Time from boot until the peers hear each other.
    pub hello: Duration,
    pub latency: Duration,
    /// Extra random latency per message, 0..=jitter (per-link order kept).
    pub jitter: Duration,
    pub status_time: Duration,
    pub start_time: Duration,
    pub stop_time: Duration,
    pub fence_time: Duration,
    /// After `ShutdownReady`, how long until the process is gone.
    pub exit_delay: Duration,
    pub seed: u64,
}

impl SimConfig {
    pub fn new(auto_failback: AutoFailback) -> SimConfig {
        SimConfig {
            auto_failback,
            stonith: false,
            groups: groups(),
            timing: Timing::default(),
            deadtime: Duration::from_secs(3),
            initdead: Duration::from_secs(6),
            hello: Duration::from_millis(500),
            latency: Duration::from_millis(2),
            jitter: Duration::ZERO,
            status_time: Duration::from_millis(10),
            start_time: Duration::from_millis(100),
            stop_time: Duration::from_millis(100),
            fence_time: Duration::from_secs(1),
            exit_delay: Duration::from_secs(1),
            seed: 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Life {
    Down,
    Up,
    /// Told to leave by its own resource manager (stop failure).
    SelfFenced,
}

#[derive(Debug)]
enum Ev {
    Deliver {
        to: usize,
        to_inc: u32,
        from: usize,
        from_inc: u32,
        msg: Message,
    },
    Membership {
        to: usize,
        inc: u32,
        event: Event,
    },
    Hello {
        node: usize,
        inc: u32,
    },
    InitDead {
        node: usize,
        inc: u32,
    },
    DeadCheck {
        observer: usize,
        obs_inc: u32,
        node: usize,
        node_inc: u32,
    },
    AgentDone {
        node: usize,
        inc: u32,
        op: OpId,
        result: AgentResult,
    },
    FenceDone {
        node: usize,
        inc: u32,
        target: String,
    },
    Exit {
        node: usize,
        inc: u32,
    },
    Stopped {
        node: usize,
        inc: u32,
        key: (usize, usize),
    },
}

pub struct SimNode {
    pub name: String,
    pub life: Life,
    pub inc: u32,
    pub rm: Option<ResourceManager>,
    /// The real world: (group, resource) running on this machine.
    pub running: BTreeSet<(usize, usize)>,
    pub fail_start: BTreeSet<(usize, usize)>,
    pub fail_stop: BTreeSet<(usize, usize)>,
    /// Every log line, with the time and the incarnation.
    pub logs: Vec<(Instant, u32, Log)>,
    /// Every message sent, with the time.
    pub sent: Vec<(Instant, Message)>,
    pub agent_runs: Vec<(Instant, usize, usize, Action)>,
    pub fences: Vec<(Instant, FenceTarget)>,
    pub shutdown_ready_at: Option<Instant>,
    comm_up: bool,
    /// Peers this node currently believes alive.
    heard: BTreeSet<usize>,
    /// A partition cut this node off (no traffic either way).
    isolated: bool,
}

pub struct Sim {
    pub cfg: SimConfig,
    pub epoch: Instant,
    pub now: Instant,
    pub nodes: Vec<SimNode>,
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    events: BTreeMap<u64, Ev>,
    next_id: u64,
    link_last: BTreeMap<(usize, usize), Instant>,
    rng: u64,
    pub steps: u64,
}

impl Sim {
    pub fn new(cfg: SimConfig) -> Sim {
        let epoch = Instant::now();
        let nodes = ["node1", "node2"]
            .iter()
            .map(|n| SimNode {
                name: n.to_string(),
                life: Life::Down,
                inc: 0,
                rm: None,
                running: BTreeSet::new(),
                fail_start: BTreeSet::new(),
                fail_stop: BTreeSet::new(),
                logs: Vec::new(),
                sent: Vec::new(),
                agent_runs: Vec::new(),
                fences: Vec::new(),
                shutdown_ready_at: None,
                comm_up: false,
                heard: BTreeSet::new(),
                isolated: false,
            })
            .collect();
        let rng = cfg.seed | 1;
        Sim {
            cfg,
            epoch,
            now: epoch,
            nodes,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            next_id: 0,
            link_last: BTreeMap::new(),
            rng,
            steps: 0,
        }
    }

    pub fn at(&self, d: Duration) -> Instant {
        self.epoch + d
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.epoch
    }

    fn rand(&mut self) -> u64 {
        // xorshift64*: deterministic, good enough for latencies.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn schedule(&mut self, at: Instant, ev: Ev) {
        let id = self.next_id;
        self.next_id += 1;
        self.events.insert(id, ev);
        self.queue.push(Reverse((at, id)));
    }

    fn node_config(&self, i: usize) -> Config {
        Config {
            local: self.nodes[i].name.clone(),
            nodes: self.nodes.iter().map(|n| n.name.clone()).collect(),
            groups: self.cfg.groups.clone(),
            auto_failback: self.cfg.auto_failback,
            stonith: self.cfg.stonith,
            isolation_ping_nodes: Vec::new(),
            timing: self.cfg.timing.clone(),
        }
    }

    pub fn peers(&self, i: usize) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&j| j != i).collect()
    }

    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].life == Life::Up
    }

    pub fn rm(&self, i: usize) -> &ResourceManager {
        self.nodes[i].rm.as_ref().expect("node is up")
    }

    // ----------------------------------------------------------------
    // Scenario controls

    /// Power on (or reboot) a node.
    pub fn boot(&mut self, i: usize) {
        if self.is_up(i) {
            return;
        }
        let rm = ResourceManager::new(self.node_config(i), self.now).expect("valid config");
        let n = &mut self.nodes[i];
        n.inc += 1;
        n.life = Life::Up;
        n.rm = Some(rm);
        n.running.clear();
        n.comm_up = false;
        n.heard.clear();
        n.isolated = false;
        n.shutdown_ready_at = None;
        let inc = n.inc;
        let hello = self.now + self.cfg.hello;
        let initdead = self.now + self.cfg.initdead;
        self.schedule(hello, Ev::Hello { node: i, inc });
        self.schedule(initdead, Ev::InitDead { node: i, inc });
        self.drain(i);
    }

    /// Power off: resources vanish with the machine.
    pub fn crash(&mut self, i: usize) {
        self.kill(i, Life::Down);
    }

    fn kill(&mut self, i: usize, life: Life) {
        if !self.is_up(i) {
            return;
        }
        let inc = self.nodes[i].inc;
        let n = &mut self.nodes[i];
        n.life = life;
        n.rm = None;
        n.running.clear();
        n.comm_up = false;
        n.heard.clear();
        let at = self.now + self.cfg.deadtime;
        for p in self.peers(i) {
            if self.is_up(p) && self.nodes[p].heard.contains(&i) {
                let obs_inc = self.nodes[p].inc;
                self.schedule(
                    at,
                    Ev::DeadCheck {
                        observer: p,
                        obs_inc,
                        node: i,
                        node_inc: inc,
                    },
                );
            }
        }
    }

    pub fn request(&mut self, i: usize, req: LocalRequest) {
        if let Some(rm) = self.nodes[i].rm.as_mut() {
            rm.handle_request(self.now, req);
            self.drain(i);
        }
    }

    /// Cut node `i` off from everybody; each side declares the other dead
    /// after deadtime.
    pub fn isolate(&mut self, i: usize) {
        if !self.is_up(i) || self.nodes[i].isolated {
            return;
        }
        self.nodes[i].isolated = true;
        let at = self.now + self.cfg.deadtime;
        for p in self.peers(i) {
            for (obs, node) in [(p, i), (i, p)] {
                if self.is_up(obs) && self.nodes[obs].heard.contains(&node) {
                    let obs_inc = self.nodes[obs].inc;
                    let node_inc = self.nodes[node].inc;
                    self.schedule(
                        at,
                        Ev::DeadCheck {
                            observer: obs,
                            obs_inc,
                            node,
                            node_inc,
                        },
                    );
                }
            }
        }
    }

    // ----------------------------------------------------------------
    // Running

    fn next_time(&self) -> Option<Instant> {
        let q = self.queue.peek().map(|Reverse((t, _))| *t);
        let timers = self
            .nodes
            .iter()
            .filter_map(|n| n.rm.as_ref().and_then(ResourceManager::poll_timeout));
        q.into_iter().chain(timers).min()
    }

    /// Process everything due at or before `until`; returns false if idle.
    pub fn step(&mut self, until: Instant) -> bool {
        let Some(t) = self.next_time() else {
            return false;
        };
        if t > until {
            return false;
        }
        self.now = self.now.max(t);
        self.steps += 1;
        let queued = self.queue.peek().map(|Reverse((t, id))| (*t, *id));
        match queued {
            Some((qt, id)) if qt <= t => {
                self.queue.pop();
                if let Some(ev) = self.events.remove(&id) {
                    self.process(ev);
                }
            }
            _ => {
                for i in 0..self.nodes.len() {
                    let due = self.nodes[i]
                        .rm
                        .as_ref()
                        .and_then(ResourceManager::poll_timeout)
                        .is_some_and(|d| d <= self.now);
                    if due {
                        if let Some(rm) = self.nodes[i].rm.as_mut() {
                            rm.handle_timeout(self.now);
                        }
                        self.drain(i);
                    }
                }
            }
        }
        self.check_invariant();
        true
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    pub fn run_until(&mut self, until: Instant) {
        let mut guard = 0u64;
        while self.step(until) {
            guard += 1;
            assert!(guard < 1_000_000, "simulation does not settle");
        }
        self.now = self.now.max(until);
    }

    /// Run until `pred` holds, at most `limit` of virtual time; returns the
    /// elapsed virtual time, or `None` if it never held.
    pub fn run_until_pred(
        &mut self,
        limit: Duration,
        mut pred: impl FnMut(&Sim) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        let until = start + limit;
        loop {
            if pred(self) {
                return Some(self.now - start);
            }
            if !self.step(until) {
                self.now = self.now.max(until);
                return pred(self).then(|| self.now - start);
            }
        }
    }

    fn alive_inc(&self, node: usize, inc: u32) -> bool {
        self.is_up(node) && self.nodes[node].inc == inc
    }

    fn membership(&mut self, to: usize, event: Event) {
        if let Some(rm) = self.nodes[to].rm.as_mut() {
            rm.handle_membership(self.now, &event);
            self.drain(to);
        }
    }

    fn process(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver {
                to,
                to_inc,
                from,
                from_inc,
                msg,
            } => {
                // A message from an older incarnation is a stale generation.
                if self.alive_inc(to, to_inc)
                    && self.nodes[from].inc == from_inc
                    && !self.nodes[to].isolated
                {
                    let node = self.nodes[from].name.clone();
                    self.membership(to, Event::Deliver { node, msg });
                }
            }
            Ev::Membership { to, inc, event } => {
                if self.alive_inc(to, inc) {
                    self.membership(to, event);
                }
            }
            Ev::Hello { node, inc } => self.hello(node, inc),
            Ev::InitDead { node, inc } => {
                if !self.alive_inc(node, inc) {
                    return;
                }
                for p in self.peers(node) {
                    if !self.nodes[node].heard.contains(&p) {
                        let name = self.nodes[p].name.clone();
                        self.membership(node, Event::NodeDead { node: name });
                    }
                }
                self.comm_up(node);
            }
            Ev::DeadCheck {
                observer,
                obs_inc,
                node,
                node_inc,
            } => {
                if !self.alive_inc(observer, obs_inc) {
                    return;
                }
                // A quick restart was already reported as a restart.
                let restarted = self.nodes[node].inc != node_inc && self.is_up(node);
                let cut = self.nodes[node].isolated || self.nodes[observer].isolated;
                let silent = !self.is_up(node) || cut;
                if silent && !restarted && self.nodes[observer].heard.remove(&node) {
                    let name = self.nodes[node].name.clone();
                    self.membership(observer, Event::NodeDead { node: name });
                }
            }
            Ev::AgentDone {
                node,
                inc,
                op,
                result,
            } => {
                if self.alive_inc(node, inc) {
                    if let Some(rm) = self.nodes[node].rm.as_mut() {
                        rm.handle_agent_result(self.now, op, result);
                    }
                    self.drain(node);
                }
            }
            Ev::FenceDone { node, inc, target } => {
                if self.alive_inc(node, inc) {
                    if let Some(rm) = self.nodes[node].rm.as_mut() {
                        rm.handle_fence_result(self.now, &target, true);
                    }
                    self.drain(node);
                }
            }
            Ev::Stopped { node, inc, key } => {
                if self.alive_inc(node, inc) {
                    self.nodes[node].running.remove(&key);
                }
            }
            Ev::Exit { node, inc } => {
                if self.alive_inc(node, inc) {
                    self.kill(node, Life::Down);
                }
            }
        }
    }

    fn hello(&mut self, node: usize, inc: u32) {
        if !self.alive_inc(node, inc) || self.nodes[node].isolated {
            return;
        }
        for p in self.peers(node) {
            if !self.is_up(p) || self.nodes[p].isolated {
                continue;
            }
            let name = self.nodes[node].name.clone();
            let pname = self.nodes[p].name.clone();
            let restart = self.nodes[p].heard.contains(&node);
            if restart {
                self.membership(p, Event::NodeRestarted { node: name.clone() });
            } else {
                self.nodes[p].heard.insert(node);
            }
            self.membership(
                p,
                Event::NodeStatus {
                    node: name,
                    old: NodeStatus::Dead,
                    new: NodeStatus::Active,
                },
            );
            if !self.nodes[node].heard.contains(&p) {
                self.nodes[node].heard.insert(p);
                self.membership(
                    node,
                    Event::NodeStatus {
                        node: pname,
                        old: NodeStatus::Dead,
                        new: NodeStatus::Active,
                    },
                );
            }
            if self
                .peers(p)
                .iter()
                .all(|q| self.nodes[p].heard.contains(q))
            {
                self.comm_up(p);
            }
        }
        if self
            .peers(node)
            .iter()
            .all(|q| self.nodes[node].heard.contains(q))
        {
            self.comm_up(node);
        }
    }

    fn comm_up(&mut self, node: usize) {
        if self.is_up(node) && !self.nodes[node].comm_up {
            self.nodes[node].comm_up = true;
            self.membership(node, Event::CommUp);
        }
    }

    /// Execute a node's commands.
    fn drain(&mut self, i: usize) {
        loop {
            let Some(cmd) = self.nodes[i]
                .rm
                .as_mut()
                .and_then(ResourceManager::poll_command)
            else {
                return;
            };
            let inc = self.nodes[i].inc;
            match cmd {
                Command::Log(l) => self.nodes[i].logs.push((self.now, inc, l)),
                Command::RunAgent(req) => self.run_agent(i, req),
                Command::Send(msg) => self.send(i, msg),
                Command::Fence { target, .. } => {
                    self.nodes[i].fences.push((self.now, target.clone()));
                    match target {
                        FenceTarget::Local => {
                            self.kill(i, Life::SelfFenced);
                            return;
                        }
                        FenceTarget::Node(name) => {
                            if let Some(t) = self.nodes.iter().position(|n| n.name == name) {
                                self.kill(t, Life::Down);
                            }
                            let at = self.now + self.cfg.fence_time;
                            self.schedule(
                                at,
                                Ev::FenceDone {
                                    node: i,
                                    inc,
                                    target: name,
                                },
                            );
                        }
                    }
                }
                Command::ShutdownReady => {
                    self.nodes[i].shutdown_ready_at = Some(self.now);
                    let name = self.nodes[i].name.clone();
                    let at = self.now + self.cfg.latency;
                    for p in self.peers(i) {
                        if self.is_up(p) && !self.nodes[p].isolated && !self.nodes[i].isolated {
                            let pinc = self.nodes[p].inc;
                            self.schedule(
                                at,
                                Ev::Membership {
                                    to: p,
                                    inc: pinc,
                                    event: Event::PeerShutdown { node: name.clone() },
                                },
                            );
                        }
                    }
                    let exit = self.now + self.cfg.exit_delay;
                    self.schedule(exit, Ev::Exit { node: i, inc });
                }
            }
        }
    }

    fn send(&mut self, from: usize, msg: Message) {
        self.nodes[from].sent.push((self.now, msg.clone()));
        if self.nodes[from].isolated {
            return;
        }
        let from_inc = self.nodes[from].inc;
        for to in self.peers(from) {
            if !self.is_up(to) {
                continue;
            }
            let jitter = if self.cfg.jitter.is_zero() {
                Duration::ZERO
            } else {
                let ns = self.cfg.jitter.as_nanos() as u64;
                Duration::from_nanos(self.rand() % (ns + 1))
            };
            let mut at = self.now + self.cfg.latency + jitter;
            // Membership delivers each sender's messages in seq order.
            if let Some(last) = self.link_last.get(&(from, to)) {
                at = at.max(*last);
            }
            self.link_last.insert((from, to), at);
            let to_inc = self.nodes[to].inc;
            self.schedule(
                at,
                Ev::Deliver {
                    to,
                    to_inc,
                    from,
                    from_inc,
                    msg: msg.clone(),
                },
            );
        }
    }

    fn run_agent(&mut self, i: usize, req: AgentRequest) {
        let key = (req.group, req.resource);
        let inc = self.nodes[i].inc;
        self.nodes[i]
            .agent_runs
            .push((self.now, req.group, req.resource, req.action));
        let (dur, result) = match req.action {
            Action::Status => {
                let out = if self.nodes[i].running.contains(&key) {
                    "running"
                } else {
                    "stopped"
                };
                (self.cfg.status_time, AgentResult::exited(0, out))
            }
            Action::Start => {
                if self.nodes[i].fail_start.contains(&key) {
                    (self.cfg.start_time, AgentResult::exited(1, ""))
                } else {
                    // Counted as running from the first instant of start.
                    self.nodes[i].running.insert(key);
                    (self.cfg.start_time, AgentResult::exited(0, ""))
                }
            }
            Action::Stop => {
                if self.nodes[i].fail_stop.contains(&key) {
                    (self.cfg.stop_time, AgentResult::exited(1, ""))
                } else {
                    (self.cfg.stop_time, AgentResult::exited(0, ""))
                }
            }
        };
        let at = self.now + dur;
        if req.action == Action::Stop && !self.nodes[i].fail_stop.contains(&key) {
            // Scheduled first, so it is gone before the result arrives.
            self.schedule(at, Ev::Stopped { node: i, inc, key });
        }
        self.schedule(
            at,
            Ev::AgentDone {
                node: i,
                inc,
                op: req.op,
                result,
            },
        );
    }

    // ----------------------------------------------------------------
    // Checks

    /// Groups running (any resource) on live node `i`.
    pub fn running_groups(&self, i: usize) -> BTreeSet<usize> {
        if !self.is_up(i) {
            return BTreeSet::new();
        }
        self.nodes[i].running.iter().map(|(g, _)| *g).collect()
    }

    /// Every resource of group `g` runs on node `i`.
    pub fn fully_running(&self, i: usize, g: usize) -> bool {
        self.is_up(i)
            && (0..self.cfg.groups[g].resources.len())
                .all(|r| self.nodes[i].running.contains(&(g, r)))
    }

    /// Where group `g` runs completely.
    pub fn owner(&self, g: usize) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| self.fully_running(i, g))
    }

    /// The safety invariant: a group never runs on two live machines. Dead
    /// and self-fenced machines hold nothing (they were powered off).
    pub fn check_invariant(&self) {
        for g in 0..self.cfg.groups.len() {
            let holders: Vec<&str> = (0..self.nodes.len())
                .filter(|&i| self.running_groups(i).contains(&g))
                .map(|i| self.nodes[i].name.as_str())
                .collect();
            assert!(
                holders.len() <= 1,
                "group {} runs on {:?} at +{:?}\n{}",
                self.cfg.groups[g].key(),
                holders,
                self.elapsed(),
                self.dump()
            );
        }
    }

    pub fn log_texts(&self, i: usize) -> Vec<String> {
        self.nodes[i]
            .logs
            .iter()
            .map(|(_, _, l)| l.to_string())
            .collect()
    }

    pub fn has_log(&self, i: usize, text: &str) -> bool {
        self.nodes[i].logs.iter().any(|(_, _, l)| l.text == text)
    }

    pub fn count_log(&self, i: usize, text: &str) -> usize {
        self.nodes[i]
            .logs
            .iter()
            .filter(|(_, _, l)| l.text == text)
            .count()
    }

    /// Messages node `i` sent after `since`, as `t=… name=value…` lines.
    pub fn sent_since(&self, i: usize, since: Instant) -> Vec<String> {
        self.nodes[i]
            .sent
            .iter()
            .filter(|(t, _)| *t >= since)
            .map(|(_, m)| describe(m))
            .collect()
    }

    pub fn dump(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            s.push_str(&format!(
                "== {} {:?} inc {} running {:?}\n",
                n.name, n.life, n.inc, n.running
            ));
            for (t, inc, l) in n.logs.iter().rev().take(80).rev() {
                s.push_str(&format!(
                    "  +{:?} [{inc}] {}: {l}\n",
                    *t - self.epoch,
                    l.source.as_str()
                ));
            }
            for (t, m) in n.sent.iter().rev().take(30).rev() {
                s.push_str(&format!("  +{:?} sent {}\n", *t - self.epoch, describe(m)));
            }
        }
        s
    }
}

/// `t=resource rsc_hold=none …` for assertions.
pub fn describe(m: &Message) -> String {
    m.fields()
        .iter()
        .map(|f| match &f.value {
            hb_wire::Value::Str(v) => format!("{}={}", f.name, String::from_utf8_lossy(v)),
            other => format!("{}={other:?}", f.name),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
