//! The init script really boots our heartbeat: `scripts/install.sh DESTDIR`
//! lays out the Debian paths, each node sees that tree's `/etc/init.d` and
//! `/usr/libexec/heartbeat` in its mount namespace, and the harness boots
//! it like a Debian node (`/etc/init.d/heartbeat start` as the node's first
//! command). Then `status`, `reload`, `restart` and `stop` as an operator
//! types them, with the installed `cl_status` answering in between.
//! The systemd unit is checked with `systemd-analyze verify` (systemd is not
//! PID 1 here, so it cannot be started for real).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use ha_tests::{wait_for, Auth, Cluster, ClusterSpec, HaCf, Kind, Needs, Node, Timing};

const INIT: &str = "/etc/init.d/heartbeat";
const POLL: Duration = Duration::from_millis(100);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The installed tree; removed on drop.
struct Installed(PathBuf);

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn install() -> Result<Installed> {
    let dest = Installed(std::env::temp_dir().join(format!("hbr{}-init", std::process::id())));
    let out = Command::new(repo().join("scripts/install.sh"))
        .arg(&dest.0)
        .env("BIN_DIR", ha_tests::env::ours_bin_dir())
        .output()?;
    ensure!(
        out.status.success(),
        "install.sh: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(dest)
}

fn init(n: &Node, verb: &str) -> Result<Output> {
    n.exec(&[INIT, verb], Duration::from_secs(90))
        .with_context(|| format!("{INIT} {verb} on {}", n.name()))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The installed cl_status, inside the node.
fn cl_status(dest: &Path, n: &Node, args: &[&str]) -> Result<String, String> {
    let bin = dest.join("usr/bin/cl_status").display().to_string();
    let mut all = vec![bin.as_str()];
    all.extend_from_slice(args);
    let out = n
        .exec(&all, Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(text(&out))
    }
}

fn both_active(dest: &Path, c: &Cluster) -> Result<()> {
    wait_for("both nodes active", Duration::from_secs(20), POLL, || {
        for n in c.nodes() {
            let peer = if n.name() == "node1" {
                "node2"
            } else {
                "node1"
            };
            let s = cl_status(dest, n, &["nodestatus", peer])?;
            if s != "active" {
                return Err(format!("{} sees {peer} {s}", n.name()));
            }
        }
        Ok(())
    })
    .map(drop)
}

/// The daemon's host pid; the pid file must name the same process (it
/// holds the pid inside the node's PID namespace).
fn daemon_pid(n: &Node) -> Result<i32> {
    let pids = n.daemon_pids();
    let [pid] = pids.as_slice() else {
        anyhow::bail!("heartbeat processes on {}: {pids:?}", n.name());
    };
    let in_file: i32 = std::fs::read_to_string(n.dir().join("run/heartbeat.pid"))?
        .trim()
        .parse()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let nspid = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|v| v.split_whitespace().last()?.parse::<i32>().ok());
    ensure!(
        nspid == Some(in_file),
        "pid file says {in_file}, the daemon is {nspid:?} in the node"
    );
    Ok(*pid)
}

#[test]
fn init_script_starts_reloads_restarts_and_stops_our_daemon() {
    let env = ha_tests::require!(Needs::Ours);
    let dest = install().unwrap();
    // Booted by the node harness as a Debian node is: `/etc/init.d/heartbeat
    // start`, here the installed script and daemon.
    let mut c = ClusterSpec::new(Auth::Sha1("HI!".into()), HaCf::with_timing(Timing::FAST))
        .node("node1", Kind::Real)
        .node("node2", Kind::Real)
        .bind_dir(&dest.0.join("etc/init.d"), "/etc/init.d")
        .bind_dir(
            &dest.0.join("usr/libexec/heartbeat"),
            "/usr/libexec/heartbeat",
        )
        .build(&env)
        .unwrap();
    if let Err(e) = run(&dest.0, &mut c) {
        for n in c.nodes() {
            n.dump_logs();
        }
        panic!("{e:#}");
    }
}

fn run(dest: &Path, c: &mut Cluster) -> Result<()> {
    c.start_all()?;
    both_active(dest, c)?;
    let n1 = c.node("node1");
    ensure!(
        n1.init_out()
            .contains("Starting High-Availability services: Done."),
        "init.out: {}",
        n1.init_out()
    );
    // It is our daemon, from the installed tree, detached and writing its
    // pid file.
    let pid = daemon_pid(n1)?;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))?;
    ensure!(
        exe.ends_with("usr/libexec/heartbeat/heartbeat"),
        "pid {pid} runs {}",
        exe.display()
    );
    ensure!(
        !n1.log_lines("rust heartbeat").is_empty(),
        "not our heartbeat"
    );

    let st = init(n1, "status")?;
    ensure!(st.status.success(), "status: {}", text(&st));
    ensure!(text(&st).contains("is running on node1"), "{}", text(&st));
    // `start` again is harmless.
    let again = init(n1, "start")?;
    ensure!(again.status.success(), "{}", text(&again));
    ensure!(text(&again).contains("already started"), "{}", text(&again));
    ensure!(daemon_pid(n1)? == pid, "start restarted a running daemon");

    // reload: SIGHUP, same process.
    let r = init(n1, "reload")?;
    ensure!(r.status.success(), "reload: {}", text(&r));
    wait_for(
        "the reload to be logged",
        Duration::from_secs(5),
        POLL,
        || {
            if n1.log_lines("Rereading configuration files").is_empty() {
                Err("not yet".into())
            } else {
                Ok(())
            }
        },
    )?;
    ensure!(daemon_pid(n1)? == pid, "reload replaced the daemon");

    // restart: a new daemon that rejoins.
    let r = init(n1, "restart")?;
    ensure!(r.status.success(), "restart: {}", text(&r));
    let new = daemon_pid(n1)?;
    ensure!(new != pid, "restart kept pid {pid}");
    both_active(dest, c)?;

    // stop: clean exit, status says stopped (LSB 3), the peer saw a
    // graceful leave, not a death.
    let s = init(n1, "stop")?;
    ensure!(s.status.success(), "stop: {}", text(&s));
    ensure!(n1.daemon_pids().is_empty(), "heartbeat left after stop");
    let st = init(n1, "status")?;
    ensure!(st.status.code() == Some(3), "status after stop: {st:?}");
    let n2 = c.node("node2");
    wait_for(
        "node2 to see node1 leave",
        Duration::from_secs(10),
        POLL,
        || {
            // cl_status exits non-zero for a dead node, printing `dead`.
            match cl_status(dest, n2, &["nodestatus", "node1"]) {
                Err(s) if s.trim() == "dead" => Ok(()),
                Ok(s) | Err(s) => Err(s),
            }
        },
    )?;
    ensure!(
        n2.log_lines("node node1: is dead").is_empty(),
        "node2 declared node1 dead instead of seeing it leave"
    );
    // stop again is harmless.
    let s = init(n1, "stop")?;
    ensure!(s.status.success(), "second stop: {}", text(&s));
    for n in c.nodes() {
        ensure!(
            !n.dir().join("log/reboot-stub.log").exists(),
            "{} tried to reboot",
            n.name()
        );
    }
    Ok(())
}

#[test]
fn systemd_unit_verifies() {
    let Ok(out) = Command::new("systemd-analyze")
        .arg("verify")
        .arg(repo().join("packaging/systemd/heartbeat.service"))
        .output()
    else {
        if std::env::var_os("HA_E2E_REQUIRED").is_some() {
            panic!("systemd-analyze missing (apt: systemd)");
        }
        println!("SKIP systemd_unit_verifies: systemd-analyze not installed");
        return;
    };
    // verify checks that ExecStart/ExecStop exist: on a host without
    // /usr/libexec/heartbeat/heartbeat that is the only complaint allowed.
    // It also lints whatever other units the host has; only ours counts.
    let all = text(&out);
    let ours: Vec<&str> = all
        .lines()
        .filter(|l| l.contains("heartbeat.service"))
        .collect();
    let fatal: Vec<&&str> = ours
        .iter()
        .filter(|l| !l.contains("/usr/libexec/heartbeat/heartbeat"))
        .collect();
    assert!(fatal.is_empty(), "systemd-analyze verify: {all}");
    assert!(
        out.status.success() || !ours.is_empty(),
        "systemd-analyze verify failed: {all}"
    );
}
