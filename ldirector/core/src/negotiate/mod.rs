//! The pure half of negotiate checks: the bytes ldirectord's check sends and
//! how it judges what comes back. The shell owns the sockets, TLS and
//! timeouts and feeds bytes in.
//!
//! Covered: http/https/http_proxy ([`http`]), nntp, simpletcp, sip, and the
//! smtp/submission, pop, imap line dialogs ([`Dialog`]). ftp, dns, ldap,
//! radius, mysql and pgsql keep their small codecs next to their I/O in
//! `ld-checks`; oracle is not supported.

pub mod http;

use regex::Regex;

use crate::config::Service;

/// Result of a finished check, with ldirectord's log text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Up(String),
    Down(String),
}

impl Verdict {
    pub fn is_up(&self) -> bool {
        matches!(self, Verdict::Up(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NegotiateError {
    #[error("service {0:?} is not an HTTP service")]
    NotHttp(Service),
    #[error("invalid URL {0:?}")]
    BadUrl(String),
    #[error("service {0:?} has no line dialog")]
    NoDialog(Service),
}

/// `text =~ /receive/` as Perl sees it: Perl's `$` also matches before a
/// final newline (the body of a page, a line read with `<$sock>`), Rust's
/// only at the very end. So a text ending in `\n` is tried without it too.
pub fn perl_match(receive: &Regex, text: &str) -> bool {
    receive.is_match(text) || text.strip_suffix('\n').is_some_and(|t| receive.is_match(t))
}

/// `check_nntp`: up when the first read (≤ 64 bytes) starts with `2`.
pub fn judge_nntp(banner: &[u8]) -> Verdict {
    let head = &banner[..banner.len().min(64)];
    if head.first() == Some(&b'2') {
        Verdict::Up(String::from_utf8_lossy(head).trim_end().to_string())
    } else {
        Verdict::Down(String::from_utf8_lossy(head).trim_end().to_string())
    }
}

/// `check_simpletcp`: the request without its leading `/`, literal `\n`
/// turned into newlines; the write side is shut down after it.
pub fn simpletcp_request(request: &str) -> Vec<u8> {
    let r = request.strip_prefix('/').unwrap_or(request);
    r.replace("\\n", "\n").into_bytes()
}

/// `check_simpletcp`: up when a received line matches `receive`.
pub fn judge_simpletcp(receive: &Regex, response: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(response);
    match text.split_inclusive('\n').find(|l| perl_match(receive, l)) {
        Some(l) => Verdict::Up(l.trim_end().to_string()),
        None => Verdict::Down("No OK".into()),
    }
}

/// `check_sip`: an OPTIONS request from the local address of the
/// connection. `call_id` is random in ldirectord (16 hex digits); the shell
/// supplies it so this stays deterministic.
pub fn sip_request(login: &str, local: std::net::SocketAddr, call_id: &str) -> Vec<u8> {
    let local_ip = crate::config::fmt_ip(local.ip());
    format!(
        "OPTIONS sip:{login} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local_ip}:{port};branch=z9hG4bKhjhs8ass877\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:{login}>\r\n\
         From: <sip:{login}>;tag=1928301774\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 63104 OPTIONS\r\n\
         Contact: <sip:{login}>\r\n\
         Accept: application/sdp\r\n\
         Content-Length: 0\r\n\r\n",
        port = local.port()
    )
    .into_bytes()
}

/// Longest SIP status line [`judge_sip`] waits for: the callers append
/// reads to one buffer until it decides, so this bounds both the buffer and
/// the rescans.
pub const MAX_STATUS_LINE: usize = 8 * 1024;

/// `check_sip`: up when the first line starts with `SIP/2.0 200 OK`. `None`
/// while the first line is incomplete.
pub fn judge_sip(response: &[u8]) -> Option<Verdict> {
    let head = response.get(..MAX_STATUS_LINE).unwrap_or(response);
    let Some(end) = head.iter().position(|b| *b == b'\n') else {
        return (response.len() >= MAX_STATUS_LINE)
            .then(|| Verdict::Down(format!("no status line in {MAX_STATUS_LINE} bytes")));
    };
    let line = String::from_utf8_lossy(&response[..end]);
    let line = line.trim_end_matches('\r').to_string();
    Some(if line.starts_with("SIP/2.0 200 OK") {
        Verdict::Up(line)
    } else {
        Verdict::Down(line)
    })
}

/// What a line-based check does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialogStep {
    Send(Vec<u8>),
    /// Waiting for more bytes.
    Wait,
    /// Finished; if the verdict is up, send `quit` (best effort) and close.
    Done {
        verdict: Verdict,
        quit: Vec<u8>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// SMTP reply: multi-line `NNN-` until `NNN `, success = 2xx.
    Smtp2xx,
    /// POP3 `+OK`.
    PopOk,
    /// IMAP greeting `* OK` (or `* PREAUTH`).
    ImapGreeting,
    /// IMAP tagged `a1 OK`.
    ImapTagged,
}

/// Most a [`Dialog`] buffers while waiting for one reply (a greeting with
/// its continuation lines, IMAP untagged data). Real replies are a few
/// hundred bytes; without a cap a server sending an endless line would grow
/// the buffer and rescan it on every read.
pub const MAX_REPLY: usize = 64 * 1024;

/// The smtp/submission, pop and imap checks as a dialog over lines: what
/// Net::SMTP, Mail::POP3Client and Net::IMAP::Simple do for ldirectord
/// (greeting; EHLO with a HELO fallback; USER/PASS or LOGIN when `login` is
/// set).
#[derive(Clone, Debug)]
pub struct Dialog {
    steps: Vec<(Option<Vec<u8>>, Expect)>,
    /// Sent instead of failing when the current step is refused (HELO after EHLO).
    fallback: Option<Vec<u8>>,
    quit: Vec<u8>,
    buf: Vec<u8>,
    started: bool,
}

impl Dialog {
    /// `hello` is the EHLO/HELO domain (Net::SMTP's default is
    /// `localhost.localdomain`).
    pub fn new(
        service: Service,
        login: &str,
        passwd: &str,
        hello: &str,
    ) -> Result<Dialog, NegotiateError> {
        let line = |s: String| Some(format!("{s}\r\n").into_bytes());
        let (steps, fallback, quit) = match service {
            Service::Smtp | Service::Submission => (
                vec![
                    (None, Expect::Smtp2xx),
                    (line(format!("EHLO {hello}")), Expect::Smtp2xx),
                ],
                line(format!("HELO {hello}")),
                b"QUIT\r\n".to_vec(),
            ),
            Service::Pop | Service::Pops => {
                let mut s = vec![(None, Expect::PopOk)];
                if !login.is_empty() {
                    s.push((line(format!("USER {login}")), Expect::PopOk));
                    s.push((line(format!("PASS {passwd}")), Expect::PopOk));
                }
                (s, None, b"QUIT\r\n".to_vec())
            }
            Service::Imap | Service::Imaps => {
                let mut s = vec![(None, Expect::ImapGreeting)];
                if !login.is_empty() {
                    s.push((
                        line(format!(
                            "a1 LOGIN {} {}",
                            imap_quote(login),
                            imap_quote(passwd)
                        )),
                        Expect::ImapTagged,
                    ));
                }
                (s, None, b"a2 LOGOUT\r\n".to_vec())
            }
            other => return Err(NegotiateError::NoDialog(other)),
        };
        Ok(Dialog {
            steps,
            fallback,
            quit,
            buf: Vec::new(),
            started: false,
        })
    }

    /// Call once after connecting (and after the TLS handshake for
    /// pops/imaps), then with every chunk received.
    pub fn on_data(&mut self, data: &[u8]) -> DialogStep {
        if !self.started {
            self.started = true;
            if let Some((Some(send), _)) = self.steps.first() {
                return DialogStep::Send(send.clone());
            }
        }
        self.buf.extend_from_slice(data);
        let Some((_, expect)) = self.steps.first().cloned() else {
            return self.done(Verdict::Up("OK".into()));
        };
        let reply = match scan_reply(&self.buf, expect) {
            Scan::Reply(reply, used) => {
                self.buf.drain(..used);
                reply
            }
            Scan::Partial(skip) => {
                // Lines before the last of a reply are never looked at
                // again: drop them so that each read costs its own size.
                self.buf.drain(..skip);
                if self.buf.len() > MAX_REPLY {
                    return self.done(Verdict::Down(format!(
                        "no complete line in {MAX_REPLY} bytes"
                    )));
                }
                return DialogStep::Wait;
            }
        };
        let ok = match expect {
            Expect::Smtp2xx => reply.starts_with('2'),
            Expect::PopOk => reply.starts_with("+OK"),
            Expect::ImapGreeting => reply.starts_with("* OK") || reply.starts_with("* PREAUTH"),
            Expect::ImapTagged => reply.starts_with("a1 OK"),
        };
        if !ok {
            if let (Some(f), true) = (self.fallback.take(), self.steps.len() == 1) {
                return DialogStep::Send(f);
            }
            return self.done(Verdict::Down(reply));
        }
        self.steps.remove(0);
        self.fallback = self.fallback.take().filter(|_| self.steps.len() == 1);
        match self.steps.first() {
            None => self.done(Verdict::Up(reply)),
            Some((Some(send), _)) => DialogStep::Send(send.clone()),
            Some((None, _)) => DialogStep::Wait,
        }
    }

    fn done(&self, verdict: Verdict) -> DialogStep {
        DialogStep::Done {
            verdict,
            quit: self.quit.clone(),
        }
    }
}

fn imap_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

enum Scan {
    /// A complete reply: its last line and the bytes it used.
    Reply(String, usize),
    /// No complete reply yet; this many leading bytes are whole lines that
    /// only continue it (SMTP `NNN-`, IMAP untagged data).
    Partial(usize),
}

/// The next complete reply in `buf` for `expect`.
fn scan_reply(buf: &[u8], expect: Expect) -> Scan {
    let mut used = 0;
    loop {
        let rest = buf.get(used..).unwrap_or_default();
        let Some(end) = rest.iter().position(|b| *b == b'\n') else {
            return Scan::Partial(used);
        };
        let line = rest.get(..end).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        used += end + 1;
        match expect {
            Expect::Smtp2xx if line.len() > 3 && line.get(3) == Some(&b'-') => continue,
            Expect::ImapTagged if line.starts_with(b"*") => continue,
            _ => return Scan::Reply(String::from_utf8_lossy(line).into_owned(), used),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nntp_simpletcp_sip() {
        assert!(judge_nntp(b"200 news.example.com InterNetNews ready\r\n").is_up());
        assert!(!judge_nntp(b"502 no permission\r\n").is_up());
        assert!(!judge_nntp(b"").is_up());
        assert_eq!(simpletcp_request("/PING\\nQUIT"), b"PING\nQUIT".to_vec());
        let re = Regex::new("^\\+PONG").unwrap();
        assert!(judge_simpletcp(&re, b"hello\r\n+PONG\r\n").is_up());
        assert!(!judge_simpletcp(&re, b"-ERR\r\n").is_up());
        // Perl's `$` before the line's newline.
        let re = Regex::new("^PONG$").unwrap();
        assert!(judge_simpletcp(&re, b"x\nPONG\ny\n").is_up());
        assert!(perl_match(&Regex::new("ok\n$").unwrap(), "ok\n"));
        assert!(!perl_match(&re, "PONG\n\n"));
        let req = sip_request(
            "ldirectord@h",
            "10.0.0.1:5070".parse().unwrap(),
            "0011223344556677",
        );
        let req = String::from_utf8(req).unwrap();
        assert!(req.starts_with("OPTIONS sip:ldirectord@h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKhjhs8ass877\r\n"));
        assert!(req.ends_with("Content-Length: 0\r\n\r\n"));
        assert_eq!(judge_sip(b"SIP/2.0 200"), None);
        assert!(judge_sip(b"SIP/2.0 200 OK\r\nVia: x\r\n").unwrap().is_up());
        assert!(!judge_sip(b"SIP/2.0 404 Not Found\r\n").unwrap().is_up());
    }

    fn run(d: &mut Dialog, replies: &[&[u8]]) -> (Vec<String>, DialogStep) {
        let mut sent = Vec::new();
        let mut step = d.on_data(b"");
        let mut it = replies.iter();
        loop {
            match step {
                DialogStep::Send(b) => {
                    sent.push(String::from_utf8(b).unwrap());
                    step = d.on_data(b"");
                }
                DialogStep::Wait => match it.next() {
                    Some(r) => step = d.on_data(r),
                    None => return (sent, DialogStep::Wait),
                },
                done => return (sent, done),
            }
        }
    }

    #[test]
    fn smtp_ehlo_then_helo_fallback() {
        let mut d = Dialog::new(Service::Smtp, "", "", "localhost.localdomain").unwrap();
        let (sent, step) = run(
            &mut d,
            &[
                b"220-mx ESMTP\r\n220 ready\r\n",
                b"250-mx\r\n250 8BITMIME\r\n",
            ],
        );
        assert_eq!(sent, vec!["EHLO localhost.localdomain\r\n"]);
        assert_eq!(
            step,
            DialogStep::Done {
                verdict: Verdict::Up("250 8BITMIME".into()),
                quit: b"QUIT\r\n".to_vec()
            }
        );
        let mut d = Dialog::new(Service::Submission, "", "", "h").unwrap();
        let (sent, step) = run(
            &mut d,
            &[b"220 old smtp\r\n", b"502 what\r\n", b"250 hi\r\n"],
        );
        assert_eq!(sent, vec!["EHLO h\r\n", "HELO h\r\n"]);
        assert!(matches!(
            step,
            DialogStep::Done {
                verdict: Verdict::Up(_),
                ..
            }
        ));
        let mut d = Dialog::new(Service::Smtp, "", "", "h").unwrap();
        let (_, step) = run(&mut d, &[b"554 go away\r\n"]);
        assert!(matches!(
            step,
            DialogStep::Done {
                verdict: Verdict::Down(_),
                ..
            }
        ));
    }

    #[test]
    fn endless_lines_end_the_check_instead_of_growing_the_buffer() {
        let mut d = Dialog::new(Service::Smtp, "", "", "h").unwrap();
        assert_eq!(d.on_data(&[]), DialogStep::Wait);
        let junk = [b'x'; 4096];
        let mut fed = 0;
        let step = loop {
            match d.on_data(&junk) {
                DialogStep::Wait => fed += junk.len(),
                other => break other,
            }
            assert!(fed <= MAX_REPLY, "still waiting after {fed} bytes");
        };
        assert!(matches!(
            step,
            DialogStep::Done { verdict: Verdict::Down(ref why), .. } if why.contains("no complete line")
        ));
        assert!(d.buf.len() <= MAX_REPLY + junk.len());

        // Endless continuation lines are dropped as they come (the
        // check's timeout ends such a dialog).
        let mut d = Dialog::new(Service::Smtp, "", "", "h").unwrap();
        d.on_data(&[]);
        for _ in 0..10_000 {
            assert_eq!(d.on_data(b"220-more\r\n220-and m"), DialogStep::Wait);
            assert!(d.buf.len() < 64, "{} bytes kept", d.buf.len());
            assert_eq!(d.on_data(b"ore\r\n"), DialogStep::Wait);
        }
        assert!(matches!(
            d.on_data(b"220 done\r\n"),
            DialogStep::Send(ref b) if b.starts_with(b"EHLO")
        ));

        let long = vec![b'S'; MAX_STATUS_LINE];
        assert_eq!(judge_sip(&long[..MAX_STATUS_LINE - 1]), None);
        assert!(matches!(judge_sip(&long), Some(Verdict::Down(_))));
    }

    #[test]
    fn pop_and_imap_login() {
        let mut d = Dialog::new(Service::Pop, "u", "p", "h").unwrap();
        let (sent, step) = run(&mut d, &[b"+OK POP3\r\n", b"+OK\r\n", b"-ERR bad\r\n"]);
        assert_eq!(sent, vec!["USER u\r\n", "PASS p\r\n"]);
        assert_eq!(
            step,
            DialogStep::Done {
                verdict: Verdict::Down("-ERR bad".into()),
                quit: b"QUIT\r\n".to_vec()
            }
        );
        let mut d = Dialog::new(Service::Pop, "", "", "h").unwrap();
        let (sent, step) = run(&mut d, &[b"+OK ready\r\n"]);
        assert!(sent.is_empty());
        assert!(matches!(
            step,
            DialogStep::Done {
                verdict: Verdict::Up(_),
                ..
            }
        ));
        let mut d = Dialog::new(Service::Imap, "u\"x", "p", "h").unwrap();
        let (sent, step) = run(
            &mut d,
            &[
                b"* OK IMAP4rev1\r\n",
                b"* CAPABILITY IMAP4rev1\r\na1 OK done\r\n",
            ],
        );
        assert_eq!(sent, vec!["a1 LOGIN \"u\\\"x\" \"p\"\r\n"]);
        assert!(matches!(
            step,
            DialogStep::Done {
                verdict: Verdict::Up(_),
                ..
            }
        ));
        assert!(matches!(
            Dialog::new(Service::Dns, "", "", "h"),
            Err(NegotiateError::NoDialog(Service::Dns))
        ));
    }
}
