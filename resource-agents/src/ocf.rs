//! Actions, return codes and the words printed on stdout.
//!
//! heartbeat's `resource.d` wrappers (`hto-mapfuncs` `ra_execocf`) run the OCF
//! agent and print one line on stdout naming the OCF return code, with an
//! empty resource type in between (hence the two spaces): `INFO:  Success`,
//! `INFO:  Running OK`, `INFO:  Resource is stopped`, `ERROR:  Generic error`…
//! ResourceManager decides ownership from `status` output alone:
//! `*[Nn][Oo][Tt]\ *[Rr]unning*` → not ours, `*[Rr]unning*|*OK*` → ours,
//! anything else → not ours. These words satisfy that and are what the real
//! wrappers print.

use std::fmt;

/// What the caller asked for (the last argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    /// heartbeat's question "is it ours?" (LSB: 0 running, 3 stopped).
    Status,
    /// OCF-style probe (0 running, 7 not running).
    Monitor,
    /// `usage`/`help`: print the usage line, succeed.
    Usage,
}

impl Action {
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "start" => Self::Start,
            "stop" => Self::Stop,
            "status" => Self::Status,
            "monitor" => Self::Monitor,
            "usage" | "help" => Self::Usage,
            _ => return None,
        })
    }
}

/// OCF return codes (the heartbeat wrappers pass them through as the exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rc {
    Success = 0,
    Generic = 1,
    Args = 2,
    Unimplemented = 3,
    Perm = 4,
    NotInstalled = 5,
    NotConfigured = 6,
    NotRunning = 7,
}

/// LSB `status` exit code for "program is not running".
pub const LSB_STATUS_STOPPED: u8 = 3;

impl Rc {
    /// The line heartbeat's wrapper prints for this code.
    pub fn words(self) -> &'static str {
        match self {
            Rc::Success => "INFO:  Success",
            Rc::Generic => "ERROR:  Generic error",
            Rc::Args => "ERROR:  Illegal argument",
            Rc::Unimplemented => "ERROR:  Function unimplemented",
            Rc::Perm => "ERROR:  User had insufficient privilege",
            Rc::NotInstalled => "ERROR:  Program is not installed",
            Rc::NotConfigured => "ERROR:  Program is not configured",
            Rc::NotRunning => STOPPED_WORDS,
        }
    }
}

/// `status`/`monitor` output for a running resource (matches `*[Rr]unning*`).
pub const RUNNING_WORDS: &str = "INFO:  Running OK";
/// `status`/`monitor` output for a stopped resource (matches neither glob).
pub const STOPPED_WORDS: &str = "INFO:  Resource is stopped";

/// Result of a status check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Stopped,
}

/// An agent failure: the OCF code to exit with and a message for stderr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RaError {
    pub rc: Rc,
    pub message: String,
}

impl fmt::Display for RaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl RaError {
    pub fn new(rc: Rc, message: impl Into<String>) -> Self {
        Self {
            rc,
            message: message.into(),
        }
    }
    pub fn generic(message: impl Into<String>) -> Self {
        Self::new(Rc::Generic, message)
    }
    pub fn args(message: impl Into<String>) -> Self {
        Self::new(Rc::Args, message)
    }
    pub fn not_configured(message: impl Into<String>) -> Self {
        Self::new(Rc::NotConfigured, message)
    }
    pub fn not_installed(message: impl Into<String>) -> Self {
        Self::new(Rc::NotInstalled, message)
    }
    /// Map an OS error: EPERM/EACCES become "insufficient privilege".
    pub fn from_errno(context: impl fmt::Display, errno: nix::errno::Errno) -> Self {
        let rc = match errno {
            nix::errno::Errno::EPERM | nix::errno::Errno::EACCES => Rc::Perm,
            _ => Rc::Generic,
        };
        Self::new(rc, format!("{context}: {errno}"))
    }
    pub fn from_io(context: impl fmt::Display, err: &std::io::Error) -> Self {
        let rc = match err.kind() {
            std::io::ErrorKind::PermissionDenied => Rc::Perm,
            _ => Rc::Generic,
        };
        Self::new(rc, format!("{context}: {err}"))
    }
}

/// Exit code and stdout line for the outcome of `action`.
pub fn outcome(action: Action, result: &Result<Option<State>, RaError>) -> (u8, &'static str) {
    match result {
        Ok(Some(State::Running)) => (0, RUNNING_WORDS),
        Ok(Some(State::Stopped)) => match action {
            Action::Monitor => (Rc::NotRunning as u8, STOPPED_WORDS),
            _ => (LSB_STATUS_STOPPED, STOPPED_WORDS),
        },
        Ok(None) => (0, Rc::Success.words()),
        Err(e) => (e.rc as u8, e.rc.words()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use hb_resources::says_running;

    #[test]
    fn status_words_are_read_right_by_resource_manager() {
        assert!(says_running(RUNNING_WORDS));
        assert!(!says_running(STOPPED_WORDS));
        for rc in [
            Rc::Generic,
            Rc::Args,
            Rc::Unimplemented,
            Rc::Perm,
            Rc::NotInstalled,
            Rc::NotConfigured,
        ] {
            assert!(!says_running(rc.words()), "{rc:?} must not read as running");
        }
    }

    #[test]
    fn status_and_monitor_differ_only_in_the_stopped_code() {
        let stopped = Ok(Some(State::Stopped));
        assert_eq!(outcome(Action::Status, &stopped), (3, STOPPED_WORDS));
        assert_eq!(outcome(Action::Monitor, &stopped), (7, STOPPED_WORDS));
        let running = Ok(Some(State::Running));
        assert_eq!(outcome(Action::Status, &running).0, 0);
        assert_eq!(outcome(Action::Monitor, &running).0, 0);
        let err = Err(RaError::not_configured("x"));
        assert_eq!(
            outcome(Action::Start, &err),
            (6, "ERROR:  Program is not configured")
        );
    }

    #[test]
    fn actions() {
        assert_eq!(Action::parse("start"), Some(Action::Start));
        assert_eq!(Action::parse("monitor"), Some(Action::Monitor));
        assert_eq!(Action::parse("Start"), None);
        assert_eq!(Action::parse("restart"), None);
    }
}
