//! What heartbeat's `init_config` does after the last line: defaults,
//! derived timings, and the checks that need the whole file.

use std::time::Duration;

use super::{ms, Outcome, Parser, DEFAULT_UDPPORT};
use crate::{ApiAuth, AutoFailback, ConfigError, HaCf};

/// `Directives[]` default values, recorded for every directive the file
/// does not set (`add_option(name, defaultvalue)` in `init_config`).
const DEFAULTS: &[(&str, &str)] = &[
    ("cluster", "linux-ha"),
    ("hopfudge", "1"),
    ("keepalive", "1000ms"),
    ("deadtime", "30000ms"),
    ("baud", "19200"),
    ("auto_failback", "legacy"),
    ("hbgenmethod", "file"),
    ("realtime", "true"),
    ("msgfmt", "classic"),
    ("conn_logd_time", "60"),
    ("log_badpack", "true"),
    ("syslogmsgfmt", "true"),
    ("coredumps", "true"),
    ("pacemaker", "false"),
    ("autojoin", "none"),
    ("uuidfrom", "file"),
    ("compression", "zlib"),
    ("compression_threshold", "2"),
    ("traditional_compression", "no"),
    ("max_rexmit_delay", "250"),
    ("record_config_changes", "on"),
    ("record_pengine_inputs", "on"),
    ("enable_config_writes", "on"),
    ("memreserve", "6500"),
];

/// `parse_config`'s `defserv[]`: API clients heartbeat authorizes unless
/// the file says otherwise (HA_CCMUSER = hacluster, HA_APIGROUP = haclient).
const DEFAULT_APIAUTH: &[(&str, &str, &str)] = &[
    ("ipfail", "hacluster", ""),
    ("ccm", "hacluster", ""),
    ("ping", "", "haclient"),
    ("lha-snmpagent", "root", ""),
    ("anon", "root", "haclient"),
];

const TEN_SECONDS: Duration = Duration::from_secs(10);

impl Parser<'_> {
    /// Whether every one of `names` has a usable value.
    fn valid(&self, names: &[&str]) -> bool {
        !names.iter().any(|n| self.invalid.contains(n))
    }

    fn line_of(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.set_on.get(n).copied())
    }

    pub(super) fn finish(mut self) -> Outcome {
        for (name, value) in DEFAULTS {
            if !self.recorded(name) {
                self.record(name, value);
            }
        }
        if !self.recorded("debug") {
            self.record("debug", "0");
        }

        self.check_media();
        if self.nodes.is_empty() {
            self.error(None, "no nodes defined");
        }
        let warntime = self.warntime.unwrap_or_else(|| {
            let w = self.deadtime / 2;
            self.record("warntime", &format!("{}ms", ms(w)));
            w
        });
        self.check_timing(warntime);
        let initdead = self.initdead();
        let deadping = self.deadping();
        if !self.recorded("udpport") {
            self.record("udpport", &DEFAULT_UDPPORT.to_string());
        }
        if self.auto_failback == AutoFailback::Legacy {
            let line = self.line_of(&["auto_failback", "nice_failback"]);
            self.warn(
                line,
                "Deprecated 'legacy' auto_failback option selected. Please convert to \
                 'auto_failback on'. See documentation for conversion details.",
            );
        }
        let use_logd = self.logging();
        for (client, uid, gid) in DEFAULT_APIAUTH {
            if !self.apiauth.iter().any(|a| a.client == *client) {
                let list = |s: &str| s.split_whitespace().map(str::to_string).collect();
                self.apiauth.push(ApiAuth {
                    client: client.to_string(),
                    uids: list(uid),
                    gids: list(gid),
                });
            }
        }

        let nodes = Some(self.nodes.clone());
        if !self.errors.is_empty() {
            return Outcome {
                result: Err(ConfigError {
                    problems: self.errors,
                }),
                nodes,
            };
        }
        let hacf = HaCf {
            keepalive: self.keepalive,
            deadtime: self.deadtime,
            warntime,
            initdead,
            deadping,
            udpport: self.udpport,
            media: self.media,
            nodes: self.nodes,
            auto_failback: self.auto_failback,
            ping_nodes: self.ping_nodes,
            ping_node_positions: self.ping_node_positions,
            respawn: self.respawn,
            logfile: self.logfile,
            debugfile: self.debugfile,
            logfacility: self.logfacility,
            use_logd,
            hopfudge: self.hopfudge,
            realtime: self.realtime,
            debug: self.debug,
            watchdog: self.watchdog,
            autojoin: self.autojoin,
            raw: self.params,
            warnings: self.warnings,
            failfast: self.failfast,
            apiauth: self.apiauth,
            stonith: self.stonith,
            stonith_host: self.stonith_host,
            env: self.env,
            rtprio: self.rtprio,
            hbgenmethod: self.hbgenmethod,
            uuidfrom: self.uuidfrom,
            msgfmt: self.msgfmt,
            max_rexmit_delay: self.max_rexmit_delay,
        };
        Outcome {
            result: Ok(hacf),
            nodes,
        }
    }

    fn check_media(&mut self) {
        if !self.media.is_empty() {
            return;
        }
        if self.media_count == 0 {
            self.error(None, "No heartbeat media defined");
        } else if let Some((kind, line)) = self.unsupported_media.first().copied() {
            self.error(
                None,
                format!(
                    "No usable heartbeat media: {kind} (line {line}) is not supported by this \
                     implementation; add a bcast, mcast or ucast line"
                ),
            );
        } else if self.nodes.len() > 1 {
            // Only ping media: heartbeat starts, but the nodes cannot hear
            // each other and each will take every resource.
            self.warn(
                None,
                "no bcast, mcast or ucast medium: the nodes cannot hear each other",
            );
        }
    }

    fn check_timing(&mut self, warntime: Duration) {
        if self.deadtime <= 2 * self.keepalive && self.valid(&["keepalive", "deadtime"]) {
            let line = self.line_of(&["deadtime", "keepalive"]);
            self.error(
                line,
                format!(
                    "Dead time [{}] is too small compared to keepalive [{}]",
                    ms(self.deadtime),
                    ms(self.keepalive)
                ),
            );
        }
        if warntime >= self.deadtime
            && self.warntime.is_some()
            && self.valid(&["warntime", "deadtime"])
        {
            let line = self.line_of(&["warntime"]);
            self.warn(
                line,
                format!(
                    "Warn time [{}] is not smaller than deadtime [{}]: late heartbeat warnings can never be logged",
                    ms(warntime),
                    ms(self.deadtime)
                ),
            );
        }
    }

    /// initdead: given, or deadtime if > 10 s, 12 s if deadtime < 6 s,
    /// else 2 × deadtime.
    fn initdead(&mut self) -> Duration {
        let initdead = match self.initdead {
            Some(d) => d,
            None => {
                let d = if self.deadtime > TEN_SECONDS {
                    self.deadtime
                } else if self.deadtime < Duration::from_secs(6) {
                    Duration::from_secs(12)
                } else {
                    2 * self.deadtime
                };
                self.record("initdead", &format!("{}ms", ms(d)));
                d
            }
        };
        if !self.valid(&["initdead", "deadtime"]) {
            return initdead;
        }
        if initdead < self.deadtime {
            let line = self.line_of(&["initdead", "deadtime"]);
            self.error(
                line,
                format!(
                    "Initial dead time [{}] is smaller than deadtime [{}]",
                    ms(initdead),
                    ms(self.deadtime)
                ),
            );
        } else if initdead < TEN_SECONDS {
            let line = self.line_of(&["initdead"]);
            self.warn(
                line,
                format!(
                    "Initial dead time [{} ms] may be too small! It accounts for slow network \
                     startup and should be >= deadtime and >= 10 seconds",
                    ms(initdead)
                ),
            );
        }
        initdead
    }

    fn deadping(&mut self) -> Duration {
        match self.deadping {
            Some(d) => {
                if d <= 2 * self.keepalive && self.valid(&["keepalive"]) {
                    let line = self.line_of(&["deadping"]);
                    self.error(
                        line,
                        format!(
                            "Ping dead time [{}] is too small compared to keepalive [{}]",
                            ms(d),
                            ms(self.keepalive)
                        ),
                    );
                }
                d
            }
            None => {
                self.record("deadping", &format!("{}ms", ms(self.deadtime)));
                self.deadtime
            }
        }
    }

    /// `check_logd_usage` and the syslog /dev/null defaults. Returns the
    /// effective `use_logd`.
    fn logging(&mut self) -> bool {
        // Facility 0 (`none`, and `kern`, whose value is 0) counts as none.
        let facility = self.logfacility.as_deref().is_some_and(|f| f != "kern");
        let any_log = self.logfile.is_some() || self.debugfile.is_some() || facility;
        let use_logd = match (any_log, self.use_logd) {
            (false, None) => {
                self.record("use_logd", "yes");
                true
            }
            (false, Some(false)) => {
                let line = self.line_of(&["use_logd"]);
                self.error(
                    line,
                    "No log entry found in ha.cf and use_logd is set to off",
                );
                false
            }
            (_, v) => v.unwrap_or(false),
        };
        if facility {
            for name in ["logfile", "debugfile"] {
                if !self.recorded(name) {
                    self.record(name, "/dev/null");
                }
            }
        }
        use_logd
    }
}
