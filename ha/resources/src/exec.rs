//! Serial execution of resource work: what heartbeat's forked children and
//! `ResourceManager` shell functions do, as a queue of steps.
//!
//! heartbeat runs resource work in child processes and defers queued work
//! (rc.d scripts such as mach_down) until no child runs. Here every job is a
//! list of [`Step`]s and jobs run strictly one after another, one agent at a
//! time. A later job therefore never overtakes an earlier one: a `done`
//! message queued after a release is sent only once the stops finished.

use std::collections::VecDeque;
use std::time::Instant;

use hb_wire::Message;

use crate::command::{Action, AgentOutcome, AgentRequest, AgentResult, OpId};
use crate::config::{group_line, ResourceGroup, Timing};
use crate::log::{Level, Log, Source};
use crate::messages;
use crate::status::says_running;

/// One unit of queued work.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    Log(Log),
    Send(Message),
    /// `hb_send_resources_held(stable, info)` with the word current when the
    /// step runs (heartbeat's `procinfo` is shared memory).
    SendHeld {
        stable: bool,
        info: &'static str,
    },
    /// The `ask_resources info=done` ending a standby job; dropped by the
    /// protocol layer if that exchange was cancelled meanwhile.
    StandbyDone {
        epoch: u64,
        hold: crate::hold::Hold,
        /// What the job released (giving side) or acquired (taking side).
        given: crate::hold::Hold,
        acquired: crate::hold::Hold,
    },
    /// `ResourceManager takegroup`.
    Take(usize),
    /// mach_down's takegroup for a dead node's group, re-checked when it
    /// runs: skipped if that node is alive again by then.
    TakeFromDead {
        group: usize,
        node: String,
    },
    /// `ResourceManager givegroup`.
    Give(usize),
    /// `rc.d/ip-request`: give the group up if it runs here, then answer.
    GiveIfOwned {
        group: usize,
        requester: String,
    },
    Notice(Notice),
}

/// Job milestones the protocol reacts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    ReqOurResourcesDone,
    MachDownDone,
    IpRespTaken,
    ShutdownReleased,
}

/// A queued job and the environment heartbeat gives the process that would
/// run it.
#[derive(Debug)]
struct Job {
    steps: VecDeque<Step>,
    /// `HA_NICEFAILBACK=yes` for its agents: see [`Executor::enqueue_nice`].
    nice_failback: bool,
}

/// What the executor hands up to the protocol layer.
#[derive(Clone, Debug)]
pub(crate) enum Out {
    Log(Log),
    Run(AgentRequest),
    Send(Message),
    SendHeld {
        stable: bool,
        info: &'static str,
    },
    StandbyDone {
        epoch: u64,
        hold: crate::hold::Hold,
        given: crate::hold::Hold,
        acquired: crate::hold::Hold,
    },
    Notice(Notice),
    /// A start failed and the group was stopped again.
    StartFailed(usize),
    /// Every resource of the group runs (started or found running).
    TakeSucceeded(usize),
    /// A stop failed for good and the resource still runs.
    FenceLocal(String),
}

/// What heartbeat believes about one resource on this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResState {
    Stopped,
    Running,
    /// A start or stop failed or timed out: it may run.
    Unknown,
}

/// A group's state on this node, for `groups()` and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupState {
    Stopped,
    Starting,
    Started,
    Stopping,
    /// Some resources run or may run, not all.
    Partial,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Running,
    NotRunning,
    /// The status run timed out: decide for safety at each use.
    Unknown,
}

fn verdict(r: &AgentResult) -> Verdict {
    match r.outcome {
        AgentOutcome::TimedOut => Verdict::Unknown,
        // `we_own_resource` on a missing script sees empty output.
        AgentOutcome::SpawnFailed(_) => Verdict::NotRunning,
        AgentOutcome::Exited(_) | AgentOutcome::Signaled(_) => {
            if says_running(&r.stdout) {
                Verdict::Running
            } else {
                Verdict::NotRunning
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TakePhase {
    Probe,
    Start,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GivePhase {
    Stop,
    Wait(Instant),
    FinalProbe,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum AfterGive {
    Nothing,
    StartFailed,
    Answer(String),
}

/// The group operation in progress; each variant says what to issue next.
#[derive(Clone, Debug)]
enum Active {
    Take {
        g: usize,
        i: usize,
        phase: TakePhase,
    },
    Give {
        g: usize,
        /// Position in the right-to-left order.
        pos: usize,
        retries: u32,
        phase: GivePhase,
        then: AfterGive,
    },
    ProbeKey {
        g: usize,
        requester: String,
    },
}

enum Issue {
    /// An agent runs or a timer waits.
    Blocked(Active),
    Finished,
}

pub(crate) struct Executor {
    groups: Vec<ResourceGroup>,
    timing: Timing,
    res: Vec<Vec<ResState>>,
    queue: VecDeque<Job>,
    /// The job whose steps run now has `HA_NICEFAILBACK` set.
    job_nice: bool,
    cur: Option<Active>,
    /// The agent run we wait for.
    pending: Option<OpId>,
    next_op: u64,
    out: VecDeque<Out>,
    /// A local fence was requested: finish the current group's stops, then
    /// run nothing else.
    halted: bool,
}

impl Executor {
    pub(crate) fn new(groups: Vec<ResourceGroup>, timing: Timing) -> Executor {
        let res = groups
            .iter()
            .map(|g| vec![ResState::Stopped; g.resources.len()])
            .collect();
        Executor {
            groups,
            timing,
            res,
            queue: VecDeque::new(),
            job_nice: false,
            cur: None,
            pending: None,
            next_op: 1,
            out: VecDeque::new(),
            halted: false,
        }
    }

    pub(crate) fn enqueue(&mut self, job: Vec<Step>) {
        self.push_job(job, false);
    }

    /// A job heartbeat runs with `HA_NICEFAILBACK=yes` in its environment:
    /// with nice_failback on, `req_our_resources` (our groups at boot and
    /// after a takeover, through `req_resource` and `rc.d/ip-request-resp`)
    /// and `mach_down` (through `notify_world`). Standby moves (`go_standby`)
    /// and the shutdown release (`hb_giveup_resources`) run without it.
    pub(crate) fn enqueue_nice(&mut self, job: Vec<Step>) {
        self.push_job(job, true);
    }

    fn push_job(&mut self, steps: Vec<Step>, nice_failback: bool) {
        if !self.halted && !steps.is_empty() {
            self.queue.push_back(Job {
                steps: steps.into(),
                nice_failback,
            });
        }
    }

    /// No job queued or running.
    pub(crate) fn idle(&self) -> bool {
        self.queue.is_empty() && self.cur.is_none() && self.pending.is_none()
    }

    pub(crate) fn pop_out(&mut self) -> Option<Out> {
        self.out.pop_front()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match (&self.cur, self.pending) {
            (
                Some(Active::Give {
                    phase: GivePhase::Wait(t),
                    ..
                }),
                None,
            ) => Some(*t),
            _ => None,
        }
    }

    pub(crate) fn resource_states(&self, g: usize) -> &[ResState] {
        self.res.get(g).map_or(&[], Vec::as_slice)
    }

    /// Any resource of the group runs or may run here.
    pub(crate) fn group_active(&self, g: usize) -> bool {
        self.resource_states(g)
            .iter()
            .any(|s| *s != ResState::Stopped)
    }

    /// The group runs or may run here, or a queued or running take will
    /// start it: what this node must claim in its reports.
    pub(crate) fn claims(&self, g: usize) -> bool {
        if self.group_active(g) {
            return true;
        }
        if matches!(self.cur, Some(Active::Take { g: cg, .. }) if cg == g) {
            return true;
        }
        self.queue
            .iter()
            .flat_map(|j| &j.steps)
            .any(|step| match step {
                Step::Take(x) => *x == g,
                Step::TakeFromDead { group, .. } => *group == g,
                _ => false,
            })
    }

    pub(crate) fn group_state(&self, g: usize) -> GroupState {
        match &self.cur {
            Some(Active::Take { g: cg, .. }) if *cg == g => return GroupState::Starting,
            Some(Active::Give { g: cg, .. }) if *cg == g => return GroupState::Stopping,
            _ => {}
        }
        let states = self.resource_states(g);
        if states.iter().all(|s| *s == ResState::Stopped) {
            GroupState::Stopped
        } else if states.iter().all(|s| *s == ResState::Running) {
            GroupState::Started
        } else {
            GroupState::Partial
        }
    }

    fn log(&mut self, level: Level, text: impl Into<String>) {
        self.out
            .push_back(Out::Log(Log::new(level, Source::ResourceManager, text)));
    }

    fn raw(&self, g: usize, i: usize) -> String {
        self.groups
            .get(g)
            .and_then(|s| s.resources.get(i))
            .map_or_else(String::new, |r| r.raw.clone())
    }

    fn len(&self, g: usize) -> usize {
        self.groups.get(g).map_or(0, |s| s.resources.len())
    }

    fn set(&mut self, g: usize, i: usize, st: ResState) {
        if let Some(slot) = self.res.get_mut(g).and_then(|v| v.get_mut(i)) {
            *slot = st;
        }
    }

    /// Make as much progress as possible without waiting.
    ///
    /// `alive` tells whether a peer is alive now, for steps that must be
    /// re-checked when they finally run (the queue can lag far behind).
    pub(crate) fn advance(&mut self, now: Instant, alive: &dyn Fn(&str) -> bool) {
        while self.pending.is_none() {
            if let Some(active) = self.cur.take() {
                match self.issue(active, now) {
                    Issue::Blocked(a) => {
                        self.cur = Some(a);
                        return;
                    }
                    Issue::Finished => continue,
                }
            }
            if self.halted {
                self.queue.clear();
                return;
            }
            let Some(step) = self.next_step() else {
                return;
            };
            self.begin(step, alive);
        }
    }

    fn next_step(&mut self) -> Option<Step> {
        loop {
            let job = self.queue.front_mut()?;
            if let Some(step) = job.steps.pop_front() {
                self.job_nice = job.nice_failback;
                return Some(step);
            }
            self.queue.pop_front();
        }
    }

    fn begin(&mut self, step: Step, alive: &dyn Fn(&str) -> bool) {
        match step {
            Step::Log(l) => self.out.push_back(Out::Log(l)),
            Step::Send(m) => self.out.push_back(Out::Send(m)),
            Step::SendHeld { stable, info } => self.out.push_back(Out::SendHeld { stable, info }),
            Step::StandbyDone {
                epoch,
                hold,
                given,
                acquired,
            } => self.out.push_back(Out::StandbyDone {
                epoch,
                hold,
                given,
                acquired,
            }),
            Step::Notice(n) => self.out.push_back(Out::Notice(n)),
            Step::Take(g) if g < self.groups.len() => {
                let line = group_line(&self.groups[g]);
                self.log(Level::Info, format!("Acquiring resource group: {line}"));
                self.cur = Some(Active::Take {
                    g,
                    i: 0,
                    phase: TakePhase::Probe,
                });
            }
            Step::TakeFromDead { group, node } if group < self.groups.len() => {
                if alive(&node) {
                    let key = self.groups[group].key().to_string();
                    self.out.push_back(Out::Log(Log::new(
                        Level::Info,
                        Source::MachDown,
                        format!("{node} is alive again; not taking over resource group {key}"),
                    )));
                } else {
                    self.begin(Step::Take(group), alive);
                }
            }
            Step::Give(g) if g < self.groups.len() => self.begin_give(g, AfterGive::Nothing),
            Step::GiveIfOwned { requester, .. } if !alive(&requester) => {}
            Step::GiveIfOwned { group, requester } if group < self.groups.len() => {
                self.cur = Some(Active::ProbeKey {
                    g: group,
                    requester,
                });
            }
            // Indices come from the protocol layer, which only uses valid
            // ones; anything else is dropped rather than trusted.
            Step::Take(_)
            | Step::TakeFromDead { .. }
            | Step::Give(_)
            | Step::GiveIfOwned { .. } => {}
        }
    }

    fn begin_give(&mut self, g: usize, then: AfterGive) {
        let line = self.groups.get(g).map(group_line).unwrap_or_default();
        self.log(Level::Info, format!("Releasing resource group: {line}"));
        self.cur = Some(Active::Give {
            g,
            pos: 0,
            retries: 0,
            phase: GivePhase::Stop,
            then,
        });
    }

    fn run(&mut self, g: usize, i: usize, action: Action) {
        let op = OpId(self.next_op);
        self.next_op += 1;
        let timeout = match action {
            Action::Start => self.timing.start_timeout,
            Action::Stop => self.timing.stop_timeout,
            Action::Status => self.timing.status_timeout,
        };
        self.pending = Some(op);
        self.out.push_back(Out::Run(AgentRequest {
            op,
            group: g,
            resource: i,
            action,
            timeout,
            nice_failback: self.job_nice,
        }));
    }

    fn issue(&mut self, active: Active, now: Instant) -> Issue {
        match active {
            Active::Take { g, i, phase } => {
                if i >= self.len(g) {
                    self.out.push_back(Out::TakeSucceeded(g));
                    return Issue::Finished;
                }
                let action = match phase {
                    TakePhase::Probe => Action::Status,
                    TakePhase::Start => Action::Start,
                };
                self.run(g, i, action);
                Issue::Blocked(active)
            }
            Active::Give {
                g,
                pos,
                retries,
                phase,
                ref then,
            } => {
                let n = self.len(g);
                if pos >= n {
                    let then = then.clone();
                    self.finish_give(g, then);
                    return Issue::Finished;
                }
                let i = n - 1 - pos;
                match phase {
                    GivePhase::Stop => self.run(g, i, Action::Stop),
                    GivePhase::FinalProbe => self.run(g, i, Action::Status),
                    GivePhase::Wait(t) if now < t => return Issue::Blocked(active),
                    GivePhase::Wait(_) => {
                        let raw = self.raw(g, i);
                        self.log(
                            Level::Info,
                            format!("Retrying failed stop operation [{raw}]"),
                        );
                        self.run(g, i, Action::Stop);
                        return Issue::Blocked(Active::Give {
                            g,
                            pos,
                            retries: retries + 1,
                            phase: GivePhase::Stop,
                            then: then.clone(),
                        });
                    }
                }
                Issue::Blocked(active)
            }
            Active::ProbeKey { g, .. } => {
                self.run(g, 0, Action::Status);
                Issue::Blocked(active)
            }
        }
    }

    fn finish_give(&mut self, g: usize, then: AfterGive) {
        if self.halted {
            return;
        }
        match then {
            AfterGive::Nothing => {}
            AfterGive::StartFailed => self.out.push_back(Out::StartFailed(g)),
            AfterGive::Answer(requester) => {
                let key = self
                    .groups
                    .get(g)
                    .map(|s| s.key().to_string())
                    .unwrap_or_default();
                self.out
                    .push_back(Out::Send(messages::ip_request_resp(&requester, &key, true)));
            }
        }
    }

    /// Feed an agent result; returns false if `op` is not the running one.
    pub(crate) fn handle_result(&mut self, now: Instant, op: OpId, result: &AgentResult) -> bool {
        if self.pending != Some(op) {
            return false;
        }
        self.pending = None;
        let Some(active) = self.cur.take() else {
            return true;
        };
        self.cur = self.after_result(active, result, now);
        true
    }

    fn after_result(&mut self, active: Active, r: &AgentResult, now: Instant) -> Option<Active> {
        match active {
            Active::Take {
                g,
                i,
                phase: TakePhase::Probe,
            } => {
                if verdict(r) == Verdict::Running {
                    self.set(g, i, ResState::Running);
                    Some(Active::Take {
                        g,
                        i: i + 1,
                        phase: TakePhase::Probe,
                    })
                } else {
                    // A timed-out probe proves nothing; starting a running
                    // LSB resource is harmless, skipping a stopped one is not.
                    Some(Active::Take {
                        g,
                        i,
                        phase: TakePhase::Start,
                    })
                }
            }
            Active::Take {
                g,
                i,
                phase: TakePhase::Start,
            } => {
                if r.succeeded() {
                    self.set(g, i, ResState::Running);
                    Some(Active::Take {
                        g,
                        i: i + 1,
                        phase: TakePhase::Probe,
                    })
                } else {
                    self.set(g, i, ResState::Unknown);
                    let raw = self.raw(g, i);
                    self.log(
                        Level::Crit,
                        format!("Giving up resources due to failure of {raw}"),
                    );
                    self.begin_give(g, AfterGive::StartFailed);
                    self.cur.take()
                }
            }
            Active::Give {
                g,
                pos,
                retries,
                phase,
                then,
            } => {
                let i = self.len(g).saturating_sub(pos + 1);
                let next = |phase, pos, retries, then| Active::Give {
                    g,
                    pos,
                    retries,
                    phase,
                    then,
                };
                if phase == GivePhase::FinalProbe {
                    return Some(self.after_final_probe(
                        g,
                        i,
                        r,
                        next(GivePhase::Stop, pos + 1, 0, then),
                    ));
                }
                if r.succeeded() {
                    self.set(g, i, ResState::Stopped);
                    return Some(next(GivePhase::Stop, pos + 1, 0, then));
                }
                self.set(g, i, ResState::Unknown);
                let max = self.timing.stop_retries;
                if max == 0 || retries < max {
                    let at = now + self.timing.stop_retry_interval;
                    Some(next(GivePhase::Wait(at), pos, retries, then))
                } else {
                    Some(next(GivePhase::FinalProbe, pos, retries, then))
                }
            }
            Active::ProbeKey { g, requester } => {
                let owned = verdict(r) != Verdict::NotRunning || self.group_active(g);
                if owned {
                    self.begin_give(g, AfterGive::Answer(requester));
                    self.cur.take()
                } else {
                    let key = self
                        .groups
                        .get(g)
                        .map(|s| s.key().to_string())
                        .unwrap_or_default();
                    self.out.push_back(Out::Send(messages::ip_request_resp(
                        &requester, &key, false,
                    )));
                    None
                }
            }
        }
    }

    /// ResourceManager after the last failed stop: does `status` still say
    /// the resource is ours?
    fn after_final_probe(&mut self, g: usize, i: usize, r: &AgentResult, next: Active) -> Active {
        let raw = self.raw(g, i);
        if verdict(r) == Verdict::NotRunning {
            self.set(g, i, ResState::Stopped);
            self.log(
                Level::Error,
                format!("Resource script for {raw} probably not LSB-compliant."),
            );
            self.log(
                Level::Warn,
                format!("it ({raw}) MUST succeed on a stop when already stopped"),
            );
            self.log(Level::Warn, "Machine reboot narrowly avoided!");
        } else {
            // Running, or a status that timed out: assume the worst.
            self.set(g, i, ResState::Unknown);
            self.log(Level::Crit, "Resource STOP failure. Reboot required!");
            self.log(Level::Crit, "Killing heartbeat ungracefully!");
            self.out.push_back(Out::FenceLocal(format!(
                "stop of {raw} failed {} times and it still runs",
                self.timing.stop_retries + 1
            )));
            self.halted = true;
            self.queue.clear();
        }
        next
    }
}
