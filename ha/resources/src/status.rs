//! How heartbeat decides from a `status` run whether a resource is ours.
//!
//! `ResourceManager`'s `we_own_resource` ignores the exit code and matches the
//! script's stdout with two shell `case` globs, in this order:
//! `*[Nn][Oo][Tt]\ *[Rr]unning*` → not ours, `*[Rr]unning*|*OK*` → ours,
//! anything else → not ours. Note the letter cases: only the first letter of
//! "running" is case-insensitive, `OK` must be upper case, and the `\ *` is a
//! space followed by a glob star, so "not" + space may be followed by any
//! text before "running" ("Not currently running" is *not* running).

/// Does this `status` output claim the resource is running here?
pub fn says_running(stdout: &str) -> bool {
    let b = stdout.as_bytes();
    if let Some(after_not) = first_not_space(b) {
        if find_running(&b[after_not..]) {
            return false;
        }
    }
    find_running(b) || contains(b, b"OK")
}

/// Index just past the first `[Nn][Oo][Tt] ` (the earliest one leaves the
/// longest tail, so it decides the glob).
fn first_not_space(b: &[u8]) -> Option<usize> {
    b.windows(4)
        .position(|w| {
            matches!(w[0], b'N' | b'n')
                && matches!(w[1], b'O' | b'o')
                && matches!(w[2], b'T' | b't')
                && w[3] == b' '
        })
        .map(|i| i + 4)
}

fn find_running(b: &[u8]) -> bool {
    b.windows(7)
        .any(|w| matches!(w[0], b'R' | b'r') && &w[1..] == b"unning")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::says_running;

    #[test]
    fn lsb_style_words() {
        assert!(says_running("hbtest is running\n"));
        assert!(says_running("Running"));
        assert!(says_running("OK"));
        assert!(says_running("status: OK (pid 12)"));
        assert!(!says_running("hbtest is stopped"));
        assert!(!says_running(""));
        assert!(!says_running("ok"));
    }

    #[test]
    fn not_running_wins_over_running() {
        assert!(!says_running("hbtest is not running"));
        assert!(!says_running("NOT running"));
        assert!(!says_running("Not currently Running, but OK"));
        assert!(!says_running("not\nthere... not running"));
    }

    #[test]
    fn globs_are_exactly_as_cased_in_the_script() {
        // Only the first letter of "running" is case-insensitive.
        assert!(!says_running("RUNNING"));
        // "not" must be followed by a space, otherwise it is just "running".
        assert!(says_running("notrunning"));
        assert!(says_running("knot-running"));
        // "not " before a newline-separated "running" still matches: `*`
        // crosses newlines in a shell case pattern.
        assert!(!says_running("not \nrunning"));
        // A "running" only before the "not " does not make it "not running".
        assert!(says_running("running, not stopped"));
    }
}
