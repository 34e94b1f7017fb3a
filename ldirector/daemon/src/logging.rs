//! ldirectord's log lines from `tracing` events.
//!
//! A file gets `[<ctime>|<cfgname>|<pid>] <message>` appended, opened and
//! closed per line as 4.12 does (so logrotate needs no signal); a facility
//! name (`logfile="local0"`) goes to syslog under the ident `ldirectord`
//! with the pid; `-d` prints to stderr and also shows debug events and the
//! events' structured fields; `supervised=yes` prints `[<ctime>] <message>`
//! on stdout. Only the message is written to files and syslog, so the lines
//! stay the ones operators grep for; the fields reach any other subscriber.

use std::ffi::CString;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::path::PathBuf;

use ldirector::config::LogTarget;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::Layer;

/// Where lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sink {
    File(PathBuf),
    Syslog(String),
    Stderr,
    Stdout,
}

impl Sink {
    pub fn from_target(t: &LogTarget) -> Sink {
        match t {
            LogTarget::File(p) => Sink::File(p.clone()),
            LogTarget::Syslog(f) => Sink::Syslog(f.clone()),
        }
    }
}

/// Perl's `scalar localtime`: `Mon Nov 23 03:17:27 2026`.
pub fn ctime_now() -> String {
    let t: libc::time_t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r writes only into the zeroed tm we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return "???".into();
    }
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day = usize::try_from(tm.tm_wday)
        .ok()
        .and_then(|i| DAYS.get(i))
        .unwrap_or(&"???");
    let mon = usize::try_from(tm.tm_mon)
        .ok()
        .and_then(|i| MONTHS.get(i))
        .unwrap_or(&"???");
    format!(
        "{day} {mon} {:>2} {:02}:{:02}:{:02} {}",
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_year + 1900
    )
}

fn facility(name: &str) -> libc::c_int {
    match name {
        "auth" => libc::LOG_AUTH,
        "authpriv" => libc::LOG_AUTHPRIV,
        "cron" => libc::LOG_CRON,
        "daemon" => libc::LOG_DAEMON,
        "ftp" => libc::LOG_FTP,
        "kern" => libc::LOG_KERN,
        "lpr" => libc::LOG_LPR,
        "mail" => libc::LOG_MAIL,
        "news" => libc::LOG_NEWS,
        "syslog" => libc::LOG_SYSLOG,
        "uucp" => libc::LOG_UUCP,
        "local0" => libc::LOG_LOCAL0,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        _ => libc::LOG_USER,
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
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

/// The layer writing ldirectord's lines.
pub struct LdLayer {
    sink: Sink,
    cfgname: String,
    debug: bool,
}

impl LdLayer {
    pub fn new(sink: Sink, cfgname: &str, debug: bool) -> LdLayer {
        if let Sink::Syslog(f) = &sink {
            // openlog keeps the pointer: the ident must live forever.
            let ident: &'static std::ffi::CStr = Box::leak(
                CString::new("ldirectord")
                    .unwrap_or_default()
                    .into_boxed_c_str(),
            );
            // SAFETY: ident is 'static and NUL-terminated.
            unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID, facility(f)) };
        }
        LdLayer {
            sink,
            cfgname: cfgname.to_string(),
            debug,
        }
    }

    fn write(&self, level: Level, f: &Fields) {
        let pid = std::process::id();
        match &self.sink {
            Sink::File(path) => {
                let line = format!("[{}|{}|{pid}] {}\n", ctime_now(), self.cfgname, f.message);
                if let Ok(mut file) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                {
                    let _ = file.write_all(line.as_bytes());
                }
            }
            Sink::Syslog(_) => {
                let prio = match level {
                    Level::ERROR => libc::LOG_ERR,
                    Level::WARN => libc::LOG_WARNING,
                    Level::INFO => libc::LOG_INFO,
                    _ => libc::LOG_DEBUG,
                };
                let Ok(msg) = CString::new(f.message.replace('\0', " ")) else {
                    return;
                };
                // SAFETY: constant format string, one NUL-terminated argument.
                unsafe { libc::syslog(prio, c"%s".as_ptr(), msg.as_ptr()) };
            }
            Sink::Stderr => {
                let prefix = if level >= Level::DEBUG {
                    "DEBUG2: "
                } else {
                    ""
                };
                let line = format!(
                    "[{}|{}|{pid}] {prefix}{}{}\n",
                    ctime_now(),
                    self.cfgname,
                    f.message,
                    f.rest
                );
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
            Sink::Stdout => {
                let line = format!("[{}] {}\n", ctime_now(), f.message);
                let _ = std::io::stdout().write_all(line.as_bytes());
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for LdLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        let level = *metadata.level();
        level <= Level::INFO || (self.debug && level <= Level::DEBUG)
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        self.write(*event.metadata().level(), &f);
    }
}

/// Install the global subscriber (once per process; later calls are no-ops).
pub fn init(sink: Sink, cfgname: &str, debug: bool) {
    let layer = LdLayer::new(sink, cfgname, debug);
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_has_perls_shape() {
        let t = ctime_now();
        let parts: Vec<&str> = t.split_whitespace().collect();
        assert_eq!(parts.len(), 5, "{t}");
        assert_eq!(parts[0].len(), 3);
        assert_eq!(parts[3].len(), 8);
        assert_eq!(parts[4].len(), 4);
    }

    #[test]
    fn file_sink_appends_ldirectord_lines() {
        let path = std::env::temp_dir().join(format!("lddlog-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let layer = LdLayer::new(Sink::File(path.clone()), "lb.cf", false);
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, || {
            tracing::info!(
                virt = "127.0.0.100:80",
                "Added virtual server: 127.0.0.100:80"
            );
            tracing::debug!("not in the file");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(text.lines().count(), 1, "{text}");
        let pid = std::process::id();
        assert!(
            text.ends_with(&format!(
                "|lb.cf|{pid}] Added virtual server: 127.0.0.100:80\n"
            )),
            "{text}"
        );
        assert!(text.starts_with('['));
    }
}
