//! The configuration files a test node gets: `ha.cf`, `authkeys`,
//! `haresources`. Same shape as the reference anchor config (heartbeat-3.0.6.md
//! §2), with timing as a parameter so that tests can use a faster variant.

use std::collections::BTreeMap;
use std::time::Duration;

use hb_wire::{AuthKeys, AuthMethod};

/// The `authkeys` method a cluster uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    Crc,
    Md5(String),
    Sha1(String),
}

impl Auth {
    /// Method and key index as in the reference configs
    /// (`1 crc`, `3 md5 Hello!`, `2 sha1 HI!`).
    pub fn reference(method: &str) -> Option<Self> {
        Some(match method {
            "crc" => Auth::Crc,
            "md5" => Auth::Md5("Hello!".into()),
            "sha1" => Auth::Sha1("HI!".into()),
            _ => return None,
        })
    }

    pub fn method(&self) -> &'static str {
        match self {
            Auth::Crc => "crc",
            Auth::Md5(_) => "md5",
            Auth::Sha1(_) => "sha1",
        }
    }

    pub fn index(&self) -> u8 {
        match self {
            Auth::Crc => 1,
            Auth::Md5(_) => 3,
            Auth::Sha1(_) => 2,
        }
    }

    /// Same method and index, different key (crc has no key: `None`).
    pub fn with_key(&self, key: &str) -> Option<Self> {
        match self {
            Auth::Crc => None,
            Auth::Md5(_) => Some(Auth::Md5(key.into())),
            Auth::Sha1(_) => Some(Auth::Sha1(key.into())),
        }
    }

    /// The `authkeys` file text (must be installed mode 0600).
    pub fn authkeys(&self) -> String {
        let idx = self.index();
        match self {
            Auth::Crc => format!("auth {idx}\n{idx} crc\n"),
            Auth::Md5(k) => format!("auth {idx}\n{idx} md5 {k}\n"),
            Auth::Sha1(k) => format!("auth {idx}\n{idx} sha1 {k}\n"),
        }
    }

    /// The same keys for hb-wire, to sign and verify packets in tests.
    pub fn keys(&self) -> AuthKeys {
        let m = match self {
            Auth::Crc => AuthMethod::Crc,
            Auth::Md5(k) => AuthMethod::Md5 {
                key: k.as_bytes().to_vec(),
            },
            Auth::Sha1(k) => AuthMethod::Sha1 {
                key: k.as_bytes().to_vec(),
            },
        };
        AuthKeys::new(self.index(), BTreeMap::from([(self.index(), m)]))
            .unwrap_or_else(|| AuthKeys::single(self.index(), AuthMethod::Crc))
    }
}

/// Heartbeat's timing directives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub keepalive: Duration,
    pub deadtime: Duration,
    pub warntime: Duration,
    pub initdead: Duration,
}

impl Timing {
    /// The reference anchor: keepalive 1, deadtime 3, warntime 2, initdead 6.
    pub const STANDARD: Timing = Timing {
        keepalive: Duration::from_secs(1),
        deadtime: Duration::from_secs(3),
        warntime: Duration::from_secs(2),
        initdead: Duration::from_secs(6),
    };

    /// The reference's fast variant: keepalive 200ms, deadtime 1.
    pub const FAST: Timing = Timing {
        keepalive: Duration::from_millis(200),
        deadtime: Duration::from_secs(1),
        warntime: Duration::from_millis(600),
        initdead: Duration::from_secs(6),
    };

    /// How late after the real deadline a peer's death may be reported:
    /// real heartbeat checks deadlines from its poll loop (up to 0.5 s late,
    /// §4.10), plus one status poll and a `cl_status` round trip.
    pub const DEAD_MARGIN: Duration = Duration::from_millis(1000);
}

/// A duration in `ha.cf` syntax: whole seconds bare, otherwise `ms`
/// (`2s` and `500 ms` are configuration errors in heartbeat).
pub fn hb_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// `ha.cf` contents, minus the per-cluster `node` lines.
#[derive(Clone, Debug)]
pub struct HaCf {
    pub timing: Timing,
    pub udpport: u16,
    pub auto_failback: String,
    /// Extra directives, appended verbatim.
    pub extra: Vec<String>,
    /// Media lines (`mcast eth0 …`, `ucast eth1 …`) written in place of the
    /// default `bcast <iface>`; empty keeps the default.
    pub media: Vec<String>,
}

impl Default for HaCf {
    fn default() -> Self {
        Self {
            timing: Timing::STANDARD,
            udpport: 694,
            auto_failback: "on".into(),
            extra: Vec::new(),
            media: Vec::new(),
        }
    }
}

impl HaCf {
    pub fn with_timing(timing: Timing) -> Self {
        Self {
            timing,
            ..Self::default()
        }
    }

    /// The file for a cluster of `nodes`, broadcasting on `iface`.
    pub fn render(&self, nodes: &[&str], iface: &str) -> String {
        let t = &self.timing;
        let mut s = String::from("# written by ha-tests\n");
        for (k, v) in [
            ("logfile", "/var/log/ha-log".to_owned()),
            ("debugfile", "/var/log/ha-debug".to_owned()),
            ("logfacility", "none".to_owned()),
            ("use_logd", "no".to_owned()),
            ("keepalive", hb_duration(t.keepalive)),
            ("deadtime", hb_duration(t.deadtime)),
            ("warntime", hb_duration(t.warntime)),
            ("initdead", hb_duration(t.initdead)),
            // udpport must precede the media lines.
            ("udpport", self.udpport.to_string()),
            ("bcast", iface.to_owned()),
            ("auto_failback", self.auto_failback.clone()),
        ] {
            if k == "bcast" && !self.media.is_empty() {
                for m in &self.media {
                    s.push_str(m);
                    s.push('\n');
                }
                continue;
            }
            s.push_str(&format!("{k} {v}\n"));
        }
        for e in &self.extra {
            s.push_str(e);
            s.push('\n');
        }
        for n in nodes {
            s.push_str(&format!("node {n}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_heartbeat_syntax() {
        assert_eq!(hb_duration(Duration::from_secs(3)), "3");
        assert_eq!(hb_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(hb_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn hacf_matches_reference_anchor() {
        let s = HaCf::default().render(&["node1", "node2"], "eth0");
        let body: Vec<&str> = s.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            body,
            [
                "logfile /var/log/ha-log",
                "debugfile /var/log/ha-debug",
                "logfacility none",
                "use_logd no",
                "keepalive 1",
                "deadtime 3",
                "warntime 2",
                "initdead 6",
                "udpport 694",
                "bcast eth0",
                "auto_failback on",
                "node node1",
                "node node2",
            ]
        );
    }

    #[test]
    fn authkeys_text() {
        assert_eq!(Auth::Crc.authkeys(), "auth 1\n1 crc\n");
        assert_eq!(
            Auth::reference("sha1").map(|a| a.authkeys()),
            Some("auth 2\n2 sha1 HI!\n".into())
        );
        assert_eq!(
            Auth::reference("md5")
                .and_then(|a| a.with_key("x"))
                .map(|a| a.index()),
            Some(3)
        );
        assert_eq!(Auth::Crc.with_key("x"), None);
    }
}
