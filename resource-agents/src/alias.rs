//! IP alias labels (`eth0:0`, `eth0:1`, …) as heartbeat's `IPaddr` assigns them.

/// The highest alias number IPaddr tries (it gives up at 512).
pub const MAX_ALIASES: u32 = 512;

/// The lowest `nic:N` not among `used` labels.
pub fn next_free<'a>(nic: &str, used: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let prefix = format!("{nic}:");
    let taken: Vec<u32> = used
        .into_iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|n| n.parse().ok())
        .collect();
    (0..MAX_ALIASES)
        .find(|n| !taken.contains(n))
        .map(|n| format!("{nic}:{n}"))
        // Linux limits labels to IFNAMSIZ-1 bytes.
        .filter(|l| l.len() <= 15)
}

/// The interface part of a label (`eth0:1` → `eth0`).
pub fn base(label: &str) -> &str {
    label.split_once(':').map_or(label, |(b, _)| b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_number() {
        assert_eq!(next_free("eth0", []).as_deref(), Some("eth0:0"));
        assert_eq!(
            next_free("eth0", ["eth0", "eth0:0"]).as_deref(),
            Some("eth0:1")
        );
        assert_eq!(next_free("eth0", ["eth0:1"]).as_deref(), Some("eth0:0"));
        assert_eq!(
            next_free("eth0", ["eth0:0", "eth0:1", "eth0:x", "eth1:2"]).as_deref(),
            Some("eth0:2")
        );
        // Another interface's aliases don't count; a prefix of the name doesn't either.
        assert_eq!(
            next_free("eth", ["eth0:0", "eth:1"]).as_deref(),
            Some("eth:0")
        );
    }

    #[test]
    fn label_must_fit_ifnamsiz() {
        assert_eq!(
            next_free("abcdefghijklm", []).as_deref(),
            Some("abcdefghijklm:0")
        );
        assert_eq!(next_free("abcdefghijklmn", []), None);
    }

    #[test]
    fn base_of_label() {
        assert_eq!(base("eth0:3"), "eth0");
        assert_eq!(base("eth0"), "eth0");
    }
}
