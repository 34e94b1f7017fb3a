//! Configurations from the wild that heartbeat 3.0.6 accepts, comments
//! and all: a RHEL 6 blog post (`seed-rhel6`, Chinese comments) and
//! Debian's annotated samples (`debian-doc`, and the same files with the
//! usual lines uncommented, `debian-doc-edited`).

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use common::{read, rendered, ConfDir};
use hb_config::{
    load_all, parse_authkeys, parse_ha_cf, parse_haresources, AutoFailback, Medium, PingNode,
};
use hb_wire::AuthMethod;

fn p(s: &str) -> &Path {
    Path::new(s)
}

#[test]
fn rhel6_blog_ha_cf() {
    let h = parse_ha_cf(p("ha.cf"), &read("seed-rhel6/ha.cf")).unwrap();
    assert_eq!(h.keepalive, Duration::from_secs(2));
    assert_eq!(h.deadtime, Duration::from_secs(30));
    assert_eq!(h.warntime, Duration::from_secs(10));
    assert_eq!(h.initdead, Duration::from_secs(60));
    assert_eq!(
        h.media,
        [Medium::Bcast {
            iface: "eth0".into(),
            port: 694
        }]
    );
    assert_eq!(h.auto_failback, AutoFailback::On);
    assert_eq!(h.nodes, ["server5.example.com", "server6.example.com"]);
    assert_eq!(
        h.ping_nodes,
        [PingNode::Single(IpAddr::V4(Ipv4Addr::new(
            172, 25, 254, 250
        )))]
    );
    assert_eq!(h.respawn[0].command, "/usr/lib64/heartbeat/ipfail");
    // No logfile/debugfile/logfacility: heartbeat turns logd on.
    assert!(h.use_logd);
    assert!(h.warnings.is_empty(), "{:?}", h.warnings);
}

#[test]
fn rhel6_blog_authkeys_and_haresources() {
    let k = parse_authkeys(p("authkeys"), read("seed-rhel6/authkeys").as_bytes()).unwrap();
    assert_eq!(k.keys.active_index(), 1);
    assert_eq!(k.keys.active_method(), &AuthMethod::Crc);
    assert!(k.keys.method(2).is_none(), "commented keys must not count");

    let nodes = [
        "server5.example.com".to_string(),
        "server6.example.com".to_string(),
    ];
    let mysql = parse_haresources(
        p("haresources"),
        &read("seed-rhel6/haresources.mysql"),
        &nodes,
    )
    .unwrap();
    assert_eq!(mysql.groups[0].key(), "IPaddr::172.25.254.100/24/eth0");
    assert_eq!(mysql.groups[0].resources[1].script, "mysqld");

    let drbd = parse_haresources(
        p("haresources"),
        &read("seed-rhel6/haresources.drbd"),
        &nodes,
    )
    .unwrap();
    let scripts: Vec<(&str, Vec<&str>)> = drbd.groups[0]
        .resources
        .iter()
        .map(|r| {
            (
                r.script.as_str(),
                r.args.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        scripts,
        [
            ("IPaddr", vec!["172.25.254.100/24/eth0"]),
            ("drbddisk", vec!["mysqldata"]),
            ("Filesystem", vec!["/dev/drbd1", "/var/lib/mysql", "ext4"]),
            ("mysqld", vec![]),
        ]
    );

    let lvs = parse_haresources(
        p("haresources"),
        &read("seed-rhel6/haresources.ldirectord"),
        &nodes,
    )
    .unwrap();
    assert_eq!(lvs.groups[0].resources[1].script, "ldirectord");
    assert_eq!(lvs.groups[0].resources[2].script, "httpd");
}

#[test]
fn rhel6_blog_on_this_host() {
    // load_all checks respawn users like heartbeat. The RHEL ipfail path
    // /usr/lib64/heartbeat/ipfail does not exist on Debian, but ipfail runs
    // built in, so the binary is not required.
    let dir = ConfDir::with(
        "rhel6",
        &read("seed-rhel6/ha.cf"),
        &read("seed-rhel6/authkeys"),
        Some(&read("seed-rhel6/haresources.drbd")),
        "server5.example.com",
    );
    let got = load_all(&dir.paths());
    let ha_cf = dir.path().join("ha.cf");
    if nix::unistd::User::from_name("hacluster")
        .ok()
        .flatten()
        .is_none()
    {
        let e = got.unwrap_err();
        assert_eq!(
            rendered(&e),
            [format!(
                "{}:16: Invalid uid [hacluster] specified for client child",
                ha_cf.display()
            )]
        );
    } else {
        let loaded = got.unwrap();
        assert!(loaded.hacf.respawn[0].is_ipfail());
    }
}

#[test]
fn debian_annotated_samples_as_shipped() {
    // Everything but `logfacility local0` and `auto_failback on` is
    // commented out: heartbeat's complaints, and nothing else.
    let e = parse_ha_cf(p("/etc/ha.d/ha.cf"), &read("debian-doc/ha.cf")).unwrap_err();
    assert_eq!(
        rendered(&e),
        [
            "/etc/ha.d/ha.cf: No heartbeat media defined",
            "/etc/ha.d/ha.cf: no nodes defined"
        ]
    );
    let r = parse_haresources(p("haresources"), &read("debian-doc/haresources"), &[]).unwrap();
    assert!(r.groups.is_empty());
    let e = parse_authkeys(
        p("/etc/ha.d/authkeys"),
        read("debian-doc/authkeys").as_bytes(),
    )
    .unwrap_err();
    assert_eq!(
        rendered(&e),
        ["/etc/ha.d/authkeys: Missing auth directive in keyfile: add \"auth N\" before the key lines"]
    );
}

#[test]
fn debian_annotated_samples_uncommented() {
    let h = parse_ha_cf(p("ha.cf"), &read("debian-doc-edited/ha.cf")).unwrap();
    assert_eq!(h.nodes, ["ken3", "kathy"]);
    assert_eq!(h.keepalive, Duration::from_secs(2));
    assert_eq!(h.initdead, Duration::from_secs(120));
    assert_eq!(h.deadping, Duration::from_secs(30));
    assert_eq!(h.logfacility.as_deref(), Some("local0"));
    assert_eq!(h.auto_failback, AutoFailback::On);
    assert!(!h.realtime);
    assert_eq!(h.debug, 1);
    assert_eq!(h.hbgenmethod, hb_config::GenMethod::Time);
    let kinds: Vec<String> = h
        .media
        .iter()
        .map(|m| match m {
            Medium::Bcast { iface, .. } => format!("bcast {iface}"),
            Medium::Mcast { iface, group, .. } => format!("mcast {iface} {group}"),
            Medium::Ucast { iface, peer, .. } => format!("ucast {iface} {peer}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "bcast eth1",
            "bcast eth2",
            "mcast eth0 225.0.0.1",
            "ucast eth0 192.168.1.2"
        ]
    );
    assert_eq!(h.ping_nodes.len(), 2);
    assert_eq!(h.stonith_host.len(), 3);
    assert!(h.stonith_host[1].applies_to("ken3"));
    assert_eq!(h.watchdog.as_deref(), Some(p("/dev/watchdog")));
    let clients: Vec<&str> = h.apiauth.iter().map(|a| a.client.as_str()).collect();
    assert_eq!(
        clients,
        [
            "ipfail",
            "ccm",
            "cms",
            "ping",
            "default",
            "lha-snmpagent",
            "anon"
        ]
    );
    // What the operator should hear about at start-up.
    let w: Vec<String> = h.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        [
            "ha.cf:80: \"baud\" is accepted but ignored: it only applies to serial media, which \
             this implementation does not support",
            "ha.cf:83: serial media are not supported by this implementation: no heartbeats go \
             over /dev/ttyS0, so this cluster has less link redundancy than configured",
            "ha.cf:327: \"conn_logd_time\" is accepted but has no effect in this implementation",
            "ha.cf:333: \"compression\" is accepted but has no effect in this implementation",
            "ha.cf:339: \"compression_threshold\" is accepted but has no effect in this \
             implementation",
        ]
    );

    let nodes = h.nodes.clone();
    let r = parse_haresources(
        p("haresources"),
        &read("debian-doc-edited/haresources"),
        &nodes,
    )
    .unwrap();
    let keys: Vec<(&str, &str)> = r
        .groups
        .iter()
        .map(|g| (g.node.as_str(), g.key()))
        .collect();
    assert_eq!(
        keys,
        [
            ("ken3", "135.9.216.110"),
            ("kathy", "135.9.216.3/28/eth0/135.9.216.12"),
            ("ken3", "10.0.0.170"),
        ]
    );
    assert_eq!(r.groups[0].resources.len(), 4);
    assert_eq!(r.groups[1].resources[0].script, "IPaddr");

    let k = parse_authkeys(p("authkeys"), read("debian-doc-edited/authkeys").as_bytes()).unwrap();
    assert_eq!(
        k.keys.active_method(),
        &AuthMethod::Sha1 {
            key: b"HI!".to_vec()
        }
    );
}
