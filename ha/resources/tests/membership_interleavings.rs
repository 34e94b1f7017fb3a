//! The interleaving property test again, through real membership cores
//! (`hb_membership::sim`): fewer cases, as each one simulates minutes of
//! heartbeats. Raise with PROPTEST_CASES.

mod cluster;
mod ops;

use std::time::Duration;

use cluster::Cluster;
use hb_resources::{AutoFailback, LocalRequest};
use ops::{afb, op, Op};
use proptest::prelude::*;

/// Apply `ops`, settle, boot every node (twice, for slow shutdowns), settle.
fn run(afb: AutoFailback, stonith: bool, seed: u64, agent_ms: u64, ops: &[Op]) -> (Cluster, bool) {
    let mut c = Cluster::new(afb, stonith, seed);
    c.agent_time = Duration::from_millis(agent_ms);
    c.step_size = Duration::from_millis(5);
    let mut disturbed = false;
    for op in ops {
        match *op {
            Op::Boot(n) => c.boot(n),
            Op::Crash(n) => c.crash(n),
            Op::Standby(n, s) => c.request(n, LocalRequest::Standby(s)),
            Op::Takeover(n, s) => c.request(n, LocalRequest::Takeover(s)),
            Op::Shutdown(n) => c.request(n, LocalRequest::Shutdown),
            Op::FailStart(n, g, r) => {
                disturbed = true;
                c.nodes[n].fail_start.insert((g, r));
            }
            Op::FailStop(n, g, r) => {
                disturbed = true;
                c.nodes[n].fail_stop.insert((g, r));
            }
            Op::Heal(n) => {
                c.nodes[n].fail_start.clear();
                c.nodes[n].fail_stop.clear();
            }
            // Without STONITH a partition is a split brain in heartbeat too.
            Op::Isolate(n) if stonith => {
                disturbed = true;
                c.isolate(n);
            }
            Op::Isolate(_) => {}
            Op::Wait(ms) => c.run_for(Duration::from_millis(ms)),
        }
        c.run_for(Duration::from_millis(50));
    }
    let slow = Duration::from_millis(30 * agent_ms);
    c.run_for(Duration::from_secs(30) + slow);
    for n in 0..c.nodes.len() {
        c.nodes[n].fail_start.clear();
        c.nodes[n].fail_stop.clear();
    }
    for _ in 0..2 {
        for n in 0..c.nodes.len() {
            c.boot(n);
        }
        c.run_for(Duration::from_secs(60) + slow);
    }
    (c, disturbed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn no_group_ever_runs_on_two_live_nodes_with_real_membership(
        afb in afb(),
        stonith in any::<bool>(),
        seed in any::<u64>(),
        agent_ms in 1u64..3_000,
        ops in prop::collection::vec(op(), 1..25),
    ) {
        let (c, disturbed) = run(afb, stonith, seed, agent_ms, &ops);
        if !disturbed {
            for g in 0..cluster::groups().len() {
                prop_assert!(c.owner(g).is_some(), "group {} runs nowhere\n{}", g, c.dump());
            }
        }
    }
}
