//! `monitorfile=`: one line per check result, as ldirectord 4.12 appends
//! them (`service_set` with `do_log`):
//!
//! ```text
//! [Mon Nov 23 11:28:55 2026] [4242] connect tcp 127.0.0.2 8080 1 masq / [up] -
//! ```
//!
//! i.e. `[<scalar localtime>] [<pid>] <real id, runs of ':' as one space,
//! no '\'> [up|down] <message, '%' '|' CR LF as %xx>`, for every result
//! (not only changes), in the monitorfile of every virtual holding the real.
//! The message is ours: `-` when up (4.12 writes the HTTP status line,
//! `200 OK`, for http and `-` for most others), the check's reason when
//! down (4.12 often writes `-`), `timeout`, or `Server in maintenance` as
//! 4.12. Unlike 4.12, an unwritable file is logged, not fatal, and is not
//! checked while parsing.
//!
//! The daemon loop only formats the line and hands it to a writer thread
//! through a bounded channel: a full channel drops the line (counted, and
//! reported by the loop), so a slow disk never delays a check. The writer
//! keeps its files open, reopens them when asked (reload) and when the path
//! no longer names the open file (logrotate moved or removed it).

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ldirector::config::{fmt_ip, CheckType, Config, RealServer, VirtualAddr, VirtualService};
use ldirector::director::{CheckId, MemberInfo};

/// Lines that may wait for the writer.
pub const QUEUE: usize = 65_536;
/// How often an open file is compared with what its path names.
const ROTATE_CHECK: Duration = Duration::from_secs(1);

/// ldirectord's `get_real_id_str`, as written to the monitorfile.
pub fn real_id(v: &VirtualService, r: &RealServer) -> String {
    let check = match v.checktype {
        CheckType::Negotiate => format!("negotiate:{}", v.service.name()),
        CheckType::Combined(_) => format!("combined:{}", v.service.name()),
        CheckType::External => format!("external:{}", v.checkcommand),
        CheckType::ExternalPerl => format!("external-perl:{}", v.checkcommand),
        other => other.name(),
    };
    let (request, receive) = v.request_receive(r);
    let raw = format!(
        "{check}:{}:{}:{}:{}:{}:{}:{}:{request}:{receive}",
        v.addr.protocol_name(),
        fmt_ip(r.addr),
        r.port,
        v.virtualhost.as_deref().unwrap_or(""),
        v.checkport.map(|p| p.to_string()).unwrap_or_default(),
        r.weight,
        r.forward.name(),
    );
    // `tr/:/ /s` then `s/\\//g` (the request and receive were quotemeta'd,
    // so every backslash goes).
    let mut out = String::with_capacity(raw.len());
    let mut colon = false;
    for c in raw.chars() {
        match c {
            ':' if colon => {}
            ':' => {
                colon = true;
                out.push(' ');
            }
            '\\' => {}
            c => {
                colon = false;
                out.push(c);
            }
        }
    }
    out
}

/// `%`, `|`, CR and LF as `%xx`; an empty message is `-`.
pub fn escape_msg(msg: &str) -> String {
    if msg.is_empty() {
        return "-".into();
    }
    let mut out = String::with_capacity(msg.len());
    for c in msg.chars() {
        match c {
            '%' | '|' | '\r' | '\n' => out.push_str(&format!("%{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

pub fn line(time: &str, pid: u32, real_id: &str, up: bool, msg: &str) -> String {
    let state = if up { "up" } else { "down" };
    format!("[{time}] [{pid}] {real_id} [{state}] {}\n", escape_msg(msg))
}

/// One monitorfile line to write for a check's results.
struct Target {
    path: Arc<Path>,
    virt: VirtualAddr,
    configured: SocketAddr,
    real_id: String,
}

/// Which monitorfiles a check's results go to; empty when no virtual has
/// one, so the per-result cost is then one map lookup.
#[derive(Default)]
pub struct Index {
    by_check: HashMap<CheckId, Vec<Target>>,
}

impl Index {
    pub fn build(config: &Config, members: &[MemberInfo]) -> Index {
        let mut by_check: HashMap<CheckId, Vec<Target>> = HashMap::new();
        let with_file: HashMap<VirtualAddr, (&VirtualService, Arc<Path>)> = config
            .virtuals
            .iter()
            .filter_map(|v| Some((v.addr, (v, Arc::from(v.monitorfile.as_deref()?)))))
            .collect();
        if with_file.is_empty() {
            return Index { by_check };
        }
        let mut reals: HashMap<(VirtualAddr, SocketAddr), &RealServer> = HashMap::new();
        for (v, _) in with_file.values() {
            for r in &v.reals {
                reals
                    .entry((v.addr, SocketAddr::new(r.addr, r.port)))
                    .or_insert(r);
            }
        }
        for m in members {
            let (Some(id), Some((v, path))) = (m.check, with_file.get(&m.virt)) else {
                continue;
            };
            let Some(r) = reals.get(&(m.virt, m.configured)) else {
                continue;
            };
            by_check.entry(id).or_default().push(Target {
                path: path.clone(),
                virt: m.virt,
                configured: m.configured,
                real_id: real_id(v, r),
            });
        }
        Index { by_check }
    }

    pub fn is_empty(&self) -> bool {
        self.by_check.is_empty()
    }
}

struct Msg {
    path: Arc<Path>,
    line: String,
}

/// The loop's end of the writer.
pub struct MonitorLog {
    tx: Option<SyncSender<Msg>>,
    reopen: Arc<AtomicBool>,
    dropped: u64,
    reported: u64,
    thread: Option<JoinHandle<()>>,
    pid: u32,
}

impl MonitorLog {
    pub fn start() -> std::io::Result<MonitorLog> {
        Self::start_with(ROTATE_CHECK)
    }

    fn start_with(rotate_check: Duration) -> std::io::Result<MonitorLog> {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let reopen = Arc::new(AtomicBool::new(false));
        let r = reopen.clone();
        let thread = std::thread::Builder::new()
            .name("monitorfile".into())
            .spawn(move || writer(rx, &r, rotate_check))?;
        Ok(MonitorLog {
            tx: Some(tx),
            reopen,
            dropped: 0,
            reported: 0,
            thread: Some(thread),
            pid: std::process::id(),
        })
    }

    /// Lines for one check result (`maintenance` = the members of it that
    /// are drained, logged down as "Server in maintenance").
    pub fn result(
        &mut self,
        index: &Index,
        id: CheckId,
        up: bool,
        msg: &str,
        in_maintenance: impl Fn(&VirtualAddr, &SocketAddr) -> bool,
    ) {
        let Some(targets) = index.by_check.get(&id) else {
            return;
        };
        let time = crate::logging::ctime_now();
        for t in targets {
            let line = if in_maintenance(&t.virt, &t.configured) {
                line(&time, self.pid, &t.real_id, false, "Server in maintenance")
            } else {
                line(&time, self.pid, &t.real_id, up, if up { "" } else { msg })
            };
            self.send(Msg {
                path: t.path.clone(),
                line,
            });
        }
    }

    fn send(&mut self, m: Msg) {
        let Some(tx) = &self.tx else {
            return;
        };
        match tx.try_send(m) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => self.dropped += 1,
        }
    }

    /// After a reload: close every file, open again at the next line.
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }

    /// Lines dropped since the last call (the loop warns with the total).
    pub fn take_dropped(&mut self) -> Option<(u64, u64)> {
        let new = self.dropped - self.reported;
        self.reported = self.dropped;
        (new > 0).then_some((new, self.dropped))
    }

    /// Write what is queued and stop the writer (blocking: call off the
    /// loop or at the end).
    pub fn close(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Open {
    file: File,
    dev_ino: (u64, u64),
    checked: Instant,
}

fn open(path: &Path) -> std::io::Result<Open> {
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    let m = file.metadata()?;
    Ok(Open {
        file,
        dev_ino: (m.dev(), m.ino()),
        checked: Instant::now(),
    })
}

/// Does `path` still name the file we have open?
fn same_file(path: &Path, o: &Open) -> bool {
    std::fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == o.dev_ino)
}

fn writer(rx: Receiver<Msg>, reopen: &AtomicBool, rotate_check: Duration) {
    let mut files: HashMap<PathBuf, Open> = HashMap::new();
    let mut failing: HashMap<PathBuf, Instant> = HashMap::new();
    while let Ok(first) = rx.recv() {
        // Group what is queued by file: one write per file per batch.
        let mut batch: HashMap<Arc<Path>, String> = HashMap::new();
        let mut add = |m: Msg| batch.entry(m.path).or_default().push_str(&m.line);
        add(first);
        while let Ok(m) = rx.try_recv() {
            add(m);
        }
        if reopen.swap(false, Ordering::Relaxed) {
            files.clear();
        }
        let now = Instant::now();
        for (path, text) in batch {
            if let Some(o) = files.get_mut(path.as_ref()) {
                if now.duration_since(o.checked) >= rotate_check {
                    o.checked = now;
                    if !same_file(&path, o) {
                        files.remove(path.as_ref());
                    }
                }
            }
            let result = match files.get_mut(path.as_ref()) {
                Some(o) => o.file.write_all(text.as_bytes()),
                None => open(&path).and_then(|mut o| {
                    o.file.write_all(text.as_bytes())?;
                    files.insert(path.to_path_buf(), o);
                    Ok(())
                }),
            };
            match result {
                Ok(()) => {
                    if failing.remove(path.as_ref()).is_some() {
                        tracing::info!(file = %path.display(),
                            "Writing to monitorfile '{}' works again", path.display());
                    }
                }
                Err(e) => {
                    files.remove(path.as_ref());
                    // ldirectord dies here; we keep checking and say so
                    // once a minute per file.
                    let due = failing
                        .get(path.as_ref())
                        .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(60));
                    if due {
                        failing.insert(path.to_path_buf(), now);
                        tracing::error!(file = %path.display(), error = %e,
                            "Error writing to monitorfile '{}': {e}", path.display());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldirector::config::Forwarding;

    #[test]
    fn messages_are_escaped_as_ldirectord_does() {
        assert_eq!(escape_msg(""), "-");
        assert_eq!(escape_msg("a|b%c\r\nd"), "a%7cb%25c%0d%0ad");
        assert_eq!(
            line("Mon Nov 23 11:28:55 2026", 7, "x", false, "HTTP 503"),
            "[Mon Nov 23 11:28:55 2026] [7] x [down] HTTP 503\n"
        );
    }

    #[test]
    fn real_id_squeezes_colons_and_drops_backslashes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ldiid.cf");
        let text = "virtual=127.0.0.100:80\n\treal=127.0.0.2:8080 masq 3\n\tchecktype=negotiate\n\
                    \tservice=http\n\trequest=\"index.html\"\n\treceive=\"o\\\\k\"\n\
                    virtual=127.0.0.101:80\n\treal=127.0.0.3:80 gate\n\tchecktype=connect\n\
                    \tcheckport=81\n\tvirtualhost=www.example.com\n";
        std::fs::write(&p, text).unwrap();
        let c = crate::load::load(&p).unwrap_or_else(|e| panic!("{e}"));
        let (v, w) = (&c.virtuals[0], &c.virtuals[1]);
        assert_eq!(v.reals[0].forward, Forwarding::Masq);
        assert_eq!(
            real_id(v, &v.reals[0]),
            "negotiate http tcp 127.0.0.2 8080 3 masq /index.html ok"
        );
        assert_eq!(
            real_id(w, &w.reals[0]),
            "connect tcp 127.0.0.3 80 www.example.com 81 1 gate / "
        );
    }

    #[test]
    fn writer_appends_and_follows_a_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let p: Arc<Path> = Arc::from(dir.path().join("ldimon.log").as_path());
        // Look at the path before every write.
        let mut log = MonitorLog::start_with(Duration::ZERO).unwrap();
        let wait = |path: &Path, want: &str| {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let got = std::fs::read_to_string(path).unwrap_or_default();
                if got == want {
                    return;
                }
                assert!(Instant::now() < deadline, "{} has {got:?}", path.display());
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        log.send(Msg {
            path: p.clone(),
            line: "one\n".into(),
        });
        wait(&p, "one\n");
        let rotated = dir.path().join("ldimon.log.1");
        std::fs::rename(&p, &rotated).unwrap();
        log.send(Msg {
            path: p.clone(),
            line: "two\n".into(),
        });
        wait(&p, "two\n");
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "one\n");
        log.close();
    }
}
