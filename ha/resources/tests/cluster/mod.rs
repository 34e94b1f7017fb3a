//! Two resource managers on top of two real `Membership` cores, wired
//! through `hb_membership::sim` (virtual time, 1 ms steps). The resource
//! agents are the same real-world model as in `tests/sim`: a start makes a
//! resource run from its first instant, a stop ends it when it returns.
//! After every step: no group runs on two live nodes.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hb_membership::sim::{cluster_configs, Sim as MSim, Timing as MTiming};
use hb_membership::{Event, NodeStatus};
use hb_resources::{
    group, Action, AgentRequest, AgentResult, AutoFailback, Command, Config, FenceTarget,
    LocalRequest, Log, OpId, ResourceGroup, ResourceManager, Timing,
};
use hb_wire::Message;

pub const N1: usize = 0;
pub const N2: usize = 1;
pub const NAMES: [&str; 2] = ["node1", "node2"];

pub fn groups() -> Vec<ResourceGroup> {
    vec![
        group(
            "node1",
            &["IPaddr::192.0.2.50/24/eth0", "hbtest::alpha::beta"],
        ),
        group("node2", &["IPaddr::192.0.2.60/24/eth0", "hbtest::gamma"]),
    ]
}

struct Job {
    at: Duration,
    node: usize,
    life: u32,
    what: JobKind,
}

enum JobKind {
    Agent {
        op: OpId,
        result: AgentResult,
        stops: Option<(usize, usize)>,
    },
    FenceDone {
        target: String,
    },
}

pub struct Node {
    pub rm: Option<ResourceManager>,
    /// Bumped at every boot and power-off, to drop stale completions.
    life: u32,
    started_once: bool,
    seen: usize,
    pub running: BTreeSet<(usize, usize)>,
    pub fail_start: BTreeSet<(usize, usize)>,
    pub fail_stop: BTreeSet<(usize, usize)>,
    pub logs: Vec<(Duration, Log)>,
    pub sent: Vec<(Duration, Message)>,
    /// Every agent run asked for, in order.
    pub runs: Vec<(Duration, AgentRequest)>,
    pub fenced: bool,
}

pub struct Cluster {
    pub ms: MSim,
    pub nodes: Vec<Node>,
    afb: AutoFailback,
    stonith: bool,
    jobs: Vec<Job>,
    pub agent_time: Duration,
    /// Virtual time per step (resource managers react at this granularity).
    pub step_size: Duration,
    isolated: Option<usize>,
    /// `Config::isolation_ping_nodes` of the nodes booted from now on.
    pub isolation_ping_nodes: Vec<String>,
}

impl Cluster {
    /// ka 1 s, deadtime 3 s, warntime 2 s, initdead 6 s: the reference
    /// cluster's ha.cf.
    pub fn new(afb: AutoFailback, stonith: bool, seed: u64) -> Cluster {
        let timing = MTiming::ms(1000, 3000, 2000, 6000);
        let ms = MSim::new(cluster_configs(&NAMES, timing, 1, seed), seed);
        let nodes = (0..2)
            .map(|_| Node {
                rm: None,
                life: 0,
                started_once: false,
                seen: 0,
                running: BTreeSet::new(),
                fail_start: BTreeSet::new(),
                fail_stop: BTreeSet::new(),
                logs: Vec::new(),
                sent: Vec::new(),
                runs: Vec::new(),
                fenced: false,
            })
            .collect();
        Cluster {
            ms,
            nodes,
            afb,
            stonith,
            jobs: Vec::new(),
            agent_time: Duration::from_millis(100),
            step_size: Duration::from_millis(1),
            isolated: None,
            isolation_ping_nodes: Vec::new(),
        }
    }

    fn instant(&self) -> Instant {
        self.ms.instant(self.ms.now())
    }

    pub fn now(&self) -> Duration {
        self.ms.now()
    }

    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].rm.is_some()
    }

    pub fn rm(&self, i: usize) -> &ResourceManager {
        self.nodes[i].rm.as_ref().expect("node is up")
    }

    pub fn boot(&mut self, i: usize) {
        if self.is_up(i) {
            return;
        }
        let cfg = Config {
            local: NAMES[i].to_string(),
            nodes: NAMES.iter().map(|s| s.to_string()).collect(),
            groups: groups(),
            auto_failback: self.afb,
            stonith: self.stonith,
            isolation_ping_nodes: self.isolation_ping_nodes.clone(),
            timing: Timing::default(),
        };
        let rm = ResourceManager::new(cfg, self.instant()).expect("valid config");
        if self.isolated == Some(i) {
            self.isolated = None;
            self.ms.heal();
        }
        let n = &mut self.nodes[i];
        n.rm = Some(rm);
        n.life += 1;
        n.running.clear();
        n.fenced = false;
        if std::mem::replace(&mut n.started_once, true) {
            self.ms.restart(i);
        } else {
            self.ms.start(i);
        }
        self.nodes[i].seen = self.ms.node(i).events.len();
        self.drain(i);
    }

    /// Power off: the machine and its resources are gone.
    pub fn crash(&mut self, i: usize) {
        self.ms.crash(i);
        let n = &mut self.nodes[i];
        n.rm = None;
        n.life += 1;
        n.running.clear();
    }

    /// Cut node `i` off from the others until it boots again.
    pub fn isolate(&mut self, i: usize) {
        if self.isolated.is_none() {
            self.isolated = Some(i);
            let others: Vec<usize> = (0..self.nodes.len()).filter(|&j| j != i).collect();
            self.ms.partition(&[i], &others);
        }
    }

    /// Membership's verdict on a ping node as node `i` sees it (the sim has
    /// no ICMP): `NodeStatus` to `ping` (answers) or `dead`.
    pub fn ping_node(&mut self, i: usize, name: &str, answers: bool) {
        let now = self.instant();
        let (old, new) = if answers {
            (NodeStatus::Dead, NodeStatus::Ping)
        } else {
            (NodeStatus::Ping, NodeStatus::Dead)
        };
        let ev = Event::NodeStatus {
            node: name.to_string(),
            old,
            new,
        };
        if let Some(rm) = self.nodes[i].rm.as_mut() {
            rm.handle_membership(now, &ev);
        }
        self.drain(i);
    }

    pub fn request(&mut self, i: usize, req: LocalRequest) {
        let now = self.instant();
        if let Some(rm) = self.nodes[i].rm.as_mut() {
            rm.handle_request(now, req);
        }
        self.drain(i);
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now() + d;
        while self.now() < until {
            self.step();
        }
    }

    /// Run until `pred` holds or `limit` passes; the time it took.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut pred: impl FnMut(&Cluster) -> bool,
    ) -> Option<Duration> {
        let start = self.now();
        while self.now() - start < limit {
            if pred(self) {
                return Some(self.now() - start);
            }
            self.step();
        }
        pred(self).then(|| self.now() - start)
    }

    fn step(&mut self) {
        let next = self.now() + self.step_size;
        self.ms.run_until(next);
        for i in 0..self.nodes.len() {
            self.feed_events(i);
        }
        self.run_jobs();
        for i in 0..self.nodes.len() {
            let now = self.instant();
            let due = self.nodes[i]
                .rm
                .as_ref()
                .and_then(ResourceManager::poll_timeout)
                .is_some_and(|t| t <= now);
            if due {
                if let Some(rm) = self.nodes[i].rm.as_mut() {
                    rm.handle_timeout(now);
                }
                self.drain(i);
            }
        }
        self.check_invariant();
    }

    fn feed_events(&mut self, i: usize) {
        let events: Vec<(Duration, Event)> = self.ms.node(i).events[self.nodes[i].seen..].to_vec();
        self.nodes[i].seen += events.len();
        for (t, ev) in events {
            if matches!(ev, Event::ShutdownComplete) {
                // The process ends; nothing of it runs any more.
                self.nodes[i].rm = None;
                self.nodes[i].life += 1;
                continue;
            }
            let at = self.ms.instant(t);
            if let Some(rm) = self.nodes[i].rm.as_mut() {
                rm.handle_membership(at, &ev);
            }
            self.drain(i);
        }
    }

    fn run_jobs(&mut self) {
        let now = self.now();
        let (due, later): (Vec<Job>, Vec<Job>) = std::mem::take(&mut self.jobs)
            .into_iter()
            .partition(|j| j.at <= now);
        self.jobs = later;
        let at = self.instant();
        for job in due {
            if self.nodes[job.node].life != job.life {
                continue;
            }
            match job.what {
                JobKind::Agent { op, result, stops } => {
                    if let Some(key) = stops {
                        self.nodes[job.node].running.remove(&key);
                    }
                    if let Some(rm) = self.nodes[job.node].rm.as_mut() {
                        rm.handle_agent_result(at, op, result);
                    }
                }
                JobKind::FenceDone { target } => {
                    if let Some(rm) = self.nodes[job.node].rm.as_mut() {
                        rm.handle_fence_result(at, &target, true);
                    }
                }
            }
            self.drain(job.node);
        }
    }

    fn drain(&mut self, i: usize) {
        loop {
            let Some(cmd) = self.nodes[i]
                .rm
                .as_mut()
                .and_then(ResourceManager::poll_command)
            else {
                return;
            };
            let now = self.now();
            match cmd {
                Command::Log(l) => self.nodes[i].logs.push((now, l)),
                Command::Send(msg) => {
                    self.nodes[i].sent.push((now, msg.clone()));
                    self.ms.send(i, msg);
                }
                Command::RunAgent(req) => self.agent(i, req),
                Command::ShutdownReady => self.ms.shutdown(i),
                Command::Fence {
                    target: FenceTarget::Local,
                    ..
                } => {
                    self.crash(i);
                    self.nodes[i].fenced = true;
                    return;
                }
                Command::Fence {
                    target: FenceTarget::Node(name),
                    ..
                } => {
                    if let Some(t) = NAMES.iter().position(|n| *n == name) {
                        self.crash(t);
                    }
                    let life = self.nodes[i].life;
                    self.jobs.push(Job {
                        at: now + Duration::from_secs(1),
                        node: i,
                        life,
                        what: JobKind::FenceDone { target: name },
                    });
                }
            }
        }
    }

    fn agent(&mut self, i: usize, req: AgentRequest) {
        let now = self.now();
        self.nodes[i].runs.push((now, req.clone()));
        let key = (req.group, req.resource);
        let n = &mut self.nodes[i];
        let mut stops = None;
        let result = match req.action {
            Action::Status => AgentResult::exited(
                0,
                if n.running.contains(&key) {
                    "running"
                } else {
                    "stopped"
                },
            ),
            Action::Start if n.fail_start.contains(&key) => AgentResult::exited(1, ""),
            Action::Start => {
                n.running.insert(key);
                AgentResult::exited(0, "")
            }
            Action::Stop if n.fail_stop.contains(&key) => AgentResult::exited(1, ""),
            Action::Stop => {
                stops = Some(key);
                AgentResult::exited(0, "")
            }
        };
        let life = n.life;
        let at = self.now() + self.agent_time;
        self.jobs.push(Job {
            at,
            node: i,
            life,
            what: JobKind::Agent {
                op: req.op,
                result,
                stops,
            },
        });
    }

    pub fn fully_running(&self, i: usize, g: usize) -> bool {
        self.is_up(i)
            && (0..groups()[g].resources.len()).all(|r| self.nodes[i].running.contains(&(g, r)))
    }

    /// Every group runs on its home node (group `i` on node `i`, as
    /// [`groups`] lists them) and both managers are stable: a pair that has
    /// settled after booting together.
    pub fn at_home(&self) -> bool {
        (0..groups().len()).all(|g| self.owner(g) == Some(g))
            && (0..self.nodes.len()).all(|i| self.rm(i).is_stable())
    }

    pub fn owner(&self, g: usize) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| self.fully_running(i, g))
    }

    pub fn check_invariant(&self) {
        for g in 0..groups().len() {
            let holders: Vec<&str> = (0..self.nodes.len())
                .filter(|&i| self.is_up(i) && self.nodes[i].running.iter().any(|(x, _)| *x == g))
                .map(|i| NAMES[i])
                .collect();
            assert!(
                holders.len() <= 1,
                "group {g} runs on {holders:?} at {:?}\n{}",
                self.now(),
                self.dump()
            );
        }
    }

    pub fn has_log(&self, i: usize, text: &str) -> bool {
        self.nodes[i].logs.iter().any(|(_, l)| l.text == text)
    }

    pub fn dump(&self) -> String {
        let mut s = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            s.push_str(&format!(
                "== {} up={} running {:?}\n",
                NAMES[i],
                n.rm.is_some(),
                n.running
            ));
            for (t, l) in n.logs.iter().rev().take(60).rev() {
                s.push_str(&format!("  {t:?} {}: {l}\n", l.source.as_str()));
            }
            for (t, m) in n.sent.iter().rev().take(30).rev() {
                let d: Vec<String> = m
                    .fields()
                    .iter()
                    .map(|f| match &f.value {
                        hb_wire::Value::Str(v) => {
                            format!("{}={}", f.name, String::from_utf8_lossy(v))
                        }
                        other => format!("{}={other:?}", f.name),
                    })
                    .collect();
                s.push_str(&format!("  {t:?} sent {}\n", d.join(" ")));
            }
        }
        s
    }
}
