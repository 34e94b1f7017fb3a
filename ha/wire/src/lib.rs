//! Heartbeat 3.0.6 wire format, as plain data.
//!
//! * [`message`]: the ordered, typed field list (`struct ha_msg`).
//! * [`auth`]: `authkeys` methods (crc, HMAC-MD5, HMAC-SHA1) and the digest
//!   token `"<idx> <hex>"`.
//! * [`codec`]: netstring (what heartbeat sends) and classic `>>>` (what it
//!   also accepts, and what scripts write to the FIFO) encoders/decoders.
//!
//! Invariant: [`codec::decode`] verifies the signature over the raw bytes
//! before it interprets a single field, and never panics on any input.

pub mod auth;
pub mod codec;
pub mod message;

pub use auth::{AuthKeys, AuthMethod};
pub use codec::{decode, encode, DecodeError, Format};
pub use message::{Field, FieldType, Message, Value};
