//! Everything that reads untrusted bytes: `decode` (both framings),
//! `parse_classic_unsigned` and `FifoReader`.
//!
//! Random bytes mostly die at the signature check, so the input is also
//! signed with a fixed crc key, once as a netstring body and once as classic
//! lines: the parsers behind the check then see hostile but authentic data.
//! Whatever decodes must encode again and read back as the same message.
#![no_main]

use hb_wire::{
    decode, encode, encode_classic, parse_classic_unsigned, AuthKeys, AuthMethod, EncodeError,
    FifoReader, Format, Message,
};
use libfuzzer_sys::fuzz_target;

fn without_auth(mut m: Message) -> Message {
    m.remove("auth");
    m
}

fn check(bytes: &[u8], keys: &AuthKeys) {
    let Ok((msg, format)) = decode(bytes, keys) else {
        return;
    };
    let again = match encode(&msg, keys) {
        Ok(b) => b,
        // Accepted on netstring but not representable as classic text (the
        // in-band auth= input): a struct holding its own separator byte, or a
        // message that grows past the limit once auth= is added.
        Err(EncodeError::BadValue { .. } | EncodeError::TooLarge(_))
            if format == Format::Netstring =>
        {
            return
        }
        Err(e) => panic!("decoded {format:?} message does not re-encode: {e}"),
    };
    let (back, _) = decode(&again, keys).expect("own encoding decodes");
    assert_eq!(without_auth(back), without_auth(msg.clone()));
    if let Ok(classic) = encode_classic(&msg, keys) {
        let (back, _) = decode(&classic, keys).expect("own classic encoding decodes");
        assert_eq!(without_auth(back), without_auth(msg));
    }
}

fuzz_target!(|data: &[u8]| {
    let keys = AuthKeys::single(1, AuthMethod::Crc);

    check(data, &keys);

    let token = keys.sign(data);
    let mut netstring = data.to_vec();
    netstring.extend_from_slice(format!("{}:{token},", token.len()).as_bytes());
    check(&netstring, &keys);

    let mut classic = b">>>\n".to_vec();
    classic.extend_from_slice(data);
    classic.extend_from_slice(b"auth=");
    classic.extend_from_slice(token.as_bytes());
    classic.extend_from_slice(b"\n<<<\n");
    check(&classic, &keys);

    if let Ok(m) = parse_classic_unsigned(data) {
        let _ = encode(&m, &keys);
    }
    let mut fifo = FifoReader::new();
    for chunk in data.chunks(7) {
        fifo.push(chunk);
        while fifo.next_message().is_some() {}
    }
});
