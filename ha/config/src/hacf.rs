//! `ha.cf`, read the way heartbeat 3.0.6 (`heartbeat/config.c`, Debian build)
//! reads it.
//!
//! Line syntax: leading blanks skipped, `#` starts a comment anywhere, the
//! directive is the first blank-separated word (case-sensitive, like
//! heartbeat's `strcmp`). What follows depends on the directive's kind:
//!
//! * **option directives** (`Directives[]` in config.c): the rest is split on
//!   blanks *and commas* and each value is applied in turn, so `node a b`
//!   declares two nodes and `keepalive 500 ms` applies `500` then fails on `ms`.
//! * **per-value media** (`bcast`, `ping`, `ping6`, `serial`): one medium per
//!   value.
//! * **whole-line media** (`mcast`, `mcast6`, `ucast`, `ucast6`,
//!   `ping_group`) and **whole-line directives** (`stonith`, `stonith_host`,
//!   `apiauth`, `respawn`, `failfast`): the rest of the line is one argument.
//!
//! Anything else, including plugins Debian does not ship (`hbaping`, `tipc`,
//! `rds`) and `normalpoll` (compiled out), is an unknown directive.
//!
//! Decisions where we differ from heartbeat, all deliberate:
//! * `serial` (and `mcast6`) are accepted with a warning and carry no
//!   heartbeats: refusing them would stop a drop-in upgrade of the classic
//!   "null-modem + bcast" pair, and ignoring them silently would hide the lost
//!   redundancy. With no other medium left the config is an error.
//! * Numbers must be plain integers (heartbeat's `atoi` reads `10abc` as 10).
//! * `ping`/`ucast` peers must be IP literals: a parser does not resolve names.
//! * Duplicate `node` lines and `warntime >= deadtime` are reported (the
//!   first as an error, the second as a warning); heartbeat says nothing.
//! * `nice_failback` keeps heartbeat's real meaning, bug included (see
//!   `Parser::set_nice_failback`): both nodes of a mixed cluster must pick
//!   the same failback protocol.
//!
//! Kept exactly, and checked against the real daemon
//! (`tests/data/real-heartbeat-probes.txt`): each UDP plugin (bcast, ucast,
//! ucast6) takes the `udpport` in effect at its *first* medium and keeps it,
//! so `bcast eth0` / `udpport 700` / `bcast eth1` puts both on 694; mcast
//! has its own port; `mcast` ttl above 4 is refused; `auto_failback on`
//! followed by `nice_failback on` means `auto_failback off`. One deviation
//! the probes show: heartbeat reads `keepalive 1.2.3` as 1.2 s, we refuse it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::duration::{is_unit, DurationError};
use crate::host::{Host, NoChecks, System};
use crate::{
    ApiAuth, AutoFailback, ConfigError, GenMethod, HaCf, Medium, MsgFmt, PingNode, Problem,
    Respawn, Stonith, StonithHost, UuidFrom,
};

mod finish;
mod media;
mod options;
mod whole_line;

/// heartbeat.h `WHITESPACE`.
const WHITESPACE: &[char] = &[' ', '\t', '\n', '\r', '\x0c'];
/// heartbeat.h `DELIMS`: option values are also split on commas.
const DELIMS: &[char] = &[',', ' ', '\t', '\n', '\r', '\x0c'];

/// heartbeat.h `MAXMEDIA`, `MAXNODE`.
const MAXMEDIA: usize = 64;
const MAXNODE: usize = 100;

/// `UDPPORT` (Debian's /etc/services has no `ha-cluster` entry).
pub const DEFAULT_UDPPORT: u16 = 694;

/// Read and parse `ha.cf`, also checking what heartbeat checks on the
/// running system while it reads the file: `respawn`/`failfast` users exist
/// and their commands are executable, `apiauth` users and groups exist.
pub fn load_ha_cf(path: &Path) -> Result<HaCf, ConfigError> {
    load_outcome(path).result
}

/// Parse `ha.cf` text. Pure: names of users, groups and commands are not
/// looked up (see [`load_ha_cf`]).
pub fn parse_ha_cf(path: &Path, text: &str) -> Result<HaCf, ConfigError> {
    parse_outcome(path, text, &NoChecks).result
}

/// A parse result plus the node list, which `load_all` needs to check
/// `haresources` even when `ha.cf` has errors.
pub(crate) struct Outcome {
    pub result: Result<HaCf, ConfigError>,
    /// `None` when the file could not be read at all.
    pub nodes: Option<Vec<String>>,
}

pub(crate) fn load_outcome(path: &Path) -> Outcome {
    match crate::read_text(path, "config file") {
        Ok(text) => parse_outcome(path, &text, &System),
        Err(p) => Outcome {
            result: Err(ConfigError { problems: vec![p] }),
            nodes: None,
        },
    }
}

pub(crate) fn parse_outcome(path: &Path, text: &str, host: &dyn Host) -> Outcome {
    let mut p = Parser::new(path, host);
    for (i, line) in text.split('\n').enumerate() {
        p.line(i + 1, line);
    }
    p.finish()
}

/// How an option directive behaves (one row of config.c's `Directives[]`).
struct Spec {
    name: &'static str,
    /// `record_value`: shows up in the parameter table (`cl_status hbparameter`).
    record: bool,
    /// One value wins (as opposed to lists like `node`, `env`).
    scalar: bool,
    /// A `cl_get_msec` time value.
    time: bool,
    /// Accepted, validated, but without effect here.
    ignored: Option<Ignored>,
}

#[derive(Clone, Copy)]
enum Ignored {
    Plain,
    Pacemaker,
    SerialOnly,
}

const fn spec(name: &'static str) -> Spec {
    Spec {
        name,
        record: true,
        scalar: true,
        time: false,
        ignored: None,
    }
}
const fn time(name: &'static str) -> Spec {
    Spec {
        time: true,
        ..spec(name)
    }
}
const fn ignored(name: &'static str, why: Ignored) -> Spec {
    Spec {
        ignored: Some(why),
        ..spec(name)
    }
}

const DIRECTIVES: &[Spec] = &[
    ignored("cluster", Ignored::Pacemaker),
    Spec {
        record: false,
        scalar: false,
        ..spec("node")
    },
    spec("hopfudge"),
    time("keepalive"),
    time("deadtime"),
    time("deadping"),
    time("initdead"),
    time("warntime"),
    spec("watchdog"),
    ignored("baud", Ignored::SerialOnly),
    spec("udpport"),
    spec("logfacility"),
    spec("logfile"),
    spec("debugfile"),
    Spec {
        record: false,
        ..spec("nice_failback")
    },
    spec("auto_failback"),
    spec("rtprio"),
    spec("hbgenmethod"),
    spec("realtime"),
    spec("debug"),
    spec("msgfmt"),
    spec("use_logd"),
    Spec {
        time: true,
        ..ignored("conn_logd_time", Ignored::Plain)
    },
    Spec {
        record: false,
        ..ignored("use_apphbd", Ignored::Plain)
    },
    ignored("log_badpack", Ignored::Plain),
    ignored("syslogmsgfmt", Ignored::Plain),
    ignored("coredumps", Ignored::Plain),
    ignored("coreroot", Ignored::Plain),
    ignored("crm_daemon_dir", Ignored::Pacemaker),
    ignored("crmd_spawns_pengine", Ignored::Pacemaker),
    // `crm` is recorded under the name `pacemaker` (set_release2mode).
    Spec {
        record: false,
        ..spec("crm")
    },
    spec("pacemaker"),
    spec("autojoin"),
    spec("uuidfrom"),
    ignored("compression", Ignored::Plain),
    ignored("compression_threshold", Ignored::Plain),
    ignored("traditional_compression", Ignored::Plain),
    Spec {
        record: false,
        scalar: false,
        ..spec("env")
    },
    spec("max_rexmit_delay"),
    ignored("record_config_changes", Ignored::Pacemaker),
    ignored("record_pengine_inputs", Ignored::Pacemaker),
    ignored("enable_config_writes", Ignored::Pacemaker),
    ignored("memreserve", Ignored::Plain),
    ignored("quorum_server", Ignored::Pacemaker),
];

/// Media plugins Debian's heartbeat ships (`HBcomm/*.so`).
const MEDIA_PER_VALUE: &[&str] = &["bcast", "ping", "ping6", "serial"];
const MEDIA_WHOLE_LINE: &[&str] = &["mcast", "mcast6", "ucast", "ucast6", "ping_group"];
/// config.c `WLdirectives[]`.
const WHOLE_LINE: &[&str] = &["stonith", "stonith_host", "apiauth", "respawn", "failfast"];

/// Whole milliseconds, the unit heartbeat prints in its messages.
fn ms(d: Duration) -> u128 {
    d.as_millis()
}

struct Parser<'a> {
    path: &'a Path,
    host: &'a dyn Host,
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
    /// Heartbeat's parameter table, in order of first recording.
    params: Vec<(String, String)>,
    /// Where each scalar directive was last set, for messages.
    set_on: HashMap<&'static str, usize>,
    /// Directives with a refused value: checks that combine them with
    /// others would only repeat the error.
    invalid: Vec<&'static str>,

    keepalive: Duration,
    deadtime: Duration,
    warntime: Option<Duration>,
    initdead: Option<Duration>,
    deadping: Option<Duration>,
    udpport: u16,
    /// Each UDP plugin reads `udpport` once, at its first medium, and keeps
    /// it (`localudpport` is a plugin static).
    latched_port: Vec<(&'static str, u16)>,

    media: Vec<Medium>,
    /// Every medium heartbeat would count, ping and unsupported ones included.
    media_count: usize,
    /// `(directive, line)` of media we accept but cannot run.
    unsupported_media: Vec<(&'static str, usize)>,
    nodes: Vec<String>,
    node_lines: HashMap<String, usize>,
    /// Normal plus ping nodes, for `MAXNODE`.
    node_count: usize,
    ping_nodes: Vec<PingNode>,
    ping_node_positions: Vec<usize>,

    respawn: Vec<Respawn>,
    failfast: Vec<Respawn>,
    apiauth: Vec<ApiAuth>,
    stonith: Vec<Stonith>,
    stonith_host: Vec<StonithHost>,
    env: Vec<(String, String)>,

    auto_failback: AutoFailback,
    /// heartbeat's global `nice_failback`, which `set_nice_failback` tests.
    nice_failback: bool,
    logfile: Option<PathBuf>,
    debugfile: Option<PathBuf>,
    logfacility: Option<String>,
    use_logd: Option<bool>,
    hopfudge: u32,
    realtime: bool,
    debug: u32,
    watchdog: Option<PathBuf>,
    autojoin: String,
    rtprio: Option<u8>,
    hbgenmethod: GenMethod,
    uuidfrom: UuidFrom,
    msgfmt: MsgFmt,
    max_rexmit_delay: Duration,
    baud_set: bool,
    pacemaker_seen: bool,
}

impl<'a> Parser<'a> {
    fn new(path: &'a Path, host: &'a dyn Host) -> Self {
        Self {
            path,
            host,
            errors: Vec::new(),
            warnings: Vec::new(),
            params: Vec::new(),
            set_on: HashMap::new(),
            invalid: Vec::new(),
            keepalive: Duration::from_millis(1000),
            deadtime: Duration::from_millis(30_000),
            warntime: None,
            initdead: None,
            deadping: None,
            udpport: DEFAULT_UDPPORT,
            latched_port: Vec::new(),
            media: Vec::new(),
            media_count: 0,
            unsupported_media: Vec::new(),
            nodes: Vec::new(),
            node_lines: HashMap::new(),
            node_count: 0,
            ping_nodes: Vec::new(),
            ping_node_positions: Vec::new(),
            respawn: Vec::new(),
            failfast: Vec::new(),
            apiauth: Vec::new(),
            stonith: Vec::new(),
            stonith_host: Vec::new(),
            env: Vec::new(),
            auto_failback: AutoFailback::Legacy,
            nice_failback: false,
            logfile: None,
            debugfile: None,
            logfacility: None,
            use_logd: None,
            hopfudge: 1,
            realtime: true,
            debug: 0,
            watchdog: None,
            autojoin: "none".to_string(),
            rtprio: None,
            hbgenmethod: GenMethod::File,
            uuidfrom: UuidFrom::File,
            msgfmt: MsgFmt::Classic,
            max_rexmit_delay: Duration::from_millis(250),
            baud_set: false,
            pacemaker_seen: false,
        }
    }

    fn error(&mut self, line: Option<usize>, msg: impl Into<String>) {
        self.errors.push(Problem::new(self.path, line, msg));
    }

    fn warn(&mut self, line: Option<usize>, msg: impl Into<String>) {
        self.warnings.push(Problem::new(self.path, line, msg));
    }

    fn record(&mut self, name: &str, value: &str) {
        match self.params.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.params.push((name.to_string(), value.to_string())),
        }
    }

    fn recorded(&self, name: &str) -> bool {
        self.params.iter().any(|(k, _)| k == name)
    }

    fn line(&mut self, lineno: usize, raw: &str) {
        let s = raw.trim_start_matches(WHITESPACE);
        // `#` starts a comment anywhere; fgets/C strings also end a line at
        // CR, LF and NUL.
        let s = match s.find(['#', '\r', '\n', '\0']) {
            Some(i) => &s[..i],
            None => s,
        };
        if s.is_empty() {
            return;
        }
        let (directive, rest) = s.split_at(s.find(WHITESPACE).unwrap_or(s.len()));
        let rest = rest.trim_start_matches(DELIMS);
        let line = Some(lineno);

        if let Some(spec) = DIRECTIVES.iter().find(|d| d.name == directive) {
            self.option_line(spec, rest, lineno);
        } else if let Some(kind) = MEDIA_PER_VALUE.iter().find(|m| **m == directive) {
            let values: Vec<&str> = rest.split(DELIMS).filter(|v| !v.is_empty()).collect();
            if values.is_empty() {
                self.warn(
                    line,
                    format!("\"{kind}\" has no value; the line is ignored"),
                );
            }
            for v in values {
                if let Err(msg) = self.medium_value(kind, v, lineno) {
                    self.error(line, msg);
                }
            }
        } else if let Some(kind) = MEDIA_WHOLE_LINE.iter().find(|m| **m == directive) {
            if let Err(msg) = self.medium_line(kind, rest, lineno) {
                self.error(line, msg);
            }
        } else if let Some(kind) = WHOLE_LINE.iter().find(|m| **m == directive) {
            if let Err(msg) = self.whole_line(kind, rest) {
                self.error(line, msg);
            }
        } else {
            let hint = DIRECTIVES
                .iter()
                .map(|d| d.name)
                .chain(MEDIA_PER_VALUE.iter().copied())
                .chain(MEDIA_WHOLE_LINE.iter().copied())
                .chain(WHOLE_LINE.iter().copied())
                .find(|known| known.eq_ignore_ascii_case(directive))
                .map(|known| format!(" (directives are case-sensitive: did you mean \"{known}\"?)"))
                .unwrap_or_default();
            self.error(line, format!("unknown directive \"{directive}\"{hint}"));
        }
    }

    fn option_line(&mut self, spec: &'static Spec, rest: &str, lineno: usize) {
        let line = Some(lineno);
        let name = spec.name;
        let values: Vec<&str> = rest.split(DELIMS).filter(|v| !v.is_empty()).collect();
        let Some(last) = values.last().copied() else {
            // Heartbeat applies each value; with none it does nothing at all.
            self.warn(
                line,
                format!("\"{name}\" has no value; the line is ignored"),
            );
            return;
        };
        if spec.time && values.len() == 2 && is_unit(values[1]) {
            let e = DurationError::SpaceBeforeUnit(
                format!("{} {}", values[0], values[1]),
                format!("{}{}", values[0], values[1]),
            );
            self.error(line, format!("{name}: {e}"));
            self.invalid.push(name);
            return;
        }
        if spec.scalar {
            if values.len() > 1 {
                self.warn(
                    line,
                    format!(
                        "\"{name}\" has {} values; heartbeat applies them in turn and the last one (\"{last}\") wins",
                        values.len()
                    ),
                );
            }
            if let Some(prev) = self.set_on.insert(name, lineno) {
                self.warn(
                    line,
                    format!("\"{name}\" was already set on line {prev}; the last value wins"),
                );
            }
        }
        let mut ok = true;
        for v in values {
            match self.set_option(name, v, lineno) {
                Ok(()) if spec.record => self.record(name, v),
                Ok(()) => {}
                Err(msg) => {
                    self.error(line, msg);
                    self.invalid.push(name);
                    ok = false;
                }
            }
        }
        if let (true, Some(why)) = (ok, spec.ignored) {
            let msg = match why {
                Ignored::Plain => {
                    format!("\"{name}\" is accepted but has no effect in this implementation")
                }
                Ignored::Pacemaker => format!(
                    "\"{name}\" is accepted but ignored: it only matters to Pacemaker (crm), which this implementation does not run"
                ),
                Ignored::SerialOnly => format!(
                    "\"{name}\" is accepted but ignored: it only applies to serial media, which this implementation does not support"
                ),
            };
            self.warn(line, msg);
        }
    }
}

#[cfg(test)]
mod tests;
