//! Building the messages heartbeat sends, field for field in its order
//! (the digests cover the order, and real peers compare captures with ours).

use hb_wire::{Message, Value};

/// Types starting with this carry no `seq`/`ld` and are never retransmitted.
pub(crate) const NOSEQ_PREFIX: &str = "NS_";

pub(crate) const T_STATUS: &str = "status";
pub(crate) const T_ACKMSG: &str = "NS_ackmsg";
pub(crate) const T_REXMIT: &str = "NS_rexmit";
pub(crate) const T_NAKREXMIT: &str = "NS_nak_rexmit";
pub(crate) const T_REQNODES: &str = "reqnodes";
pub(crate) const T_REPNODES: &str = "repnodes";
pub(crate) const T_SHUTDONE: &str = "shutdone";

/// Values of `add_control_msg_fields`' defaults for one message.
pub(crate) struct Control<'a> {
    pub(crate) src: &'a str,
    pub(crate) uuid: [u8; 16],
    pub(crate) generation: u64,
    pub(crate) ts: u64,
    pub(crate) ld: &'a str,
    pub(crate) ttl: u64,
}

pub(crate) fn is_noseq(msg_type: &str) -> bool {
    msg_type.starts_with(NOSEQ_PREFIX)
}

/// `add_control_msg_fields`: `[destuuid]` (or `dest` from a bare
/// `destuuid`), then `src srcuuid seq hg ts ld ttl`, each replacing an
/// existing field in place (`ha_msg_mod`). Unsequenced (`NS_*`) messages
/// get no `seq`/`ld` and keep any default already present.
pub(crate) fn add_control_fields(
    msg: &mut Message,
    c: &Control<'_>,
    seq: Option<u64>,
    uuid_of: impl Fn(&str) -> Option<[u8; 16]>,
    name_of: impl Fn(&[u8]) -> Option<String>,
) {
    if let Some(dest) = msg.get_str("dest") {
        if let Some(u) = uuid_of(dest) {
            msg.set("destuuid", Value::Binary(u.to_vec()));
        }
    } else if let Some(name) = msg.get_binary("destuuid").and_then(&name_of) {
        msg.set_str("dest", name);
    }
    let noseq = seq.is_none();
    // Values are built only for the fields that get set: this runs for
    // every packet we send.
    let defaults: [(&str, Option<Field<'_>>); 7] = [
        ("src", Some(Field::Str(c.src))),
        ("srcuuid", Some(Field::Uuid(&c.uuid))),
        ("seq", seq.map(Field::Hex)),
        ("hg", Some(Field::Hex(c.generation))),
        ("ts", Some(Field::Hex(c.ts))),
        ("ld", (!noseq).then_some(Field::Str(c.ld))),
        ("ttl", Some(Field::Dec(c.ttl))),
    ];
    for (name, field) in defaults {
        let Some(field) = field else { continue };
        if noseq && msg.get(name).is_some() {
            continue;
        }
        msg.set(name, field.value());
    }
}

/// A control field's value before it is rendered.
enum Field<'a> {
    Str(&'a str),
    Uuid(&'a [u8; 16]),
    Hex(u64),
    Dec(u64),
}

impl Field<'_> {
    fn value(self) -> Value {
        match self {
            Field::Str(s) => Value::Str(s.as_bytes().to_vec()),
            Field::Uuid(u) => Value::Binary(u.to_vec()),
            Field::Hex(n) => Value::Str(format!("{n:x}").into_bytes()),
            Field::Dec(n) => Value::Str(n.to_string().into_bytes()),
        }
    }
}

/// `send_local_status`.
pub(crate) fn status(st: &str, deadtime_ms: u64, protocol: bool) -> Message {
    // Room for the control fields too (11 in all), so the field list is
    // allocated once per status.
    let mut m = Message::from_fields(Vec::with_capacity(12));
    m.add_str("t", T_STATUS)
        .add_str("st", st)
        .push("dt", Value::Str(format!("{deadtime_ms:x}").into_bytes()));
    if protocol {
        m.add_str("protocol", "1");
    }
    m
}

/// `send_ack`.
pub(crate) fn ack(dest: &str, seq: u64) -> Message {
    let mut m = Message::with_type(T_ACKMSG);
    m.add_str("dest", dest)
        .add_str("ackseq", format!("{seq:x}"));
    m
}

/// `send_rexmit_request`: the seqs are decimal (`ha_msg_add_int`), unlike
/// every other seq on the wire.
pub(crate) fn rexmit(dest: &str, first: u64, last: u64) -> Message {
    let mut m = Message::with_type(T_REXMIT);
    m.add_str("dest", dest)
        .add_str("firstseq", first.to_string())
        .add_str("lastseq", last.to_string());
    m
}

/// `nak_rexmit`: here `firstseq` is hex.
pub(crate) fn nak(dest: &str, seq: u64, reason: &str) -> Message {
    let mut m = Message::with_type(T_NAKREXMIT);
    m.add_str("firstseq", format!("{seq:x}"))
        .add_str("dest", dest)
        .add_str("info", reason);
    m
}

pub(crate) fn reqnodes(dest: &str) -> Message {
    let mut m = Message::with_type(T_REQNODES);
    m.add_str("dest", dest);
    m
}

/// `HBDoMsg_T_REQNODES` builds the reply with `dest` first.
pub(crate) fn repnodes(dest: &str, nodelist: &str, delnodelist: &str) -> Message {
    let mut m = Message::new();
    m.add_str("dest", dest)
        .add_str("t", T_REPNODES)
        .add_str("nodelist", nodelist)
        .add_str("delnodelist", delnodelist);
    m
}

/// The last message of a graceful stop (`hb_giveup_resources`).
pub(crate) fn shutdone() -> Message {
    let mut m = Message::with_type(T_SHUTDONE);
    m.add_str("st", "dead");
    m
}

/// Rough in-memory size, for the per-peer budget of held packets.
pub(crate) fn approx_size(msg: &Message) -> usize {
    msg.fields()
        .iter()
        .map(|f| {
            f.name.len()
                + match &f.value {
                    Value::Str(b) | Value::Binary(b) | Value::Compressed(b) => b.len(),
                    Value::List(items) => items.iter().map(|i| i.len() + 8).sum(),
                    Value::Struct(m) => approx_size(m),
                }
                + 16
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(m: &Message) -> Vec<&str> {
        m.fields().iter().map(|f| f.name.as_str()).collect()
    }

    fn ctl() -> Control<'static> {
        Control {
            src: "node1",
            uuid: [7; 16],
            generation: 0x6b03af59,
            ts: 0x6b03af58,
            ld: "0.73 0.87 0.52 4/120 160",
            ttl: 3,
        }
    }

    #[test]
    fn status_fields_in_captured_order() {
        // Captured: t st dt protocol src srcuuid seq hg ts ld ttl.
        let mut m = status("active", 0x1388, true);
        add_control_fields(&mut m, &ctl(), Some(6), |_| None, |_| None);
        assert_eq!(
            names(&m),
            ["t", "st", "dt", "protocol", "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl"]
        );
        assert_eq!(m.get_str("dt"), Some("1388"));
        assert_eq!(m.get_str("hg"), Some("6b03af59"));
        assert_eq!(m.get_str("seq"), Some("6"));
        assert_eq!(m.get_str("ttl"), Some("3"));
    }

    #[test]
    fn ack_and_repnodes_in_captured_order() {
        let mut a = ack("node1", 1);
        add_control_fields(&mut a, &ctl(), None, |_| Some([7; 16]), |_| None);
        // Captured: t dest ackseq destuuid src srcuuid hg ts ttl.
        assert_eq!(
            names(&a),
            ["t", "dest", "ackseq", "destuuid", "src", "srcuuid", "hg", "ts", "ttl"]
        );
        let mut r = repnodes("node1", "node1 node2 ", " ");
        add_control_fields(&mut r, &ctl(), Some(4), |_| Some([1; 16]), |_| None);
        // Captured: dest t nodelist delnodelist destuuid src srcuuid seq hg ts ld ttl.
        assert_eq!(
            names(&r),
            [
                "dest",
                "t",
                "nodelist",
                "delnodelist",
                "destuuid",
                "src",
                "srcuuid",
                "seq",
                "hg",
                "ts",
                "ld",
                "ttl"
            ]
        );
    }

    #[test]
    fn existing_control_fields_are_replaced_in_place() {
        let mut m = Message::with_type("ask_resources");
        m.add_str("src", "forged").add_str("rsc_hold", "all");
        add_control_fields(&mut m, &ctl(), Some(9), |_| None, |_| None);
        assert_eq!(
            names(&m),
            ["t", "src", "rsc_hold", "srcuuid", "seq", "hg", "ts", "ld", "ttl"]
        );
        assert_eq!(m.get_str("src"), Some("node1"));
    }

    #[test]
    fn bare_destuuid_gets_its_name() {
        let mut m = Message::with_type("x");
        m.add_binary("destuuid", [1; 16]);
        add_control_fields(
            &mut m,
            &ctl(),
            Some(1),
            |_| None,
            |u| (u == [1; 16]).then(|| "node2".to_string()),
        );
        assert_eq!(m.get_str("dest"), Some("node2"));
    }
}
