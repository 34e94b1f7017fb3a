//! Validating the control fields of a received message before any state is
//! touched (`process_clustermsg` / `should_drop_message` input checks).

use hb_wire::{Message, Value};

use crate::outbound::is_noseq;
use crate::Reject;

/// The control fields every accepted message yields.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) msg_type: String,
    /// Absent only on `NS_*` types.
    pub(crate) seq: Option<u64>,
    /// `hg`; 0 when absent (what heartbeat assumes).
    pub(crate) generation: u64,
    pub(crate) srcuuid: Option<[u8; 16]>,
    pub(crate) dest: Option<String>,
    pub(crate) destuuid: Option<[u8; 16]>,
}

/// `src`, lower-cased like `lookup_node` does.
pub(crate) fn source(msg: &Message) -> Result<String, Reject> {
    match msg.get("src") {
        None => Err(Reject::NoSource),
        Some(Value::Str(b)) => match std::str::from_utf8(b) {
            Ok(s) if !s.is_empty() => Ok(s.to_ascii_lowercase()),
            _ => Err(malformed("?", "src")),
        },
        Some(_) => Err(malformed("?", "src")),
    }
}

pub(crate) fn malformed(node: &str, field: &'static str) -> Reject {
    Reject::Malformed {
        node: node.to_string(),
        field,
    }
}

/// Strict `%lx`: heartbeat's `sscanf` would take a prefix, but every sender
/// writes plain lower-case hex, so anything else is garbage.
fn hex_field(msg: &Message, node: &str, field: &'static str) -> Result<Option<u64>, Reject> {
    match msg.get(field) {
        None => Ok(None),
        Some(_) => msg
            .get_hex(field)
            .map(Some)
            .ok_or_else(|| malformed(node, field)),
    }
}

fn uuid_field(msg: &Message, node: &str, field: &'static str) -> Result<Option<[u8; 16]>, Reject> {
    match msg.get(field) {
        None => Ok(None),
        Some(Value::Binary(b)) => <[u8; 16]>::try_from(b.as_slice())
            .map(Some)
            .map_err(|_| malformed(node, field)),
        Some(_) => Err(malformed(node, field)),
    }
}

pub(crate) fn header(msg: &Message, node: &str) -> Result<Header, Reject> {
    let msg_type = match msg.msg_type() {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => return Err(malformed(node, "t")),
    };
    match hex_field(msg, node, "ts")? {
        Some(ts) if ts != 0 => {}
        _ => return Err(malformed(node, "ts")),
    }
    let seq = hex_field(msg, node, "seq")?;
    match seq {
        Some(0) => return Err(malformed(node, "seq")),
        None if !is_noseq(&msg_type) => return Err(malformed(node, "seq")),
        _ => {}
    }
    let generation = hex_field(msg, node, "hg")?.unwrap_or(0);
    let srcuuid = uuid_field(msg, node, "srcuuid")?;
    let destuuid = uuid_field(msg, node, "destuuid")?;
    let dest = match msg.get("dest") {
        None => None,
        Some(_) => Some(
            msg.get_str("dest")
                .ok_or_else(|| malformed(node, "dest"))?
                .to_string(),
        ),
    };
    let seq = if is_noseq(&msg_type) { None } else { seq };
    Ok(Header {
        msg_type,
        seq,
        generation,
        srcuuid,
        dest,
        destuuid,
    })
}

/// A string field that must be present and parse (`firstseq`, `st`, ...).
pub(crate) fn required_str<'m>(
    msg: &'m Message,
    node: &str,
    field: &'static str,
) -> Result<&'m str, Reject> {
    msg.get_str(field).ok_or_else(|| malformed(node, field))
}

/// `atoi`-style decimal used by `NS_rexmit`'s `firstseq`/`lastseq`.
pub(crate) fn decimal_field(msg: &Message, node: &str, field: &'static str) -> Result<u64, Reject> {
    let s = required_str(msg, node, field)?;
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(node, field));
    }
    s.parse().map_err(|_| malformed(node, field))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Message {
        let mut m = Message::with_type("status");
        m.add_str("st", "up")
            .add_str("src", "Node2")
            .add_binary("srcuuid", [1; 16])
            .add_str("seq", "1f")
            .add_str("hg", "6b03af59")
            .add_str("ts", "6b03af58");
        m
    }

    #[test]
    fn parses_a_real_shaped_status() {
        let m = good();
        assert_eq!(source(&m).unwrap(), "node2");
        let h = header(&m, "node2").unwrap();
        assert_eq!(h.msg_type, "status");
        assert_eq!(h.seq, Some(0x1f));
        assert_eq!(h.generation, 0x6b03af59);
        assert_eq!(h.srcuuid, Some([1; 16]));
        assert_eq!(h.dest, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: [(&str, Value, &str); 6] = [
            ("seq", Value::Str(b"zz".to_vec()), "seq"),
            ("seq", Value::Str(b"0".to_vec()), "seq"),
            ("hg", Value::List(vec![]), "hg"),
            ("ts", Value::Str(b"0".to_vec()), "ts"),
            ("srcuuid", Value::Binary(vec![1; 15]), "srcuuid"),
            ("t", Value::Str(vec![]), "t"),
        ];
        for (name, value, field) in cases {
            let mut m = good();
            m.set(name, value);
            match header(&m, "node2") {
                Err(Reject::Malformed { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{name}: {other:?}"),
            }
        }
        let mut m = good();
        m.remove("seq");
        assert!(header(&m, "node2").is_err(), "sequenced type without seq");
        m.set_str("t", "NS_ackmsg");
        assert_eq!(header(&m, "node2").unwrap().seq, None);
        let mut m = good();
        m.remove("src");
        assert_eq!(source(&m), Err(Reject::NoSource));
    }

    #[test]
    fn rexmit_seqs_are_decimal() {
        let mut m = Message::with_type("NS_rexmit");
        m.add_str("firstseq", "10").add_str("lastseq", "1f");
        assert_eq!(decimal_field(&m, "n", "firstseq"), Ok(10));
        assert!(decimal_field(&m, "n", "lastseq").is_err());
        assert!(decimal_field(&m, "n", "missing").is_err());
    }
}
