//! The story the demo tells: boot, steady state, power-off of the VIP's
//! home node, detection, takeover, the node's return and failback. What it
//! can show depends on the daemon: until it runs resources, no node takes
//! the VIP, and the demo shows membership only (and says so).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::Result;
use ha_tests::Timing;

use crate::cluster::DemoCluster;
use crate::configs::DemoConfig;
use crate::http::{self, ClientLoop};
use crate::timeline::{offset, Timeline};

/// How often cluster state is polled while something is awaited.
const POLL: Duration = Duration::from_millis(50);
/// Extra time, after initdead, for a resource to show up.
const VIP_GRACE: Duration = Duration::from_secs(15);
/// How long the survivor is watched serving alone.
const STEADY: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No node ever took the VIP: membership only.
    Membership,
    /// The VIP came up: the whole failover story.
    Vip,
}

#[derive(Clone, Debug)]
pub struct Check {
    pub what: String,
    pub ok: bool,
}

#[derive(Clone, Debug)]
pub struct Milestone {
    pub what: String,
    pub at: Duration,
}

#[derive(Debug)]
pub struct Report {
    pub mode: Mode,
    pub checks: Vec<Check>,
    pub milestones: Vec<Milestone>,
    pub power_off: Option<Duration>,
    /// Requests: total, answered per node, failed.
    pub requests: Vec<(String, usize)>,
}

impl Report {
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    fn check(&mut self, what: impl Into<String>, ok: bool) -> bool {
        self.checks.push(Check {
            what: what.into(),
            ok,
        });
        ok
    }

    fn milestone(&mut self, what: impl Into<String>, at: Duration) {
        self.milestones.push(Milestone {
            what: what.into(),
            at,
        });
    }
}

/// Poll `probe` until it holds or `timeout` passes; the offset when it held.
fn wait_until(
    tl: &Timeline,
    timeout: Duration,
    mut probe: impl FnMut() -> bool,
) -> Option<Duration> {
    let end = tl.now() + timeout;
    loop {
        if probe() {
            return Some(tl.now());
        }
        if tl.now() >= end {
            return None;
        }
        thread::sleep(POLL);
    }
}

/// `Ok` while every request since `from` was answered by `node`.
fn only_answers_from(client: &ClientLoop, node: &str, from: Duration) -> Result<(), String> {
    match client
        .samples()
        .into_iter()
        .find(|s| s.at >= from && s.outcome.node() != Some(node))
    {
        Some(s) => Err(format!("request at {} got {:?}", offset(s.at), s.outcome)),
        None => Ok(()),
    }
}

fn pause(interactive: bool, action: &str) {
    if !interactive || !std::io::stdin().is_terminal() {
        return;
    }
    print!("\n>>> press Enter to {action} ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Wait until every node reports every other one `active`, logging each
/// direction as it happens.
fn wait_all_active(
    c: &DemoCluster,
    cfg: &DemoConfig,
    tl: &Timeline,
    timeout: Duration,
) -> Option<Duration> {
    let pairs: Vec<(String, String)> = cfg
        .nodes
        .iter()
        .flat_map(|a| {
            cfg.nodes
                .iter()
                .filter(move |b| *b != a)
                .map(move |b| (a.clone(), b.clone()))
        })
        .collect();
    let mut seen = vec![false; pairs.len()];
    wait_until(tl, timeout, || {
        for (i, (a, b)) in pairs.iter().enumerate() {
            if seen.get(i) == Some(&false) && c.status(a, b).is_ok_and(|s| s == "active") {
                tl.log(a, format!("cl_status: {b} is active"));
                if let Some(s) = seen.get_mut(i) {
                    *s = true;
                }
            }
        }
        seen.iter().all(|s| *s)
    })
}

pub fn run(
    c: &mut DemoCluster,
    cfg: &DemoConfig,
    tl: &Arc<Timeline>,
    interactive: bool,
) -> Result<Report> {
    let t: Timing = cfg.timing;
    let home = cfg.home.clone();
    let other = cfg.other(&home).to_owned();
    let vip = cfg.vip;
    let mut r = Report {
        mode: Mode::Membership,
        checks: Vec::new(),
        milestones: Vec::new(),
        power_off: None,
        requests: Vec::new(),
    };

    tl.note("\n== 1. boot: both directors power on ==");
    let t_boot = tl.now();
    for n in &cfg.nodes {
        c.boot(n)?;
        tl.log(
            n,
            "powered on: heartbeat started, HTTP service answering on its own address",
        );
    }
    let client = ClientLoop::start(
        c.client().ns.name(),
        SocketAddrV4::new(vip, http::PORT),
        tl.clone(),
    )?;
    tl.log(
        "client",
        format!("starts GET http://{vip}/ every {} ms", ms(http::PERIOD)),
    );
    let active = wait_all_active(c, cfg, tl, t.initdead + Duration::from_secs(10));
    if !r.check(
        "both directors see each other active after boot",
        active.is_some(),
    ) {
        return Ok(finish(r, client, cfg));
    }
    if let Some(a) = active {
        r.milestone("both directors active", a);
    }

    // Resources start after initdead at the latest; give them a margin.
    let vip_deadline = (t_boot + t.initdead + VIP_GRACE).saturating_sub(tl.now());
    let mut holders = Vec::new();
    let vip_at = wait_until(tl, vip_deadline, || {
        holders = c.holders(vip);
        !holders.is_empty()
    });
    match vip_at {
        Some(at) => {
            r.mode = Mode::Vip;
            tl.log_at(at, &holders.join("+"), format!("holds the VIP {vip}"));
            r.milestone(format!("VIP {vip} up on {}", holders.join("+")), at);
            let served = wait_until(tl, Duration::from_secs(5), || {
                client.first_answer_from(&home, t_boot).is_some()
            });
            if r.check(
                format!("VIP served by {home} (its home) before the power-off"),
                served.is_some(),
            ) {
                if let Some(s) = client.first_answer_from(&home, t_boot) {
                    r.milestone(format!("client: first answer from {home}"), s);
                }
                let from = tl.now();
                let steady = ha_tests::hold_for(&format!("{home} serving"), STEADY, POLL, || {
                    only_answers_from(&client, &home, from)
                });
                if let Err(e) = &steady {
                    tl.log("demo", format!("{e:#}"));
                }
                r.check(
                    format!("for {} s {home} answered every request", STEADY.as_secs()),
                    steady.is_ok(),
                );
            }
        }
        None => {
            tl.log(
                "demo",
                format!(
                    "no director took the VIP {vip} within initdead + {} s: this daemon does not run \
                     resources (yet), or the resource failed (see the ha-logs); showing membership only",
                    VIP_GRACE.as_secs()
                ),
            );
        }
    }

    pause(
        interactive,
        &format!("power off {home} (kill -9, cable out)"),
    );
    tl.note(&format!("\n== 2. failover: {home} loses power =="));
    let t_off = tl.now();
    c.power_off(&home)?;
    tl.log_at(
        t_off,
        &home,
        "POWER OFF: cable out, SIGKILL to all its processes (heartbeat, HTTP service)",
    );
    r.power_off = Some(t_off);
    r.milestone(format!("{home} powered off"), t_off);

    let dead = wait_until(tl, t.deadtime + Duration::from_secs(5), || {
        c.status(&other, &home).is_ok_and(|s| s == "dead")
    });
    match dead {
        Some(at) => {
            let took = at.saturating_sub(t_off);
            tl.log_at(
                at,
                &other,
                format!(
                    "cl_status: {home} is dead, {} ms after the power-off (deadtime {} ms)",
                    ms(took),
                    ms(t.deadtime)
                ),
            );
            r.milestone(format!("{other} declares {home} dead"), at);
            for line in c.node(&other)?.log_lines(&format!("node {home}: is dead")) {
                tl.note(&format!("{:>13}  {other} ha-log: {line}", ""));
            }
            let floor = t
                .deadtime
                .saturating_sub(t.keepalive + Duration::from_millis(50));
            r.check(
                format!(
                    "{other} declared {home} dead {} ms after the power-off (allowed {}..{} ms)",
                    ms(took),
                    ms(floor),
                    ms(t.deadtime + Timing::DEAD_MARGIN)
                ),
                took >= floor && took <= t.deadtime + Timing::DEAD_MARGIN,
            );
        }
        None => {
            r.check(format!("{other} declared {home} dead"), false);
            return Ok(finish(r, client, cfg));
        }
    }

    if r.mode == Mode::Vip {
        let took_over = wait_until(tl, Duration::from_secs(20), || {
            c.holds(&other, vip).unwrap_or(false)
        });
        if let Some(at) = took_over {
            tl.log_at(at, &other, format!("holds the VIP {vip} (takeover)"));
            r.milestone(format!("VIP taken over by {other}"), at);
        }
        let served = wait_until(tl, Duration::from_secs(10), || {
            client.first_answer_from(&other, t_off).is_some()
        })
        .and(client.first_answer_from(&other, t_off));
        if r.check(
            format!("VIP served by {other} after the failover"),
            served.is_some(),
        ) {
            if let Some(at) = served {
                r.milestone(format!("client: first answer from {other}"), at);
            }
        }
    }

    // An observation window, not a delay: the survivor must keep seeing the
    // home node dead and (with a VIP) serve every request alone.
    let from = tl.now();
    let serving = r.mode == Mode::Vip;
    let steady = ha_tests::hold_for(&format!("{other} alone"), STEADY, POLL, || {
        c.node(&other)
            .map_err(|e| e.to_string())?
            .expect_status(&home, "dead")?;
        if serving {
            only_answers_from(&client, &other, from)?;
        }
        Ok(())
    });
    if let Err(e) = &steady {
        tl.log("demo", format!("{e:#}"));
    }
    r.check(
        if serving {
            format!(
                "for {} s {other} kept {home} dead and answered every request",
                STEADY.as_secs()
            )
        } else {
            format!(
                "for {} s {other} kept reporting {home} dead",
                STEADY.as_secs()
            )
        },
        steady.is_ok(),
    );
    tl.log(
        &other,
        format!("still running alone after {} s", STEADY.as_secs()),
    );

    pause(interactive, &format!("power {home} back on"));
    tl.note(&format!("\n== 3. {home} returns =="));
    let t_on = tl.now();
    c.boot(&home)?;
    tl.log_at(
        t_on,
        &home,
        "powered on again: heartbeat started (a new generation), HTTP service up",
    );
    r.milestone(format!("{home} powered on"), t_on);
    let rejoined = wait_all_active(c, cfg, tl, t.initdead + Duration::from_secs(10));
    if r.check(
        format!("{home} rejoined: both directors active again"),
        rejoined.is_some(),
    ) {
        if let Some(at) = rejoined {
            r.milestone("both directors active again", at);
        }
    }

    if r.mode == Mode::Vip && cfg.auto_failback {
        let back = wait_until(tl, t.initdead + Duration::from_secs(20), || {
            c.holds(&home, vip).unwrap_or(false) && !c.holds(&other, vip).unwrap_or(true)
        });
        if let Some(at) = back {
            tl.log_at(
                at,
                &home,
                format!("holds the VIP {vip} again (auto_failback on)"),
            );
            r.milestone(format!("VIP back on {home}"), at);
        }
        let served = wait_until(tl, Duration::from_secs(10), || {
            client.first_answer_from(&home, t_on).is_some()
        })
        .and(client.first_answer_from(&home, t_on));
        if r.check(
            format!("VIP served by {home} again (failback)"),
            served.is_some(),
        ) {
            if let Some(at) = served {
                r.milestone(format!("client: first answer from {home} again"), at);
            }
        }
    }
    Ok(finish(r, client, cfg))
}

fn finish(mut r: Report, mut client: ClientLoop, cfg: &DemoConfig) -> Report {
    client.stop();
    let samples = client.samples();
    r.requests.push(("requests".into(), samples.len()));
    for n in &cfg.nodes {
        let k = samples
            .iter()
            .filter(|s| s.outcome.node() == Some(n.as_str()))
            .count();
        r.requests.push((format!("answered by {n}"), k));
    }
    let failed = samples
        .iter()
        .filter(|s| s.outcome.node().is_none())
        .count();
    r.requests.push(("failed".into(), failed));
    if r.mode == Mode::Vip {
        if let Some(off) = r.power_off {
            let last = client.last_answer_before(off).map(|s| s.at);
            let next = samples
                .iter()
                .find(|s| s.at > off && s.outcome.node().is_some())
                .map(|s| s.at);
            if let (Some(a), Some(b)) = (last, next) {
                r.requests.push((
                    "client outage (ms)".into(),
                    ms(b.saturating_sub(a)) as usize,
                ));
            }
        }
    }
    r
}

/// The summary table.
pub fn print_summary(r: &Report, cfg: &DemoConfig) {
    let t = cfg.timing;
    println!("\n== summary ==");
    match r.mode {
        Mode::Vip => println!(
            "shown: membership AND the VIP {} moving {} -> {} -> {}",
            cfg.vip,
            cfg.home,
            cfg.other(&cfg.home),
            cfg.home
        ),
        Mode::Membership => println!(
            "shown: membership only (no director took the VIP {}: the daemon does not run resources yet)",
            cfg.vip
        ),
    }
    println!(
        "timing: keepalive {} ms, deadtime {} ms, warntime {} ms, initdead {} ms; auth sha1; bcast eth0",
        ms(t.keepalive),
        ms(t.deadtime),
        ms(t.warntime),
        ms(t.initdead)
    );
    println!();
    println!(
        "| {:<44} | {:>11} | {:>15} |",
        "event", "at", "after power-off"
    );
    println!("|{:-<46}|{:->13}|{:->17}|", "", "", "");
    for m in &r.milestones {
        let since = match r.power_off {
            Some(off) if m.at >= off => format!("+{} ms", ms(m.at - off)),
            _ => String::new(),
        };
        println!("| {:<44} | {:>11} | {:>15} |", m.what, offset(m.at), since);
    }
    println!();
    for (what, n) in &r.requests {
        println!("{what:>22}: {n}");
    }
    println!();
    for c in &r.checks {
        println!("[{}] {}", if c.ok { " ok " } else { "FAIL" }, c.what);
    }
    println!(
        "\nresult: {}",
        if r.passed() {
            "PASS: the failover happened as expected"
        } else {
            "FAIL"
        }
    );
}
