//! Agent time limits (heartbeat has none; see `Timing`): every request
//! carries its action's limit, and a run the shell reports as timed out is
//! judged for safety: a probe proves nothing (start anyway), a start or stop
//! failed, a final `status` after failed stops means "still running".
//! A lone node is driven by hand; `answer` decides every agent result.

use std::time::{Duration, Instant};

use hb_membership::Event;
use hb_resources::{
    group, Action, AgentOutcome, AgentRequest, AgentResult, AutoFailback, Command, Config,
    FenceTarget, ResourceManager, Timing,
};

struct Lone {
    rm: ResourceManager,
    now: Instant,
    runs: Vec<AgentRequest>,
    logs: Vec<String>,
    fenced: bool,
}

fn timed_out() -> AgentResult {
    AgentResult {
        outcome: AgentOutcome::TimedOut,
        stdout: String::new(),
    }
}

impl Lone {
    fn boot() -> Lone {
        let now = Instant::now();
        let cfg = Config {
            local: "node1".into(),
            nodes: vec!["node1".into()],
            groups: vec![group(
                "node1",
                &["IPaddr::192.0.2.50/24/eth0", "hbtest::alpha"],
            )],
            auto_failback: AutoFailback::On,
            stonith: false,
            isolation_ping_nodes: Vec::new(),
            timing: Timing::default(),
        };
        Lone {
            rm: ResourceManager::new(cfg, now).expect("valid config"),
            now,
            runs: Vec::new(),
            logs: Vec::new(),
            fenced: false,
        }
    }

    /// Feed Comm_now_up, then answer agents with `answer` and run timers
    /// until nothing is left to do (or 60 s of virtual time pass).
    fn run(&mut self, mut answer: impl FnMut(&AgentRequest, usize) -> AgentResult) {
        self.rm.handle_membership(self.now, &Event::CommUp);
        let until = self.now + Duration::from_secs(60);
        loop {
            while let Some(cmd) = self.rm.poll_command() {
                match cmd {
                    Command::RunAgent(req) => {
                        let nth = self.runs.iter().filter(|r| **r == req).count();
                        let result = answer(&req, nth);
                        self.runs.push(req.clone());
                        self.rm.handle_agent_result(self.now, req.op, result);
                    }
                    Command::Log(l) => self.logs.push(l.text),
                    Command::Fence {
                        target: FenceTarget::Local,
                        ..
                    } => self.fenced = true,
                    _ => {}
                }
            }
            match self.rm.poll_timeout() {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.rm.handle_timeout(self.now);
                }
                _ => return,
            }
        }
    }

    fn actions(&self) -> Vec<(usize, Action)> {
        self.runs.iter().map(|r| (r.resource, r.action)).collect()
    }
}

#[test]
fn every_request_carries_its_actions_limit() {
    let mut n = Lone::boot();
    n.run(|req, _| match req.action {
        Action::Status => AgentResult::exited(0, "stopped"),
        _ => AgentResult::exited(0, ""),
    });
    let t = Timing::default();
    assert!(!n.runs.is_empty());
    for r in &n.runs {
        let want = match r.action {
            Action::Start => t.start_timeout,
            Action::Stop => t.stop_timeout,
            Action::Status => t.status_timeout,
        };
        assert_eq!(r.timeout, want, "{r:?}");
    }
}

#[test]
fn a_timed_out_probe_does_not_skip_the_start() {
    let mut n = Lone::boot();
    n.run(|req, _| match req.action {
        Action::Status => timed_out(),
        _ => AgentResult::exited(0, ""),
    });
    assert_eq!(
        n.actions(),
        [
            (0, Action::Status),
            (0, Action::Start),
            (1, Action::Status),
            (1, Action::Start)
        ]
    );
    assert!(n.rm.is_stable(), "{:#?}", n.logs);
}

#[test]
fn a_timed_out_start_fails_the_group_and_stops_it_right_to_left() {
    let mut n = Lone::boot();
    n.run(|req, _| match (req.resource, req.action) {
        (_, Action::Status) => AgentResult::exited(0, "stopped"),
        (1, Action::Start) => timed_out(),
        _ => AgentResult::exited(0, ""),
    });
    assert_eq!(
        &n.actions()[..6],
        [
            (0, Action::Status),
            (0, Action::Start),
            (1, Action::Status),
            (1, Action::Start),
            (1, Action::Stop),
            (0, Action::Stop),
        ]
    );
    assert!(n
        .logs
        .iter()
        .any(|l| l == "Giving up resources due to failure of hbtest::alpha"));
    assert!(!n.fenced);
}

#[test]
fn stops_that_keep_timing_out_end_in_a_local_fence() {
    let mut n = Lone::boot();
    n.run(|req, nth| match req.action {
        // Running once started; the final status after the failed stops
        // times out too, which must count as "still running".
        Action::Status if nth == 0 => AgentResult::exited(0, "stopped"),
        Action::Status => timed_out(),
        Action::Start => AgentResult::exited(0, ""),
        Action::Stop => timed_out(),
    });
    // Nothing fails until we stop: ask for it.
    assert!(!n.fenced);
    n.rm.handle_request(n.now, hb_resources::LocalRequest::Shutdown);
    n.run(|req, _| match req.action {
        Action::Status => timed_out(),
        Action::Start => AgentResult::exited(0, ""),
        Action::Stop => timed_out(),
    });
    let stops = n
        .runs
        .iter()
        .filter(|r| r.resource == 1 && r.action == Action::Stop)
        .count();
    assert_eq!(
        stops,
        1 + Timing::default().stop_retries as usize,
        "{:#?}",
        n.logs
    );
    assert!(n.fenced, "{:#?}", n.logs);
    assert!(n
        .logs
        .iter()
        .any(|l| l == "Resource STOP failure. Reboot required!"));
}
