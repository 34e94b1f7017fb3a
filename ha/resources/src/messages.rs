//! The resource-management cluster messages, field for field as heartbeat
//! 3.0.6 creates them (checked against captured packets). The membership
//! core appends `src`, `srcuuid`, `seq`, `hg`, `ts`, `ld`, `ttl` and `auth`
//! after these fields.

use hb_wire::Message;

use crate::hold::{Hold, Scope};

/// `t=starting`: "tell me what you hold" (nice_failback boot).
pub fn starting() -> Message {
    Message::with_type("starting")
}

/// `t=resource rsc_hold=W rtype=full isstable=0|1 [info=C]`
/// (`hb_send_resources_held`).
pub fn resource(hold: Hold, stable: bool, info: Option<&str>) -> Message {
    let mut m = Message::with_type("resource");
    m.add_str("rsc_hold", hold.as_str())
        .add_str("rtype", "full")
        .add_str("isstable", if stable { "1" } else { "0" });
    if let Some(info) = info {
        m.add_str("info", info);
    }
    m
}

/// `t=resource rsc_hold=foreign info=mach_down`: what the `mach_down` script
/// sends after taking a dead node's groups (no `rtype`, no `isstable`).
pub fn mach_down_done() -> Message {
    let mut m = Message::with_type("resource");
    m.add_str("rsc_hold", "foreign")
        .add_str("info", "mach_down");
    m
}

/// The phases of heartbeat's standby protocol (`enum standby`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StandbyPhase {
    Me,
    Other,
    Done,
}

impl StandbyPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            StandbyPhase::Me => "me",
            StandbyPhase::Other => "other",
            StandbyPhase::Done => "done",
        }
    }
}

/// `t=ask_resources rsc_hold=W info=me|other|done`.
pub fn ask_resources(hold: Hold, phase: StandbyPhase) -> Message {
    let mut m = Message::with_type("ask_resources");
    m.add_str("rsc_hold", hold.as_str())
        .add_str("info", phase.as_str());
    m
}

/// `t=hb_takeover rsc_hold=<scope as typed>`.
pub fn hb_takeover(scope: Scope) -> Message {
    let mut m = Message::with_type("hb_takeover");
    m.add_str("rsc_hold", scope.as_str());
    m
}

/// The `result=` of a `t=stonith` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StonithResult {
    /// `OK`: the node was reset.
    Ok,
    /// `bad`: the reset failed.
    Bad,
    /// `n_stnth`: no STONITH device configured.
    NotConfigured,
    /// `unneeded`: the dead node had given up its resources.
    Unneeded,
}

impl StonithResult {
    pub fn as_str(self) -> &'static str {
        match self {
            StonithResult::Ok => "OK",
            StonithResult::Bad => "bad",
            StonithResult::NotConfigured => "n_stnth",
            StonithResult::Unneeded => "unneeded",
        }
    }
}

/// `t=stonith node=N result=R`.
pub fn stonith(node: &str, result: StonithResult) -> Message {
    let mut m = Message::with_type("stonith");
    m.add_str("node", node).add_str("result", result.as_str());
    m
}

/// `t=ip-request ipaddr=<group key>` (`req_resource`, legacy mode).
pub fn ip_request(key: &str) -> Message {
    let mut m = Message::with_type("ip-request");
    m.add_str("ipaddr", key);
    m
}

/// `t=ip-request-resp dest=N ipaddr=K weown=yes|no ok=OK` (`rc.d/ip-request`
/// and, addressed to oneself, `req_resource`).
pub fn ip_request_resp(dest: &str, key: &str, weown: bool) -> Message {
    let mut m = Message::with_type("ip-request-resp");
    m.add_str("dest", dest)
        .add_str("ipaddr", key)
        .add_str("weown", if weown { "yes" } else { "no" })
        .add_str("ok", "OK");
    m
}

/// `t=shutdone st=dead`. The membership core sends this at the end of a
/// graceful stop; here for completeness and tests.
pub fn shutdone() -> Message {
    let mut m = Message::with_type("shutdone");
    m.add_str("st", "dead");
    m
}

/// A resource-management message, borrowed from a received [`Message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    Starting,
    Resource {
        /// `rsc_hold`, still a word: a bad one is logged by the receiver.
        hold: Option<&'a str>,
        /// `rtype=full`.
        full: bool,
        /// `isstable`; missing in the mach_down script's message.
        isstable: Option<&'a str>,
        info: Option<&'a str>,
    },
    AskResources {
        hold: Option<&'a str>,
        info: Option<&'a str>,
    },
    HbTakeover {
        hold: Option<&'a str>,
    },
    IpRequest {
        key: Option<&'a str>,
    },
    IpRequestResp {
        dest: Option<&'a str>,
        key: Option<&'a str>,
        weown: Option<&'a str>,
        ok: Option<&'a str>,
    },
    Shutdone,
    Stonith,
    /// Anything else (status, membership traffic, client messages).
    Other,
}

impl<'a> Incoming<'a> {
    /// Classify a message by `t=`; never fails.
    pub fn parse(msg: &'a Message) -> Incoming<'a> {
        let get = |name| msg.get_str(name);
        // heartbeat compares types with strcasecmp for these two.
        let t = msg.msg_type().unwrap_or("");
        if t.eq_ignore_ascii_case("starting") {
            return Incoming::Starting;
        }
        if t.eq_ignore_ascii_case("resource") {
            return Incoming::Resource {
                hold: get("rsc_hold"),
                full: get("rtype") == Some("full"),
                isstable: get("isstable"),
                info: get("info"),
            };
        }
        match t {
            "ask_resources" => Incoming::AskResources {
                hold: get("rsc_hold"),
                info: get("info"),
            },
            "hb_takeover" => Incoming::HbTakeover {
                hold: get("rsc_hold"),
            },
            "ip-request" => Incoming::IpRequest { key: get("ipaddr") },
            "ip-request-resp" => Incoming::IpRequestResp {
                dest: get("dest"),
                key: get("ipaddr"),
                weown: get("weown"),
                ok: get("ok"),
            },
            "shutdone" => Incoming::Shutdone,
            "stonith" => Incoming::Stonith,
            _ => Incoming::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hb_wire::Value;

    /// (name, value) pairs in order; every field must be a plain string.
    fn pairs(m: &Message) -> Vec<(String, String)> {
        m.fields()
            .iter()
            .map(|f| match &f.value {
                Value::Str(v) => (f.name.clone(), String::from_utf8_lossy(v).into_owned()),
                other => panic!("non-string field {}: {other:?}", f.name),
            })
            .collect()
    }

    fn expect(m: &Message, want: &[(&str, &str)]) {
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs(m), want);
    }

    // Field lists as captured from heartbeat 3.0.6 (reference scenario-sha1,
    // exp-afb_legacy), before the control fields the membership core adds.
    #[test]
    fn fields_match_captured_packets() {
        expect(&starting(), &[("t", "starting")]);
        expect(
            &resource(Hold::NONE, false, None),
            &[
                ("t", "resource"),
                ("rsc_hold", "none"),
                ("rtype", "full"),
                ("isstable", "0"),
            ],
        );
        expect(
            &resource(Hold::LOCAL, true, Some("req_our_resources()")),
            &[
                ("t", "resource"),
                ("rsc_hold", "local"),
                ("rtype", "full"),
                ("isstable", "1"),
                ("info", "req_our_resources()"),
            ],
        );
        expect(
            &resource(Hold::NONE, false, Some("shutdown")),
            &[
                ("t", "resource"),
                ("rsc_hold", "none"),
                ("rtype", "full"),
                ("isstable", "0"),
                ("info", "shutdown"),
            ],
        );
        expect(
            &mach_down_done(),
            &[
                ("t", "resource"),
                ("rsc_hold", "foreign"),
                ("info", "mach_down"),
            ],
        );
        expect(
            &ask_resources(Hold::ALL, StandbyPhase::Me),
            &[("t", "ask_resources"), ("rsc_hold", "all"), ("info", "me")],
        );
        expect(
            &ask_resources(Hold::FOREIGN, StandbyPhase::Other),
            &[
                ("t", "ask_resources"),
                ("rsc_hold", "foreign"),
                ("info", "other"),
            ],
        );
        expect(
            &hb_takeover(Scope::All),
            &[("t", "hb_takeover"), ("rsc_hold", "all")],
        );
        expect(
            &stonith("node1", StonithResult::NotConfigured),
            &[("t", "stonith"), ("node", "node1"), ("result", "n_stnth")],
        );
        expect(
            &stonith("node1", StonithResult::Unneeded),
            &[("t", "stonith"), ("node", "node1"), ("result", "unneeded")],
        );
        expect(
            &ip_request("IPaddr::192.0.2.50/24/eth0"),
            &[
                ("t", "ip-request"),
                ("ipaddr", "IPaddr::192.0.2.50/24/eth0"),
            ],
        );
        expect(
            &ip_request_resp("node1", "IPaddr::192.0.2.50/24/eth0", true),
            &[
                ("t", "ip-request-resp"),
                ("dest", "node1"),
                ("ipaddr", "IPaddr::192.0.2.50/24/eth0"),
                ("weown", "yes"),
                ("ok", "OK"),
            ],
        );
        expect(&shutdone(), &[("t", "shutdone"), ("st", "dead")]);
    }

    #[test]
    fn classify_round_trips_builders() {
        let m = resource(Hold::ALL, true, Some("mach_down"));
        assert_eq!(
            Incoming::parse(&m),
            Incoming::Resource {
                hold: Some("all"),
                full: true,
                isstable: Some("1"),
                info: Some("mach_down"),
            }
        );
        let md = mach_down_done();
        assert!(matches!(
            Incoming::parse(&md),
            Incoming::Resource {
                full: false,
                isstable: None,
                ..
            }
        ));
        assert_eq!(Incoming::parse(&Message::new()), Incoming::Other);
        assert_eq!(
            Incoming::parse(&Message::with_type("STARTING")),
            Incoming::Starting
        );
    }
}
