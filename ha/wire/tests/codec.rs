//! Hand-built cases for what the goldens cannot show: nested types, the
//! classic receive path, verification order and limits.

use hb_wire::auth::AuthError;
use hb_wire::{
    classic_auth_input, decode, encode, encode_classic, parse_classic_unsigned, AuthKeys,
    AuthMethod, DecodeError, EncodeError, Format, Message, Value, MAX_DATAGRAM, MAX_DEPTH,
};

fn sha1() -> AuthKeys {
    AuthKeys::single(
        2,
        AuthMethod::Sha1 {
            key: b"HI!".to_vec(),
        },
    )
}

/// `body` (`###\n`…`%%%\n`) with a correct trailer.
fn sign_netstring(body: &[u8], keys: &AuthKeys) -> Vec<u8> {
    let token = keys.sign(body);
    [body, format!("{}:{token},", token.len()).as_bytes()].concat()
}

/// `lines` (classic text without auth) framed and signed like heartbeat.
fn sign_classic(lines: &[u8], keys: &AuthKeys) -> Vec<u8> {
    let token = keys.sign(lines);
    [b">>>\n", lines, b"auth=", token.as_bytes(), b"\n<<<\n\0"].concat()
}

fn nested() -> Message {
    let mut child = Message::new();
    child.add_str("a", "1\nb");
    child.push("l", Value::List(vec![b"p".to_vec(), b"q".to_vec()]));
    let mut m = Message::with_type("x");
    m.push("s", Value::Struct(child));
    m
}

#[test]
fn nested_struct_and_list_follow_glue_formats() {
    let m = nested();
    // Struct text: the child's framed classic text with its '\n' turned into
    // SPECIAL_SYMS[0] = 0x14; the string's own '\n' is SPECIAL_SYM 0x13.
    assert_eq!(
        classic_auth_input(&m).unwrap(),
        b"t=x\n(2)s=>>>\x14a=1\x13b\x14(3)l=1:p,1:q,\x14<<<\x14\n"
    );
    let bytes = encode(&m, &sha1()).unwrap();
    let body_end = bytes.windows(4).rposition(|w| w == b"%%%\n").unwrap() + 4;
    let expect_prefix: &[u8] = b"###\n6:(0)t=x,41:(2)s=###\n8:(0)a=1\nb,13:(3)l=1:p,1:q,,%%%\n,";
    assert!(
        bytes.starts_with(expect_prefix),
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );
    assert!(bytes[expect_prefix.len()..body_end].starts_with(b"50:(0)auth=2 "));
    assert_eq!(without_auth(decode(&bytes, &sha1()).unwrap().0), m);
    let classic = encode_classic(&m, &sha1()).unwrap();
    assert_eq!(decode(&classic, &sha1()).unwrap().1, Format::Classic);
    assert_eq!(without_auth(decode(&classic, &sha1()).unwrap().0), m);
}

fn without_auth(mut m: Message) -> Message {
    m.remove("auth");
    m
}

#[test]
fn netstring_signature_is_checked_before_any_field() {
    // A type digit we do not support: only reported once the bytes are
    // authentic; a forger learns nothing about our parser.
    let body = b"###\n6:(9)a=b,%%%\n";
    let forged = [&body[..], b"42:2 0000000000000000000000000000000000000000,"].concat();
    assert_eq!(
        decode(&forged, &sha1()),
        Err(DecodeError::Auth(AuthError::Mismatch))
    );
    assert!(matches!(
        decode(&sign_netstring(body, &sha1()), &sha1()),
        Err(DecodeError::Malformed { offset: 7, .. })
    ));
    // No trailer at all.
    assert_eq!(decode(body, &sha1()), Err(DecodeError::NoAuth));
}

#[test]
fn netstring_binary_values_may_hold_delimiters() {
    let mut m = Message::with_type("status");
    m.add_binary("srcuuid", b",\n\0%%%\n###\n12:");
    let bytes = encode(&m, &sha1()).unwrap();
    assert_eq!(without_auth(decode(&bytes, &sha1()).unwrap().0), m);
}

#[test]
fn classic_receive_path() {
    let keys = sha1();
    let ok = sign_classic(b"t=status\n(1)srcuuid=QVN4X+c5S8evIkVCLn9p5w==\n", &keys);
    let (m, format) = decode(&ok, &keys).unwrap();
    assert_eq!(format, Format::Classic);
    assert_eq!(m.get_binary("srcuuid").map(<[u8]>::len), Some(16));

    // Blank lines are skipped, as glue does.
    let token = keys.sign(b"t=x\n");
    let blank = [b">>>\n\nt=x\n\nauth=", token.as_bytes(), b"\n<<<\n"].concat();
    assert!(decode(&blank, &keys).is_ok());

    let malformed =
        |bytes: &[u8]| matches!(decode(bytes, &keys), Err(DecodeError::Malformed { .. }));
    // glue rejects an explicit "(0)" tag.
    assert!(malformed(&sign_classic(b"(0)t=x\n", &keys)));
    // Base64 with non-zero trailing bits re-renders differently: heartbeat
    // would compute another digest, so it is refused even though the raw
    // text is signed.
    assert!(malformed(&sign_classic(b"(1)u=QR==\n", &keys)));
    // A typed auth field is dropped from heartbeat's digest input.
    assert!(malformed(&sign_classic(b"t=x\n(1)auth=QQ==\n", &keys)));
    // Two tokens: ambiguous.
    assert!(malformed(b">>>\nt=x\nauth=2 a\nauth=2 b\n<<<\n"));
    // Data after the end marker.
    let mut after = sign_classic(b"t=x\n", &keys);
    after.pop();
    after.extend_from_slice(b"t=y\n<<<\n");
    assert!(matches!(
        decode(&after, &keys),
        Err(DecodeError::Malformed { .. } | DecodeError::Auth(_))
    ));
    // No auth line.
    assert_eq!(decode(b">>>\nt=x\n<<<\n", &keys), Err(DecodeError::NoAuth));
    // A wrong token.
    assert_eq!(
        decode(b">>>\nt=x\nauth=2 00\n<<<\n", &keys),
        Err(DecodeError::Auth(AuthError::Mismatch))
    );
}

#[test]
fn fifo_text_parses_unsigned() {
    // What hb_standby writes (ha_clustermsg: echo ">>>"; cat; echo "<<<").
    let m = parse_classic_unsigned(b">>>\nt=ask_resources\nrsc_hold=all\ninfo=me\n<<<\n").unwrap();
    assert_eq!(m.msg_type(), Some("ask_resources"));
    assert_eq!(m.get_str("rsc_hold"), Some("all"));
    assert_eq!(m.get_str("info"), Some("me"));
    assert_eq!(m.len(), 3);
    // 0x13 stands for a newline inside a string.
    let m = parse_classic_unsigned(b">>>\nx=a\x13b\n<<<\n").unwrap();
    assert_eq!(m.get_str("x"), Some("a\nb"));
    for bad in [
        &b">>>\nt=x\n"[..],
        b"t=x\n<<<\n",
        b">>>\nnoequals\n<<<\n",
        b">>>\n=v\n<<<\n",
        b">>>\n(7)x=1\n<<<\n",
        b">>>\n(3)l=\n<<<\n",
        b">>>\nt=x\0y\n<<<\n",
    ] {
        assert!(parse_classic_unsigned(bad).is_err(), "{bad:?}");
    }
}

fn nest(levels: usize) -> Message {
    let mut m = Message::with_type("leaf");
    for _ in 0..levels {
        let mut outer = Message::new();
        outer.push("s", Value::Struct(m));
        m = outer;
    }
    m
}

#[test]
fn nesting_is_bounded() {
    let keys = sha1();
    let deepest = nest(MAX_DEPTH);
    let bytes = encode(&deepest, &keys).unwrap();
    assert_eq!(without_auth(decode(&bytes, &keys).unwrap().0), deepest);
    let classic = encode_classic(&deepest, &keys).unwrap();
    assert_eq!(without_auth(decode(&classic, &keys).unwrap().0), deepest);

    assert_eq!(
        encode(&nest(MAX_DEPTH + 1), &keys),
        Err(EncodeError::TooDeep)
    );
    assert_eq!(
        encode_classic(&nest(MAX_DEPTH + 1), &keys),
        Err(EncodeError::TooDeep)
    );
    // Hand-built, correctly signed, one level too deep.
    let mut body = b"###\n6:(0)t=x,%%%\n".to_vec();
    for _ in 0..=MAX_DEPTH {
        let item = [b"(2)s=", &body[..]].concat();
        body = [format!("###\n{}:", item.len()).as_bytes(), &item, b",%%%\n"].concat();
    }
    assert!(matches!(
        decode(&sign_netstring(&body, &keys), &keys),
        Err(DecodeError::Malformed {
            what: "structs nested too deep",
            ..
        })
    ));
}

#[test]
fn size_is_bounded() {
    let keys = sha1();
    let big = vec![b'#'; MAX_DATAGRAM + 1];
    assert_eq!(
        decode(&big, &keys),
        Err(DecodeError::TooLarge(MAX_DATAGRAM + 1))
    );
    assert_eq!(
        parse_classic_unsigned(&big),
        Err(DecodeError::TooLarge(MAX_DATAGRAM + 1))
    );
    let mut m = Message::with_type("x");
    m.add_binary("blob", vec![0u8; MAX_DATAGRAM]);
    assert!(matches!(encode(&m, &keys), Err(EncodeError::TooLarge(_))));
    // A length prefix far beyond the datagram is an error, not an allocation.
    assert!(decode(b"###\n99999:(0)t=x,%%%\n", &keys).is_err());
}

#[test]
fn encoder_refuses_what_would_read_back_differently() {
    let keys = sha1();
    let with = |v: Value| {
        let mut m = Message::with_type("x");
        m.push("f", v);
        encode(&m, &keys)
    };
    assert!(matches!(
        with(Value::Str(b"a\0b".to_vec())),
        Err(EncodeError::BadValue { .. })
    ));
    assert!(matches!(
        with(Value::List(vec![])),
        Err(EncodeError::BadValue { .. })
    ));
    assert!(matches!(
        with(Value::List(vec![Vec::new()])),
        Err(EncodeError::BadValue { .. })
    ));
    assert!(matches!(
        with(Value::List(vec![b"a\nb".to_vec()])),
        Err(EncodeError::BadValue { .. })
    ));
    let mut child = Message::new();
    child.add_str("c", b"\x14");
    assert!(matches!(
        with(Value::Struct(child)),
        Err(EncodeError::BadValue { .. })
    ));
    // 0x13 is classic text's newline: fine on netstring, refused as classic.
    let mut m = Message::with_type("x");
    m.add_str("f", b"a\x13b");
    let (back, _) = decode(&encode(&m, &keys).unwrap(), &keys).unwrap();
    assert_eq!(back.get("f"), Some(&Value::Str(b"a\x13b".to_vec())));
    assert!(matches!(
        encode_classic(&m, &keys),
        Err(EncodeError::BadValue { .. })
    ));
    let mut m = Message::new();
    m.add_str("", "v");
    assert_eq!(
        encode(&m, &keys),
        Err(EncodeError::BadName {
            index: 0,
            what: "empty field name"
        })
    );
}

#[test]
fn auth_is_replaced_in_place_and_deduplicated() {
    let keys = sha1();
    let mut m = Message::with_type("x");
    m.add_str("auth", "stale")
        .add_str("y", "1")
        .add_str("auth", "older");
    let (back, _) = decode(&encode(&m, &keys).unwrap(), &keys).unwrap();
    let names: Vec<_> = back.fields().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["t", "auth", "y"]);
    assert_ne!(back.get_str("auth"), Some("stale"));
}
