use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use super::*;

fn parse(text: &str) -> HaCf {
    match parse_ha_cf(Path::new("ha.cf"), text) {
        Ok(h) => h,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

fn errors(text: &str) -> Vec<String> {
    match parse_ha_cf(Path::new("ha.cf"), text) {
        Ok(h) => panic!("expected errors, got {h:?}"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

fn warnings(h: &HaCf) -> Vec<String> {
    h.warnings.iter().map(ToString::to_string).collect()
}

const BASE: &str = "bcast eth0\nnode node1 node2\nlogfile /var/log/ha-log\n";

fn with_base(extra: &str) -> String {
    format!("{BASE}{extra}")
}

#[test]
fn reference_anchor_config() {
    let h = parse(
        "# anchor test config\nlogfile /var/log/ha-log\ndebugfile /var/log/ha-debug\n\
         logfacility none\nuse_logd no\nkeepalive 1\ndeadtime 3\nwarntime 2\ninitdead 6\n\
         udpport 694\nbcast eth0\nauto_failback on\nnode node1\nnode node2\n",
    );
    assert_eq!(h.keepalive, Duration::from_secs(1));
    assert_eq!(h.deadtime, Duration::from_secs(3));
    assert_eq!(h.warntime, Duration::from_secs(2));
    assert_eq!(h.initdead, Duration::from_secs(6));
    assert_eq!(h.deadping, Duration::from_secs(3));
    assert_eq!(h.udpport, 694);
    assert_eq!(
        h.media,
        [Medium::Bcast {
            iface: "eth0".into(),
            port: 694
        }]
    );
    assert_eq!(h.nodes, ["node1", "node2"]);
    assert_eq!(h.auto_failback, AutoFailback::On);
    assert_eq!(h.logfile.as_deref(), Some(Path::new("/var/log/ha-log")));
    assert_eq!(h.debugfile.as_deref(), Some(Path::new("/var/log/ha-debug")));
    assert_eq!(h.logfacility, None);
    assert!(!h.use_logd);
    assert_eq!(
        warnings(&h),
        [
            "ha.cf:9: Initial dead time [6000 ms] may be too small! It accounts for slow network \
          startup and should be >= deadtime and >= 10 seconds"
        ]
    );
    assert_eq!(h.parameter("keepalive"), Some("1"));
    assert_eq!(h.parameter("logfacility"), Some("none"));
    assert_eq!(h.parameter("deadping"), Some("3000ms"));
}

#[test]
fn defaults_and_derived_values_match_heartbeat() {
    let h = parse("bcast eth0\nnode a\n");
    assert_eq!(h.keepalive, Duration::from_millis(1000));
    assert_eq!(h.deadtime, Duration::from_millis(30_000));
    assert_eq!(h.warntime, Duration::from_millis(15_000));
    assert_eq!(h.initdead, Duration::from_millis(30_000));
    assert_eq!(h.deadping, Duration::from_millis(30_000));
    assert_eq!(h.udpport, 694);
    assert_eq!(h.hopfudge, 1);
    assert!(h.realtime);
    assert_eq!(h.auto_failback, AutoFailback::Legacy);
    assert_eq!(h.hbgenmethod, GenMethod::File);
    assert_eq!(h.uuidfrom, UuidFrom::File);
    assert_eq!(h.msgfmt, MsgFmt::Classic);
    assert_eq!(h.max_rexmit_delay, Duration::from_millis(250));
    assert_eq!(h.autojoin, "none");
    // No logging configured at all: heartbeat switches logd on.
    assert!(h.use_logd);
    for (k, v) in [
        ("keepalive", "1000ms"),
        ("deadtime", "30000ms"),
        ("warntime", "15000ms"),
        ("initdead", "30000ms"),
        ("deadping", "30000ms"),
        ("udpport", "694"),
        ("auto_failback", "legacy"),
        ("use_logd", "yes"),
        ("debug", "0"),
        ("hopfudge", "1"),
        ("memreserve", "6500"),
        ("compression_threshold", "2"),
    ] {
        assert_eq!(h.parameter(k), Some(v), "{k}");
    }
    assert_eq!(h.parameter("node"), None);
    assert_eq!(h.parameter("bcast"), None);
    assert_eq!(
        warnings(&h),
        [
            "ha.cf: Deprecated 'legacy' auto_failback option selected. Please convert to \
          'auto_failback on'. See documentation for conversion details."
        ]
    );
    let clients: Vec<&str> = h.apiauth.iter().map(|a| a.client.as_str()).collect();
    assert_eq!(clients, ["ipfail", "ccm", "ping", "lha-snmpagent", "anon"]);
    assert_eq!(h.apiauth[4].uids, ["root"]);
    assert_eq!(h.apiauth[4].gids, ["haclient"]);
}

#[test]
fn initdead_derivation() {
    let initdead = |deadtime: &str| parse(&with_base(&format!("deadtime {deadtime}\n"))).initdead;
    assert_eq!(initdead("5"), Duration::from_secs(12));
    assert_eq!(initdead("6"), Duration::from_secs(12));
    assert_eq!(initdead("8"), Duration::from_secs(16));
    assert_eq!(initdead("10"), Duration::from_secs(20));
    assert_eq!(initdead("10001ms"), Duration::from_millis(10_001));
    let h = parse(&with_base("deadtime 8\n"));
    assert_eq!(h.parameter("initdead"), Some("16000ms"));
}

#[test]
fn raw_values_as_cl_status_prints_them() {
    // artifacts/exp-badconf/param-probe.txt
    for (ka, raw) in [("0.5", "0.5"), ("1500ms", "1500ms"), ("2", "2")] {
        let h = parse(&with_base(&format!(
            "keepalive {ka}\ndeadtime 10\ninitdead 10\nauto_failback on\n"
        )));
        assert_eq!(h.parameter("keepalive"), Some(raw));
        assert_eq!(h.parameter("deadtime"), Some("10"));
        assert_eq!(h.parameter("warntime"), Some("5000ms"));
        assert_eq!(h.parameter("initdead"), Some("10"));
        assert_eq!(h.parameter("auto_failback"), Some("on"));
    }
    let h = parse(&with_base("keepalive 0.5\n"));
    assert_eq!(h.keepalive, Duration::from_millis(500));
}

#[test]
fn fast_reference_config() {
    let h = parse(&with_base(
        "keepalive 200ms\ndeadtime 1\nwarntime 600ms\ninitdead 6\n",
    ));
    assert_eq!(h.keepalive, Duration::from_millis(200));
    assert_eq!(h.deadtime, Duration::from_millis(1000));
    assert_eq!(h.warntime, Duration::from_millis(600));
}

#[test]
fn media_take_the_udpport_in_effect_when_read() {
    let h = parse(
        "udpport 700\nbcast eth0 eth1\nucast eth2 192.0.2.12\nmcast eth3 239.0.0.1 5405 1 0\n\
         node a\nlogfile /l\n",
    );
    assert_eq!(
        h.media,
        [
            Medium::Bcast {
                iface: "eth0".into(),
                port: 700
            },
            Medium::Bcast {
                iface: "eth1".into(),
                port: 700
            },
            Medium::Ucast {
                iface: "eth2".into(),
                peer: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12)),
                port: 700
            },
            Medium::Mcast {
                iface: "eth3".into(),
                group: Ipv4Addr::new(239, 0, 0, 1),
                port: 5405,
                ttl: 1,
                r#loop: false
            },
        ]
    );
    assert_eq!(h.udpport, 700);
    assert_eq!(h.media[2].link_name(), "eth2");
}

#[test]
fn udpport_after_media_does_not_move_them() {
    // Each plugin latches udpport at its first medium (localudpport).
    let h =
        parse("bcast eth0\nudpport 700\nbcast eth1\nucast eth0 192.0.2.2\nnode a\nlogfile /l\n");
    let ports: Vec<u16> = h
        .media
        .iter()
        .map(|m| match m {
            Medium::Bcast { port, .. }
            | Medium::Ucast { port, .. }
            | Medium::Mcast { port, .. } => *port,
        })
        .collect();
    assert_eq!(ports, [694, 694, 700]);
    assert_eq!(h.udpport, 700);
    assert_eq!(h.parameter("udpport"), Some("700"));
    assert_eq!(
        warnings(&h)[0],
        "ha.cf:2: udpport 700 comes after a bcast line: bcast media keep port 694 (udpport \
         setting must precede media statements)"
    );
}

#[test]
fn mcast_is_validated_like_the_plugin() {
    let lines = [
        "mcast eth0",
        "mcast eth0 192.0.2.1 694 1 0",
        "mcast eth0 239.0.0.1",
        "mcast eth0 239.0.0.1 0 1 0",
        "mcast eth0 239.0.0.1 694",
        "mcast eth0 239.0.0.1 694 5 0",
        "mcast eth0 239.0.0.1 694 1",
        "mcast eth0 239.0.0.1 694 1 2",
    ];
    let text = with_base(&format!("{}\n", lines.join("\n")));
    assert_eq!(
        errors(&text),
        [
            "ha.cf:4: mcast [eth0] missing mcast address",
            "ha.cf:5: mcast [eth0] bad addr [192.0.2.1] (expected an IPv4 multicast address)",
            "ha.cf:6: mcast [eth0] missing port",
            "ha.cf:7: mcast [eth0] bad port [0]",
            "ha.cf:8: mcast [eth0] missing ttl",
            "ha.cf:9: mcast [eth0] bad ttl [5] (expected 0 to 4)",
            "ha.cf:10: mcast [eth0] missing loop",
            "ha.cf:11: mcast [eth0] bad loop [2] (expected 0 or 1)",
        ]
    );
}

#[test]
fn ucast_peers_must_be_addresses() {
    assert_eq!(
        errors(&with_base(
            "ucast eth0\nucast eth0 peer.example.com\nucast eth0 2001:db8::1\n"
        )),
        [
            "ha.cf:4: ucast: [eth0] missing target IP address/hostname",
            "ha.cf:5: ucast: [peer.example.com] is not an IPv4 address (host names are not \
             resolved; write the address)",
            "ha.cf:6: ucast: [2001:db8::1] is an IPv6 address; use ucast6 for it",
        ]
    );
    let h = parse("ucast6 eth0 2001:db8::2\nping6 2001:db8::fe\nnode a\nlogfile /l\n");
    assert_eq!(
        h.media,
        [Medium::Ucast {
            iface: "eth0".into(),
            peer: "2001:db8::2".parse().unwrap(),
            port: 694
        }]
    );
    assert_eq!(
        h.ping_nodes,
        [PingNode::Single("2001:db8::fe".parse().unwrap())]
    );
    // Declared before any node line.
    assert_eq!(h.ping_node_positions, [0]);
    let h = parse("bcast eth0\nnode a\nping 192.0.2.1\nnode b\nping 192.0.2.2\n");
    assert_eq!(h.ping_node_positions, [1, 2]);
}

#[test]
fn ping_and_ping_group() {
    let h = parse(&with_base(
        "ping 192.0.2.100 192.0.2.101\nping_group g1 10.0.0.1 10.0.0.2\n",
    ));
    assert_eq!(
        h.ping_nodes,
        [
            PingNode::Single(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100))),
            PingNode::Single(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 101))),
            PingNode::Group {
                name: "g1".into(),
                addrs: vec![
                    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))
                ]
            },
        ]
    );
    assert_eq!(
        errors(&with_base("ping_group g2\nping gw.example.com\n")),
        [
            "ha.cf:4: ping_group [g2] has no members",
            "ha.cf:5: ping: [gw.example.com] is not an IPv4 address (host names are not \
             resolved; write the address)",
        ]
    );
}

#[test]
fn nodes_several_per_line_lower_cased_comma_separated() {
    let h = parse("bcast eth0\nnode Alpha BETA,gamma\nnode delta\nlogfile /l\n");
    assert_eq!(h.nodes, ["alpha", "beta", "gamma", "delta"]);
    assert_eq!(
        errors("bcast eth0\nnode a b\nnode B\nlogfile /l\n"),
        ["ha.cf:3: duplicate node \"b\" (already declared on line 2)"]
    );
}

#[test]
fn nice_failback_is_read_the_way_heartbeat_does() {
    let legacy_msg = |line: usize, v: &str| {
        format!(
            "ha.cf:{line}: nice_failback flag is obsolete: 'nice_failback {v}' has been strictly \
             interpreted as 'auto_failback legacy' (heartbeat 3.0.6 ignores the value); consider \
             converting to 'auto_failback on': then you can use ipfail and hb_standby"
        )
    };
    // Alone, on or off: legacy (exp-badconf).
    for v in ["on", "off"] {
        let h = parse(&with_base(&format!("nice_failback {v}\n")));
        assert_eq!(h.auto_failback, AutoFailback::Legacy);
        assert_eq!(warnings(&h)[0], legacy_msg(4, v));
        assert_eq!(h.parameter("auto_failback"), Some("legacy"));
        assert_eq!(h.parameter("nice_failback"), None);
    }
    // After auto_failback on|off: "changed to auto_failback off" (the
    // global, not the value, is tested), while the recorded value stays.
    let h = parse(&with_base("auto_failback on\nnice_failback on\n"));
    assert_eq!(h.auto_failback, AutoFailback::Off);
    assert_eq!(h.parameter("auto_failback"), Some("on"));
    assert!(warnings(&h)[0].contains("has been changed to 'auto_failback off'"));
    // A later auto_failback wins.
    let h = parse(&with_base("nice_failback off\nauto_failback on\n"));
    assert_eq!(h.auto_failback, AutoFailback::On);
    assert_eq!(
        errors(&with_base("nice_failback maybe\n")),
        [
            "ha.cf:4: nice_failback: invalid value \"maybe\" (nice_failback is obsolete; use \
          auto_failback on, off or legacy)"
        ]
    );
}

#[test]
fn auto_failback_values() {
    for (v, want) in [
        ("on", AutoFailback::On),
        ("YES", AutoFailback::On),
        ("off", AutoFailback::Off),
        ("0", AutoFailback::Off),
        ("Legacy", AutoFailback::Legacy),
    ] {
        assert_eq!(
            parse(&with_base(&format!("auto_failback {v}\n"))).auto_failback,
            want
        );
    }
    assert_eq!(
        errors(&with_base("auto_failback sometimes\n")),
        ["ha.cf:4: auto_failback: invalid value \"sometimes\" (expected on, off or legacy)"]
    );
}

#[test]
fn crm_off_is_fine_crm_on_is_refused() {
    for v in ["off", "no", "false"] {
        let h = parse(&with_base(&format!("crm {v}\n")));
        assert_eq!(h.parameter("pacemaker"), Some(v));
        assert_eq!(h.parameter("crm"), None);
    }
    assert_eq!(
        errors(&with_base("crm on\n")),
        ["ha.cf:4: crm on: Pacemaker (CRM) cluster management is not supported: this \
          implementation runs heartbeat v1 haresources mode only (use \"crm off\" or remove the line)"]
    );
    for v in ["yes", "respawn", "minimal"] {
        assert!(errors(&with_base(&format!("crm {v}\n")))[0].contains("is not supported"));
    }
    assert_eq!(
        errors(&with_base("pacemaker off\ncrm off\n")),
        ["ha.cf:5: pacemaker/crm directive used multiple times!"]
    );
    assert_eq!(
        errors(&with_base("crm off\ncrm_daemon_dir /usr/lib/pacemaker\n")),
        ["ha.cf:5: If you specify crm_daemon_dir, it must come before the crm/pacemaker directive"]
    );
}

#[test]
fn logging_directives() {
    let h = parse("bcast eth0\nnode a\nlogfacility local0\n");
    assert_eq!(h.logfacility.as_deref(), Some("local0"));
    assert!(!h.use_logd);
    assert_eq!(h.parameter("logfile"), Some("/dev/null"));
    assert_eq!(h.parameter("debugfile"), Some("/dev/null"));
    assert_eq!(
        errors("bcast eth0\nnode a\nlogfacility local9\n"),
        ["ha.cf:3: Log facility(local9) not valid: expected none or one of auth, authpriv, cron, \
          daemon, ftp, kern, lpr, mail, mark, news, security, syslog, user, uucp, local0, local1, \
          local2, local3, local4, local5, local6, local7"]
    );
    assert_eq!(
        errors("bcast eth0\nnode a\nuse_logd off\n"),
        ["ha.cf:3: No log entry found in ha.cf and use_logd is set to off"]
    );
}

#[test]
fn unknown_directives_are_errors() {
    assert_eq!(
        errors(&with_base("hbaping fc0\nKeepalive 2\n")),
        [
            "ha.cf:4: unknown directive \"hbaping\"",
            "ha.cf:5: unknown directive \"Keepalive\" (directives are case-sensitive: did you \
             mean \"keepalive\"?)",
        ]
    );
}

#[test]
fn timing_errors_use_heartbeat_wording() {
    assert_eq!(
        errors(&with_base("keepalive 1\ndeadtime 2\n")),
        ["ha.cf:5: Dead time [2000] is too small compared to keepalive [1000]"]
    );
    assert_eq!(
        errors(&with_base("deadtime 5\ninitdead 2\n")),
        ["ha.cf:5: Initial dead time [2000] is smaller than deadtime [5000]"]
    );
    assert_eq!(
        errors(&with_base("keepalive 2\ndeadping 3\n")),
        ["ha.cf:5: Ping dead time [3000] is too small compared to keepalive [2000]"]
    );
    assert_eq!(
        errors(&with_base("keepalive 0\nwarntime 0\n")),
        [
            "ha.cf:4: keepalive: \"0\" must be greater than 0",
            "ha.cf:5: Warn time [0] is invalid.",
        ]
    );
    let h = parse(&with_base("deadtime 10\nwarntime 12\n"));
    assert!(warnings(&h).contains(
        &"ha.cf:5: Warn time [12000] is not smaller than deadtime [10000]: late heartbeat \
          warnings can never be logged"
            .to_string()
    ));
}

#[test]
fn bad_durations() {
    assert_eq!(
        errors(&with_base("keepalive 2s\ndeadtime 500 ms\ninitdead -1\n")),
        [
            "ha.cf:4: keepalive: invalid time value \"2s\": expected seconds (2, 0.5) or a number \
             followed directly by ms, msec, us or usec (1500ms)",
            "ha.cf:5: deadtime: invalid time value \"500 ms\": no space is allowed between the \
             number and its unit (write 500ms)",
            "ha.cf:6: initdead: invalid time value \"-1\": expected seconds (2, 0.5) or a number \
             followed directly by ms, msec, us or usec (1500ms)",
        ]
    );
}

#[test]
fn every_problem_is_collected() {
    let e = errors("keepalive 2s\nfrobnicate 1\nnode a a\nlogfacility nope\n");
    assert_eq!(
        e,
        [
            "ha.cf:1: keepalive: invalid time value \"2s\": expected seconds (2, 0.5) or a number \
             followed directly by ms, msec, us or usec (1500ms)",
            "ha.cf:2: unknown directive \"frobnicate\"",
            "ha.cf:3: duplicate node \"a\" (already declared on line 3)",
            "ha.cf:4: Log facility(nope) not valid: expected none or one of auth, authpriv, cron, \
             daemon, ftp, kern, lpr, mail, mark, news, security, syslog, user, uucp, local0, \
             local1, local2, local3, local4, local5, local6, local7",
            "ha.cf: No heartbeat media defined",
        ]
    );
    assert_eq!(errors("bcast eth0\n"), ["ha.cf: no nodes defined"]);
}

#[test]
fn serial_is_accepted_with_a_warning_but_not_alone() {
    let h = parse(&with_base("baud 19200\nserial /dev/ttyS0\n"));
    assert_eq!(h.media.len(), 1);
    assert_eq!(
        warnings(&h)[..2],
        [
            "ha.cf:4: \"baud\" is accepted but ignored: it only applies to serial media, which \
             this implementation does not support",
            "ha.cf:5: serial media are not supported by this implementation: no heartbeats go over \
             /dev/ttyS0, so this cluster has less link redundancy than configured",
        ]
    );
    assert_eq!(
        errors("serial /dev/ttyS0\nnode a b\nlogfile /l\n"),
        [
            "ha.cf: No usable heartbeat media: serial (line 1) is not supported by this \
          implementation; add a bcast, mcast or ucast line"
        ]
    );
    assert_eq!(
        errors(&with_base("baud 12345\n")),
        ["ha.cf:4: invalid baudrate [12345] specified."]
    );
}

#[test]
fn whole_line_directives() {
    let h = parse(&with_base(
        "respawn hacluster /usr/libexec/heartbeat/ipfail -x  # comment\n\
         failfast hacluster /usr/lib/x/ccm\n\
         apiauth ipfail gid=haclient uid=hacluster,root\n\
         apiauth ping gid=haclient\n\
         stonith baytech /etc/ha.d/conf/stonith.baytech\n\
         stonith_host *     baytech 10.0.0.3 mylogin mysecretpassword\n\
         stonith_host KEN3  rps10 /dev/ttyS1 kathy 0\n",
    ));
    assert_eq!(
        h.respawn,
        [Respawn {
            user: "hacluster".into(),
            command: "/usr/libexec/heartbeat/ipfail -x".into()
        }]
    );
    assert_eq!(h.respawn[0].path(), "/usr/libexec/heartbeat/ipfail");
    assert_eq!(h.failfast[0].command, "/usr/lib/x/ccm");
    assert_eq!(
        h.apiauth[0],
        ApiAuth {
            client: "ipfail".into(),
            uids: vec!["hacluster".into(), "root".into()],
            gids: vec!["haclient".into()]
        }
    );
    // Defaults are added only for clients the file does not name.
    assert_eq!(h.apiauth.iter().filter(|a| a.client == "ping").count(), 1);
    assert_eq!(h.apiauth.len(), 5);
    assert_eq!(
        h.stonith,
        [Stonith {
            stonith_type: "baytech".into(),
            config_file: "/etc/ha.d/conf/stonith.baytech".into()
        }]
    );
    assert_eq!(
        h.stonith_host[0].params,
        "10.0.0.3 mylogin mysecretpassword"
    );
    assert!(h.stonith_host[0].applies_to("node1"));
    assert_eq!(h.stonith_host[1].host, "ken3");
    assert!(!h.stonith_host[1].applies_to("node1"));
    assert_eq!(
        errors(&with_base(
            "respawn hacluster\nrespawn hacluster ipfail\napiauth x\napiauth y foo=1\n\
             apiauth z uid=a uid=b\napiauth ipfail uid=a\napiauth ipfail uid=b\nstonith\n\
             stonith_host *\n"
        )),
        [
            "ha.cf:4: respawn: expected \"respawn <user> </full/path/to/command> [args]\"",
            "ha.cf:5: Client child command [ipfail] is not full pathname",
            "ha.cf:6: Invalid apiauth directive [x]: expected \"apiauth <client> [uid=uidlist] \
             [gid=gidlist]\" with at least one list",
            "ha.cf:7: Missing uid or gid in apiauth [foo=1]",
            "ha.cf:8: Duplicate uid list in apiauth",
            "ha.cf:10: Duplicate apiauth directive for API client ipfail",
            "ha.cf:11: No Stonith type given",
            "ha.cf:12: No Stonith type given",
        ]
    );
}

struct FakeHost;

impl Host for FakeHost {
    fn user_exists(&self, name: &str) -> bool {
        name == "hacluster"
    }
    fn group_exists(&self, name: &str) -> bool {
        name == "haclient"
    }
    fn is_executable(&self, path: &Path) -> bool {
        path == Path::new("/usr/libexec/heartbeat/ipfail")
    }
}

#[test]
fn ipfail_needs_no_binary_because_it_is_built_in() {
    let text = with_base("respawn hacluster /usr/lib/heartbeat/ipfail\nfailfast hacluster /usr/lib/heartbeat/ipfail\n");
    let e = parse_outcome(Path::new("ha.cf"), &text, &FakeHost)
        .result
        .unwrap_err();
    // respawn is accepted; failfast of it is not ipfail's job.
    let e: Vec<String> = e.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        e,
        ["ha.cf:5: Client child command [/usr/lib/heartbeat/ipfail] is not executable"]
    );
}

#[test]
fn load_checks_users_groups_and_commands() {
    let text = with_base(
        "respawn nobody1 /usr/libexec/heartbeat/ipfail\nrespawn hacluster /usr/lib64/heartbeat/notipfail\n\
         apiauth x uid=ghost\napiauth y gid=haclient,ghosts,42\napiauth z uid=hacluster,1000\n",
    );
    let e = parse_outcome(Path::new("ha.cf"), &text, &FakeHost)
        .result
        .unwrap_err();
    let e: Vec<String> = e.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        e,
        [
            "ha.cf:4: Invalid uid [nobody1] specified for client child",
            "ha.cf:5: Client child command [/usr/lib64/heartbeat/notipfail] is not executable",
            "ha.cf:6: Bad uid list [ghost]: no user ghost",
            "ha.cf:7: Bad gid list [haclient,ghosts,42]: no group ghosts",
        ]
    );
}

#[test]
fn misc_directives() {
    let h = parse(&with_base(
        "hopfudge 3\ndebug 2\nrealtime off\nrtprio 20\nhbgenmethod time\nuuidfrom nodename\n\
         msgfmt netstring\nmax_rexmit_delay 500\nwatchdog /dev/watchdog\nenv FOO=bar,BAZ=\n\
         autojoin NONE\n",
    ));
    assert_eq!(h.hopfudge, 3);
    assert_eq!(h.debug, 2);
    assert!(!h.realtime);
    assert_eq!(h.rtprio, Some(20));
    assert_eq!(h.hbgenmethod, GenMethod::Time);
    assert_eq!(h.uuidfrom, UuidFrom::NodeName);
    assert_eq!(h.msgfmt, MsgFmt::Netstring);
    assert_eq!(h.max_rexmit_delay, Duration::from_millis(500));
    assert_eq!(h.watchdog.as_deref(), Some(Path::new("/dev/watchdog")));
    assert_eq!(
        h.env,
        [
            ("HA_FOO".to_string(), "bar".to_string()),
            ("HA_BAZ".into(), String::new())
        ]
    );
    assert_eq!(h.autojoin, "none");
    assert_eq!(h.parameter("debug"), Some("2"));
    assert_eq!(
        errors(&with_base(
            "hopfudge 256\nrtprio 0\nhbgenmethod clock\nrealtime maybe\nwatchdog /a\nwatchdog /b\n\
             env novalue\nautojoin any\nuuidfrom FILE\nmsgfmt xml\ncompression lzma\n"
        )),
        [
            "ha.cf:4: hopfudge: invalid value \"256\" (expected an integer from 0 to 255)",
            "ha.cf:5: Illegal realtime priority [0]",
            "ha.cf:6: Illegal hb generation method [clock] (expected file or time)",
            "ha.cf:7: realtime: invalid value \"maybe\" (expected on/off, yes/no, true/false, y/n \
             or 1/0)",
            "ha.cf:9: Watchdog device multiply specified.",
            "ha.cf:10: env: invalid nvpair(novalue), expected NAME=value",
            "ha.cf:11: autojoin any: R1 style resource management conflicts with autojoin set \
             (heartbeat needs crm for it, and this implementation runs haresources mode only); \
             remove the line or use \"autojoin none\"",
            "ha.cf:12: Invalid uuidfrom directive [FILE] (expected file or nodename)",
            "ha.cf:13: msgfmt: invalid value \"xml\" (expected classic or netstring)",
            "ha.cf:14: compression: unknown module \"lzma\" (expected zlib or bz2)",
        ]
    );
}

#[test]
fn ignored_directives_warn() {
    let h = parse(&with_base(
        "compression bz2\ncluster mycluster\nmemreserve 10000\n",
    ));
    assert_eq!(
        warnings(&h)[..3],
        [
            "ha.cf:4: \"compression\" is accepted but has no effect in this implementation",
            "ha.cf:5: \"cluster\" is accepted but ignored: it only matters to Pacemaker (crm), \
             which this implementation does not run",
            "ha.cf:6: \"memreserve\" is accepted but has no effect in this implementation",
        ]
    );
    assert_eq!(h.parameter("cluster"), Some("mycluster"));
}

#[test]
fn values_lines_and_syntax_corners() {
    // No value: heartbeat does nothing; several values: the last wins.
    let h = parse(&with_base("keepalive\ndeadtime 10 20\ndeadtime 30\n"));
    assert_eq!(h.deadtime, Duration::from_secs(30));
    assert_eq!(
        warnings(&h)[..3],
        [
            "ha.cf:4: \"keepalive\" has no value; the line is ignored",
            "ha.cf:5: \"deadtime\" has 2 values; heartbeat applies them in turn and the last one \
             (\"20\") wins",
            "ha.cf:6: \"deadtime\" was already set on line 5; the last value wins",
        ]
    );
    // Comments anywhere, CRLF, tabs, form feeds, leading blanks.
    let h = parse("  bcast\teth0 # Linux\r\n\x0cnode a#b\r\n#node c\nlogfile /l\n");
    assert_eq!(h.nodes, ["a"]);
    assert_eq!(h.media.len(), 1);
}

#[test]
fn a_refused_value_does_not_cascade() {
    // deadtime stays at its default after "3s" is refused; comparing the
    // default with initdead would only add a misleading second error.
    assert_eq!(
        errors(&with_base("deadtime 3s\ninitdead 12\n")),
        [
            "ha.cf:4: deadtime: invalid time value \"3s\": expected seconds (2, 0.5) or a number \
          followed directly by ms, msec, us or usec (1500ms)"
        ]
    );
    assert_eq!(errors(&with_base("keepalive 40x\ndeadping 3\n")).len(), 1);
}
