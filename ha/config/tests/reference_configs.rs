//! The configurations the real heartbeat 3.0.6 pair ran with (reference
//! anchor, `tests/data/reference/*`) must load, and must mean what they
//! meant to heartbeat.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use common::{data, read, rendered, ConfDir};
use hb_config::{load_all, AutoFailback, Medium, PingNode};
use hb_wire::AuthMethod;

fn load(name: &str, node: &str) -> hb_config::Loaded {
    let dir = ConfDir::with(
        name,
        &read(&format!("reference/{name}/ha.cf")),
        &read(&format!("reference/{name}/authkeys")),
        Some(&read(&format!("reference/{name}/haresources"))),
        node,
    );
    match load_all(&dir.paths()) {
        Ok(l) => l,
        Err(e) => panic!("{name}: {e}"),
    }
}

#[test]
fn anchor_configs_load_on_both_nodes() {
    for name in [
        "crc",
        "md5",
        "sha1",
        "fast",
        "afb-legacy",
        "afb-off",
        "ucast",
    ] {
        for node in ["node1", "node2"] {
            let l = load(name, node);
            assert_eq!(l.local_node, node);
            assert_eq!(l.hacf.nodes, ["node1", "node2"], "{name}");
            let g = &l.haresources.groups;
            assert_eq!(g.len(), 1);
            assert_eq!(g[0].node, "node1");
            assert_eq!(g[0].key(), "IPaddr::192.0.2.50/24/eth0");
            assert_eq!(g[0].resources[1].script, "hbtest");
            assert_eq!(g[0].resources[1].args, ["alpha", "beta"]);
            assert!(l.warnings.is_empty());
        }
    }
}

#[test]
fn anchor_timings_and_failback() {
    let l = load("sha1", "node1");
    let h = &l.hacf;
    assert_eq!(
        (h.keepalive, h.deadtime, h.warntime, h.initdead, h.deadping),
        (
            Duration::from_secs(1),
            Duration::from_secs(3),
            Duration::from_secs(2),
            Duration::from_secs(6),
            Duration::from_secs(3)
        )
    );
    assert_eq!(h.auto_failback, AutoFailback::On);
    assert_eq!(
        h.media,
        [Medium::Bcast {
            iface: "eth0".into(),
            port: 694
        }]
    );
    assert!(!h.use_logd);

    let h = load("fast", "node1").hacf;
    assert_eq!(h.keepalive, Duration::from_millis(200));
    assert_eq!(h.deadtime, Duration::from_millis(1000));
    assert_eq!(h.warntime, Duration::from_millis(600));
    assert_eq!(h.parameter("keepalive"), Some("200ms"));

    assert_eq!(
        load("afb-off", "node1").hacf.auto_failback,
        AutoFailback::Off
    );
    let l = load("afb-legacy", "node2");
    assert_eq!(l.hacf.auto_failback, AutoFailback::Legacy);
    assert!(l.all_warnings().any(|w| w
        .message
        .starts_with("Deprecated 'legacy' auto_failback option selected.")));
}

#[test]
fn ucast_and_ping_configs() {
    let h = load("ucast", "node1").hacf;
    let peers: Vec<(String, IpAddr)> = h
        .media
        .iter()
        .map(|m| match m {
            Medium::Ucast { peer, .. } => (m.link_name(), *peer),
            other => panic!("unexpected medium {other:?}"),
        })
        .collect();
    assert_eq!(
        peers,
        [
            ("eth0".to_string(), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11))),
            ("eth0".to_string(), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12))),
        ]
    );

    // The ping config respawns ipfail; heartbeat (and load_all) checks the
    // command is executable, so the outcome depends on the Debian package.
    let ipfail = "/usr/libexec/heartbeat/ipfail";
    let dir = ConfDir::with(
        "ping",
        &read("reference/ping/ha.cf"),
        &read("reference/ping/authkeys"),
        Some(&read("reference/ping/haresources")),
        "node1",
    );
    let executable = nix::unistd::access(ipfail, nix::unistd::AccessFlags::X_OK).is_ok()
        && nix::unistd::User::from_name("hacluster")
            .ok()
            .flatten()
            .is_some();
    match load_all(&dir.paths()) {
        Ok(l) => {
            assert!(executable);
            assert_eq!(
                l.hacf.ping_nodes,
                [PingNode::Single(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100)))]
            );
            assert_eq!(l.hacf.respawn[0].command, ipfail);
            assert_eq!(l.hacf.apiauth[0].client, "ipfail");
            assert_eq!(l.hacf.apiauth[0].gids, ["haclient"]);
            assert_eq!(l.hacf.apiauth[0].uids, ["hacluster"]);
        }
        Err(e) => {
            assert!(!executable, "{e}");
            assert!(e.to_string().contains("ipfail"), "{e}");
        }
    }
}

#[test]
fn multiauth_node_files() {
    let hacf = read("reference/multiauth/ha.cf");
    let hares = read("reference/multiauth/haresources");
    for (node, active) in [("node1", 1), ("node2", 2)] {
        let dir = ConfDir::with(
            "multiauth",
            &hacf,
            &read(&format!("reference/multiauth/{node}.authkeys")),
            Some(&hares),
            node,
        );
        let l = load_all(&dir.paths()).unwrap();
        assert_eq!(l.authkeys.active_index(), active);
        assert_eq!(
            l.authkeys.method(1),
            Some(&AuthMethod::Md5 {
                key: b"keyA".to_vec()
            })
        );
        assert_eq!(
            l.authkeys.method(2),
            Some(&AuthMethod::Sha1 {
                key: b"keyB".to_vec()
            })
        );
    }
}

/// The parsed keys sign exactly like the real nodes did: in-band `auth=`
/// inputs and tokens from captured packets (reference artifacts/worked.txt).
#[test]
fn parsed_keys_reproduce_captured_tokens() {
    let cases = [
        (
            "crc",
            "t=status\nst=active\ndt=1388\nprotocol=1\nsrc=node1\n(1)srcuuid=z5fw/s5tTtK39/KYd1P5OQ==\n\
             seq=7\nhg=6b03adbc\nts=6b03adbc\nld=0.88 0.61 0.28 3/113 162\nttl=3\n",
            "1 c2d916d5",
        ),
        (
            "md5",
            "t=status\nst=active\ndt=1388\nprotocol=1\nsrc=node1\n(1)srcuuid=5C9/DHSkQ02xgIeKrCwr8g==\n\
             seq=7\nhg=6b03af24\nts=6b03af25\nld=1.01 0.93 0.52 3/119 150\nttl=3\n",
            "3 26f9beeda3406576f2d83e03fef8ff23",
        ),
        (
            "sha1",
            "t=status\nst=active\ndt=1388\nprotocol=1\nsrc=node1\n(1)srcuuid=QVN4X+c5S8evIkVCLn9p5w==\n\
             seq=6\nhg=6b03af59\nts=6b03af59\nld=0.73 0.87 0.52 4/120 160\nttl=3\n",
            "2 2909eb2a65506fca1bd07e291e72400b0f97f6b2",
        ),
    ];
    for (name, body, token) in cases {
        let dir = ConfDir::new(name);
        let p = dir.write(
            "authkeys",
            read(&format!("reference/{name}/authkeys")),
            0o600,
        );
        let keys = hb_config::load_authkeys(&p).unwrap();
        assert_eq!(keys.sign(body.as_bytes()), token, "{name}");
    }
}

#[test]
fn reference_files_parse_without_io() {
    // The pure parsers agree with load_all on the same bytes.
    let text = read("reference/crc/ha.cf");
    let h = hb_config::parse_ha_cf(Path::new("/etc/ha.d/ha.cf"), &text).unwrap();
    assert_eq!(h.nodes, ["node1", "node2"]);
    let r = hb_config::parse_haresources(
        Path::new("/etc/ha.d/haresources"),
        &read("reference/crc/haresources"),
        &h.nodes,
    )
    .unwrap();
    assert_eq!(r.groups.len(), 1);
    let e = hb_config::parse_haresources(
        Path::new("/etc/ha.d/haresources"),
        &read("reference/crc/haresources"),
        &["node2".to_string()],
    )
    .unwrap_err();
    assert_eq!(
        rendered(&e),
        ["/etc/ha.d/haresources:1: Bad nodename [node1]: not a node of ha.cf (nodes: node2)"]
    );
    assert!(data("reference/crc/ha.cf").exists());
}
