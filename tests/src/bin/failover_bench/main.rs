//! Failover benchmark: our pair against a real heartbeat 3.0.6 pair, on the
//! same machine in the same run, measured the way heartbeat-3.0.6.md §5
//! measured the real one.
//!
//! For each config (keepalive 200ms / deadtime 1, keepalive 1 / deadtime 3;
//! sha1, `bcast eth0`, `auto_failback on`, `node1 IPaddr2::192.0.2.50/24/eth0`)
//! and each implementation, N runs, each on a fresh pair: wait until node1
//! alone owns the VIP and both nodes are stable; watch node2's addresses
//! (`ip -ts monitor address`), node2's ha-log and the heartbeat LAN, and ping
//! the VIP from the client every 10 ms; power node1 off (eth0 down + SIGKILL
//! of its PID namespace); then restart node1 and time the failback. Runs are
//! sequential so that measurements never compete for CPU.
//!
//! `failover_bench [--runs N] [--config fast|slow] [--only ours|real]
//! [--doc docs/benchmarks.md]`; as root via `benches/failover.sh`. Prints a
//! markdown section; `--doc` also writes it into that file (replacing its
//! `## Failover` section). Exits non-zero when a failover or failback does
//! not happen at all. Timings are printed, never asserted.

mod probes;
mod report;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ha_tests::env::{missing, Env, Needs};
use ha_tests::udp::messages_from;
use ha_tests::{hold_for, wait_for, Auth, Cluster, ClusterSpec, HaCf, Kind, Timing};

use probes::{await_monitor, has_addr, wall, wall_of, AddrMonitor, LogTail, Pinger};
use report::{ConfigRuns, Run};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
const HARESOURCES: &str = "node1 IPaddr2::192.0.2.50/24/eth0\n";
/// The client's probe interval (`ping -i 0.01` in the reference).
const PROBE_EVERY: Duration = Duration::from_millis(10);
/// How often waits during the measured window look at the probes: they
/// only read memory, so this costs the nodes nothing.
const WATCH: Duration = Duration::from_millis(10);

struct Cfg {
    key: &'static str,
    label: &'static str,
    timing: Timing,
}

const CONFIGS: [Cfg; 2] = [
    Cfg {
        key: "fast",
        label: "keepalive 200ms, deadtime 1",
        timing: Timing::FAST,
    },
    Cfg {
        key: "slow",
        label: "keepalive 1, deadtime 3",
        timing: Timing::STANDARD,
    },
];

/// What runs on the pair.
#[derive(Clone, Copy, PartialEq)]
struct Variant {
    kind: Kind,
    /// The project's `IPaddr2` binary under `resource.d` instead of the
    /// stock script.
    rust_agent: bool,
}

impl Variant {
    fn name(self) -> &'static str {
        match (self.kind, self.rust_agent) {
            (Kind::Ours, false) => "ours",
            (Kind::Ours, true) => "ours+rust-ipaddr2",
            _ => "real",
        }
    }
}

struct Args {
    runs: usize,
    configs: Vec<&'static Cfg>,
    variants: Vec<Variant>,
    doc: Option<PathBuf>,
}

const USAGE: &str = "usage: failover_bench [--runs N] [--config fast|slow] [--only ours|real] [--rust-ipaddr2] [--doc FILE]";

fn parse_args() -> Result<Args> {
    let mut a = Args {
        runs: 5,
        configs: CONFIGS.iter().collect(),
        variants: vec![
            Variant {
                kind: Kind::Ours,
                rust_agent: false,
            },
            Variant {
                kind: Kind::Real,
                rust_agent: false,
            },
        ],
        doc: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--runs" => {
                a.runs = value()?.parse().context("--runs: not a number")?;
                if a.runs == 0 {
                    bail!("--runs must be at least 1");
                }
            }
            "--config" => {
                let v = value()?;
                a.configs = CONFIGS.iter().filter(|c| c.key == v).collect();
                if a.configs.is_empty() {
                    bail!("--config {v}: want fast or slow");
                }
            }
            "--only" => {
                let k = match value()?.as_str() {
                    "ours" => Kind::Ours,
                    "real" => Kind::Real,
                    v => bail!("--only {v}: want ours or real"),
                };
                a.variants.retain(|v| v.kind == k);
            }
            "--rust-ipaddr2" => a.variants.push(Variant {
                kind: Kind::Ours,
                rust_agent: true,
            }),
            "--doc" => a.doc = Some(PathBuf::from(value()?)),
            _ => bail!("{USAGE}"),
        }
    }
    Ok(a)
}

/// Nodes holding the VIP on eth0 (a powered-off node keeps its addresses,
/// so only meaningful while both run or after a restart).
fn holders(c: &Cluster) -> Result<Vec<String>, String> {
    let mut v = Vec::new();
    for n in c.nodes() {
        if has_addr(n.host().ns.name(), VIP).map_err(|e| format!("{e:#}"))? {
            v.push(n.name().to_owned());
        }
    }
    Ok(v)
}

fn only_on(c: &Cluster, node: &str) -> Result<(), String> {
    match holders(c)? {
        h if h == [node] => Ok(()),
        h => Err(format!("VIP on {h:?}")),
    }
}

/// Both nodes answer `rscstatus` and neither is in transition.
fn stable(c: &Cluster) -> Result<(), String> {
    for n in c.nodes() {
        let s = n.cl_status(&["rscstatus"])?;
        if s.is_empty() || s == "transition" {
            return Err(format!("{} rscstatus {s:?}", n.name()));
        }
    }
    Ok(())
}

fn measure(c: &mut Cluster, timing: Timing) -> Result<Run> {
    c.start_all()?;
    c.wait_all_active(timing.initdead + Duration::from_secs(15))?;
    // Real heartbeat starts the group only after its 10 s RQSTDELAY.
    wait_for(
        "node1 alone to own the VIP",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || only_on(c, "node1"),
    )?;
    wait_for(
        "rscstatus to settle",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || stable(c),
    )?;
    let cap = c.capture()?;
    hold_for(
        "stable pair with the VIP on node1",
        Duration::from_secs(1),
        Duration::from_millis(250),
        || {
            stable(c)?;
            only_on(c, "node1")
        },
    )?;

    let ns1 = c.node("node1").host().ns.name().to_owned();
    let ns2 = c.node("node2").host().ns.name().to_owned();
    let mon = AddrMonitor::start(&ns2)?;
    await_monitor(&mon, &ns2)?;
    let tail = LogTail::start(
        c.node("node2").dir().join("log/ha-log"),
        Duration::from_millis(5),
    );
    let pinger = Pinger::start(&c.client().ns, VIP, PROBE_EVERY)?;
    let warm = wall();
    wait_for(
        "the VIP on node1 to answer the prober",
        Duration::from_secs(5),
        WATCH,
        || match pinger.count_after(warm) {
            n if n >= 20 => Ok(()),
            n => Err(format!("{n} replies")),
        },
    )?;

    let anchor = (Instant::now(), wall());
    let t0 = anchor.1;
    c.node_mut("node1").crash()?;
    let t_done = wall();

    let (vip_at, _) = wait_for(
        "the VIP to be added on node2",
        timing.deadtime + Duration::from_secs(10),
        WATCH,
        || {
            mon.added(VIP, t0)
                .ok_or_else(|| "no address-add event".to_owned())
        },
    )
    .context("NO FAILOVER")?;
    let (ping_at, _) = wait_for(
        "the VIP to answer again",
        Duration::from_secs(5),
        WATCH,
        || {
            pinger
                .first_after(t_done)
                .ok_or_else(|| "no reply".to_owned())
        },
    )
    .context("VIP moved but does not answer")?;
    let is_dead = |l: &str| l.contains("node node1: is dead");
    let is_start =
        |l: &str| l.contains("Running ") && l.contains("IPaddr2") && l.ends_with(" start");
    // Both lines were written before the address was added; the tail may
    // just not have polled yet.
    let _ = wait_for("ha-log lines", Duration::from_secs(1), WATCH, || {
        match (tail.first(is_dead), tail.first(is_start)) {
            (Some(_), Some(_)) => Ok(()),
            _ => Err(String::new()),
        }
    });
    let keys = c.auth().keys();
    let packets = cap.packets();
    let dead = messages_from(&packets, "node2", &keys)
        .into_iter()
        .find(|(p, m)| p.at > anchor.0 && m.get_str("t") == Some("stonith"))
        .map(|(p, _)| wall_of(p.at, anchor) - t0);
    // The last heartbeat may have left node1 while the cable was being
    // pulled (age < 0).
    let last_hb = messages_from(&packets, "node1", &keys)
        .into_iter()
        .rfind(|(_, m)| m.get_str("t") == Some("status"))
        .map(|(p, _)| t0 - wall_of(p.at, anchor));
    let mut run = Run {
        crash_cmd: t_done - t0,
        dead,
        last_hb,
        dead_logged: tail.first(is_dead).map(|t| t - t0),
        start_logged: tail.first(is_start).map(|t| t - t0),
        vip: vip_at - t0,
        ping: ping_at - t0,
        failback: f64::NAN,
    };
    drop((pinger, tail, mon, cap));

    let mon1 = AddrMonitor::start(&ns1)?;
    await_monitor(&mon1, &ns1)?;
    let t1 = wall();
    c.node_mut("node1").start()?;
    let (back_at, _) = wait_for(
        "the VIP to be added on node1 again",
        Duration::from_secs(60),
        WATCH,
        || {
            mon1.added(VIP, t1)
                .ok_or_else(|| "no address-add event".to_owned())
        },
    )
    .context("NO FAILBACK")?;
    run.failback = back_at - t1;
    wait_for(
        "node2 to release the VIP",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || only_on(c, "node1"),
    )?;
    Ok(run)
}

fn one_run(env: &Env, v: Variant, timing: Timing) -> Result<Run> {
    let mut spec = ClusterSpec::new(Auth::Sha1("HI!".into()), HaCf::with_timing(timing))
        .node("node1", v.kind)
        .node("node2", v.kind)
        .haresources(HARESOURCES);
    if v.rust_agent {
        // Nodes see the host's filesystem apart from their private dirs.
        let bin = env.ours.join("IPaddr2");
        if !bin.is_file() {
            bail!(
                "{} missing: cargo build --release -p resource-agents",
                bin.display()
            );
        }
        spec = spec.resource_script(
            "IPaddr2",
            &format!("#!/bin/sh\nexec {} \"$@\"\n", bin.display()),
        );
    }
    let mut c = spec.build(env)?;
    let r = measure(&mut c, timing);
    if r.is_err() {
        for n in c.nodes() {
            n.dump_logs();
        }
    }
    r
}

fn header(runs: usize, all: &[Run], rust_agent: bool) -> String {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let kernel = kernel.trim();
    let crash = report::stat(all.iter().map(|r| r.crash_cmd))
        .map_or("?".into(), |s| format!("{:.0}", s.median * 1e3));
    format!(
        "Measured {date} on {cpus} CPUs, Linux {kernel} by `benches/failover.sh --runs {runs}`: \
         {runs} runs per implementation and config, one at a time (ours and real interleaved), each on \
         a fresh pair built by the ha-tests harness (veth + bridge, each node in its own net + UTS + \
         mount + PID namespace). sha1, `bcast eth0`, `auto_failback on`, haresources \
         `node1 IPaddr2::192.0.2.50/24/eth0` (the stock Debian `IPaddr2` script on both). Before each \
         crash node1 alone owns the VIP and both nodes' `rscstatus` has been stable for 1 s.\n\n\
         - t0: just before the power-off of node1 (`eth0` down + SIGKILL of its PID-namespace init; \
         that command takes {crash} ms, median).\n\
         - declared dead: the survivor's `t=stonith` broadcast (both implementations send it right \
         after \"node node1: is dead\"), received on the client.\n\
         - VIP on survivor: the kernel's address-add event in node2's netns (`ip -ts monitor address`).\n\
         - VIP answers ping: first echo reply to the client's prober (raw ICMP every 10 ms) received \
         after the power-off command returned.\n\
         - failback: node1 boots again (fresh `/run`, link up, heartbeat started) → address-add \
         event of the VIP in node1's netns.\n\n\
         {}\
         The reference (heartbeat-3.0.6.md §5, same method on a real pair): kill → ping 1.42 s at \
         keepalive 200ms/deadtime 1, 3.15 s at keepalive 1/deadtime 3.",
        if rust_agent {
            "Column \"ours + Rust `IPaddr2`\" (`--rust-ipaddr2`): our daemon with the project's \
             `resource-agents` `IPaddr2` binary as `/etc/ha.d/resource.d/IPaddr2` (exec'd from a \
             one-line sh wrapper) instead of the stock shell script: what the script itself costs.\n\n"
        } else {
            ""
        }
    )
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let nsinit: PathBuf = std::env::current_exe()?.with_file_name("nsinit");
    let needs = if args.variants.iter().any(|v| v.kind == Kind::Ours) {
        Needs::Ours
    } else {
        Needs::Real
    };
    if let Some(why) = missing(needs, &nsinit) {
        bail!("cannot run: {why}");
    }
    let env = Env {
        nsinit,
        ours: ha_tests::env::ours_bin_dir(),
    };

    let mut results: BTreeMap<(&str, &str), Vec<Run>> = BTreeMap::new();
    for cfg in &args.configs {
        for i in 1..=args.runs {
            for &v in &args.variants {
                let what = format!("{} pair, {}, run {i}/{}", v.name(), cfg.label, args.runs);
                let r = one_run(&env, v, cfg.timing).with_context(|| what.clone())?;
                let opt = |v: Option<f64>| v.map_or("?".into(), |v| format!("{v:.3}"));
                eprintln!(
                    "{what}: dead {} vip {:.3} ping {:.3} failback {:.3} (last hb {} before kill; \"is dead\" logged {}, start logged {})",
                    opt(r.dead),
                    r.vip,
                    r.ping,
                    r.failback,
                    opt(r.last_hb),
                    opt(r.dead_logged),
                    opt(r.start_logged),
                );
                results.entry((cfg.key, v.name())).or_default().push(r);
            }
        }
    }

    let all: Vec<Run> = results.values().flatten().cloned().collect();
    let empty = Vec::new();
    let configs: Vec<ConfigRuns> = args
        .configs
        .iter()
        .map(|cfg| ConfigRuns {
            label: cfg.label,
            deadtime: cfg.timing.deadtime,
            ours: results.get(&(cfg.key, "ours")).unwrap_or(&empty),
            real: results.get(&(cfg.key, "real")).unwrap_or(&empty),
            ours_rust_agent: results
                .get(&(cfg.key, "ours+rust-ipaddr2"))
                .unwrap_or(&empty),
        })
        .collect();
    let rust_agent = args.variants.iter().any(|v| v.rust_agent);
    let md = report::markdown(&header(args.runs, &all, rust_agent), &configs);
    println!("{md}");
    if let Some(path) = &args.doc {
        let old = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, report::splice(&old, &md))
            .with_context(|| format!("write {}", path.display()))?;
        eprintln!("wrote the Failover section of {}", path.display());
    }
    Ok(())
}
