//! Framing of the local control FIFO (`/var/lib/heartbeat/fifo`).
//!
//! The stock scripts (`ha_clustermsg`: `echo ">>>"; cat; echo "<<<"`) write
//! unsigned classic frames into one shared byte stream, so a reader needs to
//! find frame boundaries across `read()`s. Like glue's `msgfromstream`, lines
//! before a `>>>` line are skipped and a frame ends at the first `<<<` line.
//! Sans-IO: the caller feeds bytes and pulls messages.

use crate::codec::{parse_classic_unsigned, DecodeError, MAX_DATAGRAM};

#[derive(Debug, Default)]
pub struct FifoReader {
    buf: Vec<u8>,
}

impl FifoReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append bytes read from the FIFO.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, parsed, or `None` until more bytes arrive.
    /// A malformed or oversized frame yields one `Err` and is dropped; the
    /// buffer never holds more than about [`MAX_DATAGRAM`] bytes of one frame.
    pub fn next_message(&mut self) -> Option<Result<crate::Message, DecodeError>> {
        // Drop whole lines until one is exactly ">>>".
        loop {
            let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > MAX_DATAGRAM {
                    self.buf.clear(); // a line this long cannot start a frame
                }
                return None;
            };
            if self.buf.get(..nl) == Some(b">>>") {
                break;
            }
            self.buf.drain(..=nl);
        }
        match find_end(&self.buf) {
            Some(end) => {
                let frame: Vec<u8> = self.buf.drain(..end).collect();
                Some(parse_classic_unsigned(&frame))
            }
            None if self.buf.len() > MAX_DATAGRAM => {
                let len = self.buf.len();
                // Forget the ">>>" line: the rest of the runaway frame is
                // then skipped line by line up to the next ">>>".
                self.buf.drain(..4);
                Some(Err(DecodeError::TooLarge(len)))
            }
            None => None,
        }
    }
}

/// End (exclusive) of the frame at the start of `buf`: just past the first
/// `<<<\n` line after the `>>>\n` line.
fn find_end(buf: &[u8]) -> Option<usize> {
    let mut line_start = 4;
    loop {
        let rest = buf.get(line_start..)?;
        let nl = rest.iter().position(|&b| b == b'\n')?;
        if rest.get(..nl) == Some(b"<<<") {
            return Some(line_start + nl + 1);
        }
        line_start += nl + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_reads_and_noise_skipped() {
        let mut r = FifoReader::new();
        r.push(b"garbage\n>>>\nt=ask_resources\nrsc_");
        assert!(r.next_message().is_none());
        r.push(b"hold=all\ninfo=me\n<<<\n>>>\nt=hb_takeover\n<<<\n>>>\n");
        let m = r.next_message().unwrap().unwrap();
        assert_eq!(m.msg_type(), Some("ask_resources"));
        assert_eq!(m.get_str("rsc_hold"), Some("all"));
        assert_eq!(m.get_str("info"), Some("me"));
        let m = r.next_message().unwrap().unwrap();
        assert_eq!(m.msg_type(), Some("hb_takeover"));
        assert!(r.next_message().is_none());
    }

    #[test]
    fn bad_frame_is_reported_and_skipped() {
        let mut r = FifoReader::new();
        r.push(b">>>\nno equals sign\n<<<\n>>>\nt=x\n<<<\n");
        assert!(r.next_message().unwrap().is_err());
        assert_eq!(r.next_message().unwrap().unwrap().msg_type(), Some("x"));
    }

    #[test]
    fn runaway_frame_is_bounded() {
        let mut r = FifoReader::new();
        r.push(b">>>\n");
        let line = [b'a'; 1000];
        for _ in 0..70 {
            r.push(&line);
            r.push(b"=1\n");
        }
        assert!(matches!(
            r.next_message(),
            Some(Err(DecodeError::TooLarge(_)))
        ));
        assert!(r.next_message().is_none());
        r.push(b"<<<\n>>>\nt=ok\n<<<\n");
        assert_eq!(r.next_message().unwrap().unwrap().msg_type(), Some("ok"));
    }
}
