//! Our local control socket, `/run/heartbeat/rust-api.sock` (mode 0666,
//! created at Comm_now_up like heartbeat's `register` socket, so tools see
//! "stopped" before).
//!
//! Protocol: JSON lines. The client writes one request object per line and
//! reads one response object per line; a connection may carry many requests.
//!
//! ```text
//! → {"op":"snapshot"}
//! ← {"result":"snapshot","local":"node1","version":"3.0.6 (rust heartbeat 0.1.0)",
//!    "resources":"none","nodes":[{"name":"node2","status":"active","type":"normal",
//!    "links":[{"name":"eth0","status":"up"}]}, …]}
//! → {"op":"parameter","name":"keepalive"}
//! ← {"result":"parameter","value":"2"}            (value null: unknown parameter)
//! → {"op":"client_status","node":"node2","client":"ipfail"}
//! ← {"result":"client_status","status":"offline"}
//! ← {"result":"error","message":"…"}               (bad request, unknown node)
//! ```
//! Requests longer than [`MAX_REQUEST`] bytes close the connection.

use std::io::{self, BufRead as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use hb_membership::{LinkStatus, NodeView};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

pub const MAX_REQUEST: u64 = 16 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Every node with status, type and links; our resource state.
    Snapshot,
    /// `cl_status hbparameter -p NAME`.
    Parameter { name: String },
    /// `cl_status clientstatus NODE CLIENT`.
    ClientStatus { node: String, client: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Snapshot(Snapshot),
    Parameter { value: Option<String> },
    ClientStatus { status: String },
    Error { message: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub local: String,
    pub version: String,
    /// `cl_status rscstatus`: all / local / foreign / none / transition.
    pub resources: String,
    /// In the order heartbeat's API lists them.
    pub nodes: Vec<NodeInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    /// init / up / active / dead / ping.
    pub status: String,
    /// normal / ping.
    #[serde(rename = "type")]
    pub node_type: String,
    pub links: Vec<LinkInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkInfo {
    pub name: String,
    /// up / dead.
    pub status: String,
}

impl Snapshot {
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// Build the snapshot from the core's view. `cl_status listnodes` against
/// heartbeat 3.0.6 lists the ha.cf nodes last first (`node node1`,
/// `node node2` → node2, node1, on both nodes), so we keep that order.
pub fn snapshot_from(
    nodes: &[NodeView],
    media: &[String],
    local: &str,
    resources: &str,
) -> Snapshot {
    let nodes = nodes
        .iter()
        .rev()
        .map(|n| NodeInfo {
            name: n.name.clone(),
            status: n.status.as_str().to_owned(),
            node_type: if n.ping { "ping" } else { "normal" }.to_owned(),
            links: n
                .links
                .iter()
                .map(|(id, st)| LinkInfo {
                    name: media
                        .get(*id)
                        .cloned()
                        .unwrap_or_else(|| format!("link{id}")),
                    status: match st {
                        LinkStatus::Up => "up",
                        LinkStatus::Dead => "dead",
                    }
                    .to_owned(),
                })
                .collect(),
        })
        .collect();
    Snapshot {
        local: local.to_owned(),
        version: crate::version_string(),
        resources: resources.to_owned(),
        nodes,
    }
}

/// A request waiting for the event loop's answer.
#[derive(Debug)]
pub struct ControlRequest {
    pub request: Request,
    pub reply: oneshot::Sender<Response>,
}

/// Create the socket at `path` (replacing a stale one), mode 0666.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(listener)
}

/// Serve connections, passing each request to the event loop through `tx`.
pub fn spawn_server<T: From<ControlRequest> + Send + 'static>(
    listener: UnixListener,
    tx: mpsc::Sender<T>,
) {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, tx.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    // Typically EMFILE: give descriptors a moment to free up.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
}

async fn serve_connection<T: From<ControlRequest>>(
    stream: tokio::net::UnixStream,
    tx: mpsc::Sender<T>,
) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = tokio::io::BufReader::new(rd);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = match (&mut rd)
            .take(MAX_REQUEST)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(n) => n,
            Err(_) => return,
        };
        if n == 0 {
            return;
        }
        if line.last() != Some(&b'\n') && n as u64 >= MAX_REQUEST {
            return;
        }
        let response = match serde_json::from_slice::<Request>(&line) {
            Ok(request) => {
                let (reply, rx) = oneshot::channel();
                if tx
                    .send(ControlRequest { request, reply }.into())
                    .await
                    .is_err()
                {
                    return;
                }
                match rx.await {
                    Ok(r) => r,
                    Err(_) => return,
                }
            }
            Err(e) => Response::Error {
                message: format!("bad request: {e}"),
            },
        };
        let Ok(mut out) = serde_json::to_vec(&response) else {
            return;
        };
        out.push(b'\n');
        if wr.write_all(&out).await.is_err() {
            return;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon listening (not running, or comm not up yet).
    #[error("cannot connect to {path}: {source}")]
    Connect { path: String, source: io::Error },
    #[error("no timely response")]
    Timeout,
    #[error("{0}")]
    Io(io::Error),
    #[error("bad response: {0}")]
    Protocol(String),
}

/// One request/response over a fresh connection (blocking; for the tools).
pub fn query(path: &Path, request: &Request, timeout: Duration) -> Result<Response, ClientError> {
    let stream =
        std::os::unix::net::UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        })?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(ClientError::Io)?;
    let timeout_or = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout,
        _ => ClientError::Io(e),
    };
    let mut line = serde_json::to_vec(request).map_err(|e| ClientError::Protocol(e.to_string()))?;
    line.push(b'\n');
    (&stream).write_all(&line).map_err(timeout_or)?;
    let mut reader = io::BufReader::new(io::Read::take(&stream, 16 * 1024 * 1024));
    let mut answer = Vec::new();
    reader.read_until(b'\n', &mut answer).map_err(timeout_or)?;
    serde_json::from_slice(&answer).map_err(|e| ClientError::Protocol(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hb_membership::NodeStatus;

    #[test]
    fn wire_format_is_stable_json() {
        assert_eq!(
            serde_json::to_string(&Request::Snapshot).unwrap(),
            r#"{"op":"snapshot"}"#
        );
        assert_eq!(
            serde_json::to_string(&Request::Parameter {
                name: "keepalive".into()
            })
            .unwrap(),
            r#"{"op":"parameter","name":"keepalive"}"#
        );
        let r: Request =
            serde_json::from_str(r#"{"op":"client_status","node":"node2","client":"ipfail"}"#)
                .unwrap();
        assert_eq!(
            r,
            Request::ClientStatus {
                node: "node2".into(),
                client: "ipfail".into()
            }
        );
        assert_eq!(
            serde_json::to_string(&Response::Parameter { value: None }).unwrap(),
            r#"{"result":"parameter","value":null}"#
        );
        assert!(serde_json::from_str::<Request>(r#"{"op":"reboot"}"#).is_err());
    }

    #[test]
    fn snapshot_lists_nodes_like_heartbeats_api() {
        let views = vec![
            NodeView {
                name: "node1".into(),
                status: NodeStatus::Active,
                ping: false,
                links: vec![(0, LinkStatus::Up)],
            },
            NodeView {
                name: "node2".into(),
                status: NodeStatus::Dead,
                ping: false,
                links: vec![(0, LinkStatus::Dead)],
            },
        ];
        let s = snapshot_from(&views, &["eth0".to_owned()], "node1", "none");
        let names: Vec<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["node2", "node1"]);
        let n2 = s.node("node2").unwrap();
        assert_eq!(n2.status, "dead");
        assert_eq!(n2.node_type, "normal");
        assert_eq!(
            n2.links,
            [LinkInfo {
                name: "eth0".into(),
                status: "dead".into()
            }]
        );
        let json = serde_json::to_string(&Response::Snapshot(s.clone())).unwrap();
        assert!(
            json.starts_with(r#"{"result":"snapshot","local":"node1""#),
            "{json}"
        );
        assert!(json.contains(r#""type":"normal""#), "{json}");
        assert_eq!(
            serde_json::from_str::<Response>(&json).unwrap(),
            Response::Snapshot(s)
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn server_answers_requests_through_the_loop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rust-api.sock");
        let listener = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o666);
        let (tx, mut rx) = mpsc::channel::<ControlRequest>(4);
        spawn_server(listener, tx);
        // Stand-in for the event loop.
        tokio::spawn(async move {
            while let Some(cr) = rx.recv().await {
                let resp = match cr.request {
                    Request::Parameter { name } => Response::Parameter {
                        value: (name == "keepalive").then(|| "2".to_owned()),
                    },
                    _ => Response::Error {
                        message: "unexpected".into(),
                    },
                };
                let _ = cr.reply.send(resp);
            }
        });
        let p = path.clone();
        let answers = tokio::task::spawn_blocking(move || {
            let a = query(
                &p,
                &Request::Parameter {
                    name: "keepalive".into(),
                },
                Duration::from_secs(5),
            )
            .unwrap();
            let b = query(
                &p,
                &Request::Parameter {
                    name: "nope".into(),
                },
                Duration::from_secs(5),
            )
            .unwrap();
            (a, b)
        })
        .await
        .unwrap();
        assert_eq!(
            answers,
            (
                Response::Parameter {
                    value: Some("2".into())
                },
                Response::Parameter { value: None }
            )
        );
    }

    #[test]
    fn query_without_daemon_is_a_connect_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = query(
            &dir.path().join("absent.sock"),
            &Request::Snapshot,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, ClientError::Connect { .. }), "{err}");
    }
}
