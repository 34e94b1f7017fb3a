//! A node booting alone: membership declares the silent peer dead at
//! initdead and raises Comm_now_up in the same instant, in an order the
//! resource manager must not depend on. Driven by hand (no simulator), with
//! every agent answering at once, so jobs without agent work (the peer owns
//! no group) finish inside the very call that queued them.

use std::time::{Duration, Instant};

use hb_membership::Event;
use hb_resources::{
    group, Action, AgentResult, AutoFailback, Command, Config, Hold, ResourceGroup,
    ResourceManager, RscStatus, Timing,
};

struct Node {
    rm: ResourceManager,
    now: Instant,
    running: Vec<(usize, usize)>,
    sent: Vec<String>,
    logs: Vec<String>,
}

impl Node {
    fn new(afb: AutoFailback, groups: Vec<ResourceGroup>) -> Node {
        let now = Instant::now();
        let cfg = Config {
            local: "node1".into(),
            nodes: vec!["node1".into(), "node2".into()],
            groups,
            auto_failback: afb,
            stonith: false,
            isolation_ping_nodes: Vec::new(),
            timing: Timing::default(),
        };
        Node {
            rm: ResourceManager::new(cfg, now).expect("valid config"),
            now,
            running: Vec::new(),
            sent: Vec::new(),
            logs: Vec::new(),
        }
    }

    /// Execute commands until none is left; agents answer at once.
    fn drain(&mut self) {
        while let Some(cmd) = self.rm.poll_command() {
            match cmd {
                Command::RunAgent(req) => {
                    let key = (req.group, req.resource);
                    let result = match req.action {
                        Action::Status if self.running.contains(&key) => {
                            AgentResult::exited(0, "running")
                        }
                        Action::Status => AgentResult::exited(0, "stopped"),
                        Action::Start => {
                            self.running.push(key);
                            AgentResult::exited(0, "")
                        }
                        Action::Stop => {
                            self.running.retain(|k| *k != key);
                            AgentResult::exited(0, "")
                        }
                    };
                    self.rm.handle_agent_result(self.now, req.op, result);
                }
                Command::Send(m) => self.sent.push(m.msg_type().unwrap_or("").to_string()),
                Command::Log(l) => self.logs.push(l.text),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn event(&mut self, ev: Event) {
        self.rm.handle_membership(self.now, &ev);
        self.drain();
    }

    /// Advance virtual time through every deadline up to `d` from now.
    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while let Some(t) = self.rm.poll_timeout().filter(|t| *t <= until) {
            self.now = self.now.max(t);
            self.rm.handle_timeout(self.now);
            self.drain();
        }
        self.now = until;
    }
}

fn dead() -> Event {
    Event::NodeDead {
        node: "node2".into(),
    }
}

fn only_node1_has_a_group() -> Vec<ResourceGroup> {
    vec![group("node1", &["IPaddr::192.0.2.50/24/eth0"])]
}

fn both_have_groups() -> Vec<ResourceGroup> {
    vec![
        group("node1", &["IPaddr::192.0.2.50/24/eth0"]),
        group("node2", &["IPaddr::192.0.2.60/24/eth0"]),
    ]
}

/// Initdead in either order: every group runs here and the node settles
/// (`rscstatus` leaves `transition`) after RQSTDELAY.
fn alone_settles(afb: AutoFailback, groups: Vec<ResourceGroup>, dead_first: bool) -> Node {
    let n_groups = groups.len();
    let mut n = Node::new(afb, groups);
    if dead_first {
        n.event(dead());
        n.event(Event::CommUp);
    } else {
        n.event(Event::CommUp);
        n.event(dead());
    }
    n.run_for(Duration::from_secs(12));
    let mut groups_up: Vec<usize> = n.running.iter().map(|(g, _)| *g).collect();
    groups_up.dedup();
    assert_eq!(groups_up.len(), n_groups, "{:#?}", n.logs);
    assert!(n.rm.is_stable(), "stuck in transition: {:#?}", n.logs);
    if afb != AutoFailback::Legacy {
        assert_eq!(
            n.rm.rsc_status(),
            RscStatus::Held(Hold::ALL),
            "{:#?}",
            n.logs
        );
        assert!(
            n.logs.iter().any(|l| l == "mach_down takeover complete."),
            "{:#?}",
            n.logs
        );
    }
    assert!(
        !n.logs.iter().any(|l| l.contains("received in state 0")),
        "{:#?}",
        n.logs
    );
    n
}

#[test]
fn initdead_before_comm_up_with_no_peer_groups_settles() {
    for afb in [AutoFailback::On, AutoFailback::Off, AutoFailback::Legacy] {
        alone_settles(afb, only_node1_has_a_group(), true);
    }
}

#[test]
fn comm_up_before_initdead_with_no_peer_groups_settles() {
    for afb in [AutoFailback::On, AutoFailback::Off, AutoFailback::Legacy] {
        alone_settles(afb, only_node1_has_a_group(), false);
    }
}

#[test]
fn both_orders_with_peer_groups_take_everything() {
    for afb in [AutoFailback::On, AutoFailback::Off, AutoFailback::Legacy] {
        for dead_first in [true, false] {
            alone_settles(afb, both_have_groups(), dead_first);
        }
    }
}

/// Both orders send the same messages: the order is membership's business.
/// (Legacy differs harmlessly: with Comm_now_up first the peer still looks
/// alive, so one `ip-request` goes out before it is declared dead.)
#[test]
fn both_orders_send_the_same_messages() {
    for afb in [AutoFailback::On, AutoFailback::Off] {
        for groups in [only_node1_has_a_group(), both_have_groups()] {
            let a = alone_settles(afb, groups.clone(), true);
            let b = alone_settles(afb, groups, false);
            assert_eq!(a.sent, b.sent, "{afb:?}");
        }
    }
}

/// The peer's stable report ends our RQSTDELAY early while we hold no group
/// of our own: the reply report we queued before `req_our_resources()` said
/// `none`, and applying that stale copy of our own word afterwards made us
/// log "No one owns our local resources!" (seen in the e2e partition test).
#[test]
fn own_reports_never_roll_back_what_we_hold() {
    use hb_membership::NodeStatus;
    use hb_resources::messages;
    let mut n = Node::new(
        AutoFailback::On,
        vec![group("node2", &["IPaddr::192.0.2.60/24/eth0"])],
    );
    n.event(Event::NodeStatus {
        node: "node2".into(),
        old: NodeStatus::Dead,
        new: NodeStatus::Active,
    });
    n.event(Event::CommUp);
    let deliver = |m| Event::Deliver {
        node: "node2".into(),
        msg: m,
    };
    n.event(deliver(messages::starting()));
    n.event(deliver(messages::resource(Hold::NONE, false, None)));
    n.run_for(Duration::from_secs(2));
    // The peer became stable first (its RQSTDELAY ran out earlier).
    n.event(deliver(messages::resource(Hold::LOCAL, true, None)));
    n.run_for(Duration::from_secs(12));
    assert!(n.rm.is_stable(), "{:#?}", n.logs);
    assert_eq!(
        n.rm.rsc_status(),
        RscStatus::Held(Hold::LOCAL),
        "{:#?}",
        n.logs
    );
    assert!(
        !n.logs
            .iter()
            .any(|l| l.contains("No one owns") || l.contains("Both machines own")),
        "{:#?}",
        n.logs
    );
}

/// A heartbeat peer that takes our groups by standby sends its `done`
/// first and its report of what it took right after; our answer to the
/// `done` must not audit its stale word ("No one owns our local
/// resources!" with nothing orphaned).
#[test]
fn a_heartbeat_takers_done_before_its_report_is_not_an_orphan() {
    use hb_membership::NodeStatus;
    use hb_resources::messages::{self, StandbyPhase};
    use hb_resources::{LocalRequest, Scope};
    let mut n = Node::new(AutoFailback::On, only_node1_has_a_group());
    n.event(Event::NodeStatus {
        node: "node2".into(),
        old: NodeStatus::Dead,
        new: NodeStatus::Active,
    });
    n.event(Event::CommUp);
    let deliver = |m| Event::Deliver {
        node: "node2".into(),
        msg: m,
    };
    n.event(deliver(messages::starting()));
    n.event(deliver(messages::resource(Hold::NONE, false, None)));
    n.run_for(Duration::from_secs(11));
    n.event(deliver(messages::resource(Hold::LOCAL, true, None)));
    assert!(n.rm.is_stable() && !n.running.is_empty(), "{:#?}", n.logs);

    n.rm.handle_request(n.now, LocalRequest::Standby(Scope::All));
    n.drain();
    n.event(deliver(messages::ask_resources(
        Hold::ALL,
        StandbyPhase::Other,
    )));
    assert!(n.running.is_empty(), "gave up: {:#?}", n.logs);
    // heartbeat answers our stable standby report with its own (still the
    // old word), then sends `done`, then the report of what it took.
    n.event(deliver(messages::resource(Hold::LOCAL, true, None)));
    n.event(deliver(messages::ask_resources(
        Hold::ALL,
        StandbyPhase::Done,
    )));
    n.event(deliver(messages::resource(Hold::ALL, true, None)));
    n.run_for(Duration::from_secs(2));
    assert_eq!(
        n.rm.rsc_status(),
        RscStatus::Held(Hold::NONE),
        "{:#?}",
        n.logs
    );
    assert!(
        !n.logs
            .iter()
            .any(|l| l.contains("No one owns") || l.contains("Both machines own")),
        "{:#?}",
        n.logs
    );
}
