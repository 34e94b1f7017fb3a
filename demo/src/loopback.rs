//! `hademo` without root: the ldirectord half of the product on loopback.
//!
//! What needs root, and so is left out: heartbeat (UDP port 694, the
//! hard-coded /etc/ha.d and /var/lib/heartbeat, `uname -n` as node name:
//! two nodes need two UTS namespaces), IPaddr2 (adding an address) and the
//! LVS-DR real-server setup (sysctls, an address on lo). What works
//! unprivileged, and is shown: our ldirectord with its userspace forwarder
//! (`--ipvs userspace`) on the loopback VIP 127.0.0.50:8080, negotiate
//! checks of two real servers (127.0.0.21/22:8080, in this process), the
//! fallback server, quiescent, and a director crash + restart (what
//! heartbeat would do on the other node) with the client's outage.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::http::{self, ClientLoop};
use crate::report::{ms, Mode, Report};
use crate::scenario::wait_until;
use crate::timeline::Timeline;

const VIP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 50), 8080);
const FALLBACK: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 8081);
const REALS: [(&str, Ipv4Addr); 2] = [
    ("rs1", Ipv4Addr::new(127, 0, 0, 21)),
    ("rs2", Ipv4Addr::new(127, 0, 0, 22)),
];
/// Director crash → restart → first answer.
const OUTAGE_BUDGET: Duration = Duration::from_secs(4);

/// A web server thread answering with `name` until dropped.
struct Web {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Web {
    fn start(name: &str, addr: SocketAddrV4) -> Result<Web> {
        let l = TcpListener::bind(addr).with_context(|| format!("bind {addr}"))?;
        l.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (st, name) = (stop.clone(), name.to_owned());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let _ = http::answer(c, &name);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Web {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn config(dir: &Path) -> String {
    let reals: String = REALS
        .iter()
        .map(|(_, ip)| format!("\treal={ip}:{} masq\n", VIP.port()))
        .collect();
    format!(
        "# hademo (no root): ldirectord with the userspace forwarder on loopback.\n\
         checktimeout=2\nnegotiatetimeout=2\ncheckinterval=1\nquiescent=yes\nautoreload=no\n\
         logfile=\"{log}\"\n\
         virtual={VIP}\n{reals}\tfallback={FALLBACK} masq\n\tservice=http\n\tscheduler=rr\n\
         \tprotocol=tcp\n\tchecktype=negotiate\n\trequest=\"alive\"\n\treceive=\"alive\"\n",
        log = dir.join("ldirectord.log").display()
    )
}

struct Director {
    bin: PathBuf,
    cf: PathBuf,
    dir: PathBuf,
}

impl Director {
    fn cmd(&self, action: &str) -> Result<std::process::Output> {
        ha_tests::cmd::run(
            Command::new(&self.bin)
                .env("LDIRECTORD_RUNDIR", &self.dir)
                .args(["--ipvs", "userspace"])
                .arg(&self.cf)
                .arg(action),
            Duration::from_secs(20),
        )
    }

    fn start(&self) -> Result<()> {
        let out = self.cmd("start")?;
        if !out.status.success() {
            bail!(
                "ldirectord start failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    fn pid(&self) -> Option<i32> {
        let name = self.cf.file_name()?.to_string_lossy().into_owned();
        std::fs::read_to_string(self.dir.join(format!("ldirectord.{name}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// A director crash: SIGKILL, no clean stop.
    fn crash(&self) -> Option<i32> {
        let pid = self.pid()?;
        // SAFETY: kill(2) on the daemon this demo started (pid from its pid file).
        unsafe { libc::kill(pid, libc::SIGKILL) };
        Some(pid)
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        if self.cmd("stop").is_err() {
            self.crash();
        }
    }
}

/// The no-root demo; whether it passed.
pub fn run(bin_dir: &Path) -> Result<bool> {
    let bin = crate::bins::ldirectord(bin_dir).map_err(|e| anyhow::anyhow!(e))?;
    let dir = std::env::temp_dir().join(format!(
        "{}lo",
        crate::cleanup::prefix_for(std::process::id())
    ));
    std::fs::create_dir_all(&dir)?;
    let cf = dir.join("ldirectord.cf");
    std::fs::write(&cf, config(&dir))?;
    println!("heartbeat-rs demo, no-root variant: ldirectord (userspace forwarder) on loopback");
    println!("  left out   heartbeat, IPaddr2, LVSRealServer: they need root (port 694, /etc/ha.d, addresses, sysctls)");
    println!(
        "  director   {} --ipvs userspace {}",
        bin.display(),
        cf.display()
    );
    println!(
        "  VIP        {VIP} -> rs1 {}:{p}, rs2 {}:{p}; fallback {FALLBACK}; negotiate GET /alive",
        REALS[0].1,
        REALS[1].1,
        p = VIP.port()
    );
    let result = story(&bin, &dir, &cf);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn story(bin: &Path, dir: &Path, cf: &Path) -> Result<bool> {
    let tl = Arc::new(Timeline::new());
    let mut r = Report::new(None);
    r.mode = Mode::Lvs;
    let mut webs: Vec<Option<Web>> = Vec::new();
    for (name, ip) in REALS {
        webs.push(Some(Web::start(name, SocketAddrV4::new(ip, VIP.port()))?));
        tl.log(name, format!("web server on {ip}:{}", VIP.port()));
    }
    let _fallback = Web::start("fallback", FALLBACK)?;
    tl.log("director", format!("fallback server on {FALLBACK}"));
    let d = Director {
        bin: bin.to_path_buf(),
        cf: cf.to_path_buf(),
        dir: dir.to_path_buf(),
    };
    d.start()?;
    let t_start = tl.log("director", "ldirectord started");
    r.milestone("ldirectord started", t_start);
    let client = ClientLoop::start(None, VIP, tl.clone())?;
    let both = wait_until(&tl, Duration::from_secs(10), || {
        REALS
            .iter()
            .all(|(n, _)| client.first_answer_from(n, t_start).is_some())
    });
    r.check("both real servers answer on the VIP", both.is_some());

    tl.note("\n== rs1 fails ==");
    let t_fail = tl.now();
    webs[0] = None;
    tl.log("rs1", "web server stopped");
    r.milestone("rs1 stopped", t_fail);
    let only_rs2 = wait_until(&tl, Duration::from_secs(8), || {
        let now = tl.now();
        let recent: Vec<_> = client
            .samples()
            .into_iter()
            .filter(|s| s.at + Duration::from_secs(1) >= now && s.at > t_fail)
            .collect();
        recent.len() >= 5 && recent.iter().all(|s| s.outcome.node() == Some("rs2"))
    });
    r.check(
        "ldirectord takes rs1 out: every request goes to rs2",
        only_rs2.is_some(),
    );

    tl.note("\n== rs2 fails too: the fallback server answers ==");
    webs[1] = None;
    let t_all = tl.log("rs2", "web server stopped");
    let fallback = wait_until(&tl, Duration::from_secs(8), || {
        client.first_answer_from("fallback", t_all).is_some()
    });
    r.check(
        "with no real server up, the fallback answers",
        fallback.is_some(),
    );
    for (i, (name, ip)) in REALS.iter().enumerate() {
        webs[i] = Some(Web::start(name, SocketAddrV4::new(*ip, VIP.port()))?);
        tl.log(name, "web server started again");
    }
    let t_back = tl.now();
    let back = wait_until(&tl, Duration::from_secs(8), || {
        REALS
            .iter()
            .all(|(n, _)| client.first_answer_from(n, t_back).is_some())
    });
    r.check("both real servers back in rotation", back.is_some());

    tl.note("\n== the director crashes and is restarted (heartbeat's job on the other node) ==");
    let t_off = tl.now();
    match d.crash() {
        Some(pid) => tl.log("director", format!("ldirectord (pid {pid}) SIGKILLed")),
        None => bail!("no ldirectord pid file in {}", dir.display()),
    };
    r.power_off = Some(t_off);
    r.milestone("ldirectord killed", t_off);
    let _ = wait_until(&tl, Duration::from_secs(2), || {
        client
            .samples()
            .iter()
            .any(|s| s.at > t_off && s.outcome.node().is_none())
    });
    d.start()?;
    let t_re = tl.log("director", "ldirectord started again");
    r.milestone("ldirectord restarted", t_re);
    let first = wait_until(&tl, Duration::from_secs(8), || {
        client
            .samples()
            .iter()
            .any(|s| s.at > t_re && s.outcome.node().is_some_and(|n| n.starts_with("rs")))
    });
    if let Some(at) = first {
        r.milestone("first success after restart", at);
    }
    r.check("a real server answers after the restart", first.is_some());
    let mut client = client;
    client.stop();
    r.add_requests(&client.samples());
    let worst = r.failover_outage.map(|o| o.len());
    r.check(
        format!(
            "outage from crash to first answer {} ms <= {} ms",
            worst.map_or("-".into(), |w| ms(w).to_string()),
            ms(OUTAGE_BUDGET)
        ),
        worst.is_some_and(|w| w <= OUTAGE_BUDGET),
    );
    print_summary(&r);
    Ok(r.passed())
}

fn print_summary(r: &Report) {
    println!("\n== summary (no-root variant: ldirectord only) ==");
    for m in &r.milestones {
        println!("{:>12}  {}", crate::timeline::offset(m.at), m.what);
    }
    println!("{:>24}: {}", "requests", r.total);
    for (who, n) in &r.backends {
        println!("{:>24}: {n}", who);
    }
    if let Some(o) = r.longest_outage {
        println!("{:>24}: {} ms", "longest outage", ms(o.len()));
    }
    for c in &r.checks {
        println!("[{}] {}", if c.ok { " ok " } else { "FAIL" }, c.what);
    }
    println!(
        "\nresult: {}",
        if r.passed() {
            "PASS (ldirectord half only; run as root for the whole cluster)"
        } else {
            "FAIL"
        }
    );
}
