//! `hademo`: a two-director heartbeat cluster in network namespaces, a
//! client, and a failover timeline. See README.md (top section).

mod bins;
mod cleanup;
mod cluster;
mod configs;
mod http;
mod keeper;
mod realservers;
mod report;
mod scenario;
mod timeline;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::{Parser, Subcommand};
use ha_tests::Env;

use crate::cluster::{DemoCluster, Plan};
use crate::configs::DemoConfig;
use crate::timeline::Timeline;

/// A two-director heartbeat cluster in network namespaces: our heartbeat on
/// node1 and node2 (sha1, bcast eth0, auto_failback on), a client that keeps
/// requesting the VIP 192.0.2.50, node1 powered off and back on, and a
/// timeline of what everybody saw. Needs root.
#[derive(Parser, Debug)]
#[command(name = "hademo", version)]
struct Cli {
    /// No pauses; exit 0 only if the failover happened as expected.
    #[arg(long)]
    non_interactive: bool,
    /// Leave the cluster running afterwards (and print how to clean up).
    #[arg(long)]
    keep: bool,
    /// keepalive 1 s / deadtime 3 s instead of 200 ms / 1 s.
    #[arg(long)]
    slow: bool,
    /// Directory with ha.cf, authkeys and haresources [default: examples/demo].
    #[arg(long, value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// Directory with our heartbeat, cl_status and nsinit [default: build them].
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// Write the client's requests and the milestones for gnuplot to
    /// PREFIX.dat and PREFIX.gpinc (benches/run.sh plots them).
    #[arg(long, value_name = "PREFIX")]
    samples: Option<PathBuf>,
    /// Stop kept demos, remove every demo namespace and directory, and exit.
    #[arg(long)]
    cleanup: bool,
    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// The directors' HTTP service (started by the demo inside each node).
    #[command(hide = true)]
    ServeHttp {
        #[arg(long, default_value_t = http::PORT)]
        port: u16,
        #[arg(long, default_value_t = std::net::Ipv4Addr::UNSPECIFIED)]
        bind: std::net::Ipv4Addr,
    },
    /// One GET (the demo's readiness probe inside a node); prints the body.
    #[command(hide = true)]
    HttpGet {
        addr: std::net::SocketAddrV4,
        #[arg(default_value = "/")]
        path: String,
    },
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Sub::ServeHttp { port, bind }) = cli.command {
        return http::serve(bind, port);
    }
    if let Some(Sub::HttpGet { addr, path }) = &cli.command {
        return match http::get_path(*addr, path) {
            http::Outcome::Node(body) => {
                println!("{body}");
                ExitCode::SUCCESS
            }
            http::Outcome::Failed(why) => {
                eprintln!("hademo http-get {addr}{path}: {why}");
                ExitCode::from(1)
            }
        };
    }
    if !is_root() {
        eprintln!(
            "hademo: needs root: it creates network namespaces and runs heartbeat inside them.\n\
             Run it as root, e.g. `sudo -E cargo run --release -p hademo`.\n\
             (A variant on loopback that needs no root is planned in a later issue.)"
        );
        return ExitCode::from(2);
    }
    if cli.cleanup {
        let removed = cleanup::sweep_all();
        if removed.is_empty() {
            println!("hademo: nothing to clean up");
        }
        for what in removed {
            println!("hademo: {what}");
        }
        return ExitCode::SUCCESS;
    }
    let detach = if cli.keep {
        match keeper::split() {
            Ok(keeper::Side::Parent(code)) => return code,
            Ok(keeper::Side::Keeper(d)) => Some(d),
            Err(e) => {
                eprintln!("hademo: {e:#}");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    if let Err(e) = cleanup::install_handlers() {
        eprintln!("hademo: {e:#}");
        return ExitCode::from(1);
    }
    let (code, cluster) = run(&cli);
    match (detach, cluster) {
        (Some(d), Some(c)) => {
            print_keep_help(&c);
            d.finish(code);
            // The signal thread ends the process (and the cluster) on SIGTERM.
            loop {
                std::thread::park();
            }
        }
        (Some(d), None) => d.finish(code),
        (None, cluster) => {
            drop(cluster);
            cleanup::sweep_own();
        }
    }
    ExitCode::from(code)
}

/// The demo; returns the exit code and, for `--keep`, the cluster.
fn run(cli: &Cli) -> (u8, Option<DemoCluster>) {
    for what in cleanup::sweep_stale() {
        println!("hademo: leftover of a killed run: {what}");
    }
    let mut cluster = None;
    let code = match demo(cli, &mut cluster) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("hademo: {e:#}");
            if let Some(c) = &cluster {
                dump_logs(c);
            }
            1
        }
    };
    (code, cluster.filter(|_| cli.keep))
}

/// Build the cluster into `slot` (so that it outlives an error) and tell
/// the story; whether every check passed.
fn demo(cli: &Cli, slot: &mut Option<DemoCluster>) -> Result<bool> {
    let cfg_dir = cli.config_dir.clone().unwrap_or_else(configs::default_dir);
    let cfg = DemoConfig::load(&cfg_dir, cli.slow)?;
    let bin_dir = bins::locate(cli.bin_dir.clone())?;
    let ldirectord = match (&cfg.lvs, bins::ldirectord(&bin_dir)) {
        (None, _) => Err("haresources has no ldirectord resource".to_owned()),
        (Some(_), l) => l,
    };
    if let Some(why) = ha_tests::env::missing(ha_tests::Needs::Ours, &bin_dir.join("nsinit")) {
        anyhow::bail!("cannot run the demo: {why}");
    }
    let env = Env {
        nsinit: bin_dir.join("nsinit"),
        ours: bin_dir.clone(),
    };
    let prefix = cleanup::prefix_for(std::process::id());
    print_intro(&cfg, &bin_dir, &prefix, &ldirectord);
    let plan = Plan {
        ldirectord: ldirectord.as_ref().ok().cloned(),
        agent: bin_dir.join("LVSRealServer"),
    };
    let tl = Arc::new(Timeline::new());
    let cluster = slot.insert(DemoCluster::build(&prefix, &cfg, &env, &plan)?);
    if let Some(r) = cluster.reals() {
        println!("  web        {} on the real servers", r.web().describe());
    }
    let report = scenario::run(cluster, &cfg, &tl, !cli.non_interactive, ldirectord.err())?;
    report::print_summary(&report, &cfg);
    if let Some(p) = &cli.samples {
        report::write_plot_data(&report, p)?;
    }
    if !report.passed() {
        dump_logs(cluster);
    }
    Ok(report.passed())
}

fn print_intro(
    cfg: &DemoConfig,
    bin_dir: &std::path::Path,
    prefix: &str,
    ldirectord: &Result<PathBuf, String>,
) {
    let t = cfg.timing;
    match (&cfg.lvs, ldirectord) {
        (Some(l), Ok(_)) => println!(
            "heartbeat-rs demo: two directors (heartbeat + ldirectord), {} real servers, one client, one VIP",
            l.reals.len()
        ),
        _ => println!("heartbeat-rs demo: two directors, one client, one VIP"),
    }
    println!(
        "  config     {} (ha.cf, authkeys, haresources{})",
        cfg.dir.display(),
        if cfg.lvs.is_some() {
            ", ldirectord.cf, nginx-realserver.conf"
        } else {
            ""
        }
    );
    println!(
        "  timing     keepalive {} ms, deadtime {} ms, initdead {} ms; auto_failback {}",
        t.keepalive.as_millis(),
        t.deadtime.as_millis(),
        t.initdead.as_millis(),
        if cfg.auto_failback { "on" } else { "off" }
    );
    println!("  daemon     {}/heartbeat (ours)", bin_dir.display());
    match ldirectord {
        Ok(l) => println!(
            "  director   {} --ipvs auto (kernel IPVS if present, else the userspace forwarder)",
            l.display()
        ),
        Err(why) if cfg.lvs.is_some() => println!(
            "  director   NO ldirectord ({why}): the ldirectord resource is left out, \
             the directors answer on the VIP themselves"
        ),
        Err(_) => {}
    }
    if let Some(l) = &cfg.lvs {
        let reals: Vec<String> = l.reals.iter().map(|r| r.to_string()).collect();
        println!(
            "  reals      {} (LVS-DR: VIP on lo via LVSRealServer), negotiate GET {} =~ /{}/, quiescent {}, fallback {}",
            reals.join(", "),
            l.request,
            l.receive,
            if l.quiescent { "yes" } else { "no" },
            l.fallback.map_or("none".into(), |f| f.to_string())
        );
    }
    println!(
        "  LAN        192.0.2.0/24 in namespaces {prefix}*: {} .11, {} .12, client .100; VIP {} (home {})",
        cfg.nodes.first().map_or("", String::as_str),
        cfg.nodes.get(1).map_or("", String::as_str),
        cfg.vip,
        cfg.home
    );
}

fn dump_logs(c: &DemoCluster) {
    for n in c.nodes() {
        n.dump_logs();
    }
}

fn print_keep_help(c: &DemoCluster) {
    let me = std::process::id();
    let p = c.prefix();
    println!("\n== kept: the cluster stays up (keeper process {me}) ==");
    println!("  namespaces  {p}sw (switch), {p}c (client), {p}n1, {p}n2");
    println!(
        "  node dirs   {} (etc/, log/ha-log, init.out)",
        c.dir().display()
    );
    println!("  client:     ip netns exec {p}c curl -s http://192.0.2.50/");
    for n in c.nodes() {
        if let Ok(enter) = c.enter_cmd(n.name()) {
            println!(
                "  {}:      {enter} {} nodestatus {}",
                n.name(),
                n.cl_status_bin(),
                c.nodes()
                    .iter()
                    .find(|o| o.name() != n.name())
                    .map_or("", |o| o.name())
            );
        }
    }
    println!("  clean up:   kill {me}    (or: cargo run --release -p hademo -- --cleanup)");
}
