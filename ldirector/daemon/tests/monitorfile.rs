//! `monitorfile=` end to end: the real HTTP check against an in-test server
//! on loopback, the daemon loop, and the writer thread appending
//! ldirectord's lines; then logrotate and a reload that moves the file.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ldirector::backend::memory::MemoryBackend;
use ldirectord::control::Query;
use ldirectord::probe::CheckerProbe;
use ldirectord::RunOptions;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::oneshot;

/// Answers `200 ldi-ok` while `up`, `503` otherwise.
async fn serve(l: tokio::net::TcpListener, up: Arc<AtomicBool>) {
    loop {
        let Ok((mut c, _)) = l.accept().await else {
            continue;
        };
        let up = up.load(Ordering::Relaxed);
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let resp: &[u8] = if up {
                b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\nldi-ok\n"
            } else {
                b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy\n"
            };
            let _ = c.write_all(resp).await;
        });
    }
}

/// Poll `path` until one of its lines satisfies `want` (10 s deadline).
async fn line_in(path: &Path, want: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| want(l)) {
            return l.to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no such line in {}:\n{text}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_results_are_appended_in_ldirectords_format() {
    let dir = tempfile::tempdir().unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let up = Arc::new(AtomicBool::new(true));
    let server = tokio::spawn(serve(l, up.clone()));
    let log = dir.path().join("ldimon.log");
    let cf_text = |file: &Path| {
        format!(
            "checktimeout=2\nnegotiatetimeout=2\ncheckinterval=1\nquiescent=yes\n\
             virtual=127.0.0.100:80\n\treal=127.0.0.1:{port} masq\n\tchecktype=negotiate\n\
             \tservice=http\n\trequest=\"index.html\"\n\treceive=\"ldi-ok\"\n\
             \tmonitorfile=\"{}\"\n",
            file.display()
        )
    };
    let cf = dir.path().join("ldimon.cf");
    std::fs::write(&cf, cf_text(&log)).unwrap();
    let config = ldirectord::load::load(&cf).unwrap_or_else(|e| panic!("{e}"));
    let probe = CheckerProbe(Arc::new(ld_checks::Checker::new().unwrap()));
    let opts = RunOptions::new(
        cf.clone(),
        Box::new(MemoryBackend::default()),
        Arc::new(probe),
    );
    let ctl = opts.controller();
    let (stop, stopped) = oneshot::channel::<()>();
    let daemon = tokio::spawn(ldirectord::run(
        config,
        opts,
        async move {
            let _ = stopped.await;
        },
        || {},
    ));

    let id = format!("negotiate http tcp 127.0.0.1 {port} 1 masq /index.html ldi-ok");
    let first = line_in(&log, |l| l.ends_with("[up] -")).await;
    // `[Mon Nov 23 11:28:55 2026] [pid] <id> [up] -`: scalar localtime is
    // 24 characters.
    let (time, rest) = first.split_at(26);
    assert!(time.starts_with('[') && time.ends_with(']'), "{first}");
    assert_eq!(time.as_bytes()[14], b':', "{first}");
    assert_eq!(
        rest,
        format!(" [{}] {id} [up] -", std::process::id()),
        "{first}"
    );

    up.store(false, Ordering::Relaxed);
    let down = line_in(&log, |l| l.contains("[down]")).await;
    assert!(down.contains(&format!("] {id} [down] ")), "{down}");
    assert!(
        !down.ends_with("[down] -"),
        "a failed check says why: {down}"
    );

    // logrotate: the file is moved away; the next lines start a new one.
    let rotated = dir.path().join("ldimon.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    up.store(true, Ordering::Relaxed);
    line_in(&log, |l| l.ends_with("[up] -")).await;

    // A reload that names another file: results go there.
    let moved = dir.path().join("ldimon2.log");
    std::fs::write(&cf, cf_text(&moved)).unwrap();
    assert_eq!(ctl.query(Query::Reload).await.as_deref(), Some("ok\n"));
    line_in(&moved, |l| l.contains(&id)).await;

    let _ = stop.send(());
    daemon.await.unwrap().unwrap();
    server.abort();
}
