//! OCF resource agent mode: `OCF_ROOT` set and one action argument
//! (`start`, `stop`, `monitor`, `meta-data`, `validate-all`, `reload`), the
//! configuration from `OCF_RESKEY_configfile`.

use crate::cli::{Args, Command, Invocation, IpvsMode, StatusFormat};
use crate::commands::{Ctx, RC_CONFIG, RC_OK};
use crate::paths::ConfigRef;
use crate::pidfile::{self, PidState};

pub const OCF_SUCCESS: i32 = 0;
pub const OCF_ERR_GENERIC: i32 = 1;
pub const OCF_ERR_UNIMPLEMENTED: i32 = 3;
pub const OCF_ERR_INSTALLED: i32 = 5;
pub const OCF_ERR_CONFIGURED: i32 = 6;
pub const OCF_NOT_RUNNING: i32 = 7;

const ACTIONS: &[&str] = &[
    "start",
    "stop",
    "monitor",
    "meta-data",
    "validate-all",
    "reload",
];

const META_DATA: &str = r#"<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="ldirectord" version="1.0">
<version>1.0</version>
<longdesc lang="en">Linux Director (ldirectord 4.12 compatible): monitors real servers and manages an IPVS table.</longdesc>
<shortdesc lang="en">Linux Director</shortdesc>
<parameters>
<parameter name="configfile" unique="1" required="0">
<longdesc lang="en">The ldirectord configuration file.</longdesc>
<shortdesc lang="en">configuration file</shortdesc>
<content type="string" default="/etc/ha.d/ldirectord.cf"/>
</parameter>
<parameter name="ipvs" unique="0" required="0">
<longdesc lang="en">IPVS implementation: kernel, userspace (forwarder), auto (kernel, else userspace) or none (table in memory only).</longdesc>
<shortdesc lang="en">IPVS implementation</shortdesc>
<content type="string" default="auto"/>
</parameter>
</parameters>
<actions>
<action name="start" timeout="60s"/>
<action name="stop" timeout="60s"/>
<action name="monitor" depth="0" timeout="20s" interval="20s"/>
<action name="reload" timeout="20s"/>
<action name="meta-data" timeout="5s"/>
<action name="validate-all" timeout="20s"/>
</actions>
</resource-agent>
"#;

/// `Some(rc)` when this invocation is an OCF one.
pub fn maybe_ocf(argv: &[String]) -> Option<i32> {
    std::env::var_os("OCF_ROOT")?;
    let [_, action] = argv else {
        return None;
    };
    if !ACTIONS.contains(&action.as_str()) {
        return None;
    }
    if action == "meta-data" {
        print!("{META_DATA}");
        return Some(OCF_SUCCESS);
    }
    let configfile = std::env::var("OCF_RESKEY_configfile")
        .ok()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "/etc/ha.d/ldirectord.cf".into());
    let cref = ConfigRef::new(Some(&configfile));
    let Some(path) = cref.resolve() else {
        eprintln!("Config file {configfile} not found");
        return Some(if action == "stop" || action == "monitor" {
            OCF_NOT_RUNNING
        } else {
            OCF_ERR_INSTALLED
        });
    };
    let ipvs = match std::env::var("OCF_RESKEY_ipvs").ok().as_deref() {
        None | Some("") | Some("auto") => IpvsMode::Auto,
        Some("kernel") => IpvsMode::Kernel,
        Some("userspace") => IpvsMode::Userspace,
        Some("none") => IpvsMode::None,
        Some(other) => {
            eprintln!("ldirectord: unknown ipvs parameter {other:?}");
            return Some(OCF_ERR_CONFIGURED);
        }
    };
    let args = Args {
        debug: false,
        ipvs,
        metrics_listen: None,
        invocation: Invocation::Help,
    };
    let ctx = Ctx {
        args: &args,
        argv,
        cfgname: cref.cfgname,
        path,
    };
    let running = || {
        matches!(
            pidfile::read_state(&crate::paths::pid_file(&ctx.cfgname)),
            PidState::Running(_)
        )
    };
    Some(match action.as_str() {
        "monitor" => {
            if running() {
                OCF_SUCCESS
            } else {
                OCF_NOT_RUNNING
            }
        }
        "validate-all" => match crate::load::load(&ctx.path) {
            Ok(_) => OCF_SUCCESS,
            Err(e) => {
                for p in &e.problems {
                    eprintln!("{p}");
                }
                OCF_ERR_CONFIGURED
            }
        },
        "start" => match ctx.run(Command::Start, StatusFormat::Plain) {
            RC_OK if running() => OCF_SUCCESS,
            RC_CONFIG => OCF_ERR_CONFIGURED,
            _ => OCF_ERR_GENERIC,
        },
        "stop" => {
            ctx.stop();
            if running() {
                OCF_ERR_GENERIC
            } else {
                OCF_SUCCESS
            }
        }
        "reload" => match ctx.run(Command::Reload, StatusFormat::Plain) {
            RC_OK => OCF_SUCCESS,
            RC_CONFIG => OCF_ERR_CONFIGURED,
            _ => OCF_NOT_RUNNING,
        },
        _ => OCF_ERR_UNIMPLEMENTED,
    })
}
