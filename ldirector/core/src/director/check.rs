//! What one health check is, as the shell needs it to run one.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{fmt_ip, CheckType, HttpMethod, Service, VirtualAddr, VirtualService};

/// Identifies one distinct check (a real server with its check parameters).
/// Stable across reloads for an unchanged check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckId(pub u64);

/// Parameters of a negotiate check (`service=` and its settings).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NegotiateSpec {
    pub service: Service,
    /// With its leading `/`; may hold an absolute URL (http_proxy, per-real).
    pub request: String,
    /// Regular expression; empty matches anything.
    pub receive: String,
    /// HTTP `Host:`; `None` = the real server's address.
    pub virtualhost: Option<String>,
    pub httpmethod: HttpMethod,
    pub login: String,
    pub passwd: String,
    pub database: String,
    pub secret: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CheckMethod {
    /// TCP connect.
    Connect,
    /// ICMP echo, up to `attempts` tries (`checkcount`).
    Ping {
        attempts: u32,
    },
    /// `command vip-or-fwmark vport rip rport`, exit 0 = up.
    External {
        command: String,
        args: [String; 4],
    },
    /// A Perl file run with the same four arguments.
    ExternalPerl {
        command: String,
        args: [String; 4],
    },
    Negotiate(NegotiateSpec),
}

/// Transport a connect / negotiate check uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckProtocol {
    Tcp,
    Udp,
}

/// Everything that defines one check. Reals with equal specs (in one or more
/// virtual services) are checked once and the result applied to all.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CheckSpec {
    pub method: CheckMethod,
    /// `checktype=N`: `Some(N)` connect checks between two negotiate ones.
    pub combined: Option<u32>,
    pub addr: IpAddr,
    /// `None` when neither the real, `checkport` nor the service gives one.
    pub port: Option<u16>,
    pub protocol: CheckProtocol,
    pub checktimeout: Duration,
    pub negotiatetimeout: Duration,
    pub interval: Duration,
}

/// What to run for one attempt of a [`CheckSpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptKind {
    /// The spec's method.
    Full,
    /// A plain TCP connect (the connect rounds of `checktype=N`).
    Connect,
}

/// Issued by the core: run this check and report by `deadline`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRequest {
    pub id: CheckId,
    pub attempt: u64,
    pub kind: AttemptKind,
    pub deadline: Instant,
    pub spec: Arc<CheckSpec>,
}

/// Result of one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    Up,
    Down,
    Timeout,
}

impl CheckSpec {
    /// The time an attempt may take, as ldirectord bounds it (§2.6 of the
    /// reference), except that database checks get `negotiatetimeout` too.
    pub fn timeout(&self, kind: AttemptKind) -> Duration {
        match (kind, &self.method) {
            (AttemptKind::Connect, _) => self.checktimeout,
            (_, CheckMethod::Connect)
            | (_, CheckMethod::External { .. })
            | (_, CheckMethod::ExternalPerl { .. }) => self.checktimeout,
            (_, CheckMethod::Ping { attempts }) => {
                self.checktimeout.saturating_mul((*attempts).max(1))
            }
            (_, CheckMethod::Negotiate(n)) => match n.service {
                Service::Ldap | Service::Ldaps | Service::Radius => self.checktimeout,
                _ => self.negotiatetimeout,
            },
        }
    }

    pub fn target(&self) -> Option<SocketAddr> {
        self.port.map(|p| SocketAddr::new(self.addr, p))
    }
}

/// How a real's state is decided.
pub(crate) enum Plan {
    Static(bool),
    Check(Box<CheckSpec>),
}

/// The check of real `r` of virtual `v` (`_check_real`'s dispatch).
pub(crate) fn plan(v: &VirtualService, r: &crate::config::RealServer) -> Plan {
    let udp = matches!(
        v.addr,
        VirtualAddr::Inet {
            protocol: crate::config::Protocol::Udp,
            ..
        }
    );
    let protocol = if udp {
        CheckProtocol::Udp
    } else {
        CheckProtocol::Tcp
    };
    let (request, receive) = v.request_receive(r);
    let negotiate = || NegotiateSpec {
        service: v.service,
        request: request.to_string(),
        receive: receive.to_string(),
        virtualhost: v.virtualhost.clone(),
        httpmethod: v.httpmethod,
        login: v.login.clone(),
        passwd: v.passwd.clone(),
        database: v.database.clone(),
        secret: v.secret.clone(),
    };
    let args = || {
        let (vs, vp) = match v.addr {
            VirtualAddr::Inet { addr, .. } => (fmt_ip(addr.ip()), addr.port()),
            VirtualAddr::Fwmark { mark, .. } => (mark.to_string(), 0),
        };
        [vs, vp.to_string(), fmt_ip(r.addr), r.port.to_string()]
    };
    let (method, combined) = match v.checktype {
        CheckType::On => return Plan::Static(true),
        CheckType::Off => return Plan::Static(false),
        CheckType::Negotiate if v.service == Service::None => return Plan::Static(true),
        CheckType::Connect if udp => (
            CheckMethod::Ping {
                attempts: v.checkcount,
            },
            None,
        ),
        CheckType::Connect => (CheckMethod::Connect, None),
        CheckType::Ping => (
            CheckMethod::Ping {
                attempts: v.checkcount,
            },
            None,
        ),
        CheckType::External => (
            CheckMethod::External {
                command: v.checkcommand.clone(),
                args: args(),
            },
            None,
        ),
        CheckType::ExternalPerl => (
            CheckMethod::ExternalPerl {
                command: v.checkcommand.clone(),
                args: args(),
            },
            None,
        ),
        CheckType::Negotiate => (CheckMethod::Negotiate(negotiate()), None),
        CheckType::Combined(n) => (CheckMethod::Negotiate(negotiate()), Some(n)),
    };
    Plan::Check(Box::new(CheckSpec {
        method,
        combined,
        addr: r.addr,
        port: v.check_port(r),
        protocol,
        checktimeout: v.checktimeout,
        negotiatetimeout: v.negotiatetimeout,
        interval: v.checkinterval,
    }))
}
