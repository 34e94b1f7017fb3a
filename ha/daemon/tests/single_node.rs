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

fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

fn loaded(port: u16) -> hb_config::Loaded {
    // ucast to ourselves: a medium that sends nothing, so the test puts no
    // packet anywhere, yet the node runs its full life cycle.
    let text = format!(
        "keepalive 100ms\ndeadtime 1\ninitdead 1\nudpport {port}\nucast lo 127.0.0.1\nnode node1\nnode node2\n"
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
