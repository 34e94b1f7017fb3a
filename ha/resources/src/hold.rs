//! The resource words of heartbeat's nice_failback protocol.
//!
//! heartbeat reduces "what I run" to two bits seen from the sender: its own
//! (`local`) groups and everybody else's (`foreign`) groups. The words travel
//! in `rsc_hold=` and are what `cl_status rscstatus` prints.

use std::fmt;

/// A set of resource categories (`HB_NO_RSC`..`HB_ALL_RSC`, a bit field).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Hold(u8);

impl Hold {
    pub const NONE: Hold = Hold(0);
    pub const LOCAL: Hold = Hold(1);
    pub const FOREIGN: Hold = Hold(2);
    pub const ALL: Hold = Hold(3);

    /// The wire word (`none`, `local`, `foreign`, `all`).
    pub fn as_str(self) -> &'static str {
        match self.0 {
            1 => "local",
            2 => "foreign",
            3 => "all",
            _ => "none",
        }
    }

    /// Exact, case-sensitive match like heartbeat's `encode_resources`.
    pub fn parse(word: &str) -> Option<Hold> {
        Some(match word {
            "none" => Hold::NONE,
            "local" => Hold::LOCAL,
            "foreign" => Hold::FOREIGN,
            "all" => Hold::ALL,
            _ => return None,
        })
    }

    pub fn contains(self, other: Hold) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    pub fn intersects(self, other: Hold) -> bool {
        self.0 & other.0 != 0
    }

    pub fn is_none(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: Hold) -> Hold {
        Hold(self.0 | other.0)
    }

    pub fn minus(self, other: Hold) -> Hold {
        Hold(self.0 & !other.0)
    }

    /// The same resources seen from the other node: my local groups are the
    /// peer's foreign ones.
    pub fn mirrored(self) -> Hold {
        Hold(((self.0 & 1) << 1) | ((self.0 & 2) >> 1))
    }

    /// heartbeat's `HB_UPD_RSC`: a `rtype=full` report replaces, a partial
    /// one (the `mach_down` script's) adds, and `none` always clears.
    pub fn updated(self, report: Hold, full: bool) -> Hold {
        if full || report.is_none() {
            report
        } else {
            self.union(report)
        }
    }
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The argument of `hb_standby` / `hb_takeover`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    All,
    Local,
    Foreign,
    /// `failback`: `hb_standby` turns it into `foreign`; `hb_takeover` sends
    /// it verbatim and a heartbeat peer's `rc.d/hb_takeover` then goes
    /// standby for `all` (its `case` has no `failback` arm).
    Failback,
}

impl Scope {
    pub fn parse(word: &str) -> Option<Scope> {
        Some(match word {
            "all" => Scope::All,
            "local" => Scope::Local,
            "foreign" => Scope::Foreign,
            "failback" => Scope::Failback,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::All => "all",
            Scope::Local => "local",
            Scope::Foreign => "foreign",
            Scope::Failback => "failback",
        }
    }

    /// What `hb_standby <scope>` asks to give up.
    pub fn standby_set(self) -> Hold {
        match self {
            Scope::All => Hold::ALL,
            Scope::Local => Hold::LOCAL,
            Scope::Foreign | Scope::Failback => Hold::FOREIGN,
        }
    }
}

/// `cl_status rscstatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RscStatus {
    Held(Hold),
    /// Something is moving (heartbeat's `hb_rsc_isstable()` is false).
    Transition,
}

impl RscStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RscStatus::Held(h) => h.as_str(),
            RscStatus::Transition => "transition",
        }
    }
}

impl fmt::Display for RscStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_reject_case_variants() {
        for h in [Hold::NONE, Hold::LOCAL, Hold::FOREIGN, Hold::ALL] {
            assert_eq!(Hold::parse(h.as_str()), Some(h));
        }
        assert_eq!(Hold::parse("All"), None);
        assert_eq!(Hold::parse(""), None);
    }

    #[test]
    fn partial_reports_add_full_reports_replace() {
        assert_eq!(Hold::LOCAL.updated(Hold::FOREIGN, false), Hold::ALL);
        assert_eq!(Hold::LOCAL.updated(Hold::FOREIGN, true), Hold::FOREIGN);
        assert_eq!(Hold::ALL.updated(Hold::NONE, false), Hold::NONE);
    }

    #[test]
    fn mirror_swaps_local_and_foreign() {
        assert_eq!(Hold::LOCAL.mirrored(), Hold::FOREIGN);
        assert_eq!(Hold::FOREIGN.mirrored(), Hold::LOCAL);
        assert_eq!(Hold::ALL.mirrored(), Hold::ALL);
        assert_eq!(Hold::NONE.mirrored(), Hold::NONE);
    }

    #[test]
    fn contains_needs_every_bit() {
        assert!(Hold::ALL.contains(Hold::LOCAL));
        assert!(!Hold::LOCAL.contains(Hold::ALL));
        assert!(!Hold::LOCAL.contains(Hold::NONE));
        assert!(Hold::ALL.intersects(Hold::FOREIGN));
        assert_eq!(Hold::ALL.minus(Hold::FOREIGN), Hold::LOCAL);
    }
}
