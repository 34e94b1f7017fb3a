//! `authkeys`, read the way heartbeat's `parse_authfile` (heartbeat/auth.c)
//! reads it.
//!
//! * Lines whose first non-blank character is `#` are comments; `#`
//!   elsewhere is data (`2 sha1 #secret` has the key `#secret`).
//! * A line starting with `a` must be `auth N`.
//! * Other lines are `sscanf("%d%s%s")`: index, method, key. The key is the
//!   third blank-separated word **only**: `1 md5 my secret` signs with
//!   `my`. We must do the same to interoperate, and report it as a warning
//!   (the warning never contains the key).
//! * Indices 0..=15 (`MAXAUTH` 16; heartbeat accepts 0 as well); methods
//!   `crc` (no key allowed), `md5`, `sha1` (key required).
//! * The `auth N` line must come **before** the line defining key N:
//!   heartbeat picks the active key while reading the key lines, so a key
//!   defined earlier is never selected (`Auth Key [N] not found`).
//!   Both this and index 0 were checked against the real daemon
//!   (`tests/data/real-heartbeat-probes.txt`).
//! * The file must not be accessible by group or others. Heartbeat only
//!   refuses group/other *read*; we refuse any group/other permission bit,
//!   which is what "600 recommended" means.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hb_wire::{AuthKeys, AuthMethod};

use crate::{ConfigError, Problem};

/// heartbeat.h `MAXAUTH`.
const MAXAUTH: i64 = 16;

/// `authkeys` plus what is worth telling the operator about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedAuthKeys {
    pub keys: AuthKeys,
    /// Keys truncated at a blank, redefined indices, several `auth` lines.
    pub warnings: Vec<Problem>,
}

/// Read `authkeys`; warnings are dropped (use
/// [`load_authkeys_with_warnings`] or [`crate::load_all`] to log them).
pub fn load_authkeys(path: &Path) -> Result<AuthKeys, ConfigError> {
    load_authkeys_with_warnings(path).map(|p| p.keys)
}

/// Read `authkeys`, refusing group/other-accessible files like heartbeat.
pub fn load_authkeys_with_warnings(path: &Path) -> Result<ParsedAuthKeys, ConfigError> {
    let fail = |msg: String| ConfigError {
        problems: vec![Problem::new(path, None, msg)],
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot open keyfile: {e}")))?;
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot stat keyfile: {e}")))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(fail(format!(
            "Bad permissions on keyfile [{}] (mode {:04o}), 600 recommended.",
            path.display(),
            mode & 0o7777
        )));
    }
    parse_authkeys(path, &bytes)
}

/// C `isspace` in the C locale: what `%s` and `%d` skip.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn skip_space(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| is_space(**b)).count();
    &s[n..]
}

/// `%s`: skip blanks, take the next run of non-blanks.
fn word(s: &[u8]) -> (&[u8], &[u8]) {
    let s = skip_space(s);
    let n = s.iter().take_while(|b| !is_space(**b)).count();
    s.split_at(n)
}

/// `%d`: skip blanks, optional sign, digits. `None` if no digits. Values
/// beyond i64 saturate (they are out of range either way).
fn int(s: &[u8]) -> Option<(i64, &[u8])> {
    let s = skip_space(s);
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let v = digits[..n].iter().fold(0i64, |acc, d| {
        acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    Some((if neg { -v } else { v }, &digits[n..]))
}

/// Parse `authkeys` content. Pure (no permission check).
pub fn parse_authkeys(path: &Path, text: &[u8]) -> Result<ParsedAuthKeys, ConfigError> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut methods: BTreeMap<u8, AuthMethod> = BTreeMap::new();
    let mut defined_on: BTreeMap<u8, usize> = BTreeMap::new();
    // heartbeat's `authnum` (last `auth` line so far) and `authmethod`.
    let mut authnum: Option<(i64, usize)> = None;
    let mut active: Option<u8> = None;

    for (i, raw) in text.split(|b| *b == b'\n').enumerate() {
        let lineno = i + 1;
        let at = |msg: String| Problem::new(path, Some(lineno), msg);
        let bp = skip_space(raw);
        match bp.first() {
            None | Some(b'#') => continue,
            Some(b'a') => {
                let parsed = bp.strip_prefix(b"auth").and_then(int);
                match parsed {
                    Some((n, _)) => {
                        if let Some((_, prev)) = authnum {
                            warnings.push(at(format!(
                                "another auth line (the previous one is line {prev}): heartbeat \
                                 signs with the first key it reads after the auth line naming it"
                            )));
                        }
                        authnum = Some((n, lineno));
                    }
                    None => errors.push(at(format!(
                        "Invalid auth line [{}]: expected \"auth N\"",
                        String::from_utf8_lossy(bp).trim_end()
                    ))),
                }
                continue;
            }
            Some(_) => {}
        }
        let Some((idx, rest)) = int(bp) else {
            errors.push(at(
                "Auth line is invalid: expected \"auth N\" or \"N method [key]\"".into(),
            ));
            continue;
        };
        let (method, rest) = word(rest);
        if method.is_empty() {
            errors.push(at(format!(
                "Auth line for index {idx} is invalid: the method (crc, md5 or sha1) is missing"
            )));
            continue;
        }
        let (key, rest) = word(rest);
        if !(0..MAXAUTH).contains(&idx) {
            errors.push(at(format!(
                "Invalid authnum [{idx}]: indices go from 0 to {}",
                MAXAUTH - 1
            )));
            continue;
        }
        let idx = idx as u8;
        let method = match (method, key.is_empty()) {
            (b"crc", true) => AuthMethod::Crc,
            (b"crc", false) => {
                errors.push(at("Auth method [crc] doesn't use a key".into()));
                continue;
            }
            (b"md5" | b"sha1", true) => {
                errors.push(at(format!(
                    "Auth method [{}] requires a key",
                    String::from_utf8_lossy(method)
                )));
                continue;
            }
            (b"md5", false) => AuthMethod::Md5 { key: key.to_vec() },
            (b"sha1", false) => AuthMethod::Sha1 { key: key.to_vec() },
            _ => {
                errors.push(at(format!(
                    "Invalid authtype [{}]: expected crc, md5 or sha1",
                    String::from_utf8_lossy(method)
                )));
                continue;
            }
        };
        if !skip_space(rest).is_empty() {
            warnings.push(at(format!(
                "text after the key of index {idx} is ignored: heartbeat uses only the first \
                 word as the key, so a key containing blanks is cut at the first blank"
            )));
        }
        if let Some(prev) = defined_on.insert(idx, lineno) {
            warnings.push(at(format!(
                "index {idx} is defined again (first on line {prev}); this line replaces it"
            )));
        }
        methods.insert(idx, method);
        if authnum.is_some_and(|(n, _)| n == i64::from(idx)) {
            active = Some(idx);
        }
    }

    let keys = match (active, authnum) {
        (Some(a), _) => AuthKeys::new(a, methods),
        (None, None) => {
            errors.push(Problem::new(
                path,
                None,
                "Missing auth directive in keyfile: add \"auth N\" before the key lines",
            ));
            None
        }
        (None, Some((n, line))) => {
            let hint = match u8::try_from(n).ok().and_then(|n| defined_on.get(&n)) {
                Some(def) if *def < line => format!(
                    " (key {n} is defined on line {def}, before the auth line; heartbeat only \
                     selects keys defined after it)"
                ),
                _ => String::new(),
            };
            errors.push(Problem::new(
                path,
                Some(line),
                format!("Auth Key [{n}] not found in keyfile{hint}"),
            ));
            None
        }
    };
    match keys {
        Some(keys) if errors.is_empty() => Ok(ParsedAuthKeys { keys, warnings }),
        _ => {
            if errors.is_empty() {
                // Unreachable by construction (active is a key of methods);
                // still an error rather than a panic.
                errors.push(Problem::new(path, None, "no usable auth key"));
            }
            Err(ConfigError { problems: errors })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ParsedAuthKeys, ConfigError> {
        parse_authkeys(Path::new("authkeys"), text.as_bytes())
    }

    fn errors(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(k) => panic!("expected errors, got {k:?}"),
            Err(e) => e.problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn reference_files() {
        let k = parse("auth 1\n1 crc\n").unwrap().keys;
        assert_eq!(k.active_index(), 1);
        assert_eq!(k.active_method(), &AuthMethod::Crc);
        let k = parse("auth 3\n3 md5 Hello!\n").unwrap().keys;
        assert_eq!(
            k.active_method(),
            &AuthMethod::Md5 {
                key: b"Hello!".to_vec()
            }
        );
        let k = parse("auth 2\n2 sha1 HI!\n").unwrap().keys;
        assert_eq!(
            k.active_method(),
            &AuthMethod::Sha1 {
                key: b"HI!".to_vec()
            }
        );
    }

    #[test]
    fn multi_key_file_keeps_every_index() {
        let p = parse("auth 1\n1 md5 keyA\n2 sha1 keyB\n").unwrap();
        assert_eq!(p.keys.active_index(), 1);
        assert_eq!(
            p.keys.method(2),
            Some(&AuthMethod::Sha1 {
                key: b"keyB".to_vec()
            })
        );
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn key_with_blank_is_cut_like_sscanf_and_warned() {
        let p = parse("auth 1\n1 sha1 my secret key\n").unwrap();
        assert_eq!(
            p.keys.active_method(),
            &AuthMethod::Sha1 {
                key: b"my".to_vec()
            }
        );
        let w: Vec<String> = p.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            w,
            [
                "authkeys:2: text after the key of index 1 is ignored: heartbeat uses only the \
              first word as the key, so a key containing blanks is cut at the first blank"
            ]
        );
        assert!(
            !w[0].contains("secret"),
            "warnings must not leak key material"
        );
    }

    #[test]
    fn sscanf_leniency() {
        // "%d%s": no blank needed between index and method; `#` mid-line is data.
        let p = parse("  auth 2\n2sha1 #notacomment\n").unwrap();
        assert_eq!(
            p.keys.active_method(),
            &AuthMethod::Sha1 {
                key: b"#notacomment".to_vec()
            }
        );
        // comments, blank lines, tabs, CRLF.
        let p = parse("# c\n\n\tauth\t1\r\n\t# c2\n1\tmd5\tk\r\n").unwrap();
        assert_eq!(
            p.keys.active_method(),
            &AuthMethod::Md5 { key: b"k".to_vec() }
        );
    }

    #[test]
    fn binary_keys_are_kept_as_bytes() {
        let p = parse_authkeys(Path::new("authkeys"), b"auth 1\n1 md5 k\xffy\n").unwrap();
        assert_eq!(
            p.keys.active_method(),
            &AuthMethod::Md5 {
                key: b"k\xffy".to_vec()
            }
        );
    }

    #[test]
    fn missing_and_unknown_auth_index() {
        assert_eq!(
            errors("1 crc\n"),
            ["authkeys: Missing auth directive in keyfile: add \"auth N\" before the key lines"]
        );
        assert_eq!(
            errors("auth 4\n1 crc\n"),
            ["authkeys:1: Auth Key [4] not found in keyfile"]
        );
        assert_eq!(
            errors("1 crc\nauth 1\n"),
            ["authkeys:2: Auth Key [1] not found in keyfile (key 1 is defined on line 1, before \
              the auth line; heartbeat only selects keys defined after it)"]
        );
    }

    #[test]
    fn bad_lines_are_all_reported() {
        assert_eq!(
            errors("auth x\n16 crc\n1 crc key\n2 md5\n3 des k\nfoo\n4\nauth 5\n5 crc\n"),
            [
                "authkeys:1: Invalid auth line [auth x]: expected \"auth N\"",
                "authkeys:2: Invalid authnum [16]: indices go from 0 to 15",
                "authkeys:3: Auth method [crc] doesn't use a key",
                "authkeys:4: Auth method [md5] requires a key",
                "authkeys:5: Invalid authtype [des]: expected crc, md5 or sha1",
                "authkeys:6: Auth line is invalid: expected \"auth N\" or \"N method [key]\"",
                "authkeys:7: Auth line for index 4 is invalid: the method (crc, md5 or sha1) is missing",
            ]
        );
    }

    #[test]
    fn index_zero_is_accepted_like_heartbeat() {
        assert_eq!(parse("auth 0\n0 crc\n").unwrap().keys.active_index(), 0);
    }

    #[test]
    fn redefinition_and_second_auth_line_warn() {
        let p = parse("auth 1\n1 crc\n1 md5 x\nauth 1\n").unwrap();
        assert_eq!(
            p.keys.active_method(),
            &AuthMethod::Md5 { key: b"x".to_vec() }
        );
        assert_eq!(p.warnings.len(), 2);
    }
}
