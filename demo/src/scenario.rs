//! The story the demo tells: boot (real servers, directors), steady state,
//! a real server failing and returning (with ldirectord), power-off of the
//! VIP's home director, detection, takeover, the director's return and
//! failback. What it can show depends on the daemons: with ldirectord the
//! real servers answer behind the VIP; without it the directors answer on
//! the VIP themselves; if no director takes the VIP, membership only (and
//! the demo says which).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::Result;
use ha_tests::Timing;

use crate::cluster::DemoCluster;
use crate::configs::DemoConfig;
use crate::http::{self, ClientLoop, Outcome};
use crate::report::{ms, Mode, Report};
use crate::timeline::{offset, Timeline};

/// How often cluster state is polled while something is awaited.
const POLL: Duration = Duration::from_millis(50);
/// Extra time, after initdead, for a resource to show up.
const VIP_GRACE: Duration = Duration::from_secs(15);
/// How long a steady state is watched.
const STEADY: Duration = Duration::from_secs(2);
/// Allowed client outage on top of deadtime: the takeover (IPaddr2, then
/// ldirectord's start and its first check round).
pub const OUTAGE_MARGIN: Duration = Duration::from_secs(3);

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

/// Who is expected to answer on the VIP.
struct Serving {
    /// Real server names (with ldirectord), else empty.
    reals: Vec<String>,
}

impl Serving {
    /// Whether `o` is a proper answer while `holder` holds the VIP.
    fn ok(&self, o: &Outcome, holder: &str) -> bool {
        match o.node() {
            Some(n) if self.reals.is_empty() => n == holder,
            Some(n) => self.reals.iter().any(|r| r == n),
            None => false,
        }
    }

    fn who(&self, holder: &str) -> String {
        if self.reals.is_empty() {
            holder.to_owned()
        } else {
            format!("a real server ({})", self.reals.join("/"))
        }
    }
}

/// `Ok` while every request since `from` was properly answered.
fn all_served(
    client: &ClientLoop,
    serving: &Serving,
    holder: &str,
    from: Duration,
) -> Result<(), String> {
    match client
        .samples()
        .into_iter()
        .find(|s| s.at >= from && !serving.ok(&s.outcome, holder))
    {
        Some(s) => Err(format!("request at {} got {:?}", offset(s.at), s.outcome)),
        None => Ok(()),
    }
}

/// First request at or after `after` properly answered.
fn first_served(
    client: &ClientLoop,
    serving: &Serving,
    holder: &str,
    after: Duration,
) -> Option<(Duration, String)> {
    client
        .samples()
        .into_iter()
        .find(|s| s.at >= after && serving.ok(&s.outcome, holder))
        .map(|s| (s.at, s.outcome.node().unwrap_or("").to_owned()))
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

/// Wait for ldirectord to run on `node` (and, if given, to be gone from
/// `not_on`); logs and records the milestone.
fn await_ldirectord(
    c: &DemoCluster,
    tl: &Timeline,
    r: &mut Report,
    node: &str,
    not_on: Option<&str>,
    why: &str,
) -> bool {
    let at = wait_until(tl, Duration::from_secs(20), || {
        c.ldirectord_running(node) && not_on.is_none_or(|o| !c.ldirectord_running(o))
    });
    match at {
        Some(at) => {
            tl.log_at(
                at,
                node,
                format!("ldirectord running ({why}; pid file in /run)"),
            );
            r.milestone(format!("ldirectord running on {node}"), at);
        }
        None => {
            tl.log(
                node,
                "ldirectord did not start (see its init.out / ldirectord.log)",
            );
        }
    }
    r.check(
        match not_on {
            Some(o) => format!("ldirectord runs on {node} and no longer on {o}"),
            None => format!("ldirectord runs on {node}"),
        },
        at.is_some(),
    )
}

/// Boot the real servers: LVS-DR setup by LVSRealServer, then HTTP.
fn boot_reals(c: &mut DemoCluster, tl: &Timeline) -> Result<()> {
    let (Some(reals), client) = c.reals_and_client() else {
        return Ok(());
    };
    for name in reals.names() {
        let how = reals.make_dr(&name)?;
        tl.log(&name, format!("LVSRealServer start: {how}"));
        reals.start_http(&name, client)?;
        let ip = reals
            .servers()
            .iter()
            .find(|s| s.name() == name)
            .map(|s| s.ip().to_string())
            .unwrap_or_default();
        tl.log(
            &name,
            format!(
                "{} answering on {ip}:{}",
                reals.web().describe(),
                http::PORT
            ),
        );
    }
    Ok(())
}

pub fn run(
    c: &mut DemoCluster,
    cfg: &DemoConfig,
    tl: &Arc<Timeline>,
    interactive: bool,
    no_ldirectord: Option<String>,
) -> Result<Report> {
    let t: Timing = cfg.timing;
    let home = cfg.home.clone();
    let other = cfg.other(&home).to_owned();
    let vip = cfg.vip;
    let lvs = c.has_ldirectord();
    let serving = Serving {
        reals: if lvs {
            c.reals().map(|r| r.names()).unwrap_or_default()
        } else {
            Vec::new()
        },
    };
    let mut r = Report::new(no_ldirectord);

    tl.note("\n== 1. boot: real servers, then both directors ==");
    boot_reals(c, tl)?;
    let t_boot = tl.now();
    for n in &cfg.nodes {
        c.boot(n)?;
        let http = match c.director_http() {
            Some(a) if lvs => format!("ldirectord's fallback server answering on {a}"),
            Some(_) => "HTTP service answering on its own address".to_owned(),
            None => "no HTTP service of its own".to_owned(),
        };
        tl.log(n, format!("powered on: heartbeat started, {http}"));
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
        return Ok(finish(r, client, &t));
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
            r.mode = if lvs { Mode::Lvs } else { Mode::Vip };
            tl.log_at(at, &holders.join("+"), format!("holds the VIP {vip}"));
            r.milestone(format!("VIP {vip} up on {}", holders.join("+")), at);
            if lvs {
                await_ldirectord(c, tl, &mut r, &home, None, "heartbeat resource");
            }
            steady_before(c, &client, &serving, &home, t_boot, tl, &mut r);
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

    if r.mode == Mode::Lvs {
        pause(interactive, "stop the web server of rs1");
        real_server_fails(c, cfg, &client, &serving, &home, tl, &mut r)?;
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
        "POWER OFF: cable out, SIGKILL to all its processes (heartbeat, ldirectord, HTTP)",
    );
    r.power_off = Some(t_off);
    r.milestone(format!("{home} powered off"), t_off);

    let dead = wait_until(tl, t.deadtime + Duration::from_secs(5), || {
        c.status(&other, &home).is_ok_and(|s| s == "dead")
    });
    let Some(dead_at) = dead else {
        r.check(format!("{other} declared {home} dead"), false);
        return Ok(finish(r, client, &t));
    };
    let took = dead_at.saturating_sub(t_off);
    tl.log_at(
        dead_at,
        &other,
        format!(
            "cl_status: {home} is dead, {} ms after the power-off (deadtime {} ms)",
            ms(took),
            ms(t.deadtime)
        ),
    );
    r.milestone(format!("{other} declares {home} dead (detection)"), dead_at);
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

    if r.mode != Mode::Membership {
        let took_over = wait_until(tl, Duration::from_secs(20), || {
            c.holds(&other, vip).unwrap_or(false)
        });
        if let Some(at) = took_over {
            tl.log_at(at, &other, format!("holds the VIP {vip} (takeover)"));
            r.milestone(format!("VIP moved to {other}"), at);
        }
        if r.mode == Mode::Lvs {
            await_ldirectord(
                c,
                tl,
                &mut r,
                &other,
                None,
                "started by heartbeat on takeover",
            );
        }
        let served = wait_until(tl, Duration::from_secs(10), || {
            first_served(&client, &serving, &other, t_off).is_some()
        })
        .and(first_served(&client, &serving, &other, t_off));
        if r.check(
            format!("VIP served by {} after the failover", serving.who(&other)),
            served.is_some(),
        ) {
            if let Some((at, by)) = served {
                r.milestone(format!("first success after failover ({by})"), at);
            }
        }
    }

    // An observation window, not a delay: the survivor must keep seeing the
    // home node dead and (with a VIP) serve every request.
    let from = tl.now();
    let with_vip = r.mode != Mode::Membership;
    let steady = ha_tests::hold_for(&format!("{other} alone"), STEADY, POLL, || {
        c.node(&other)
            .map_err(|e| e.to_string())?
            .expect_status(&home, "dead")?;
        if with_vip {
            all_served(&client, &serving, &other, from)?;
        }
        Ok(())
    });
    if let Err(e) = &steady {
        tl.log("demo", format!("{e:#}"));
    }
    r.check(
        if with_vip {
            format!(
                "for {} s {other} kept {home} dead and every request was answered by {}",
                STEADY.as_secs(),
                serving.who(&other)
            )
        } else {
            format!(
                "for {} s {other} kept reporting {home} dead",
                STEADY.as_secs()
            )
        },
        steady.is_ok(),
    );

    pause(interactive, &format!("power {home} back on"));
    tl.note(&format!("\n== 3. {home} returns =="));
    let t_on = tl.now();
    c.boot(&home)?;
    tl.log_at(
        t_on,
        &home,
        "powered on again: heartbeat started (a new generation)",
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

    if r.mode != Mode::Membership && cfg.auto_failback {
        failback(c, cfg, &client, &serving, t_on, tl, &mut r);
    }
    Ok(finish(r, client, &t))
}

/// Before the power-off: the VIP is served, and for [`STEADY`] every
/// request is answered properly (with ldirectord: by every real server).
fn steady_before(
    c: &DemoCluster,
    client: &ClientLoop,
    serving: &Serving,
    home: &str,
    t_boot: Duration,
    tl: &Timeline,
    r: &mut Report,
) {
    let want: Vec<String> = if serving.reals.is_empty() {
        vec![home.to_owned()]
    } else {
        serving.reals.clone()
    };
    let all_seen = wait_until(tl, Duration::from_secs(10), || {
        want.iter()
            .all(|w| client.first_answer_from(w, t_boot).is_some())
    });
    let what = if serving.reals.is_empty() {
        format!("VIP served by {home} (its home) before the power-off")
    } else {
        format!(
            "VIP served through ldirectord on {home} by every real server ({})",
            want.join(", ")
        )
    };
    if !r.check(what, all_seen.is_some()) {
        return;
    }
    for w in &want {
        if let Some(s) = client.first_answer_from(w, t_boot) {
            r.milestone(format!("client: first answer from {w}"), s);
        }
    }
    let from = tl.now();
    let steady = ha_tests::hold_for(&format!("{home} serving"), STEADY, POLL, || {
        all_served(client, serving, home, from)
    });
    if let Err(e) = &steady {
        tl.log("demo", format!("{e:#}"));
    }
    r.check(
        format!(
            "for {} s every request was answered by {}",
            STEADY.as_secs(),
            serving.who(home)
        ),
        steady.is_ok(),
    );
    let _ = c;
}

/// With ldirectord: rs1's web server stops; ldirectord's check takes it
/// out (quiescent: weight 0), the others carry the load; it comes back.
fn real_server_fails(
    c: &mut DemoCluster,
    cfg: &DemoConfig,
    client: &ClientLoop,
    serving: &Serving,
    home: &str,
    tl: &Timeline,
    r: &mut Report,
) -> Result<()> {
    let Some(lvs) = cfg.lvs.as_ref() else {
        return Ok(());
    };
    let (Some(victim), Some(rip)) = (serving.reals.first().cloned(), lvs.reals.first()) else {
        return Ok(());
    };
    let survivors: Vec<String> = serving.reals.iter().skip(1).cloned().collect();
    tl.note(&format!(
        "\n== 1b. a real server fails: {victim}'s web server stops =="
    ));
    let t_fail = tl.now();
    if let Some(reals) = c.reals_mut() {
        reals.stop_http(&victim)?;
    }
    tl.log_at(t_fail, &victim, "web server stopped");
    r.milestone(format!("{victim}: web server stopped"), t_fail);
    // Detection takes one check round plus the negotiate timeout at most.
    let budget = lvs.checkinterval * 2 + Duration::from_secs(5);
    let needle = format!("real server: {rip}:{}", lvs.port);
    let logged = wait_until(tl, budget, || {
        !c.ldirectord_log(home, &format!("Quiescent {needle}"))
            .is_empty()
            || !c
                .ldirectord_log(home, &format!("Deleted {needle}"))
                .is_empty()
    });
    if let Some(at) = logged {
        let words = if lvs.quiescent {
            "quiesced (weight 0)"
        } else {
            "deleted"
        };
        tl.log_at(
            at,
            home,
            format!("ldirectord: {victim} {rip}:{} {words}", lvs.port),
        );
        r.milestone(format!("ldirectord takes {victim} out"), at);
    }
    // Client side: from some point on, a full second of answers, all from
    // the surviving real servers.
    let window = Duration::from_secs(1);
    let only_survivors = wait_until(tl, budget, || {
        let now = tl.now();
        if now < t_fail + window {
            return false;
        }
        let recent: Vec<_> = client
            .samples()
            .into_iter()
            .filter(|s| s.at >= now.saturating_sub(window))
            .collect();
        !recent.is_empty()
            && recent.iter().all(|s| {
                s.outcome
                    .node()
                    .is_some_and(|n| survivors.iter().any(|v| v == n))
            })
    });
    if let Some(at) = only_survivors {
        tl.log_at(
            at,
            "client",
            format!("every request now answered by {}", survivors.join("/")),
        );
    }
    r.check(
        format!(
            "with {victim} down, ldirectord sent every request to {} within {} s",
            survivors.join("/"),
            budget.as_secs()
        ),
        only_survivors.is_some(),
    );
    let t_back = tl.now();
    {
        let (reals, client_host) = c.reals_and_client();
        if let Some(reals) = reals {
            reals.start_http(&victim, client_host)?;
        }
    }
    tl.log_at(t_back, &victim, "web server started again");
    let back = wait_until(tl, budget, || {
        client.first_answer_from(&victim, t_back).is_some()
    })
    .and(client.first_answer_from(&victim, t_back));
    if let Some(at) = back {
        r.milestone(format!("{victim} back in rotation"), at);
    }
    r.check(
        format!("{victim} back in rotation after its web server restarted"),
        back.is_some(),
    );
    Ok(())
}

/// The home node is back: the VIP (and ldirectord) return to it.
fn failback(
    c: &DemoCluster,
    cfg: &DemoConfig,
    client: &ClientLoop,
    serving: &Serving,
    t_on: Duration,
    tl: &Timeline,
    r: &mut Report,
) {
    let (home, other, vip) = (cfg.home.as_str(), cfg.other(&cfg.home), cfg.vip);
    let t = cfg.timing;
    let back = wait_until(tl, t.initdead + Duration::from_secs(20), || {
        c.holds(home, vip).unwrap_or(false) && !c.holds(other, vip).unwrap_or(true)
    });
    if let Some(at) = back {
        tl.log_at(
            at,
            home,
            format!("holds the VIP {vip} again (auto_failback on)"),
        );
        r.milestone(format!("VIP back on {home} (failback)"), at);
    }
    let from = back.unwrap_or(t_on);
    if r.mode == Mode::Lvs {
        await_ldirectord(c, tl, r, home, Some(other), "failback");
    }
    let served = wait_until(tl, Duration::from_secs(10), || {
        first_served(client, serving, home, from).is_some()
    })
    .and(first_served(client, serving, home, from));
    if r.check(
        format!(
            "VIP served by {} through {home} again (failback)",
            serving.who(home)
        ),
        back.is_some() && served.is_some(),
    ) {
        if let Some((at, by)) = served {
            r.milestone(format!("first success after failback ({by})"), at);
        }
    }
}

/// Stop the client, count its requests, and (once a VIP was served) bound
/// the longest outage: deadtime + [`OUTAGE_MARGIN`].
fn finish(mut r: Report, mut client: ClientLoop, t: &Timing) -> Report {
    client.stop();
    r.add_requests(&client.samples());
    if r.mode != Mode::Membership && r.power_off.is_some() {
        let budget = t.deadtime + OUTAGE_MARGIN;
        let worst = r.longest_outage.map(|o| o.len());
        r.check(
            format!(
                "longest client outage {} ms <= deadtime + {} s = {} ms",
                worst.map_or("-".into(), |w| ms(w).to_string()),
                OUTAGE_MARGIN.as_secs(),
                ms(budget)
            ),
            worst.is_some_and(|w| w <= budget),
        );
    }
    r
}
