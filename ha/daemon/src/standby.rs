//! `hb_standby` and `hb_takeover`: like heartbeat's shell scripts, they
//! validate `[all|local|foreign|failback]` and write one classic message to
//! the FIFO, where the running daemon (ours or heartbeat's) picks it up and
//! sends it to the cluster:
//!
//! * `hb_standby R`  → `t=ask_resources rsc_hold=R info=me` (failback → foreign)
//! * `hb_takeover R` → `t=hb_takeover rsc_hold=R`
//!
//! Unlike `ha_clustermsg` (`cat >> $HA_FIFO`), which blocks forever when no
//! daemon reads the FIFO and creates a plain file when it is missing, we fail
//! with a message.

use std::io::{self, Write as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Standby,
    Takeover,
}

/// What to print and the exit code, or the message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    Exit {
        stdout: String,
        stderr: String,
        code: i32,
    },
    Send {
        /// The complete FIFO frame, `>>>\n…<<<\n`.
        frame: String,
        /// A note for stderr first (hb_standby's `ha_log "Going standby [R]."`).
        note: Option<String>,
    },
}

fn usage(argv0: &str, mut stdout: String) -> Plan {
    stdout.push_str("usage:\n");
    Plan::Exit {
        stdout,
        stderr: format!("{argv0} [all|foreign|local|failback]\n"),
        code: 1,
    }
}

pub fn plan(tool: Tool, argv0: &str, args: &[String]) -> Plan {
    if args.len() >= 2 {
        return usage(argv0, format!("{argv0}: too many arguments\n"));
    }
    let r = args.first().map_or("all", String::as_str);
    if r == "--help" {
        return usage(argv0, String::new());
    }
    if !matches!(r, "all" | "foreign" | "local" | "failback") {
        return usage(argv0, format!("{argv0}: wrong resources({r}).\n"));
    }
    match tool {
        Tool::Standby => {
            let r = if r == "failback" { "foreign" } else { r };
            Plan::Send {
                frame: format!(">>>\nt=ask_resources\nrsc_hold={r}\ninfo=me\n<<<\n"),
                note: Some(format!("Going standby [{r}].")),
            }
        }
        // The script passes the word through unchanged (failback included).
        Tool::Takeover => Plan::Send {
            frame: format!(">>>\nt=hb_takeover\nrsc_hold={r}\n<<<\n"),
            note: None,
        },
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0} is not a FIFO: is heartbeat installed and started?")]
    NoFifo(String),
    #[error("heartbeat is not running (nobody reads {0})")]
    NotRunning(String),
    #[error("cannot write to {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// Write `frame` to the FIFO in one `write(2)` (atomic below `PIPE_BUF`, so
/// concurrent scripts never interleave).
pub fn send(fifo: &Path, frame: &str) -> Result<(), SendError> {
    let name = fifo.display().to_string();
    match std::fs::metadata(fifo) {
        Ok(m) if m.file_type().is_fifo() => {}
        _ => return Err(SendError::NoFifo(name)),
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => SendError::NotRunning(name.clone()),
            _ => SendError::Io {
                path: name.clone(),
                source: e,
            },
        })?;
    f.write_all(frame.as_bytes())
        .map_err(|source| SendError::Io { path: name, source })
}

/// The tool's `main`: returns the exit code.
pub fn main(tool: Tool, argv0: &str, args: &[String], fifo: &Path) -> i32 {
    match plan(tool, argv0, args) {
        Plan::Exit {
            stdout,
            stderr,
            code,
        } => {
            print!("{stdout}");
            eprint!("{stderr}");
            code
        }
        Plan::Send { frame, note } => {
            if let Some(n) = note {
                eprintln!("{n}");
            }
            match send(fifo, &frame) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{argv0}: {e}");
                    1
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn standby_messages() {
        assert_eq!(
            plan(Tool::Standby, "hb_standby", &[]),
            Plan::Send {
                frame: ">>>\nt=ask_resources\nrsc_hold=all\ninfo=me\n<<<\n".into(),
                note: Some("Going standby [all].".into())
            }
        );
        assert_eq!(
            plan(Tool::Standby, "hb_standby", &args(&["failback"])),
            Plan::Send {
                frame: ">>>\nt=ask_resources\nrsc_hold=foreign\ninfo=me\n<<<\n".into(),
                note: Some("Going standby [foreign].".into())
            }
        );
    }

    #[test]
    fn takeover_keeps_the_word() {
        assert_eq!(
            plan(Tool::Takeover, "hb_takeover", &args(&["failback"])),
            Plan::Send {
                frame: ">>>\nt=hb_takeover\nrsc_hold=failback\n<<<\n".into(),
                note: None
            }
        );
    }

    #[test]
    fn usage_errors_like_the_scripts() {
        assert_eq!(
            plan(Tool::Standby, "hb_standby", &args(&["bogus"])),
            Plan::Exit {
                stdout: "hb_standby: wrong resources(bogus).\nusage:\n".into(),
                stderr: "hb_standby [all|foreign|local|failback]\n".into(),
                code: 1
            }
        );
        assert_eq!(
            plan(Tool::Takeover, "hb_takeover", &args(&["a", "b"])),
            Plan::Exit {
                stdout: "hb_takeover: too many arguments\nusage:\n".into(),
                stderr: "hb_takeover [all|foreign|local|failback]\n".into(),
                code: 1
            }
        );
        assert!(matches!(
            plan(Tool::Standby, "hb_standby", &args(&["--help"])),
            Plan::Exit { code: 1, .. }
        ));
    }

    #[test]
    fn send_without_reader_fails_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(matches!(send(&fifo, "x"), Err(SendError::NoFifo(_))));
        crate::fifo::ensure_fifo(&fifo).unwrap();
        assert!(matches!(send(&fifo, "x"), Err(SendError::NotRunning(_))));
    }

    #[test]
    fn send_with_reader_delivers_the_frame() {
        use std::io::Read as _;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        crate::fifo::ensure_fifo(&fifo).unwrap();
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        send(&fifo, ">>>\nt=hb_takeover\nrsc_hold=all\n<<<\n").unwrap();
        let mut got = String::new();
        reader.read_to_string(&mut got).unwrap();
        assert_eq!(got, ">>>\nt=hb_takeover\nrsc_hold=all\n<<<\n");
    }
}
