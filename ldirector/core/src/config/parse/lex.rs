//! Value rules of ldirectord's regexes: blanks, `key = value`, quoting,
//! first digit runs, block indentation.

pub(super) const SP: &str = r"[ \t\n\r\x0B\x0C]";

pub(super) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0B' | '\x0C')
}

pub(super) fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `^key\s*=\s*(.*)`: the value after `key =`.
pub(super) fn kv<'l>(line: &'l str, key: &str) -> Option<&'l str> {
    let rest = line.strip_prefix(key)?;
    let rest = rest.trim_start_matches(is_space).strip_prefix('=')?;
    Some(rest.trim_start_matches(is_space))
}

/// `"(.*)"` (greedy): the text between the first and the last quote, if the
/// value starts with a quote.
pub(super) fn quoted(v: &str) -> Option<&str> {
    let inner = v.strip_prefix('"')?;
    let end = inner.rfind('"')?;
    Some(&inner[..end])
}

/// The first run of ASCII digits anywhere in `v` (ldirectord's `/(\d+)/`).
pub(super) fn first_digits(v: &str) -> Option<&str> {
    let start = v.find(|c: char| c.is_ascii_digit())?;
    let rest = &v[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// First digit run as a number > 0 (ldirectord's `/(\d+)/ && $1`).
pub(super) fn positive(v: &str) -> Option<u64> {
    first_digits(v)?.parse::<u64>().ok().filter(|n| *n > 0)
}

pub(super) fn first_run(v: &str, pred: impl Fn(char) -> bool) -> Option<&str> {
    let start = v.find(&pred)?;
    let rest = &v[start..];
    let end = rest.find(|c: char| !pred(c)).unwrap_or(rest.len());
    Some(&rest[..end])
}

pub(super) fn yes_no(v: &str) -> Option<bool> {
    match v {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// `^ {4,}(.+)` on a comment-stripped, tab-expanded block line.
pub(super) fn block_command(s: &str) -> Option<&str> {
    let k = s.len() - s.trim_start_matches(' ').len();
    if k < 4 {
        return None;
    }
    if k < s.len() {
        Some(&s[k..])
    } else if k >= 5 {
        // All blanks: the regex backtracks and `.+` takes the last one.
        Some(&s[k - 1..])
    } else {
        None
    }
}

pub(super) fn split_commas(v: &str) -> Vec<&str> {
    v.split(',').map(|w| w.trim_matches(is_space)).collect()
}

pub(super) fn strip_brackets(s: &str) -> &str {
    s.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_command_follows_the_perl_regex() {
        assert_eq!(block_command("    real=x"), Some("real=x"));
        assert_eq!(block_command("        real=x"), Some("real=x"));
        assert_eq!(block_command("   real=x"), None);
        assert_eq!(block_command("    "), None);
        assert_eq!(block_command("      "), Some(" "));
        assert_eq!(block_command(""), None);
    }

    #[test]
    fn helpers_match_ldirectord_value_rules() {
        assert_eq!(kv("checkinterval = 5", "checkinterval"), Some("5"));
        assert_eq!(kv("checkintervalx=5", "checkinterval"), None);
        assert_eq!(quoted(r#""a" x "b""#), Some(r#"a" x "b"#));
        assert_eq!(quoted("abc"), None);
        assert_eq!(positive("x5y"), Some(5));
        assert_eq!(positive("0"), None);
        assert_eq!(positive("none"), None);
        assert_eq!(
            split_commas("starting , running"),
            vec!["starting", "running"]
        );
    }
}
