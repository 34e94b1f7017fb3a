//! Two real heartbeat nodes: validates the harness itself against the
//! reference behaviour (§2, §4.10 of heartbeat-3.0.6.md).

use ha_tests::{require, Auth, ClusterSpec, HaCf, Kind, Needs, Timing};

use crate::common::{boot_deadline, crash_and_time_death, steady_state};

#[test]
fn real_pair_sees_each_other_and_detects_crash() {
    let env = require!(Needs::Real);
    let t = Timing::STANDARD;
    let mut c = ClusterSpec::new(Auth::Sha1("HI!".into()), HaCf::with_timing(t))
        .node("node1", Kind::Real)
        .node("node2", Kind::Real)
        .build(&env)
        .unwrap();
    c.start_all().unwrap();
    let took = c.wait_all_active(boot_deadline(&t)).unwrap();
    eprintln!("real pair active after {took:?}");
    steady_state(&c, "node1", "node2").unwrap();

    crash_and_time_death(&mut c, "node2", "node1").unwrap();

    // Graceful stop goes through the stock init script and must finish.
    c.node_mut("node1").stop().unwrap();
    assert!(
        !c.node("node1")
            .log_lines("Heartbeat shutdown complete")
            .is_empty(),
        "node1 did not log a clean shutdown"
    );
    // The stub must not have been needed.
    assert!(!c.node("node1").dir().join("log/reboot-stub.log").exists());
}
