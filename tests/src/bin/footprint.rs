//! Idle footprint of a real heartbeat pair and of our pair, measured from
//! the host's /proc: RSS / PSS summed over every process of a node's PID
//! namespace (minus the harness's own PID 1), and CPU time over a window.
//!
//! `footprint [--secs N] [--settle N] [--only real|ours]`; run as root via
//! `benches/footprint.sh`. Prints a markdown table.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ha_tests::env::{missing, Env, Needs};
use ha_tests::procfs;
use ha_tests::{hold_for, Auth, Cluster, ClusterSpec, HaCf, Kind, Timing};

struct Case {
    label: &'static str,
    kind: Kind,
    timing: Timing,
}

fn ka10ms() -> Timing {
    Timing {
        keepalive: Duration::from_millis(10),
        deadtime: Duration::from_secs(1),
        warntime: Duration::from_millis(500),
        initdead: Duration::from_secs(6),
    }
}

/// One node's totals at the end of the window.
#[derive(Default, Clone, Copy)]
struct Usage {
    procs: usize,
    rss_kb: u64,
    pss_kb: u64,
    cpu_ticks: u64,
}

struct Running {
    case: Case,
    cluster: Option<Cluster>,
    error: Option<String>,
    before: BTreeMap<String, BTreeMap<i32, u64>>,
}

/// Processes of a node, without the harness's PID 1.
fn node_procs(c: &Cluster, node: &str) -> Vec<i32> {
    c.node(node).pids().into_iter().skip(1).collect()
}

fn start(case: &Case, env: &Env) -> Result<Cluster> {
    let mut c = ClusterSpec::new(Auth::Sha1("HI!".into()), HaCf::with_timing(case.timing))
        .node("node1", case.kind)
        .node("node2", case.kind)
        .build(env)?;
    c.start_all()?;
    c.wait_all_active(case.timing.initdead + Duration::from_secs(15))
        .context("pair never saw each other active")?;
    Ok(c)
}

fn cpu_snapshot(c: &Cluster, node: &str) -> BTreeMap<i32, u64> {
    node_procs(c, node)
        .into_iter()
        .filter_map(|p| procfs::cpu_ticks(p).map(|t| (p, t)))
        .collect()
}

fn usage(c: &Cluster, node: &str, before: &BTreeMap<i32, u64>) -> Usage {
    let mut u = Usage::default();
    for p in node_procs(c, node) {
        u.procs += 1;
        u.rss_kb += procfs::status_kb(p, "VmRSS").unwrap_or(0);
        u.pss_kb += procfs::pss_kb(p).unwrap_or(0);
        // A process born during the window counts from zero.
        let t = procfs::cpu_ticks(p).unwrap_or(0);
        u.cpu_ticks += t.saturating_sub(before.get(&p).copied().unwrap_or(0));
    }
    u
}

fn main() -> Result<()> {
    let mut secs = 30u64;
    let mut settle = 5u64;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |what: &str| -> Result<u64> {
            args.next()
                .with_context(|| format!("{what} needs a value"))?
                .parse()
                .with_context(|| format!("bad {what}"))
        };
        match a.as_str() {
            "--secs" => secs = num("--secs")?,
            "--settle" => settle = num("--settle")?,
            "--only" => only = args.next(),
            _ => bail!("usage: footprint [--secs N] [--settle N] [--only real|ours]"),
        }
    }
    let nsinit: PathBuf = std::env::current_exe()?.with_file_name("nsinit");
    if let Some(why) = missing(Needs::Real, &nsinit) {
        bail!("cannot run: {why}");
    }
    let have_ours = missing(Needs::Ours, &nsinit).is_none();
    let env = Env {
        nsinit,
        ours: ha_tests::env::ours_bin_dir(),
    };

    let mut cases = vec![
        Case {
            label: "keepalive 1s",
            kind: Kind::Real,
            timing: Timing::STANDARD,
        },
        Case {
            label: "keepalive 10ms",
            kind: Kind::Real,
            timing: ka10ms(),
        },
    ];
    if have_ours {
        cases.push(Case {
            label: "keepalive 1s",
            kind: Kind::Ours,
            timing: Timing::STANDARD,
        });
        cases.push(Case {
            label: "keepalive 10ms",
            kind: Kind::Ours,
            timing: ka10ms(),
        });
    } else {
        eprintln!(
            "note: our binaries are missing in {}; measuring real only",
            env.ours.display()
        );
    }
    cases.retain(|c| match only.as_deref() {
        Some("real") => c.kind == Kind::Real,
        Some("ours") => c.kind == Kind::Ours,
        _ => true,
    });

    // All pairs run at once, on separate LANs, so they share one window.
    let mut runs: Vec<Running> = cases
        .into_iter()
        .map(|case| {
            let r = start(&case, &env);
            let (cluster, error) = match r {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(format!("{e:#}"))),
            };
            Running {
                case,
                cluster,
                error,
                before: BTreeMap::new(),
            }
        })
        .collect();

    // Stabilise: both nodes must stay active through the settle window.
    for r in runs.iter_mut() {
        let Some(c) = &r.cluster else { continue };
        let res = hold_for(
            "pair active",
            Duration::from_secs(settle),
            Duration::from_millis(500),
            || {
                c.node("node1").expect_status("node2", "active")?;
                c.node("node2").expect_status("node1", "active")
            },
        );
        if let Err(e) = res {
            r.error = Some(format!("unstable before measuring: {e:#}"));
            r.cluster = None;
        }
    }

    let t0 = Instant::now();
    for r in runs.iter_mut() {
        if let Some(c) = &r.cluster {
            for n in ["node1", "node2"] {
                r.before.insert(n.to_owned(), cpu_snapshot(c, n));
            }
        }
    }
    // The measurement window itself: nothing may poke the nodes while it
    // runs (a cl_status query costs the daemon CPU), so this is a plain
    // sleep; liveness is checked right after.
    std::thread::sleep(Duration::from_secs(secs));
    let window = t0.elapsed();
    let hz = procfs::hz() as f64;

    println!(
        "\nIdle footprint, sha1, bcast, 2 nodes per pair, {:.1} s window (per node: sum over the node's PID namespace, excluding the harness's PID 1)\n",
        window.as_secs_f64()
    );
    println!(
        "| config | impl | procs/node | RSS/node (MB) | PSS/node (MB) | CPU/node (% of one core) |"
    );
    println!("|---|---|---|---|---|---|");
    let mut per: BTreeMap<(&str, &str), (f64, f64)> = BTreeMap::new();
    for r in &runs {
        let imp = match r.case.kind {
            Kind::Real => "real 3.0.6",
            _ => "ours",
        };
        let Some(c) = &r.cluster else {
            println!(
                "| {} | {imp} | – | – | – | failed: {} |",
                r.case.label,
                r.error.as_deref().unwrap_or("?")
            );
            continue;
        };
        let us: Vec<Usage> = ["node1", "node2"]
            .iter()
            .map(|n| usage(c, n, r.before.get(*n).unwrap_or(&BTreeMap::new())))
            .collect();
        let still = c
            .node("node1")
            .expect_status("node2", "active")
            .and_then(|_| c.node("node2").expect_status("node1", "active"));
        if let Err(e) = still {
            println!(
                "| {} | {imp} | – | – | – | pair broke during the window: {e} |",
                r.case.label
            );
            continue;
        }
        let k = us.len() as f64;
        let procs = us.iter().map(|u| u.procs).sum::<usize>() as f64 / k;
        let rss = us.iter().map(|u| u.rss_kb).sum::<u64>() as f64 / k / 1024.0;
        let pss = us.iter().map(|u| u.pss_kb).sum::<u64>() as f64 / k / 1024.0;
        let cpu =
            us.iter().map(|u| u.cpu_ticks).sum::<u64>() as f64 / k / hz / window.as_secs_f64()
                * 100.0;
        println!(
            "| {} | {imp} | {procs:.0} | {rss:.1} | {pss:.1} | {cpu:.3} |",
            r.case.label
        );
        per.insert(
            (
                r.case.label,
                if r.case.kind == Kind::Real {
                    "real"
                } else {
                    "ours"
                },
            ),
            (rss, cpu),
        );
    }
    println!();
    for label in ["keepalive 1s", "keepalive 10ms"] {
        if let (Some(o), Some(r)) = (per.get(&(label, "ours")), per.get(&(label, "real"))) {
            println!(
                "- {label}: RSS ours/real = {:.2}, CPU ours/real = {}",
                o.0 / r.0,
                if r.1 > 0.0 {
                    format!("{:.2}", o.1 / r.1)
                } else {
                    "n/a (real used no measurable CPU)".into()
                }
            );
        }
    }
    if let Some((rss, cpu)) = per.get(&("keepalive 10ms", "ours")) {
        println!(
            "- targets (ours at keepalive 10ms): RSS < 8 MB: {} ({rss:.1} MB); CPU < 1 % of a core: {} ({cpu:.3} %)",
            if *rss < 8.0 { "met" } else { "MISSED" },
            if *cpu < 1.0 { "met" } else { "MISSED" }
        );
    }
    Ok(())
}
