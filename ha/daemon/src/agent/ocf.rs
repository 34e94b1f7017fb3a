//! OCF resource agents in `haresources`.
//!
//! heartbeat 3.0.6 itself only runs `<script> <args…> <action>`; OCF agents
//! reach it through wrapper scripts of the resource-agents package:
//! `/etc/ha.d/resource.d/OCF` for `OCF::<type>::<instance>` (it sources
//! `$HA_DIR/conf/OCF/<type>/<instance>`, exports every `NAME=` in it, runs
//! the first `<agents>/*/<type>`, and turns the exit code of a status run
//! into "… is running" / "… is stopped"), and per-agent wrappers such as
//! `resource.d/IPaddr2` that map positional arguments to `OCF_RESKEY_*` and
//! set `OCF_RA_VERSION_MAJOR=1`, `OCF_RA_VERSION_MINOR=0`,
//! `OCF_RESOURCE_INSTANCE`.
//!
//! Here:
//! * `OCF::<type>::<instance>` is run natively with the wrapper's rules
//!   (the Debian wrapper looks in `$OCF_AGENTS/*/` where `OCF_AGENTS`
//!   already names the `heartbeat` provider, so out of the box it finds
//!   nothing; we look in every provider of [`ROOT`]`/resource.d`, sorted);
//!   the instance file is sourced by `/bin/sh` with `set -a`, which exports
//!   exactly what the wrapper exports.
//! * `<type>::<name>=<value>…` with no script `<type>` in resource.d or
//!   init.d, but an agent `ROOT/resource.d/heartbeat/<type>`, runs that
//!   agent with `OCF_RESKEY_<name>=<value>` (an extension: heartbeat would
//!   log "Cannot locate resource script").
//!
//! `status` runs the agent's `monitor` (the OCF action every agent has):
//! exit 0 is running, 7 (`OCF_NOT_RUNNING`) is stopped, anything else is a
//! failed probe and counts as stopped, as the wrapper's output would.

use std::path::{Path, PathBuf};

use hb_resources::{Action, AgentOutcome, AgentResult};

use super::is_executable;

/// heartbeat's `OCF_ROOT_DIR`.
pub const ROOT: &str = "/usr/lib/ocf";

/// `OCF_NOT_RUNNING`.
pub const NOT_RUNNING: i32 = 7;

/// An OCF agent run: what to execute and how to read a status result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcfRun {
    /// The agent itself (for log lines).
    pub agent: PathBuf,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `OCF Resource <type>::<instance>`: the wrapper's name in its output.
    pub label: String,
}

/// How a `haresources` resource maps onto an OCF agent, if it does.
/// `script`/`args` as hb-config split them (`OCF::Dummy::db1` → script
/// `OCF`, args `["Dummy", "db1"]`).
pub fn plan(
    root: &Path,
    ha_dir: &Path,
    script: &str,
    args: &[String],
    action: Action,
) -> Result<Option<OcfRun>, String> {
    let op = match action {
        Action::Start => "start",
        Action::Stop => "stop",
        Action::Status => "monitor",
    };
    if script == "OCF" {
        let [rtype, instance] = args else {
            return Err(format!(
                "OCF resources are OCF::<type>::<instance>, not OCF::{}",
                args.join("::")
            ));
        };
        if !safe_name(rtype) || !safe_name(instance) {
            return Err(format!("bad OCF resource name OCF::{rtype}::{instance}"));
        }
        let (provider, agent) = find_agent(root, rtype)
            .ok_or_else(|| format!("no OCF agent {rtype} under {}/resource.d", root.display()))?;
        let inst_file = ha_dir.join("conf/OCF").join(rtype).join(instance);
        if !inst_file.is_file() {
            return Err(format!("OCF instance file {} missing", inst_file.display()));
        }
        // `set -a` exports what the file assigns, as the wrapper's
        // `eval export` of every NAME= line does.
        let args = vec![
            "-c".to_owned(),
            "set -a; . \"$0\" || exit 6; set +a; exec \"$@\"".to_owned(),
            inst_file.display().to_string(),
            agent.display().to_string(),
            op.to_owned(),
        ];
        return Ok(Some(OcfRun {
            program: PathBuf::from("/bin/sh"),
            args,
            env: common_env(root, rtype, &provider, instance),
            label: format!("OCF Resource {rtype}::{instance}"),
            agent,
        }));
    }
    let agent = root.join("resource.d/heartbeat").join(script);
    if !safe_name(script) || !is_executable(&agent) {
        return Ok(None);
    }
    let mut env = Vec::new();
    let mut first = None;
    for a in args {
        let Some((k, v)) = a.split_once('=') else {
            return Err(format!(
                "{script}::{} runs the OCF agent {}: its arguments must be name=value",
                args.join("::"),
                agent.display()
            ));
        };
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("bad OCF parameter name {k:?}"));
        }
        first.get_or_insert(v);
        env.push((format!("OCF_RESKEY_{k}"), v.to_owned()));
    }
    // The per-agent wrappers name the instance `<type>_<first argument>`.
    let instance = match first {
        Some(v) => format!("{script}_{v}"),
        None => script.to_owned(),
    };
    let mut all = common_env(root, script, "heartbeat", &instance);
    all.extend(env);
    Ok(Some(OcfRun {
        program: agent.clone(),
        args: vec![op.to_owned()],
        env: all,
        label: format!("OCF Resource {script}::{instance}"),
        agent,
    }))
}

fn common_env(root: &Path, rtype: &str, provider: &str, instance: &str) -> Vec<(String, String)> {
    [
        ("OCF_ROOT", root.display().to_string()),
        ("OCF_RA_VERSION_MAJOR", "1".to_owned()),
        ("OCF_RA_VERSION_MINOR", "0".to_owned()),
        ("OCF_RESOURCE_TYPE", rtype.to_owned()),
        ("OCF_RESOURCE_PROVIDER", provider.to_owned()),
        ("OCF_RESOURCE_INSTANCE", instance.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn safe_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/')
}

/// First `<root>/resource.d/<provider>/<type>` in provider order (`ls`).
fn find_agent(root: &Path, rtype: &str) -> Option<(String, PathBuf)> {
    let mut providers: Vec<String> = std::fs::read_dir(root.join("resource.d"))
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    providers.sort();
    providers.into_iter().find_map(|p| {
        let a = root.join("resource.d").join(&p).join(rtype);
        is_executable(&a).then_some((p, a))
    })
}

/// What the resource manager sees of an OCF run: for `status`, the
/// wrapper's words on stdout (the exit code of a probe decides nothing in
/// heartbeat, the text does); start/stop unchanged.
pub fn translate(label: &str, action: Action, mut result: AgentResult) -> AgentResult {
    if action != Action::Status {
        return result;
    }
    if let AgentOutcome::Exited(code) = result.outcome {
        // Bare words: a label could itself contain "running" or "not ".
        result.stdout = if code == 0 {
            "running\n"
        } else {
            "not running\n"
        }
        .to_owned();
        // A probe that ran is a valid answer, whatever it said.
        result.outcome = AgentOutcome::Exited(0);
        if code != 0 && code != NOT_RUNNING {
            tracing::error!(
                source = "ResourceManager",
                code,
                "{label} monitor failed (rc={code}); taking it as stopped"
            );
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn exe(p: &Path, body: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn ocf_instance_form_finds_the_first_provider_and_sources_the_instance() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("ocf");
        let ha = d.path().join("ha.d");
        exe(&root.join("resource.d/zeta/Dummy"), "#!/bin/sh\n");
        exe(&root.join("resource.d/acme/Dummy"), "#!/bin/sh\n");
        std::fs::create_dir_all(ha.join("conf/OCF/Dummy")).unwrap();
        std::fs::write(ha.join("conf/OCF/Dummy/db1"), "state=/run/x\n").unwrap();
        let args = vec!["Dummy".to_owned(), "db1".to_owned()];
        let run = plan(&root, &ha, "OCF", &args, Action::Status)
            .unwrap()
            .unwrap();
        assert_eq!(run.agent, root.join("resource.d/acme/Dummy"));
        assert_eq!(run.program, PathBuf::from("/bin/sh"));
        assert_eq!(run.args.last().map(String::as_str), Some("monitor"));
        assert_eq!(run.label, "OCF Resource Dummy::db1");
        assert!(run
            .env
            .contains(&("OCF_RESOURCE_INSTANCE".into(), "db1".into())));
        assert!(run
            .env
            .contains(&("OCF_RESOURCE_PROVIDER".into(), "acme".into())));
        // No instance file, no agent, bad shapes: errors, never a panic.
        let missing = vec!["Dummy".to_owned(), "db2".to_owned()];
        assert!(plan(&root, &ha, "OCF", &missing, Action::Start).is_err());
        let none = vec!["Nope".to_owned(), "db1".to_owned()];
        assert!(plan(&root, &ha, "OCF", &none, Action::Start).is_err());
        assert!(plan(&root, &ha, "OCF", &args[..1], Action::Start).is_err());
        let evil = vec!["..".to_owned(), "db1".to_owned()];
        assert!(plan(&root, &ha, "OCF", &evil, Action::Start).is_err());
    }

    #[test]
    fn bare_agent_form_maps_name_value_arguments_to_reskeys() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("ocf");
        exe(&root.join("resource.d/heartbeat/Dummy"), "#!/bin/sh\n");
        let args = vec!["state=/run/d1".to_owned(), "fake=x=y".to_owned()];
        let run = plan(&root, d.path(), "Dummy", &args, Action::Start)
            .unwrap()
            .unwrap();
        assert_eq!(run.program, root.join("resource.d/heartbeat/Dummy"));
        assert_eq!(run.args, ["start"]);
        for kv in [
            ("OCF_RESKEY_state", "/run/d1"),
            ("OCF_RESKEY_fake", "x=y"),
            ("OCF_RESOURCE_INSTANCE", "Dummy_/run/d1"),
            ("OCF_RA_VERSION_MAJOR", "1"),
            ("OCF_RA_VERSION_MINOR", "0"),
        ] {
            assert!(
                run.env.contains(&(kv.0.to_owned(), kv.1.to_owned())),
                "{kv:?} in {:?}",
                run.env
            );
        }
        let positional = vec!["192.0.2.1".to_owned()];
        assert!(plan(&root, d.path(), "Dummy", &positional, Action::Start).is_err());
        // Not an OCF agent: left to the script lookup.
        assert_eq!(
            plan(&root, d.path(), "hbtest", &[], Action::Start),
            Ok(None)
        );
    }

    #[test]
    fn status_reads_the_exit_code_into_the_wrappers_words() {
        let l = "OCF Resource Dummy::db1";
        let r = translate(l, Action::Status, AgentResult::exited(0, ""));
        assert!(hb_resources::says_running(&r.stdout), "{r:?}");
        let r = translate(
            l,
            Action::Status,
            AgentResult::exited(NOT_RUNNING, "x running"),
        );
        assert!(!hb_resources::says_running(&r.stdout), "{r:?}");
        assert_eq!(r.outcome, AgentOutcome::Exited(0));
        let r = translate(l, Action::Status, AgentResult::exited(1, ""));
        assert!(!hb_resources::says_running(&r.stdout));
        let r = translate(l, Action::Start, AgentResult::exited(1, "out"));
        assert_eq!(r, AgentResult::exited(1, "out"));
        let t = AgentResult {
            outcome: AgentOutcome::TimedOut,
            stdout: String::new(),
        };
        assert_eq!(translate(l, Action::Status, t.clone()), t);
    }
}
