//! No file content can panic a parser, and whatever `ha.cf` is accepted
//! satisfies heartbeat's own invariants.

use std::path::Path;

use hb_config::{parse_authkeys, parse_duration, parse_ha_cf, parse_haresources};
use proptest::prelude::*;

const WORDS: &[&str] = &[
    "node",
    "keepalive",
    "deadtime",
    "warntime",
    "initdead",
    "deadping",
    "udpport",
    "bcast",
    "mcast",
    "ucast",
    "ucast6",
    "mcast6",
    "ping",
    "ping6",
    "ping_group",
    "serial",
    "baud",
    "auto_failback",
    "nice_failback",
    "crm",
    "pacemaker",
    "respawn",
    "failfast",
    "apiauth",
    "stonith",
    "stonith_host",
    "logfacility",
    "logfile",
    "debugfile",
    "use_logd",
    "env",
    "autojoin",
    "hopfudge",
    "debug",
    "rtprio",
    "watchdog",
    "compression",
    "memreserve",
    "eth0",
    "a",
    "b",
    "on",
    "off",
    "legacy",
    "1",
    "0",
    "2",
    "0.5",
    "1500ms",
    "2s",
    "ms",
    "-1",
    "239.0.0.1",
    "192.0.2.1",
    "::1",
    "694",
    "#",
    ",",
    "uid=",
    "gid=x",
    "/bin/sh",
    "*",
    "\\",
    "IPaddr::10.0.0.1/24",
    "x::y::",
    "auth",
    "md5",
    "sha1",
    "crc",
    "é",
    "\u{0}",
    "\r",
    "\t",
    "99999999999999999999999",
    ".",
    "",
];

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(WORDS), 0..6).prop_map(|w| w.join(" ")),
        1 => ".{0,40}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(line(), 0..25).prop_map(|l| l.join("\n"))
}

/// Random lines, half of the time after a valid minimal config so that
/// accepted configurations are generated too.
fn ha_cf() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        text().prop_map(|t| format!("bcast eth0\nnode a b\nlogfile /l\n{t}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ha_cf_never_panics_and_accepted_configs_are_sane(t in ha_cf()) {
        let nlines = t.split('\n').count();
        match parse_ha_cf(Path::new("ha.cf"), &t) {
            Ok(h) => {
                prop_assert!(h.deadtime > 2 * h.keepalive);
                prop_assert!(h.initdead >= h.deadtime);
                prop_assert!(!h.keepalive.is_zero());
                prop_assert!(!h.nodes.is_empty());
                let mut sorted = h.nodes.clone();
                sorted.sort();
                sorted.dedup();
                prop_assert_eq!(sorted.len(), h.nodes.len());
                prop_assert!(h.nodes.iter().all(|n| *n == n.to_ascii_lowercase()));
                prop_assert!(!h.media.is_empty() || !h.ping_nodes.is_empty());
                prop_assert!(h.parameter("keepalive").is_some());
                for w in &h.warnings {
                    prop_assert!(w.line.into_iter().all(|l| (1..=nlines).contains(&l)));
                }
            }
            Err(e) => {
                prop_assert!(!e.problems.is_empty());
                for p in &e.problems {
                    prop_assert!(p.line.into_iter().all(|l| (1..=nlines).contains(&l)));
                    prop_assert!(!p.message.is_empty());
                }
            }
        }
    }

    #[test]
    fn authkeys_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300), t in text()) {
        let _ = parse_authkeys(Path::new("authkeys"), &bytes);
        if let Ok(k) = parse_authkeys(Path::new("authkeys"), t.as_bytes()) {
            prop_assert!(k.keys.active_index() < 16);
        }
    }

    #[test]
    fn haresources_never_panics(t in text()) {
        let nodes = vec!["a".to_string(), "b".to_string()];
        if let Ok(h) = parse_haresources(Path::new("haresources"), &t, &nodes) {
            for g in &h.groups {
                prop_assert!(nodes.contains(&g.node));
                prop_assert!(!g.resources.is_empty());
                prop_assert!(!g.key().is_empty());
            }
        }
    }

    #[test]
    fn durations_never_panic(s in ".{0,30}") {
        let _ = parse_duration(&s);
    }
}
