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

mod block;
mod finish;
mod global;
mod lex;
mod real;

use lex::*;

/// Inputs of [`parse`] besides the text.
pub struct ParseOptions<'a> {
    pub resolver: &'a dyn Resolver,
    /// ldirectord's `$HOSTNAME`: `service=ftp` defaults the password and
    /// `service=sip` the login to `ldirectord@<hostname>`.
    pub hostname: &'a str,
}

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
}
