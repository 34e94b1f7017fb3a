//! ipfail, built in: give the resources to whichever node sees more ping
//! nodes, and never take over from a "dead" peer while we see none.
//!
//! heartbeat ships ipfail as a separate API client (`respawn hacluster
//! /usr/lib/heartbeat/ipfail`). We run the same decisions in-process when
//! that line is present; the daemon feeds this state machine and carries out
//! its [`Output`]s. Sans-IO like the rest of the crate: time comes in as
//! `now`, the ping count and resource stability are passed in by the shell.
//!
//! The cluster messages are ipfail's own, field for field (checked against
//! `exp-ping_ipfail/capture.pcap`), so a peer running real heartbeat and
//! ipfail understands them:
//! * `t=num_ping_nodes src=<me> num_ping=<n> dest=<peer> from_id=ipfail
//!   to_id=ipfail client_gen=0`: "how many do you see? I see n". The
//!   receiver compares: more → `you_are_dead`; fewer → give up all; equal →
//!   `abort_giveup`, and with auto_failback give up foreign resources.
//! * `t=you_are_dead`: the peer sees more ping nodes: give up all.
//! * `t=abort_giveup src=<me>`: counts are balanced: cancel a pending
//!   give-up.
//! * `t=hbapi-clstat st=join from_id=ipfail info=signon`: an ipfail client
//!   started on a node; the other side answers with `num_ping_nodes`.
//!
//! A give-up is delayed by two keepalives (ipfail's `delay_giveup(-1)`) and
//! is a standby of `all` or `foreign`; if our resources are in transition
//! when it fires, it waits for the peer's next stable report and then asks
//! for the counts again.
//!
//! ipfail only ever gives resources away. The rule that an isolated node
//! (no ping node answers) does not take over from a dead peer is the
//! resource manager's (`Config::isolation_ping_nodes`), not this client's.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hb_membership::{Event, LinkStatus, NodeStatus};
use hb_wire::Message;

use crate::hold::Scope;
use crate::log::Level;

/// True if a `respawn` command line runs heartbeat's ipfail (any
/// `…/heartbeat/ipfail`): the built-in ipfail runs instead of the binary.
pub use hb_config::is_ipfail_command;

pub const T_NUM_PING_NODES: &str = "num_ping_nodes";
pub const T_YOU_ARE_DEAD: &str = "you_are_dead";
pub const T_ABORT_GIVEUP: &str = "abort_giveup";
pub const T_APICLISTAT: &str = "hbapi-clstat";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpFailConfig {
    /// This node.
    pub local: String,
    /// The other normal node (ipfail works on pairs).
    pub peer: String,
    /// `auto_failback on`: a balanced count gives foreign resources back.
    pub auto_failback: bool,
    /// keepalive; a give-up waits two of them.
    pub keepalive: Duration,
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send to the cluster (through the membership core).
    Send(Message),
    /// Go standby (ipfail's `ask_resources … info=me`): the resource
    /// manager's `LocalRequest::Standby`.
    Standby(Scope),
    Log(Level, String),
}

/// What the shell knows when a membership event arrives.
pub struct EventContext<'a> {
    /// Ping nodes whose status is `ping` now (ipfail's
    /// `ping_node_status()` count).
    pub ping_up: usize,
    /// Whether a node name is one of the ping nodes.
    pub is_ping: &'a dyn Fn(&str) -> bool,
    /// Medium names by link id, for the link log line.
    pub links: &'a [String],
    /// Our resources are not in transition (`cl_status rscstatus`).
    pub stable: bool,
}

#[derive(Debug)]
pub struct IpFail {
    cfg: IpFailConfig,
    giveup: Option<(Instant, Scope)>,
    /// A give-up fired while our resources were in transition.
    need_standby: bool,
    /// The peer's ipfail signed on (`hbapi-clstat st=join`) and the peer
    /// has not died or signed off since.
    peer_online: bool,
    out: VecDeque<Output>,
}

fn ipfail_msg(t: &str) -> Message {
    Message::with_type(t)
}

fn client_fields(m: &mut Message) {
    m.add_str("from_id", "ipfail")
        .add_str("to_id", "ipfail")
        .add_str("client_gen", "0");
}

impl IpFail {
    pub fn new(cfg: IpFailConfig) -> Self {
        IpFail {
            cfg,
            giveup: None,
            need_standby: false,
            peer_online: false,
            out: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &IpFailConfig {
        &self.cfg
    }

    /// Heartbeat is up: sign on like the ipfail client does, which makes
    /// the peer's ipfail ask us for our count.
    pub fn start(&mut self) {
        let mut m = ipfail_msg(T_APICLISTAT);
        m.add_str("st", "join")
            .add_str("from_id", "ipfail")
            .add_str("to_id", "ipfail")
            .add_str("src", &self.cfg.local)
            .add_str("info", "signon")
            .add_str("client_gen", "0");
        self.out.push_back(Output::Send(m));
    }

    fn log(&mut self, level: Level, text: impl Into<String>) {
        self.out.push_back(Output::Log(level, text.into()));
    }

    /// `ask_ping_nodes`.
    fn ask(&mut self, ping_up: usize) {
        self.log(Level::Info, "Asking other side for ping node count.");
        let mut m = ipfail_msg(T_NUM_PING_NODES);
        m.add_str("src", &self.cfg.local)
            .add_str("num_ping", ping_up.to_string())
            .add_str("dest", &self.cfg.peer);
        client_fields(&mut m);
        self.out.push_back(Output::Send(m));
    }

    fn send_to_peer(&mut self, t: &str, with_src: bool) {
        let mut m = ipfail_msg(t);
        if with_src {
            m.add_str("src", &self.cfg.local);
        }
        m.add_str("dest", &self.cfg.peer);
        client_fields(&mut m);
        self.out.push_back(Output::Send(m));
    }

    /// `delay_giveup(…, -1)`: a later call replaces an earlier one.
    fn delay_giveup(&mut self, now: Instant, scope: Scope) {
        let delay = self.cfg.keepalive.saturating_mul(2);
        self.log(
            Level::Info,
            format!("Delayed giveup in {} seconds.", delay.as_secs()),
        );
        self.giveup = Some((now.checked_add(delay).unwrap_or(now), scope));
    }

    fn abort_giveup(&mut self) {
        if self.giveup.take().is_some() {
            self.log(Level::Info, "Aborted delayed giveup");
        } else {
            self.log(Level::Info, "No giveup timer to abort.");
        }
    }

    /// Every membership event goes here; ipfail picks what its callbacks
    /// would see: ping nodes' status, dead links, the peer's death and
    /// cluster messages.
    pub fn handle_event(&mut self, now: Instant, ev: &Event, cx: &EventContext<'_>) {
        match ev {
            Event::NodeStatus { node, new, .. } if (cx.is_ping)(node) => {
                if matches!(new, NodeStatus::Dead | NodeStatus::Ping) {
                    self.ping_node_status(node, *new, cx.ping_up);
                }
            }
            Event::Link {
                node,
                medium,
                status: LinkStatus::Dead,
            } => {
                let link = cx.links.get(*medium).map_or("?", String::as_str);
                self.link_dead(node, link, cx.ping_up);
            }
            Event::NodeDead { node } if !(cx.is_ping)(node) => {
                if *node == self.cfg.peer {
                    self.peer_online = false;
                }
                self.peer_dead(node);
            }
            Event::Deliver { node, msg } => {
                if msg.msg_type() == Some(T_APICLISTAT)
                    && *node == self.cfg.peer
                    && msg.get_str("from_id") == Some("ipfail")
                {
                    match msg.get_str("st") {
                        Some("join") => self.peer_online = true,
                        Some("leave") => self.peer_online = false,
                        _ => {}
                    }
                }
                self.handle_message(now, node, msg, cx.ping_up, cx.stable);
            }
            _ => {}
        }
    }

    /// The peer's ipfail is signed on (`cl_status clientstatus <peer>
    /// ipfail`).
    pub fn peer_online(&self) -> bool {
        self.peer_online
    }

    /// A ping node's status changed (`NodeStatus` callback); `ping_up` is
    /// the count after the change.
    pub fn ping_node_status(&mut self, node: &str, status: NodeStatus, ping_up: usize) {
        self.log(
            Level::Info,
            format!(
                "Status update: Node {node} now has status {}",
                status.as_str()
            ),
        );
        match status {
            NodeStatus::Dead => {
                if ping_up > 0 {
                    self.log(Level::Info, "NS: We are still alive!");
                } else {
                    self.log(Level::Info, "NS: We are dead. :<");
                }
            }
            NodeStatus::Ping => {
                self.log(Level::Info, "A ping node just came up.");
                self.ask(ping_up);
            }
            _ => {}
        }
    }

    /// A link died (`LinkStatus` callback): of a ping node or of the peer.
    pub fn link_dead(&mut self, node: &str, link: &str, ping_up: usize) {
        self.log(
            Level::Info,
            format!("Link Status update: Link {node}/{link} now has status dead"),
        );
        if ping_up > 0 {
            self.ask(ping_up);
            self.log(Level::Info, "Checking remote count of ping nodes.");
        } else {
            self.log(Level::Info, "We are dead. :<");
            self.ask(ping_up);
        }
    }

    /// The peer was declared dead: a pending give-up would hand our
    /// resources to nobody, so it is dropped (heartbeat's ipfail keeps it).
    pub fn peer_dead(&mut self, node: &str) {
        if node != self.cfg.peer {
            return;
        }
        if self.giveup.take().is_some() {
            self.log(
                Level::Info,
                format!("Node {node} is dead: delayed giveup dropped."),
            );
        }
        self.need_standby = false;
    }

    /// A cluster message from `from`. Returns false if it is not ipfail's
    /// business. `stable`: our resources are not in transition.
    pub fn handle_message(
        &mut self,
        now: Instant,
        from: &str,
        msg: &Message,
        ping_up: usize,
        stable: bool,
    ) -> bool {
        if from == self.cfg.local {
            return false;
        }
        match msg.msg_type().unwrap_or("") {
            T_NUM_PING_NODES => {
                // A count that does not parse is 0 (ipfail's atoi).
                let theirs: usize = msg
                    .get_str("num_ping")
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                self.compare(now, ping_up, theirs, stable);
            }
            T_YOU_ARE_DEAD => {
                self.log(
                    Level::Info,
                    "Giving up because we were told that we have less ping nodes.",
                );
                self.delay_giveup(now, Scope::All);
            }
            T_ABORT_GIVEUP => self.abort_giveup(),
            T_APICLISTAT => {
                if msg.get_str("st") == Some("join") && msg.get_str("from_id") == Some("ipfail") {
                    self.ask(ping_up);
                }
            }
            "resource" => self.peer_resources(msg, ping_up),
            _ => return false,
        }
        true
    }

    /// `msg_ping_nodes`.
    fn compare(&mut self, now: Instant, mine: usize, theirs: usize, stable: bool) {
        if mine > theirs {
            self.log(
                Level::Info,
                "Telling other node that we have more visible ping nodes.",
            );
            self.send_to_peer(T_YOU_ARE_DEAD, false);
        } else if mine < theirs {
            self.log(
                Level::Info,
                "Giving up because we have less visible ping nodes.",
            );
            self.delay_giveup(now, Scope::All);
        } else {
            self.log(Level::Info, "Ping node count is balanced.");
            self.send_to_peer(T_ABORT_GIVEUP, true);
            if self.giveup.is_some() {
                self.abort_giveup();
            } else if self.cfg.auto_failback && stable {
                self.log(Level::Info, "Giving up foreign resources (auto_failback).");
                self.delay_giveup(now, Scope::Foreign);
            }
        }
    }

    /// `msg_resources`: the peer's first stable report after a give-up we
    /// could not do re-runs the comparison.
    fn peer_resources(&mut self, msg: &Message, ping_up: usize) {
        let stable = msg.get_str("isstable") == Some("1");
        if stable && msg.get("info").is_none() && self.need_standby {
            self.need_standby = false;
            self.ask(ping_up);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.giveup.map(|(t, _)| t)
    }

    /// `giveup()`: the delay passed.
    pub fn handle_timeout(&mut self, now: Instant, stable: bool) {
        let Some((at, scope)) = self.giveup else {
            return;
        };
        if now < at {
            return;
        }
        self.giveup = None;
        self.log(Level::Info, "giveup() called (timeout worked)");
        if stable {
            self.need_standby = false;
            self.out.push_back(Output::Standby(scope));
        } else {
            self.need_standby = true;
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(local: &str, peer: &str) -> IpFailConfig {
        IpFailConfig {
            local: local.into(),
            peer: peer.into(),
            auto_failback: true,
            keepalive: Duration::from_secs(1),
        }
    }

    fn outputs(f: &mut IpFail) -> Vec<Output> {
        std::iter::from_fn(|| f.poll_output()).collect()
    }

    fn sent(out: &[Output]) -> Vec<Message> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    fn logs(out: &[Output]) -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Output::Log(_, t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    fn names(m: &Message) -> Vec<String> {
        m.fields().iter().map(|f| f.name.clone()).collect()
    }

    /// Two ipfails wired back to back through their messages, in virtual
    /// time: the node that lost its ping node asks, the other answers
    /// `you_are_dead`, the asker gives up all two keepalives later.
    #[test]
    fn node_with_fewer_ping_nodes_gives_up_all_after_two_keepalives() {
        let t0 = Instant::now();
        let mut n1 = IpFail::new(cfg("node1", "node2"));
        let mut n2 = IpFail::new(cfg("node2", "node1"));

        n1.ping_node_status("192.0.2.100", NodeStatus::Dead, 0);
        n1.link_dead("192.0.2.100", "192.0.2.100", 0);
        let out = outputs(&mut n1);
        assert!(logs(&out).contains(&"NS: We are dead. :<".to_owned()));
        let asks = sent(&out);
        assert_eq!(asks.len(), 1);
        let ask = &asks[0];
        assert_eq!(
            names(ask),
            [
                "t",
                "src",
                "num_ping",
                "dest",
                "from_id",
                "to_id",
                "client_gen"
            ]
        );
        assert_eq!(ask.get_str("num_ping"), Some("0"));
        assert_eq!(ask.get_str("dest"), Some("node2"));

        assert!(n2.handle_message(t0, "node1", ask, 1, true));
        let out = outputs(&mut n2);
        assert_eq!(
            logs(&out),
            ["Telling other node that we have more visible ping nodes."]
        );
        let reply = sent(&out);
        assert_eq!(reply[0].msg_type(), Some(T_YOU_ARE_DEAD));
        assert_eq!(
            names(&reply[0]),
            ["t", "dest", "from_id", "to_id", "client_gen"]
        );
        assert_eq!(n2.poll_timeout(), None, "the winner gives nothing up");

        assert!(n1.handle_message(t0, "node2", &reply[0], 0, true));
        let out = outputs(&mut n1);
        assert_eq!(
            logs(&out),
            [
                "Giving up because we were told that we have less ping nodes.",
                "Delayed giveup in 2 seconds."
            ]
        );
        assert_eq!(n1.poll_timeout(), Some(t0 + Duration::from_secs(2)));
        n1.handle_timeout(t0 + Duration::from_millis(1999), true);
        assert!(!outputs(&mut n1)
            .iter()
            .any(|o| matches!(o, Output::Standby(_))));
        n1.handle_timeout(t0 + Duration::from_secs(2), true);
        let out = outputs(&mut n1);
        assert!(out.contains(&Output::Standby(Scope::All)), "{out:?}");
        assert_eq!(n1.poll_timeout(), None);
    }

    #[test]
    fn balanced_count_aborts_a_pending_giveup_and_otherwise_returns_foreign() {
        let t0 = Instant::now();
        let mut n2 = IpFail::new(cfg("node2", "node1"));
        let mut ask = Message::with_type(T_NUM_PING_NODES);
        ask.add_str("num_ping", "1");
        // No pending give-up, auto_failback, stable: give foreign back.
        n2.handle_message(t0, "node1", &ask, 1, true);
        let out = outputs(&mut n2);
        assert_eq!(
            logs(&out),
            [
                "Ping node count is balanced.",
                "Giving up foreign resources (auto_failback).",
                "Delayed giveup in 2 seconds."
            ]
        );
        assert_eq!(sent(&out)[0].msg_type(), Some(T_ABORT_GIVEUP));
        // A second balanced answer now aborts that pending give-up instead.
        n2.handle_message(t0, "node1", &ask, 1, true);
        let out = outputs(&mut n2);
        assert!(logs(&out).contains(&"Aborted delayed giveup".to_owned()));
        assert_eq!(n2.poll_timeout(), None);
        n2.handle_timeout(t0 + Duration::from_secs(10), true);
        assert!(!outputs(&mut n2)
            .iter()
            .any(|o| matches!(o, Output::Standby(_))));
    }

    #[test]
    fn without_auto_failback_a_balanced_count_gives_nothing_back() {
        let t0 = Instant::now();
        let mut c = cfg("node2", "node1");
        c.auto_failback = false;
        let mut n2 = IpFail::new(c);
        let mut ask = Message::with_type(T_NUM_PING_NODES);
        ask.add_str("num_ping", "2");
        n2.handle_message(t0, "node1", &ask, 2, true);
        outputs(&mut n2);
        assert_eq!(n2.poll_timeout(), None);
    }

    #[test]
    fn fewer_ping_nodes_than_the_asker_gives_up_and_abort_cancels_it() {
        let t0 = Instant::now();
        let mut n1 = IpFail::new(cfg("node1", "node2"));
        let mut ask = Message::with_type(T_NUM_PING_NODES);
        ask.add_str("num_ping", "2");
        n1.handle_message(t0, "node2", &ask, 1, true);
        let out = outputs(&mut n1);
        assert!(logs(&out).contains(&"Giving up because we have less visible ping nodes.".into()));
        assert!(n1.poll_timeout().is_some());
        n1.handle_message(t0, "node2", &Message::with_type(T_ABORT_GIVEUP), 1, true);
        assert_eq!(n1.poll_timeout(), None);
    }

    #[test]
    fn giveup_during_transition_waits_for_the_peers_stable_report_then_asks_again() {
        let t0 = Instant::now();
        let mut n1 = IpFail::new(cfg("node1", "node2"));
        n1.handle_message(t0, "node2", &Message::with_type(T_YOU_ARE_DEAD), 0, true);
        outputs(&mut n1);
        n1.handle_timeout(t0 + Duration::from_secs(2), false);
        let out = outputs(&mut n1);
        assert!(!out.iter().any(|o| matches!(o, Output::Standby(_))));
        // A report with info= is not the one ipfail waits for.
        let mut r = Message::with_type("resource");
        r.add_str("rsc_hold", "all")
            .add_str("isstable", "1")
            .add_str("info", "mach_down");
        n1.handle_message(t0, "node2", &r, 0, true);
        assert!(sent(&outputs(&mut n1)).is_empty());
        let mut r = Message::with_type("resource");
        r.add_str("rsc_hold", "all").add_str("isstable", "1");
        n1.handle_message(t0, "node2", &r, 0, true);
        let s = sent(&outputs(&mut n1));
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].msg_type(), Some(T_NUM_PING_NODES));
    }

    #[test]
    fn peer_death_drops_a_pending_giveup() {
        let t0 = Instant::now();
        let mut n1 = IpFail::new(cfg("node1", "node2"));
        n1.handle_message(t0, "node2", &Message::with_type(T_YOU_ARE_DEAD), 0, true);
        assert!(n1.poll_timeout().is_some());
        // Another node's death is not ours to judge.
        n1.peer_dead("node3");
        assert!(n1.poll_timeout().is_some());
        n1.peer_dead("node2");
        assert_eq!(n1.poll_timeout(), None);
        n1.handle_timeout(t0 + Duration::from_secs(10), true);
        assert!(!outputs(&mut n1)
            .iter()
            .any(|o| matches!(o, Output::Standby(_))));
    }

    #[test]
    fn peer_join_makes_us_ask_and_our_start_signs_on() {
        let t0 = Instant::now();
        let mut n1 = IpFail::new(cfg("node1", "node2"));
        n1.start();
        let s = sent(&outputs(&mut n1));
        assert_eq!(s[0].msg_type(), Some(T_APICLISTAT));
        assert_eq!(s[0].get_str("st"), Some("join"));
        assert!(n1.handle_message(t0, "node2", &s[0], 1, true));
        let s = sent(&outputs(&mut n1));
        assert_eq!(s[0].get_str("num_ping"), Some("1"));
        // Our own messages and unrelated types are not ipfail's business.
        assert!(!n1.handle_message(t0, "node1", &s[0], 1, true));
        assert!(!n1.handle_message(t0, "node2", &Message::with_type("starting"), 1, true));
    }

    #[test]
    fn events_reach_the_callbacks_and_track_the_peers_sign_on() {
        let t0 = Instant::now();
        let mut n1 = IpFail::new(cfg("node1", "node2"));
        let is_ping = |n: &str| n == "192.0.2.100";
        let links = ["eth0".to_string(), "192.0.2.100".to_string()];
        let cx = |up| EventContext {
            ping_up: up,
            is_ping: &is_ping,
            links: &links,
            stable: true,
        };
        let mut join = Message::with_type(T_APICLISTAT);
        join.add_str("st", "join").add_str("from_id", "ipfail");
        let deliver = |node: &str, msg: &Message| Event::Deliver {
            node: node.into(),
            msg: msg.clone(),
        };
        // A sign-on from some other node does not count for the peer.
        n1.handle_event(t0, &deliver("node3", &join), &cx(1));
        assert!(!n1.peer_online());
        n1.handle_event(t0, &deliver("node2", &join), &cx(1));
        assert!(n1.peer_online());
        let s = sent(&outputs(&mut n1));
        assert_eq!(s[0].get_str("dest"), Some("node2"), "join answered: {s:?}");
        // A ping node's death is not the peer's.
        n1.handle_event(
            t0,
            &Event::NodeDead {
                node: "192.0.2.100".into(),
            },
            &cx(0),
        );
        assert!(n1.peer_online());
        // The ping node going dead reaches the NodeStatus callback.
        n1.handle_event(
            t0,
            &Event::NodeStatus {
                node: "192.0.2.100".into(),
                old: NodeStatus::Ping,
                new: NodeStatus::Dead,
            },
            &cx(0),
        );
        assert!(logs(&outputs(&mut n1)).contains(&"NS: We are dead. :<".to_owned()));
        // A dead link names its medium and asks for the count.
        n1.handle_event(
            t0,
            &Event::Link {
                node: "node2".into(),
                medium: 0,
                status: LinkStatus::Dead,
            },
            &cx(1),
        );
        let out = outputs(&mut n1);
        assert!(logs(&out)
            .contains(&"Link Status update: Link node2/eth0 now has status dead".to_owned()));
        assert_eq!(sent(&out)[0].msg_type(), Some(T_NUM_PING_NODES));
        // The peer's death: signed off, and a pending give-up is dropped.
        n1.handle_event(
            t0,
            &deliver("node2", &Message::with_type(T_YOU_ARE_DEAD)),
            &cx(1),
        );
        assert!(n1.poll_timeout().is_some());
        n1.handle_event(
            t0,
            &Event::NodeDead {
                node: "node2".into(),
            },
            &cx(1),
        );
        assert!(!n1.peer_online());
        assert_eq!(n1.poll_timeout(), None);
        // A sign-off after a new sign-on.
        n1.handle_event(t0, &deliver("node2", &join), &cx(1));
        let mut leave = join.clone();
        leave.set_str("st", "leave");
        n1.handle_event(t0, &deliver("node2", &leave), &cx(1));
        assert!(!n1.peer_online());
    }

    #[test]
    fn garbage_count_reads_as_zero() {
        let t0 = Instant::now();
        let mut n2 = IpFail::new(cfg("node2", "node1"));
        let mut ask = Message::with_type(T_NUM_PING_NODES);
        ask.add_str("num_ping", "lots");
        n2.handle_message(t0, "node1", &ask, 1, true);
        let s = sent(&outputs(&mut n2));
        assert_eq!(s[0].msg_type(), Some(T_YOU_ARE_DEAD));
    }

    #[test]
    fn recognises_ipfail_respawn_lines() {
        assert!(is_ipfail_command("/usr/lib/heartbeat/ipfail"));
        assert!(is_ipfail_command("/usr/libexec/heartbeat/ipfail -d"));
        assert!(!is_ipfail_command("/usr/local/bin/ipfailover"));
        assert!(!is_ipfail_command("ipfail"));
    }
}
