//! Disturbances shared by the property tests of both harnesses.

#![allow(dead_code)]

use hb_resources::{AutoFailback, Scope};
use proptest::prelude::*;

#[derive(Clone, Debug)]
pub enum Op {
    Boot(usize),
    Crash(usize),
    Standby(usize, Scope),
    Takeover(usize, Scope),
    Shutdown(usize),
    FailStart(usize, usize, usize),
    FailStop(usize, usize, usize),
    Heal(usize),
    /// Cut node n off from everybody (until it reboots / the cut heals).
    Isolate(usize),
    Wait(u64),
}

pub fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        Just(Scope::All),
        Just(Scope::Local),
        Just(Scope::Foreign),
        Just(Scope::Failback)
    ]
}

pub fn op() -> impl Strategy<Value = Op> {
    let node = 0usize..2;
    prop_oneof![
        3 => node.clone().prop_map(Op::Boot),
        2 => node.clone().prop_map(Op::Crash),
        2 => (node.clone(), scope()).prop_map(|(n, s)| Op::Standby(n, s)),
        2 => (node.clone(), scope()).prop_map(|(n, s)| Op::Takeover(n, s)),
        1 => node.clone().prop_map(Op::Shutdown),
        1 => (node.clone(), 0usize..2, 0usize..2).prop_map(|(n, g, r)| Op::FailStart(n, g, r)),
        1 => (node.clone(), 0usize..2, 0usize..2).prop_map(|(n, g, r)| Op::FailStop(n, g, r)),
        1 => node.clone().prop_map(Op::Heal),
        1 => node.prop_map(Op::Isolate),
        6 => (0u64..15_000).prop_map(Op::Wait),
    ]
}

pub fn afb() -> impl Strategy<Value = AutoFailback> {
    prop_oneof![
        Just(AutoFailback::On),
        Just(AutoFailback::Off),
        Just(AutoFailback::Legacy)
    ]
}
