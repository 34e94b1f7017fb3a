//! heartbeat's log lines, produced from `tracing` events.
//!
//! Files (`logfile`, `debugfile`) get cluster-glue's syslog-style lines:
//! `Nov 23 03:13:28 node1 heartbeat: [132]: info: Link node2:eth0 up.`
//! Syslog (`logfacility`) gets `[132]: info: Link node2:eth0 up.` through
//! glibc's `syslog()` under the ident `heartbeat`, which is what heartbeat's
//! `cl_log` sends. `logfile` never gets debug lines; `debugfile` gets
//! everything. Levels print as heartbeat's words: `debug`, `info`, `WARN`,
//! `ERROR`, and `CRIT` for an error event carrying the field `crit = true`
//! (tracing has no critical level).
//!
//! The message is the heartbeat text; other fields of the event are kept
//! structured (they reach any tracing subscriber) and are printed only on
//! stderr, where a human runs `heartbeat -f` by hand.
//!
//! The cores' own diagnostics (targets `hb_membership`, `hb_wire`, …) are not
//! heartbeat's words and mostly repeat what the daemon logs from the core's
//! events, so they go to `debugfile` (and stderr) only, with their fields.

use std::ffi::CString;
use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer as _;

/// `syslog_timestamp()` of cluster-glue: `"%3s %02d %02d:%02d:%02d"` in local time.
pub fn syslog_timestamp(unix_secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t: libc::time_t = unix_secs as libc::time_t;
    // SAFETY: localtime_r only writes into the tm we pass; all-zero is a
    // valid tm.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return "??? 00 00:00:00".to_string();
    }
    let month = usize::try_from(tm.tm_mon)
        .ok()
        .and_then(|m| MONTHS.get(m))
        .copied()
        .unwrap_or("???");
    format!(
        "{month:>3} {:02} {:02}:{:02}:{:02}",
        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

/// heartbeat's priority words (`prio2str`).
pub fn level_word(level: Level, crit: bool) -> &'static str {
    if crit {
        return "CRIT";
    }
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "info",
        Level::DEBUG | Level::TRACE => "debug",
    }
}

/// One line as `append_log()` writes it with `syslogmsgfmt` (the default).
pub fn format_file_line(
    timestamp: &str,
    host: &str,
    entity: &str,
    pid: u32,
    level: &str,
    msg: &str,
) -> String {
    format!("{timestamp} {host} {entity}: [{pid}]: {level}: {msg}")
}

/// A line as heartbeat's shell scripts write it (`ha_log` of
/// `ResourceManager`, `mach_down`, `hb_standby`, rc.d scripts):
/// `2026/11/23_03:26:02  ResourceManager(default)[278]:    info: Running …`.
/// The rc.d `ip-request-resp` script logs its info line without a level.
pub fn shell_line(timestamp: &str, program: &str, pid: u32, level: &str, msg: &str) -> String {
    if program == "ip-request-resp" && level == "info" {
        return format!("{timestamp}  {program}(default)[{pid}]:    {msg}");
    }
    format!("{timestamp}  {program}(default)[{pid}]:    {level}: {msg}")
}

/// `HA_DATEFMT` (`%Y/%m/%d_%T`) in local time.
pub fn shell_timestamp(unix_secs: i64) -> String {
    let t: libc::time_t = unix_secs as libc::time_t;
    // SAFETY: as in syslog_timestamp.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return "0000/00/00_00:00:00".to_string();
    }
    format!(
        "{:04}/{:02}/{:02}_{:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// The part of a line that goes through `syslog()`.
pub fn format_syslog_message(pid: u32, level: &str, msg: &str) -> String {
    format!("[{pid}]: {level}: {msg}")
}

/// `uname -n` as heartbeat's logger prints it (not lower-cased).
pub fn host_name() -> String {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|u| u.nodename().to_str().map(str::to_owned))
        .unwrap_or_else(|| "localhost".to_owned())
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A complete file-format line for `entity` at the current time, for tools
/// (`cl_status` writes its errors to stderr this way).
pub fn line_now(entity: &str, level: Level, crit: bool, msg: &str) -> String {
    format_file_line(
        &syslog_timestamp(now_secs()),
        &host_name(),
        entity,
        std::process::id(),
        level_word(level, crit),
        msg,
    )
}

#[derive(Default)]
struct Fields {
    message: String,
    crit: bool,
    /// `source`: which heartbeat program the line imitates (see
    /// [`shell_line`]).
    source: Option<String>,
    rest: String,
}

impl Visit for Fields {
    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "crit" {
            self.crit = value;
        } else {
            let _ = write!(self.rest, " {}={}", field.name(), value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else if field.name() == "source" {
            self.source = Some(value.to_owned());
        } else {
            let _ = write!(self.rest, " {}={:?}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={:?}", field.name(), value);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    File,
    Syslog,
    Stderr,
}

/// `FormatEvent` producing heartbeat's lines.
pub struct HbFormat {
    style: Style,
    entity: String,
    host: String,
}

impl<S, N> FormatEvent<S, N> for HbFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = level_word(*event.metadata().level(), fields.crit);
        let pid = std::process::id();
        // One line per event: a multi-line message would break parsers.
        let mut msg = fields.message.replace('\n', " ");
        if !event.metadata().target().starts_with("heartbeat") {
            msg.push_str(&fields.rest);
        }
        let script = fields
            .source
            .as_deref()
            .filter(|s| *s != "heartbeat" && self.style != Style::Syslog);
        if let Some(program) = script {
            let line = shell_line(&shell_timestamp(now_secs()), program, pid, level, &msg);
            return match self.style {
                Style::Stderr => writeln!(writer, "{line}{}", fields.rest),
                _ => writeln!(writer, "{line}"),
            };
        }
        match self.style {
            Style::Syslog => writeln!(writer, "{}", format_syslog_message(pid, level, &msg)),
            Style::File => writeln!(
                writer,
                "{}",
                format_file_line(
                    &syslog_timestamp(now_secs()),
                    &self.host,
                    &self.entity,
                    pid,
                    level,
                    &msg
                )
            ),
            Style::Stderr => writeln!(
                writer,
                "{}{}",
                format_file_line(
                    &syslog_timestamp(now_secs()),
                    &self.host,
                    &self.entity,
                    pid,
                    level,
                    &msg
                ),
                fields.rest
            ),
        }
    }
}

/// Opens the file for every line, so logrotate needs no signal and a removed
/// file is recreated (lines are rare: none at all while the cluster is idle).
#[derive(Clone, Debug)]
pub struct AppendFile {
    path: PathBuf,
}

pub enum AppendWriter {
    File(File),
    Failed,
}

impl io::Write for AppendWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            AppendWriter::File(f) => f.write(buf),
            // Nowhere to report a logging failure; don't take the daemon down.
            AppendWriter::Failed => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            AppendWriter::File(f) => f.flush(),
            AppendWriter::Failed => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for AppendFile {
    type Writer = AppendWriter;

    fn make_writer(&'a self) -> Self::Writer {
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .open(&self.path)
            .map_or(AppendWriter::Failed, AppendWriter::File)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("unknown log facility {0:?}")]
    UnknownFacility(String),
    #[error("syslog is already open in this process")]
    SyslogBusy,
    #[error("a global tracing subscriber is already set")]
    AlreadySet,
}

/// Where log lines go.
#[derive(Clone, Debug, Default)]
pub struct LogTargets {
    pub logfile: Option<PathBuf>,
    pub debugfile: Option<PathBuf>,
    /// `logfacility` name (`daemon`, `local0`, …); `None` = no syslog.
    pub facility: Option<String>,
    pub stderr: bool,
    /// heartbeat's debug level (`-d`, `debug`); > 0 turns on debug lines.
    pub debug: u32,
}

/// heartbeat's facility names (`syslog(3)` names without `LOG_`).
pub fn parse_facility(name: &str) -> Option<syslog_tracing::Facility> {
    use syslog_tracing::Facility as F;
    Some(match name.to_ascii_lowercase().as_str() {
        "auth" | "authpriv" | "security" => F::Auth,
        "cron" => F::Cron,
        "daemon" => F::Daemon,
        "ftp" => F::Ftp,
        "lpr" => F::Lpr,
        "mail" => F::Mail,
        "news" => F::News,
        "user" => F::User,
        "uucp" => F::Uucp,
        "local0" => F::Local0,
        "local1" => F::Local1,
        "local2" => F::Local2,
        "local3" => F::Local3,
        "local4" => F::Local4,
        "local5" => F::Local5,
        "local6" => F::Local6,
        "local7" => F::Local7,
        _ => return None,
    })
}

/// Crates whose diagnostics stay out of `logfile` and syslog.
const CORE_TARGETS: &[&str] = &["hb_membership", "hb_wire", "hb_config", "hb_resources"];

/// `max` for our own lines; the cores' lines only if `cores`.
fn filter(max: LevelFilter, cores: bool) -> Targets {
    CORE_TARGETS
        .iter()
        .fold(Targets::new().with_default(max), |t, c| {
            t.with_target(*c, if cores { max } else { LevelFilter::OFF })
        })
}

/// Install the global subscriber. `entity` is the program name in the lines.
pub fn init(targets: &LogTargets, entity: &str) -> Result<(), LoggingError> {
    let max = match targets.debug {
        0 => LevelFilter::INFO,
        1 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let host = host_name();
    let fmt = |style| HbFormat {
        style,
        entity: entity.to_owned(),
        host: host.clone(),
    };

    let logfile = targets.logfile.clone().map(|path| {
        tracing_subscriber::fmt::layer()
            .event_format(fmt(Style::File))
            .with_writer(AppendFile { path })
            .with_filter(filter(LevelFilter::INFO, false))
    });
    let debugfile = targets.debugfile.clone().map(|path| {
        tracing_subscriber::fmt::layer()
            .event_format(fmt(Style::File))
            .with_writer(AppendFile { path })
            .with_filter(filter(max, true))
    });
    let syslog = match &targets.facility {
        None => None,
        Some(name) => {
            let facility =
                parse_facility(name).ok_or_else(|| LoggingError::UnknownFacility(name.clone()))?;
            let ident = CString::new(entity).unwrap_or_else(|_| c"heartbeat".to_owned());
            let writer = syslog_tracing::Syslog::new(ident, Default::default(), facility)
                .ok_or(LoggingError::SyslogBusy)?;
            Some(
                tracing_subscriber::fmt::layer()
                    .event_format(fmt(Style::Syslog))
                    .with_writer(writer)
                    .with_filter(filter(max, false)),
            )
        }
    };
    let stderr = targets.stderr.then(|| {
        tracing_subscriber::fmt::layer()
            .event_format(fmt(Style::Stderr))
            .with_writer(io::stderr)
            .with_filter(filter(max, true))
    });

    let subscriber = tracing_subscriber::registry()
        .with(logfile)
        .with(debugfile)
        .with(syslog)
        .with(stderr);
    tracing::subscriber::set_global_default(subscriber).map_err(|_| LoggingError::AlreadySet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_lines_match_real_resource_manager_lines() {
        // From artifacts/exp-ucast/node1.ha-log.
        let real = "2026/11/23_03:26:02  ResourceManager(default)[278]:    info: Running /etc/ha.d/resource.d/IPaddr 192.0.2.50/24/eth0 start";
        let ours = shell_line(
            "2026/11/23_03:26:02",
            "ResourceManager",
            278,
            "info",
            "Running /etc/ha.d/resource.d/IPaddr 192.0.2.50/24/eth0 start",
        );
        assert_eq!(ours, real);
        let real = "2026/11/23_03:26:02  ip-request-resp(default)[259]:    received ip-request-resp IPaddr::192.0.2.50/24/eth0 OK yes";
        let ours = shell_line(
            "2026/11/23_03:26:02",
            "ip-request-resp",
            259,
            "info",
            "received ip-request-resp IPaddr::192.0.2.50/24/eth0 OK yes",
        );
        assert_eq!(ours, real);
        let ts = shell_timestamp(0);
        assert_eq!(ts.len(), "1970/01/01_00:00:00".len(), "{ts}");
        assert_eq!(&ts[4..5], "/");
        assert_eq!(&ts[10..11], "_");
    }

    #[test]
    fn file_line_matches_a_real_heartbeat_line() {
        // From artifacts/scenario-sha1/node1.ha-log.
        let real = "Nov 23 03:13:28 node1 heartbeat: [132]: info: Link node2:eth0 up.";
        let ours = format_file_line(
            "Nov 23 03:13:28",
            "node1",
            "heartbeat",
            132,
            level_word(Level::INFO, false),
            "Link node2:eth0 up.",
        );
        assert_eq!(ours, real);
        assert_eq!(
            format_file_line(
                "Nov 23 03:13:54",
                "node2",
                "heartbeat",
                132,
                "WARN",
                "node node1: is dead"
            ),
            "Nov 23 03:13:54 node2 heartbeat: [132]: WARN: node node1: is dead"
        );
    }

    #[test]
    fn level_words_are_heartbeats() {
        assert_eq!(level_word(Level::ERROR, false), "ERROR");
        assert_eq!(level_word(Level::ERROR, true), "CRIT");
        assert_eq!(level_word(Level::WARN, false), "WARN");
        assert_eq!(level_word(Level::INFO, false), "info");
        assert_eq!(level_word(Level::DEBUG, false), "debug");
        assert_eq!(level_word(Level::TRACE, false), "debug");
    }

    #[test]
    fn timestamp_has_syslog_shape() {
        let ts = syslog_timestamp(1_795_403_608);
        // "Mon DD HH:MM:SS" with a zero-padded day, whatever the local zone.
        assert_eq!(ts.len(), 15, "{ts}");
        let b = ts.as_bytes();
        assert!(b[..3].iter().all(u8::is_ascii_alphabetic), "{ts}");
        assert_eq!(b[3], b' ');
        assert!(b[4].is_ascii_digit() && b[5].is_ascii_digit(), "{ts}");
        assert_eq!(&ts[9..10], ":");
        assert_eq!(&ts[12..13], ":");
    }

    #[test]
    fn syslog_message_is_what_cl_log_passes_to_syslog() {
        assert_eq!(
            format_syslog_message(132, "WARN", "node node2: is dead"),
            "[132]: WARN: node node2: is dead"
        );
    }

    #[test]
    fn facility_names() {
        assert!(parse_facility("local7").is_some());
        assert!(parse_facility("DAEMON").is_some());
        assert!(parse_facility("none").is_none());
        assert!(parse_facility("bogus").is_none());
    }

    #[test]
    fn formatter_writes_file_lines_and_drops_debug_from_logfile() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("ha-log");
        let dbg = dir.path().join("ha-debug");
        let fmt = |style| HbFormat {
            style,
            entity: "heartbeat".into(),
            host: "node9".into(),
        };
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(fmt(Style::File))
                    .with_writer(AppendFile { path: log.clone() })
                    .with_filter(filter(LevelFilter::INFO, false)),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(fmt(Style::File))
                    .with_writer(AppendFile { path: dbg.clone() })
                    .with_filter(filter(LevelFilter::DEBUG, true)),
            );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                node = "node2",
                medium = "eth0",
                "Link {}:{} up.",
                "node2",
                "eth0"
            );
            tracing::error!(
                crit = true,
                node = "node2",
                "Late heartbeat: Node node2: interval 4000 ms (> deadtime)"
            );
            tracing::debug!("only in the debug file");
            tracing::warn!(target: "hb_membership::receive", node = "node2", "node is dead");
        });
        let log = std::fs::read_to_string(log).unwrap();
        let dbg = std::fs::read_to_string(dbg).unwrap();
        let pid = std::process::id();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 2, "{log}");
        assert!(
            lines[0].ends_with(&format!(
                " node9 heartbeat: [{pid}]: info: Link node2:eth0 up."
            )),
            "{log}"
        );
        assert!(
            lines[1].ends_with(&format!(
                " node9 heartbeat: [{pid}]: CRIT: Late heartbeat: Node node2: interval 4000 ms (> deadtime)"
            )),
            "{log}"
        );
        assert_eq!(dbg.lines().count(), 4, "{dbg}");
        assert!(dbg
            .lines()
            .nth(2)
            .unwrap()
            .ends_with("debug: only in the debug file"));
        assert!(
            dbg.lines()
                .nth(3)
                .unwrap()
                .ends_with("WARN: node is dead node=\"node2\""),
            "{dbg}"
        );
    }
}
