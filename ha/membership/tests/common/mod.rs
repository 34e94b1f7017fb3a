//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use hb_membership::hb_wire::{Message, Value};
use hb_membership::sim::{cluster_configs, uuid_for, Sim, Timing};
use hb_membership::{Event, Tuning};

pub fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

pub fn field(m: &Message, name: &str) -> String {
    m.get_str(name).unwrap_or_default().to_string()
}

pub fn names(m: &Message) -> Vec<String> {
    m.fields().iter().map(|f| f.name.clone()).collect()
}

/// "t" or "t:st" for status-like messages.
pub fn kind(m: &Message) -> String {
    match m.get_str("st") {
        Some(st) => format!("{}:{}", field(m, "t"), st),
        None => field(m, "t"),
    }
}

pub fn seq(m: &Message) -> Option<u64> {
    m.get_hex("seq")
}

/// Messages a node put on the wire that carry a seq, in order.
pub fn sequenced(sent: &[(Duration, Message)]) -> Vec<(Duration, Message)> {
    sent.iter()
        .filter(|(_, m)| seq(m).is_some())
        .cloned()
        .collect()
}

/// Time of the last status a node sent at or before `t`.
pub fn last_status_at_or_before(sent: &[(Duration, Message)], t: Duration) -> Duration {
    sent.iter()
        .rev()
        .filter(|(at, m)| *at <= t && field(m, "t") == "status")
        .map(|(at, _)| *at)
        .next()
        .expect("a status was sent")
}

/// Tuning for millisecond-scale tests.
pub fn fast_tuning() -> Tuning {
    Tuning {
        max_rexmit_delay: ms(20),
        reqnodes_retry: ms(50),
        shutdown_phase_delay: ms(100),
        ..Tuning::default()
    }
}

/// A cluster whose start-up `dt` bump is off, so deadtimes are the plain ones.
pub fn fast_sim(names: &[&str], timing: Timing, media: usize, seed: u64) -> Sim {
    let tuning = Tuning {
        startup_deadtime_bump: Duration::ZERO,
        ..fast_tuning()
    };
    Sim::with_tuning(cluster_configs(names, timing, media, seed), tuning, seed)
}

/// A message as peer `src` (generation `hg`) would send it.
pub fn peer_msg(src: &str, t: &str, seq: Option<u64>, hg: u64) -> Message {
    let mut m = Message::with_type(t);
    m.add_str("src", src).add_binary("srcuuid", uuid_for(src));
    if let Some(s) = seq {
        m.add_str("seq", format!("{s:x}"));
    }
    m.add_str("hg", format!("{hg:x}"))
        .add_str("ts", "6b03af58")
        .add_str("ttl", "3");
    m
}

pub fn peer_status(src: &str, st: &str, seq: u64, hg: u64, dt_ms: u64) -> Message {
    let mut m = Message::with_type("status");
    m.add_str("st", st)
        .add_str("dt", format!("{dt_ms:x}"))
        .add_str("protocol", "1");
    let tail = peer_msg(src, "x", Some(seq), hg);
    for f in tail.fields().iter().skip(1) {
        m.push(f.name.clone(), f.value.clone());
    }
    m
}

/// A client message numbered `n`, as the resource manager might send.
pub fn app_msg(n: u64) -> Message {
    let mut m = Message::with_type("ask_resources");
    m.add_str("rsc_hold", "all").add_str("n", n.to_string());
    m
}

pub fn app_numbers(msgs: &[Message]) -> Vec<u64> {
    msgs.iter()
        .filter_map(|m| m.get_str("n").and_then(|n| n.parse().ok()))
        .collect()
}

pub fn events(sim: &Sim, i: usize) -> Vec<(Duration, Event)> {
    sim.node(i).events.clone()
}

pub fn count(sim: &Sim, i: usize, pred: impl Fn(&Event) -> bool) -> usize {
    sim.node(i).events.iter().filter(|(_, e)| pred(e)).count()
}

pub fn is_str(v: &Value, s: &str) -> bool {
    matches!(v, Value::Str(b) if b == s.as_bytes())
}
