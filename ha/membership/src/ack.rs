//! Flow-control ACK rules (`NS_ackmsg`), as heartbeat 3.0.6 applies them.
//!
//! A receiver acknowledges sender S's packet `seq` when `seq % 10` equals
//! the trigger it drew for S (0–9), and only while no packet before `seq` is
//! missing. A real heartbeat peer keeps up to 500 packets in its history and
//! stops its clients once 250 are unacknowledged, so these ACKs must come
//! exactly when heartbeat would send them.

/// `ACK_MSG_DIV`.
pub(crate) const ACK_MSG_DIV: u64 = 10;

/// `send_ack_if_needed`: ACK `seq` if it hits the trigger and nothing
/// before it is missing.
pub(crate) fn should_ack(seq: u64, trigger: u64, first_missing: Option<u64>) -> bool {
    if matches!(first_missing, Some(fm) if seq > fm) {
        return false;
    }
    seq % ACK_MSG_DIV == trigger
}

/// `is_lost_packet`: once the first missing packet `old_first_missing` is
/// found (or given up), ACK the highest trigger-matching seq below the next
/// hole, if it is not older than the hole that just closed.
pub(crate) fn ack_after_fill(
    old_first_missing: u64,
    new_first_missing: Option<u64>,
    last_seq: u64,
    trigger: u64,
) -> Option<u64> {
    let upto = match new_first_missing {
        Some(fm) => fm.checked_sub(1)?,
        None => last_seq,
    };
    let decade = upto / ACK_MSG_DIV;
    // Heartbeat computes this in unsigned arithmetic and wraps below 10; the
    // wrapped value never matches the trigger, so "no ACK" is the same result.
    let ack = if upto % ACK_MSG_DIV >= trigger {
        decade * ACK_MSG_DIV + trigger
    } else {
        decade.checked_sub(1)? * ACK_MSG_DIV + trigger
    };
    (ack >= old_first_missing && should_ack(ack, trigger, new_first_missing)).then_some(ack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_matches_only_its_decade_digit() {
        assert!(should_ack(1, 1, None));
        assert!(should_ack(11, 1, None));
        assert!(!should_ack(12, 1, None));
        assert!(should_ack(20, 0, None));
    }

    #[test]
    fn no_ack_beyond_a_hole() {
        assert!(!should_ack(13, 3, Some(12)));
        assert!(should_ack(13, 3, Some(14)));
        assert!(should_ack(13, 3, Some(13)));
    }

    #[test]
    fn fill_acks_highest_trigger_below_next_hole() {
        // Hole at 12 filled, nothing else missing, last seen 27, trigger 5:
        // ACK 25.
        assert_eq!(ack_after_fill(12, None, 27, 5), Some(25));
        // Next hole at 24: highest 5-ending seq below it is 15.
        assert_eq!(ack_after_fill(12, Some(24), 27, 5), Some(15));
        // Hole at 16 filled but next hole at 18: 15 < 16, nothing new to ACK.
        assert_eq!(ack_after_fill(16, Some(18), 27, 5), None);
        // Below the first decade: heartbeat's unsigned wrap means no ACK.
        assert_eq!(ack_after_fill(2, None, 5, 7), None);
        assert_eq!(ack_after_fill(1, Some(1), 5, 0), None);
    }
}
