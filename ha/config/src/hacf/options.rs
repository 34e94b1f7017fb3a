//! Option directives (config.c's `Directives[]` and `set_*` functions):
//! one value at a time, with heartbeat's checks and messages.

use std::path::PathBuf;
use std::time::Duration;

use super::{Parser, MAXNODE};
use crate::duration::parse_duration;
use crate::{AutoFailback, GenMethod, MsgFmt, UuidFrom};

/// glibc's `facilitynames` (what Debian's cluster-glue uses), plus `none`.
const FACILITIES: &[&str] = &[
    "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "mark", "news", "security",
    "syslog", "user", "uucp", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
    "local7",
];

/// `cl_str_to_boolean`.
fn cl_bool(v: &str) -> Option<bool> {
    const T: &[&str] = &["true", "on", "yes", "y", "1"];
    const F: &[&str] = &["false", "off", "no", "n", "0"];
    if T.iter().any(|t| v.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if F.iter().any(|f| v.eq_ignore_ascii_case(f)) {
        Some(false)
    } else {
        None
    }
}

fn bool_value(name: &str, v: &str) -> Result<bool, String> {
    cl_bool(v).ok_or_else(|| {
        format!("{name}: invalid value \"{v}\" (expected on/off, yes/no, true/false, y/n or 1/0)")
    })
}

fn int_in(name: &str, v: &str, lo: i64, hi: i64) -> Result<i64, String> {
    match v.parse::<i64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!(
            "{name}: invalid value \"{v}\" (expected an integer from {lo} to {hi})"
        )),
    }
}

fn duration_value(name: &str, v: &str) -> Result<Duration, String> {
    parse_duration(v).map_err(|e| format!("{name}: {e}"))
}

impl Parser<'_> {
    /// One value of an option directive (config.c's `set_*` functions).
    pub(super) fn set_option(&mut self, name: &str, v: &str, lineno: usize) -> Result<(), String> {
        match name {
            "node" => self.add_node(v, lineno)?,
            "hopfudge" => self.hopfudge = int_in(name, v, 0, 255)? as u32,
            "keepalive" => {
                let d = duration_value(name, v)?;
                if d.is_zero() {
                    return Err(format!("keepalive: \"{v}\" must be greater than 0"));
                }
                self.keepalive = d;
            }
            "deadtime" => self.deadtime = duration_value(name, v)?,
            "deadping" => self.deadping = Some(duration_value(name, v)?),
            "initdead" => self.initdead = Some(duration_value(name, v)?),
            "warntime" => {
                let d = duration_value(name, v)?;
                if d.is_zero() {
                    return Err(format!("Warn time [{v}] is invalid."));
                }
                self.warntime = Some(d);
            }
            "watchdog" => {
                if self.watchdog.is_some() {
                    return Err("Watchdog device multiply specified.".into());
                }
                self.watchdog = Some(PathBuf::from(v));
            }
            "baud" => {
                if self.baud_set {
                    return Err("Baudrate multiply specified.".into());
                }
                self.baud_set = true;
                const BAUDS: &[&str] = &[
                    "9600", "19200", "38400", "57600", "115200", "230400", "460800",
                ];
                if !BAUDS.contains(&v) {
                    return Err(format!("invalid baudrate [{v}] specified."));
                }
            }
            "udpport" => self.set_udpport(v, lineno)?,
            "logfacility" => {
                if v == "none" {
                    self.logfacility = None;
                } else if FACILITIES.contains(&v) {
                    self.logfacility = Some(v.to_string());
                } else {
                    return Err(format!(
                        "Log facility({v}) not valid: expected none or one of {}",
                        FACILITIES.join(", ")
                    ));
                }
            }
            "logfile" => self.logfile = Some(PathBuf::from(v)),
            "debugfile" => self.debugfile = Some(PathBuf::from(v)),
            "nice_failback" => self.set_nice_failback(v, lineno)?,
            "auto_failback" => {
                (self.auto_failback, self.nice_failback) = match cl_bool(v) {
                    Some(true) => (AutoFailback::On, true),
                    Some(false) => (AutoFailback::Off, true),
                    None if v.eq_ignore_ascii_case("legacy") => (AutoFailback::Legacy, false),
                    None => {
                        return Err(format!(
                            "auto_failback: invalid value \"{v}\" (expected on, off or legacy)"
                        ))
                    }
                };
            }
            "rtprio" => {
                // sched_get_priority_{min,max}(SCHED_FIFO) on Linux.
                let p = int_in(name, v, 1, 99)
                    .map_err(|_| format!("Illegal realtime priority [{v}]"))?;
                self.rtprio = Some(p as u8);
            }
            "hbgenmethod" => {
                self.hbgenmethod = match v {
                    "file" => GenMethod::File,
                    "time" => GenMethod::Time,
                    _ => {
                        return Err(format!(
                            "Illegal hb generation method [{v}] (expected file or time)"
                        ))
                    }
                }
            }
            "realtime" => self.realtime = bool_value(name, v)?,
            "debug" => self.debug = int_in(name, v, 0, 255)? as u32,
            "msgfmt" => {
                self.msgfmt = match v {
                    "classic" => MsgFmt::Classic,
                    "netstring" => MsgFmt::Netstring,
                    _ => {
                        return Err(format!(
                            "msgfmt: invalid value \"{v}\" (expected classic or netstring)"
                        ))
                    }
                }
            }
            "use_logd" => self.use_logd = Some(bool_value(name, v)?),
            "conn_logd_time" => {
                if duration_value(name, v)?.is_zero() {
                    return Err(format!("conn_logd_time: \"{v}\" must be greater than 0"));
                }
            }
            "use_apphbd"
            | "log_badpack"
            | "syslogmsgfmt"
            | "coredumps"
            | "traditional_compression"
            | "record_config_changes"
            | "record_pengine_inputs"
            | "enable_config_writes" => {
                bool_value(name, v)?;
            }
            "coreroot" | "cluster" | "quorum_server" => {}
            "crm_daemon_dir" | "crmd_spawns_pengine" => {
                if self.pacemaker_seen {
                    return Err(format!(
                        "If you specify {name}, it must come before the crm/pacemaker directive"
                    ));
                }
                if name == "crmd_spawns_pengine" {
                    bool_value(name, v)?;
                }
            }
            "crm" | "pacemaker" => {
                self.set_pacemaker(name, v)?;
                // set_release2mode() records the value under `pacemaker`.
                if name == "crm" {
                    self.record("pacemaker", v);
                }
            }
            "autojoin" => {
                let lower = v.to_ascii_lowercase();
                match lower.as_str() {
                    "none" => self.autojoin = lower,
                    "other" | "any" => {
                        return Err(format!(
                            "autojoin {v}: R1 style resource management conflicts with autojoin set \
                             (heartbeat needs crm for it, and this implementation runs haresources mode only); \
                             remove the line or use \"autojoin none\""
                        ))
                    }
                    _ => return Err(format!("Invalid autojoin directive [{v}] (expected none, other or any)")),
                }
            }
            "uuidfrom" => {
                self.uuidfrom = match v {
                    "file" => UuidFrom::File,
                    "nodename" => UuidFrom::NodeName,
                    _ => {
                        return Err(format!(
                            "Invalid uuidfrom directive [{v}] (expected file or nodename)"
                        ))
                    }
                }
            }
            "compression" => {
                // The compress plugins Debian ships.
                if !matches!(v, "zlib" | "bz2") {
                    return Err(format!(
                        "compression: unknown module \"{v}\" (expected zlib or bz2)"
                    ));
                }
            }
            "compression_threshold" | "memreserve" => {
                int_in(name, v, 1, i64::from(i32::MAX))?;
            }
            "env" => {
                let (n, val) = v
                    .split_once('=')
                    .filter(|(n, _)| !n.is_empty())
                    .ok_or_else(|| format!("env: invalid nvpair({v}), expected NAME=value"))?;
                self.env.push((format!("HA_{n}"), val.to_string()));
            }
            "max_rexmit_delay" => {
                let n = int_in(name, v, 1, i64::from(i32::MAX))
                    .map_err(|_| format!("Invalid max_rexmit_delay time({v})"))?;
                self.max_rexmit_delay = Duration::from_millis(n as u64);
            }
            _ => return Err(format!("unknown directive \"{name}\"")),
        }
        Ok(())
    }

    fn add_node(&mut self, v: &str, lineno: usize) -> Result<(), String> {
        let name = v.to_ascii_lowercase();
        if let Some(prev) = self.node_lines.get(&name) {
            return Err(format!(
                "duplicate node \"{name}\" (already declared on line {prev})"
            ));
        }
        self.count_node()?;
        self.node_lines.insert(name.clone(), lineno);
        self.nodes.push(name);
        Ok(())
    }

    pub(super) fn count_node(&mut self) -> Result<(), String> {
        if self.node_count >= MAXNODE {
            return Err(format!(
                "too many nodes (heartbeat allows at most {MAXNODE}, ping nodes included)"
            ));
        }
        self.node_count += 1;
        Ok(())
    }

    fn set_udpport(&mut self, v: &str, lineno: usize) -> Result<(), String> {
        let port = match v.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(format!("invalid port [{v}] specified.")),
        };
        self.udpport = port;
        let stale: Vec<(&str, u16)> = self
            .latched_port
            .iter()
            .filter(|(_, p)| *p != port)
            .copied()
            .collect();
        for (plugin, kept) in stale {
            self.warn(
                Some(lineno),
                format!(
                    "udpport {port} comes after a {plugin} line: {plugin} media keep port {kept} \
                     (udpport setting must precede media statements)"
                ),
            );
        }
        Ok(())
    }

    /// heartbeat's `set_nice_failback`. The value (on/off) is only checked
    /// for being a boolean; what counts is the *global* `nice_failback`,
    /// which only an earlier `auto_failback on|off` has set. So:
    /// `auto_failback on|off` before it → `auto_failback off`; otherwise →
    /// `legacy`, whatever the value. A later `auto_failback` line overrides
    /// it. Verified for `nice_failback on|off` alone (exp-badconf: both
    /// "strictly interpreted as 'auto_failback legacy'").
    fn set_nice_failback(&mut self, v: &str, lineno: usize) -> Result<(), String> {
        if cl_bool(v).is_none() {
            return Err(format!(
                "nice_failback: invalid value \"{v}\" (nice_failback is obsolete; use auto_failback on, off or legacy)"
            ));
        }
        let msg = if self.nice_failback {
            self.auto_failback = AutoFailback::Off;
            format!(
                "nice_failback flag is obsolete: 'nice_failback {v}' has been changed to 'auto_failback off' \
                 (heartbeat 3.0.6 ignores the value and follows the earlier auto_failback line); \
                 use auto_failback {{on, off, legacy}} instead"
            )
        } else {
            self.auto_failback = AutoFailback::Legacy;
            format!(
                "nice_failback flag is obsolete: 'nice_failback {v}' has been strictly interpreted as \
                 'auto_failback legacy' (heartbeat 3.0.6 ignores the value); consider converting to \
                 'auto_failback on': then you can use ipfail and hb_standby"
            )
        };
        self.warn(Some(lineno), msg);
        Ok(())
    }

    fn set_pacemaker(&mut self, name: &str, v: &str) -> Result<(), String> {
        if self.pacemaker_seen {
            return Err("pacemaker/crm directive used multiple times!".into());
        }
        self.pacemaker_seen = true;
        let pcmk_mode = ["minimal", "manual", "respawn", "ccm-only", "valgrind"]
            .iter()
            .any(|m| v.eq_ignore_ascii_case(m));
        match cl_bool(v) {
            Some(false) => Ok(()),
            Some(true) => Err(unsupported_crm(name, v)),
            None if pcmk_mode => Err(unsupported_crm(name, v)),
            None => Err(format!(
                "{name}: invalid value \"{v}\" (only off/no/false is supported here)"
            )),
        }
    }
}

fn unsupported_crm(name: &str, v: &str) -> String {
    format!(
        "{name} {v}: Pacemaker (CRM) cluster management is not supported: this implementation runs \
         heartbeat v1 haresources mode only (use \"{name} off\" or remove the line)"
    )
}
