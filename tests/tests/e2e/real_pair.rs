//! Two real heartbeat nodes: validates the harness itself against the
//! reference behaviour (§2, §4, §5 of heartbeat-3.0.6.md), and pins down the
//! expectations the interop tests hold our daemon to.

use ha_tests::{require, Auth, ClusterSpec, HaCf, Kind, Needs, Timing};

use crate::common::{
    boot_deadline, crash_and_time_death, graceful_stop_seen, restart_seen, steady_state,
};

#[test]
fn real_pair_membership_stop_restart_crash() {
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

    graceful_stop_seen(&mut c, "node1", "node2").unwrap();
    assert!(!c
        .node("node1")
        .log_lines("Heartbeat shutdown complete")
        .is_empty());
    assert!(!c
        .node("node2")
        .log_lines("Received shutdown notice from 'node1'")
        .is_empty());

    restart_seen(&mut c, "node1", "node2").unwrap();
    assert!(!c
        .node("node2")
        .log_lines("Heartbeat restart on node node1")
        .is_empty());

    crash_and_time_death(&mut c, "node2", "node1").unwrap();
    // Nothing needed the reboot stub.
    for n in ["node1", "node2"] {
        assert!(!c.node(n).dir().join("log/reboot-stub.log").exists());
    }
}
