//! Sans-IO resource manager for heartbeat 3.0.6's haresources (v1) mode.
//!
//! Invariant: nothing here reads a clock, opens a socket, touches a file or
//! spawns a process. Time comes in as `now: Instant`; membership events,
//! agent results, fence results and local requests come in through the
//! `handle_*` methods; everything the node must do comes out of
//! [`ResourceManager::poll_command`] ([`Command::RunAgent`],
//! [`Command::Send`], [`Command::Fence`], [`Command::ShutdownReady`],
//! [`Command::Log`]), with the next deadline from
//! [`ResourceManager::poll_timeout`] (quinn-proto's shape).
//!
//! What it reproduces from heartbeat (`hb_resource.c`, `ResourceManager`,
//! `mach_down`, `req_resource`, `rc.d/*`):
//! * nice_failback boot (`auto_failback on|off`): `starting`, `resource`
//!   reports with `isstable`, RQSTDELAY (10 s) deadlock breaker;
//! * the 3-phase standby (`ask_resources` me → other → done → done),
//!   `hb_takeover`, auto failback as a standby of `foreign`;
//! * dead peer: `stonith` notice (or a real fence), mach_down takeover and
//!   `resource rsc_hold=foreign info=mach_down`; peer shutdown (`shutdone`):
//!   immediate takeover;
//! * legacy (`auto_failback legacy`): `ip-request` / `ip-request-resp`,
//!   standby refused with heartbeat's message;
//! * group semantics: start left→right, each start preceded by a `status`
//!   probe whose *output* decides; stop right→left; a failed stop retried
//!   10 times 1 s apart, then `status`, then fence (heartbeat: reboot).
//!
//! Where it deliberately differs (safer or fixes a heartbeat bug):
//! * A failed start stops the group and then hands its set (`local` or
//!   `foreign`) to the peer with the standby protocol. heartbeat waits 30 s
//!   and runs `hb_standby` with a type computed from the failing *resource*
//!   instead of the group key, which with multi-resource groups leaves the
//!   group down on both nodes. A group that fails here again before it ever
//!   started stays stopped (no ping-pong).
//! * `resource` reports carry what still runs here (the protocol word plus
//!   the set of every group not yet stopped). heartbeat clears the bits
//!   before the stops of a standby or shutdown (`rsc_hold=none
//!   info=shutdown`), so a peer booting meanwhile takes those groups when
//!   its RQSTDELAY expires while slow or retried stops still run here.
//!   Same fields, sometimes a larger word than heartbeat would send.
//! * If a STONITH completes after the peer already rejoined, its groups are
//!   not taken (the new incarnation negotiates them).
//! * After a local fence nothing more is sent, so the peer cannot start a
//!   group whose stop failed here before it declares this node dead.
//! * With STONITH configured, every dead peer that did not announce a
//!   graceful stop is fenced. heartbeat skips STONITH when the peer's last
//!   report said it held nothing, which after a partition right after boot
//!   lets both sides take everything.
//! * All resource work of a node runs strictly in order, one agent at a
//!   time; heartbeat runs some of it in concurrent children.
//! * Own messages are applied when sent (heartbeat applies the copy it
//!   receives); `Event::Deliver` from the local node is ignored.
//! * A `shutdone` from the peer triggers only the mach_down path, not
//!   heartbeat's additional stale-typed standby acquisition.
//! * A cancelled auto-failback standby is retried instead of forgotten.
//! * Agents have time limits (heartbeat has none); a timeout is a failure.
//!
//! Groups are hb-config's [`ResourceGroup`]s as `load_haresources` returns
//! them; resource indices in [`AgentRequest`] index their `resources`.

mod command;
mod config;
mod exec;
mod hold;
mod log;
mod manager;
pub mod messages;
mod status;

pub use command::{
    Action, AgentOutcome, AgentRequest, AgentResult, Command, FenceTarget, LocalRequest, OpId,
};
pub use config::{
    group, group_line, AutoFailback, Config, ConfigError, ConfigProblem, Resource, ResourceGroup,
    Timing,
};
pub use exec::{GroupState, ResState};
pub use hold::{Hold, RscStatus, Scope};
pub use log::{Level, Log, Source};
pub use manager::{Going, GroupView, RState, ResourceManager};
pub use status::says_running;
