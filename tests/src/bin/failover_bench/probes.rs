//! What the benchmark watches while a node dies, each in the background and
//! stamped with wall-clock time (seconds since the epoch, `f64`), so that
//! kernel, ICMP and log observations share one time axis:
//!
//! * [`AddrMonitor`]: `ip -ts monitor address` in a namespace (the kernel's
//!   own timestamp of every address add/delete);
//! * [`Pinger`]: ICMP echo to the VIP from the client every 10 ms over a raw
//!   socket (iputils' `ping -D` is not everywhere: Debian may ship
//!   inetutils' ping, which has no timestamps);
//! * [`LogTail`]: new lines of an ha-log, stamped when they appear (the
//!   lines' own timestamps have one-second resolution).

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use ha_tests::netns::Netns;
use nix::sys::socket::{
    recvfrom, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol,
    SockType, SockaddrIn,
};
use nix::sys::time::TimeVal;

/// Now, as seconds since the epoch.
pub fn wall() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A monotonic instant on the wall-clock axis, given one moment read on
/// both clocks.
pub fn wall_of(at: Instant, anchor: (Instant, f64)) -> f64 {
    if at >= anchor.0 {
        anchor.1 + (at - anchor.0).as_secs_f64()
    } else {
        anchor.1 - (anchor.0 - at).as_secs_f64()
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-23T03:12:56.190810` (UTC) → seconds since the epoch.
pub fn parse_utc(ts: &str) -> Option<f64> {
    let (date, time) = ts.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.splitn(3, ':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let s: f64 = t.next()?.parse().ok()?;
    let secs = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60;
    Some(secs as f64 + s)
}

/// The kernel time of `ip -ts monitor address` line `line` if it reports
/// `addr` being added (not deleted).
pub fn parse_addr_add(line: &str, addr: Ipv4Addr) -> Option<f64> {
    let (ts, body) = line.strip_prefix('[')?.split_once(']')?;
    let body = body.trim_start();
    if body.starts_with("Deleted") || !body.contains(&format!("inet {addr}/")) {
        return None;
    }
    parse_utc(ts)
}

/// `ip -n NS -ts monitor address`, its output kept line by line. The child
/// is killed on drop.
pub struct AddrMonitor {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl AddrMonitor {
    pub fn start(ns: &str) -> Result<Self> {
        let mut child = Command::new("ip")
            .args(["-n", ns, "-ts", "monitor", "address"])
            // `ip -ts` prints local time; UTC makes it parseable as is.
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("spawn ip monitor")?;
        let out = child.stdout.take().context("ip monitor stdout")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        let reader = thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(mut v) = l.lock() {
                    v.push(line);
                }
            }
        });
        Ok(Self {
            child,
            lines,
            reader: Some(reader),
        })
    }

    /// Kernel time of the first add of `addr` at or after `after`.
    pub fn added(&self, addr: Ipv4Addr, after: f64) -> Option<f64> {
        let v = self.lines.lock().ok()?;
        v.iter()
            .filter_map(|l| parse_addr_add(l, addr))
            .find(|t| *t >= after)
    }
}

impl Drop for AddrMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| match c {
            [a, b] => u32::from(u16::from_be_bytes([*a, *b])),
            [a] => u32::from(*a) << 8,
            _ => 0,
        })
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![8, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"hbfobnch");
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// An echo reply carrying `id`, from a raw socket's datagram (IP header
/// included).
fn is_reply(datagram: &[u8], id: u16) -> bool {
    let ihl = usize::from(datagram.first().map_or(0, |b| b & 0x0f)) * 4;
    match datagram.get(ihl..ihl + 6) {
        Some([0, 0, _, _, a, b]) => u16::from_be_bytes([*a, *b]) == id,
        _ => false,
    }
}

/// Echo requests to `target` every `every` from inside a namespace; the
/// wall time of every reply is kept. Stops on drop.
pub struct Pinger {
    stop: Arc<AtomicBool>,
    replies: Arc<Mutex<Vec<f64>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pinger {
    pub fn start(ns: &Netns, target: Ipv4Addr, every: Duration) -> Result<Self> {
        let fd: OwnedFd = ns.run_in(|| {
            socket(
                AddressFamily::Inet,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::Icmp,
            )
        })??;
        // Bounded so the receiver notices `stop`.
        setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 100_000))?;
        let fd = Arc::new(fd);
        let stop = Arc::new(AtomicBool::new(false));
        let replies = Arc::new(Mutex::new(Vec::new()));
        let id = (std::process::id() as u16) ^ 0x4842;
        let to = SockaddrIn::from(SocketAddrV4::new(target, 0));

        let (s, f) = (stop.clone(), fd.clone());
        let sender = thread::spawn(move || {
            let mut next = Instant::now();
            let mut seq: u16 = 0;
            while !s.load(Ordering::Relaxed) {
                // Unreachable while the VIP has no owner: not an error here.
                let _ = sendto(
                    f.as_raw_fd(),
                    &echo_request(id, seq),
                    &to,
                    MsgFlags::empty(),
                );
                seq = seq.wrapping_add(1);
                next += every;
                let now = Instant::now();
                if next > now {
                    thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
        });
        let (s, f, r) = (stop.clone(), fd, replies.clone());
        let receiver = thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = recvfrom::<SockaddrIn>(f.as_raw_fd(), &mut buf) else {
                    continue;
                };
                let at = wall();
                let from_target = from.is_some_and(|a| a.ip() == target);
                if from_target && is_reply(buf.get(..n).unwrap_or_default(), id) {
                    if let Ok(mut v) = r.lock() {
                        v.push(at);
                    }
                }
            }
        });
        Ok(Self {
            stop,
            replies,
            threads: vec![sender, receiver],
        })
    }

    /// Replies received after `t`.
    pub fn count_after(&self, t: f64) -> usize {
        self.replies
            .lock()
            .map(|v| v.iter().filter(|r| **r > t).count())
            .unwrap_or(0)
    }

    /// The first reply received after `t`.
    pub fn first_after(&self, t: f64) -> Option<f64> {
        self.replies.lock().ok()?.iter().copied().find(|r| *r > t)
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Lines appended to a file after [`LogTail::start`], each stamped with
/// the wall time it was first seen (polled every `every`).
pub struct LogTail {
    stop: Arc<AtomicBool>,
    lines: Arc<Mutex<Vec<(f64, String)>>>,
    thread: Option<JoinHandle<()>>,
}

impl LogTail {
    pub fn start(path: PathBuf, every: Duration) -> Self {
        let mut offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let stop = Arc::new(AtomicBool::new(false));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (s, l) = (stop.clone(), lines.clone());
        let thread = thread::spawn(move || {
            let mut partial = Vec::new();
            while !s.load(Ordering::Relaxed) {
                let mut chunk = Vec::new();
                if let Ok(mut f) = File::open(&path) {
                    if f.seek(SeekFrom::Start(offset)).is_ok() {
                        let _ = f.read_to_end(&mut chunk);
                    }
                }
                if !chunk.is_empty() {
                    let at = wall();
                    offset += chunk.len() as u64;
                    partial.extend_from_slice(&chunk);
                    while let Some(i) = partial.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = partial.drain(..=i).collect();
                        if let Ok(mut v) = l.lock() {
                            v.push((at, String::from_utf8_lossy(&line).trim_end().to_owned()));
                        }
                    }
                }
                thread::sleep(every);
            }
        });
        Self {
            stop,
            lines,
            thread: Some(thread),
        }
    }

    /// When the first line matching `pred` appeared.
    pub fn first(&self, pred: impl Fn(&str) -> bool) -> Option<f64> {
        self.lines
            .lock()
            .ok()?
            .iter()
            .find(|(_, l)| pred(l))
            .map(|(t, _)| *t)
    }
}

impl Drop for LogTail {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `ip -n NS -o -4 addr show dev eth0` lists `addr`.
pub fn has_addr(ns: &str, addr: Ipv4Addr) -> Result<bool> {
    let out = ha_tests::cmd::check(
        Command::new("ip").args(["-n", ns, "-o", "-4", "addr", "show", "dev", "eth0"]),
        ha_tests::cmd::SHORT,
    )?;
    Ok(out.contains(&format!("inet {addr}/")))
}

/// Make sure `mon` is subscribed: add and delete a marker address on `lo`
/// of `ns` until the monitor reports it.
pub fn await_monitor(mon: &AddrMonitor, ns: &str) -> Result<()> {
    let marker = Ipv4Addr::new(127, 0, 0, 99);
    let cidr = format!("{marker}/32");
    let since = wall() - 1.0;
    ha_tests::wait_for(
        "ip monitor to report a marker address",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || {
            let add = ha_tests::cmd::ip(&["-n", ns, "addr", "add", &cidr, "dev", "lo"]);
            let _ = ha_tests::cmd::ip(&["-n", ns, "addr", "del", &cidr, "dev", "lo"]);
            add.map_err(|e| e.to_string())?;
            mon.added(marker, since)
                .map(drop)
                .ok_or_else(|| "not yet".to_owned())
        },
    )
    .map(drop)
    .map_err(|e| anyhow!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_timestamps_parse() {
        assert_eq!(parse_utc("1970-01-01T00:00:00.000000"), Some(0.0));
        let t = parse_utc("2026-11-23T06:13:18.842242").unwrap();
        // date -u -d '2026-11-23T06:13:18' +%s
        assert!((t - 1_795_414_398.842_242).abs() < 1e-6, "{t}");
        assert_eq!(parse_utc("2026-11-23 06:13:18"), None);
    }

    #[test]
    fn monitor_lines() {
        let vip = Ipv4Addr::new(192, 0, 2, 50);
        let add = "[2026-11-23T06:13:18.842242] 2: eth0    inet 192.0.2.50/24 scope global secondary eth0";
        let del =
            "[2026-11-23T06:13:18.844673] Deleted 2: eth0    inet 192.0.2.50/24 scope global eth0";
        let other = "[2026-11-23T06:13:18.842242] 2: eth0    inet 192.0.2.11/24 brd 192.0.2.255 scope global eth0";
        assert!(parse_addr_add(add, vip).is_some());
        assert_eq!(parse_addr_add(del, vip), None);
        assert_eq!(parse_addr_add(other, vip), None);
        assert_eq!(parse_addr_add("       valid_lft forever", vip), None);
    }

    #[test]
    fn echo_packets() {
        let p = echo_request(0x1234, 7);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        // A reply as the kernel hands it to a raw socket: 20-byte IP header.
        let mut reply = vec![0x45; 1];
        reply.resize(20, 0);
        reply.extend_from_slice(&[0, 0, 0, 0, 0x12, 0x34, 0, 7]);
        assert!(is_reply(&reply, 0x1234));
        assert!(!is_reply(&reply, 0x1235));
        assert!(!is_reply(&reply[..22], 0x1234));
        // Our own request looped back is not a reply.
        let mut req = reply.clone();
        req[20] = 8;
        assert!(!is_reply(&req, 0x1234));
    }
}
