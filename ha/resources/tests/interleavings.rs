//! Random interleavings of crashes, restarts, standby/takeover requests,
//! graceful stops, injected agent failures and (with STONITH) partitions,
//! with random message latencies. The simulator asserts after every step
//! that no group runs on two live nodes. Runs without injected failures
//! must also end with every group running exactly once.

mod sim;

use hb_resources::{AutoFailback, Scope};
use proptest::prelude::*;
use sim::script::{run, Op, Setup};

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        Just(Scope::All),
        Just(Scope::Local),
        Just(Scope::Foreign),
        Just(Scope::Failback)
    ]
}

fn op() -> impl Strategy<Value = Op> {
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

fn afb() -> impl Strategy<Value = AutoFailback> {
    prop_oneof![
        Just(AutoFailback::On),
        Just(AutoFailback::Off),
        Just(AutoFailback::Legacy)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_group_ever_runs_on_two_live_nodes(
        afb in afb(),
        stonith in any::<bool>(),
        jitter_ms in 0u64..80,
        seed in any::<u64>(),
        status_ms in 1u64..500,
        // Up to longer than RQSTDELAY and deadtime.
        start_ms in 1u64..15_000,
        stop_ms in 1u64..15_000,
        ops in prop::collection::vec(op(), 1..50),
    ) {
        let setup = Setup { afb, stonith, jitter_ms, seed, status_ms, start_ms, stop_ms };
        let (sim, disturbed) = run(&setup, &ops);
        if !disturbed {
            for g in 0..sim.cfg.groups.len() {
                prop_assert!(sim.owner(g).is_some(), "group {} runs nowhere after settling\n{}", g, sim.dump());
            }
        }
    }
}
