//! Steps shared by the scenarios.

use std::time::Duration;

use anyhow::{ensure, Result};
use ha_tests::{hold_for, wait_for, Cluster, Timing};

/// Poll period while timing a death: small against deadtime, cheap enough
/// for parallel tests on 2 cores.
pub const FAST_POLL: Duration = Duration::from_millis(100);
/// Poll period for long observation windows.
pub const SLOW_POLL: Duration = Duration::from_millis(1000);

/// How long to watch a healthy cluster for packet loss and flapping.
pub const STEADY: Duration = Duration::from_secs(20);

/// Boot deadline: initdead plus the real init script and the first rounds.
pub fn boot_deadline(t: &Timing) -> Duration {
    t.initdead + Duration::from_secs(10)
}

/// Watch `a` and `b` for [`STEADY`]: both must keep reporting each other
/// `active`, and neither ha-log may report lost packets from the other or
/// complain about a packet it received.
pub fn steady_state(c: &Cluster, a: &str, b: &str) -> Result<()> {
    let (na, nb) = (c.node(a), c.node(b));
    hold_for(&format!("{a} and {b} active"), STEADY, SLOW_POLL, || {
        na.expect_status(b, "active")?;
        nb.expect_status(a, "active")
    })?;
    for (me, peer) in [(na, b), (nb, a)] {
        let lost: Vec<String> = me
            .log_lines("lost packet")
            .into_iter()
            .filter(|l| l.contains(&format!("[{peer}]")))
            .collect();
        ensure!(
            lost.is_empty(),
            "{} logged lost packets from {peer} at steady state:\n{}",
            me.name(),
            lost.join("\n")
        );
        // What heartbeat logs when it cannot use a peer's packet.
        let complaints: Vec<String> = [
            "authtoken does not match",
            "authentication failed",
            "should_drop_message",
            "process_clustermsg",
            "Dumping message",
            "flow control disabled",
        ]
        .iter()
        .flat_map(|needle| me.log_lines(needle))
        .collect();
        ensure!(
            complaints.is_empty(),
            "{} complained about packets at steady state:\n{}",
            me.name(),
            complaints.join("\n")
        );
        let late = me.log_lines("Late heartbeat");
        if !late.is_empty() {
            eprintln!(
                "note: {} logged late heartbeats:\n{}",
                me.name(),
                late.join("\n")
            );
        }
    }
    Ok(())
}

/// Power off `victim` and time how long `observer` takes to report it
/// `dead`. Must be within deadtime + margin, and not before
/// deadtime - keepalive (the last packet can be at most one keepalive old).
pub fn crash_and_time_death(c: &mut Cluster, victim: &str, observer: &str) -> Result<Duration> {
    let t = c.timing();
    c.node_mut(victim).crash()?;
    let obs = c.node(observer);
    let (_, took) = wait_for(
        &format!("{observer} to report {victim} dead"),
        t.deadtime + Timing::DEAD_MARGIN,
        FAST_POLL,
        || obs.expect_status(victim, "dead"),
    )?;
    let floor = t
        .deadtime
        .saturating_sub(t.keepalive + Duration::from_millis(50));
    ensure!(
        took >= floor,
        "{observer} declared {victim} dead after {took:?}, earlier than deadtime {:?} allows",
        t.deadtime
    );
    eprintln!(
        "{observer} reported {victim} dead {took:?} after the crash (deadtime {:?})",
        t.deadtime
    );
    Ok(took)
}

/// `observer` keeps reporting `peer` as `dead` for `period`.
pub fn stays_dead(c: &Cluster, observer: &str, peer: &str, period: Duration) -> Result<()> {
    let obs = c.node(observer);
    hold_for(
        &format!("{observer} reporting {peer} dead"),
        period,
        FAST_POLL,
        || obs.expect_status(peer, "dead"),
    )
}

/// Wait until `observer` reports `peer` as anything but dead.
pub fn revives(c: &Cluster, observer: &str, peer: &str, timeout: Duration) -> Result<String> {
    let obs = c.node(observer);
    wait_for(
        &format!("{observer} to see {peer} alive"),
        timeout,
        FAST_POLL,
        || match obs.status_of(peer) {
            Ok(s) if s != "dead" => Ok(s),
            Ok(s) => Err(s),
            Err(e) => Err(e),
        },
    )
    .map(|(s, _)| s)
}

/// Stop `who` gracefully; `observer` must report it `dead` within a
/// deadtime (+ margin) of the stop finishing. Real heartbeat takes over
/// resources at once on the shutdown notice, but its node status only turns
/// `dead` when the dead timer runs out, so that is the bar.
pub fn graceful_stop_seen(c: &mut Cluster, who: &str, observer: &str) -> Result<Duration> {
    let t = c.timing();
    let start = std::time::Instant::now();
    c.node_mut(who).stop()?;
    let stopped = start.elapsed();
    let obs = c.node(observer);
    let (_, after) = wait_for(
        &format!("{observer} to report {who} dead after its graceful stop"),
        t.deadtime + Timing::DEAD_MARGIN,
        FAST_POLL,
        || obs.expect_status(who, "dead"),
    )?;
    eprintln!("{who} stopped in {stopped:?}; {observer} reported it dead {after:?} later");
    Ok(stopped + after)
}

/// Start `who` again (same state dir: its generation goes up) and wait
/// until both see each other active.
pub fn restart_seen(c: &mut Cluster, who: &str, observer: &str) -> Result<Duration> {
    let t = c.timing();
    c.node_mut(who).start()?;
    let (n1, n2) = (c.node(who), c.node(observer));
    let (_, took) = wait_for(
        &format!("{who} and {observer} active again after the restart"),
        boot_deadline(&t),
        Duration::from_millis(250),
        || {
            n2.expect_status(who, "active")?;
            n1.expect_status(observer, "active")
        },
    )?;
    eprintln!("{who} restarted; both active after {took:?}");
    Ok(took)
}
