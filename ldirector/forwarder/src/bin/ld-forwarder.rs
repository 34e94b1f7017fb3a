//! A standalone userspace forwarder for one service, without ldirectord:
//! for benchmarks and for trying the schedulers by hand.
//!
//! SIGUSR1 prints the table and the connections (`ipvsadm -Ln`, `-Lcn`) on
//! stderr; SIGTERM/SIGINT print the `--stats` table and exit.
//!
//! ld-forwarder [--threads N] [--no-splice] [-p SECS] tcp|udp VIP:PORT SCHED REAL:PORT[=WEIGHT]...

use std::process::ExitCode;

use ld_forwarder::{Forwarder, Options};
use ldirector::backend::listing::{render, render_connections, ListFormat};
use ldirector::backend::Backend;
use ldirector::config::{Forwarding, Protocol, Scheduler, VirtualAddr};
use ldirector::ipvs::{DestParams, IpvsCommand, ServiceParams};

const USAGE: &str = "usage: ld-forwarder [--threads N] [--no-splice] [-p SECS] tcp|udp VIP:PORT SCHEDULER REAL:PORT[=WEIGHT]...";

fn parse(args: &[String]) -> Result<(usize, Options, Vec<IpvsCommand>), String> {
    let mut threads = ld_forwarder::runtimes::default_count();
    let mut opts = Options::default();
    let mut persistent = None;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--threads" => {
                threads = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--threads needs a number")?
            }
            "--no-splice" => opts.splice = false,
            "-p" => {
                persistent = Some(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("-p needs seconds")?,
                )
            }
            _ => rest.push(a.clone()),
        }
    }
    let [proto, vip, sched, reals @ ..] = rest.as_slice() else {
        return Err(USAGE.into());
    };
    let protocol = match proto.as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        _ => return Err(format!("{proto}: not tcp or udp")),
    };
    let addr = vip.parse().map_err(|e| format!("{vip}: {e}"))?;
    let key = VirtualAddr::Inet { protocol, addr };
    let scheduler =
        Scheduler::from_name(sched).ok_or_else(|| format!("{sched}: unknown scheduler"))?;
    let mut cmds = vec![IpvsCommand::AddService {
        key,
        params: ServiceParams {
            scheduler,
            persistent,
            netmask: None,
            schedflags: None,
            ops: false,
        },
    }];
    for r in reals {
        let (a, w) = r.split_once('=').unwrap_or((r, "1"));
        cmds.push(IpvsCommand::AddDest {
            key,
            dest: a.parse().map_err(|e| format!("{a}: {e}"))?,
            params: DestParams {
                forward: Forwarding::Masq,
                weight: w.parse().map_err(|e| format!("{w}: {e}"))?,
                upper_threshold: 0,
                lower_threshold: 0,
            },
        });
    }
    Ok((threads, opts, cmds))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (threads, opts, cmds) = match parse(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("ld-forwarder: {e}");
            return ExitCode::from(2);
        }
    };
    // The main thread is one of the forwarding threads.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ld-forwarder: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut handles = vec![rt.handle().clone()];
    match ld_forwarder::runtimes::spawn(threads - 1, "ld-forwarder") {
        Ok(more) => handles.extend(more),
        Err(e) => {
            eprintln!("ld-forwarder: threads: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut fwd = Forwarder::with_runtimes(handles, opts);
    if let Err(e) = fwd.apply(&cmds) {
        eprintln!("ld-forwarder: {e}");
        return ExitCode::FAILURE;
    }
    rt.block_on(async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("ld-forwarder: signal: {e}");
                    return;
                }
            };
        let mut usr1 =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("ld-forwarder: signal: {e}");
                    return;
                }
            };
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
                // A status dump on demand: the table and the connections.
                _ = usr1.recv() => {
                    if let Ok(s) = fwd.snapshot() {
                        eprint!("{}", render(&s, ListFormat::Plain));
                    }
                    if let Ok(c) = fwd.connections() {
                        eprint!("{}", render_connections(&c, true));
                    }
                }
            }
        }
    });
    if let Ok(s) = fwd.snapshot() {
        eprint!("{}", render(&s, ListFormat::Stats));
    }
    ExitCode::SUCCESS
}
