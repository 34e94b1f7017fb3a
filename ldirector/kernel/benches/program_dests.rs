//! Time to program N IPVS destinations: one KernelBackend batch vs ipvsadm
//! (one `ipvsadm -a` exec per destination, and one `ipvsadm -R` for all).
//! Needs kernel IPVS and root: run it in the guest with
//! `ldirector/kernel/benches/program_dests.sh`, which prints the table.
//!
//! `program_dests [--dests N] [--execs M]`: M `ipvsadm -a` execs are timed
//! and scaled to N when M < N (exec cost per call is flat; the table says
//! so).

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ld_ipvs_kernel::KernelBackend;
use ldirector::backend::Backend;
use ldirector::config::{Forwarding, Protocol, Scheduler, VirtualAddr};
use ldirector::ipvs::{DestParams, IpvsCommand, ServiceParams};

fn flush() {
    let ok = Command::new("ipvsadm")
        .arg("-C")
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ipvsadm -C failed");
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; nothing else of libtest's applies.
    let n = arg(&args, "--dests", 10_000);
    let execs = arg(&args, "--execs", 1_000).min(n);

    let key = VirtualAddr::Inet {
        protocol: Protocol::Tcp,
        addr: "10.77.0.1:80".parse().expect("vip"),
    };
    let service = IpvsCommand::AddService {
        key,
        params: ServiceParams::new(Scheduler::Wrr),
    };
    let dests: Vec<IpvsCommand> = (0..n as u32)
        .map(|i| IpvsCommand::AddDest {
            key,
            dest: SocketAddr::new(Ipv4Addr::from(0x0a50_0000 + i).into(), 8080),
            params: DestParams {
                forward: Forwarding::Masq,
                weight: 1,
                upper_threshold: 0,
                lower_threshold: 0,
            },
        })
        .collect();

    flush();
    let mut k = KernelBackend::open().expect("kernel IPVS");
    let mut batch = vec![service.clone()];
    batch.extend(dests.iter().cloned());
    let t = Instant::now();
    k.apply(&batch).expect("batch");
    let netlink = t.elapsed();
    let t = Instant::now();
    let snap = k.snapshot().expect("snapshot");
    let read = t.elapsed();
    let listed: usize = snap.services.iter().map(|s| s.dests.len()).sum();
    assert_eq!(listed, n, "every destination programmed");
    let t = Instant::now();
    k.apply(&[IpvsCommand::DeleteService { key }])
        .expect("delete");
    let delete = t.elapsed();

    // The same number of destinations over 100 services: the kernel looks
    // a new destination up in its service's list, so this separates our
    // cost from the kernel's per-service O(n).
    let spread: Vec<IpvsCommand> = (0..100u32)
        .flat_map(|s| {
            let key = VirtualAddr::Inet {
                protocol: Protocol::Tcp,
                addr: SocketAddr::new(Ipv4Addr::from(0x0a4e_0000 + s).into(), 80),
            };
            let add = IpvsCommand::AddService {
                key,
                params: ServiceParams::new(Scheduler::Wrr),
            };
            std::iter::once(add).chain((0..(n as u32).div_ceil(100)).map(move |i| {
                IpvsCommand::AddDest {
                    key,
                    dest: SocketAddr::new(Ipv4Addr::from(0x0a50_0000 + i).into(), 8080),
                    params: DestParams {
                        forward: Forwarding::Masq,
                        weight: 1,
                        upper_threshold: 0,
                        lower_threshold: 0,
                    },
                }
            }))
        })
        .collect();
    let t = Instant::now();
    k.apply(&spread).expect("spread batch");
    let spread_time = t.elapsed();
    flush();

    // Requests the kernel refuses right after parsing (no such service):
    // the floor of the netlink path itself, answers included.
    let missing = VirtualAddr::Inet {
        protocol: Protocol::Tcp,
        addr: "10.77.0.2:80".parse().expect("vip"),
    };
    let refused: Vec<IpvsCommand> = dests
        .iter()
        .filter_map(|d| match d {
            IpvsCommand::AddDest { dest, .. } => Some(IpvsCommand::DelDest {
                key: missing,
                dest: *dest,
            }),
            _ => None,
        })
        .collect();
    let t = Instant::now();
    let failures = k.apply(&refused).expect_err("all refused").failures.len();
    let refused_time = t.elapsed();
    assert_eq!(failures, n);

    // ipvsadm -R: one process, one netlink round trip per rule.
    let mut rules = service.ipvsadm_args().join(" ");
    rules.push('\n');
    for d in &dests {
        rules.push_str(&d.ipvsadm_args().join(" "));
        rules.push('\n');
    }
    flush();
    let t = Instant::now();
    let mut child = Command::new("ipvsadm")
        .arg("-R")
        .stdin(Stdio::piped())
        .spawn()
        .expect("ipvsadm -R");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(rules.as_bytes())
        .expect("rules");
    assert!(child.wait().expect("wait").success(), "ipvsadm -R");
    let restore = t.elapsed();

    // ipvsadm -a per destination, as ldirectord does it.
    flush();
    let ok = Command::new("ipvsadm")
        .args(service.ipvsadm_args())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ipvsadm -A");
    let t = Instant::now();
    for d in dests.iter().take(execs) {
        let ok = Command::new("ipvsadm")
            .args(d.ipvsadm_args())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ipvsadm {d}");
    }
    let per_exec = t.elapsed() / execs.max(1) as u32;
    let exec_total = per_exec * n as u32;
    flush();

    let ratio = |d: Duration| d.as_secs_f64() / netlink.as_secs_f64();
    println!("| programming {n} destinations (one service) | ms | × netlink batch |");
    println!("|---|---:|---:|");
    println!("| KernelBackend::apply, one batch | {} | 1 |", ms(netlink));
    println!(
        "| KernelBackend::apply, one batch, same count over 100 services | {} | |",
        ms(spread_time)
    );
    println!(
        "| KernelBackend::apply, {n} requests all refused (netlink floor) | {} | |",
        ms(refused_time)
    );
    println!(
        "| `ipvsadm -R`, {n} rules in one process | {} | {:.1} |",
        ms(restore),
        ratio(restore)
    );
    let scaled = if execs < n {
        format!(" ({execs} timed, {} ms each, scaled)", ms(per_exec))
    } else {
        String::new()
    };
    println!(
        "| {n} × `ipvsadm -a` exec{scaled} | {} | {:.0} |",
        ms(exec_total),
        ratio(exec_total)
    );
    println!(
        "| KernelBackend::snapshot of {n} destinations | {} | |",
        ms(read)
    );
    println!("| delete the service (one request) | {} | |", ms(delete));
}
