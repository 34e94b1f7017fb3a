//! Log lines with heartbeat's wording.
//!
//! heartbeat's resource work is split between the daemon (`heartbeat:
//! [pid]: info: …`) and shell scripts (`ResourceManager(default)[pid]:
//! info: …`). The source says which one a line imitates so the shell can
//! format it the same way.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
    Crit,
}

impl Level {
    /// The word heartbeat prints before the text.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Crit => "CRIT",
        }
    }
}

/// Which heartbeat component would have written the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// The daemon itself (`hb_resource.c`).
    Heartbeat,
    /// `/usr/share/heartbeat/ResourceManager`.
    ResourceManager,
    /// `/usr/share/heartbeat/mach_down`.
    MachDown,
    /// `/usr/share/heartbeat/hb_standby`.
    HbStandby,
    /// `/etc/ha.d/rc.d/ip-request-resp`.
    IpRequestResp,
}

impl Source {
    /// The program name heartbeat's `ha_log` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Heartbeat => "heartbeat",
            Source::ResourceManager => "ResourceManager",
            Source::MachDown => "mach_down",
            Source::HbStandby => "hb_standby",
            Source::IpRequestResp => "ip-request-resp",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Log {
    pub level: Level,
    pub source: Source,
    pub text: String,
}

impl Log {
    pub(crate) fn new(level: Level, source: Source, text: impl Into<String>) -> Log {
        Log {
            level,
            source,
            text: text.into(),
        }
    }
}

impl fmt::Display for Log {
    /// `level: text`, the part after heartbeat's `[pid]: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.level.as_str(), self.text)
    }
}
