//! What the resource manager asks its shell to do, and what comes back.

use std::fmt;
use std::time::Duration;

use hb_wire::Message;

use crate::log::Log;

/// Identifies one agent run; results for stale ids are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// The action argument of a resource script (`<script> <args…> <action>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Start,
    Stop,
    Status,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Status => "status",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Run `<script> <args…> <action>` for one resource of one group.
///
/// The shell resolves the script (`/etc/ha.d/resource.d/<script>`, then
/// `/etc/init.d/<script>`), sets `HA_CURHOST` etc., enforces `timeout`
/// (kill and report [`AgentOutcome::TimedOut`]), and logs ResourceManager's
/// own lines that need the path: `info: Running <path> <args> <action>` for
/// start/stop, `ERROR: Return code N from <path>` for a failed start/stop,
/// `ERROR: Cannot locate resource script X` when it finds none. Exactly one
/// agent runs at a time per node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentRequest {
    pub op: OpId,
    /// Index into `Config::groups`.
    pub group: usize,
    /// Index into that group's `resources`.
    pub resource: usize,
    pub action: Action,
    pub timeout: Duration,
    /// Export `HA_NICEFAILBACK=yes` to the agent. heartbeat sets it (only
    /// with nice_failback, i.e. `auto_failback on|off`) for the processes
    /// that take groups at boot or after a peer's death
    /// (`req_our_resources`, `mach_down`, the `rc.d` scripts), not for
    /// standby moves or the shutdown release.
    pub nice_failback: bool,
}

/// How an agent run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentOutcome {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    /// Could not be started at all (script missing, exec error).
    SpawnFailed(String),
}

/// An agent's result. For `status` only `stdout` counts (heartbeat ignores
/// the exit code), unless the run timed out or never started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentResult {
    pub outcome: AgentOutcome,
    pub stdout: String,
}

impl AgentResult {
    pub fn exited(code: i32, stdout: impl Into<String>) -> AgentResult {
        AgentResult {
            outcome: AgentOutcome::Exited(code),
            stdout: stdout.into(),
        }
    }

    pub(crate) fn succeeded(&self) -> bool {
        self.outcome == AgentOutcome::Exited(0)
    }
}

/// Who must be fenced.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FenceTarget {
    /// This node: a stop failed and the resource still runs. The shell must
    /// make this node stop holding anything *now* (heartbeat: `pkill -9
    /// heartbeat; reboot -nf`). The core sends nothing more afterwards.
    Local,
    /// A dead peer, through the configured STONITH device; answer with
    /// [`crate::ResourceManager::handle_fence_result`].
    Node(String),
}

/// One instruction for the shell, in the order they must happen.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    RunAgent(AgentRequest),
    /// Hand to `Membership::send` (it adds src/seq/… and signs).
    Send(Message),
    Fence {
        target: FenceTarget,
        reason: String,
    },
    /// Every group was released after a local shutdown request: now call
    /// `Membership::shutdown`, which sends `t=shutdone st=dead`.
    ShutdownReady,
    Log(Log),
}

/// Requests from local tools (hb_standby, hb_takeover, the init script).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalRequest {
    /// `hb_standby [all|local|foreign|failback]`.
    Standby(crate::Scope),
    /// `hb_takeover [all|local|foreign|failback]`.
    Takeover(crate::Scope),
    /// Graceful stop: release everything, then [`Command::ShutdownReady`].
    Shutdown,
}
