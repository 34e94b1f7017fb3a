//! A stand-in `ipvsadm` for hosts without kernel IPVS, so that the real
//! ldirectord 4.12 can be benchmarked: it keeps the virtual-server table in
//! a text file (`$LDBENCH_IPVSADM_STATE`, locked with flock) and lists it in
//! ipvsadm 1.31's `-L -n` / `-L -n --thresholds` layout, which is what
//! ldirectord parses (three header lines, service lines, `  -> ` lines).
//! Only the commands ldirectord issues are understood. Every call is
//! appended to `$LDBENCH_IPVSADM_LOG` (if set), to count them.
//!
//! ldirectord ignores `$PATH` for ipvsadm, so the bench bind-mounts this
//! binary over `/usr/sbin/ipvsadm` in a private mount namespace; the
//! binary recognises the name it was called by.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Service {
    sched: String,
    persistent: Option<u32>,
    mask: Option<String>,
    /// rip:port → (forward name, weight, upper, lower)
    dests: BTreeMap<String, Dest>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Dest {
    fwd: String,
    weight: u32,
    upper: u32,
    lower: u32,
}

/// `(proto, address or mark)` → service.
type Table = BTreeMap<(String, String), Service>;

fn parse_table(text: &str) -> Table {
    let mut t = Table::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["S", proto, addr, sched, p, m] => {
                t.insert(
                    ((*proto).into(), (*addr).into()),
                    Service {
                        sched: (*sched).into(),
                        persistent: p.parse().ok(),
                        mask: (*m != "-").then(|| (*m).to_owned()),
                        dests: BTreeMap::new(),
                    },
                );
            }
            ["D", proto, addr, rip, fwd, wt, u, l] => {
                if let Some(s) = t.get_mut(&((*proto).into(), (*addr).into())) {
                    s.dests.insert(
                        (*rip).into(),
                        Dest {
                            fwd: (*fwd).into(),
                            weight: wt.parse().unwrap_or(0),
                            upper: u.parse().unwrap_or(0),
                            lower: l.parse().unwrap_or(0),
                        },
                    );
                }
            }
            _ => {}
        }
    }
    t
}

fn render_table(t: &Table) -> String {
    let mut out = String::new();
    for ((proto, addr), s) in t {
        out.push_str(&format!(
            "S {proto} {addr} {} {} {}\n",
            s.sched,
            s.persistent.map_or("-".into(), |p| p.to_string()),
            s.mask.as_deref().unwrap_or("-")
        ));
        for (rip, d) in &s.dests {
            out.push_str(&format!(
                "D {proto} {addr} {rip} {} {} {} {}\n",
                d.fwd, d.weight, d.upper, d.lower
            ));
        }
    }
    out
}

/// ipvsadm's listing.
fn listing(t: &Table, thresholds: bool) -> String {
    let mut out = String::from(
        "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n",
    );
    out.push_str(if thresholds {
        "  -> RemoteAddress:Port            Uthreshold Lthreshold ActiveConn InActConn\n"
    } else {
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
    });
    for ((proto, addr), s) in t {
        out.push_str(&format!(
            "{}  {addr} {}",
            proto.to_ascii_uppercase(),
            s.sched
        ));
        if let Some(p) = s.persistent {
            out.push_str(&format!(" persistent {p}"));
            if let Some(m) = &s.mask {
                out.push_str(&format!(" mask {m}"));
            }
        }
        out.push('\n');
        for (rip, d) in &s.dests {
            if thresholds {
                out.push_str(&format!(
                    "  -> {rip:<28} {:<10} {:<10} {:<10} {:<10}\n",
                    d.upper, d.lower, 0, 0
                ));
            } else {
                out.push_str(&format!(
                    "  -> {rip:<28} {:<7} {:<6} {:<10} {:<10}\n",
                    d.fwd, d.weight, 0, 0
                ));
            }
        }
    }
    out
}

#[derive(Debug, Default)]
struct Args {
    op: Option<char>,
    svc: Option<(String, String)>,
    sched: Option<String>,
    persistent: Option<u32>,
    mask: Option<String>,
    rip: Option<String>,
    fwd: Option<String>,
    weight: Option<u32>,
    upper: Option<u32>,
    lower: Option<u32>,
    thresholds: bool,
}

fn parse_args(argv: &[String]) -> Result<Args> {
    let mut a = Args::default();
    let mut it = argv.iter();
    let value = |it: &mut std::slice::Iter<'_, String>, what: &str| -> Result<String> {
        it.next()
            .cloned()
            .with_context(|| format!("option {what} requires an argument"))
    };
    while let Some(w) = it.next() {
        match w.as_str() {
            "-A" | "-E" | "-D" | "-a" | "-e" | "-d" | "-L" | "-l" | "-C" => {
                a.op = w.chars().nth(1);
            }
            "-n" | "--numeric" | "-6" | "-o" => {}
            "--thresholds" => a.thresholds = true,
            "-t" => a.svc = Some(("tcp".into(), value(&mut it, "-t")?)),
            "-u" => a.svc = Some(("udp".into(), value(&mut it, "-u")?)),
            "-f" => a.svc = Some(("fwm".into(), value(&mut it, "-f")?)),
            "-s" => a.sched = Some(value(&mut it, "-s")?),
            "-p" => a.persistent = Some(value(&mut it, "-p")?.parse()?),
            "-M" => a.mask = Some(value(&mut it, "-M")?),
            "-b" => {
                value(&mut it, "-b")?;
            }
            "-r" => a.rip = Some(value(&mut it, "-r")?),
            "-g" => a.fwd = Some("Route".into()),
            "-m" => a.fwd = Some("Masq".into()),
            "-i" => a.fwd = Some("Tunnel".into()),
            "-w" => a.weight = Some(value(&mut it, "-w")?.parse()?),
            "-x" => a.upper = Some(value(&mut it, "-x")?.parse()?),
            "-y" => a.lower = Some(value(&mut it, "-y")?.parse()?),
            other => bail!("unknown option {other}"),
        }
    }
    Ok(a)
}

/// A real server's key as the kernel stores it: no port → the service's;
/// gate/ipip on an address:port service → the service's port.
fn dest_key(svc: &(String, String), rip: &str, fwd: &str) -> String {
    let vport = svc.1.rsplit_once(':').map(|(_, p)| p.to_owned());
    let (host, port) = match rip.rsplit_once(':') {
        Some((h, p)) if !p.ends_with(']') => (h.to_owned(), Some(p.to_owned())),
        _ => (rip.to_owned(), None),
    };
    let port = match (&vport, fwd) {
        (Some(v), "Route" | "Tunnel") if svc.0 != "fwm" => Some(v.clone()),
        _ => port.or(vport).or_else(|| Some("0".into())),
    };
    format!("{host}:{}", port.unwrap_or_default())
}

/// Apply one call; `Ok(stdout)` or `Err((message, rc))`.
fn apply(t: &mut Table, a: &Args) -> Result<String, (String, u8)> {
    let svc = || a.svc.clone().ok_or(("no service given".to_owned(), 2));
    match a.op {
        Some('L') | Some('l') => Ok(listing(t, a.thresholds)),
        Some('C') => {
            t.clear();
            Ok(String::new())
        }
        Some(op @ ('A' | 'E')) => {
            let k = svc()?;
            let exists = t.contains_key(&k);
            if op == 'A' && exists {
                return Err(("Service already exists".into(), 255));
            }
            if op == 'E' && !exists {
                return Err(("No such service".into(), 255));
            }
            let s = t.entry(k).or_default();
            s.sched = a.sched.clone().unwrap_or_else(|| "wlc".into());
            s.persistent = a.persistent;
            s.mask = a.mask.clone().filter(|_| a.persistent.is_some());
            Ok(String::new())
        }
        Some('D') => t
            .remove(&svc()?)
            .map(|_| String::new())
            .ok_or(("No such service".into(), 255)),
        Some(op @ ('a' | 'e' | 'd')) => {
            let k = svc()?;
            let rip = a
                .rip
                .clone()
                .ok_or(("no real server given".to_owned(), 2))?;
            let s = t.get_mut(&k).ok_or(("No such service".to_owned(), 255))?;
            let fwd = a.fwd.clone().unwrap_or_else(|| "Route".into());
            let key = dest_key(&k, &rip, &fwd);
            match op {
                'a' if s.dests.contains_key(&key) => {
                    Err(("Destination already exists".into(), 255))
                }
                'e' | 'd' if !s.dests.contains_key(&key) => {
                    Err(("No such destination".into(), 255))
                }
                'd' => {
                    s.dests.remove(&key);
                    Ok(String::new())
                }
                _ => {
                    s.dests.insert(
                        key,
                        Dest {
                            fwd,
                            weight: a.weight.unwrap_or(1),
                            upper: a.upper.unwrap_or(0),
                            lower: a.lower.unwrap_or(0),
                        },
                    );
                    Ok(String::new())
                }
            }
        }
        _ => Err(("no command given".into(), 2)),
    }
}

fn locked_state() -> Result<File> {
    let path =
        std::env::var("LDBENCH_IPVSADM_STATE").context("LDBENCH_IPVSADM_STATE is not set")?;
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("open {path}"))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        bail!("flock {path}: {}", std::io::Error::last_os_error());
    }
    Ok(f)
}

/// Number of real servers with weight > 0 in the state file `text`.
pub fn active_dests(text: &str) -> usize {
    parse_table(text)
        .values()
        .flat_map(|s| s.dests.values())
        .filter(|d| d.weight > 0)
        .count()
}

pub fn main(argv: &[String]) -> ExitCode {
    if let Ok(log) = std::env::var("LDBENCH_IPVSADM_LOG") {
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(f, "ipvsadm {}", argv.join(" "));
        }
    }
    if argv.iter().any(|a| a == "-v" || a == "--version") {
        println!("ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)");
        return ExitCode::SUCCESS;
    }
    let run = || -> Result<Result<String, (String, u8)>> {
        let a = parse_args(argv)?;
        let mut f = locked_state()?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        let mut t = parse_table(&text);
        let before = t.clone();
        let res = apply(&mut t, &a);
        if t != before {
            f.set_len(0)?;
            f.rewind()?;
            f.write_all(render_table(&t).as_bytes())?;
        }
        Ok(res)
    };
    match run() {
        Ok(Ok(out)) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Ok(Err((msg, rc))) => {
            eprintln!("{msg}");
            ExitCode::from(rc)
        }
        Err(e) => {
            eprintln!("ipvsadm (ldbench stand-in): {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(t: &mut Table, line: &str) -> Result<String, (String, u8)> {
        let argv: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        apply(t, &parse_args(&argv).expect("args"))
    }

    #[test]
    fn ldirectord_sequence() {
        let mut t = Table::new();
        call(&mut t, "-A -t 127.0.0.200:80 -s wrr ").expect("add svc");
        assert_eq!(
            call(&mut t, "-A -t 127.0.0.200:80 -s wrr"),
            Err(("Service already exists".into(), 255))
        );
        call(
            &mut t,
            "-a -t 127.0.0.200:80 -x 0 -y 0 -r 127.0.1.1:8080 -m -w 1",
        )
        .expect("add dest");
        call(&mut t, "-e -t 127.0.0.200:80 -r 127.0.1.1:8080 -m -w 0").expect("quiesce");
        // gate: the kernel keeps the virtual's port.
        call(&mut t, "-a -t 127.0.0.200:80 -r 127.0.1.2:8080 -g -w 5").expect("gate");
        let l = call(&mut t, "-L -n").expect("list");
        let lines: Vec<&str> = l.lines().collect();
        assert_eq!(lines.len(), 6, "{l}");
        assert_eq!(lines.get(3), Some(&"TCP  127.0.0.200:80 wrr"));
        assert!(lines
            .get(4)
            .is_some_and(|x| x.starts_with("  -> 127.0.1.1:8080") && x.contains("Masq    0 ")));
        assert!(lines
            .get(5)
            .is_some_and(|x| x.starts_with("  -> 127.0.1.2:80 ") && x.contains("Route   5 ")));
        let th = call(&mut t, "-L -n --thresholds").expect("list");
        assert!(th.contains("Uthreshold Lthreshold"));
        assert_eq!(active_dests(&render_table(&t)), 1);
        assert_eq!(parse_table(&render_table(&t)), t);
        assert_eq!(
            call(&mut t, "-d -t 127.0.0.200:80 -r 127.0.1.9:8080"),
            Err(("No such destination".into(), 255))
        );
        call(&mut t, "-D -t 127.0.0.200:80").expect("del svc");
        assert!(t.is_empty());
    }
}
