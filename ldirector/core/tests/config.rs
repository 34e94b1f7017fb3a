//! `ldirectord.cf` parsing against the reference configurations and the
//! grammar rules of ldirectord 4.12.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ldirector::config::*;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn opts() -> (StaticResolver, &'static str) {
    (StaticResolver::offline(), "director1")
}

fn parse_str(name: &str, text: &str) -> Result<Config, ConfigError> {
    let (r, h) = opts();
    parse(
        Path::new(name),
        text,
        &ParseOptions {
            resolver: &r,
            hostname: h,
        },
    )
}

fn load(name: &str) -> Config {
    let text = std::fs::read_to_string(data(name)).expect("test data");
    match parse_str(name, &text) {
        Ok(c) => c,
        Err(e) => panic!("{name}: {e}"),
    }
}

fn errors(text: &str) -> Vec<String> {
    match parse_str("t.cf", text) {
        Ok(c) => panic!("expected errors, parsed {c:?}"),
        Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket addr")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn tcp(s: &str) -> VirtualAddr {
    VirtualAddr::Inet {
        protocol: Protocol::Tcp,
        addr: sa(s),
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn dests(v: &VirtualService) -> Vec<(SocketAddr, Forwarding, u32)> {
    v.reals
        .iter()
        .map(|r| (v.dest_addr(r), r.forward, r.weight))
        .collect()
}

#[test]
fn scenario_step0_matches_the_reference_lifecycle_config() {
    let c = load("ldref-scn-step0.cf");
    let g = &c.global;
    assert_eq!(g.checktimeout, Some(secs(3)));
    assert_eq!(g.negotiatetimeout, None);
    assert_eq!(g.checkinterval, secs(1));
    assert!(!g.autoreload);
    assert!(g.quiescent);
    assert_eq!(
        g.logfile,
        LogTarget::File("/tmp/ldref/scenario/ldirectord.log".into())
    );
    let fb = g.fallback.as_ref().expect("global fallback");
    assert_eq!(
        (fb.addr, fb.tcp_port, fb.forward),
        (ip("127.0.0.1"), Some(80), Forwarding::Gate)
    );
    assert_eq!(c.virtuals.len(), 1);
    let v = &c.virtuals[0];
    assert_eq!(v.addr, tcp("127.0.0.100:80"));
    assert_eq!(v.service, Service::Http);
    assert_eq!(v.checktype, CheckType::Negotiate);
    assert_eq!(v.scheduler, Scheduler::Wrr);
    assert_eq!(v.request, "/index.html");
    assert_eq!(v.receive, "ldirectord-ok");
    assert!(v.quiescent, "inherits the global quiescent=yes");
    // checktimeout=3 is also the negotiate timeout when negotiatetimeout is unset.
    assert_eq!((v.checktimeout, v.negotiatetimeout), (secs(3), secs(3)));
    assert_eq!(
        v.fallback,
        Some(Fallback {
            addr: ip("127.0.0.1"),
            port: 80,
            forward: Forwarding::Gate
        })
    );
    assert_eq!(
        dests(v),
        vec![
            (sa("127.0.0.2:8080"), Forwarding::Masq, 1),
            (sa("127.0.0.3:8080"), Forwarding::Masq, 2)
        ]
    );
    assert_eq!(v.reals[0].line, 10);
}

#[test]
fn scenario_step6_and_step11() {
    let c = load("ldref-scn-step6.cf");
    let v = &c.virtuals[0];
    assert!(!v.quiescent);
    assert_eq!(v.scheduler, Scheduler::Wlc);
    assert_eq!(
        dests(v),
        vec![
            (sa("127.0.0.2:8080"), Forwarding::Masq, 1),
            (sa("127.0.0.3:8080"), Forwarding::Masq, 5),
            (sa("127.0.0.4:8080"), Forwarding::Masq, 1)
        ]
    );
    let c = load("ldref-scn-step11.cf");
    assert_eq!(c.virtuals.len(), 1);
    assert_eq!(c.virtuals[0].addr, tcp("127.0.0.101:80"));
    assert!(
        !c.global.quiescent,
        "default quiescent is no (code, not man page)"
    );
    assert_eq!(c.global.fallback, None);
    assert_eq!(c.virtuals[0].fallback, None);
}

#[test]
fn scenario_step13_config_error_is_reported_at_the_same_line_as_ldirectord() {
    // ldirectord: "Error [17414] reading file .../ldref-scn.cf at line 10: Unknown command bogus=1"
    let text = std::fs::read_to_string(data("ldref-scn.cf")).expect("data");
    let e = parse_str("/tmp/ldref/scenario/ldref-scn.cf", &text).expect_err("bogus=1");
    assert_eq!(
        e.to_string(),
        "/tmp/ldref/scenario/ldref-scn.cf:10: Unknown command bogus=1"
    );
}

#[test]
fn feature_configs_parse_to_the_documented_values() {
    let c = load("ldref-F1.cf");
    assert_eq!(c.global.failurecount, 3);
    assert_eq!(c.virtuals[0].failurecount, 3);
    assert_eq!(c.virtuals[0].checktype, CheckType::Connect);
    assert_eq!(c.virtuals[0].checktimeout, secs(2));

    let c = load("ldref-F2.cf");
    assert_eq!(c.virtuals[0].checktype, CheckType::Combined(3));
    assert_eq!(c.global.checkinterval, secs(1));

    let c = load("ldref-F3.cf");
    assert_eq!(
        c.global.fallbackcommand.as_deref(),
        Some("\"/tmp/ldref/features/F3/fbcmd.sh\""),
        "global fallbackcommand keeps its quotes (it goes to the shell)"
    );
    let v = &c.virtuals[0];
    assert_eq!(v.fallbackcommand, c.global.fallbackcommand);
    assert_eq!(
        v.fallback,
        Some(Fallback {
            addr: ip("127.0.0.1"),
            port: 80,
            forward: Forwarding::Masq
        })
    );

    let c = load("ldref-F4.cf");
    assert_eq!(
        c.global.maintenancedir,
        Some(PathBuf::from("/tmp/ldref/features/F4/maint"))
    );

    let c = load("ldref-F5.cf");
    assert!(c.global.autoreload);
    assert_eq!(
        c.global.callback.as_deref(),
        Some("/tmp/ldref/features/F5/cb.sh")
    );
    assert_eq!(c.virtuals[0].reals[1].weight, 3);

    let c = load("ldref-F6.cf");
    let v = &c.virtuals[0];
    assert_eq!(v.checktype, CheckType::External);
    assert_eq!(v.checkcommand, "/tmp/ldref/features/F6/check.sh");
    // gate real: IPVS stores the virtual's port, the check uses the configured one.
    assert_eq!(v.dest_addr(&v.reals[0]), sa("127.0.2.1:80"));
    assert_eq!(v.check_port(&v.reals[0]), Some(8080));
    assert_eq!(v.dest_addr(&v.reals[1]), sa("127.0.2.2:8080"));

    let c = load("ldref-F7.cf");
    assert_eq!(
        c.virtuals[0].dest_addr(&c.virtuals[0].reals[0]),
        sa("127.0.2.1:80")
    );

    let c = load("ldref-F9.cf");
    assert_eq!(c.virtuals.len(), 2);
    assert_eq!(c.virtuals[1].addr, tcp("127.0.0.101:80"));

    let c = load("ldref-F10.cf");
    assert_eq!(c.virtuals[0].service, Service::Http);

    let c = load("ldref-F11.cf");
    assert!(c.global.quiescent && c.global.readdquiescent);

    let c = load("ldref-F12.cf");
    assert_eq!(c.virtuals[0].checktype, CheckType::On);
}

#[test]
fn f8_command_formats_config() {
    let c = load("ldref-F8.cf");
    assert_eq!(c.virtuals.len(), 4);
    let fwm = &c.virtuals[0];
    assert_eq!(
        fwm.addr,
        VirtualAddr::Fwmark {
            mark: 7,
            ipv6: false
        }
    );
    assert_eq!(fwm.service, Service::None);
    assert_eq!(fwm.scheduler, Scheduler::Sh);
    assert_eq!(fwm.schedflags.as_deref(), Some("sh-port"));
    assert_eq!(fwm.persistent, Some(600));
    assert_eq!(
        fwm.netmask,
        Some(Netmask::V4("255.255.255.0".parse().unwrap()))
    );
    assert_eq!(
        dests(fwm),
        vec![
            (sa("127.0.2.1:0"), Forwarding::Gate, 2),
            (sa("127.0.2.2:0"), Forwarding::Ipip, 1)
        ]
    );

    let dns = &c.virtuals[1];
    assert_eq!(
        dns.addr,
        VirtualAddr::Inet {
            protocol: Protocol::Udp,
            addr: sa("127.0.0.100:53")
        },
        "port 53 implies udp"
    );
    assert!(dns.ops);
    assert_eq!(dns.service, Service::Dns);
    let r = &dns.reals[1];
    assert_eq!(
        (r.port, r.weight, r.lower_threshold, r.upper_threshold),
        (5353, 2, 10, 100)
    );

    let https = &c.virtuals[2];
    assert_eq!(https.addr, tcp("127.0.0.100:443"));
    assert_eq!(https.service, Service::Https);
    assert_eq!(https.checktype, CheckType::Off);
    let range: Vec<_> = https.reals.iter().map(|r| https.dest_addr(r)).collect();
    assert_eq!(
        range,
        vec![
            sa("127.0.3.1:443"),
            sa("127.0.3.2:443"),
            sa("127.0.3.3:443")
        ]
    );

    let v6 = &c.virtuals[3];
    assert_eq!(v6.addr, tcp("[2001:db8::100]:80"));
    assert_eq!(v6.netmask, Some(Netmask::V6Prefix(64)));
    assert_eq!(v6.persistent, Some(60));
    assert_eq!(
        dests(v6),
        vec![(sa("[2001:db8::2]:8080"), Forwarding::Masq, 1)]
    );
}

#[test]
fn timeout_and_perf_configs() {
    let c = load("ldref-timeout.cf");
    let v = &c.virtuals[0];
    assert_eq!(v.reals.len(), 21);
    assert_eq!(v.reals[10].addr, ip("127.0.5.1"));
    assert_eq!(v.reals[20].addr, ip("127.0.4.20"));
    assert_eq!((v.checktimeout, v.negotiatetimeout), (secs(3), secs(3)));

    for (name, n, ct, last) in [
        (
            "ldref-perf-50-connect.cf",
            50,
            CheckType::Connect,
            "127.0.1.50",
        ),
        (
            "ldref-perf-50-negotiate.cf",
            50,
            CheckType::Negotiate,
            "127.0.1.50",
        ),
        (
            "ldref-perf-200-connect.cf",
            200,
            CheckType::Connect,
            "127.0.1.200",
        ),
        (
            "ldref-perf-200-negotiate.cf",
            200,
            CheckType::Negotiate,
            "127.0.1.200",
        ),
        (
            "ldref-perf-400-connect.cf",
            400,
            CheckType::Connect,
            "127.0.2.144",
        ),
        (
            "ldref-perf-400-negotiate.cf",
            400,
            CheckType::Negotiate,
            "127.0.2.144",
        ),
    ] {
        let c = load(name);
        let v = &c.virtuals[0];
        assert_eq!(v.reals.len(), n, "{name}");
        assert_eq!(v.checktype, ct, "{name}");
        assert!(!c.global.fork && v.quiescent, "{name}");
        assert_eq!(v.reals.last().map(|r| r.addr), Some(ip(last)), "{name}");
        assert_eq!(v.reals[0].addr, ip("127.0.1.1"), "{name}");
    }
}

#[test]
fn seed_001_blog_config() {
    let c = load("seed-001-ldirectord.cf");
    let g = &c.global;
    assert_eq!((g.checktimeout, g.checkinterval), (Some(secs(3)), secs(1)));
    assert!(g.autoreload && g.quiescent);
    let v = &c.virtuals[0];
    assert_eq!(v.addr, tcp("192.168.0.200:80"));
    assert_eq!(v.scheduler, Scheduler::Rr);
    assert_eq!(v.checkport, Some(80));
    assert_eq!(
        v.fallback,
        Some(Fallback {
            addr: ip("127.0.0.1"),
            port: 80,
            forward: Forwarding::Gate
        })
    );
    assert_eq!(
        dests(v),
        vec![
            (sa("192.168.0.1:80"), Forwarding::Gate, 1),
            (sa("192.168.0.2:80"), Forwarding::Gate, 1)
        ]
    );
}

#[test]
fn seed_001_as_published_is_one_checktimeout_line() {
    // The blog lost its line breaks. ldirectord reads the first digit run of a
    // numeric directive anywhere in the value, so the whole line is
    // checktimeout=3 and nothing else.
    let c = load("seed-001-as-published.cf");
    assert_eq!(c.global.checktimeout, Some(secs(3)));
    assert_eq!(c.global.checkinterval, secs(10));
    assert!(c.virtuals.is_empty());
}

#[test]
fn grammar_tour() {
    let c = load("grammar-tour.cf");
    let g = &c.global;
    assert_eq!(g.checktimeout, Some(secs(4)));
    assert_eq!(g.negotiatetimeout, Some(secs(12)));
    assert_eq!(g.checkinterval, secs(7));
    assert_eq!(g.failurecount, 2);
    assert_eq!(
        g.fallbackcommand.as_deref(),
        Some("\"/usr/local/bin/sorry\" --flag")
    );
    assert_eq!(g.callback.as_deref(), Some("/usr/local/bin/cb"));
    assert_eq!(g.logfile, LogTarget::Syslog("local0".into()));
    assert_eq!(g.execute, vec!["other.cf".to_string()]);
    assert!(g.fork && !g.supervised && g.quiescent && g.readdquiescent && !g.cleanstop);
    assert_eq!(
        g.emailalert.as_deref(),
        Some("ops@example.com, noc@example.com")
    );
    assert_eq!(g.emailalertfreq, secs(3600));
    assert_eq!(
        g.emailalertstatus,
        AlertStatus(AlertStatus::STARTING.0 | AlertStatus::RUNNING.0)
    );
    assert_eq!(g.emailalertfrom.as_deref(), Some("ldirectord@example.com"));
    assert_eq!(g.smtp.as_deref(), Some("mail.example.com"));
    assert_eq!(
        g.maintenancedir,
        Some(PathBuf::from("/var/lib/ldirectord/maint"))
    );
    assert_eq!(c.virtuals.len(), 6);

    let www = &c.virtuals[0];
    assert_eq!(www.addr, tcp("192.0.2.10:80"));
    assert_eq!(
        dests(www),
        vec![
            (sa("10.0.0.1:8080"), Forwarding::Masq, 3),
            (sa("10.0.0.2:8080"), Forwarding::Masq, 3),
            (sa("10.0.0.3:8080"), Forwarding::Masq, 3),
            (sa("10.0.0.9:80"), Forwarding::Gate, 0),
            (sa("10.0.0.10:80"), Forwarding::Masq, 2),
        ]
    );
    assert_eq!(
        (www.reals[0].lower_threshold, www.reals[0].upper_threshold),
        (10, 100)
    );
    assert_eq!(www.reals[3].port, 80, "www resolves as a service name");
    assert_eq!(www.reals[4].request.as_deref(), Some("/health.php"));
    assert_eq!(www.reals[4].receive.as_deref(), Some("OK|ready"));
    assert_eq!(
        www.request_receive(&www.reals[4]),
        ("/health.php", "OK|ready")
    );
    assert_eq!(www.request_receive(&www.reals[0]), ("/status", "alive"));
    assert_eq!(www.virtualhost.as_deref(), Some("www.example.com"));
    assert_eq!(www.httpmethod, HttpMethod::Head);
    assert_eq!(www.scheduler, Scheduler::Wlc);
    assert_eq!(www.persistent, Some(300));
    assert_eq!(www.schedflags.as_deref(), Some("sh-port"));
    assert_eq!(
        www.checkinterval,
        secs(3),
        "fork=yes honours the virtual's own"
    );
    assert_eq!((www.checktimeout, www.negotiatetimeout), (secs(2), secs(2)));
    assert_eq!((www.failurecount, www.risecount), (5, 2));
    assert!(!www.quiescent && www.cleanstop);
    assert_eq!(www.fallbackcommand.as_deref(), Some("/bin/echo fb"));
    assert_eq!(
        www.fallback,
        Some(Fallback {
            addr: ip("192.0.2.254"),
            port: 8080,
            forward: Forwarding::Masq
        })
    );
    assert_eq!(
        www.monitorfile,
        Some(PathBuf::from("/var/log/ldirectord-www.mon"))
    );
    assert_eq!(www.servicename.as_deref(), Some("www"));
    assert_eq!(www.comment.as_deref(), Some("front end"));
    assert_eq!(www.emailalert.as_deref(), Some("web@example.com"));
    assert_eq!(www.emailalertfreq, secs(60));
    assert_eq!(www.emailalertstatus, AlertStatus::ALL);
    assert_eq!(www.smtp.as_deref(), Some("relay.example.com"));

    let dns = &c.virtuals[1];
    assert_eq!(dns.addr.protocol_name(), "udp");
    assert!(dns.ops);
    assert_eq!(dns.request, "/example.com");
    assert_eq!(dns.checkinterval, secs(7));
    assert_eq!(
        (dns.checktimeout, dns.negotiatetimeout),
        (secs(4), secs(12))
    );
    assert_eq!(dns.reals[0].port, 0);
    assert_eq!(
        dns.check_port(&dns.reals[0]),
        Some(53),
        "service default port"
    );
    assert_eq!(dns.fallback.map(|f| f.port), Some(8080));

    let fwm = &c.virtuals[2];
    assert_eq!(fwm.addr.id_str(), "fwm:42");
    assert_eq!(fwm.checktype, CheckType::Combined(3));
    assert_eq!(fwm.service, Service::Smtp);
    assert_eq!(fwm.checkport, Some(2525));
    assert_eq!(
        dests(fwm),
        vec![
            (sa("10.0.2.1:0"), Forwarding::Gate, 1),
            (sa("10.0.2.2:25"), Forwarding::Ipip, 4)
        ]
    );
    assert_eq!(
        fwm.fallback,
        Some(Fallback {
            addr: ip("10.0.2.254"),
            port: 0,
            forward: Forwarding::Masq
        })
    );

    let v6 = &c.virtuals[3];
    assert_eq!(v6.addr, tcp("[2001:db8::10]:443"));
    assert_eq!(v6.addr.to_string(), "[2001:db8::10]:443");
    assert_eq!(v6.service, Service::Https);
    assert_eq!(
        v6.fallback,
        Some(Fallback {
            addr: ip("2001:db8::fe"),
            port: 443,
            forward: Forwarding::Gate
        })
    );

    let ftp = &c.virtuals[4];
    assert_eq!(ftp.service, Service::Ftp);
    assert_eq!(ftp.login, "anonymous");
    assert_eq!(ftp.passwd, "ldirectord@director1");
    assert_eq!(ftp.checkcommand, "/usr/local/bin/check ftp");

    let sip = &c.virtuals[5];
    assert_eq!(sip.addr.protocol_name(), "udp");
    assert_eq!(sip.service, Service::Sip, "5060 defaults to sip");
    assert_eq!(sip.checktype, CheckType::Off);
}

#[test]
fn defaults_are_the_codes_not_the_man_pages() {
    let c = parse_str("t.cf", "virtual=10.0.0.1:8080\n\treal=10.0.0.2:8080 masq\n").unwrap();
    let v = &c.virtuals[0];
    assert!(!v.quiescent);
    assert!(v.cleanstop);
    assert_eq!(v.checktype, CheckType::Negotiate);
    assert_eq!(v.service, Service::None);
    assert_eq!(v.scheduler, Scheduler::Wrr);
    assert_eq!(v.request, "/");
    assert_eq!(v.receive, "");
    assert_eq!(v.checkcommand, "/bin/true");
    assert_eq!((v.checktimeout, v.negotiatetimeout), (secs(5), secs(30)));
    assert_eq!(v.checkinterval, secs(10));
    assert_eq!((v.failurecount, v.checkcount, v.risecount), (1, 1, 1));
    assert_eq!(
        c.global.logfile,
        LogTarget::File("/var/log/ldirectord.log".into())
    );
    assert!(c.warnings.is_empty());
}

#[test]
fn blank_line_ends_a_block_and_later_indented_lines_are_unknown() {
    let e = errors("virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n\n\tservice=http\n");
    assert_eq!(
        e,
        vec!["t.cf:4: Unknown command \tservice=http".to_string()]
    );
}

#[test]
fn globals_must_start_in_column_zero_and_take_no_trailing_text() {
    assert_eq!(
        errors(" quiescent=yes\n"),
        vec!["t.cf:1: Unknown command  quiescent=yes"]
    );
    assert_eq!(
        errors("quiescent=yes \n"),
        vec!["t.cf:1: quiescent must be 'yes' or 'no'"]
    );
    assert_eq!(
        errors("quiescent=yes # c\n"),
        vec!["t.cf:1: quiescent must be 'yes' or 'no'"]
    );
    assert_eq!(
        errors("checkinterval=0\n"),
        vec!["t.cf:1: invalid check interval value"]
    );
    assert_eq!(
        errors("logfile=/var/log/x\n"),
        vec!["t.cf:1: Unknown command logfile=/var/log/x"]
    );
    assert_eq!(
        errors("logfile=\"nosuchfacility\"\n"),
        vec!["t.cf:1: unable to open logfile: nosuchfacility"]
    );
    assert_eq!(
        errors("timeout=5\n"),
        vec!["t.cf:1: timeout directive deprecated in favour of checktimeout and negotiatetimeout"]
    );
    assert_eq!(
        errors("connecttimeout=5\n"),
        vec!["t.cf:1: connecttimeout directive deprecated in favour of negotiatetimeout"]
    );
    assert_eq!(
        errors("supervisedx\n"),
        vec!["t.cf:1: supervised must be 'yes' or 'no'"]
    );
}

#[test]
fn bare_supervised_and_checkcount_warn() {
    let c = parse_str("t.cf", "supervised\ncheckcount=3\n").unwrap();
    assert!(c.global.supervised);
    assert_eq!(c.global.checkcount, 3);
    let w: Vec<String> = c.warnings.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        w,
        vec![
            "t.cf:1: please update your config not to use a bare supervised directive",
            "t.cf:2: checkcount option is deprecated and slated for removal.  please see 'failurecount'"
        ]
    );
}

#[test]
fn virtual_checkinterval_without_fork_warns_and_is_ignored() {
    let c = parse_str(
        "t.cf",
        "checkinterval=2\nvirtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n\tcheckinterval=9\n",
    )
    .unwrap();
    assert_eq!(c.virtuals[0].checkinterval, secs(2));
    assert_eq!(
        c.warnings[0].to_string(),
        "t.cf: checkinterval in virtual service tcp:10.0.0.1:80 ignored when fork=no"
    );
}

#[test]
fn block_errors_carry_their_own_line_and_all_are_collected() {
    let text = "\
virtual=10.0.0.1:80
\treal=10.0.0.2:80 tunnel
\treal=10.0.0.300:80 gate
\treal=10.0.0.9->10.0.0.3:80 gate
\treal=10.0.0.4:80 gate 5 extra
\tscheduler=fastest
\tscheduler=RR
\tchecktype=sometimes
\tservice=gopher
\tprotocol=sctp
\tnetmask=24
\tquiescent=maybe
\trequest=index.html
\treceive=\"(unclosed\"
\tcheckport=70000
\tfrobnicate=1
\treal6=[::1]:80 gate
virtual=10.0.0.1:80
\treal=10.0.0.2:80 gate
virtual=[2001:db8::1]:80
virtual6=[2001:db8::1::2]:80
virtual=not/an/address
";
    let e = errors(text);
    let want = vec![
        "t.cf:2: forward method must be gate, masq or ipip",
        "t.cf:3: invalid address (10.0.0.300) for real server (could not resolve host)",
        "t.cf:4: Invalid Range: 10.0.0.9-10.0.0.3: First value must be greater than or equal to the second value",
        "t.cf:5: Invalid real server line, around \" extra\"",
        "t.cf:6: unknown scheduler \"fastest\"",
        "t.cf:7: invalid scheduler, should be only lowercase letters (a-z)",
        "t.cf:8: checktype must be \"connect\", \"negotiate\", \"on\", \"off\", \"ping\", \"external\", \"external-perl\" or a positive number",
        "t.cf:9: service must be dns, ftp, http, https, http_proxy, imap, imaps, ldap, ldaps, mysql, nntp, none, oracle, pop, pops, radius, pgsql, simpletcp, sip, smtp or submission",
        "t.cf:10: protocol must be tcp or udp if the virtual service is an address and port",
        "t.cf:11: invalid netmask: dotted quad notation is required",
        "t.cf:12: quiescent must be 'yes' or 'no'",
        "t.cf:13: Unknown command \"\trequest=index.html\"",
        "t.cf:14: receive is not a supported regular expression: regex parse error:\n    (unclosed\n    ^\nerror: unclosed group",
        "t.cf:15: checkport must be in range 1..65536",
        "t.cf:16: Unknown command \"\tfrobnicate=1\"",
        "t.cf:17: cannot specify \"real6\" here.  please use \"real\" instead",
        "t.cf:18: duplicate virtual server",
        "t.cf:20: cannot specify an IPv6 address here. please use \"virtual6\" instead.",
        "t.cf:21: invalid ipv6 address for virtual server",
        "t.cf:22: invalid address for virtual server",
    ];
    assert_eq!(e, want);
}

#[test]
fn unresolvable_names_are_errors_offline() {
    assert_eq!(
        errors("virtual=www.example.com:80\n\treal=10.0.0.2:80 gate\n"),
        vec!["t.cf:1: invalid address for virtual service"]
    );
    assert_eq!(
        errors("virtual=10.0.0.1:80\n\treal=web1:80 gate\n"),
        vec!["t.cf:2: invalid address (web1) for real server (could not resolve host)"]
    );
    assert_eq!(
        errors("virtual=10.0.0.1:80\n\treal=10.0.0.2:nosuchport gate\n"),
        vec!["t.cf:2: invalid port (nosuchport) for real server (could not resolve port)"]
    );
    assert_eq!(
        errors("fallback=sorry.example.com:80\n"),
        vec!["t.cf:1: invalid IPv4 address or could not resolve for fallback server: sorry.example.com"]
    );
    assert_eq!(
        errors("virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::2]->[2001:db8::9]:80 masq\n"),
        vec!["t.cf:2: Address range for IPv6 is not supported yet"]
    );
}

#[test]
fn names_resolve_through_the_given_resolver() {
    let mut r = StaticResolver::offline();
    r.load_hosts("192.0.2.80 www.example.com\n10.9.9.1 web1\n10.9.9.3 web3\n");
    let c = parse(
        Path::new("t.cf"),
        "virtual=www.example.com:https\n\treal=web1->web3:https masq\n",
        &ParseOptions {
            resolver: &r,
            hostname: "h",
        },
    )
    .unwrap();
    let v = &c.virtuals[0];
    assert_eq!(v.addr, tcp("192.0.2.80:443"));
    assert_eq!(
        v.reals.iter().map(|r| v.dest_addr(r)).collect::<Vec<_>>(),
        vec![sa("10.9.9.1:443"), sa("10.9.9.2:443"), sa("10.9.9.3:443")]
    );
}

#[test]
fn perl_regex_quirks_are_reproduced() {
    // Greedy quotes: receive="a" x "b" is `a" x "b`.
    let c = parse_str(
        "t.cf",
        "virtual=10.0.0.1:80\n    real=10.0.0.2:80 gate\n    receive=\"a\" x \"b\"\n",
    )
    .unwrap();
    assert_eq!(c.virtuals[0].receive, "a\" x \"b");
    // `#` starts a comment inside a block even within quotes.
    let c = parse_str(
        "t.cf",
        "virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n\treceive=\"a#b\"\n",
    );
    assert_eq!(
        c.unwrap_err().to_string(),
        "t.cf:3: Unknown command \"\treceive=\"a#b\"\""
    );
    // checktype: any digit makes it "combined"; a word must match exactly.
    let c = parse_str(
        "t.cf",
        "virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n\tchecktype=connect \n",
    )
    .unwrap();
    assert_eq!(c.virtuals[0].checktype, CheckType::Connect);
    // Per-real request/receive with thresholds.
    let c = parse_str(
        "t.cf",
        "virtual=10.0.0.1:80\n\treal=10.0.0.2:80 masq 3 \"/a\" \"b c\" l:5 u:9\n",
    )
    .unwrap();
    let r = &c.virtuals[0].reals[0];
    assert_eq!(
        (
            r.request.as_deref(),
            r.receive.as_deref(),
            r.lower_threshold,
            r.upper_threshold
        ),
        (Some("/a"), Some("b c"), 5, 9)
    );
    // CRLF files: the '\r' is part of global values, as in Perl.
    assert_eq!(
        errors("quiescent=yes\r\n"),
        vec!["t.cf:1: quiescent must be 'yes' or 'no'"]
    );
}

#[test]
fn duplicate_reals_as_ipvs_stores_them_warn_and_keep_the_first() {
    let c = parse_str(
        "t.cf",
        "virtual=10.0.0.1:80\n\treal=10.0.0.2:8080 gate\n\treal=10.0.0.2:8081 gate 3\n",
    )
    .unwrap();
    assert_eq!(c.virtuals[0].reals.len(), 1);
    assert_eq!(
        c.warnings[0].to_string(),
        "t.cf:3: real server 10.0.0.2:8081 is already in virtual service 10.0.0.1:80 as 10.0.0.2:80; ignored"
    );
}

#[test]
fn global_fallback_follows_the_virtuals_protocol_and_port() {
    let c = parse_str(
        "t.cf",
        "fallback=127.0.0.1\nvirtual=10.0.0.1:53\n\treal=10.0.0.2:53 masq\nvirtual=10.0.0.1:443\n\treal=10.0.0.2:443 masq\nvirtual=5\n\treal=10.0.0.2 gate\n",
    )
    .unwrap();
    let ports: Vec<Option<u16>> = c
        .virtuals
        .iter()
        .map(|v| v.fallback.map(|f| f.port))
        .collect();
    assert_eq!(ports, vec![Some(53), Some(443), None]);
}

#[test]
fn emailalertstatus_rules() {
    assert_eq!(
        errors("emailalertstatus=none, running\n"),
        vec!["t.cf:1: invalid email alert status: \"running\" specified with \"none\""]
    );
    assert_eq!(
        errors("emailalertstatus=sometimes\n"),
        vec!["t.cf:1: invalid email alert status at: \"sometimes\""]
    );
    let c = parse_str("t.cf", "emailalertstatus=none\n").unwrap();
    assert_eq!(c.global.emailalertstatus, AlertStatus::NONE);
}

#[test]
fn garbage_never_panics() {
    let inputs = [
        "virtual=",
        "virtual=\n\treal=",
        "virtual=1:1\n\treal=->\n",
        "virtual6=[::]:0\n\treal6=[::]:0 gate 99999999999999999999\n",
        "virtual=4294967296\n",
        "\u{feff}virtual=1.2.3.4:80\n",
        "virtual=1.2.3.4:80\n\t\u{e9}\u{e9}\n     \n",
        "fallback=:::: masq\n",
        "checkinterval=99999999999999999999999\n",
    ];
    for i in inputs {
        let _ = parse_str("t.cf", i);
    }
}
