//! `virtual=` headers and the directives inside a block.

use super::*;

static RE_VIRTUAL_V4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+):([0-9A-Za-z_\-]+)").expect("static regex")
});

static RE_VIRTUAL_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9A-Za-z._+\-]+):([0-9A-Za-z_\-]+)").expect("static regex"));

static RE_VIRTUAL_FWM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]+)").expect("static regex"));

static RE_VIRTUAL_V6: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[([0-9A-Fa-f:]+)\]:([0-9A-Za-z_\-]+)").expect("static regex"));

impl Parser<'_> {
    pub(super) fn virtual_header(&mut self, line: usize, ipv6: bool, vattr: &str) -> RawVirtual {
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

    pub(super) fn block_line(&mut self, v: &mut RawVirtual, line: usize, rcmd: &str, raw: &str) {
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

    pub(super) fn unknown_block(&mut self, line: usize, raw: &str) {
        self.err(line, format!("Unknown command \"{raw}\""));
    }

    pub(super) fn quoted_field(
        &mut self,
        line: usize,
        raw: &str,
        val: &str,
        msg: &str,
        out: &mut String,
    ) {
        match quoted(val) {
            Some("") => self.err(line, msg),
            Some(q) => *out = q.to_string(),
            None => self.unknown_block(line, raw),
        }
    }

    pub(super) fn netmask(&mut self, v: &mut RawVirtual, line: usize, val: &str) {
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
}
