//! Time values in `ha.cf`, read the way cluster-glue's `cl_get_msec` reads
//! them.
//!
//! A plain number is **seconds** and may have a fraction (`2`, `0.5`, `.5`).
//! A number directly followed by `ms`/`msec` is milliseconds, by `us`/`usec`
//! microseconds (units are case-insensitive, as in `cl_get_msec`). The result
//! is rounded to whole milliseconds half-up with the same `f64` arithmetic, so
//! `499us` is 0 ms and `501us` is 1 ms, exactly like heartbeat.
//!
//! Deliberately stricter than `cl_get_msec` where it accepts garbage that
//! no operator means: `1.2.3` (read as 1.2 s there) and unit suffixes that
//! merely *start* with `ms`/`us` (`5msfoo`) are errors here. `2s` and `500 ms`
//! are errors in both (heartbeat splits `500 ms` into two values and fails on
//! `ms`).

use std::time::Duration;

/// What [`parse_duration`] accepts, for error messages.
pub const ACCEPTED_FORMS: &str =
    "expected seconds (2, 0.5) or a number followed directly by ms, msec, us or usec (1500ms)";

/// Why a time value was refused. Display names the accepted forms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty time value: {ACCEPTED_FORMS}")]
    Empty,
    #[error("invalid time value \"{0}\": {ACCEPTED_FORMS}")]
    Invalid(String),
    #[error("invalid time value \"{0}\": no space is allowed between the number and its unit (write {1})")]
    SpaceBeforeUnit(String, String),
    #[error("time value \"{0}\" is too large")]
    TooLarge(String),
}

/// Parse one `ha.cf` time value (`keepalive`, `deadtime`, ...).
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim_matches(|c: char| c.is_ascii_whitespace());
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let num_len = s
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let (num, rest) = s.split_at(num_len);
    let unit = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
    if unit.len() != rest.len() && is_unit(unit) {
        return Err(DurationError::SpaceBeforeUnit(
            s.to_string(),
            format!("{num}{unit}"),
        ));
    }
    let invalid = || DurationError::Invalid(s.to_string());
    if !is_decimal(num) {
        return Err(invalid());
    }
    let (multiplier, divisor) = match unit.to_ascii_lowercase().as_str() {
        "" => (1000.0, 1.0),
        "ms" | "msec" => (1.0, 1.0),
        "us" | "usec" => (1.0, 1000.0),
        _ => return Err(invalid()),
    };
    // `atof` on a run of digits with at most one dot; Rust's parser is
    // correctly rounded like glibc's strtod, so the arithmetic matches.
    let value: f64 = if num == "." {
        0.0
    } else {
        let padded = if num.starts_with('.') {
            format!("0{num}")
        } else {
            num.to_string()
        };
        padded.parse().map_err(|_| invalid())?
    };
    let ms = (value * multiplier / divisor + 0.5).trunc();
    // Heartbeat keeps milliseconds in a C `long`; anything past that is
    // undefined behaviour there and nonsense here.
    if !ms.is_finite() || ms >= i64::MAX as f64 {
        return Err(DurationError::TooLarge(s.to_string()));
    }
    Ok(Duration::from_millis(ms as u64))
}

pub(crate) fn is_unit(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "ms" | "msec" | "us" | "usec"
    )
}

/// Digits with at most one dot, and at least one digit or a lone dot
/// (`cl_get_msec` takes `.` as 0).
fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().filter(|b| *b == b'.').count() <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> u128 {
        parse_duration(s)
            .map(|d| d.as_millis())
            .unwrap_or(u128::MAX)
    }

    #[test]
    fn plain_numbers_are_seconds() {
        assert_eq!(ms("1"), 1000);
        assert_eq!(ms("30"), 30_000);
        assert_eq!(ms("0.5"), 500);
        assert_eq!(ms(".5"), 500);
        assert_eq!(ms("5."), 5000);
        assert_eq!(ms("0.001"), 1);
        assert_eq!(ms("0"), 0);
    }

    #[test]
    fn suffixes_like_cl_get_msec() {
        assert_eq!(ms("1500ms"), 1500);
        assert_eq!(ms("1500msec"), 1500);
        assert_eq!(ms("200MS"), 200);
        assert_eq!(ms("1000000us"), 1000);
        assert_eq!(ms("1000usec"), 1);
        assert_eq!(ms("499us"), 0);
        assert_eq!(ms("501us"), 1);
        assert_eq!(ms("0.5ms"), 1);
    }

    #[test]
    fn heartbeat_rejections_are_rejected() {
        for bad in [
            "2s", "2sec", "-1", "", "  ", "ms", "abc", "1.2.3", "5msfoo", "1e3",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn messages_name_the_accepted_forms() {
        let e = parse_duration("2s").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid time value \"2s\": expected seconds (2, 0.5) or a number followed \
             directly by ms, msec, us or usec (1500ms)"
        );
        let e = parse_duration("500 ms").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid time value \"500 ms\": no space is allowed between the number and its \
             unit (write 500ms)"
        );
        assert!(parse_duration("")
            .unwrap_err()
            .to_string()
            .contains("ms, msec, us or usec"));
    }

    #[test]
    fn absurd_values_do_not_overflow() {
        let huge = "9".repeat(400);
        assert!(matches!(
            parse_duration(&huge),
            Err(DurationError::TooLarge(_))
        ));
        assert!(parse_duration("99999999999999999999").is_err());
    }
}
