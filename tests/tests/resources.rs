//! End-to-end resource failover: a VIP (the stock IPaddr2 script of the
//! Debian package, under `/etc/ha.d/resource.d`) plus a small LSB test
//! script, `haresources` = `node1 IPaddr2::192.0.2.50/24/eth0 hbtest::alpha`,
//! keepalive 200 ms / deadtime 1. Our heartbeat on both nodes, then a real
//! heartbeat beside ours in both roles.
//!
//! Every wait polls who holds the VIP and fails at once if two nodes hold
//! it at the same time.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use ha_tests::{wait_for, Auth, Cluster, ClusterSpec, HaCf, Kind, Needs, Node, Timing};

use ha_tests::vip::{has_addr, hbtest_running, holders, wait_owner};

const VIP: &str = "192.0.2.50";
const HARESOURCES: &str = "node1 IPaddr2::192.0.2.50/24/eth0 hbtest::alpha\n";
const POLL: Duration = Duration::from_millis(100);
/// Agent work on top of deadtime that the takeover may take (the reference
/// measured 0.14–0.33 s from "dead" to the VIP; dead is declared up to
/// 0.5 s late by real heartbeat).
const TAKEOVER_SLACK: Duration = Duration::from_millis(1500);

/// LSB-ish test resource: state in /run (wiped by a node's reboot), every
/// call logged to /var/log/hbtest.log, `/etc/ha.d/hbtest.fail-<action>`
/// makes that action fail.
const HBTEST: &str = r#"#!/bin/sh
eval ACTION=\${$#}
echo "$(date '+%F %T.%N') $(uname -n) argv=[$*] HA_CURHOST=${HA_CURHOST:-}" >> /var/log/hbtest.log
if [ -e /etc/ha.d/hbtest.fail-$ACTION ]; then exit 1; fi
STATE=/run/hbtest.state
case $ACTION in
start)	touch $STATE; exit 0;;
stop)	rm -f $STATE; exit 0;;
status)	if [ -e $STATE ]; then echo "hbtest is running"; else echo "hbtest is stopped"; fi; exit 0;;
*)	exit 2;;
esac
"#;

fn spec(kinds: [Kind; 2], auto_failback: &str) -> ClusterSpec {
    let mut hacf = HaCf::with_timing(Timing::FAST);
    hacf.auto_failback = auto_failback.to_owned();
    ClusterSpec::new(Auth::Sha1("HI!".into()), hacf)
        .node("node1", kinds[0])
        .node("node2", kinds[1])
        .haresources(HARESOURCES)
        .resource_script("hbtest", HBTEST)
}

/// The VIP stays with `want` for `period` (never on two nodes).
fn stays_with(c: &Cluster, want: &str, period: Duration) -> Result<()> {
    ha_tests::hold_for(
        &format!("VIP staying on {want}"),
        period,
        Duration::from_millis(250),
        || {
            let h = holders(c, VIP)?;
            if h == [want] {
                Ok(())
            } else {
                Err(format!("VIP on {h:?}"))
            }
        },
    )
}

fn ping_vip(c: &Cluster) -> Result<Duration> {
    wait_for(
        "the VIP to answer ping",
        Duration::from_secs(5),
        POLL,
        || {
            let out = c
                .client()
                .ns
                .command("ping")
                .args(["-c", "1", "-W", "1", VIP])
                .output()
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stdout).into_owned())
            }
        },
    )
    .map(|(_, t)| t)
}

/// Boot both; node1 gets the group (nice_failback: RQSTDELAY 10 s).
fn boot(c: &mut Cluster) -> Result<()> {
    c.start_all()?;
    c.wait_all_active(Duration::from_secs(20))?;
    let t = wait_owner(c, VIP, "node1", Duration::from_secs(25))?;
    eprintln!("VIP on node1 {t:?} after both active");
    ping_vip(c)?;
    Ok(())
}

/// Standby/takeover tools as an operator runs them. On our nodes ours; on
/// real ones the Debian scripts. Both only write to the FIFO.
fn tool(n: &Node, name: &str, arg: &str) -> Result<()> {
    let path: PathBuf = match n.kind() {
        Kind::Ours => ha_tests::env::ours_bin_dir().join(name),
        _ => PathBuf::from(format!("/usr/share/heartbeat/{name}")),
    };
    let p = path.display().to_string();
    let out = n.exec(&[p.as_str(), arg], Duration::from_secs(10))?;
    ensure!(
        out.status.success(),
        "{name} {arg} on {}: {}{}",
        n.name(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Stock script through the FIFO, whatever the daemon (what `rc.d` and
/// `ipfail` do).
fn stock_tool(n: &Node, name: &str, arg: &str) -> Result<()> {
    let p = format!("/usr/share/heartbeat/{name}");
    let out = n.exec(&[p.as_str(), arg], Duration::from_secs(10))?;
    ensure!(out.status.success(), "{name} {arg} failed on {}", n.name());
    Ok(())
}

/// Crash `victim`; `survivor` must hold the VIP within deadtime + slack.
fn crash_and_takeover(c: &mut Cluster, victim: &str, survivor: &str) -> Result<Duration> {
    let t0 = Instant::now();
    c.node_mut(victim).crash()?;
    wait_owner(c, VIP, survivor, Duration::from_secs(10))?;
    let took = t0.elapsed();
    eprintln!("crash of {victim} -> VIP on {survivor} after {took:?}");
    if took > Timing::FAST.deadtime + TAKEOVER_SLACK {
        c.node(survivor).dump_logs();
    }
    ensure!(
        took <= Timing::FAST.deadtime + TAKEOVER_SLACK,
        "takeover after {took:?}, more than deadtime + {TAKEOVER_SLACK:?}"
    );
    ping_vip(c)?;
    Ok(took)
}

/// Both nodes stable (`rscstatus` not `transition`): a standby request
/// while the other side is in flux is refused, by heartbeat and by us.
fn settled(c: &Cluster) -> Result<()> {
    wait_for("resources to settle", Duration::from_secs(15), POLL, || {
        for n in c.nodes().iter().filter(|n| n.is_powered_on()) {
            let s = n.cl_status(&["rscstatus"])?;
            if s == "transition" {
                return Err(format!("{} in transition", n.name()));
            }
        }
        Ok(())
    })
    .map(drop)
}

/// Graceful stop of `who` (ours: `heartbeat -k`, real: the init script)
/// while the VIP is watched; returns when `to` took it, measured from the
/// start of the stop.
fn graceful_stop_moves(c: &Cluster, who: &str, to: &str) -> Result<Duration> {
    let n = c.node(who);
    let stop: Vec<String> = match n.kind() {
        Kind::Ours => vec![
            ha_tests::env::ours_bin_dir()
                .join("heartbeat")
                .display()
                .to_string(),
            "-k".into(),
        ],
        _ => vec!["/etc/init.d/heartbeat".into(), "stop".into()],
    };
    let t0 = Instant::now();
    let (moved, stopped) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let args: Vec<&str> = stop.iter().map(String::as_str).collect();
            let r = n.exec(&args, Duration::from_secs(60));
            (r, t0.elapsed())
        });
        let moved = wait_owner(c, VIP, to, Duration::from_secs(10)).map(|_| t0.elapsed());
        (moved, h.join())
    });
    let Ok((out, stop_took)) = stopped else {
        bail!("stop thread panicked");
    };
    let out = out?;
    ensure!(out.status.success(), "stop of {who} failed: {out:?}");
    let moved = moved?;
    eprintln!("graceful stop of {who} ({:?}): VIP on {to} {moved:?} after the stop began; the stop took {stop_took:?}", n.kind());
    wait_for(
        "heartbeat to exit",
        Duration::from_secs(30),
        POLL,
        || match n.daemon_pids().len() {
            0 => Ok(()),
            k => Err(format!("{k} left")),
        },
    )?;
    ensure!(!hbtest_running(n), "hbtest still runs on {who}");
    ensure!(!has_addr(n, VIP).unwrap_or(true), "VIP still on {who}");
    Ok(moved)
}

fn restart(c: &mut Cluster, who: &str) -> Result<()> {
    c.node_mut(who).start()?;
    c.wait_all_active(Duration::from_secs(20)).map(drop)
}

fn no_reboots(c: &Cluster) -> Result<()> {
    for n in c.nodes() {
        let p = n.dir().join("log/reboot-stub.log");
        ensure!(
            !p.exists(),
            "{} tried to reboot: {}",
            n.name(),
            std::fs::read_to_string(&p).unwrap_or_default()
        );
    }
    Ok(())
}

/// Ours on both nodes, auto_failback on: crash → takeover → failback,
/// hb_standby / hb_takeover (our tools and the stock scripts through the
/// FIFO), graceful stop → immediate takeover, `rscstatus`.
#[test]
fn ours_pair_failover_standby_takeover_stop() {
    let env = ha_tests::require!(Needs::Ours);
    let mut c = spec([Kind::Ours, Kind::Ours], "on").build(&env).unwrap();
    run_ours_pair(&mut c).unwrap();
}

fn run_ours_pair(c: &mut Cluster) -> Result<()> {
    boot(c)?;
    wait_for("rscstatus settles", Duration::from_secs(5), POLL, || {
        let a = c.node("node1").cl_status(&["rscstatus"])?;
        let b = c.node("node2").cl_status(&["rscstatus"])?;
        // Each holds its own set (node2's is empty, yet "local", as in
        // heartbeat).
        if a == "local" && b == "local" {
            Ok(())
        } else {
            Err(format!("node1 {a}, node2 {b}"))
        }
    })?;
    let hbtest_log = std::fs::read_to_string(c.node("node1").dir().join("log/hbtest.log"))?;
    ensure!(
        hbtest_log.contains("argv=[alpha status] HA_CURHOST=node1")
            && hbtest_log.contains("argv=[alpha start] HA_CURHOST=node1"),
        "hbtest calls: {hbtest_log}"
    );
    ensure!(!c
        .node("node1")
        .log_lines("Running /etc/ha.d/resource.d/IPaddr2 192.0.2.50/24/eth0 start")
        .is_empty());

    crash_and_takeover(c, "node1", "node2")?;
    let t0 = Instant::now();
    restart(c, "node1")?;
    wait_owner(c, VIP, "node1", Duration::from_secs(15))?;
    eprintln!("failback {:?} after node1's restart", t0.elapsed());
    ping_vip(c)?;

    // hb_standby on the owner (ours), then hb_takeover back.
    settled(c)?;
    let t0 = Instant::now();
    tool(c.node("node1"), "hb_standby", "all")?;
    wait_owner(c, VIP, "node2", Duration::from_secs(10))?;
    eprintln!("hb_standby moved the VIP in {:?}", t0.elapsed());
    settled(c)?;
    let t0 = Instant::now();
    tool(c.node("node1"), "hb_takeover", "all")?;
    wait_owner(c, VIP, "node1", Duration::from_secs(10))?;
    eprintln!("hb_takeover moved it back in {:?}", t0.elapsed());
    // The stock script through our FIFO.
    settled(c)?;
    stock_tool(c.node("node1"), "hb_standby", "all")?;
    wait_owner(c, VIP, "node2", Duration::from_secs(10))?;
    settled(c)?;
    stock_tool(c.node("node2"), "hb_standby", "all")?;
    wait_owner(c, VIP, "node1", Duration::from_secs(10))?;

    // Graceful stop of the owner: released first, taken at once.
    settled(c)?;
    let took = graceful_stop_moves(c, "node1", "node2")?;
    ensure!(
        took < Timing::FAST.deadtime + TAKEOVER_SLACK,
        "graceful stop: takeover after {took:?}"
    );
    no_audit_errors(c)?;
    no_reboots(c)
}

/// heartbeat's AuditResources complaints ("Both machines own our
/// resources!", "No one owns …") need a real overlap or orphan; failover,
/// failback, standby and stop have none. Checked on our nodes.
fn no_audit_errors(c: &Cluster) -> Result<()> {
    for n in c.nodes().iter().filter(|n| n.kind() == Kind::Ours) {
        let bad: Vec<String> = ["Both machines own", "No one owns"]
            .iter()
            .flat_map(|w| n.log_lines(w))
            .collect();
        if !bad.is_empty() {
            for m in c.nodes() {
                m.dump_logs();
            }
            bail!("{}: {bad:#?}", n.name());
        }
    }
    Ok(())
}

/// auto_failback off: the group stays on node2 after node1 returns, until
/// hb_takeover on node1.
#[test]
fn ours_pair_auto_failback_off() {
    let env = ha_tests::require!(Needs::Ours);
    let mut c = spec([Kind::Ours, Kind::Ours], "off").build(&env).unwrap();
    (|| -> Result<()> {
        boot(&mut c)?;
        crash_and_takeover(&mut c, "node1", "node2")?;
        restart(&mut c, "node1")?;
        stays_with(&c, "node2", Duration::from_secs(5))?;
        settled(&c)?;
        tool(c.node("node1"), "hb_takeover", "all")?;
        wait_owner(&c, VIP, "node1", Duration::from_secs(10))?;
        ping_vip(&c)?;
        no_audit_errors(&c)?;
        no_reboots(&c)
    })()
    .unwrap();
}

/// hbtest fails to start on node1: the group ends up on node2, never on
/// both.
#[test]
fn ours_pair_start_failure_hands_group_over() {
    let env = ha_tests::require!(Needs::Ours);
    let mut c = spec([Kind::Ours, Kind::Ours], "on").build(&env).unwrap();
    std::fs::write(c.node("node1").dir().join("etc/hbtest.fail-start"), "").unwrap();
    (|| -> Result<()> {
        c.start_all()?;
        c.wait_all_active(Duration::from_secs(20))?;
        wait_owner(&c, VIP, "node2", Duration::from_secs(30))?;
        ping_vip(&c)?;
        ensure!(!c
            .node("node1")
            .log_lines("Return code 1 from /etc/ha.d/resource.d/hbtest")
            .is_empty());
        stays_with(&c, "node2", Duration::from_secs(3))?;
        no_reboots(&c)
    })()
    .unwrap();
}

/// Real heartbeat beside ours, in both roles: crash → takeover and
/// failback both ways, hb_standby, graceful stop.
fn mixed(kinds: [Kind; 2]) -> Result<()> {
    let env = match ha_tests::env::require(
        std::thread::current().name().unwrap_or("mixed"),
        Needs::Ours,
        std::path::Path::new(env!("CARGO_BIN_EXE_nsinit")),
    ) {
        Some(e) => e,
        None => return Ok(()),
    };
    let mut c = spec(kinds, "on").build(&env)?;
    boot(&mut c)?;
    crash_and_takeover(&mut c, "node1", "node2")?;
    let t0 = Instant::now();
    restart(&mut c, "node1")?;
    wait_owner(&c, VIP, "node1", Duration::from_secs(15))?;
    eprintln!("failback {:?} after node1's restart", t0.elapsed());
    ping_vip(&c)?;
    // Crash of the non-owner: nothing moves.
    crash_and_takeover(&mut c, "node2", "node1")?;
    restart(&mut c, "node2")?;
    stays_with(&c, "node1", Duration::from_secs(3))?;
    // Standby from the owner, takeover back.
    settled(&c)?;
    tool(c.node("node1"), "hb_standby", "all")?;
    wait_owner(&c, VIP, "node2", Duration::from_secs(10))?;
    settled(&c)?;
    tool(c.node("node1"), "hb_takeover", "all")?;
    wait_owner(&c, VIP, "node1", Duration::from_secs(10))?;
    // Crash of the owner while node2 is the other kind, then failback.
    crash_and_takeover(&mut c, "node1", "node2")?;
    restart(&mut c, "node1")?;
    wait_owner(&c, VIP, "node1", Duration::from_secs(15))?;
    // Graceful stop of the owner: taken over at once.
    settled(&c)?;
    let took = graceful_stop_moves(&c, "node1", "node2")?;
    ensure!(
        took < Timing::FAST.deadtime + TAKEOVER_SLACK,
        "graceful stop: takeover after {took:?}"
    );
    no_audit_errors(&c)?;
    no_reboots(&c)
}

#[test]
fn mixed_ours_owner_real_peer() {
    mixed([Kind::Ours, Kind::Real]).unwrap();
}

#[test]
fn mixed_real_owner_ours_peer() {
    mixed([Kind::Real, Kind::Ours]).unwrap();
}

/// A tiny OCF agent: every call logged with its OCF environment, state in
/// the file `OCF_RESKEY_state` (default: one per instance under /run).
const HBR_OCF: &str = r#"#!/bin/sh
STATE=${OCF_RESKEY_state:-/run/hbr-ocf-$OCF_RESOURCE_INSTANCE.state}
echo "ocf $1 inst=$OCF_RESOURCE_INSTANCE state=$STATE ra=$OCF_RA_VERSION_MAJOR.$OCF_RA_VERSION_MINOR root=$OCF_ROOT color=${OCF_RESKEY_color:-} nice=${HA_NICEFAILBACK:-}" >> /var/log/hbr.log
case $1 in
start)	touch "$STATE"; exit 0;;
stop)	rm -f "$STATE"; exit 0;;
monitor|status) [ -e "$STATE" ] && exit 0; exit 7;;
meta-data) exit 0;;
*)	exit 3;;
esac
"#;

/// A tiny LSB init script (status: exit 0 running, 3 stopped).
const HBR_LSB: &str = r#"#!/bin/sh
echo "lsb $1" >> /var/log/hbr.log
case $1 in
start)	touch /run/hbr-lsb.state; exit 0;;
stop)	rm -f /run/hbr-lsb.state; exit 0;;
status)	if [ -e /run/hbr-lsb.state ]; then echo "hbrlsb is running"; exit 0; fi
	echo "hbrlsb is not running"; exit 3;;
*)	exit 2;;
esac
"#;

fn hbr_calls(n: &Node) -> Vec<String> {
    std::fs::read_to_string(n.dir().join("log/hbr.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn hbr_running(n: &Node) -> bool {
    let run = n.dir().join("run");
    n.is_powered_on()
        && ["hbr-ocf-one.state", "hbr-lsb.state", "hbr-two.state"]
            .iter()
            .all(|f| run.join(f).exists())
}

/// `OCF::<type>::<instance>` (instance file in /etc/ha.d/conf/OCF), an LSB
/// script from /etc/init.d and a bare OCF agent with name=value arguments,
/// in one group: started left to right (each after its probe), stopped
/// right to left, taken over by the peer on a graceful stop.
#[test]
fn ours_pair_runs_ocf_agents_and_lsb_scripts_in_order() {
    let env = ha_tests::require!(Needs::Ours);
    let hacf = HaCf::with_timing(Timing::FAST);
    let c = ClusterSpec::new(Auth::Sha1("HI!".into()), hacf)
        .node("node1", Kind::Ours)
        .node("node2", Kind::Ours)
        .haresources(
            "node1 OCF::HbrDummy::one hbrlsb HbrDummy::state=/run/hbr-two.state::color=blue\n",
        )
        .private_file("/etc/init.d", "hbrlsb", HBR_LSB)
        .private_file("/usr/lib/ocf/resource.d/heartbeat", "HbrDummy", HBR_OCF)
        .build(&env)
        .unwrap();
    let mut c = c;
    for n in c.nodes() {
        let etc = n.dir().join("etc");
        let inst = etc.join("conf/OCF/HbrDummy/one");
        std::fs::create_dir_all(inst.parent().unwrap()).unwrap();
        std::fs::write(&inst, "# instance one\nOCF_RESKEY_color=red\n").unwrap();
    }
    (|| -> Result<()> {
        c.start_all()?;
        c.wait_all_active(Duration::from_secs(20))?;
        wait_for(
            "node1 to run the group",
            Duration::from_secs(25),
            POLL,
            || {
                if hbr_running(c.node("node1")) {
                    Ok(())
                } else {
                    Err(format!("calls {:?}", hbr_calls(c.node("node1"))))
                }
            },
        )?;
        let calls = hbr_calls(c.node("node1"));
        let verbs: Vec<&str> = calls
            .iter()
            .map(|l| {
                let mut w = l.split_whitespace();
                let kind = w.next().unwrap_or("");
                let action = w.next().unwrap_or("");
                match (kind, action) {
                    ("ocf", "start") if l.contains("inst=one ") => "one start",
                    ("ocf", "monitor") if l.contains("inst=one ") => "one monitor",
                    ("ocf", "start") => "two start",
                    ("ocf", "monitor") => "two monitor",
                    ("lsb", "start") => "lsb start",
                    ("lsb", "status") => "lsb status",
                    _ => "other",
                }
            })
            .collect();
        ensure!(
            verbs
                == [
                    "one monitor",
                    "one start",
                    "lsb status",
                    "lsb start",
                    "two monitor",
                    "two start"
                ],
            "start order: {calls:#?}"
        );
        let one = calls
            .iter()
            .find(|l| l.starts_with("ocf start inst=one "))
            .unwrap();
        ensure!(
            one.contains("ra=1.0")
                && one.contains("root=/usr/lib/ocf ")
                && one.contains("color=red")
                && one.contains("nice=yes"),
            "OCF environment of OCF::HbrDummy::one: {one}"
        );
        let two = calls
            .iter()
            .find(|l| l.starts_with("ocf start inst=HbrDummy_"))
            .unwrap();
        ensure!(
            two.contains("state=/run/hbr-two.state") && two.contains("color=blue"),
            "OCF environment of HbrDummy::state=…: {two}"
        );
        ensure!(
            !c.node("node1")
                .log_lines("ResourceManager(default)[")
                .iter()
                .filter(|l| l.contains("info: Running /etc/init.d/hbrlsb start"))
                .collect::<Vec<_>>()
                .is_empty(),
            "no heartbeat-style Running line for the LSB script"
        );
        std::fs::write(c.node("node1").dir().join("log/hbr.log"), "")?;

        // Graceful stop: right to left here, then the peer starts them all.
        let n1 = c.node("node1");
        let bin = ha_tests::env::ours_bin_dir().join("heartbeat");
        let out = n1.exec(&[&bin.display().to_string(), "-k"], Duration::from_secs(60))?;
        ensure!(out.status.success(), "heartbeat -k: {out:?}");
        wait_for(
            "node2 to run the group",
            Duration::from_secs(15),
            POLL,
            || {
                if hbr_running(c.node("node2")) {
                    Ok(())
                } else {
                    Err(format!("calls {:?}", hbr_calls(c.node("node2"))))
                }
            },
        )?;
        let stops: Vec<String> = hbr_calls(c.node("node1"))
            .into_iter()
            .filter(|l| l.contains(" stop"))
            .collect();
        ensure!(
            stops.len() == 3
                && stops[0].contains("inst=HbrDummy_")
                && stops[1] == "lsb stop"
                && stops[2].contains("inst=one "),
            "stop order: {stops:#?}"
        );
        no_reboots(&c)
    })()
    .unwrap();
}
