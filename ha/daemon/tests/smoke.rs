//! End-to-end smoke test: two of OUR daemons, each in its own network, UTS,
//! mount and PID namespace (private /etc/ha.d, /var/lib/heartbeat, /run and
//! /var/log bind-mounted from a temporary directory), joined by a veth pair.
//! They must see each other `active` through `cl_status`, the survivor must
//! declare a SIGKILLed peer dead after its deadtime, and `heartbeat -k` must
//! stop a node gracefully.
//!
//! Needs root, iproute2 and util-linux, and the mount points /etc/ha.d and
//! /var/lib/heartbeat (the heartbeat package's directories). Without them the
//! test prints why and passes, unless HA_E2E_REQUIRED=1, where it fails.
//! Namespaces are named `hbd<pid>…`; everything is removed on drop, also
//! when an assertion fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HEARTBEAT: &str = env!("CARGO_BIN_EXE_heartbeat");
const CL_STATUS: &str = env!("CARGO_BIN_EXE_cl_status");

const KEEPALIVE: Duration = Duration::from_millis(200);
const DEADTIME: Duration = Duration::from_secs(1);
/// A node advertises deadtime + 2 s for its first 5 s (heartbeat's
/// `hb_add_deadtime(2000)`), and the peer honours the advertised value.
const STARTUP_BUMP: Duration = Duration::from_secs(2);

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

fn prerequisites() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root (network and mount namespaces)".into());
    }
    for tool in [
        "ip", "unshare", "nsenter", "mount", "hostname", "sh", "sleep",
    ] {
        if !on_path(tool) {
            return Err(format!("{tool} not found on PATH"));
        }
    }
    for dir in ["/etc/ha.d", "/var/lib/heartbeat"] {
        if !Path::new(dir).is_dir() {
            return Err(format!(
                "{dir} does not exist (mount point for the per-node bind mount; install heartbeat's directories)"
            ));
        }
    }
    Ok(())
}

/// True if the test can run; false (after saying why) if it should skip.
fn ready_or_skip() -> bool {
    match prerequisites() {
        Ok(()) => true,
        Err(why) if std::env::var("HA_E2E_REQUIRED").as_deref() == Ok("1") => {
            panic!("HA_E2E_REQUIRED=1 but a prerequisite is missing: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn ip(args: &[&str]) -> Result<String, String> {
    run(Command::new("ip").args(args))
}

/// Two network namespaces joined by a veth pair; eth0 in each.
struct Net {
    ns: Vec<String>,
}

impl Net {
    fn new(prefix: &str) -> Result<Self, String> {
        let net = Net {
            ns: vec![format!("{prefix}n1"), format!("{prefix}n2")],
        };
        // From here on, Drop removes whatever got created.
        let (a, b) = (format!("{prefix}x"), format!("{prefix}y"));
        for ns in &net.ns {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b])?;
        for (veth, ns, addr) in [
            (&a, &net.ns[0], "192.0.2.11/24"),
            (&b, &net.ns[1], "192.0.2.12/24"),
        ] {
            ip(&["link", "set", veth, "netns", ns])?;
            ip(&["-n", ns, "link", "set", veth, "name", "eth0"])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                addr,
                "brd",
                "192.0.2.255",
                "dev",
                "eth0",
            ])?;
            ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        }
        Ok(net)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace also deletes the veth end inside it.
        for ns in &self.ns {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

const HA_CF: &str = "logfile /var/log/ha-log
debugfile /var/log/ha-debug
logfacility none
keepalive 200ms
deadtime 1
warntime 500ms
initdead 2
udpport 694
bcast eth0
auto_failback on
node node1
node node2
";

/// One node: `unshare` (killing it kills the node's whole PID namespace)
/// around `sh` as PID 1, which mounts the node's directories and runs
/// `heartbeat -f`, then stays so the namespace outlives a graceful stop.
struct Node {
    name: String,
    dir: tempfile::TempDir,
    unshare: Option<Child>,
}

impl Node {
    fn start(name: &str, netns: &str) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("hbd-{name}-"))
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path();
        for sub in ["etc", "varlib", "run", "log"] {
            std::fs::create_dir(d.join(sub)).map_err(|e| e.to_string())?;
        }
        std::fs::write(d.join("etc/ha.cf"), HA_CF).map_err(|e| e.to_string())?;
        std::fs::write(d.join("etc/haresources"), "").map_err(|e| e.to_string())?;
        let authkeys = d.join("etc/authkeys");
        std::fs::write(&authkeys, "auth 2\n2 sha1 smoke-test-key\n").map_err(|e| e.to_string())?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&authkeys, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| e.to_string())?;
        }
        let q = |p: PathBuf| format!("'{}'", p.display());
        let script = format!(
            "set -e; hostname {name}; \
             mount --bind {etc} /etc/ha.d; mount --bind {varlib} /var/lib/heartbeat; \
             mount --bind {run} /run; mount --bind {log} /var/log; set +e; \
             '{HEARTBEAT}' -f; echo \"heartbeat exited rc=$?\"; exec sleep infinity",
            etc = q(d.join("etc")),
            varlib = q(d.join("varlib")),
            run = q(d.join("run")),
            log = q(d.join("log")),
        );
        let out = std::fs::File::create(d.join("console")).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new("ip")
            .args([
                "netns", "exec", netns, "unshare", "--uts", "--mount", "--pid", "--fork",
            ])
            .args([
                "--kill-child=SIGKILL",
                "--mount-proc",
                "--propagation",
                "private",
            ])
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("spawn unshare: {e}"))?;
        Ok(Node {
            name: name.to_owned(),
            dir,
            unshare: Some(child),
        })
    }

    /// Host pid of the node's PID 1 (the `sh`), an anchor for nsenter.
    fn init_pid(&self) -> Option<u32> {
        let u = self.unshare.as_ref()?.id();
        // `ip netns exec` execs unshare, which forks PID 1.
        let children = std::fs::read_to_string(format!("/proc/{u}/task/{u}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    /// Run a command inside the node; (stdout, exit code).
    fn exec(&self, program: &str, args: &[&str]) -> (String, i32) {
        let Some(pid) = self.init_pid() else {
            return (String::new(), -1);
        };
        let out = Command::new("nsenter")
            .args([
                "--target",
                &pid.to_string(),
                "--net",
                "--uts",
                "--mount",
                "--pid",
                "--",
            ])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output();
        match out {
            Ok(o) => (
                String::from_utf8_lossy(&o.stdout).into_owned(),
                o.status.code().unwrap_or(-1),
            ),
            Err(_) => (String::new(), -1),
        }
    }

    fn cl_status(&self, args: &[&str]) -> (String, i32) {
        self.exec(CL_STATUS, args)
    }

    fn node_status(&self, node: &str) -> String {
        self.cl_status(&["nodestatus", node]).0.trim().to_owned()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/ha-log")).unwrap_or_default()
    }

    /// Power off: SIGKILL the whole PID namespace.
    fn crash(&mut self) {
        if let Some(mut c) = self.unshare.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.crash();
        if std::thread::panicking() {
            for f in ["console", "log/ha-debug"] {
                let text = std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
                eprintln!("===== {} {f} =====\n{text}", self.name);
            }
        }
    }
}

/// Poll `cond` every 50 ms until it holds or `limit` passes.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    loop {
        if cond() {
            return Some(t0.elapsed());
        }
        if t0.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_daemons_see_each_other_then_detect_a_crash_and_stop_gracefully() {
    if !ready_or_skip() {
        return;
    }
    let prefix = format!("hbd{}", std::process::id());
    let net = Net::new(&prefix).unwrap_or_else(|e| panic!("network setup: {e}"));
    let node1 = Node::start("node1", &net.ns[0]).unwrap_or_else(|e| panic!("node1: {e}"));
    let mut node2 = Node::start("node2", &net.ns[1]).unwrap_or_else(|e| panic!("node2: {e}"));

    let both_active = wait_until(Duration::from_secs(20), || {
        node1.node_status("node2") == "active" && node2.node_status("node1") == "active"
    });
    assert!(
        both_active.is_some(),
        "nodes did not see each other active within 20 s (node1 sees node2 {:?}, node2 sees node1 {:?})",
        node1.node_status("node2"),
        node2.node_status("node1")
    );

    assert_eq!(
        node1.cl_status(&["hbstatus"]),
        ("Heartbeat is running on this machine.\n".to_owned(), 0)
    );
    assert_eq!(
        node1.cl_status(&["listnodes"]),
        ("node2\nnode1\n".to_owned(), 0)
    );
    assert_eq!(
        node1.cl_status(&["hblinkstatus", "node2", "eth0"]),
        ("up\n".to_owned(), 0)
    );
    assert_eq!(
        node2.cl_status(&["nodestatus", "node2"]),
        ("active\n".to_owned(), 0)
    );
    assert_eq!(
        node1.cl_status(&["hbparameter", "-p", "keepalive"]),
        ("200ms\n".to_owned(), 0)
    );
    let log1 = node1.log();
    for line in [
        "info: Configuration validated. Starting heartbeat 3.0.6",
        "info: Link node2:eth0 up.",
        "info: Status update for node node2: status active",
    ] {
        assert!(log1.contains(line), "node1 ha-log lacks {line:?}:\n{log1}");
    }

    // Power off node2; node1 must declare it dead after its deadtime, not
    // before (the last heartbeat may be up to one keepalive older than the
    // crash) and not much after.
    let crashed = Instant::now();
    node2.crash();
    let limit = DEADTIME + STARTUP_BUMP + Duration::from_secs(1);
    let seen = wait_until(limit, || node1.node_status("node2") == "dead");
    let elapsed = crashed.elapsed();
    assert!(
        seen.is_some(),
        "node1 still sees node2 {:?} {elapsed:?} after the crash (limit {limit:?})",
        node1.node_status("node2")
    );
    eprintln!("node2 declared dead {elapsed:?} after SIGKILL (deadtime {DEADTIME:?})");
    assert!(
        elapsed + KEEPALIVE + Duration::from_millis(100) >= DEADTIME,
        "declared dead after {elapsed:?}, before the deadtime {DEADTIME:?}"
    );
    assert_eq!(
        node1.cl_status(&["hblinkstatus", "node2", "eth0"]),
        ("dead\n".to_owned(), 1)
    );
    let log1 = node1.log();
    assert!(log1.contains("WARN: node node2: is dead"), "{log1}");
    assert!(log1.contains("info: Link node2:eth0 dead."), "{log1}");

    // Graceful stop through the CLI, as the init script does it.
    let (_, rc) = node1.exec(HEARTBEAT, &["-k"]);
    assert_eq!(rc, 0, "heartbeat -k failed");
    assert!(
        node1
            .log()
            .contains("info: node1 Heartbeat shutdown complete."),
        "{}",
        node1.log()
    );
    assert_eq!(
        node1.cl_status(&["hbstatus"]),
        ("Heartbeat is stopped on this machine.\n".to_owned(), 1)
    );
    assert!(
        !node1.dir.path().join("run/heartbeat.pid").exists(),
        "pid file left behind"
    );
    drop(node1);
    drop(node2);
    drop(net);
}
