//! Persistent node state in `/var/lib/heartbeat`, in heartbeat's formats:
//!
//! * `hb_uuid`: the node's 16 raw uuid bytes (random, RFC 4122 version 4, as
//!   `uuid_generate` makes them), created on first start and reused after.
//! * `hb_generation`: `"%15lu\n"`. Missing → `time(NULL) + 1`; otherwise the
//!   stored value + 1. It must be on disk (fsynced) before the first packet
//!   goes out, so a crash can never make us reuse a generation — peers reject
//!   a lower generation as a replay.
//!
//! Files are replaced atomically (temporary file, fsync, rename, fsync of the
//! directory) so a crash mid-write leaves the old value, never a torn one.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

/// Bytes heartbeat reads from `hb_generation` (`GENLEN`).
const GENLEN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenerationSource {
    /// The file held a generation; this start uses the next one.
    Previous(u64),
    /// No file (first start): "No Previous generation - starting at N".
    Missing,
    /// The file was unreadable garbage: "BROKEN previous generation".
    Broken,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Generation {
    pub value: u64,
    pub source: GenerationSource,
}

/// `hb_generation`'s text for `value`.
pub fn format_generation(value: u64) -> String {
    format!("{value:>15}\n")
}

/// Like heartbeat's `sscanf(buf, "%lu")` over the first [`GENLEN`] bytes.
pub fn parse_generation(bytes: &[u8]) -> Option<u64> {
    let head = &bytes[..bytes.len().min(GENLEN)];
    let text = std::str::from_utf8(head).ok()?.trim_start();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or(text, |end| &text[..end]);
    digits.parse().ok()
}

/// Read, increment and durably store the generation for this start.
/// `now_secs` is `time(NULL)`, used when there is no usable previous value.
pub fn next_generation(path: &Path, now_secs: u64) -> io::Result<Generation> {
    let (base, source) = match fs::read(path) {
        Ok(bytes) if !bytes.is_empty() => match parse_generation(&bytes) {
            Some(prev) => (prev, GenerationSource::Previous(prev)),
            // heartbeat restarts such a file at 1, below what peers have
            // seen from us, so they would drop us as a replay; time-based
            // is what it meant to do.
            None => (now_secs, GenerationSource::Broken),
        },
        Ok(_) => (now_secs, GenerationSource::Missing),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (now_secs, GenerationSource::Missing),
        Err(e) => return Err(e),
    };
    let value = base
        .checked_add(1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "generation counter overflow"))?;
    write_durably(path, format_generation(value).as_bytes())?;
    Ok(Generation { value, source })
}

/// The node uuid, and whether it was generated just now.
pub fn load_or_create_uuid(path: &Path) -> io::Result<([u8; 16], bool)> {
    match fs::read(path) {
        Ok(bytes) => {
            if let Ok(uuid) = <[u8; 16]>::try_from(bytes.as_slice()) {
                return Ok((uuid, false));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let uuid = random_uuid()?;
    write_durably(path, &uuid)?;
    Ok((uuid, true))
}

/// A random (version 4, RFC 4122 variant) uuid, as libuuid's `uuid_generate`.
pub fn random_uuid() -> io::Result<[u8; 16]> {
    let mut u = [0u8; 16];
    getrandom::getrandom(&mut u).map_err(|e| io::Error::other(e.to_string()))?;
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    Ok(u)
}

/// The usual textual uuid form, for logs.
pub fn uuid_to_string(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Replace `path` with `data`, mode 0644, surviving a crash at any point.
pub fn write_durably(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp_name);
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_text_is_heartbeats_fifteen_wide_field() {
        // Real file: 5 blanks + "1795409795" + "\n", 16 bytes.
        assert_eq!(format_generation(1795409795), "     1795409795\n");
        assert_eq!(format_generation(1795409795).len(), GENLEN);
        assert_eq!(parse_generation(b"     1795409795\n"), Some(1795409795));
        assert_eq!(parse_generation(b"12abc"), Some(12));
        assert_eq!(parse_generation(b"abc"), None);
        assert_eq!(parse_generation(b""), None);
    }

    #[test]
    fn first_start_is_time_based_then_increments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hb_generation");
        let g1 = next_generation(&path, 1_000_000).unwrap();
        assert_eq!(g1.value, 1_000_001);
        assert_eq!(g1.source, GenerationSource::Missing);
        assert_eq!(fs::read(&path).unwrap(), b"        1000001\n");
        // A later start ignores the clock: it only ever goes up.
        let g2 = next_generation(&path, 5).unwrap();
        assert_eq!(g2.value, 1_000_002);
        assert_eq!(g2.source, GenerationSource::Previous(1_000_001));
        assert_eq!(parse_generation(&fs::read(&path).unwrap()), Some(1_000_002));
        assert!(!dir.path().join("hb_generation.tmp").exists());
    }

    #[test]
    fn garbage_generation_restarts_from_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hb_generation");
        fs::write(&path, "garbage\n").unwrap();
        let g = next_generation(&path, 77).unwrap();
        assert_eq!(
            g,
            Generation {
                value: 78,
                source: GenerationSource::Broken
            }
        );
    }

    #[test]
    fn uuid_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hb_uuid");
        let (u1, fresh1) = load_or_create_uuid(&path).unwrap();
        assert!(fresh1);
        assert_eq!(fs::read(&path).unwrap(), u1);
        assert_eq!(u1[6] >> 4, 4, "version 4");
        assert_eq!(u1[8] >> 6, 0b10, "RFC 4122 variant");
        let (u2, fresh2) = load_or_create_uuid(&path).unwrap();
        assert!(!fresh2);
        assert_eq!(u1, u2);
    }

    #[test]
    fn truncated_uuid_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hb_uuid");
        fs::write(&path, [1u8, 2, 3]).unwrap();
        let (u, fresh) = load_or_create_uuid(&path).unwrap();
        assert!(fresh);
        assert_eq!(fs::read(&path).unwrap(), u);
    }

    #[test]
    fn uuid_text_form() {
        let u = [
            0x4c, 0x5d, 0x06, 0xa1, 0x6b, 0x08, 0x4a, 0x98, 0xb9, 0xbf, 0x47, 0xdd, 0xae, 0x56,
            0x95, 0x34,
        ];
        assert_eq!(uuid_to_string(&u), "4c5d06a1-6b08-4a98-b9bf-47ddae569534");
    }
}
