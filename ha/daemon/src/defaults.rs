//! heartbeat's built-in directive defaults: what `heartbeat -D` prints and
//! what `cl_status hbparameter` answers for a directive ha.cf does not set.

/// (directive, default, description), in `heartbeat -D` order.
pub const DEFAULTS: &[(&str, &str, &str)] = &[
    ("cluster", "linux-ha", "the name of cluster"),
    ("hopfudge", "1", "# of hops above cluster size"),
    ("keepalive", "1000ms", "keepalive time"),
    ("deadtime", "30000ms", "node deadtime"),
    ("baud", "19200", "baud rate"),
    ("auto_failback", "legacy", "auto failback"),
    (
        "hbgenmethod",
        "file",
        "protocol generation computation method",
    ),
    ("realtime", "true", "enable realtime behavior?"),
    ("msgfmt", "classic", "message format in the wire"),
    ("conn_logd_time", "60", "the interval to reconnect to logd"),
    ("log_badpack", "true", "warn about bad packets"),
    ("syslogmsgfmt", "true", "log to files in syslog format"),
    ("coredumps", "true", "enable Linux-HA core dumps"),
    ("pacemaker", "false", "enable Pacemaker resource management"),
    ("autojoin", "none", "set automatic join mode/style"),
    ("uuidfrom", "file", "set the source for uuid"),
    ("compression", "zlib", "set compression module"),
    ("compression_threshold", "2", "set compression threshold"),
    (
        "traditional_compression",
        "no",
        "set traditional_compression",
    ),
    (
        "max_rexmit_delay",
        "250",
        "set the maximum rexmit delay time",
    ),
    (
        "record_config_changes",
        "on",
        "record changes to the cib (valid only with: pacemaker on)",
    ),
    (
        "record_pengine_inputs",
        "on",
        "record the input used by the policy engine (valid only with: pacemaker on)",
    ),
    (
        "enable_config_writes",
        "on",
        "write configuration changes to disk (valid only with: pacemaker on)",
    ),
    (
        "memreserve",
        "6500",
        "number of kbytes to preallocate in heartbeat",
    ),
];

/// The `heartbeat -D` table, byte for byte.
pub fn defaults_table() -> String {
    let mut out = format!("{:<25}{:<10}{}\n", "Directive", "Default", "Description");
    out.push_str(&"-".repeat(80));
    out.push('\n');
    for (name, value, desc) in DEFAULTS {
        out.push_str(&format!("{name:<25}{value:<10}{desc}\n"));
    }
    out
}

/// Directives heartbeat parses into its node/media/client tables instead of
/// its parameter table: `hbparameter` does not know them.
const NOT_PARAMETERS: &[&str] = &[
    "node",
    "bcast",
    "mcast",
    "mcast6",
    "ucast",
    "ucast6",
    "serial",
    "ping",
    "ping6",
    "ping_group",
    "respawn",
    "apiauth",
    "stonith",
    "stonith_host",
];

/// What heartbeat's `GetParameterValue(name)` returns: the raw ha.cf value,
/// else a fixed default, else a value heartbeat computes at start.
/// `raw` is `HaCf::raw` (lower-cased names, values as written); for a
/// directive given twice, heartbeat keeps the last.
pub fn parameter(
    raw: &[(String, String)],
    name: &str,
    debug_level: u32,
    warntime_ms: u128,
) -> Option<String> {
    // "crm" is heartbeat's deprecated alias of "pacemaker".
    let name = if name == "crm" { "pacemaker" } else { name };
    if name == "hbversion" {
        return Some(crate::version_string());
    }
    if NOT_PARAMETERS.contains(&name) {
        return None;
    }
    if let Some((_, v)) = raw.iter().rev().find(|(k, _)| k == name) {
        return Some(v.clone());
    }
    if let Some((_, v, _)) = DEFAULTS.iter().find(|(k, _, _)| *k == name) {
        return Some((*v).to_owned());
    }
    match name {
        "debug" => Some(debug_level.to_string()),
        "warntime" => Some(format!("{warntime_ms}ms")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_heartbeats_layout() {
        let t = defaults_table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "Directive                Default   Description");
        assert_eq!(lines[1].len(), 80);
        assert_eq!(
            lines[2],
            "cluster                  linux-ha  the name of cluster"
        );
        assert!(lines.contains(
            &"memreserve               6500      number of kbytes to preallocate in heartbeat"
        ));
        assert_eq!(lines.len(), 2 + DEFAULTS.len());
    }

    #[test]
    fn parameter_prefers_raw_then_defaults() {
        let raw = vec![
            ("keepalive".to_owned(), "1500ms".to_owned()),
            ("logfacility".to_owned(), "none".to_owned()),
            ("keepalive".to_owned(), "0.5".to_owned()),
            ("bcast".to_owned(), "eth0".to_owned()),
        ];
        assert_eq!(parameter(&raw, "bcast", 0, 0), None);
        assert_eq!(parameter(&raw, "keepalive", 0, 0).as_deref(), Some("0.5"));
        assert_eq!(
            parameter(&raw, "logfacility", 0, 0).as_deref(),
            Some("none")
        );
        assert_eq!(parameter(&raw, "msgfmt", 0, 0).as_deref(), Some("classic"));
        assert_eq!(parameter(&raw, "crm", 0, 0).as_deref(), Some("false"));
        assert_eq!(parameter(&raw, "debug", 2, 0).as_deref(), Some("2"));
        assert_eq!(
            parameter(&raw, "warntime", 0, 1500).as_deref(),
            Some("1500ms")
        );
        assert!(parameter(&raw, "hbversion", 0, 0)
            .unwrap()
            .starts_with("3.0.6 "));
        assert_eq!(parameter(&raw, "apiauth", 0, 0), None);
    }
}
