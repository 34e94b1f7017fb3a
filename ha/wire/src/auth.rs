//! `authkeys` signing methods and the digest token heartbeat puts on the wire.
//!
//! Token format is `"<idx> <hex>"`. crc is CRC-32/POSIX without cksum's length
//! step, printed `%lx` (lower case, **no zero padding**); md5/sha1 are
//! standard HMACs printed as full lower-case hex.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq as _;

/// One `N method [key]` line of `authkeys`.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthMethod {
    Crc,
    Md5 { key: Vec<u8> },
    Sha1 { key: Vec<u8> },
}

// Keys never go to logs.
impl std::fmt::Debug for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const CRC_POSIX_NO_LEN: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_CKSUM);

impl AuthMethod {
    pub fn name(&self) -> &'static str {
        match self {
            AuthMethod::Crc => "crc",
            AuthMethod::Md5 { .. } => "md5",
            AuthMethod::Sha1 { .. } => "sha1",
        }
    }

    /// The hex digest of `data` exactly as heartbeat prints it.
    pub fn digest_hex(&self, data: &[u8]) -> String {
        match self {
            AuthMethod::Crc => format!("{:x}", CRC_POSIX_NO_LEN.checksum(data)),
            AuthMethod::Md5 { key } => {
                // HMAC accepts keys of any length (RFC 2104 hashes long ones).
                let mut mac = <Hmac<md5::Md5> as Mac>::new_from_slice(key)
                    .expect("HMAC takes keys of any length");
                mac.update(data);
                hex(&mac.finalize().into_bytes())
            }
            AuthMethod::Sha1 { key } => {
                let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
                hex(ring::hmac::sign(&k, data).as_ref())
            }
        }
    }
}

/// Lower-case hex; a table lookup, as this runs for every packet.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Parsed `authkeys`: the active index and every configured method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthKeys {
    active: u8,
    methods: BTreeMap<u8, AuthMethod>,
}

/// Why a token did not verify; kept apart so logs can say which.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("malformed auth token")]
    Malformed,
    #[error("auth index {0} is not configured in authkeys")]
    UnknownIndex(u32),
    #[error("authtoken does not match")]
    Mismatch,
}

impl AuthKeys {
    /// `active` must be a key of `methods` (the config parser guarantees it).
    pub fn new(active: u8, methods: BTreeMap<u8, AuthMethod>) -> Option<Self> {
        methods
            .contains_key(&active)
            .then_some(Self { active, methods })
    }

    /// Single-method keys, mostly for tests and tools.
    pub fn single(idx: u8, method: AuthMethod) -> Self {
        Self {
            active: idx,
            methods: BTreeMap::from([(idx, method)]),
        }
    }

    pub fn active_index(&self) -> u8 {
        self.active
    }

    pub fn active_method(&self) -> &AuthMethod {
        // Invariant of the constructors.
        &self.methods[&self.active]
    }

    pub fn method(&self, idx: u8) -> Option<&AuthMethod> {
        self.methods.get(&idx)
    }

    pub fn methods(&self) -> impl Iterator<Item = (u8, &AuthMethod)> {
        self.methods.iter().map(|(k, v)| (*k, v))
    }

    /// `"<active> <digest>"` over `data`.
    pub fn sign(&self, data: &[u8]) -> String {
        format!("{} {}", self.active, self.active_method().digest_hex(data))
    }

    /// Verify a `"<idx> <digest>"` token over `data` with the method *and key*
    /// of the index the sender named. (heartbeat 3.0.6 uses its own active
    /// key instead, which breaks multi-key rotation; we do not copy that.)
    pub fn verify(&self, data: &[u8], token: &[u8]) -> Result<(), AuthError> {
        let token = std::str::from_utf8(token).map_err(|_| AuthError::Malformed)?;
        let (idx, digest) = token.split_once(' ').ok_or(AuthError::Malformed)?;
        // Digits only: `str::parse` would also take a sign.
        if idx.is_empty() || idx.len() > 9 || !idx.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthError::Malformed);
        }
        let idx: u32 = idx.parse().map_err(|_| AuthError::Malformed)?;
        let method = u8::try_from(idx)
            .ok()
            .and_then(|i| self.methods.get(&i))
            .ok_or(AuthError::UnknownIndex(idx))?;
        let expect = method.digest_hex(data);
        // Constant-time compare: the digest is a MAC. (Only the length may
        // leak, and that is public: it is fixed per method.)
        if bool::from(expect.as_bytes().ct_eq(digest.as_bytes())) {
            Ok(())
        } else {
            Err(AuthError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value_has_no_padding() {
        assert_eq!(AuthMethod::Crc.digest_hex(b"123456789"), "765e7680");
    }
}
