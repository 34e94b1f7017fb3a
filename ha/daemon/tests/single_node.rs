//! `heartbeat::daemon::run` in-process, one node, on the loopback interface
//! with all paths in a temporary directory: state files are written before
//! anything else, the control socket appears only at Comm_now_up (here:
//! initdead expiry, the peer never comes), FIFO messages are accepted, and a
//! requested shutdown completes.

use std::path::Path;
use std::time::{Duration, Instant};

use heartbeat::control::{self, Request, Response};
use heartbeat::daemon::{self, RunConfig};
use heartbeat::paths::DaemonPaths;

/// A failed stop must never reboot the machine running the tests.
struct NoFence;

impl heartbeat::fence::Fencer for NoFence {
    fn fence_local(&mut self, reason: &str) -> heartbeat::fence::AfterFence {
        panic!("unexpected self-fence: {reason}");
    }
}

fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

fn loaded(port: u16) -> hb_config::Loaded {
    loaded_with(port, "")
}

fn loaded_with(port: u16, extra: &str) -> hb_config::Loaded {
    // ucast to ourselves: a medium that sends nothing, so the test puts no
    // packet anywhere, yet the node runs its full life cycle.
    let text = format!(
        "keepalive 100ms\ndeadtime 1\ninitdead 1\nudpport {port}\nucast lo 127.0.0.1\n{extra}node node1\nnode node2\n"
    );
    let hacf = hb_config::parse_ha_cf(Path::new("ha.cf"), &text).unwrap();
    hb_config::Loaded {
        hacf,
        authkeys: hb_wire::AuthKeys::single(1, hb_wire::AuthMethod::Sha1 { key: b"k".to_vec() }),
        authkeys_warnings: vec![],
        haresources: Default::default(),
        local_node: "node1".to_owned(),
        warnings: vec![],
    }
}

fn snapshot(path: &Path) -> Option<control::Snapshot> {
    match control::query(path, &Request::Snapshot, Duration::from_secs(2)) {
        Ok(Response::Snapshot(s)) => Some(s),
        _ => None,
    }
}

#[test]
fn one_node_lives_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let paths = DaemonPaths::with_roots(&root.join("etc"), &root.join("run"), &root.join("varlib"));
    let sock = paths.control_socket.clone();
    let fifo = paths.fifo.clone();
    let generation = paths.hb_generation.clone();
    let uuid = paths.hb_uuid.clone();

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let cfg = RunConfig {
        paths,
        loaded: loaded(free_udp_port()),
        debug: 0,
        handle_signals: false,
        on_ready: Some(Box::new(move || {
            let _ = ready_tx.send(());
        })),
        fencer: Box::new(NoFence),
    };
    let daemon = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(daemon::run(cfg, async {
            let _ = stop_rx.await;
        }))
    });

    if ready_rx.recv_timeout(Duration::from_secs(10)).is_err() {
        let err = daemon.join().unwrap().err();
        let text = format!("{err:?}");
        // SO_BINDTODEVICE needs CAP_NET_RAW on older kernels.
        if text.contains("SO_BINDTODEVICE") && !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: {text}");
            return;
        }
        panic!("daemon did not get ready: {text}");
    }

    // Persisted before the first packet could go out.
    let g = std::fs::read_to_string(&generation).unwrap();
    assert_eq!(g.len(), 16, "{g:?}");
    assert!(g.trim().parse::<u64>().unwrap() > 1_000_000_000);
    assert_eq!(std::fs::read(&uuid).unwrap().len(), 16);
    {
        use std::os::unix::fs::FileTypeExt as _;
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    // No control socket before Comm_now_up; after initdead the node is
    // active and its never-seen peer dead.
    let up = {
        let t0 = Instant::now();
        loop {
            if let Some(s) = snapshot(&sock) {
                break Some((s, t0.elapsed()));
            }
            if t0.elapsed() > Duration::from_secs(10) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let (snap, after) = up.expect("control socket within 10 s");
    assert!(
        after >= Duration::from_millis(500),
        "comm up after {after:?}, before initdead"
    );
    let n1 = snap.node("node1").unwrap();
    let n2 = snap.node("node2").unwrap();
    assert_eq!(n1.status, "active");
    assert_eq!(n2.status, "dead");
    assert_eq!(snap.resources, "none");
    assert_eq!(
        control::query(
            &sock,
            &Request::Parameter {
                name: "keepalive".into()
            },
            Duration::from_secs(2)
        )
        .unwrap(),
        Response::Parameter {
            value: Some("100ms".into())
        }
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
            0o666
        );
    }

    // A script's message is taken (the FIFO has a reader).
    heartbeat::standby::send(&fifo, ">>>\nt=hb_takeover\nrsc_hold=all\n<<<\n").unwrap();

    stop_tx.send(()).unwrap();
    let t0 = Instant::now();
    let result = daemon.join().unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(!sock.exists(), "control socket left behind");
}

/// A lone node (its peer never appears) takes its group after initdead,
/// runs the script as ResourceManager would, reports `rscstatus all`, and a
/// graceful stop releases the group before the daemon exits.
#[test]
fn lone_node_takes_and_releases_its_group() {
    use std::os::unix::fs::PermissionsExt as _;
    // The daemon's log lines, shown when the test fails.
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let paths = DaemonPaths::with_roots(&root.join("etc"), &root.join("run"), &root.join("varlib"));
    let rd = root.join("etc/resource.d");
    std::fs::create_dir_all(&rd).unwrap();
    let calls = root.join("calls");
    let state = root.join("state");
    let script = format!(
        "#!/bin/sh\necho \"$* host=$HA_CURHOST\" >> {calls}\ncase \"$2\" in\n\
         start) touch {state};;\nstop) rm -f {state};;\n\
         status) if [ -e {state} ]; then echo running; else echo stopped; fi;;\nesac\nexit 0\n",
        calls = calls.display(),
        state = state.display()
    );
    std::fs::write(rd.join("hbtest"), script).unwrap();
    std::fs::set_permissions(rd.join("hbtest"), std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut loaded = loaded_with(free_udp_port(), "auto_failback on\n");
    loaded.haresources = hb_config::parse_haresources(
        Path::new("haresources"),
        "node1 hbtest::alpha\n",
        &loaded.hacf.nodes,
    )
    .unwrap();
    let sock = paths.control_socket.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let cfg = RunConfig {
        paths,
        loaded,
        debug: 0,
        handle_signals: false,
        on_ready: None,
        fencer: Box::new(NoFence),
    };
    let daemon = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(daemon::run(cfg, async {
            let _ = stop_rx.await;
        }))
    });
    let t0 = Instant::now();
    loop {
        if snapshot(&sock).is_some_and(|s| s.resources == "all") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "never held all; last {:?}",
            snapshot(&sock)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(state.exists(), "started");
    stop_tx.send(()).unwrap();
    let result = daemon.join().unwrap();
    assert_eq!(result.unwrap(), daemon::RunExit::Stopped);
    assert!(!state.exists(), "stopped before exit");
    let log = std::fs::read_to_string(&calls).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("alpha status host=node1"),
        "{log}"
    );
    assert!(lines.contains(&"alpha start host=node1"), "{log}");
    assert_eq!(
        lines.last().copied(),
        Some("alpha stop host=node1"),
        "{log}"
    );
}
