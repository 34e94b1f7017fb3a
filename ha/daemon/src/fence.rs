//! Self-fencing: what happens when a resource would not stop.
//!
//! heartbeat's `ResourceManager` runs `pkill -9 heartbeat ipfail ccm` and
//! `/sbin/reboot -nf`: the node stops speaking at once (so the peer takes
//! over after deadtime) and the machine goes down without syncing. The
//! default [`RebootFencer`] does the same; tests and embedders supply their
//! own [`Fencer`]. Never let the default run outside a PID namespace whose
//! reboot is stubbed (the end-to-end harness does that).

use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};

/// What the loop does after a fence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFence {
    /// Stop at once: no cleanup, nothing more on the wire.
    Die,
    /// Keep running (a fencer that only records, for tests).
    Continue,
}

pub trait Fencer: Send {
    /// This node must stop holding anything now; `reason` says why.
    fn fence_local(&mut self, reason: &str) -> AfterFence;
}

/// `reboot -nf`, then the daemon dies without a word (heartbeat's
/// `pkill -9 heartbeat`).
#[derive(Debug)]
pub struct RebootFencer {
    pub program: String,
}

impl Default for RebootFencer {
    fn default() -> Self {
        Self {
            program: "/sbin/reboot".to_owned(),
        }
    }
}

impl Fencer for RebootFencer {
    fn fence_local(&mut self, reason: &str) -> AfterFence {
        tracing::error!(crit = true, reason, "Killing heartbeat ungracefully!");
        tracing::error!(crit = true, "Rebooting: {} -nf", self.program);
        // Detached from us: it must outlive the daemon it is killing.
        let spawned = Command::new(&self.program)
            .args(["-nf"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        if let Err(e) = spawned {
            tracing::error!(crit = true, error = %e, "Cannot run {}: {e}", self.program);
        }
        AfterFence::Die
    }
}
