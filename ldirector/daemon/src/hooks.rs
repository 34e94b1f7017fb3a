//! The external programs ldirectord runs: `fallbackcommand`, `callback`
//! and e-mail alerts through sendmail. Each runs on its own task; the
//! director never waits for one.

use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

const SENDMAIL: &str = "/usr/sbin/sendmail";

/// `/bin/sh -c <line>` (what 4.12's `system()` does), exit status logged.
pub fn run_shell(what: &'static str, line: String) {
    tracing::info!(hook = what, command = %line, "Running {what}: {line}");
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&line)
        .stdin(Stdio::null())
        .kill_on_drop(false)
        .spawn();
    match child {
        Ok(mut child) => {
            tokio::spawn(async move {
                match child.wait().await {
                    Ok(st) if st.success() => {}
                    Ok(st) => tracing::warn!(hook = what, command = %line, status = %st,
                        "{what} {line} failed: {st}"),
                    Err(e) => tracing::warn!(hook = what, command = %line, "{what} {line}: {e}"),
                }
            });
        }
        Err(e) => tracing::error!(hook = what, command = %line, "system({line}) failed: {e}"),
    }
}

/// `callback <CONFIG>` after the configuration changed on disk.
pub fn run_callback(callback: &str, config: &Path) {
    run_shell("callback", format!("{callback} {}", config.display()));
}

/// Mail `subject` to `to` through `sendmail -t`, if there is a sendmail.
pub fn send_alert(to: &str, from: Option<&str>, subject: &str) {
    if !Path::new(SENDMAIL).exists() {
        tracing::warn!(to, "emailalert: {subject} (not sent: no {SENDMAIL})");
        return;
    }
    tracing::info!(to, "emailalert: {subject}");
    let mut msg = String::new();
    if let Some(f) = from {
        msg.push_str(&format!("From: {f}\n"));
    }
    msg.push_str(&format!("To: {to}\nSubject: {subject}\n\n{subject}\n"));
    let child = Command::new(SENDMAIL)
        .arg("-t")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("emailalert: cannot run {SENDMAIL}: {e}");
            return;
        }
    };
    tokio::spawn(async move {
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(msg.as_bytes()).await;
        }
        if let Ok(st) = child.wait().await {
            if !st.success() {
                tracing::warn!("emailalert: {SENDMAIL} exited with {st}");
            }
        }
    });
}

/// `execute = <config>`: another ldirectord instance, driven with this
/// binary (`<config> start|stop|reload`; a failed reload starts it).
pub fn execute(config: &str, action: &str) {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("execute {config} {action}: no program path: {e}");
            return;
        }
    };
    let exe = exe.display().to_string();
    let line = match action {
        "reload" => format!("'{exe}' '{config}' reload || '{exe}' '{config}' start"),
        _ => format!("'{exe}' '{config}' {action}"),
    };
    run_shell("execute", line);
}
