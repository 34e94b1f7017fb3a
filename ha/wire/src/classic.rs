//! The classic `>>>` text form (glue `cl_msg.c` msg2string_buf /
//! string2msg_ll, `cl_msg_types.c` *2string / string2*):
//!
//! ```text
//! ">>>\n" *( [ "(" TYPE ")" ] NAME "=" VALUE "\n" ) "<<<\n"
//! ```
//!
//! * `(0)` strings carry no tag; a `\n` inside becomes 0x13 (`SPECIAL_SYM`).
//! * `(1)` binary and `(4)` compressed values are standard base64 with `=`.
//! * `(3)` lists are packed as in netstring (`3:abc,4:defg,`), verbatim.
//! * `(2)` structs are the child's full `>>>\n`…`<<<\n` text in which every
//!   `\n` is replaced by `SPECIAL_SYMS[depth]` of the *containing* message
//!   (0x14 for a top-level struct, 0x15 one level down, …), so each level's
//!   line breaks are distinct bytes and the value stays on one line.
//!
//! Without the `>>>`/`<<<` lines and without `auth` this text is the input of
//! the in-band `auth=` digest, on whichever framing the message travels.

use base64::Engine as _;

use crate::codec::{DecodeError, EncodeError, MAX_DEPTH};
use crate::message::{Field, FieldType, Message, Value};
use crate::strlist;
use crate::validate::{check_name, check_value, STR_NEWLINE};

pub(crate) const START: &[u8] = b">>>\n";
pub(crate) const END: &[u8] = b"<<<\n";
const AUTH: &str = "auth";

/// glue `SPECIAL_SYMS[depth]`: stands for `\n` inside a struct value of a
/// message at `depth`.
const STRUCT_NEWLINE: [u8; 16] = [
    20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 15, 16, 17, 18,
];

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Append one line per field. `skip_auth` drops top-level `auth` fields, as
/// glue does for the digest input (`NOHEAD`); nested structs always keep
/// theirs.
pub(crate) fn write_fields(
    msg: &Message,
    depth: usize,
    skip_auth: bool,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    for (index, field) in msg.fields().iter().enumerate() {
        if skip_auth && field.name == AUTH {
            continue;
        }
        check_name(field.name.as_bytes()).map_err(|what| EncodeError::BadName { index, what })?;
        check_value(&field.value).map_err(|what| EncodeError::BadValue {
            name: field.name.clone(),
            what,
        })?;
        let ty = field.value.field_type();
        if ty != FieldType::Str {
            out.extend_from_slice(&[b'(', ty.digit(), b')']);
        }
        out.extend_from_slice(field.name.as_bytes());
        out.push(b'=');
        match &field.value {
            Value::Str(s) => {
                out.extend(s.iter().map(|&b| if b == b'\n' { STR_NEWLINE } else { b }))
            }
            Value::Binary(b) | Value::Compressed(b) => {
                out.extend_from_slice(B64.encode(b).as_bytes())
            }
            Value::List(items) => strlist::pack(items, out),
            Value::Struct(child) => {
                let sym = *STRUCT_NEWLINE.get(depth).ok_or(EncodeError::TooDeep)?;
                if depth >= MAX_DEPTH {
                    return Err(EncodeError::TooDeep);
                }
                let mut text = START.to_vec();
                write_fields(child, depth + 1, false, &mut text)?;
                text.extend_from_slice(END);
                // glue's convert() refuses a child that already contains the
                // separator: it could not be told apart from a line break.
                if text.contains(&sym) {
                    return Err(EncodeError::BadValue {
                        name: field.name.clone(),
                        what: "struct contains its level's newline symbol",
                    });
                }
                out.extend(text.iter().map(|&b| if b == b'\n' { sym } else { b }));
            }
        }
        out.push(b'\n');
    }
    Ok(())
}

fn malformed(offset: usize, what: &'static str) -> DecodeError {
    DecodeError::Malformed { offset, what }
}

/// The lines between `>>>\n` and `<<<\n` of one frame (no trailing NUL).
/// `base` is the frame's offset in the datagram, for error offsets.
pub(crate) fn frame_body(frame: &[u8], base: usize) -> Result<&[u8], DecodeError> {
    let after_start = frame
        .strip_prefix(START)
        .ok_or_else(|| malformed(base, "missing >>>"))?;
    let body = after_start
        .strip_suffix(END)
        .ok_or_else(|| malformed(base + frame.len(), "missing <<<"))?;
    if !body.is_empty() && !body.ends_with(b"\n") {
        return Err(malformed(base + frame.len(), "missing <<<"));
    }
    if let Some(at) = body.iter().position(|&b| b == 0) {
        return Err(malformed(base + START.len() + at, "NUL inside the message"));
    }
    // heartbeat stops at the first "<<<" line and ignores what follows; we
    // refuse such input rather than silently drop signed-looking data.
    for (offset, line) in lines(body, base + START.len()) {
        if line == b"<<<" {
            return Err(malformed(offset, "data after <<<"));
        }
    }
    Ok(body)
}

/// Non-empty lines of a body with their absolute offsets (glue skips empty
/// lines between fields).
fn lines(body: &[u8], base: usize) -> impl Iterator<Item = (usize, &[u8])> {
    let mut offset = base;
    body.split(|&b| b == b'\n').filter_map(move |line| {
        let at = offset;
        offset += line.len() + 1;
        (!line.is_empty()).then_some((at, line))
    })
}

/// Parse a frame's body at nesting `depth`.
pub(crate) fn parse_body(body: &[u8], base: usize, depth: usize) -> Result<Message, DecodeError> {
    lines(body, base)
        .map(|(offset, line)| parse_line(line, offset, depth))
        .collect::<Result<Vec<_>, _>>()
        .map(Message::from_fields)
}

fn parse_line(line: &[u8], offset: usize, depth: usize) -> Result<Field, DecodeError> {
    let eq = line
        .iter()
        .position(|&b| b == b'=')
        .ok_or_else(|| malformed(offset, "line without '='"))?;
    let raw_name = line.get(..eq).unwrap_or_default();
    let (ty, name) = match raw_name {
        [b'(', digit, b')', name @ ..] => {
            let ty = FieldType::from_digit(*digit)
                .ok_or_else(|| malformed(offset + 1, "unsupported field type"))?;
            // glue rejects an explicit "(0)" ("wrong type").
            if ty == FieldType::Str {
                return Err(malformed(offset + 1, "explicit (0) type tag"));
            }
            (ty, name)
        }
        [b'(', ..] => return Err(malformed(offset, "unterminated type tag")),
        name => (FieldType::Str, name),
    };
    let name_offset = offset + raw_name.len() - name.len();
    check_name(name).map_err(|what| malformed(name_offset, what))?;
    let name = std::str::from_utf8(name)
        .map_err(|_| malformed(name_offset, "field name is not UTF-8"))?
        .to_owned();
    let value_offset = offset + eq + 1;
    let value = line.get(eq + 1..).unwrap_or_default();
    let value = match ty {
        // Lines never hold NUL (frame_body), so no string check is needed.
        FieldType::Str => Value::Str(
            value
                .iter()
                .map(|&b| if b == STR_NEWLINE { b'\n' } else { b })
                .collect(),
        ),
        FieldType::Binary => Value::Binary(
            B64.decode(value)
                .map_err(|_| malformed(value_offset, "bad base64"))?,
        ),
        FieldType::Compressed => Value::Compressed(
            B64.decode(value)
                .map_err(|_| malformed(value_offset, "bad base64"))?,
        ),
        FieldType::List => {
            Value::List(strlist::unpack(value).map_err(|what| malformed(value_offset, what))?)
        }
        FieldType::Struct => {
            let sym = STRUCT_NEWLINE
                .get(depth)
                .filter(|_| depth < MAX_DEPTH)
                .ok_or_else(|| malformed(value_offset, "structs nested too deep"))?;
            let text: Vec<u8> = value
                .iter()
                .map(|&b| if b == *sym { b'\n' } else { b })
                .collect();
            // Same length as `value`, so offsets inside stay absolute.
            let body = frame_body(&text, value_offset)?;
            Value::Struct(parse_body(body, value_offset + START.len(), depth + 1)?)
        }
    };
    Ok(Field { name, value })
}

/// The signed classic text and the `auth=` token, found by splitting lines
/// only: nothing is decoded before the digest is checked.
pub(crate) fn split_auth(body: &[u8]) -> Result<(Vec<u8>, Option<&[u8]>), DecodeError> {
    let mut signed = Vec::with_capacity(body.len());
    let mut token = None;
    for (offset, line) in lines(body, START.len()) {
        if let Some(t) = line.strip_prefix(b"auth=") {
            // heartbeat would use the last one; two tokens is not something
            // any sender produces, so refuse the ambiguity.
            if token.replace(t).is_some() {
                return Err(malformed(offset, "more than one auth field"));
            }
            continue;
        }
        signed.extend_from_slice(line);
        signed.push(b'\n');
    }
    Ok((signed, token))
}
