//! Property tests: round trips for arbitrary valid messages, and no panic on
//! arbitrary or mutated input.

mod common;

use hb_wire::{
    decode, encode, encode_classic, parse_classic_unsigned, AuthKeys, AuthMethod, EncodeError,
    FifoReader, Format, Message, Value,
};
use proptest::prelude::*;

fn all_keys() -> Vec<AuthKeys> {
    vec![
        AuthKeys::single(1, AuthMethod::Crc),
        AuthKeys::single(
            3,
            AuthMethod::Md5 {
                key: b"Hello!".to_vec(),
            },
        ),
        AuthKeys::single(
            2,
            AuthMethod::Sha1 {
                key: b"HI!".to_vec(),
            },
        ),
    ]
}

/// Bytes that survive both framings: no NUL (C strings), no 0x0f..=0x1f
/// (glue's newline stand-ins: 0x13 in strings, 0x14.. in structs), and, for
/// list elements, no newline. Everything else, including `\n`, `=`, `,`,
/// `:` and non-UTF-8, must round-trip.
fn text_byte(allow_newline: bool) -> impl Strategy<Value = u8> {
    any::<u8>().prop_filter("reserved byte", move |&b| {
        b != 0 && !(0x0f..=0x1f).contains(&b) && (allow_newline || b != b'\n')
    })
}

/// Names exclude the same stand-in bytes: inside a struct they would be
/// read back as line breaks (encode refuses them there).
fn name() -> impl Strategy<Value = String> {
    "[^=\n\0(\x0f-\x1f][^=\n\0\x0f-\x1f]{0,10}"
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::collection::vec(text_byte(true), 0..24).prop_map(Value::Str),
        2 => prop::collection::vec(any::<u8>(), 0..24).prop_map(Value::Binary),
        1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(Value::Compressed),
        1 => prop::collection::vec(prop::collection::vec(text_byte(false), 1..8), 1..4)
            .prop_map(Value::List),
    ]
}

fn fields_of(value: impl Strategy<Value = Value>) -> impl Strategy<Value = Message> {
    prop::collection::vec((name(), value), 0..6).prop_map(|fields| {
        let mut m = Message::new();
        for (n, v) in fields {
            m.push(n, v);
        }
        m
    })
}

fn message() -> impl Strategy<Value = Message> {
    let value = leaf().prop_recursive(
        3,
        24,
        4,
        |inner| prop_oneof![3 => inner.clone(), 1 => fields_of(inner).prop_map(Value::Struct)],
    );
    fields_of(value)
}

fn without_auth(mut m: Message) -> Message {
    m.remove("auth");
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn netstring_round_trip(m in message(), k in 0..3usize) {
        let keys = &all_keys()[k];
        let bytes = encode(&m, keys).unwrap();
        let (back, format) = decode(&bytes, keys).unwrap();
        prop_assert_eq!(format, Format::Netstring);
        prop_assert_eq!(without_auth(back.clone()), without_auth(m));
        // Deterministic: what we decode re-encodes to the same bytes.
        prop_assert_eq!(encode(&back, keys).unwrap(), bytes);
    }

    #[test]
    fn classic_round_trip(m in message(), k in 0..3usize) {
        let keys = &all_keys()[k];
        let bytes = encode_classic(&m, keys).unwrap();
        let (back, format) = decode(&bytes, keys).unwrap();
        prop_assert_eq!(format, Format::Classic);
        // Both forms sign the same text, so they carry the same auth=.
        let (net, _) = decode(&encode(&m, keys).unwrap(), keys).unwrap();
        prop_assert_eq!(&back, &net);
        prop_assert_eq!(without_auth(back), without_auth(m.clone()));
        // The FIFO parser reads the same text (auth is just a field there).
        prop_assert_eq!(parse_classic_unsigned(&bytes).unwrap(), net);
    }

    #[test]
    fn fifo_reader_splits_any_chunking(ms in prop::collection::vec(message(), 1..4), cut in 1..64usize) {
        let keys = &all_keys()[0];
        let mut stream = Vec::new();
        for m in &ms {
            let mut frame = encode_classic(m, keys).unwrap();
            frame.pop(); // scripts write no NUL
            stream.extend_from_slice(&frame);
        }
        let mut r = FifoReader::new();
        let mut got = Vec::new();
        for chunk in stream.chunks(cut) {
            r.push(chunk);
            while let Some(m) = r.next_message() {
                got.push(without_auth(m.unwrap()));
            }
        }
        prop_assert_eq!(got, ms.into_iter().map(without_auth).collect::<Vec<_>>());
    }

    #[test]
    fn invalid_names_are_refused(prefix in "[a-z]{0,3}", bad in "[=\n\0]", suffix in "[a-z]{0,3}") {
        let mut m = Message::with_type("status");
        m.add_str(&format!("{prefix}{bad}{suffix}"), "v");
        prop_assert!(
            matches!(encode(&m, &all_keys()[0]), Err(EncodeError::BadName { index: 1, .. })),
            "name accepted"
        );
        let mut m = Message::with_type("status");
        m.add_str(&format!("({prefix}"), "v");
        prop_assert!(encode_classic(&m, &all_keys()[0]).is_err(), "'(' name accepted");
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(
        prefix in prop::sample::select(vec![&b""[..], b"###\n", b">>>\n", b"###\n5:(0)t=", b">>>\n(2)s=>>>\x14"]),
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let bytes = [prefix, &body[..]].concat();
        for keys in all_keys() {
            let _ = decode(&bytes, &keys);
        }
        let _ = parse_classic_unsigned(&bytes);
        let mut r = FifoReader::new();
        r.push(&bytes);
        while r.next_message().is_some() {}
    }

    /// Mutate a real datagram's body, then sign it properly: the parser
    /// behind the signature check gets hostile-but-authentic input.
    #[test]
    fn mutated_goldens_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..4u8), 1..6),
    ) {
        let goldens = common::goldens();
        let g = pick.get(&goldens);
        let end = g.bytes.windows(4).rposition(|w| w == b"%%%\n").unwrap() + 4;
        let mut body = g.bytes[..end].to_vec();
        for (at, byte, op) in edits {
            if body.is_empty() { break; }
            let i = at.index(body.len());
            match op {
                0 => body[i] = byte,
                1 => body.insert(i, byte),
                2 => { body.remove(i); }
                _ => body.truncate(i),
            }
        }
        // As received (signature now wrong, or framing broken)...
        let mut raw = body.clone();
        raw.extend_from_slice(&g.bytes[end..]);
        prop_assert!(decode(&raw, &g.keys).is_err() || raw == g.bytes);
        // ...and re-signed.
        let token = g.keys.sign(&body);
        body.extend_from_slice(format!("{}:{token},", token.len()).as_bytes());
        if let Ok((m, _)) = decode(&body, &g.keys) {
            // Anything we accept we can send again, and it reads back the same.
            let again = encode(&m, &g.keys).unwrap();
            prop_assert_eq!(without_auth(decode(&again, &g.keys).unwrap().0), without_auth(m));
        }
    }
}
