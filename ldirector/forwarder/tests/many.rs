//! Thousands of concurrent connections through the forwarder, and every
//! file descriptor back afterwards. Its own test binary: the fd count of
//! the process must not be disturbed by other tests.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use ldirector::backend::Backend;
use ldirector::config::Scheduler;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Each connection costs 3 fds here (client, forwarder's two sockets, real
/// server) plus up to 2 pipes (4 fds) while data flows.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    lim.rlim_cur
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_concurrent_connections_leak_no_fds() {
    let limit = raise_fd_limit();
    // Leave room for the pipes of connections that are moving data.
    let n: usize = ((limit.saturating_sub(500)) / 8).clamp(200, 2000) as usize;
    let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (a, _ta) = tcp_real(lo, "A").await;
    let (b, _tb) = tcp_real(lo, "B").await;
    let v = vip(30, 18030);
    let mut fwd = forwarder();
    fwd.apply(&[
        add_service(tcp(v), Scheduler::Wlc),
        add_dest(tcp(v), a, 1),
        add_dest(tcp(v), b, 1),
    ])
    .unwrap();
    // Warm up: the runtime's and the pipe pool's own fds exist before the
    // baseline is taken.
    for _ in 0..4 {
        connect(v).await.unwrap().echo_and_close(b"warm").await;
    }
    until(&mut fwd, "warm-up closed", |s| {
        conns(s, a) == Some((0, 0)) && conns(s, b) == Some((0, 0))
    })
    .await;
    let before = open_fds();
    let pooled_before = ld_forwarder::pooled_pipes();

    let mut clients = Vec::with_capacity(n);
    let t0 = Instant::now();
    for _ in 0..n {
        clients.push(connect(v).await.expect("connect"));
    }
    let s = until(&mut fwd, "all established", |s| {
        let (aa, ai) = conns(s, a).unwrap_or_default();
        let (ba, bi) = conns(s, b).unwrap_or_default();
        aa + ba == n as u32 && ai + bi == 0
    })
    .await;
    // wlc with equal weights splits them evenly.
    let (aa, _) = conns(&s, a).unwrap();
    assert!((aa as usize).abs_diff(n / 2) <= 1, "{aa} of {n} on A");
    assert!(
        open_fds() >= before + 3 * n,
        "the connections hold their fds"
    );

    let echoes = clients.into_iter().enumerate().map(|(i, c)| {
        tokio::spawn(async move { (i, c.echo_and_close(format!("c{i}").as_bytes()).await) })
    });
    for e in echoes {
        let (i, back) = e.await.unwrap();
        assert_eq!(back, format!("c{i}").as_bytes());
    }
    until(&mut fwd, "all closed", |s| {
        conns(s, a) == Some((0, 0)) && conns(s, b) == Some((0, 0))
    })
    .await;
    // Sockets are closed when their tasks finish; what remains is the idle
    // pipes the pool keeps for reuse, two fds each.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now_fds = open_fds();
        let pooled = ld_forwarder::pooled_pipes().saturating_sub(pooled_before);
        if now_fds == before + 2 * pooled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "fds leaked: {before} before, {now_fds} after, {pooled} more pooled pipes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        fwd.snapshot().unwrap().services[0].stats.conns,
        4 + n as u64
    );
    eprintln!("{n} concurrent connections in {:?}", t0.elapsed());
}
