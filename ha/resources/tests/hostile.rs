//! Garbage from the network or a confused peer never panics the resource
//! manager, and never makes it run agents for groups it does not know.

use std::time::{Duration, Instant};

use hb_membership::{Event, NodeStatus};
use hb_resources::{
    group, AgentResult, AutoFailback, Command, Config, OpId, ResourceManager, Timing,
};
use hb_wire::{Message, Value};
use proptest::prelude::*;

fn config(afb: AutoFailback) -> Config {
    Config {
        local: "node1".into(),
        nodes: vec!["node1".into(), "node2".into()],
        groups: vec![
            group("node1", &["IPaddr::192.0.2.50/24/eth0", "hbtest::a"]),
            group("node2", &["hbtest::b"]),
        ],
        auto_failback: afb,
        stonith: false,
        isolation_ping_nodes: Vec::new(),
        timing: Timing::default(),
    }
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("none".to_string()),
        Just("local".to_string()),
        Just("foreign".to_string()),
        Just("all".to_string()),
        Just("me".to_string()),
        Just("other".to_string()),
        Just("done".to_string()),
        Just("OK".to_string()),
        Just("1".to_string()),
        Just("full".to_string()),
        Just("node1".to_string()),
        Just("IPaddr::192.0.2.50/24/eth0".to_string()),
        "[ -~]{0,12}",
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let t = prop_oneof![
        Just("starting"),
        Just("resource"),
        Just("ask_resources"),
        Just("hb_takeover"),
        Just("ip-request"),
        Just("ip-request-resp"),
        Just("stonith"),
        Just("shutdone"),
        Just("RESOURCE"),
        Just("junk"),
    ];
    let name = prop_oneof![
        Just("rsc_hold"),
        Just("rtype"),
        Just("isstable"),
        Just("info"),
        Just("ipaddr"),
        Just("dest"),
        Just("weown"),
        Just("ok"),
    ];
    let field = (name, word(), any::<bool>());
    (t, prop::collection::vec(field, 0..6)).prop_map(|(t, fields)| {
        let mut m = Message::with_type(t);
        for (n, v, binary) in fields {
            if binary {
                // A non-string value where a string is expected.
                m.push(n, Value::Binary(v.into_bytes()));
            } else {
                m.add_str(n, v);
            }
        }
        m
    })
}

#[derive(Clone, Debug)]
enum Input {
    Deliver(String, Message),
    Dead(String),
    Shutdown(String),
    Agent(u64, i32, String),
    Fence(String, bool),
    Tick(u64),
}

fn input() -> impl Strategy<Value = Input> {
    let node = prop_oneof![
        Just("node2".to_string()),
        Just("node1".to_string()),
        Just("ghost".to_string())
    ];
    prop_oneof![
        6 => (node.clone(), message()).prop_map(|(n, m)| Input::Deliver(n, m)),
        1 => node.clone().prop_map(Input::Dead),
        1 => node.clone().prop_map(Input::Shutdown),
        3 => (0u64..40, -1i32..3, word()).prop_map(|(op, c, out)| Input::Agent(op, c, out)),
        1 => (node, any::<bool>()).prop_map(|(n, ok)| Input::Fence(n, ok)),
        2 => (0u64..20_000).prop_map(Input::Tick),
    ]
}

proptest! {
    #[test]
    fn random_inputs_never_panic(
        legacy in any::<bool>(),
        inputs in prop::collection::vec(input(), 0..80),
    ) {
        let afb = if legacy { AutoFailback::Legacy } else { AutoFailback::On };
        let mut now = Instant::now();
        let mut rm = ResourceManager::new(config(afb), now).expect("valid");
        let alive = Event::NodeStatus { node: "node2".into(), old: NodeStatus::Dead, new: NodeStatus::Active };
        rm.handle_membership(now, &alive);
        rm.handle_membership(now, &Event::CommUp);
        for input in inputs {
            match input {
                Input::Deliver(node, msg) => rm.handle_membership(now, &Event::Deliver { node, msg }),
                Input::Dead(node) => rm.handle_membership(now, &Event::NodeDead { node }),
                Input::Shutdown(node) => rm.handle_membership(now, &Event::PeerShutdown { node }),
                Input::Agent(op, code, out) => rm.handle_agent_result(now, OpId(op), AgentResult::exited(code, out)),
                Input::Fence(node, ok) => rm.handle_fence_result(now, &node, ok),
                Input::Tick(ms) => {
                    now += Duration::from_millis(ms);
                    rm.handle_timeout(now);
                }
            }
            while let Some(cmd) = rm.poll_command() {
                if let Command::RunAgent(req) = cmd {
                    let groups = &rm.config().groups;
                    prop_assert!(req.group < groups.len());
                    prop_assert!(req.resource < groups[req.group].resources.len());
                }
            }
            let _ = rm.rsc_status();
        }
    }
}
