//! The line grammar of `read_config` (ldirectord 4.12, l.1316–1830).
//!
//! Where ldirectord's behaviour is defined by a Perl regex (real-server lines,
//! fallback specs, virtual addresses) the same pattern runs through the
//! `regex` crate, whose leftmost-first semantics equal Perl's for these
//! patterns; `\d`, `\s`, `\w` are spelled as the ASCII classes Perl uses on
//! byte strings. ldirectord stops at the first error; we collect all of them.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use super::resolve::Resolver;
use super::types::*;
use super::{ConfigError, Problem};

/// Inputs of [`parse`] besides the text.
pub struct ParseOptions<'a> {
    pub resolver: &'a dyn Resolver,
    /// ldirectord's `$HOSTNAME`: `service=ftp` defaults the password and
    /// `service=sip` the login to `ldirectord@<hostname>`.
    pub hostname: &'a str,
}

/// Largest `a->b` range we expand (ldirectord has no limit).
const MAX_RANGE: u32 = 65_536;

const SP: &str = r"[ \t\n\r\x0B\x0C]";

static RE_VIRTUAL_V4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+):([0-9A-Za-z_\-]+)").expect("static regex")
});
static RE_VIRTUAL_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9A-Za-z._+\-]+):([0-9A-Za-z_\-]+)").expect("static regex"));
static RE_VIRTUAL_FWM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]+)").expect("static regex"));
static RE_VIRTUAL_V6: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[([0-9A-Fa-f:]+)\]:([0-9A-Za-z_\-]+)").expect("static regex"));
static RE_REAL: LazyLock<Regex> = LazyLock::new(|| {
    let host = r"([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+|[A-Za-z0-9.\-]+|\[[0-9A-fa-f:]+\])";
    Regex::new(&format!(
        r"{host}(->{host})?(:([0-9]+|[A-Za-z0-9_\-]+))?{SP}+(.*)"
    ))
    .expect("static regex")
});
static RE_FLAGS_FWD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"([A-Za-z0-9_]+)(.*)").expect("static regex"));
static RE_FLAGS_WEIGHT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"{SP}+([0-9]+)(.*)")).expect("static regex"));
static RE_FLAGS_REQ: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r#"{SP}+"(.*)"[, ]{SP}*"(.*)"(.*)"#)).expect("static regex")
});
static RE_FLAGS_LOWER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"{SP}+l:([0-9]+)(.*)")).expect("static regex"));
static RE_FLAGS_UPPER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"{SP}+u:([0-9]+)(.*)")).expect("static regex"));
static RE_FALLBACK_FWD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"([^ \t\n\r\x0B\x0C]+)({SP}+([^ \t\n\r\x0B\x0C]+))?{SP}*$"
    ))
    .expect("static regex")
});
static RE_PORT_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(:([0-9]+|[A-Za-z0-9_\-]+))?$").expect("static regex"));

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0B' | '\x0C')
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `^key\s*=\s*(.*)`: the value after `key =`.
fn kv<'l>(line: &'l str, key: &str) -> Option<&'l str> {
    let rest = line.strip_prefix(key)?;
    let rest = rest.trim_start_matches(is_space).strip_prefix('=')?;
    Some(rest.trim_start_matches(is_space))
}

/// `"(.*)"` (greedy): the text between the first and the last quote, if the
/// value starts with a quote.
fn quoted(v: &str) -> Option<&str> {
    let inner = v.strip_prefix('"')?;
    let end = inner.rfind('"')?;
    Some(&inner[..end])
}

/// The first run of ASCII digits anywhere in `v` (ldirectord's `/(\d+)/`).
fn first_digits(v: &str) -> Option<&str> {
    let start = v.find(|c: char| c.is_ascii_digit())?;
    let rest = &v[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// First digit run as a number > 0 (ldirectord's `/(\d+)/ && $1`).
fn positive(v: &str) -> Option<u64> {
    first_digits(v)?.parse::<u64>().ok().filter(|n| *n > 0)
}

fn first_run(v: &str, pred: impl Fn(char) -> bool) -> Option<&str> {
    let start = v.find(&pred)?;
    let rest = &v[start..];
    let end = rest.find(|c: char| !pred(c)).unwrap_or(rest.len());
    Some(&rest[..end])
}

fn yes_no(v: &str) -> Option<bool> {
    match v {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

const SYSLOG_FACILITIES: &[&str] = &[
    "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "syslog", "user",
    "uucp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RawProto {
    Tcp,
    Udp,
    Fwm,
}

#[derive(Clone, Debug)]
enum RawAddr {
    /// `host:port` text, host without brackets.
    HostPort {
        host: String,
        port: String,
    },
    Fwmark(u32),
    Invalid,
}

#[derive(Clone, Debug)]
struct RawFallback {
    line: usize,
    server: String,
    port: Option<String>,
    forward: Forwarding,
}

#[derive(Clone, Debug)]
struct RawVirtual {
    line: usize,
    ipv6: bool,
    addr: RawAddr,
    protocol: RawProto,
    reals: Vec<(String, usize)>,
    checktype: CheckType,
    service: Option<Service>,
    checkcommand: String,
    checkport: Option<u16>,
    request: String,
    receive: String,
    receive_line: usize,
    login: String,
    passwd: String,
    database: String,
    secret: String,
    load: Option<String>,
    scheduler: Scheduler,
    persistent: Option<u32>,
    netmask: Option<Netmask>,
    schedflags: Option<String>,
    ops: bool,
    httpmethod: HttpMethod,
    virtualhost: Option<String>,
    fallback: Option<RawFallback>,
    fallbackcommand: Option<String>,
    quiescent: Option<bool>,
    cleanstop: Option<bool>,
    emailalert: Option<String>,
    emailalertfreq: Option<u64>,
    emailalertstatus: Option<AlertStatus>,
    smtp: Option<String>,
    monitorfile: Option<PathBuf>,
    servicename: Option<String>,
    comment: Option<String>,
    checktimeout: Option<u64>,
    negotiatetimeout: Option<u64>,
    checkcount: Option<u32>,
    failurecount: Option<u32>,
    risecount: Option<u32>,
    checkinterval: Option<u64>,
}

struct Parser<'a> {
    path: &'a Path,
    opts: &'a ParseOptions<'a>,
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
    global: Global,
    virtuals: Vec<RawVirtual>,
}

/// Parse an `ldirectord.cf` text. `path` is only used in messages.
pub fn parse(path: &Path, text: &str, opts: &ParseOptions<'_>) -> Result<Config, ConfigError> {
    let mut p = Parser {
        path,
        opts,
        errors: Vec::new(),
        warnings: Vec::new(),
        global: Global::default(),
        virtuals: Vec::new(),
    };
    p.read(text);
    let virtuals = p.finish();
    let mut errors = p.errors;
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(ConfigError { problems: errors });
    }
    Ok(Config {
        path: path.to_path_buf(),
        global: p.global,
        virtuals,
        warnings: p.warnings,
    })
}

impl Parser<'_> {
    fn err(&mut self, line: usize, msg: impl Into<String>) {
        self.errors.push(Problem {
            path: self.path.to_path_buf(),
            line: Some(line),
            message: msg.into(),
        });
    }

    fn warn(&mut self, line: Option<usize>, msg: impl Into<String>) {
        self.warnings.push(Problem {
            path: self.path.to_path_buf(),
            line,
            message: msg.into(),
        });
    }

    fn read(&mut self, text: &str) {
        // Lines keep a trailing '\r': ldirectord's regexes see it too.
        let lines: Vec<&str> = text.split('\n').collect();
        let n = if text.ends_with('\n') {
            lines.len() - 1
        } else {
            lines.len()
        };
        let mut i = 0;
        while i < n {
            let raw = lines[i];
            let lineno = i + 1;
            i += 1;
            if let Some(rest) = raw.strip_prefix("virtual") {
                let (ipv6, rest) = match rest.strip_prefix('6') {
                    Some(r) => (true, r),
                    None => (false, rest),
                };
                if let Some(vattr) = kv(rest, "") {
                    let mut v = self.virtual_header(lineno, ipv6, vattr);
                    // The block: indented lines; the first other line ends it
                    // and is parsed again as a global line.
                    while i < n {
                        let braw = lines[i];
                        if braw.trim_start_matches(is_space).starts_with('#') {
                            i += 1;
                            continue;
                        }
                        let stripped = match braw.find('#') {
                            Some(h) => &braw[..h],
                            None => braw,
                        };
                        let expanded = stripped.replace('\t', "    ");
                        let Some(rcmd) = block_command(&expanded) else {
                            break;
                        };
                        i += 1;
                        self.block_line(&mut v, i, rcmd, braw);
                    }
                    self.virtuals.push(v);
                    continue;
                }
            }
            if raw.chars().all(is_space) || raw.trim_start_matches(is_space).starts_with('#') {
                continue;
            }
            self.global_line(lineno, raw);
        }
    }

    fn virtual_header(&mut self, line: usize, ipv6: bool, vattr: &str) -> RawVirtual {
        let mut addr = RawAddr::Invalid;
        let mut port_text = String::new();
        if let (Some(c), false) = (RE_VIRTUAL_V4.captures(vattr), ipv6) {
            port_text = c[2].to_string();
            addr = RawAddr::HostPort {
                host: c[1].to_string(),
                port: port_text.clone(),
            };
        } else if let Some(c) = RE_VIRTUAL_NAME.captures(vattr) {
            port_text = c[2].to_string();
            addr = RawAddr::HostPort {
                host: c[1].to_string(),
                port: port_text.clone(),
            };
        } else if let Some(c) = RE_VIRTUAL_FWM.captures(vattr) {
            match c[1].parse::<u32>() {
                Ok(m) => addr = RawAddr::Fwmark(m),
                Err(_) => self.err(line, "invalid firewall mark for virtual server"),
            }
        } else if let Some(c) = RE_VIRTUAL_V6.captures(vattr) {
            if !ipv6 {
                self.err(
                    line,
                    "cannot specify an IPv6 address here. please use \"virtual6\" instead.",
                );
            } else if c[1].parse::<std::net::Ipv6Addr>().is_err() {
                self.err(line, "invalid ipv6 address for virtual server");
            } else {
                port_text = c[2].to_string();
                addr = RawAddr::HostPort {
                    host: c[1].to_string(),
                    port: port_text.clone(),
                };
            }
        } else {
            self.err(line, "invalid address for virtual server");
        }
        let protocol = match addr {
            RawAddr::Fwmark(_) => RawProto::Fwm,
            _ if port_text == "53" || port_text == "domain" => RawProto::Udp,
            _ => RawProto::Tcp,
        };
        RawVirtual {
            line,
            ipv6,
            service: matches!(addr, RawAddr::Fwmark(_)).then_some(Service::None),
            addr,
            protocol,
            reals: Vec::new(),
            checktype: CheckType::Negotiate,
            checkcommand: "/bin/true".into(),
            checkport: None,
            request: "/".into(),
            receive: String::new(),
            receive_line: line,
            login: String::new(),
            passwd: String::new(),
            database: String::new(),
            secret: String::new(),
            load: None,
            scheduler: Scheduler::Wrr,
            persistent: None,
            netmask: None,
            schedflags: None,
            ops: false,
            httpmethod: HttpMethod::Get,
            virtualhost: None,
            fallback: None,
            fallbackcommand: None,
            quiescent: None,
            cleanstop: None,
            emailalert: None,
            emailalertfreq: None,
            emailalertstatus: None,
            smtp: None,
            monitorfile: None,
            servicename: None,
            comment: None,
            checktimeout: None,
            negotiatetimeout: None,
            checkcount: None,
            failurecount: None,
            risecount: None,
            checkinterval: None,
        }
    }

    fn block_line(&mut self, v: &mut RawVirtual, line: usize, rcmd: &str, raw: &str) {
        let (fam_real, fam_fallback) = if v.ipv6 {
            ("real6", "fallback6")
        } else {
            ("real", "fallback")
        };
        for (key, wanted) in [("real6", "real"), ("real", "real")] {
            if let Some(val) = kv(rcmd, key) {
                if key != fam_real {
                    self.err(
                        line,
                        format!(
                            "cannot specify \"{key}\" here.  please use \"{fam_real}\" instead"
                        ),
                    );
                } else {
                    let _ = wanted;
                    v.reals.push((val.to_string(), line));
                }
                return;
            }
        }
        if let Some(val) = kv(rcmd, "request") {
            match quoted(val) {
                Some("") => self.err(line, "no request string specified"),
                Some(q) => {
                    v.request = if q.starts_with('/') {
                        q.to_string()
                    } else {
                        format!("/{q}")
                    }
                }
                None => self.unknown_block(line, raw),
            }
        } else if let Some(val) = kv(rcmd, "receive") {
            match quoted(val) {
                Some("") => self.err(line, "invalid receive string"),
                Some(q) => {
                    v.receive = q.to_string();
                    v.receive_line = line;
                }
                None => self.unknown_block(line, raw),
            }
        } else if let Some(val) = kv(rcmd, "checktype") {
            if let Some(d) = first_digits(val) {
                match d.parse::<u32>() {
                    Ok(n) => v.checktype = CheckType::Combined(n),
                    Err(_) => self.err(line, "checktype number out of range"),
                }
            } else {
                v.checktype = match first_run(val, |c| is_word(c) || c == '-') {
                    Some("connect") => CheckType::Connect,
                    Some("negotiate") => CheckType::Negotiate,
                    Some("ping") => CheckType::Ping,
                    Some("off") => CheckType::Off,
                    Some("on") => CheckType::On,
                    Some("external") => CheckType::External,
                    Some("external-perl") => CheckType::ExternalPerl,
                    _ => {
                        self.err(line, "checktype must be \"connect\", \"negotiate\", \"on\", \"off\", \"ping\", \"external\", \"external-perl\" or a positive number");
                        return;
                    }
                }
            }
        } else if let Some(val) = kv(rcmd, "checkcommand") {
            let cmd = quoted(val).unwrap_or(val);
            if cmd.is_empty() {
                self.err(line, "invalid check command");
            } else {
                v.checkcommand = cmd.to_string();
            }
        } else if let Some(val) = kv(rcmd, "checktimeout") {
            match positive(val) {
                Some(n) => v.checktimeout = Some(n),
                None => self.err(line, "invalid check timeout"),
            }
        } else if kv(rcmd, "connecttimeout").is_some() {
            self.err(
                line,
                "connecttimeout directive deprecated in favour of negotiatetimeout",
            );
        } else if let Some(val) = kv(rcmd, "negotiatetimeout") {
            match positive(val) {
                Some(n) => v.negotiatetimeout = Some(n),
                None => self.err(line, "invalid negotiate timeout"),
            }
        } else if let Some(val) = kv(rcmd, "checkcount") {
            match positive(val).and_then(|n| u32::try_from(n).ok()) {
                Some(n) => v.checkcount = Some(n),
                None => self.err(line, "invalid check count"),
            }
            self.warn(
                Some(line),
                "checkcount option is deprecated and slated for removal.  please see 'failurecount'",
            );
        } else if let Some(val) = kv(rcmd, "failurecount") {
            match positive(val).and_then(|n| u32::try_from(n).ok()) {
                Some(n) => v.failurecount = Some(n),
                None => self.err(line, "invalid failure count"),
            }
        } else if let Some(val) = kv(rcmd, "risecount") {
            match positive(val).and_then(|n| u32::try_from(n).ok()) {
                Some(n) => v.risecount = Some(n),
                None => self.err(line, "invalid rise count"),
            }
        } else if let Some(val) = kv(rcmd, "checkinterval") {
            match positive(val) {
                Some(n) => v.checkinterval = Some(n),
                None => self.err(line, "invalid checkinterval"),
            }
        } else if let Some(val) = kv(rcmd, "checkport") {
            match first_digits(val) {
                None => self.err(line, "invalid port"),
                Some(d) => match d.parse::<u16>() {
                    Ok(p) if p > 0 => v.checkport = Some(p),
                    _ => self.err(line, "checkport must be in range 1..65536"),
                },
            }
        } else if let Some(val) = kv(rcmd, "login") {
            self.quoted_field(line, raw, val, "invalid login string", &mut v.login);
        } else if let Some(val) = kv(rcmd, "passwd") {
            self.quoted_field(line, raw, val, "invalid password", &mut v.passwd);
        } else if let Some(val) = kv(rcmd, "database") {
            self.quoted_field(line, raw, val, "invalid database", &mut v.database);
        } else if let Some(val) = kv(rcmd, "secret") {
            self.quoted_field(line, raw, val, "invalid secret", &mut v.secret);
        } else if let Some(val) = kv(rcmd, "load") {
            match quoted(val) {
                Some(q) => match first_run(q, is_word) {
                    Some(w) => v.load = Some(w.to_string()),
                    None => self.err(line, "invalid string for load testing"),
                },
                None => self.unknown_block(line, raw),
            }
        } else if let Some(val) = kv(rcmd, "scheduler") {
            match first_run(val, |c| c.is_ascii_lowercase()) {
                None => self.err(
                    line,
                    "invalid scheduler, should be only lowercase letters (a-z)",
                ),
                Some(s) => match Scheduler::from_name(s) {
                    Some(s) => v.scheduler = s,
                    None => self.err(line, format!("unknown scheduler \"{s}\"")),
                },
            }
        } else if let Some(val) = kv(rcmd, "persistent") {
            match first_digits(val).and_then(|d| d.parse::<u32>().ok()) {
                Some(n) => v.persistent = Some(n),
                None => self.err(line, "invalid persistent timeout"),
            }
        } else if let Some(val) = kv(rcmd, "schedflags") {
            match first_run(val, |c| !is_space(c)) {
                Some(f) => v.schedflags = Some(f.to_string()),
                None => self.err(line, "invalid sched-flags"),
            }
        } else if let Some(val) = kv(rcmd, "netmask") {
            self.netmask(v, line, val);
        } else if let Some(val) = kv(rcmd, "protocol") {
            match first_run(val, is_word) {
                None => self.err(line, "invalid protocol"),
                Some(p) if v.protocol == RawProto::Fwm => {
                    if p != "fwm" {
                        self.err(
                            line,
                            "protocol must be fwm if the virtual service is a fwmark (a number)",
                        );
                    }
                }
                Some("tcp") => v.protocol = RawProto::Tcp,
                Some("udp") => v.protocol = RawProto::Udp,
                Some(_) => self.err(
                    line,
                    "protocol must be tcp or udp if the virtual service is an address and port",
                ),
            }
        } else if let Some(val) = kv(rcmd, "ops") {
            match yes_no(val) {
                Some(b) => v.ops = b,
                None => self.err(line, "ops must be 'yes' or 'no'"),
            }
        } else if let Some(val) = kv(rcmd, "service") {
            match first_run(val, is_word).and_then(Service::from_name) {
                Some(s) => {
                    v.service = Some(s);
                    let me = format!("ldirectord@{}", self.opts.hostname);
                    if s == Service::Ftp && v.login.is_empty() {
                        v.login = "anonymous".into();
                    } else if s == Service::Sip && v.login.is_empty() {
                        v.login = me.clone();
                    }
                    if s == Service::Ftp && v.passwd.is_empty() {
                        v.passwd = me;
                    }
                }
                None => self.err(
                    line,
                    "service must be dns, ftp, http, https, http_proxy, imap, imaps, ldap, ldaps, mysql, nntp, none, oracle, pop, pops, radius, pgsql, simpletcp, sip, smtp or submission",
                ),
            }
        } else if let Some(val) = kv(rcmd, "httpmethod") {
            match first_run(val, is_word).map(|m| m.to_ascii_uppercase()) {
                Some(m) if m == "GET" => v.httpmethod = HttpMethod::Get,
                Some(m) if m == "HEAD" => v.httpmethod = HttpMethod::Head,
                _ => self.err(line, "httpmethod must be GET or HEAD"),
            }
        } else if let Some(val) = kv(rcmd, "virtualhost") {
            let s = val.strip_prefix('"').unwrap_or(val);
            let end = s.find('"').unwrap_or(s.len());
            v.virtualhost = Some(s[..end].to_string());
        } else if let Some((key, val)) = kv(rcmd, "fallback6")
            .map(|x| ("fallback6", x))
            .or_else(|| kv(rcmd, "fallback").map(|x| ("fallback", x)))
        {
            if key != fam_fallback {
                self.err(
                    line,
                    format!(
                        "cannot specify \"{key}\" here.  please use \"{fam_fallback}\" instead"
                    ),
                );
            } else if let Some(f) = self.parse_fallback(line, val) {
                v.fallback = Some(f);
            }
        } else if let Some(val) = kv(rcmd, "fallbackcommand") {
            let cmd = quoted(val).unwrap_or(val);
            if cmd.is_empty() {
                self.err(line, "invalid fallback command");
            } else {
                v.fallbackcommand = Some(cmd.to_string());
            }
        } else if let Some(val) = kv(rcmd, "quiescent") {
            match yes_no(val) {
                Some(b) => v.quiescent = Some(b),
                None => self.err(line, "quiescent must be 'yes' or 'no'"),
            }
        } else if let Some(val) = kv(rcmd, "emailalert") {
            v.emailalert = self.emailalert(line, val);
        } else if let Some(val) = kv(rcmd, "emailalertfreq") {
            v.emailalertfreq = self.emailalertfreq(line, val);
        } else if let Some(val) = kv(rcmd, "emailalertstatus") {
            v.emailalertstatus = self.emailalertstatus(line, val);
        } else if let Some(val) = kv(rcmd, "monitorfile") {
            let f = quoted(val).unwrap_or(val);
            v.monitorfile = Some(PathBuf::from(f));
        } else if let Some(val) = kv(rcmd, "cleanstop") {
            match yes_no(val) {
                Some(b) => v.cleanstop = Some(b),
                None => self.err(line, "cleanstop must be 'yes' or 'no'"),
            }
        } else if let Some(val) = kv(rcmd, "smtp") {
            v.smtp = self.smtp(line, val);
        } else if let Some(val) = kv(rcmd, "servicename") {
            v.servicename = Some(val.to_string());
        } else if let Some(val) = kv(rcmd, "comment") {
            v.comment = Some(val.to_string());
        } else {
            self.unknown_block(line, raw);
        }
    }

    fn unknown_block(&mut self, line: usize, raw: &str) {
        self.err(line, format!("Unknown command \"{raw}\""));
    }

    fn quoted_field(&mut self, line: usize, raw: &str, val: &str, msg: &str, out: &mut String) {
        match quoted(val) {
            Some("") => self.err(line, msg),
            Some(q) => *out = q.to_string(),
            None => self.unknown_block(line, raw),
        }
    }

    fn netmask(&mut self, v: &mut RawVirtual, line: usize, val: &str) {
        if v.ipv6 {
            match val.parse::<u8>() {
                Ok(p) if (1..=128).contains(&p) && val.bytes().all(|b| b.is_ascii_digit()) => {
                    v.netmask = Some(Netmask::V6Prefix(p))
                }
                _ => self.err(
                    line,
                    "invalid netmask: a prefix length between 1 and 128 is required",
                ),
            }
        } else {
            let dotted = val.split('.').count() == 4
                && val
                    .split('.')
                    .all(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit()));
            if !dotted {
                self.err(line, "invalid netmask: dotted quad notation is required");
            } else {
                match val.parse::<Ipv4Addr>() {
                    Ok(a) => v.netmask = Some(Netmask::V4(a)),
                    Err(_) => self.err(line, format!("invalid netmask: {val}")),
                }
            }
        }
    }

    fn emailalert(&mut self, line: usize, val: &str) -> Option<String> {
        let addr = match val.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            Some(inner) if !inner.contains('"') => inner,
            _ => val,
        };
        if addr.is_empty() {
            self.err(line, "no email address specified");
            None
        } else {
            Some(addr.to_string())
        }
    }

    /// `emailalertfreq\s*=\s*(\d*)`: digits must follow the `=` directly.
    fn emailalertfreq(&mut self, line: usize, val: &str) -> Option<u64> {
        let end = val.find(|c: char| !c.is_ascii_digit()).unwrap_or(val.len());
        match val[..end].parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.err(line, "invalid email alert frequency");
                None
            }
        }
    }

    fn emailalertstatus(&mut self, line: usize, val: &str) -> Option<AlertStatus> {
        let words: Vec<&str> = split_commas(val);
        let has_none = words.contains(&"none");
        let mut status = 0u8;
        let mut ok = true;
        for w in &words {
            let bit = match *w {
                "none" => continue,
                "all" => {
                    status = AlertStatus::ALL.0;
                    0
                }
                "starting" => AlertStatus::STARTING.0,
                "stopping" => AlertStatus::STOPPING.0,
                "running" => AlertStatus::RUNNING.0,
                "reloading" => AlertStatus::RELOADING.0,
                other => {
                    self.err(line, format!("invalid email alert status at: \"{other}\""));
                    ok = false;
                    continue;
                }
            };
            status |= bit;
            if has_none {
                self.err(
                    line,
                    format!("invalid email alert status: \"{w}\" specified with \"none\""),
                );
                ok = false;
            }
        }
        ok.then_some(AlertStatus(status))
    }

    fn smtp(&mut self, line: usize, val: &str) -> Option<String> {
        let end = val
            .find(|c: char| !(c.is_ascii_alphanumeric() || "._+-".contains(c)))
            .unwrap_or(val.len());
        if end == 0 {
            self.err(line, "invalid SMTP server address");
            None
        } else {
            Some(val[..end].to_string())
        }
    }

    /// `parse_fallback`: `host[:port] [gate|masq|ipip]`.
    fn parse_fallback(&mut self, line: usize, val: &str) -> Option<RawFallback> {
        let mut spec = val;
        let mut fwd = None;
        if let Some(c) = RE_FALLBACK_FWD.captures(val) {
            fwd = c.get(3).map(|m| m.as_str());
            spec = c.get(1).map_or("", |m| m.as_str());
        }
        let (server, port) = match RE_PORT_SUFFIX.captures(spec) {
            Some(c) => {
                let whole = c.get(0).map_or(0..0, |m| m.range());
                (
                    spec[..whole.start].to_string(),
                    c.get(2).map(|m| m.as_str().to_string()),
                )
            }
            None => (spec.to_string(), None),
        };
        let forward = match fwd {
            None | Some("") => Forwarding::Gate,
            Some(f) => match Forwarding::from_name(f) {
                Some(f) => f,
                None => {
                    self.err(line, "forward method must be gate, masq or ipip");
                    return None;
                }
            },
        };
        Some(RawFallback {
            line,
            server,
            port,
            forward,
        })
    }

    fn global_line(&mut self, line: usize, raw: &str) {
        let g = &mut self.global;
        if let Some(v) = kv(raw, "checktimeout") {
            match positive(v) {
                Some(n) => g.checktimeout = Some(Duration::from_secs(n)),
                None => self.err(line, "invalid check timeout value"),
            }
        } else if kv(raw, "connecttimeout").is_some() {
            self.err(
                line,
                "connecttimeout directive deprecated in favour of negotiatetimeout",
            );
        } else if let Some(v) = kv(raw, "negotiatetimeout") {
            match positive(v) {
                Some(n) => g.negotiatetimeout = Some(Duration::from_secs(n)),
                None => self.err(line, "invalid negotiate timeout value"),
            }
        } else if let Some(v) = kv(raw, "checkinterval") {
            match positive(v) {
                Some(n) => g.checkinterval = Duration::from_secs(n),
                None => self.err(line, "invalid check interval value"),
            }
        } else if let Some(v) = kv(raw, "checkcount") {
            match positive(v).and_then(|n| u32::try_from(n).ok()) {
                Some(n) => g.checkcount = n,
                None => self.err(line, "invalid check count value"),
            }
            self.warn(
                Some(line),
                "checkcount option is deprecated and slated for removal.  please see 'failurecount'",
            );
        } else if let Some(v) = kv(raw, "failurecount") {
            match positive(v).and_then(|n| u32::try_from(n).ok()) {
                Some(n) => g.failurecount = n,
                None => self.err(line, "invalid failure count value"),
            }
        } else if let Some(v) = kv(raw, "risecount") {
            match positive(v).and_then(|n| u32::try_from(n).ok()) {
                Some(n) => g.risecount = n,
                None => self.err(line, "invalid rise count value"),
            }
        } else if let Some((ipv6, v)) = kv(raw, "fallback6")
            .map(|v| (true, v))
            .or_else(|| kv(raw, "fallback").map(|v| (false, v)))
        {
            if let Some(f) = self.parse_fallback(line, v) {
                if let Some(gf) = self.resolve_global_fallback(&f, ipv6) {
                    if ipv6 {
                        self.global.fallback6 = Some(gf);
                    } else {
                        self.global.fallback = Some(gf);
                    }
                }
            }
        } else if let Some(v) = kv(raw, "fallbackcommand") {
            if v.is_empty() {
                self.err(line, "invalid fallback command");
            } else {
                g.fallbackcommand = Some(v.to_string());
            }
        } else if let Some(v) = kv(raw, "autoreload") {
            match yes_no(v) {
                Some(b) => g.autoreload = b,
                None => self.err(line, "autoreload must be 'yes' or 'no'"),
            }
        } else if let Some(q) = kv(raw, "callback").and_then(quoted) {
            g.callback = Some(q.to_string());
        } else if let Some(q) = kv(raw, "logfile").and_then(quoted) {
            if q.starts_with('/') {
                g.logfile = LogTarget::File(PathBuf::from(q));
            } else if SYSLOG_FACILITIES.contains(&q) {
                g.logfile = LogTarget::Syslog(q.to_string());
            } else {
                self.err(line, format!("unable to open logfile: {q}"));
            }
        } else if let Some(v) = kv(raw, "execute") {
            if !g.execute.iter().any(|e| e == v) {
                g.execute.push(v.to_string());
            }
        } else if let Some(v) = kv(raw, "fork") {
            match yes_no(v) {
                Some(b) => g.fork = b,
                None => self.err(line, "fork must be 'yes' or 'no'"),
            }
        } else if let Some(rest) = raw.strip_prefix("supervised") {
            if let Some(b) = kv(rest, "").and_then(yes_no) {
                g.supervised = b;
            } else if rest.chars().all(is_space) {
                g.supervised = true;
                self.warn(
                    Some(line),
                    "please update your config not to use a bare supervised directive",
                );
            } else {
                self.err(line, "supervised must be 'yes' or 'no'");
            }
        } else if let Some(v) = kv(raw, "quiescent") {
            match yes_no(v) {
                Some(b) => g.quiescent = b,
                None => self.err(line, "quiescent must be 'yes' or 'no'"),
            }
        } else if let Some(v) = kv(raw, "readdquiescent") {
            match yes_no(v) {
                Some(b) => g.readdquiescent = b,
                None => self.err(line, "readdquiescent must be 'yes' or 'no'"),
            }
        } else if let Some(v) = kv(raw, "emailalert") {
            let a = self.emailalert(line, v);
            if a.is_some() {
                self.global.emailalert = a;
            }
        } else if let Some(v) = kv(raw, "emailalertfreq") {
            if let Some(n) = self.emailalertfreq(line, v) {
                self.global.emailalertfreq = Duration::from_secs(n);
            }
        } else if let Some(v) = kv(raw, "emailalertstatus") {
            if let Some(s) = self.emailalertstatus(line, v) {
                self.global.emailalertstatus = s;
            }
        } else if let Some(v) = kv(raw, "emailalertfrom") {
            if v.is_empty() {
                self.err(line, "no email from address specified");
            } else {
                g.emailalertfrom = Some(v.to_string());
            }
        } else if let Some(v) = kv(raw, "cleanstop") {
            match yes_no(v) {
                Some(b) => g.cleanstop = b,
                None => self.err(line, "cleanstop must be 'yes' or 'no'"),
            }
        } else if let Some(v) = kv(raw, "smtp") {
            let s = self.smtp(line, v);
            if s.is_some() {
                self.global.smtp = s;
            }
        } else if let Some(v) = kv(raw, "maintenancedir") {
            if v.is_empty() {
                self.err(line, "maintenance directory not specified");
            } else {
                g.maintenancedir = Some(PathBuf::from(v));
            }
        } else if kv(raw, "timeout").is_some() {
            self.err(
                line,
                "timeout directive deprecated in favour of checktimeout and negotiatetimeout",
            );
        } else {
            self.err(line, format!("Unknown command {raw}"));
        }
    }

    fn resolve_global_fallback(&mut self, f: &RawFallback, ipv6: bool) -> Option<GlobalFallback> {
        let addr = self.fallback_host(f, ipv6)?;
        let tcp_port = self.fallback_port(f, Some("tcp"))?;
        let udp_port = self.fallback_port(f, Some("udp"))?;
        Some(GlobalFallback {
            line: f.line,
            addr,
            tcp_port,
            udp_port,
            forward: f.forward,
        })
    }

    fn fallback_host(&mut self, f: &RawFallback, ipv6: bool) -> Option<IpAddr> {
        let host = strip_brackets(&f.server);
        let r = self.opts.resolver.host(host, ipv6);
        if r.is_none() {
            self.err(
                f.line,
                format!(
                    "invalid {} address or could not resolve for fallback server: {}",
                    if ipv6 { "IPv6" } else { "IPv4" },
                    f.server
                ),
            );
        }
        r
    }

    /// `Some(None)` = no port given; `None` = error reported.
    fn fallback_port(&mut self, f: &RawFallback, proto: Option<&str>) -> Option<Option<u16>> {
        let Some(p) = &f.port else {
            return Some(None);
        };
        match self.port(p, proto) {
            Some(n) => Some(Some(n)),
            None => {
                self.err(f.line, "invalid port for fallback server");
                None
            }
        }
    }

    /// `ld_getservbyname`: a number 0..65535 or a service name.
    fn port(&self, text: &str, proto: Option<&str>) -> Option<u16> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse::<u16>().ok();
        }
        self.opts.resolver.service(text, proto)
    }

    fn finish(&mut self) -> Vec<VirtualService> {
        let raws = std::mem::take(&mut self.virtuals);
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for rv in raws {
            if let Some(v) = self.finish_virtual(rv) {
                if !seen.insert(v.addr.id_str()) {
                    self.err(v.line, "duplicate virtual server");
                    continue;
                }
                out.push(v);
            }
        }
        out
    }

    fn finish_virtual(&mut self, rv: RawVirtual) -> Option<VirtualService> {
        let g = self.global.clone();
        let proto_name = match rv.protocol {
            RawProto::Tcp => Some("tcp"),
            RawProto::Udp => Some("udp"),
            RawProto::Fwm => Some("fwm"),
        };
        // Per-virtual fallback: resolved with the virtual's protocol; no port
        // means the virtual's port.
        let own_fallback = match &rv.fallback {
            Some(f) => {
                let addr = self.fallback_host(f, rv.ipv6);
                let port = self.fallback_port(f, proto_name);
                match (addr, port) {
                    (Some(a), Some(p)) => Some((a, p, f.forward)),
                    _ => None,
                }
            }
            None => None,
        };
        let addr = match &rv.addr {
            RawAddr::Invalid => None,
            RawAddr::Fwmark(m) => Some(VirtualAddr::Fwmark {
                mark: *m,
                ipv6: rv.ipv6,
            }),
            RawAddr::HostPort { host, port } => {
                let protocol = if rv.protocol == RawProto::Udp {
                    Protocol::Udp
                } else {
                    Protocol::Tcp
                };
                let ip = self.opts.resolver.host(host, rv.ipv6);
                let port = self.port(port, Some(protocol.name()));
                match (ip, port) {
                    (Some(ip), Some(port)) => Some(VirtualAddr::Inet {
                        protocol,
                        addr: SocketAddr::new(ip, port),
                    }),
                    _ => {
                        self.err(rv.line, "invalid address for virtual service");
                        None
                    }
                }
            }
        };
        if let Err(e) = regex::Regex::new(&rv.receive) {
            self.err(
                rv.receive_line,
                format!("receive is not a supported regular expression: {e}"),
            );
        }
        let vid = addr.map(|a| a.id_str());
        let mut reals: Vec<RealServer> = Vec::new();
        for (text, line) in &rv.reals {
            for r in self.parse_real(text, *line, rv.ipv6) {
                if let Some(q) = &r.receive {
                    if let Err(e) = regex::Regex::new(q) {
                        self.err(
                            r.line,
                            format!("receive is not a supported regular expression: {e}"),
                        );
                    }
                }
                reals.push(r);
            }
        }
        let addr = addr?;
        let vport = addr.port();
        let fallback = match own_fallback {
            Some((a, p, forward)) => Some(Fallback {
                addr: a,
                port: p.unwrap_or(vport),
                forward,
            }),
            None => {
                let gf = if rv.ipv6 { &g.fallback6 } else { &g.fallback };
                match (gf, addr) {
                    (Some(gf), VirtualAddr::Inet { protocol, .. }) => {
                        let p = match protocol {
                            Protocol::Tcp => gf.tcp_port,
                            Protocol::Udp => gf.udp_port,
                        };
                        Some(Fallback {
                            addr: gf.addr,
                            port: p.unwrap_or(vport),
                            forward: gf.forward,
                        })
                    }
                    // ldirectord's global fallback has no "fwm" entry.
                    _ => None,
                }
            }
        };
        let ct = rv.checktimeout.map(Duration::from_secs);
        let nt = rv.negotiatetimeout.map(Duration::from_secs);
        let checktimeout = ct
            .or(nt)
            .or(g.checktimeout)
            .or(g.negotiatetimeout)
            .unwrap_or(Duration::from_secs(5));
        let negotiatetimeout = nt
            .or(ct)
            .or(g.negotiatetimeout)
            .or(g.checktimeout)
            .unwrap_or(Duration::from_secs(30));
        let checkinterval = match rv.checkinterval {
            Some(n) if g.fork => Duration::from_secs(n),
            Some(_) => {
                self.warn(
                    None,
                    format!(
                        "checkinterval in virtual service {} ignored when fork=no",
                        vid.clone().unwrap_or_default()
                    ),
                );
                g.checkinterval
            }
            None => g.checkinterval,
        };
        let service = rv
            .service
            .unwrap_or_else(|| Service::from_port(addr.port()));
        let v = VirtualService {
            line: rv.line,
            addr,
            reals: Vec::new(),
            scheduler: rv.scheduler,
            persistent: rv.persistent,
            netmask: rv.netmask,
            schedflags: rv.schedflags,
            ops: rv.ops,
            service,
            checktype: rv.checktype,
            checkcommand: rv.checkcommand,
            checkport: rv.checkport,
            request: rv.request,
            receive: rv.receive,
            httpmethod: rv.httpmethod,
            virtualhost: rv.virtualhost,
            login: rv.login,
            passwd: rv.passwd,
            database: rv.database,
            secret: rv.secret,
            load: rv.load,
            checktimeout,
            negotiatetimeout,
            checkcount: rv.checkcount.unwrap_or(g.checkcount),
            failurecount: rv.failurecount.unwrap_or(g.failurecount),
            risecount: rv.risecount.unwrap_or(g.risecount),
            checkinterval,
            quiescent: rv.quiescent.unwrap_or(g.quiescent),
            cleanstop: rv.cleanstop.unwrap_or(g.cleanstop),
            fallback,
            fallbackcommand: rv.fallbackcommand.or(g.fallbackcommand.clone()),
            emailalert: rv.emailalert.or(g.emailalert.clone()),
            emailalertfreq: rv
                .emailalertfreq
                .map(Duration::from_secs)
                .unwrap_or(g.emailalertfreq),
            emailalertstatus: rv.emailalertstatus.unwrap_or(g.emailalertstatus),
            smtp: rv.smtp.or(g.smtp.clone()),
            monitorfile: rv.monitorfile,
            servicename: rv.servicename,
            comment: rv.comment,
        };
        // Two entries IPVS would store as one destination: keep the first.
        let mut dests = HashSet::new();
        let mut kept = Vec::new();
        for r in reals {
            let d = v.dest_addr(&r);
            if dests.insert(d) {
                kept.push(r);
            } else {
                self.warn(
                    Some(r.line),
                    format!(
                        "real server {}:{} is already in virtual service {} as {}; ignored",
                        fmt_ip(r.addr),
                        r.port,
                        v.addr,
                        d
                    ),
                );
            }
        }
        Some(VirtualService { reals: kept, ..v })
    }

    /// One `real=` value: `_ld_read_config_real_resolve` + `add_real_server`.
    fn parse_real(&mut self, text: &str, line: usize, ipv6: bool) -> Vec<RealServer> {
        let Some(c) = RE_REAL.captures(text) else {
            self.err(line, "invalid address for real server (wrong format)");
            return Vec::new();
        };
        let ip1 = c.get(1).map_or("", |m| m.as_str());
        let ip2 = c.get(3).map(|m| m.as_str());
        let port_text = c.get(5).map_or("0", |m| m.as_str());
        let flags = c.get(6).map_or("", |m| m.as_str());
        let resolver = self.opts.resolver;
        let Some(first) = resolver.host(strip_brackets(ip1), ipv6) else {
            self.err(
                line,
                format!("invalid address ({ip1}) for real server (could not resolve host)"),
            );
            return Vec::new();
        };
        let Some(port) = self.port(port_text, None) else {
            self.err(
                line,
                format!("invalid port ({port_text}) for real server (could not resolve port)"),
            );
            return Vec::new();
        };
        let Some(proto) = self.real_flags(line, flags) else {
            return Vec::new();
        };
        let addrs: Vec<IpAddr> = match ip2 {
            None => vec![first],
            Some(ip2) => {
                let Some(last) = resolver.host(strip_brackets(ip2), ipv6) else {
                    self.err(
                        line,
                        format!(
                            "invalid address ({ip2}) for real server (could not resolve end host)"
                        ),
                    );
                    return Vec::new();
                };
                match (first, last) {
                    (IpAddr::V4(a), IpAddr::V4(b)) => {
                        let (a, b) = (u32::from(a), u32::from(b));
                        if a > b {
                            self.err(line, format!("Invalid Range: {first}-{last}: First value must be greater than or equal to the second value"));
                            return Vec::new();
                        }
                        if b - a >= MAX_RANGE {
                            self.err(
                                line,
                                format!(
                                    "Invalid Range: {first}-{last}: more than {MAX_RANGE} addresses"
                                ),
                            );
                            return Vec::new();
                        }
                        (a..=b).map(|n| IpAddr::V4(Ipv4Addr::from(n))).collect()
                    }
                    _ => {
                        self.err(line, "Address range for IPv6 is not supported yet");
                        return Vec::new();
                    }
                }
            }
        };
        addrs
            .into_iter()
            .map(|addr| RealServer {
                line,
                addr,
                port,
                ..proto.clone()
            })
            .collect()
    }

    /// `gate|masq|ipip [<weight>] ["<request>", "<receive>"] [l:N] [u:N]`,
    /// returned as a prototype real (address and port to be filled in).
    fn real_flags(&mut self, line: usize, flags: &str) -> Option<RealServer> {
        let fwd_ok = RE_FLAGS_FWD
            .captures(flags)
            .and_then(|c| Some((Forwarding::from_name(c.get(1)?.as_str())?, c.get(2)?)));
        let Some((forward, rest)) = fwd_ok else {
            self.err(line, "forward method must be gate, masq or ipip");
            return None;
        };
        let mut rest = rest.as_str();
        let mut weight = 1u32;
        if let Some(c) = RE_FLAGS_WEIGHT.captures(rest) {
            let w = c.get(1).map_or("", |m| m.as_str());
            match w.parse::<u32>() {
                Ok(n) if n <= 65_535 => weight = n,
                _ => {
                    self.err(
                        line,
                        format!("invalid weight {w} for real server (0..65535)"),
                    );
                    return None;
                }
            }
            rest = c.get(2).map_or("", |m| m.as_str());
        }
        let mut request = None;
        let mut receive = None;
        if let Some(c) = RE_FLAGS_REQ.captures(rest) {
            let q = c.get(1).map_or("", |m| m.as_str());
            request = Some(if q.starts_with('/') {
                q.to_string()
            } else {
                format!("/{q}")
            });
            receive = Some(c.get(2).map_or("", |m| m.as_str()).to_string());
            rest = c.get(3).map_or("", |m| m.as_str());
        }
        let mut lower = 0;
        let mut upper = 0;
        for (re, out) in [
            (&*RE_FLAGS_LOWER, &mut lower),
            (&*RE_FLAGS_UPPER, &mut upper),
        ] {
            if let Some(c) = re.captures(rest) {
                let n = c.get(1).map_or("", |m| m.as_str());
                match n.parse::<u32>() {
                    Ok(n) => *out = n,
                    Err(_) => {
                        self.err(line, format!("invalid threshold {n} for real server"));
                        return None;
                    }
                }
                rest = c.get(2).map_or("", |m| m.as_str());
            }
        }
        if rest.chars().any(|c| !is_space(c)) {
            self.err(line, format!("Invalid real server line, around \"{rest}\""));
            return None;
        }
        Some(RealServer {
            line,
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            forward,
            weight,
            request,
            receive,
            lower_threshold: lower,
            upper_threshold: upper,
        })
    }
}

/// `^ {4,}(.+)` on a comment-stripped, tab-expanded block line.
fn block_command(s: &str) -> Option<&str> {
    let k = s.len() - s.trim_start_matches(' ').len();
    if k < 4 {
        return None;
    }
    if k < s.len() {
        Some(&s[k..])
    } else if k >= 5 {
        // All blanks: the regex backtracks and `.+` takes the last one.
        Some(&s[k - 1..])
    } else {
        None
    }
}

fn split_commas(v: &str) -> Vec<&str> {
    v.split(',').map(|w| w.trim_matches(is_space)).collect()
}

fn strip_brackets(s: &str) -> &str {
    s.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_command_follows_the_perl_regex() {
        assert_eq!(block_command("    real=x"), Some("real=x"));
        assert_eq!(block_command("        real=x"), Some("real=x"));
        assert_eq!(block_command("   real=x"), None);
        assert_eq!(block_command("    "), None);
        assert_eq!(block_command("      "), Some(" "));
        assert_eq!(block_command(""), None);
    }

    #[test]
    fn helpers_match_ldirectord_value_rules() {
        assert_eq!(kv("checkinterval = 5", "checkinterval"), Some("5"));
        assert_eq!(kv("checkintervalx=5", "checkinterval"), None);
        assert_eq!(quoted(r#""a" x "b""#), Some(r#"a" x "b"#));
        assert_eq!(quoted("abc"), None);
        assert_eq!(positive("x5y"), Some(5));
        assert_eq!(positive("0"), None);
        assert_eq!(positive("none"), None);
        assert_eq!(
            split_commas("starting , running"),
            vec!["starting", "running"]
        );
    }
}
