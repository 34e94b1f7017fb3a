//! Random interleavings of crashes, restarts, standby/takeover requests,
//! graceful stops, injected agent failures and (with STONITH) partitions,
//! with random message latencies. The simulator asserts after every step
//! that no group runs on two live nodes. Runs without injected failures
//! must also end with every group running exactly once.

mod ops;
mod script;
mod sim;

use ops::{afb, op};
use proptest::prelude::*;
use script::{run, Setup};

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
