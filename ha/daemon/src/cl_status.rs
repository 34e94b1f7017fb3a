//! `cl_status`: heartbeat's query tool, same sub-commands, options, output
//! words and exit codes as heartbeat 3.0.6's `tools/cl_status.c`, answered
//! from our control socket instead of heartbeat's API.
//!
//! Exit codes: 0 OK, 1 "normal" failure (node/link down, heartbeat stopped),
//! 11 parameter error, 12 timeout, 13 other error.

use std::time::Duration;

use crate::control::{ClientError, NodeInfo, Request, Response, Snapshot};

pub const OK: i32 = 0;
pub const NORMAL_FAIL: i32 = 1;
pub const PARAMETER_ERROR: i32 = 11;
pub const TIMEOUT: i32 = 12;
pub const UNKNOWN_ERROR: i32 = 13;

/// cl_status gives up after this long (heartbeat: `alarm(5)`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

pub const HELP: &str = "Usage: cl_status <sub-command> [<options>] [<parameters>]

Sub-commands:
clientstatus <node-name> <client-id> [<timeout>]
\tShow the status of heartbeat clients.
hblinkstatus <node-name> <link-name>
\tShow the status of a heartbeat link
hbstatus
\tIndicate if heartbeat is running on the local system.
\tOptions:
\t\t-v\tverbose: also add \"listnodes -v\" output
listnodes [<option>]
\tList the nodes in the cluster.
\tOptions:
\t\t-p\tlist only 'ping' type nodes
\t\t-n\tlist only 'normal' type nodes
\t\t-v\tverbose: also list type and status,
\t\t\tthen add \"listhblinks -v\" output
listhblinks <node-name>
\tList the network interfaces used as hearbeat links.
\tOptions:
\t\t-v\tverbose: list link status as well
nodestatus <node-name>
\tList the node status.
nodeweight <node-name>
\tList the node weight.
nodesite <node-name>
\tList the node site.
nodetype <node-name>
\tList the nodes of a given type.
rscstatus
\tShow the status of cluster resources.
hbparameter -p <parameter-name>
\tRetrieve the value of a cluster parameter.
\tAs for the valid parameter names, please refer to the man page.
";

/// How the tool reaches the daemon (the socket, or a fake in tests).
pub trait Backend {
    fn query(&self, request: &Request) -> Result<Response, ClientError>;
}

/// A line for stderr: heartbeat's `cl_log(LOG_ERR, …)` lines carry a
/// timestamp header; its `fprintf(stderr, …)` lines do not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrLine {
    Log(String),
    Plain(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: Vec<ErrLine>,
    pub code: i32,
}

impl Output {
    fn out(&mut self, s: impl AsRef<str>) {
        self.stdout.push_str(s.as_ref());
        self.stdout.push('\n');
    }
    fn log(&mut self, s: impl Into<String>) {
        self.stderr.push(ErrLine::Log(s.into()));
    }
    fn plain(&mut self, s: impl Into<String>) {
        self.stderr.push(ErrLine::Plain(s.into()));
    }
    fn done(mut self, code: i32) -> Self {
        self.code = code;
        self
    }
}

/// GNU getopt over the arguments after the sub-command: options may come
/// anywhere (permutation), `--` ends them, `p:` takes an argument.
#[derive(Debug, Default)]
struct Opts {
    flags: Vec<char>,
    p: Option<String>,
    positional: Vec<String>,
}

fn getopt(sub: &str, args: &[String], optstr: &str, out: &mut Output) -> Result<Opts, ()> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            o.positional.extend(it.by_ref().cloned());
            break;
        }
        let Some(cluster) = a.strip_prefix('-').filter(|c| !c.is_empty()) else {
            o.positional.push(a.clone());
            continue;
        };
        for (i, c) in cluster.char_indices() {
            let known = optstr.find(c);
            let takes_arg = known.is_some_and(|k| optstr[k + c.len_utf8()..].starts_with(':'));
            if known.is_none() {
                out.plain(format!("{sub}: invalid option -- '{c}'"));
                return Err(());
            }
            if takes_arg {
                let rest = &cluster[i + c.len_utf8()..];
                let value = if !rest.is_empty() {
                    rest.to_owned()
                } else if let Some(next) = it.next() {
                    next.clone()
                } else {
                    out.plain(format!("{sub}: option requires an argument -- '{c}'"));
                    return Err(());
                };
                if c == 'p' {
                    o.p = Some(value);
                }
                break;
            }
            o.flags.push(c);
        }
    }
    Ok(o)
}

struct Cmd {
    name: &'static str,
    optstr: &'static str,
    needs_signon: bool,
}

const CMDS: &[Cmd] = &[
    Cmd {
        name: "hbstatus",
        optstr: "mv",
        needs_signon: false,
    },
    Cmd {
        name: "listnodes",
        optstr: "mpnv",
        needs_signon: true,
    },
    Cmd {
        name: "nodestatus",
        optstr: "m",
        needs_signon: true,
    },
    Cmd {
        name: "nodeweight",
        optstr: "m",
        needs_signon: true,
    },
    Cmd {
        name: "nodesite",
        optstr: "m",
        needs_signon: true,
    },
    Cmd {
        name: "nodetype",
        optstr: "m",
        needs_signon: true,
    },
    Cmd {
        name: "listhblinks",
        optstr: "mv",
        needs_signon: true,
    },
    Cmd {
        name: "hblinkstatus",
        optstr: "m",
        needs_signon: true,
    },
    Cmd {
        name: "clientstatus",
        optstr: "m",
        needs_signon: true,
    },
    Cmd {
        name: "rscstatus",
        optstr: "m",
        needs_signon: true,
    },
    Cmd {
        name: "hbparameter",
        optstr: "mp:",
        needs_signon: true,
    },
];

/// Run cl_status with `args` (without the program name).
pub fn run(args: &[String], backend: &dyn Backend) -> Output {
    let mut out = Output::default();
    let Some(sub) = args.first() else {
        out.stdout.push_str(HELP);
        return out.done(OK);
    };
    if args.len() == 1 && (sub == "-h" || sub == "--help") {
        out.stdout.push_str(HELP);
        return out.done(OK);
    }
    let Some(cmd) = CMDS.iter().find(|c| c.name == sub) else {
        out.log(format!("{sub}: invalid sub-command."));
        return out.done(PARAMETER_ERROR);
    };
    // "Signing on" = getting the snapshot: it proves the daemon is up.
    let signon = backend.query(&Request::Snapshot);
    let snapshot = match signon {
        Ok(Response::Snapshot(s)) => Ok(s),
        Err(ClientError::Timeout) => {
            out.log("REASON: No timely response.");
            return out.done(TIMEOUT);
        }
        Ok(other) => Err(format!("unexpected answer {other:?}")),
        Err(e) => Err(e.to_string()),
    };
    let snapshot = match snapshot {
        Ok(s) => Some(s),
        Err(reason) if cmd.needs_signon => {
            out.log("Cannot signon with heartbeat");
            out.log(format!("REASON: {reason}"));
            return out.done(NORMAL_FAIL);
        }
        Err(_) => None,
    };
    let Ok(opts) = getopt(sub, args.get(1..).unwrap_or_default(), cmd.optstr, &mut out) else {
        let what = match cmd.name {
            "listnodes" | "listhblinks" | "hbparameter" => {
                "Error: getopt returnedcharacter code ?."
            }
            _ => "Error: getopt returnedcharacter ?.",
        };
        out.log(what);
        return out.done(PARAMETER_ERROR);
    };
    let human = opts.flags.contains(&'m');
    let verbose = opts.flags.contains(&'v');
    let arg = |i: usize| opts.positional.get(i).map(String::as_str);

    let Some(snap) = snapshot else {
        // Only hbstatus gets here without a daemon.
        out.out("Heartbeat is stopped on this machine.");
        return out.done(NORMAL_FAIL);
    };

    match cmd.name {
        "hbstatus" => {
            if !verbose {
                out.out("Heartbeat is running on this machine.");
                return out.done(OK);
            }
            if human {
                out.out(format!("Heartbeat version {}", snap.version));
                out.out("Resources controlled by \"haresources\"");
            } else {
                out.out(format!("version:\t{}", snap.version));
                out.out("managed by:\t\"haresources\"");
            }
            list_nodes(&snap, false, false, true, human, &mut out);
            out.done(OK)
        }
        "listnodes" => {
            let normal = opts.flags.contains(&'n');
            let ping = opts.flags.contains(&'p');
            list_nodes(&snap, normal, ping, verbose, human, &mut out);
            out.done(OK)
        }
        "nodestatus" => {
            let Some(name) = arg(0) else {
                out.plain("Not enough parameters.");
                return out.done(PARAMETER_ERROR);
            };
            let Some(node) = snap.node(name) else {
                out.plain("Error. May be due to incorrect node name");
                return out.done(PARAMETER_ERROR);
            };
            if human {
                out.out(format!("The cluster node {name} is {}", node.status));
            } else {
                out.out(&node.status);
            }
            let code = match node.status.as_str() {
                "active" | "up" | "ping" => OK,
                _ => NORMAL_FAIL,
            };
            out.done(code)
        }
        "nodeweight" => {
            let Some(name) = arg(0) else {
                out.plain("Not enough parameters.");
                return out.done(PARAMETER_ERROR);
            };
            if snap.node(name).is_none() {
                out.plain("Error. Maybe due to incorrect node name.");
                return out.done(PARAMETER_ERROR);
            }
            // heartbeat's default weight; `hb_setweight` is not supported.
            if human {
                out.out(format!("The weight of the cluster node {name} is 100"));
            } else {
                out.out("100");
            }
            out.done(OK)
        }
        "nodesite" => {
            let Some(name) = arg(0) else {
                out.plain("Not enough parameters.");
                return out.done(PARAMETER_ERROR);
            };
            if snap.node(name).is_none() {
                out.plain("Error. May be due to incorrect node name");
                return out.done(PARAMETER_ERROR);
            }
            if human {
                out.out(format!("The site of the cluster node {name} is "));
            } else {
                out.out("");
            }
            out.done(OK)
        }
        "nodetype" => {
            let Some(name) = arg(0) else {
                out.plain("No enough parameter.");
                return out.done(PARAMETER_ERROR);
            };
            let Some(node) = snap.node(name) else {
                out.plain("Error. May be due to incorrect node name");
                return out.done(PARAMETER_ERROR);
            };
            if human {
                out.out(format!("The node {name}'s type: {}", node.node_type));
            } else {
                out.out(&node.node_type);
            }
            out.done(OK)
        }
        "listhblinks" => {
            let Some(name) = arg(0) else {
                out.plain("No enough parameter.");
                return out.done(PARAMETER_ERROR);
            };
            let Some(node) = snap.node(name) else {
                out.log("Cannot start heartbeat link interface walk.");
                out.log("REASON: EINVAL");
                return out.done(UNKNOWN_ERROR);
            };
            list_links(node, verbose, human, &mut out);
            out.done(OK)
        }
        "hblinkstatus" => {
            let (Some(name), Some(link)) = (arg(0), arg(1)) else {
                out.plain("No enough parameter.");
                return out.done(PARAMETER_ERROR);
            };
            let Some(status) = snap
                .node(name)
                .and_then(|n| n.links.iter().find(|l| l.name == link))
                .map(|l| l.status.clone())
            else {
                out.log("Cannot get heartbeat link status");
                out.log("REASON: ");
                return out.done(UNKNOWN_ERROR);
            };
            if human {
                out.out(format!(
                    "The node {name}'s heartbeat link {link} is {status}"
                ));
            } else {
                out.out(&status);
            }
            out.done(if status == "up" { OK } else { NORMAL_FAIL })
        }
        "clientstatus" => {
            let (Some(node), Some(client)) = (arg(0), arg(1)) else {
                out.plain("No enough parameter.");
                return out.done(PARAMETER_ERROR);
            };
            let request = Request::ClientStatus {
                node: node.to_owned(),
                client: client.to_owned(),
            };
            match backend.query(&request) {
                Ok(Response::ClientStatus { status }) => {
                    out.out(&status);
                    let code = match status.as_str() {
                        "online" => OK,
                        "offline" => NORMAL_FAIL,
                        "join" => 2,
                        "leave" => 3,
                        _ => UNKNOWN_ERROR,
                    };
                    out.done(code)
                }
                other => {
                    out.log(format!("Cannot get heartbeat client {client}'s status"));
                    out.log(format!("REASON: {}", reason(other)));
                    out.done(UNKNOWN_ERROR)
                }
            }
        }
        "rscstatus" => {
            if human {
                out.out(format!(
                    "This node is holding {} resources.",
                    snap.resources
                ));
            } else {
                out.out(&snap.resources);
            }
            out.done(OK)
        }
        "hbparameter" => {
            let Some(name) = opts.p else {
                out.log("parameter name required");
                return out.done(PARAMETER_ERROR);
            };
            match backend.query(&Request::Parameter { name: name.clone() }) {
                Ok(Response::Parameter { value: Some(v) }) => {
                    if human {
                        out.out(format!("Heartbeat parameter {name}'s value: {v}"));
                    } else {
                        out.out(v);
                    }
                    out.done(OK)
                }
                Ok(Response::Parameter { value: None }) => {
                    out.log(format!("Cannot get parameter {name}'s value"));
                    out.log("REASON: ");
                    out.done(NORMAL_FAIL)
                }
                other => {
                    out.log(format!("Cannot get parameter {name}'s value"));
                    out.log(format!("REASON: {}", reason(other)));
                    out.done(NORMAL_FAIL)
                }
            }
        }
        _ => {
            out.log(format!("{sub}: invalid sub-command."));
            out.done(PARAMETER_ERROR)
        }
    }
}

fn reason(r: Result<Response, ClientError>) -> String {
    match r {
        Ok(Response::Error { message }) => message,
        Ok(other) => format!("unexpected answer {other:?}"),
        Err(ClientError::Timeout) => "No timely response.".to_owned(),
        Err(e) => e.to_string(),
    }
}

fn list_nodes(
    snap: &Snapshot,
    normal: bool,
    ping: bool,
    verbose: bool,
    human: bool,
    out: &mut Output,
) {
    // Both filters at once means no filter, as in heartbeat.
    let (normal, ping) = if normal && ping {
        (false, false)
    } else {
        (normal, ping)
    };
    if human {
        out.out("The nodes are as follow:");
    }
    for n in &snap.nodes {
        if (normal && n.node_type != "normal") || (ping && n.node_type != "ping") {
            continue;
        }
        if verbose {
            out.out(format!(
                "\n{}\t{}\t(nodetype: {})",
                n.name, n.status, n.node_type
            ));
            list_links(n, true, human, out);
        } else {
            out.out(&n.name);
        }
    }
}

fn list_links(node: &NodeInfo, verbose: bool, human: bool, out: &mut Output) {
    if human {
        out.out("\tthis node has the following heartbeat links:");
    }
    for l in &node.links {
        if verbose {
            out.out(format!("\t{}\t{}", l.name, l.status));
        } else {
            out.out(format!("\t{}", l.name));
        }
    }
}

/// The control socket as a [`Backend`].
pub struct SocketBackend {
    pub path: std::path::PathBuf,
    pub timeout: Duration,
}

impl Backend for SocketBackend {
    fn query(&self, request: &Request) -> Result<Response, ClientError> {
        crate::control::query(&self.path, request, self.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::LinkInfo;
    use std::io;

    struct Fake(Option<Snapshot>);

    impl Backend for Fake {
        fn query(&self, request: &Request) -> Result<Response, ClientError> {
            let Some(s) = &self.0 else {
                return Err(ClientError::Connect {
                    path: "/run/heartbeat/rust-api.sock".into(),
                    source: io::Error::from(io::ErrorKind::NotFound),
                });
            };
            Ok(match request {
                Request::Snapshot => Response::Snapshot(s.clone()),
                Request::Parameter { name } => Response::Parameter {
                    value: (name == "keepalive").then(|| "1".to_owned()),
                },
                Request::ClientStatus { node, .. } if s.node(node).is_some() => {
                    Response::ClientStatus {
                        status: "offline".into(),
                    }
                }
                Request::ClientStatus { .. } => Response::Error {
                    message: "EINVAL".into(),
                },
            })
        }
    }

    fn node(name: &str, status: &str, link: &str) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            status: status.into(),
            node_type: "normal".into(),
            links: vec![LinkInfo {
                name: "eth0".into(),
                status: link.into(),
            }],
        }
    }

    fn up() -> Fake {
        Fake(Some(Snapshot {
            local: "node1".into(),
            version: "3.0.6 (rust heartbeat 0.1.0)".into(),
            resources: "none".into(),
            nodes: vec![node("node2", "dead", "dead"), node("node1", "active", "up")],
        }))
    }

    fn cl(args: &[&str], b: &Fake) -> Output {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        run(&args, b)
    }

    #[test]
    fn hbstatus_running_and_stopped() {
        let o = cl(&["hbstatus"], &up());
        assert_eq!(
            (o.stdout.as_str(), o.code),
            ("Heartbeat is running on this machine.\n", 0)
        );
        let o = cl(&["hbstatus"], &Fake(None));
        assert_eq!(
            (o.stdout.as_str(), o.code),
            ("Heartbeat is stopped on this machine.\n", 1)
        );
    }

    #[test]
    fn other_commands_need_the_daemon() {
        let o = cl(&["nodestatus", "node2"], &Fake(None));
        assert_eq!(o.code, 1);
        assert_eq!(o.stdout, "");
        assert_eq!(
            o.stderr[0],
            ErrLine::Log("Cannot signon with heartbeat".into())
        );
    }

    #[test]
    fn nodestatus_words_and_exit_codes() {
        let o = cl(&["nodestatus", "node1"], &up());
        assert_eq!((o.stdout.as_str(), o.code), ("active\n", 0));
        let o = cl(&["nodestatus", "node2"], &up());
        assert_eq!((o.stdout.as_str(), o.code), ("dead\n", 1));
        let o = cl(&["nodestatus", "-m", "node1"], &up());
        assert_eq!(o.stdout, "The cluster node node1 is active\n");
        let o = cl(&["nodestatus", "bogus"], &up());
        assert_eq!(o.code, 11);
        assert_eq!(
            o.stderr,
            [ErrLine::Plain(
                "Error. May be due to incorrect node name".into()
            )]
        );
        let o = cl(&["nodestatus"], &up());
        assert_eq!(
            (o.code, &o.stderr[0]),
            (11, &ErrLine::Plain("Not enough parameters.".into()))
        );
    }

    #[test]
    fn listnodes_and_links_match_heartbeat_layout() {
        assert_eq!(cl(&["listnodes"], &up()).stdout, "node2\nnode1\n");
        assert_eq!(cl(&["listnodes", "-p"], &up()).stdout, "");
        assert_eq!(cl(&["listnodes", "-n"], &up()).stdout, "node2\nnode1\n");
        assert_eq!(
            cl(&["listnodes", "-v"], &up()).stdout,
            "\nnode2\tdead\t(nodetype: normal)\n\teth0\tdead\n\nnode1\tactive\t(nodetype: normal)\n\teth0\tup\n"
        );
        assert_eq!(cl(&["listhblinks", "node2"], &up()).stdout, "\teth0\n");
        let o = cl(&["listnodes", "-x"], &up());
        assert_eq!(o.code, 11);
        assert_eq!(
            o.stderr[0],
            ErrLine::Plain("listnodes: invalid option -- 'x'".into())
        );
        let o = cl(&["listhblinks", "bogus"], &up());
        assert_eq!(o.code, 13);
    }

    #[test]
    fn hblinkstatus_up_dead_unknown() {
        let o = cl(&["hblinkstatus", "node1", "eth0"], &up());
        assert_eq!((o.stdout.as_str(), o.code), ("up\n", 0));
        let o = cl(&["hblinkstatus", "node2", "eth0"], &up());
        assert_eq!((o.stdout.as_str(), o.code), ("dead\n", 1));
        let o = cl(&["hblinkstatus", "node2", "eth9"], &up());
        assert_eq!(o.code, 13);
        assert_eq!(
            o.stderr[0],
            ErrLine::Log("Cannot get heartbeat link status".into())
        );
    }

    #[test]
    fn parameters_types_resources_clients() {
        let o = cl(&["hbparameter", "-p", "keepalive"], &up());
        assert_eq!((o.stdout.as_str(), o.code), ("1\n", 0));
        let o = cl(&["hbparameter", "-pkeepalive", "-m"], &up());
        assert_eq!(o.stdout, "Heartbeat parameter keepalive's value: 1\n");
        let o = cl(&["hbparameter", "-p", "nonexist"], &up());
        assert_eq!(o.code, 1);
        assert_eq!(
            o.stderr[0],
            ErrLine::Log("Cannot get parameter nonexist's value".into())
        );
        let o = cl(&["hbparameter", "keepalive"], &up());
        assert_eq!(
            (o.code, &o.stderr[0]),
            (11, &ErrLine::Log("parameter name required".into()))
        );
        assert_eq!(cl(&["nodetype", "node2"], &up()).stdout, "normal\n");
        assert_eq!(cl(&["rscstatus"], &up()).stdout, "none\n");
        assert_eq!(
            cl(&["rscstatus", "-m"], &up()).stdout,
            "This node is holding none resources.\n"
        );
        let o = cl(&["clientstatus", "node2", "ipfail"], &up());
        assert_eq!((o.stdout.as_str(), o.code), ("offline\n", 1));
        let o = cl(&["clientstatus", "node2"], &up());
        assert_eq!(
            (o.code, &o.stderr[0]),
            (11, &ErrLine::Plain("No enough parameter.".into()))
        );
        let o = cl(&["clientstatus", "nodeX", "ipfail"], &up());
        assert_eq!(o.code, 13);
        assert_eq!(cl(&["nodeweight", "node1"], &up()).stdout, "100\n");
    }

    #[test]
    fn help_and_bad_subcommands() {
        let o = cl(&[], &Fake(None));
        assert_eq!((o.stdout.as_str(), o.code), (HELP, 0));
        assert_eq!(cl(&["-h"], &Fake(None)).stdout, HELP);
        assert_eq!(cl(&["--help"], &Fake(None)).stdout, HELP);
        let o = cl(&["bogus"], &up());
        assert_eq!(o.code, 11);
        assert_eq!(
            o.stderr,
            [ErrLine::Log("bogus: invalid sub-command.".into())]
        );
    }

    #[test]
    fn verbose_hbstatus_lists_nodes() {
        let o = cl(&["hbstatus", "-v"], &up());
        assert!(
            o.stdout.starts_with(
                "version:\t3.0.6 (rust heartbeat 0.1.0)\nmanaged by:\t\"haresources\"\n"
            ),
            "{}",
            o.stdout
        );
        assert!(o
            .stdout
            .contains("\nnode1\tactive\t(nodetype: normal)\n\teth0\tup\n"));
    }
}
