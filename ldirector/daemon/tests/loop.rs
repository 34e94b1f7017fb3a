//! The daemon loop through the library: a [`MemoryBackend`] shared with the
//! test and a probe whose answers the test sets, so every transition is
//! driven and observed without touching the network.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ld_checks::CheckResult;
use ldirector::backend::memory::MemoryBackend;
use ldirector::backend::{ApplyError, Backend, BackendError, Snapshot};
use ldirector::config::VirtualAddr;
use ldirector::director::{AttemptKind, CheckSpec};
use ldirector::ipvs::{IpvsCommand, Table};
use ldirectord::control::Query;
use ldirectord::probe::{Probe, ProbeFuture};
use ldirectord::report::StatusReport;
use ldirectord::{Controller, RunOptions};
use tokio::sync::oneshot;

/// A memory table the test can look at while the daemon owns the backend.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<MemoryBackend>>);

impl Shared {
    fn table(&self) -> Table {
        self.0.lock().unwrap().table.clone()
    }
    fn log(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .log
            .iter()
            .map(IpvsCommand::to_string)
            .collect()
    }
}

impl Backend for Shared {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn apply(&mut self, cmds: &[IpvsCommand]) -> Result<(), ApplyError> {
        self.0.lock().unwrap().apply(cmds)
    }
    fn snapshot(&mut self) -> Result<Snapshot, BackendError> {
        self.0.lock().unwrap().snapshot()
    }
}

/// Reals in `up` answer their checks; every probe is counted.
#[derive(Clone, Default)]
struct Servers {
    up: Arc<Mutex<HashSet<SocketAddr>>>,
    /// Accept and never answer.
    hung: Arc<Mutex<HashSet<SocketAddr>>>,
    probes: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Servers {
    fn set(&self, addr: &str, up: bool) {
        let a: SocketAddr = addr.parse().unwrap();
        let mut s = self.up.lock().unwrap();
        if up {
            s.insert(a);
        } else {
            s.remove(&a);
        }
    }
}

impl Probe for Servers {
    fn probe(&self, spec: Arc<CheckSpec>, _kind: AttemptKind) -> ProbeFuture {
        let target = spec.target();
        let up = target.is_some_and(|t| self.up.lock().unwrap().contains(&t));
        if target.is_some_and(|t| self.hung.lock().unwrap().contains(&t)) {
            return Box::pin(std::future::pending());
        }
        if let Some(t) = target {
            self.probes.lock().unwrap().push(t);
        }
        Box::pin(async move {
            if up {
                CheckResult::up()
            } else {
                CheckResult::down("connection refused")
            }
        })
    }
}

struct Running {
    shared: Shared,
    servers: Servers,
    ctl: Controller,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

const VIP: &str = "127.0.0.100:80";

fn vip() -> VirtualAddr {
    VirtualAddr::Inet {
        protocol: ldirector::config::Protocol::Tcp,
        addr: VIP.parse().unwrap(),
    }
}

fn weight(t: &Table, dest: &str) -> Option<u32> {
    t.dest(&vip(), &dest.parse().unwrap()).map(|p| p.weight)
}

async fn start(cf: &str, up: &[&str]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let cf = cf.replace("@DIR@", &dir.path().display().to_string());
    let path = dir.path().join("lddloop.cf");
    std::fs::write(&path, cf).unwrap();
    let config = ldirectord::load::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let shared = Shared::default();
    let servers = Servers::default();
    for a in up {
        servers.set(a, true);
    }
    let opts = RunOptions::new(
        path.clone(),
        Box::new(shared.clone()),
        Arc::new(servers.clone()),
    );
    let ctl = opts.controller();
    let (stop, stopped) = oneshot::channel::<()>();
    let (ready_tx, ready_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(ldirectord::run(
        config,
        opts,
        async move {
            let _ = stopped.await;
        },
        move || {
            let _ = ready_tx.send(());
        },
    ));
    ready_rx.await.expect("daemon ready");
    Running {
        shared,
        servers,
        ctl,
        stop: Some(stop),
        task,
        path,
        _dir: dir,
    }
}

impl Running {
    async fn stop(mut self) -> Shared {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.unwrap().unwrap();
        self.shared.clone()
    }

    async fn report(&self) -> StatusReport {
        let text = self.ctl.query(Query::Json).await.expect("daemon answers");
        serde_json::from_str(&text).unwrap()
    }

    /// Poll the table until `cond` holds (10 s deadline).
    async fn until(&self, what: &str, cond: impl Fn(&Table) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let t = self.shared.table();
            if cond(&t) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; table:\n{}\nlog: {:#?}",
                t.listing(),
                self.shared.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

const QUIESCENT: &str = "checktimeout=1
checkinterval=1
quiescent=yes
fallback=127.0.0.1:80
fallbackcommand=echo >>@DIR@/fallback.log

virtual=127.0.0.100:80
\treal=127.0.0.2:8080 masq
\treal=127.0.0.3:8080 masq 2
\tchecktype=connect
\tscheduler=wrr
";

#[tokio::test]
async fn reals_follow_checks_with_quiescent_and_fallback() {
    let d = start(QUIESCENT, &["127.0.0.2:8080", "127.0.0.3:8080"]).await;
    d.until("both reals at full weight", |t| {
        weight(t, "127.0.0.2:8080") == Some(1) && weight(t, "127.0.0.3:8080") == Some(2)
    })
    .await;
    // No start-up flap: each real was added once, at its weight, and the
    // fallback never went in while checks were pending.
    let log = d.shared.log();
    assert_eq!(
        log.iter().filter(|c| c.contains("127.0.0.2:8080")).count(),
        1,
        "{log:#?}"
    );
    assert!(!log.iter().any(|c| c.contains("127.0.0.1:80")), "{log:#?}");

    d.servers.set("127.0.0.2:8080", false);
    d.until("127.0.0.2 quiesced", |t| {
        weight(t, "127.0.0.2:8080") == Some(0)
    })
    .await;
    let r = d.report().await;
    let real = &r.virtuals[0].reals[0];
    assert_eq!(real.state, "down");
    assert_eq!(real.last_result.as_deref(), Some("connection refused"));
    assert_eq!(real.transitions, 2);

    d.servers.set("127.0.0.3:8080", false);
    d.until("fallback in", |t| {
        weight(t, "127.0.0.3:8080") == Some(0) && weight(t, "127.0.0.1:80") == Some(1)
    })
    .await;
    d.servers.set("127.0.0.2:8080", true);
    d.servers.set("127.0.0.3:8080", true);
    d.until("restored, fallback out", |t| {
        weight(t, "127.0.0.2:8080") == Some(1)
            && weight(t, "127.0.0.3:8080") == Some(2)
            && weight(t, "127.0.0.1:80").is_none()
    })
    .await;
    let fb = d.path.with_file_name("fallback.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&fb).unwrap_or_default();
        // `stop` once the first real is up at start, then start/stop for the
        // all-down period.
        if text == "stop 127.0.0.100:80 tcp\nstart 127.0.0.100:80 tcp\nstop 127.0.0.100:80 tcp\n" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fallback.log: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = d.ctl.query(Query::Metrics).await.unwrap();
    assert!(
        metrics.contains(
            "ldirectord_real_weight{virtual=\"tcp:127.0.0.100:80\",real=\"127.0.0.3:8080\"} 2\n"
        ),
        "{metrics}"
    );
    let shared = d.stop().await;
    assert_eq!(
        shared.table(),
        Table::default(),
        "cleanstop empties the table"
    );
}

#[tokio::test]
async fn a_hung_server_times_out_and_reports_it() {
    let d = start(QUIESCENT, &["127.0.0.2:8080", "127.0.0.3:8080"]).await;
    d.until("up", |t| {
        weight(t, "127.0.0.2:8080") == Some(1) && weight(t, "127.0.0.3:8080") == Some(2)
    })
    .await;
    d.servers
        .hung
        .lock()
        .unwrap()
        .insert("127.0.0.2:8080".parse().unwrap());
    d.servers.set("127.0.0.3:8080", false);
    // Both change: the hung check does not hold up .3's.
    d.until(".3 quiesced", |t| weight(t, "127.0.0.3:8080") == Some(0))
        .await;
    d.until(".2 timed out", |t| weight(t, "127.0.0.2:8080") == Some(0))
        .await;
    let r = d.report().await;
    assert_eq!(
        r.virtuals[0].reals[0].last_result.as_deref(),
        Some("timeout")
    );
    let secs = r.virtuals[0].reals[0].last_check_seconds.unwrap();
    assert!(secs >= 0.9, "timeout after checktimeout, took {secs}");
    d.stop().await;
}

#[tokio::test]
async fn without_quiescent_a_failed_real_is_deleted_and_readded() {
    let cf = QUIESCENT.replace("quiescent=yes\n", "");
    let d = start(&cf, &["127.0.0.2:8080", "127.0.0.3:8080"]).await;
    d.until("up", |t| weight(t, "127.0.0.2:8080") == Some(1))
        .await;
    d.servers.set("127.0.0.2:8080", false);
    d.until("deleted", |t| {
        weight(t, "127.0.0.2:8080").is_none() && weight(t, "127.0.0.3:8080") == Some(2)
    })
    .await;
    d.servers.set("127.0.0.2:8080", true);
    d.until("re-added", |t| weight(t, "127.0.0.2:8080") == Some(1))
        .await;
    d.stop().await;
}

#[tokio::test]
async fn reload_applies_only_the_difference_and_keeps_check_state() {
    let d = start(
        QUIESCENT,
        &["127.0.0.2:8080", "127.0.0.3:8080", "127.0.0.4:8080"],
    )
    .await;
    d.until("up", |t| {
        weight(t, "127.0.0.2:8080") == Some(1) && weight(t, "127.0.0.3:8080") == Some(2)
    })
    .await;
    let before = d.shared.log().len();
    let edited = QUIESCENT
        .replace("real=127.0.0.3:8080 masq 2", "real=127.0.0.3:8080 masq 5")
        .replace(
            "\tchecktype=connect\n",
            "\treal=127.0.0.4:8080 masq\n\tchecktype=connect\n",
        );
    std::fs::write(&d.path, edited).unwrap();
    assert_eq!(d.ctl.query(Query::Reload).await.as_deref(), Some("ok\n"));
    d.until("new weight and new real", |t| {
        weight(t, "127.0.0.3:8080") == Some(5) && weight(t, "127.0.0.4:8080") == Some(1)
    })
    .await;
    let after: Vec<String> = d.shared.log().split_off(before);
    assert_eq!(
        after,
        [
            "-e -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.3:8080 -m -w 5",
            "-a -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.4:8080 -m -w 1",
        ],
        "only the difference, no -E and no flap"
    );

    // A broken file keeps the running configuration.
    std::fs::write(&d.path, QUIESCENT.replace("scheduler=wrr", "schedulr=wrr")).unwrap();
    let answer = d.ctl.query(Query::Reload).await.unwrap();
    let line = QUIESCENT
        .lines()
        .position(|l| l.contains("scheduler"))
        .unwrap()
        + 1;
    assert!(
        answer.contains(&format!("{}:{line}:", d.path.display())),
        "{answer}"
    );
    let t = d.shared.table();
    assert_eq!(weight(&t, "127.0.0.4:8080"), Some(1));
    d.servers.set("127.0.0.4:8080", false);
    d.until("old config still checks", |t| {
        weight(t, "127.0.0.4:8080") == Some(0)
    })
    .await;
    d.stop().await;
}

#[tokio::test]
async fn autoreload_picks_up_an_edited_file_and_runs_the_callback() {
    let cf = QUIESCENT.replace(
        "checkinterval=1\n",
        "checkinterval=1\nautoreload=yes\ncallback=\"@DIR@/cb.sh\"\n",
    );
    let d = start(&cf, &["127.0.0.2:8080", "127.0.0.3:8080"]).await;
    let cb = d.path.with_file_name("cb.sh");
    let out = d.path.with_file_name("cb.out");
    std::fs::write(
        &cb,
        format!("#!/bin/sh\necho \"$1\" >> '{}'\n", out.display()),
    )
    .unwrap();
    std::fs::set_permissions(&cb, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    d.until("up", |t| weight(t, "127.0.0.3:8080") == Some(2))
        .await;
    let text = std::fs::read_to_string(&d.path).unwrap();
    std::fs::write(&d.path, text.replace("masq 2", "masq 7")).unwrap();
    d.until("reloaded", |t| weight(t, "127.0.0.3:8080") == Some(7))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = std::fs::read_to_string(&out).unwrap_or_default();
        if got == format!("{}\n", d.path.display()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "callback output {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.stop().await;
}

#[tokio::test]
async fn an_oversized_config_file_is_refused_and_the_running_one_kept() {
    let cf = QUIESCENT.replace("checkinterval=1\n", "checkinterval=1\nautoreload=yes\n");
    let d = start(&cf, &["127.0.0.2:8080", "127.0.0.3:8080"]).await;
    d.until("up", |t| weight(t, "127.0.0.3:8080") == Some(2))
        .await;
    let text = std::fs::read_to_string(&d.path).unwrap();
    // An edit that makes the file too large: autoreload must not take it.
    std::fs::write(&d.path, text.replace("masq 2", "masq 7")).unwrap();
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(&d.path)
        .unwrap();
    f.set_len(ldirectord::load::MAX_CONFIG_BYTES + 1).unwrap();
    drop(f);
    let answer = d.ctl.query(Query::Reload).await.expect("daemon answers");
    assert!(
        answer.starts_with(&format!("{}: larger than", d.path.display())),
        "{answer}"
    );
    assert_eq!(weight(&d.shared.table(), "127.0.0.3:8080"), Some(2));
    d.servers.set("127.0.0.2:8080", false);
    d.until("the running config still acts", |t| {
        weight(t, "127.0.0.2:8080") == Some(0)
    })
    .await;
    assert_eq!(weight(&d.shared.table(), "127.0.0.3:8080"), Some(2));
    std::fs::write(&d.path, text.replace("masq 2", "masq 5")).unwrap();
    d.until("a sane edit is taken", |t| {
        weight(t, "127.0.0.3:8080") == Some(5)
    })
    .await;
    d.stop().await;
}

#[tokio::test]
async fn maintenance_file_drains_a_real() {
    let cf = QUIESCENT.replace(
        "checkinterval=1\n",
        "checkinterval=1\nmaintenancedir=@DIR@/maint\n",
    );
    let d = start(&cf, &["127.0.0.2:8080", "127.0.0.3:8080"]).await;
    let maint = d.path.with_file_name("maint");
    std::fs::create_dir_all(&maint).unwrap();
    d.until("up", |t| weight(t, "127.0.0.2:8080") == Some(1))
        .await;
    std::fs::write(maint.join("127.0.0.2:8080"), "").unwrap();
    d.until("drained", |t| weight(t, "127.0.0.2:8080") == Some(0))
        .await;
    std::fs::remove_file(maint.join("127.0.0.2:8080")).unwrap();
    d.until("back", |t| weight(t, "127.0.0.2:8080") == Some(1))
        .await;
    d.stop().await;
}

#[tokio::test]
async fn a_real_in_two_virtuals_is_checked_once_per_round() {
    let cf = "checktimeout=1
checkinterval=1

virtual=127.0.0.100:80
\treal=127.0.0.2:8080 masq
\tchecktype=connect

virtual=127.0.0.101:80
\treal=127.0.0.2:8080 masq
\tchecktype=connect
";
    let d = start(cf, &["127.0.0.2:8080"]).await;
    d.until("both virtuals", |t| {
        let v2 = VirtualAddr::Inet {
            protocol: ldirector::config::Protocol::Tcp,
            addr: "127.0.0.101:80".parse().unwrap(),
        };
        weight(t, "127.0.0.2:8080") == Some(1)
            && t.dest(&v2, &"127.0.0.2:8080".parse().unwrap()).is_some()
    })
    .await;
    let probes = d.servers.probes.lock().unwrap().len();
    assert_eq!(probes, 1, "one check serves both virtuals");
    d.stop().await;
}

#[test]
fn config_errors_carry_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p: &Path = &dir.path().join("bad.cf");
    std::fs::write(p, "checkinterval=1\nbogus=1\n").unwrap();
    let e = ldirectord::load::load(p).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!("{}:2:", p.display())),
        "{e}"
    );
}
