//! The netstring framing heartbeat 3.0.6 puts on the wire
//! (glue `cl_netstring.c`):
//!
//! ```text
//! "###\n" *( LEN ":(" TYPE ")" NAME "=" VALUE "," ) "%%%\n"  [ ALEN ":" TOKEN "," ]
//! ```
//!
//! A `(2)` struct value is a nested `###\n`…`%%%\n` body without trailer.
//! Values are raw bytes (binary fields may hold `,`, `\n` or NUL), so items
//! are delimited by their length prefix only, never by scanning.

use crate::codec::{DecodeError, EncodeError, MAX_DEPTH};
use crate::message::{Field, FieldType, Message, Value};
use crate::strlist::{self, read_len, write_len};
use crate::validate::{check_name, check_str, check_value};

pub(crate) const START: &[u8] = b"###\n";
pub(crate) const END: &[u8] = b"%%%\n";

/// The trailer token is `"<idx> <hex>"`; glue reserves 64 bytes for it
/// (`MAX_AUTH_BYTES`), and sha1's is the longest at 42.
const MAX_TOKEN: usize = 64;

/// Append `###\n`…`%%%\n` for `msg` (the nested form; no trailer).
pub(crate) fn write_body(
    msg: &Message,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    write_fields(
        msg.fields().iter().map(|f| (f.name.as_str(), &f.value)),
        depth,
        out,
    )
}

/// [`write_body`] over any sequence of fields, so the encoder can put a
/// fresh `auth` in without copying the message.
pub(crate) fn write_fields<'a>(
    fields: impl Iterator<Item = (&'a str, &'a Value)>,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    out.extend_from_slice(START);
    // Only lists and structs need rendering before their length is known.
    let mut scratch = Vec::new();
    for (index, (name, value)) in fields.enumerate() {
        check_name(name.as_bytes()).map_err(|what| EncodeError::BadName { index, what })?;
        check_value(value).map_err(|what| EncodeError::BadValue {
            name: name.to_owned(),
            what,
        })?;
        let bytes: &[u8] = match value {
            Value::Str(b) | Value::Binary(b) | Value::Compressed(b) => b,
            Value::List(items) => {
                scratch.clear();
                strlist::pack(items, &mut scratch);
                &scratch
            }
            Value::Struct(child) => {
                if depth >= MAX_DEPTH {
                    return Err(EncodeError::TooDeep);
                }
                scratch.clear();
                write_body(child, depth + 1, &mut scratch)?;
                &scratch
            }
        };
        // LEN counts "(T)" + name + "=" + value (glue's *_netstringlen).
        write_len(out, 3 + name.len() + 1 + bytes.len());
        out.extend_from_slice(&[b'(', value.field_type().digit(), b')']);
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(bytes);
        out.push(b',');
    }
    out.extend_from_slice(END);
    Ok(())
}

/// Append the `ALEN:TOKEN,` trailer.
pub(crate) fn write_trailer(token: &str, out: &mut Vec<u8>) {
    write_len(out, token.len());
    out.extend_from_slice(token.as_bytes());
    out.push(b',');
}

fn malformed(offset: usize, what: &'static str) -> DecodeError {
    DecodeError::Malformed { offset, what }
}

/// Walks the length-prefixed items of one body. Positions are absolute in
/// the datagram; `buf` is the datagram cut at the end of the enclosing item,
/// so a nested body can never read past its own value.
struct Items<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Items<'a> {
    fn new(buf: &'a [u8], start: usize) -> Result<Self, DecodeError> {
        match buf.get(start..) {
            Some(rest) if rest.starts_with(START) => Ok(Self {
                buf,
                pos: start + START.len(),
            }),
            _ => Err(malformed(start, "missing ###")),
        }
    }

    /// The next item as (offset, bytes between ':' and ','), or `None` once
    /// `%%%\n` is consumed.
    fn next_item(&mut self) -> Result<Option<(usize, &'a [u8])>, DecodeError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        if rest.starts_with(END) {
            self.pos += END.len();
            return Ok(None);
        }
        if rest.is_empty() {
            return Err(malformed(self.pos, "missing %%%"));
        }
        let (len, start) =
            read_len(self.buf, self.pos).ok_or_else(|| malformed(self.pos, "bad field length"))?;
        let end = start
            .checked_add(len)
            .ok_or_else(|| malformed(self.pos, "bad field length"))?;
        let item = self
            .buf
            .get(start..end)
            .ok_or_else(|| malformed(self.pos, "field runs past the end"))?;
        if self.buf.get(end) != Some(&b',') {
            return Err(malformed(end, "field not followed by ','"));
        }
        self.pos = end + 1;
        Ok(Some((start, item)))
    }
}

/// Where the body starting at 0 ends (just past `%%%\n`), found from the
/// length prefixes alone: nothing inside an item is looked at, so this is
/// safe to run before the signature is checked.
pub(crate) fn body_end(buf: &[u8]) -> Result<usize, DecodeError> {
    let mut items = Items::new(buf, 0)?;
    while items.next_item()?.is_some() {}
    Ok(items.pos)
}

/// Split what follows the body into the trailer token. `Ok(None)` when there
/// is no trailer at all.
pub(crate) fn trailer(buf: &[u8], end: usize) -> Result<Option<&[u8]>, DecodeError> {
    if end == buf.len() {
        return Ok(None);
    }
    let (len, start) = read_len(buf, end).ok_or_else(|| malformed(end, "bad trailer length"))?;
    if len > MAX_TOKEN {
        return Err(malformed(end, "trailer too long"));
    }
    let token = buf
        .get(start..start + len)
        .ok_or_else(|| malformed(end, "trailer runs past the end"))?;
    if buf.get(start + len) != Some(&b',') {
        return Err(malformed(start + len, "trailer not followed by ','"));
    }
    if start + len + 1 != buf.len() {
        return Err(malformed(start + len + 1, "data after the trailer"));
    }
    Ok(Some(token))
}

/// Parse the body that starts at `start` and must end exactly at
/// `buf.len()`. Only call this on bytes whose signature has been verified
/// (or on a nested value of such bytes).
pub(crate) fn parse_body(buf: &[u8], start: usize, depth: usize) -> Result<Message, DecodeError> {
    let mut items = Items::new(buf, start)?;
    let mut fields = Vec::new();
    while let Some((offset, item)) = items.next_item()? {
        fields.push(parse_item(buf, offset, item, depth)?);
    }
    if items.pos != buf.len() {
        return Err(malformed(items.pos, "data after %%%"));
    }
    Ok(Message::from_fields(fields))
}

/// One `(T)name=value` item at absolute `offset`.
fn parse_item(buf: &[u8], offset: usize, item: &[u8], depth: usize) -> Result<Field, DecodeError> {
    let ty = match item {
        [b'(', digit, b')', ..] => FieldType::from_digit(*digit)
            .ok_or_else(|| malformed(offset + 1, "unsupported field type"))?,
        _ => return Err(malformed(offset, "field without (type)")),
    };
    let rest = item.get(3..).unwrap_or_default();
    let eq = rest
        .iter()
        .position(|&b| b == b'=')
        .ok_or_else(|| malformed(offset, "field without '='"))?;
    let name = rest.get(..eq).unwrap_or_default();
    check_name(name).map_err(|what| malformed(offset + 3, what))?;
    let name = std::str::from_utf8(name)
        .map_err(|_| malformed(offset + 3, "field name is not UTF-8"))?
        .to_owned();
    let value_offset = offset + 3 + eq + 1;
    let value = rest.get(eq + 1..).unwrap_or_default();
    let value = match ty {
        FieldType::Str => {
            check_str(value).map_err(|what| malformed(value_offset, what))?;
            Value::Str(value.to_vec())
        }
        FieldType::Binary => Value::Binary(value.to_vec()),
        FieldType::Compressed => Value::Compressed(value.to_vec()),
        FieldType::List => {
            Value::List(strlist::unpack(value).map_err(|what| malformed(value_offset, what))?)
        }
        FieldType::Struct => {
            if depth >= MAX_DEPTH {
                return Err(malformed(value_offset, "structs nested too deep"));
            }
            let value_end = value_offset + value.len();
            let nested = buf
                .get(..value_end)
                .ok_or_else(|| malformed(value_offset, "struct runs past the end"))?;
            Value::Struct(parse_body(nested, value_offset, depth + 1)?)
        }
    };
    Ok(Field { name, value })
}
