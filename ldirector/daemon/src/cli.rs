//! ldirectord's command line: `ldirectord [-d] [configfile] command`,
//! parsed the way 4.12's Getopt::Long setup does (bundling, options only
//! before the first positional word), plus our own options.

use std::net::SocketAddr;

use ldirector::backend::listing::ListFormat;

/// `--ipvs`: which IPVS implementation to drive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IpvsMode {
    Kernel,
    Userspace,
    /// Kernel, else userspace when the kernel has no IPVS.
    #[default]
    Auto,
    /// A table in memory only (tests, dry runs).
    None,
}

impl IpvsMode {
    fn parse(s: &str) -> Option<IpvsMode> {
        Some(match s {
            "kernel" => IpvsMode::Kernel,
            "userspace" => IpvsMode::Userspace,
            "auto" => IpvsMode::Auto,
            "none" => IpvsMode::None,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Start,
    Stop,
    Restart,
    TryRestart,
    Reload,
    ForceReload,
    Status,
    /// Ours: the Prometheus text of the running daemon.
    Metrics,
}

impl Command {
    fn parse(s: &str) -> Option<Command> {
        Some(match s {
            "start" => Command::Start,
            "stop" => Command::Stop,
            "restart" => Command::Restart,
            "try-restart" => Command::TryRestart,
            "reload" => Command::Reload,
            "force-reload" => Command::ForceReload,
            "status" => Command::Status,
            "metrics" => Command::Metrics,
            _ => return None,
        })
    }
}

/// How `status` shows the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatusFormat {
    #[default]
    Plain,
    Stats,
    Rate,
    Json,
    /// `-c`/`--connections`: the connection entries (`ipvsadm -Lcn`).
    Connections,
}

impl StatusFormat {
    pub fn list_format(self) -> ListFormat {
        match self {
            StatusFormat::Stats => ListFormat::Stats,
            StatusFormat::Rate => ListFormat::Rate,
            _ => ListFormat::Plain,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invocation {
    Version,
    Help,
    /// `-t [configfile]`.
    Check {
        config: Option<String>,
    },
    Run {
        config: Option<String>,
        command: Command,
        status_format: StatusFormat,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    pub debug: bool,
    pub ipvs: IpvsMode,
    pub metrics_listen: Option<SocketAddr>,
    pub invocation: Invocation,
}

/// A command line ldirectord rejects with its usage text (rc 255).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub const USAGE: &str = "Usage:
    ldirectord [-d|--debug] [--] [ldirectord.cf] start|stop|restart|try-restart|reload|force-reload|status
    ldirectord [ldirectord.cf] status [--stats|--rate|--json|-c|--connections [-n]]
    ldirectord [ldirectord.cf] metrics
    ldirectord -t [ldirectord.cf]
    ldirectord -h|--help|-v|--version

Options:
    -d, --debug              stay in the foreground, debug log to stderr
    -t                       check the configuration and exit (1 on errors)
    --ipvs kernel|userspace|auto|none
                             IPVS implementation (default auto: kernel, else userspace)
    --metrics-listen ADDR    serve Prometheus metrics over HTTP on ADDR
";

pub fn parse(argv: &[String]) -> Result<Args, UsageError> {
    let mut debug = false;
    let mut check = false;
    let mut version = false;
    let mut help = false;
    let mut ipvs = IpvsMode::default();
    let mut metrics_listen = None;
    let mut rest = argv.iter().skip(1).peekable();
    let mut positional: Vec<String> = Vec::new();
    while let Some(a) = rest.next() {
        if a == "--" {
            positional.extend(rest.by_ref().cloned());
            break;
        }
        let Some(opt) = a.strip_prefix('-').filter(|o| !o.is_empty()) else {
            positional.push(a.clone());
            positional.extend(rest.by_ref().cloned());
            break;
        };
        if let Some(long) = opt.strip_prefix('-') {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let mut value = |name: &str| -> Result<String, UsageError> {
                inline
                    .clone()
                    .or_else(|| rest.next().cloned())
                    .ok_or_else(|| UsageError(format!("option --{name} requires an argument")))
            };
            match name {
                "debug" => debug = true,
                "version" => version = true,
                "help" => help = true,
                "ipvs" => {
                    let v = value(name)?;
                    ipvs = IpvsMode::parse(&v)
                        .ok_or_else(|| UsageError(format!("unknown --ipvs mode {v:?}")))?;
                }
                "metrics-listen" => {
                    let v = value(name)?;
                    metrics_listen = Some(v.parse().map_err(|_| {
                        UsageError(format!("--metrics-listen: not an address:port: {v:?}"))
                    })?);
                }
                _ => return Err(UsageError(format!("Unknown option: {name}"))),
            }
        } else {
            for c in opt.chars() {
                match c {
                    'd' => debug = true,
                    't' => check = true,
                    'v' => version = true,
                    'h' | '?' => help = true,
                    _ => return Err(UsageError(format!("Unknown option: {c}"))),
                }
            }
        }
    }
    let invocation = if help {
        Invocation::Help
    } else if version {
        Invocation::Version
    } else if check {
        if positional.len() > 1 {
            return Err(UsageError("-t takes at most a configuration file".into()));
        }
        Invocation::Check {
            config: positional.first().cloned(),
        }
    } else {
        let (config, cmd_at) = match positional.first().map(|p| Command::parse(p)) {
            Some(Some(_)) => (None, 0),
            Some(None) => (positional.first().cloned(), 1),
            None => return Err(UsageError("no command given".into())),
        };
        let word = positional
            .get(cmd_at)
            .ok_or_else(|| UsageError("no command given".into()))?;
        let command =
            Command::parse(word).ok_or_else(|| UsageError(format!("unknown command {word:?}")))?;
        let mut status_format = StatusFormat::Plain;
        for extra in positional.iter().skip(cmd_at + 1) {
            status_format = match (command, extra.as_str()) {
                (Command::Status, "--stats") => StatusFormat::Stats,
                (Command::Status, "--rate") => StatusFormat::Rate,
                (Command::Status, "--json") => StatusFormat::Json,
                (Command::Status, "-c" | "--connections" | "-cn" | "-nc") => {
                    StatusFormat::Connections
                }
                // Listings are always numeric; ipvsadm's -n is accepted.
                (Command::Status, "-n" | "--numeric") => status_format,
                _ => return Err(UsageError(format!("unexpected argument {extra:?}"))),
            };
        }
        Invocation::Run {
            config,
            command,
            status_format,
        }
    };
    Ok(Args {
        debug,
        ipvs,
        metrics_listen,
        invocation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Args, UsageError> {
        let v: Vec<String> = std::iter::once("ldirectord")
            .chain(a.iter().copied())
            .map(String::from)
            .collect();
        parse(&v)
    }

    fn run(a: &[&str]) -> (Option<String>, Command, StatusFormat) {
        match p(a).unwrap().invocation {
            Invocation::Run {
                config,
                command,
                status_format,
            } => (config, command, status_format),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_or_two_positionals_like_ldirectord() {
        assert_eq!(run(&["start"]), (None, Command::Start, StatusFormat::Plain));
        assert_eq!(
            run(&["lb.cf", "force-reload"]),
            (
                Some("lb.cf".into()),
                Command::ForceReload,
                StatusFormat::Plain
            )
        );
        assert_eq!(
            run(&["status", "--json"]),
            (None, Command::Status, StatusFormat::Json)
        );
        for extra in [
            &["-c"][..],
            &["--connections", "-n"],
            &["-n", "-c"],
            &["-cn"],
        ] {
            let mut a = vec!["x.cf", "status"];
            a.extend_from_slice(extra);
            assert_eq!(run(&a).2, StatusFormat::Connections, "{a:?}");
        }
        assert_eq!(run(&["status", "-n"]).2, StatusFormat::Plain);
        assert_eq!(
            run(&["x.cf", "status", "--stats"]),
            (Some("x.cf".into()), Command::Status, StatusFormat::Stats)
        );
        let a = p(&["-d", "--ipvs", "none", "x.cf", "start"]).unwrap();
        assert!(a.debug);
        assert_eq!(a.ipvs, IpvsMode::None);
        let a = p(&[
            "--ipvs=userspace",
            "--metrics-listen",
            "127.0.0.1:9",
            "start",
        ])
        .unwrap();
        assert_eq!(a.ipvs, IpvsMode::Userspace);
        assert_eq!(a.metrics_listen, Some("127.0.0.1:9".parse().unwrap()));
    }

    #[test]
    fn rejects_what_ldirectord_rejects() {
        assert!(p(&[]).is_err());
        assert!(p(&["x.cf"]).is_err());
        assert!(p(&["x.cf", "frobnicate"]).is_err());
        assert!(p(&["start", "--json"]).is_err());
        assert!(p(&["-x", "start"]).is_err());
        assert!(p(&["--ipvs", "magic", "start"]).is_err());
    }

    #[test]
    fn version_help_and_check() {
        assert_eq!(p(&["-v"]).unwrap().invocation, Invocation::Version);
        assert_eq!(p(&["--help"]).unwrap().invocation, Invocation::Help);
        assert_eq!(
            p(&["-t", "a.cf"]).unwrap().invocation,
            Invocation::Check {
                config: Some("a.cf".into())
            }
        );
        assert_eq!(
            p(&["-dt"]).unwrap().invocation,
            Invocation::Check { config: None }
        );
    }
}
