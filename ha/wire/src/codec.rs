//! Encode and decode whole datagrams: framing plus both signatures.
//!
//! Sending always produces netstring (what heartbeat 3.0.6 sends, §3.1 of the
//! reference) carrying the in-band `auth=` over the classic text *and* the
//! trailer over `###\n`…`%%%\n`. Receiving accepts both framings, like
//! heartbeat, but checks the signature before interpreting any field:
//!
//! * netstring: the end of the body is found from the length prefixes alone,
//!   the trailer is verified over those raw bytes, and only then are the
//!   items parsed. The in-band `auth=` is not needed (heartbeat ignores it).
//! * classic: heartbeat parses, re-renders and verifies `auth=` over that.
//!   We verify `auth=` over the raw lines first (splitting on `\n` is the
//!   only interpretation), then parse, then insist that re-rendering gives
//!   back exactly the verified text, so the accepted message is the one that
//!   was signed and heartbeat would have accepted it too.

use crate::classic;
use crate::message::{Field, Message, Value};
use crate::netstring;
use crate::AuthKeys;

const AUTH: &str = "auth";

/// Largest datagram we build or accept. glue's `MAXMSG` is 256 KiB, but a
/// UDP datagram cannot exceed 64 KiB, so nothing larger can be a real packet;
/// this also bounds every allocation the decoder makes.
pub const MAX_DATAGRAM: usize = 64 * 1024;

/// Deepest struct nesting (a top-level message is depth 0). glue allows 16;
/// heartbeat's own messages never nest at all.
pub const MAX_DEPTH: usize = 8;

/// Which framing a datagram used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `###\n … %%%\n` + trailer: what heartbeat 3.0.6 sends.
    Netstring,
    /// `>>>\n … <<<\n`: accepted on the wire, written by scripts to the FIFO.
    Classic,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a heartbeat message")]
    NotAMessage,
    #[error("authentication failed: {0}")]
    Auth(#[from] crate::auth::AuthError),
    #[error("missing authentication")]
    NoAuth,
    #[error("malformed message at byte {offset}: {what}")]
    Malformed { offset: usize, what: &'static str },
    #[error("message of {0} bytes exceeds the {MAX_DATAGRAM}-byte limit")]
    TooLarge(usize),
}

/// Why a message cannot be put on the wire. Every rule exists because a
/// receiver (heartbeat or us) would otherwise read back something else.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Names must be non-empty, without `=`, newline or NUL, and must not
    /// start with `(` (the classic type tag).
    #[error("field {index}: {what}")]
    BadName { index: usize, what: &'static str },
    /// Strings without NUL; lists non-empty with non-empty elements free of
    /// NUL and newline; a struct must not contain its level's separator.
    #[error("field {name:?}: {what}")]
    BadValue { name: String, what: &'static str },
    #[error("structs nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("encoded message is {0} bytes, over the {MAX_DATAGRAM}-byte limit")]
    TooLarge(usize),
}

/// The input of the in-band `auth=` digest: the classic text of `msg`
/// without `>>>`/`<<<` and without its top-level `auth` fields.
pub fn classic_auth_input(msg: &Message) -> Result<Vec<u8>, EncodeError> {
    let mut text = Vec::new();
    classic::write_fields(msg, 0, true, &mut text)?;
    Ok(text)
}

/// The fields of `msg` with `auth=` set to `token`, where heartbeat's
/// `ha_msg_mod` puts it: in place of the first `auth`, else appended. Later
/// duplicates are dropped: the digest skips them anyway, and a classic
/// receiver that took the last one would see a stale token.
fn fields_with_auth<'a>(
    msg: &'a Message,
    token: &'a Value,
) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
    let has_auth = msg.fields().iter().any(|f| f.name == AUTH);
    let mut placed = false;
    msg.fields()
        .iter()
        .filter_map(move |f| {
            if f.name != AUTH {
                Some((f.name.as_str(), &f.value))
            } else if placed {
                None
            } else {
                placed = true;
                Some((AUTH, token))
            }
        })
        .chain((!has_auth).then_some((AUTH, token)))
}

/// `msg` with `auth=` set to the active key's digest (see
/// [`fields_with_auth`]).
fn with_auth(msg: &Message, keys: &AuthKeys) -> Result<Message, EncodeError> {
    let token = auth_token(msg, keys)?;
    let fields = fields_with_auth(msg, &token)
        .map(|(name, value)| Field {
            name: name.to_owned(),
            value: value.clone(),
        })
        .collect();
    Ok(Message::from_fields(fields))
}

fn auth_token(msg: &Message, keys: &AuthKeys) -> Result<Value, EncodeError> {
    Ok(Value::Str(
        keys.sign(&classic_auth_input(msg)?).into_bytes(),
    ))
}

fn check_size(out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
    if out.len() > MAX_DATAGRAM {
        Err(EncodeError::TooLarge(out.len()))
    } else {
        Ok(out)
    }
}

/// Encode `msg` as heartbeat sends it: netstring framing, in-band `auth=`
/// (over the classic text) and the trailer (over `###\n`…`%%%\n`), both with
/// the active key. Any `auth` field already in `msg` is replaced.
pub fn encode(msg: &Message, keys: &AuthKeys) -> Result<Vec<u8>, EncodeError> {
    let token = auth_token(msg, keys)?;
    let mut out = Vec::with_capacity(512);
    netstring::write_fields(fields_with_auth(msg, &token), 0, &mut out)?;
    let token = keys.sign(&out);
    netstring::write_trailer(&token, &mut out);
    check_size(out)
}

/// Encode `msg` in the classic framing with `auth=`, followed by the NUL
/// that heartbeat's `msg2wirefmt` sends with it (it sends the C string).
/// Stricter than [`encode`]: a string holding byte 0x13 is refused, since
/// classic text would deliver it as `\n`.
pub fn encode_classic(msg: &Message, keys: &AuthKeys) -> Result<Vec<u8>, EncodeError> {
    crate::validate::check_classic_strings(msg)
        .map_err(|(name, what)| EncodeError::BadValue { name, what })?;
    let msg = with_auth(msg, keys)?;
    let mut out = classic::START.to_vec();
    classic::write_fields(&msg, 0, false, &mut out)?;
    out.extend_from_slice(classic::END);
    out.push(0);
    check_size(out)
}

/// Size check, then drop the one trailing NUL a C sender may include.
fn trim(bytes: &[u8]) -> Result<&[u8], DecodeError> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    Ok(bytes.strip_suffix(&[0]).unwrap_or(bytes))
}

/// Verify, then parse, one datagram in either framing. The returned message
/// keeps the fields exactly as received, `auth` included (so
/// `encode(&decoded, keys)` reproduces a heartbeat datagram byte for byte).
pub fn decode(datagram: &[u8], keys: &AuthKeys) -> Result<(Message, Format), DecodeError> {
    let d = trim(datagram)?;
    if d.starts_with(netstring::START) {
        let end = netstring::body_end(d)?;
        let token = netstring::trailer(d, end)?.ok_or(DecodeError::NoAuth)?;
        keys.verify(d.get(..end).unwrap_or_default(), token)?;
        let msg = netstring::parse_body(d.get(..end).unwrap_or_default(), 0, 0)?;
        Ok((msg, Format::Netstring))
    } else if d.starts_with(classic::START) {
        let body = classic::frame_body(d, 0)?;
        let (signed, token) = classic::split_auth(body)?;
        keys.verify(&signed, token.ok_or(DecodeError::NoAuth)?)?;
        let msg = classic::parse_body(body, classic::START.len(), 0)?;
        // A typed "(1)auth=" line, non-canonical base64 and the like are
        // signed as sent but would re-render differently: heartbeat would
        // compute another digest and reject the packet, so do we.
        if classic_auth_input(&msg).ok().as_deref() != Some(&signed[..]) {
            return Err(DecodeError::Malformed {
                offset: 0,
                what: "classic text not in canonical form",
            });
        }
        Ok((msg, Format::Classic))
    } else {
        Err(DecodeError::NotAMessage)
    }
}

/// Parse one classic `>>>\n`…`<<<\n` frame WITHOUT any authentication: only
/// for the local FIFO (`/var/lib/heartbeat/fifo`), where the stock scripts
/// write unsigned text and the file permissions are the access control.
/// Never use it on network input. A trailing NUL is tolerated.
pub fn parse_classic_unsigned(frame: &[u8]) -> Result<Message, DecodeError> {
    let d = trim(frame)?;
    let body = classic::frame_body(d, 0)?;
    classic::parse_body(body, classic::START.len(), 0)
}
