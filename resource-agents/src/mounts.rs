//! The mount table (`/proc/mounts`): device, mount point, type.

use std::fs;

use crate::ocf::RaError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub device: String,
    pub mountpoint: String,
    pub fstype: String,
    pub options: String,
}

/// Parse `/proc/mounts` text. The kernel escapes space, tab, newline and
/// backslash as `\NNN` octal (`\040` for a space), which is undone here.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split(' ');
            Some(Mount {
                device: unescape(f.next()?),
                mountpoint: unescape(f.next()?),
                fstype: unescape(f.next()?),
                options: unescape(f.next().unwrap_or("")),
            })
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0')))
            .and_then(|v| u8::try_from(v).ok());
        match octal {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn read() -> Result<Vec<Mount>, RaError> {
    fs::read_to_string("/proc/mounts")
        .map(|t| parse(&t))
        .map_err(|e| RaError::from_io("read /proc/mounts", &e))
}

/// Mounts strictly below `dir`, deepest first (unmount order).
pub fn submounts<'a>(mounts: &'a [Mount], dir: &str) -> Vec<&'a Mount> {
    let prefix = if dir == "/" {
        "/".to_string()
    } else {
        format!("{dir}/")
    };
    let mut subs: Vec<&Mount> = mounts
        .iter()
        .filter(|m| m.mountpoint != dir && m.mountpoint.starts_with(&prefix))
        .collect();
    subs.sort_by(|a, b| b.mountpoint.cmp(&a.mountpoint));
    subs.dedup_by(|a, b| a.mountpoint == b.mountpoint);
    subs
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "/dev/vda / ext4 rw,relatime 0 0\n\
proc /proc proc rw,nosuid 0 0\n\
/dev/loop3 /mnt/my\\040data ext4 rw 0 0\n\
/dev/loop4 /mnt/my\\040data/sub xfs rw 0 0\n\
/dev/loop5 /mnt/my\\040data/sub/deeper ext2 rw 0 0\n\
/dev/loop6 /mnt/my\\040database ext4 rw 0 0\n\
broken\n";

    #[test]
    fn parses_and_unescapes() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 6);
        assert_eq!(m[2].mountpoint, "/mnt/my data");
        assert_eq!(m[2].device, "/dev/loop3");
        assert_eq!(m[2].fstype, "ext4");
        assert_eq!(unescape(r"a\134b\011c"), "a\\b\tc");
        assert_eq!(unescape(r"trailing\04"), r"trailing\04");
        assert_eq!(unescape(r"\777x"), r"\777x");
    }

    #[test]
    fn submounts_deepest_first_and_not_siblings() {
        let m = parse(SAMPLE);
        let subs: Vec<&str> = submounts(&m, "/mnt/my data")
            .iter()
            .map(|m| m.mountpoint.as_str())
            .collect();
        assert_eq!(subs, ["/mnt/my data/sub/deeper", "/mnt/my data/sub"]);
    }
}
