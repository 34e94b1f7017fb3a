//! What `status --json` and the Prometheus endpoint show: the director's
//! view of every real, joined with the backend's table and counters and the
//! last check of each real.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use ldirector::backend::Snapshot;
use ldirector::config::VirtualAddr;
use ldirector::director::{CheckId, MemberInfo, RealState};
use serde::{Deserialize, Serialize};

/// The last finished attempt of a check.
#[derive(Clone, Debug, Default)]
pub struct CheckInfo {
    pub latency: Duration,
    pub up: bool,
    /// Why it failed; empty when up.
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RealReport {
    /// The IPVS destination.
    pub real: String,
    pub configured: String,
    /// `up`, `down` or `pending` (no result yet).
    pub state: String,
    pub configured_weight: u32,
    /// Weight in the table, `None` when not in it.
    pub weight: Option<u32>,
    pub active_conns: u32,
    pub inactive_conns: u32,
    pub conns: u64,
    pub last_check_seconds: Option<f64>,
    /// `up`, or why the last attempt failed.
    pub last_result: Option<String>,
    pub transitions: u64,
    pub maintenance: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DestReport {
    pub dest: String,
    pub weight: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VirtualReport {
    /// ldirectord's id: `tcp:127.0.0.100:80`, `fwm:7`.
    pub service: String,
    /// Whether the service is in the table.
    pub present: bool,
    pub scheduler: Option<String>,
    pub reals: Vec<RealReport>,
    /// Table entries that are no configured real (the fallback server).
    pub others: Vec<DestReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub pid: u32,
    pub config: String,
    pub backend: String,
    pub virtuals: Vec<VirtualReport>,
}

pub struct ReportInput<'a> {
    pub config: String,
    pub backend: &'a str,
    pub virtuals: Vec<VirtualAddr>,
    pub members: Vec<MemberInfo>,
    pub snapshot: &'a Snapshot,
    pub checks: &'a HashMap<CheckId, CheckInfo>,
    pub transitions: &'a HashMap<(VirtualAddr, SocketAddr), u64>,
}

pub fn build(input: ReportInput<'_>) -> StatusReport {
    let mut virtuals = Vec::new();
    for virt in &input.virtuals {
        let svc = input.snapshot.services.iter().find(|s| s.key == *virt);
        let mut reals = Vec::new();
        for m in input.members.iter().filter(|m| m.virt == *virt) {
            let dest = svc.and_then(|s| s.dests.iter().find(|d| d.addr == m.dest));
            let check = m.check.and_then(|id| input.checks.get(&id));
            reals.push(RealReport {
                real: m.dest.to_string(),
                configured: m.configured.to_string(),
                state: match m.state {
                    RealState::Up => "up",
                    RealState::Down => "down",
                    RealState::Pending => "pending",
                }
                .into(),
                configured_weight: m.weight,
                weight: dest.map(|d| d.params.weight),
                active_conns: dest.map(|d| d.active_conns).unwrap_or(0),
                inactive_conns: dest.map(|d| d.inactive_conns).unwrap_or(0),
                conns: dest.map(|d| d.stats.conns).unwrap_or(0),
                last_check_seconds: check.map(|c| c.latency.as_secs_f64()),
                last_result: check.map(|c| {
                    if c.up {
                        "up".to_string()
                    } else {
                        c.detail.clone()
                    }
                }),
                transitions: input
                    .transitions
                    .get(&(m.virt, m.dest))
                    .copied()
                    .unwrap_or(0),
                maintenance: m.maintenance,
            });
        }
        let others = svc
            .map(|s| {
                s.dests
                    .iter()
                    .filter(|d| {
                        !input
                            .members
                            .iter()
                            .any(|m| m.virt == *virt && m.dest == d.addr)
                    })
                    .map(|d| DestReport {
                        dest: d.addr.to_string(),
                        weight: d.params.weight,
                    })
                    .collect()
            })
            .unwrap_or_default();
        virtuals.push(VirtualReport {
            service: virt.id_str(),
            present: svc.is_some(),
            scheduler: svc.map(|s| s.params.scheduler.name().to_string()),
            reals,
            others,
        });
    }
    StatusReport {
        pid: std::process::id(),
        config: input.config,
        backend: input.backend.to_string(),
        virtuals,
    }
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text exposition format (0.0.4).
pub fn prometheus(r: &StatusReport) -> String {
    let mut out = String::new();
    let metric = |out: &mut String, name: &str, help: &str, kind: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    metric(&mut out, "ldirectord_info", "The running daemon.", "gauge");
    let _ = writeln!(
        out,
        "ldirectord_info{{config=\"{}\",backend=\"{}\",pid=\"{}\"}} 1",
        esc(&r.config),
        esc(&r.backend),
        r.pid
    );
    type Get = fn(&RealReport) -> Option<String>;
    let series: [(&str, &str, &str, Get); 7] = [
        (
            "ldirectord_real_up",
            "1 if the real server's checks say up, 0 if down; absent while pending.",
            "gauge",
            |x| match x.state.as_str() {
                "up" => Some("1".into()),
                "down" => Some("0".into()),
                _ => None,
            },
        ),
        (
            "ldirectord_real_weight",
            "Weight of the real server in the IPVS table (absent when not in it).",
            "gauge",
            |x| x.weight.map(|w| w.to_string()),
        ),
        (
            "ldirectord_real_configured_weight",
            "Weight configured for the real server.",
            "gauge",
            |x| Some(x.configured_weight.to_string()),
        ),
        (
            "ldirectord_real_check_duration_seconds",
            "Duration of the last finished check attempt.",
            "gauge",
            |x| x.last_check_seconds.map(|s| format!("{s:.6}")),
        ),
        (
            "ldirectord_real_transitions_total",
            "Table changes of the real server (added, restored, quiesced, deleted).",
            "counter",
            |x| Some(x.transitions.to_string()),
        ),
        (
            "ldirectord_real_active_connections",
            "IPVS ActiveConn of the real server.",
            "gauge",
            |x| Some(x.active_conns.to_string()),
        ),
        (
            "ldirectord_real_connections_total",
            "Connections scheduled to the real server.",
            "counter",
            |x| Some(x.conns.to_string()),
        ),
    ];
    for (name, help, kind, get) in series {
        metric(&mut out, name, help, kind);
        for v in &r.virtuals {
            for x in &v.reals {
                if let Some(val) = get(x) {
                    let _ = writeln!(
                        out,
                        "{name}{{virtual=\"{}\",real=\"{}\"}} {val}",
                        esc(&v.service),
                        esc(&x.real)
                    );
                }
            }
        }
    }
    metric(
        &mut out,
        "ldirectord_real_last_check_info",
        "Result of the last finished check attempt (`up` or why it failed).",
        "gauge",
    );
    for v in &r.virtuals {
        for x in &v.reals {
            if let Some(res) = &x.last_result {
                let _ = writeln!(
                    out,
                    "ldirectord_real_last_check_info{{virtual=\"{}\",real=\"{}\",result=\"{}\"}} 1",
                    esc(&v.service),
                    esc(&x.real),
                    esc(res)
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_has_one_series_per_real_and_escapes_labels() {
        let r = StatusReport {
            pid: 7,
            config: "/etc/ha.d/ldirectord.cf".into(),
            backend: "memory".into(),
            virtuals: vec![VirtualReport {
                service: "tcp:127.0.0.100:80".into(),
                present: true,
                scheduler: Some("wrr".into()),
                reals: vec![RealReport {
                    real: "127.0.0.2:8080".into(),
                    configured: "127.0.0.2:8080".into(),
                    state: "down".into(),
                    configured_weight: 2,
                    weight: Some(0),
                    active_conns: 0,
                    inactive_conns: 0,
                    conns: 5,
                    last_check_seconds: Some(0.25),
                    last_result: Some("HTTP \"503\"".into()),
                    transitions: 3,
                    maintenance: false,
                }],
                others: vec![],
            }],
        };
        let text = prometheus(&r);
        let l = "{virtual=\"tcp:127.0.0.100:80\",real=\"127.0.0.2:8080\"}";
        assert!(
            text.contains(&format!("ldirectord_real_up{l} 0\n")),
            "{text}"
        );
        assert!(text.contains(&format!("ldirectord_real_weight{l} 0\n")));
        assert!(text.contains(&format!("ldirectord_real_transitions_total{l} 3\n")));
        assert!(text.contains(&format!(
            "ldirectord_real_check_duration_seconds{l} 0.250000\n"
        )));
        assert!(text.contains("result=\"HTTP \\\"503\\\"\"} 1\n"), "{text}");
        assert!(text.contains("# TYPE ldirectord_real_transitions_total counter\n"));
    }
}
