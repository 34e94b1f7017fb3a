//! ping (needs a raw or ping socket) and external / external-perl commands.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::*;
use ld_checks::Checker;
use ldirector::director::{AttemptKind, CheckMethod};

fn ping_spec(target: &str, attempts: u32, timeout_ms: u64) -> ldirector::director::CheckSpec {
    let mut s = spec(
        CheckMethod::Ping { attempts },
        format!("{target}:0").parse().unwrap(),
    );
    s.port = None;
    s.checktimeout = Duration::from_millis(timeout_ms);
    s
}

fn can_ping() -> bool {
    use socket2::{Domain, Protocol, Socket, Type};
    Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).is_ok()
        || Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)).is_ok()
}

#[tokio::test]
async fn ping_loopback_many_at_once() {
    if !require(
        can_ping(),
        "no raw ICMP socket and no ping socket (not root?)",
    ) {
        return;
    }
    let c = std::sync::Arc::new(Checker::new().unwrap());
    let r = c
        .run(&ping_spec("127.0.0.1", 1, 2000), AttemptKind::Full)
        .await;
    assert!(r.up, "{}", r.detail);
    // Many addresses and many checks per address share one socket and are
    // told apart by source and sequence number.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..500u32 {
        let c = c.clone();
        let addr = format!("127.0.{}.{}", 10 + i % 3, 1 + i % 50);
        set.spawn(async move { c.run(&ping_spec(&addr, 1, 3000), AttemptKind::Full).await });
    }
    let mut down = Vec::new();
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        if !r.up {
            down.push(r.detail);
        }
    }
    assert!(
        down.is_empty(),
        "{} down: {:?}",
        down.len(),
        &down[..down.len().min(3)]
    );
}

#[tokio::test]
async fn ping_ipv6_loopback() {
    use socket2::{Domain, Protocol, Socket, Type};
    let v6 = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).is_ok()
        || Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::ICMPV6)).is_ok();
    let lo6 = std::net::UdpSocket::bind("[::1]:0").is_ok();
    if !require(v6 && lo6, "no ICMPv6 socket or no ::1") {
        return;
    }
    let c = Checker::new().unwrap();
    let r = c.run(&ping_spec("[::1]", 1, 2000), AttemptKind::Full).await;
    assert!(r.up, "{}", r.detail);
}

/// In a private network namespace (this thread only) with echo replies
/// switched off, every attempt waits its timeout and the check is down.
#[test]
fn ping_without_reply_is_down_after_all_attempts() {
    if !require(is_root(), "needs root for a private network namespace") {
        return;
    }
    let t = std::thread::spawn(|| {
        // SAFETY: unshare affects only this thread's namespaces.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(format!("unshare: {}", std::io::Error::last_os_error()));
        }
        let ip = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .map_err(|e| format!("ip: {e}"))?;
        if !ip.success() {
            return Err("ip link set lo up failed".into());
        }
        // /proc/sys/net is this thread's namespace's view.
        std::fs::write("/proc/sys/net/ipv4/icmp_echo_ignore_all", "1")
            .map_err(|e| format!("sysctl: {e}"))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let c = Checker::new().unwrap();
            let s = ping_spec("127.0.0.1", 3, 200);
            let start = std::time::Instant::now();
            let r = c.run(&s, AttemptKind::Full).await;
            let took = start.elapsed();
            assert!(!r.up);
            assert!(r.detail.contains("3 attempts"), "{}", r.detail);
            // Three waits of 200 ms, bounded by the whole check's 600 ms.
            assert!(took >= Duration::from_millis(550), "{took:?}");
            std::fs::write("/proc/sys/net/ipv4/icmp_echo_ignore_all", "0").unwrap();
            let r = c.run(&s, AttemptKind::Full).await;
            assert!(r.up, "{}", r.detail);
        });
        Ok(())
    });
    t.join().unwrap().unwrap();
}

fn script(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.to_string_lossy().into_owned()
}

fn args() -> [String; 4] {
    ["10.0.0.1", "80", "127.0.0.1", "8080"].map(String::from)
}

fn ext_spec(method: CheckMethod) -> ldirector::director::CheckSpec {
    let mut s = spec(method, "127.0.0.1:8080".parse().unwrap());
    s.checktimeout = Duration::from_secs(5);
    s
}

#[tokio::test]
async fn external_gets_the_four_arguments_and_exit_status_decides() {
    let dir = TempDir::new();
    let d = dir.path();
    let c = Checker::new().unwrap();
    let check = script(
        d,
        "check.sh",
        "#!/bin/sh\n[ \"$#\" = 4 ] && [ \"$1 $2 $3 $4\" = \"10.0.0.1 80 127.0.0.1 8080\" ]\n",
    );
    let s = ext_spec(CheckMethod::External {
        command: check.clone(),
        args: args(),
    });
    let r = c.run(&s, AttemptKind::Full).await;
    assert!(r.up, "{}", r.detail);
    let s = ext_spec(CheckMethod::External {
        command: check,
        args: ["10.0.0.1", "80", "127.0.0.2", "8080"].map(String::from),
    });
    assert!(!c.run(&s, AttemptKind::Full).await.up);
    // No shell: a command line with a space is one (missing) program.
    let s = ext_spec(CheckMethod::External {
        command: "/bin/true --x".into(),
        args: args(),
    });
    let r = c.run(&s, AttemptKind::Full).await;
    assert!(!r.up && r.detail.contains("cannot run"), "{}", r.detail);
}

#[tokio::test]
async fn external_perl_runs_the_file_with_perl() {
    if !require(Path::new("/usr/bin/perl").exists(), "perl not installed") {
        return;
    }
    let dir = TempDir::new();
    let c = Checker::new().unwrap();
    let pl = dir.path().join("check.pl");
    std::fs::write(
        &pl,
        "exit 0 if \"@ARGV\" eq \"10.0.0.1 80 127.0.0.1 8080\";\nexit 3;\n",
    )
    .unwrap();
    let s = ext_spec(CheckMethod::ExternalPerl {
        command: pl.to_string_lossy().into_owned(),
        args: args(),
    });
    assert!(c.run(&s, AttemptKind::Full).await.up);
    let dies = dir.path().join("dies.pl");
    std::fs::write(&dies, "die \"broken\";\n").unwrap();
    let s = ext_spec(CheckMethod::ExternalPerl {
        command: dies.to_string_lossy().into_owned(),
        args: args(),
    });
    assert!(!c.run(&s, AttemptKind::Full).await.up);
}

/// State letter of a process, `None` when it is gone.
fn proc_state(pid: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

#[tokio::test]
async fn external_killed_on_timeout_with_its_children() {
    let dir = TempDir::new();
    let d = dir.path();
    let pids = d.join("pids");
    // The script forks a grandchild and ignores TERM: only killing the
    // whole group with KILL ends both.
    let hang = script(
        d,
        "hang.sh",
        &format!(
            "#!/bin/sh\ntrap '' TERM\nsleep 300 &\necho $$ $! > {p}.tmp\nmv {p}.tmp {p}\nwait\n",
            p = pids.display()
        ),
    );
    let c = Checker::new().unwrap();
    let mut s = ext_spec(CheckMethod::External {
        command: hang,
        args: args(),
    });
    s.checktimeout = Duration::from_millis(800);
    let r = c.run(&s, AttemptKind::Full).await;
    assert!(!r.up && r.detail.contains("timed out"), "{}", r.detail);
    let text = std::fs::read_to_string(&pids).expect("script wrote its pids");
    let ids: Vec<String> = text.split_whitespace().map(String::from).collect();
    assert_eq!(ids.len(), 2, "{text}");
    // The script (our child) must be reaped by us; the orphaned grandchild
    // must be dead (gone, or a zombie waiting for init to reap it).
    let ok = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let script_gone = proc_state(&ids[0]).is_none();
            let grandchild_dead = matches!(proc_state(&ids[1]), None | Some('Z') | Some('X'));
            if script_gone && grandchild_dead {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        ok.is_ok(),
        "left behind: script {:?}, grandchild {:?}",
        proc_state(&ids[0]),
        proc_state(&ids[1])
    );
}
