//! Length prefixes and glue's packed string list (`(3)` fields).
//!
//! A list value is `LEN:elem,` repeated (`string_list_pack`), in both the
//! netstring and the classic framing. glue's unpacker is lax (`sscanf`, reads
//! past the value); we accept only what its packer produces.

use std::fmt::Write as _;

/// Longest decimal length we read: a datagram is at most 64 KiB, so five
/// digits always suffice and no attacker-chosen length can overflow.
const MAX_LEN_DIGITS: usize = 5;

/// Read `LEN:` at `pos`: decimal without sign or leading zeros (C's `%d`
/// never writes them), then a colon. Returns the length and the position just
/// past the colon.
pub(crate) fn read_len(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let rest = buf.get(pos..)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > MAX_LEN_DIGITS || (digits > 1 && rest.first() == Some(&b'0')) {
        return None;
    }
    if rest.get(digits) != Some(&b':') {
        return None;
    }
    let len = std::str::from_utf8(rest.get(..digits)?)
        .ok()?
        .parse()
        .ok()?;
    Some((len, pos.checked_add(digits)?.checked_add(1)?))
}

/// Write `LEN:`.
pub(crate) fn write_len(out: &mut Vec<u8>, len: usize) {
    let mut s = String::with_capacity(6);
    let _ = write!(s, "{len}:");
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn pack(items: &[Vec<u8>], out: &mut Vec<u8>) {
    for item in items {
        write_len(out, item.len());
        out.extend_from_slice(item);
        out.push(b',');
    }
}

/// Inverse of [`pack`]; the elements must exactly fill `value`. Element
/// content rules are [`crate::validate::check_list`]'s.
pub(crate) fn unpack(value: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let mut items = Vec::new();
    let mut pos = 0;
    while pos < value.len() {
        let (len, start) = read_len(value, pos).ok_or("bad list element length")?;
        let end = start.checked_add(len).ok_or("bad list element length")?;
        let item = value.get(start..end).ok_or("list element past the value")?;
        if value.get(end) != Some(&b',') {
            return Err("list element not followed by ','");
        }
        items.push(item.to_vec());
        pos = end + 1;
    }
    crate::validate::check_list(&items)?;
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_example_round_trips() {
        // string_list_pack's own comment: "abc" "defg" -> "3:abc,4:defg,".
        let items = vec![b"abc".to_vec(), b"defg".to_vec()];
        let mut out = Vec::new();
        pack(&items, &mut out);
        assert_eq!(out, b"3:abc,4:defg,");
        assert_eq!(unpack(&out).unwrap(), items);
    }

    #[test]
    fn rejects_what_the_packer_never_writes() {
        for bad in [
            &b""[..],
            b"0:,",
            b"03:abc,",
            b"3:abc",
            b"3:ab,",
            b"3:abcd",
            b"-1:a,",
            b"99999999999999999999:a,",
        ] {
            assert!(unpack(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn read_len_bounds() {
        assert_eq!(read_len(b"12:x", 0), Some((12, 3)));
        assert_eq!(read_len(b"0:", 0), Some((0, 2)));
        assert_eq!(read_len(b"123456:", 0), None);
        assert_eq!(read_len(b"12", 0), None);
        assert_eq!(read_len(b"12:", 9), None);
    }
}
