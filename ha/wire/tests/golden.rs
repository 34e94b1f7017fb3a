//! Byte-for-byte agreement with datagrams the real heartbeat 3.0.6 sent.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{goldens, METHODS};
use hb_wire::auth::AuthError;
use hb_wire::{
    classic_auth_input, decode, encode, encode_classic, AuthKeys, AuthMethod, DecodeError, Format,
    Value,
};

#[test]
fn every_golden_verifies_and_parses() {
    for g in goldens() {
        let (msg, format) =
            decode(&g.bytes, &g.keys).unwrap_or_else(|e| panic!("{}/{}: {e}", g.method, g.name));
        assert_eq!(format, Format::Netstring, "{}", g.name);
        // File names start with the message type ('-' spelled '_').
        let t = msg.msg_type().expect("t=").replace('-', "_");
        assert!(
            g.name.starts_with(&format!("{t}-")) || g.name == t,
            "{}: t={t}",
            g.name
        );
        assert!(
            msg.get_str("src")
                .is_some_and(|s| g.name.ends_with(s) || g.name.contains(&format!("-{s}-"))),
            "{}",
            g.name
        );
        assert_eq!(
            msg.get_binary("srcuuid").map(<[u8]>::len),
            Some(16),
            "{}",
            g.name
        );
        assert!(
            msg.get_hex("ts").is_some() && msg.get_hex("hg").is_some(),
            "{}",
            g.name
        );
        // heartbeat's in-band auth is the digest of the classic text.
        let input = classic_auth_input(&msg).unwrap();
        assert_eq!(
            msg.get_str("auth"),
            Some(g.keys.sign(&input).as_str()),
            "{}",
            g.name
        );
        assert_eq!(
            msg.fields().last().map(|f| f.name.as_str()),
            Some("auth"),
            "{}",
            g.name
        );
    }
}

#[test]
fn goldens_cover_every_message_type_per_method() {
    let want: BTreeSet<&str> = [
        "status",
        "NS_ackmsg",
        "reqnodes",
        "repnodes",
        "starting",
        "resource",
        "ask_resources",
        "ip-request-resp",
        "hb_takeover",
        "stonith",
        "shutdone",
    ]
    .into();
    let mut seen: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut statuses: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for g in goldens() {
        let (msg, _) = decode(&g.bytes, &g.keys).unwrap();
        let t = msg.msg_type().unwrap().to_owned();
        if t == "status" {
            statuses
                .entry(g.method)
                .or_default()
                .insert(msg.get_str("st").unwrap().to_owned());
        }
        seen.entry(g.method).or_default().insert(t);
    }
    for method in METHODS {
        let got: BTreeSet<&str> = seen[method].iter().map(String::as_str).collect();
        assert!(
            got.is_superset(&want),
            "{method}: missing {:?}",
            want.difference(&got)
        );
        let st: Vec<&str> = statuses[method].iter().map(String::as_str).collect();
        assert_eq!(st, ["active", "init", "up"], "{method}");
    }
}

#[test]
fn crc_goldens_include_unpadded_digests() {
    // %lx drops leading zeros; a zero-padding encoder would fail these.
    let short: Vec<_> = goldens()
        .into_iter()
        .filter(|g| g.method == "crc" && g.name.ends_with("short_digest"))
        .collect();
    assert!(!short.is_empty());
    for g in short {
        let trailer = &g.bytes[g.bytes.windows(4).rposition(|w| w == b"%%%\n").unwrap() + 4..];
        assert!(trailer.len() < "10:1 12345678,".len(), "{}", g.name);
        assert_eq!(
            encode(&decode(&g.bytes, &g.keys).unwrap().0, &g.keys).unwrap(),
            g.bytes
        );
    }
}

#[test]
fn re_encoding_reproduces_heartbeat_bytes_exactly() {
    for g in goldens() {
        let (msg, _) = decode(&g.bytes, &g.keys).unwrap();
        let again = encode(&msg, &g.keys).unwrap();
        assert!(
            again == g.bytes,
            "{}/{}:\n ours {:?}\n real {:?}",
            g.method,
            g.name,
            String::from_utf8_lossy(&again),
            String::from_utf8_lossy(&g.bytes)
        );
        // Without the in-band auth the encoder must recompute the same one.
        let mut bare = msg.clone();
        bare.remove("auth");
        assert_eq!(
            encode(&bare, &g.keys).unwrap(),
            g.bytes,
            "{}/{}",
            g.method,
            g.name
        );
    }
}

#[test]
fn classic_form_carries_the_same_message() {
    for g in goldens() {
        let (msg, _) = decode(&g.bytes, &g.keys).unwrap();
        let classic = encode_classic(&msg, &g.keys).unwrap();
        assert!(
            classic.starts_with(b">>>\n") && classic.ends_with(b"<<<\n\0"),
            "{}",
            g.name
        );
        let (back, format) = decode(&classic, &g.keys).unwrap();
        assert_eq!(format, Format::Classic);
        // Same digest input, same key: even the auth field is identical.
        assert_eq!(back, msg, "{}/{}", g.method, g.name);
        // Also without the NUL heartbeat appends.
        assert_eq!(
            decode(&classic[..classic.len() - 1], &g.keys).unwrap().0,
            msg
        );
    }
}

/// Same index, other secret (crc has none: use another method there).
fn wrong_key(keys: &AuthKeys) -> AuthKeys {
    let idx = keys.active_index();
    let method = match keys.active_method() {
        AuthMethod::Crc => AuthMethod::Md5 { key: b"x".to_vec() },
        AuthMethod::Md5 { key } => AuthMethod::Md5 {
            key: [key.as_slice(), b"x"].concat(),
        },
        AuthMethod::Sha1 { key } => AuthMethod::Sha1 {
            key: key[..key.len() - 1].to_vec(),
        },
    };
    AuthKeys::single(idx, method)
}

#[test]
fn wrong_key_or_index_is_rejected() {
    for g in goldens() {
        assert_eq!(
            decode(&g.bytes, &wrong_key(&g.keys)).unwrap_err(),
            DecodeError::Auth(AuthError::Mismatch),
            "{}/{}",
            g.method,
            g.name
        );
        let idx = g.keys.active_index();
        let other_index = AuthKeys::single(idx % 15 + 1, g.keys.active_method().clone());
        assert_eq!(
            decode(&g.bytes, &other_index).unwrap_err(),
            DecodeError::Auth(AuthError::UnknownIndex(idx.into())),
            "{}/{}",
            g.method,
            g.name
        );
        // The method named by the index is used, with its own key: listing
        // the right key under the sender's index next to another active one
        // still verifies (heartbeat 3.0.6 would use its active key instead).
        let mut methods = BTreeMap::new();
        methods.insert(idx, g.keys.active_method().clone());
        methods.insert(
            idx % 15 + 1,
            AuthMethod::Sha1 {
                key: b"other".to_vec(),
            },
        );
        let rotated = AuthKeys::new(idx % 15 + 1, methods).unwrap();
        assert!(decode(&g.bytes, &rotated).is_ok(), "{}", g.name);
    }
}

#[test]
fn any_single_byte_change_is_rejected() {
    // Every byte of a netstring datagram is covered by the trailer, or is
    // part of the trailer itself: no flip may go unnoticed.
    for g in goldens() {
        for i in 0..g.bytes.len() {
            for mask in [0x01u8, 0x20, 0x80, 0xff] {
                let mut b = g.bytes.clone();
                b[i] ^= mask;
                assert!(
                    decode(&b, &g.keys).is_err(),
                    "{}/{}: byte {i} ^ {mask:#x} accepted",
                    g.method,
                    g.name
                );
            }
        }
    }
}

#[test]
fn truncation_and_extension_are_rejected() {
    for g in goldens() {
        for n in 0..g.bytes.len() {
            assert!(
                decode(&g.bytes[..n], &g.keys).is_err(),
                "{}: cut at {n}",
                g.name
            );
        }
        for extra in [&b"\0\0"[..], b",", b"x", b"\n"] {
            let b = [g.bytes.as_slice(), extra].concat();
            assert!(decode(&b, &g.keys).is_err(), "{}: + {extra:?}", g.name);
        }
        // The single NUL a C sender may include is fine.
        let b = [g.bytes.as_slice(), b"\0"].concat();
        assert!(decode(&b, &g.keys).is_ok(), "{}", g.name);
    }
}

#[test]
fn in_band_auth_is_not_required_on_netstring() {
    // Verified against real heartbeat (reference §3.5): the receiver checks
    // only the trailer.
    for g in goldens() {
        let (mut msg, _) = decode(&g.bytes, &g.keys).unwrap();
        msg.remove("auth");
        let mut body = Vec::new();
        body.extend_from_slice(b"###\n");
        for f in msg.fields() {
            let v = match &f.value {
                Value::Str(b) | Value::Binary(b) => b.clone(),
                other => panic!("unexpected {other:?}"),
            };
            let item = [
                format!("({})", f.value.field_type().digit() as char).as_bytes(),
                f.name.as_bytes(),
                b"=",
                &v,
            ]
            .concat();
            body.extend_from_slice(format!("{}:", item.len()).as_bytes());
            body.extend_from_slice(&item);
            body.push(b',');
        }
        body.extend_from_slice(b"%%%\n");
        let token = g.keys.sign(&body);
        body.extend_from_slice(format!("{}:{token},", token.len()).as_bytes());
        let (back, _) = decode(&body, &g.keys).unwrap();
        assert_eq!(back, msg, "{}", g.name);
    }
}
