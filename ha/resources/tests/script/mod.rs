//! Scripted disturbances on the bus simulator, for property tests and
//! their reproductions.

#![allow(dead_code)]

use std::time::Duration;

use hb_resources::{AutoFailback, LocalRequest};

use crate::ops::Op;
use crate::sim::{Sim, SimConfig};

/// The knobs a property test varies besides the operations.
#[derive(Clone, Debug)]
pub struct Setup {
    pub afb: AutoFailback,
    pub stonith: bool,
    pub jitter_ms: u64,
    pub seed: u64,
    pub status_ms: u64,
    pub start_ms: u64,
    pub stop_ms: u64,
}

impl Setup {
    pub fn new(afb: AutoFailback, stonith: bool) -> Setup {
        Setup {
            afb,
            stonith,
            jitter_ms: 0,
            seed: 0,
            status_ms: 10,
            start_ms: 100,
            stop_ms: 100,
        }
    }
}

/// Apply `ops` (50 ms apart), settle, boot every node, settle again. Returns
/// the simulator and whether any failure or partition was injected.
pub fn run(setup: &Setup, ops: &[Op]) -> (Sim, bool) {
    let mut cfg = SimConfig::new(setup.afb);
    let stonith = setup.stonith;
    cfg.stonith = stonith;
    cfg.jitter = Duration::from_millis(setup.jitter_ms);
    cfg.seed = setup.seed;
    cfg.status_time = Duration::from_millis(setup.status_ms);
    cfg.start_time = Duration::from_millis(setup.start_ms);
    cfg.stop_time = Duration::from_millis(setup.stop_ms);
    let mut sim = Sim::new(cfg);
    let mut disturbed = false;
    for op in ops {
        match *op {
            Op::Boot(n) => sim.boot(n),
            Op::Crash(n) => sim.crash(n),
            Op::Standby(n, s) => sim.request(n, LocalRequest::Standby(s)),
            Op::Takeover(n, s) => sim.request(n, LocalRequest::Takeover(s)),
            Op::Shutdown(n) => sim.request(n, LocalRequest::Shutdown),
            Op::FailStart(n, g, r) => {
                disturbed = true;
                sim.nodes[n].fail_start.insert((g, r));
            }
            Op::FailStop(n, g, r) => {
                disturbed = true;
                sim.nodes[n].fail_stop.insert((g, r));
            }
            Op::Heal(n) => {
                sim.nodes[n].fail_start.clear();
                sim.nodes[n].fail_stop.clear();
            }
            // Without STONITH a partition is a split brain in heartbeat too.
            Op::Isolate(n) if stonith => {
                disturbed = true;
                sim.isolate(n);
            }
            Op::Isolate(_) => {}
            Op::Wait(ms) => sim.run_for(Duration::from_millis(ms)),
        }
        sim.run_for(Duration::from_millis(50));
    }
    // Slow agents make every step take longer; scale the settling.
    let slow = Duration::from_millis(8 * (setup.start_ms + setup.stop_ms + setup.status_ms));
    sim.run_for(Duration::from_secs(30) + slow);
    for n in 0..sim.nodes.len() {
        sim.nodes[n].fail_start.clear();
        sim.nodes[n].fail_stop.clear();
    }
    // Twice: a node still finishing a slow shutdown leaves only later.
    for _ in 0..2 {
        for n in 0..sim.nodes.len() {
            sim.boot(n);
        }
        sim.run_for(Duration::from_secs(60) + slow);
    }
    (sim, disturbed)
}
