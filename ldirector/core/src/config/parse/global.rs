//! Column-0 directives (`checkinterval=`, `fallback=`, `logfile=`, …) and
//! the e-mail settings shared with blocks.

use super::*;

static RE_FALLBACK_FWD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"([^ \t\n\r\x0B\x0C]+)({SP}+([^ \t\n\r\x0B\x0C]+))?{SP}*$"
    ))
    .expect("static regex")
});

static RE_PORT_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(:([0-9]+|[A-Za-z0-9_\-]+))?$").expect("static regex"));

const SYSLOG_FACILITIES: &[&str] = &[
    "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "syslog", "user",
    "uucp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

impl Parser<'_> {
    pub(super) fn emailalert(&mut self, line: usize, val: &str) -> Option<String> {
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
    pub(super) fn emailalertfreq(&mut self, line: usize, val: &str) -> Option<u64> {
        let end = val.find(|c: char| !c.is_ascii_digit()).unwrap_or(val.len());
        match val[..end].parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.err(line, "invalid email alert frequency");
                None
            }
        }
    }

    pub(super) fn emailalertstatus(&mut self, line: usize, val: &str) -> Option<AlertStatus> {
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

    pub(super) fn smtp(&mut self, line: usize, val: &str) -> Option<String> {
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
    pub(super) fn parse_fallback(&mut self, line: usize, val: &str) -> Option<RawFallback> {
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

    pub(super) fn global_line(&mut self, line: usize, raw: &str) {
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
}
