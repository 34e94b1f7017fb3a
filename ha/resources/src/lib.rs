//! Sans-IO resource manager for heartbeat 3.0.6's haresources (v1) mode.
//!
//! Invariant: nothing here reads a clock, opens a socket, touches a file or
//! spawns a process. Time comes in as `now: Instant`; membership events,
//! agent results, fence results and local requests come in through the
//! `handle_*` methods of [`ResourceManager`]; everything the node must do
//! comes out of [`ResourceManager::poll_command`] in order
//! ([`Command::RunAgent`], [`Command::Send`], [`Command::Fence`],
//! [`Command::ShutdownReady`], [`Command::Log`]), with the next deadline
//! from [`ResourceManager::poll_timeout`] (quinn-proto's shape).
//!
//! # Driving it
//! * `new(config, now)`; groups are hb-config's [`ResourceGroup`]s as
//!   `load_haresources` returns them.
//! * Every `hb_membership::Event` goes to `handle_membership` (the RM needs
//!   `CommUp`, `NodeStatus`, `NodeDead`, `NodeRestarted`, `PeerShutdown` and
//!   `Deliver`; the rest is ignored), in the order membership raises them:
//!   a `NodeDead` before `CommUp` (initdead) is recovered once the cluster
//!   is up, so either order of the two works. Our own messages are applied
//!   when sent; a `Deliver` from the local node is ignored.
//! * `Command::Send` goes to `Membership::send`; `Command::ShutdownReady`
//!   means "every group released": call `Membership::shutdown` (it sends
//!   `shutdone`). Messages local scripts write to the FIFO go through
//!   `handle_local_message` (sent and applied like our own).
//! * `Command::RunAgent` runs one resource script action (one at a time);
//!   its result comes back through `handle_agent_result`. The shell logs the
//!   lines that need the script path ("Running …", "Return code N from …").
//! * `Command::Fence { target: Local }`: a stop failed and the resource still
//!   runs; the shell must make this node hold nothing now (heartbeat:
//!   `pkill -9 heartbeat; reboot -nf`). `Fence { target: Node(n) }` (only
//!   with `Config::stonith`): reset `n`, answer `handle_fence_result`.
//! * `rsc_status()` is `cl_status rscstatus`.
//!
//! * Ping nodes: their `NodeStatus` events go to `handle_membership` like
//!   any other; with [`Config::isolation_ping_nodes`] set they drive the
//!   isolation guard (below), otherwise they are ignored.
//!
//! [`ipfail`] is a second, independent state machine of the same shape:
//! heartbeat's ipfail client built in. The shell feeds it membership events
//! and ping counts and hands its standby requests to the resource manager.
//!
//! # What it reproduces (`hb_resource.c`, `ResourceManager`, `mach_down`,
//! `req_resource`, `rc.d/*`)
//! * nice_failback boot (`auto_failback on|off`): `starting`, `resource`
//!   reports with `isstable`, the RQSTDELAY (10 s) deadlock breaker, alone →
//!   initdead → mach_down of the silent node;
//! * the 3-phase standby (`ask_resources` me → other → done → done) with its
//!   refusals ("Other side is in flux.", "Standby in progress- …"),
//!   `hb_takeover` (peer goes standby all→all, local→foreign,
//!   foreign→local), auto failback as a standby of `foreign`;
//! * a dead peer: `stonith` notice (`n_stnth`/`unneeded`, or a real fence and
//!   `OK`), mach_down takeover and `resource rsc_hold=foreign info=mach_down`;
//!   a peer's `shutdone`: immediate takeover; our shutdown: `resource …
//!   info=shutdown`, every group stopped, then `ShutdownReady`;
//! * legacy (`auto_failback legacy`): `ip-request` / `ip-request-resp`, no
//!   RQSTDELAY, standby refused ("Standby mode only implemented when
//!   nice_failback on"), `rscstatus` stays `none`;
//! * groups: start left→right, each start preceded by a `status` probe whose
//!   *output* decides ([`says_running`]); stop right→left; a failed stop is
//!   retried 10 times 1 s apart, then `status`, then fence.
//!
//! # Where it deliberately differs
//! Each of these closes a hole found by the interleaving property tests (or
//! seen in the reference experiments); a real heartbeat peer sees the same
//! message types and fields.
//! * **Start failure**: the group is stopped, then its set (`local` or
//!   `foreign`) is handed to the peer with the standby protocol. heartbeat
//!   waits 30 s and runs `hb_standby` with a type computed from the failing
//!   *resource*, which leaves multi-resource groups down everywhere. A group
//!   that fails here again before it ever started stays stopped.
//! * **Truthful reports**: `resource` reports carry the protocol word plus
//!   the set of every group that still runs, may run, or has a take queued
//!   here; when that shrinks while idle a fresh report is sent. heartbeat
//!   clears bits before the stops (`rsc_hold=none info=shutdown`), so a peer
//!   booting meanwhile starts groups that are still being stopped. A
//!   standby job reports again when its stops/starts are done, just before
//!   its `done`, so the partner never audits a stale word.
//! * **Orphan repair**: heartbeat only logs "No one owns our local
//!   resources!"; when a fresh stable report of the peer agrees, we take
//!   our local groups back (each side only repairs its own set).
//! * **Standby exchanges** are cancelled when the partner restarts (a
//!   `starting`), not only when it dies, and a cancelled exchange never
//!   sends its late `done` (heartbeat's would be read as the `done` of a
//!   newer exchange). A cancelled auto failback is retried.
//! * **STONITH** (when configured): every dead peer that did not stop cleanly
//!   is fenced (heartbeat skips it when the last report said "none", which
//!   after a partition right after boot gives a split brain); a fence that
//!   completes after the peer rejoined does not take its groups.
//! * **Legacy**: a mach_down take is skipped if the node is alive again when
//!   it runs; a peer counts as present when alive, not only when `active`
//!   (heartbeat's `upcount`), so a node restarting right after a takeover
//!   asks instead of starting its groups beside the survivor; unanswered
//!   `ip-request`s are repeated every RQSTDELAY and after a peer restart.
//! * After a local fence nothing more is sent, and a node that is shutting
//!   down takes part in nothing new.
//! * All resource work of a node runs strictly in order, one agent at a
//!   time (heartbeat mixes concurrent children and a deferred queue).
//! * A `shutdone` triggers only the mach_down path, not heartbeat's extra
//!   standby acquisition computed from stale globals.
//! * Agents have time limits ([`Timing`]); a timeout is a failure, and a
//!   timed-out final `status` after failed stops counts as "still running".
//! * A lone configured node takes its groups at Comm_now_up (heartbeat would
//!   wait for a report nobody sends).
//! * **Isolation guard** (only with [`Config::isolation_ping_nodes`], which
//!   the shell sets when ipfail runs built in): a peer declared dead while
//!   none of those ping nodes answers is not taken over; the takeover runs
//!   when one answers while the peer is still dead, and is dropped if the
//!   peer comes back first. heartbeat + ipfail takes over regardless (ipfail
//!   only logs "NS: We are dead. :<"), which starts every group twice when
//!   the survivor is the isolated one.

mod command;
mod config;
mod exec;
mod hold;
pub mod ipfail;
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
