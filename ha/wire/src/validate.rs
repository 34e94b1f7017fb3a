//! What a field may contain so that BOTH framings carry it losslessly.
//!
//! heartbeat checks almost nothing when it builds a message; a bad name or
//! value only surfaces when a peer fails to parse it (or parses something
//! else). We refuse such messages when encoding, and the decoders apply the
//! same rules, so anything we accept can be re-encoded byte for byte.

use crate::message::{Message, Value};

/// `name=` rules. The classic parser splits the line at the first `=` and
/// reads a leading `(` as a type tag; `\n` ends the line; C stops at NUL.
pub(crate) fn check_name(name: &[u8]) -> Result<(), &'static str> {
    match name.first() {
        None => Err("empty field name"),
        Some(b'(') => Err("field name starts with '('"),
        Some(_) if name.iter().any(|&b| matches!(b, b'=' | b'\n' | 0)) => {
            Err("field name contains '=', newline or NUL")
        }
        Some(_) => Ok(()),
    }
}

/// Strings are C strings in heartbeat (`strlen` decides their length).
pub(crate) fn check_str(value: &[u8]) -> Result<(), &'static str> {
    if value.contains(&0) {
        Err("string value contains NUL")
    } else {
        Ok(())
    }
}

/// glue's `string_list_unpack` rejects an empty list and empty elements, C
/// strings end at NUL, and classic text copies list elements verbatim, so a
/// newline would end the line.
pub(crate) fn check_list(items: &[Vec<u8>]) -> Result<(), &'static str> {
    if items.is_empty() {
        return Err("empty list");
    }
    for item in items {
        if item.is_empty() {
            return Err("empty list element");
        }
        if item.iter().any(|&b| b == 0 || b == b'\n') {
            return Err("list element contains NUL or newline");
        }
    }
    Ok(())
}

/// The checks that do not depend on the framing (nesting depth and the
/// struct separator bytes are checked by the classic renderer).
pub(crate) fn check_value(value: &Value) -> Result<(), &'static str> {
    match value {
        Value::Str(s) => check_str(s),
        Value::List(items) => check_list(items),
        Value::Binary(_) | Value::Compressed(_) | Value::Struct(_) => Ok(()),
    }
}

/// glue's `SPECIAL_SYM`, the classic stand-in for `\n` in strings.
pub(crate) const STR_NEWLINE: u8 = 0x13;

/// Classic text turns `\n` in strings into 0x13 and reads 0x13 back as
/// `\n`, so a string that already holds 0x13 cannot travel as classic text
/// (netstring carries it fine, and the in-band digest is unaffected).
pub(crate) fn check_classic_strings(msg: &Message) -> Result<(), (String, &'static str)> {
    for field in msg.fields() {
        match &field.value {
            Value::Str(s) if s.contains(&STR_NEWLINE) => {
                return Err((
                    field.name.clone(),
                    "string holds 0x13, classic text's newline",
                ));
            }
            Value::Struct(child) => check_classic_strings(child)?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name(b"srcuuid").is_ok());
        assert!(check_name(b"a b,c:d").is_ok());
        for bad in [&b""[..], b"(1)x", b"a=b", b"a\nb", b"a\0"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lists() {
        assert!(check_list(&[b"a".to_vec(), b"b,c".to_vec()]).is_ok());
        assert!(check_list(&[]).is_err());
        assert!(check_list(&[Vec::new()]).is_err());
        assert!(check_list(&[b"a\nb".to_vec()]).is_err());
    }
}
