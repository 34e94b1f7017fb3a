//! Heartbeat 3.0.6 wire format, as plain data (sans-IO).
//!
//! * [`message`]: the ordered, typed field list (`struct ha_msg`).
//! * [`auth`]: `authkeys` methods (crc, HMAC-MD5, HMAC-SHA1) and the digest
//!   token `"<idx> <hex>"`.
//! * [`codec`]: [`encode`] (netstring, what heartbeat sends), [`encode_classic`],
//!   [`decode`] (either framing) and [`parse_classic_unsigned`] (local FIFO).
//! * [`fifo`]: splits the FIFO byte stream into classic frames.
//!
//! Invariant: [`codec::decode`] verifies the signature over the raw bytes
//! before it interprets a single field, and never panics on any input.

pub mod auth;
mod classic;
pub mod codec;
pub mod fifo;
pub mod message;
mod netstring;
mod strlist;
mod validate;

pub use auth::{AuthError, AuthKeys, AuthMethod};
pub use codec::{
    classic_auth_input, decode, encode, encode_classic, parse_classic_unsigned, DecodeError,
    EncodeError, Format, MAX_DATAGRAM, MAX_DEPTH,
};
pub use fifo::FifoReader;
pub use message::{Field, FieldType, Message, Value};
