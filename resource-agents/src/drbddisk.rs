//! `drbddisk [resource] start|stop|status` (drbd-utils' heartbeat v1 script;
//! the resource defaults to `all`).
//!
//! * start: `drbdadm primary <res>`, 6 tries 1 s apart (heartbeat's deadtime may
//!   be shorter than DRBD's ping time, so the peer may not be seen as gone yet).
//! * stop: `drbdadm secondary <res>`, 3 tries (heartbeat retries a failed stop
//!   on top of that).
//! * status: `drbdadm role <res>`: `Primary` → `running (Primary)`, exit 0;
//!   `Secondary`/`Unconfigured` → `stopped (…)`, exit 3; anything else is
//!   re-read from /proc/drbd and, if still unknown,
//!   `cannot determine status, may be running (…)`, exit 4 — "running" on
//!   purpose, so that a failed stop leads heartbeat to recovery by reboot.
//!   `status` needs a resource name (exit 10 otherwise).
//! * `monitor` (not in drbd-utils): status with OCF codes (stopped → 7).
//!
//! drbdadm is found on `$PATH` (then `/sbin`, `/usr/sbin`), or `$DRBDADM`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub const USAGE: &str = "Usage: drbddisk [resource] {start|stop|status}";
pub const START_TRIES: u32 = 6;
pub const STOP_TRIES: u32 = 3;
pub const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Runs drbdadm; abstracted so the retry policy is testable without it.
pub trait Drbdadm {
    /// Run `drbdadm <args>`; Ok(success, stdout) or Err if it could not run.
    fn run(&mut self, args: &[&str]) -> std::io::Result<(bool, String)>;
}

/// The real drbdadm binary.
pub struct Exec {
    pub path: PathBuf,
}

impl Exec {
    pub fn locate() -> Self {
        if let Some(p) = std::env::var_os("DRBDADM").filter(|p| !p.is_empty()) {
            return Self { path: p.into() };
        }
        let from_path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .chain([PathBuf::from("/sbin"), PathBuf::from("/usr/sbin")])
            .map(|d| d.join("drbdadm"))
            .find(|p| is_executable(p));
        Self {
            path: from_path.unwrap_or_else(|| PathBuf::from("/sbin/drbdadm")),
        }
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Drbdadm for Exec {
    fn run(&mut self, args: &[&str]) -> std::io::Result<(bool, String)> {
        // stdout is captured only for `role`/`sh-*`; primary/secondary output
        // goes to the caller as the real script lets it.
        let capture = args
            .first()
            .is_some_and(|a| *a == "role" || a.starts_with("sh-"));
        let mut cmd = Command::new(&self.path);
        cmd.args(args).stdin(Stdio::null());
        if capture {
            let out = cmd.stderr(Stdio::inherit()).output()?;
            Ok((
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            ))
        } else {
            let status = cmd.status()?;
            Ok((status.success(), String::new()))
        }
    }
}

/// Try `drbdadm <verb> <res>` up to `tries` times, `pause` apart.
pub fn retry(
    adm: &mut dyn Drbdadm,
    verb: &str,
    res: &str,
    tries: u32,
    pause: &mut dyn FnMut(),
) -> bool {
    for attempt in 1..=tries {
        match adm.run(&[verb, res]) {
            Ok((true, _)) => return true,
            Ok((false, _)) => tracing::warn!(attempt, tries, "drbdadm {verb} {res} failed"),
            Err(e) => {
                tracing::error!(attempt, tries, error = %e, "cannot run drbdadm {verb} {res}")
            }
        }
        if attempt < tries {
            pause();
        }
    }
    false
}

/// `ROLE=${ST%/*}`: the local role out of `Primary/Secondary` (8.x) or `Primary` (9.x).
pub fn local_role(role_output: &str) -> &str {
    let s = role_output.trim_end_matches('\n');
    match s.rfind('/') {
        Some(i) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

/// The role of `minor` in a `/proc/drbd` text (`  0: cs:Connected ro:Primary/Secondary …`).
pub fn role_from_proc_drbd(text: &str, minor: u32) -> Option<String> {
    let want = format!("{minor}:");
    let line = text.lines().find(|l| {
        let t = l.trim_start();
        t.starts_with(&want)
            && t.get(want.len()..)
                .is_some_and(|r| r.trim_start().starts_with("cs:"))
    })?;
    // As the script: replace ':' by ' ' and take the 5th field's part before '/'.
    let fields: Vec<String> = line
        .replace(':', " ")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let ro = fields.get(4)?;
    Some(local_role(ro).to_string())
}

/// The status fallback when `drbdadm role` gave nothing usable.
/// `proc_drbd`: the text of /proc/drbd, `None` when the module is not loaded.
fn role_from_proc(adm: &mut dyn Drbdadm, res: &str, proc_drbd: Option<&str>) -> String {
    let Some(text) = proc_drbd else {
        return "Unconfigured".into();
    };
    // `$(…)` strips trailing newlines only; `[[ $m = *[!0-9]* ]]` is "has a
    // non-digit", so an empty answer is no reason to ask sh-minor.
    let output = |adm: &mut dyn Drbdadm, verb: &str| {
        adm.run(&[verb, res])
            .map(|(_, out)| out.trim_end_matches('\n').to_string())
            .unwrap_or_default()
    };
    let non_digit = |s: &str| s.bytes().any(|b| !b.is_ascii_digit());
    let dev = output(adm, "sh-dev");
    let mut minor = dev.strip_prefix("/dev/drbd").unwrap_or(&dev).to_string();
    if non_digit(&minor) {
        minor = output(adm, "sh-minor");
    }
    let m = if minor.is_empty() || non_digit(&minor) {
        None
    } else {
        minor.parse::<u32>().ok()
    };
    match m {
        None => "Unknown".into(),
        Some(m) => role_from_proc_drbd(text, m)
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "Unconfigured".into()),
    }
}

/// Status words and exit code for `res`.
pub fn status(adm: &mut dyn Drbdadm, res: &str, ocf: bool) -> (String, u8) {
    let st = adm
        .run(&["role", res])
        .map(|(_, out)| out)
        .unwrap_or_default();
    let mut role = local_role(&st).to_string();
    if !matches!(role.as_str(), "Primary" | "Secondary" | "Unconfigured") {
        let text = std::fs::read_to_string("/proc/drbd").ok();
        role = role_from_proc(adm, res, text.as_deref());
    }
    match role.as_str() {
        "Primary" => ("running (Primary)".into(), 0),
        "Secondary" | "Unconfigured" => (format!("stopped ({role})"), if ocf { 7 } else { 3 }),
        _ => (
            format!("cannot determine status, may be running ({role})"),
            if ocf { 1 } else { 4 },
        ),
    }
}

/// Run drbddisk for `args` (without `argv[0]`) with the given drbdadm; prints on
/// stdout and returns the exit code.
pub fn run(args: &[String], adm: &mut dyn Drbdadm, pause: &mut dyn FnMut()) -> u8 {
    let (res, cmd) = match args {
        [res, cmd] => (res.as_str(), cmd.as_str()),
        [cmd, ..] => ("all", cmd.as_str()),
        [] => ("all", ""),
    };
    match (cmd, args.len()) {
        ("start", 1 | 2) => {
            if retry(adm, "primary", res, START_TRIES, pause) {
                0
            } else {
                1
            }
        }
        ("stop", 1 | 2) => {
            if retry(adm, "secondary", res, STOP_TRIES, pause) {
                0
            } else {
                1
            }
        }
        ("status" | "monitor", 1 | 2) => {
            if res == "all" {
                println!("A resource name is required for status inquiries.");
                return 10;
            }
            let (words, code) = status(adm, res, cmd == "monitor");
            println!("{words}");
            code
        }
        _ => {
            println!("{USAGE}");
            1
        }
    }
}

/// Process entry point of the `drbddisk` bin.
pub fn main() -> std::process::ExitCode {
    crate::cli::init_logging();
    let args = match crate::cli::collect_args() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("drbddisk: {e}");
            println!("{USAGE}");
            return std::process::ExitCode::from(1);
        }
    };
    let mut adm = Exec::locate();
    let code = run(&args, &mut adm, &mut || std::thread::sleep(RETRY_PAUSE));
    std::process::ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers from a script; records every call.
    struct Fake {
        calls: Vec<String>,
        answers: Vec<(bool, String)>,
    }

    impl Drbdadm for Fake {
        fn run(&mut self, args: &[&str]) -> std::io::Result<(bool, String)> {
            self.calls.push(args.join(" "));
            if self.answers.is_empty() {
                return Err(std::io::Error::other("no more answers"));
            }
            Ok(self.answers.remove(0))
        }
    }

    fn fake(answers: &[(bool, &str)]) -> Fake {
        Fake {
            calls: Vec::new(),
            answers: answers.iter().map(|(ok, s)| (*ok, s.to_string())).collect(),
        }
    }

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn start_retries_six_times_with_five_pauses() {
        let mut adm = fake(&[(false, ""); 6]);
        let mut pauses = 0;
        assert_eq!(
            run(&args(&["r0", "start"]), &mut adm, &mut || pauses += 1),
            1
        );
        assert_eq!(adm.calls, vec!["primary r0"; 6]);
        assert_eq!(pauses, 5);
    }

    #[test]
    fn start_stops_retrying_on_success() {
        let mut adm = fake(&[(false, ""), (false, ""), (true, "")]);
        let mut pauses = 0;
        assert_eq!(
            run(&args(&["r0", "start"]), &mut adm, &mut || pauses += 1),
            0
        );
        assert_eq!(adm.calls.len(), 3);
        assert_eq!(pauses, 2);
    }

    #[test]
    fn stop_retries_three_times_and_defaults_to_all() {
        let mut adm = fake(&[(false, ""); 3]);
        let mut pauses = 0;
        assert_eq!(run(&args(&["stop"]), &mut adm, &mut || pauses += 1), 1);
        assert_eq!(adm.calls, vec!["secondary all"; 3]);
        assert_eq!(pauses, 2);
    }

    #[test]
    fn status_words_and_codes() {
        let mut adm = fake(&[(true, "Primary/Secondary\n")]);
        assert_eq!(
            status(&mut adm, "r0", false),
            ("running (Primary)".into(), 0)
        );
        let mut adm = fake(&[(true, "Secondary\n")]);
        assert_eq!(
            status(&mut adm, "r0", false),
            ("stopped (Secondary)".into(), 3)
        );
        let mut adm = fake(&[(true, "Secondary/Primary\n")]);
        assert_eq!(
            status(&mut adm, "r0", true),
            ("stopped (Secondary)".into(), 7)
        );
        let mut adm = fake(&[(true, "Unconfigured\n")]);
        assert_eq!(status(&mut adm, "r0", false).1, 3);
    }

    #[test]
    fn status_needs_a_resource_and_bad_calls_get_usage() {
        let mut adm = fake(&[]);
        assert_eq!(run(&args(&["status"]), &mut adm, &mut || {}), 10);
        assert_eq!(run(&args(&["r0", "promote"]), &mut adm, &mut || {}), 1);
        assert_eq!(run(&args(&[]), &mut adm, &mut || {}), 1);
        assert_eq!(run(&args(&["a", "b", "start"]), &mut adm, &mut || {}), 1);
        assert!(adm.calls.is_empty());
    }

    #[test]
    fn unknown_role_falls_back_to_proc_drbd_like_the_script() {
        let text = "version: 8.4.11\n 7: cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate C r-----\n";
        // no module: Unconfigured without asking drbdadm
        let mut adm = fake(&[]);
        assert_eq!(role_from_proc(&mut adm, "r0", None), "Unconfigured");
        assert!(adm.calls.is_empty());
        // empty sh-dev: Unknown at once, no sh-minor (as the script)
        let mut adm = fake(&[(false, ""), (false, "")]);
        assert_eq!(role_from_proc(&mut adm, "nores", Some(text)), "Unknown");
        assert_eq!(adm.calls, vec!["sh-dev nores"]);
        // a by-res path: ask sh-minor; a sign is not a digit
        let mut adm = fake(&[(true, "/dev/drbd/by-res/r0\n"), (true, "+7\n")]);
        assert_eq!(role_from_proc(&mut adm, "r0", Some(text)), "Unknown");
        assert_eq!(adm.calls, vec!["sh-dev r0", "sh-minor r0"]);
        let mut adm = fake(&[(true, "/dev/drbd/by-res/r0\n"), (true, "7\n")]);
        assert_eq!(role_from_proc(&mut adm, "r0", Some(text)), "Secondary");
        let mut adm = fake(&[(true, "/dev/drbd7\n")]);
        assert_eq!(role_from_proc(&mut adm, "r0", Some(text)), "Secondary");
        assert_eq!(adm.calls, vec!["sh-dev r0"]);
    }

    #[test]
    fn roles() {
        assert_eq!(local_role("Primary/Secondary\n"), "Primary");
        assert_eq!(local_role("Primary\n"), "Primary");
        assert_eq!(local_role(""), "");
        let proc_drbd = "version: 8.4.11\n 0: cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate C r-----\n 1: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n";
        assert_eq!(
            role_from_proc_drbd(proc_drbd, 1).as_deref(),
            Some("Primary")
        );
        assert_eq!(
            role_from_proc_drbd(proc_drbd, 0).as_deref(),
            Some("Secondary")
        );
        assert_eq!(role_from_proc_drbd(proc_drbd, 2), None);
    }
}
