//! The real binary as init scripts, heartbeat and Pacemaker drive it, with
//! `--ipvs none` (the table lives in the daemon's memory and is read back
//! through `status`). Each test has its own run directory
//! (`LDIRECTORD_RUNDIR`), so pid files and sockets never collide.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ldirectord");

struct Env {
    dir: tempfile::TempDir,
    cfg: PathBuf,
}

impl Env {
    fn new(cf: &str) -> Env {
        let dir = tempfile::Builder::new().prefix("lddcli").tempdir().unwrap();
        let cfg = dir.path().join("lddcli.cf");
        let cf = cf.replace("@DIR@", &dir.path().display().to_string());
        std::fs::write(&cfg, cf).unwrap();
        Env { dir, cfg }
    }

    fn rundir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    fn pid_file(&self) -> PathBuf {
        self.rundir().join("ldirectord.lddcli.cf.pid")
    }

    fn cmd(&self) -> Command {
        self.cmd_of(BIN)
    }

    fn cmd_of(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("LDIRECTORD_RUNDIR", self.rundir())
            .env_remove("OCF_ROOT")
            .current_dir(self.dir.path());
        c
    }

    /// `ldirectord [--ipvs none] <cfg> <args…>`
    fn run(&self, args: &[&str]) -> Output {
        let mut c = self.cmd();
        if args.first() == Some(&"start") || args.first() == Some(&"restart") {
            c.args(["--ipvs", "none"]);
        }
        c.arg(&self.cfg).args(args).output().unwrap()
    }

    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ld.log")).unwrap_or_default()
    }

    /// Poll `status` until its stdout satisfies `cond` (10 s deadline).
    fn status_until(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let o = self.run(&["status"]);
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            if cond(&out) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; status:\n{out}\nlog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Env {
    /// Never leave a daemon behind, even when an assertion failed.
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let pid = nix::unistd::Pid::from_raw(pid);
            if ldirectord::pidfile::is_ldirectord(pid.as_raw()) {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const ON: &str = "checkinterval=1
logfile=\"@DIR@/ld.log\"
quiescent=yes

virtual=127.0.0.100:80
\treal=127.0.0.2:8080 masq
\treal=127.0.0.3:8080 masq 2
\tchecktype=on
\tscheduler=wrr
";

#[test]
fn lifecycle_start_status_reload_stop() {
    let e = Env::new(ON);
    let o = e.run(&["status"]);
    assert_eq!(o.status.code(), Some(3));
    let stopped = format!("ldirectord is stopped for {}\n", e.cfg.display());
    assert_eq!(text(&o.stdout), stopped);

    let o = e.run(&["start"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let pid = e.pid().expect("pid file written before start returns");
    assert!(ldirectord::pidfile::is_ldirectord(pid));
    let out = e.status_until("both reals", |s| {
        weight(s, "127.0.0.2:8080") == Some((1, "Masq"))
            && weight(s, "127.0.0.3:8080") == Some((2, "Masq"))
    });
    assert!(
        out.starts_with(&format!(
            "ldirectord for {} is running with pid: {pid}\n",
            e.cfg.display()
        )),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["TCP", "127.0.0.100:80", "wrr"]),
        "{out}"
    );

    // start again: nothing happens
    let o = e.run(&["start"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(e.pid(), Some(pid));

    let o = e.run(&["status", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    let json = out.split_once('\n').unwrap().1;
    let r: ldirectord::report::StatusReport = serde_json::from_str(json).unwrap();
    assert_eq!(r.pid as i32, pid);
    assert_eq!(r.backend, "memory");
    assert_eq!(r.virtuals[0].reals[1].weight, Some(2));

    // reload with an edited file
    std::fs::write(
        &e.cfg,
        ON.replace("@DIR@", &e.dir.path().display().to_string())
            .replace(
                "\tchecktype=on",
                "\treal=127.0.0.4:8080 masq 3\n\tchecktype=on",
            ),
    )
    .unwrap();
    let o = e.run(&["reload"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    e.status_until("new real", |s| {
        weight(s, "127.0.0.4:8080") == Some((3, "Masq"))
    });

    // a broken file: refused, the daemon and its pid file stay
    std::fs::write(&e.cfg, "checkinterval=1\nnonsense=1\n").unwrap();
    let o = e.run(&["reload"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains(&format!("{}:2:", e.cfg.display())),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(e.pid(), Some(pid));
    let o = e.run(&["status"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        weight(&text(&o.stdout), "127.0.0.4:8080"),
        Some((3, "Masq"))
    );

    let o = e.run(&["stop"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!ldirectord::pidfile::process_exists(pid), "stop waits");
    assert!(!e.pid_file().exists());
    let log = e.log();
    assert!(
        log.contains("Purged virtual server (stop): 127.0.0.100:80"),
        "{log}"
    );
    assert!(log.contains("Linux Director Daemon terminated on signal: TERM"));
    assert!(log.contains("Reloading Linux Director Daemon config on signal"));

    let o = e.run(&["status"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(text(&o.stdout), stopped);
    assert_eq!(e.run(&["reload"]).status.code(), Some(1));
    assert_eq!(e.run(&["stop"]).status.code(), Some(0));
}

#[test]
fn bad_config_on_start_exits_2_with_file_and_line_and_no_pid_file() {
    let e = Env::new(
        "checkinterval=1\n\nvirtual=127.0.0.100:80\n\treal=127.0.0.2:8080 masq\n\tcheckype=on\n",
    );
    let o = e.run(&["start"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains(&format!("{}:5:", e.cfg.display())),
        "{}",
        text(&o.stderr)
    );
    assert!(!e.pid_file().exists());
    assert!(!e.rundir().join("ldirectord.lddcli.cf.sock").exists());
}

#[test]
fn debug_mode_stays_in_the_foreground_and_stops_on_term() {
    let e = Env::new(ON);
    let child = e
        .cmd()
        .args(["-d", "--ipvs", "none"])
        .arg(&e.cfg)
        .arg("start")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    e.status_until("running in the foreground", |s| {
        s.contains(&format!("running with pid: {pid}")) && weight(s, "127.0.0.2:8080").is_some()
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("Starting Linux Director v1.186-ha with pid:"),
        "{err}"
    );
    assert!(
        err.contains("Purged virtual server (stop): 127.0.0.100:80"),
        "{err}"
    );
    assert!(!e.pid_file().exists());
    assert!(e.log().is_empty(), "-d logs to stderr only");
}

#[test]
fn stale_pid_file() {
    let e = Env::new(ON);
    std::fs::create_dir_all(e.rundir()).unwrap();
    std::fs::write(e.pid_file(), "1\n").unwrap();
    let o = e.run(&["status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains(&format!(
        "ldirectord stale pid file {} for {}",
        e.pid_file().display(),
        e.cfg.display()
    )));
    assert!(text(&o.stdout).contains("is stopped for"));
    assert_eq!(e.run(&["stop"]).status.code(), Some(0));
    assert_eq!(e.run(&["status"]).status.code(), Some(3));
}

#[test]
fn usage_version_check_and_lookup() {
    let e = Env::new(ON);
    let o = e.cmd().args(["frobnicate"]).output().unwrap();
    assert_eq!(o.status.code(), Some(255));
    let o = e.cmd().arg("-v").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).starts_with("Linux Director v1.186-ha"));
    let o = e.cmd().arg("-t").arg(&e.cfg).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = e
        .cmd()
        .args(["lddcli-missing.cf", "status"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stderr), "Config file lddcli-missing.cf not found\n");
    // a bare name is looked up (here: relative to the cwd) and resolved
    let o = e.cmd().args(["lddcli.cf", "status"]).output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        text(&o.stdout),
        format!("ldirectord is stopped for {}\n", e.cfg.display())
    );
    std::fs::write(&e.cfg, "checkinterval=1\n quiescent=yes\n").unwrap();
    let o = e.cmd().arg("-t").arg(&e.cfg).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains(&format!("{}:2:", e.cfg.display())));
}

#[test]
fn heartbeat_resource_start_is_idempotent_and_status_says_running_on_stdout() {
    let e = Env::new(ON);
    // heartbeat runs `ldirectord <cfg> start` and reads its output until
    // every writer is gone: the daemon must not keep an inherited copy of
    // the pipe (here on fd 3 as well as stdout).
    let mut child = e
        .cmd_of("/bin/sh")
        .arg("-c")
        .arg("exec 3>&1; exec \"$0\" --ipvs none \"$1\" start")
        .arg(BIN)
        .arg(&e.cfg)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut sink);
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(20)).is_ok(),
        "start's output pipe never closed"
    );
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let o = e.run(&["status"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).contains("running"));
    assert!(!text(&o.stdout).contains("Not running"));
    assert_eq!(e.run(&["start"]).status.code(), Some(0));
    let pid = e.pid().unwrap();
    let o = e.run(&["restart"]);
    assert_eq!(o.status.code(), Some(0));
    let new = e.pid().unwrap();
    assert_ne!(new, pid);
    assert!(!ldirectord::pidfile::process_exists(pid));
    assert_eq!(e.run(&["stop"]).status.code(), Some(0));
    let o = e.run(&["status"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o.stdout).contains("stopped"));
}

#[test]
fn ocf_agent_actions() {
    let e = Env::new(ON);
    let ocf = |action: &str| {
        e.cmd()
            .env("OCF_ROOT", "/usr/lib/ocf")
            .env("OCF_RESKEY_configfile", &e.cfg)
            .env("OCF_RESKEY_ipvs", "none")
            .arg(action)
            .output()
            .unwrap()
    };
    let o = ocf("meta-data");
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).contains("<resource-agent name=\"ldirectord\""));
    assert_eq!(ocf("monitor").status.code(), Some(7));
    assert_eq!(ocf("validate-all").status.code(), Some(0));
    assert_eq!(ocf("start").status.code(), Some(0));
    assert_eq!(ocf("monitor").status.code(), Some(0));
    assert_eq!(ocf("stop").status.code(), Some(0));
    assert_eq!(ocf("monitor").status.code(), Some(7));
    std::fs::write(&e.cfg, "bogus\n").unwrap();
    assert_eq!(ocf("validate-all").status.code(), Some(6));
    assert_eq!(ocf("start").status.code(), Some(6));
}

#[test]
fn metrics_over_http() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = Env::new(ON);
    let addr = format!("127.0.0.1:{port}");
    let o = e
        .cmd()
        .args(["--ipvs", "none", "--metrics-listen", &addr])
        .arg(&e.cfg)
        .arg("start")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    e.status_until("reals", |s| weight(s, "127.0.0.3:8080").is_some());
    let body = http_get(addr.parse().unwrap(), "/metrics");
    assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
    assert!(
        body.contains(
            "ldirectord_real_weight{virtual=\"tcp:127.0.0.100:80\",real=\"127.0.0.3:8080\"} 2\n"
        ),
        "{body}"
    );
    assert!(http_get(addr.parse().unwrap(), "/nope").starts_with("HTTP/1.1 404"));
    let o = e.run(&["metrics"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).contains("ldirectord_real_up{"));
    assert_eq!(e.run(&["stop"]).status.code(), Some(0));
}

/// Weight and forwarding of `dest` in an `ipvsadm -Ln` listing.
fn weight<'a>(listing: &'a str, dest: &str) -> Option<(u32, &'a str)> {
    listing.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next()? == "->" && w.next()? == dest).then_some(())?;
        let fwd = w.next()?;
        Some((w.next()?.parse().ok()?, fwd))
    })
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A TCP server on a loopback address; connect checks see it while it
/// listens (the backlog answers, nothing needs to accept).
fn listen(ip: &str) -> (TcpListener, u16) {
    let l = TcpListener::bind((ip, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[test]
fn connect_checks_drive_the_table() {
    let (a, pa) = listen("127.0.0.2");
    let (b, pb) = listen("127.0.0.3");
    let cf = format!(
        "checktimeout=1
checkinterval=1
logfile=\"@DIR@/ld.log\"
quiescent=yes
fallback=127.0.0.1:80

virtual=127.0.0.100:80
\treal=127.0.0.2:{pa} masq
\treal=127.0.0.3:{pb} masq 2
\tchecktype=connect
"
    );
    let e = Env::new(&cf);
    assert_eq!(e.run(&["start"]).status.code(), Some(0));
    let ra = format!("127.0.0.2:{pa}");
    let rb = format!("127.0.0.3:{pb}");
    let fb = "127.0.0.1:80";
    e.status_until("both up", |s| {
        weight(s, &ra) == Some((1, "Masq")) && weight(s, &rb) == Some((2, "Masq"))
    });
    drop(a);
    e.status_until("a quiesced", |s| weight(s, &ra) == Some((0, "Masq")));
    drop(b);
    e.status_until("fallback", |s| {
        weight(s, &rb) == Some((0, "Masq")) && weight(s, fb) == Some((1, "Route"))
    });
    let _a = TcpListener::bind(("127.0.0.2", pa)).unwrap();
    e.status_until("a restored, fallback out", |s| {
        weight(s, &ra) == Some((1, "Masq")) && weight(s, fb).is_none()
    });
    assert!(e.log().contains("Check failed: real server=127.0.0.2:"));
    assert_eq!(e.run(&["stop"]).status.code(), Some(0));
}

/// `status -c` lists the userspace forwarder's connections like
/// `ipvsadm -Lcn`, through the daemon's control socket.
#[test]
fn status_connections_with_the_userspace_forwarder() {
    // A real server that accepts and holds its connections.
    let real = TcpListener::bind("127.0.0.1:0").unwrap();
    let real_addr = real.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((s, _)) = real.accept() {
            held.push(s);
        }
    });
    let vip_port = TcpListener::bind("127.0.91.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let vip: SocketAddr = format!("127.0.91.1:{vip_port}").parse().unwrap();
    let e = Env::new(&format!(
        "checkinterval=1\nlogfile=\"@DIR@/ld.log\"\n\nvirtual={vip}\n\treal={real_addr} masq\n\tchecktype=on\n\tscheduler=rr\n"
    ));
    let o = e
        .cmd()
        .args(["--ipvs", "userspace"])
        .arg(&e.cfg)
        .arg("start")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    e.status_until("the real", |s| s.contains(&format!("  -> {real_addr}")));
    let client = std::net::TcpStream::connect(vip).unwrap();
    let from = client.local_addr().unwrap();
    let line_start = "TCP 15:00  ESTABLISHED ".to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        let o = e.run(&["status", "-c", "-n"]);
        assert_eq!(o.status.code(), Some(0));
        let out = text(&o.stdout);
        // The expiry may have ticked to 14:59 between connect and read.
        if out.lines().any(|l| {
            (l.starts_with(&line_start) || l.starts_with("TCP 14:59  ESTABLISHED "))
                && l.ends_with(&format!("{from:<18} {vip:<18} {real_addr}"))
        }) {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "no ESTABLISHED entry for {from}:\n{out}\nlog:\n{}",
            e.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut lines = out.lines().skip(1);
    assert_eq!(lines.next(), Some("IPVS connection entries"));
    assert_eq!(
        lines.next(),
        Some("pro expire state       source             virtual            destination")
    );
    let long = e.run(&["status", "--connections"]);
    assert!(text(&long.stdout).contains("IPVS connection entries"));
    drop(client);
    assert_eq!(e.run(&["stop"]).status.code(), Some(0));
}
