//! Entry points for the fuzz targets (`fuzz/`): every parser here that
//! reads a server's bytes, driven the way the checks drive it. Not an API.

use std::sync::LazyLock;

use bytes::BytesMut;
use regex::Regex;

/// FTP: replies split off a control-connection buffer, and the passive
/// ports taken from each.
pub fn ftp(data: &[u8]) {
    let mut buf = data;
    while let Some((code, line, used)) = crate::ftp::parse_reply(buf) {
        assert!(code <= 999 && used > 0 && used <= buf.len());
        let _ = crate::ftp::pasv_port(&line);
        let _ = crate::ftp::epsv_port(&line);
        buf = buf.get(used..).unwrap_or_default();
    }
    let text = String::from_utf8_lossy(data);
    let _ = crate::ftp::pasv_port(&text);
    let _ = crate::ftp::epsv_port(&text);
}

/// LDAP: BER messages split off a buffer, each read as a response.
pub fn ldap(data: &[u8]) {
    let mut buf = data;
    while let Ok(Some((_, _, used))) = crate::ldap::read_tlv(buf) {
        assert!(used > 0 && used <= buf.len());
        if let Some(msg) = buf.get(..used) {
            if let Ok((_, content)) = crate::ldap::op_of(msg) {
                let _ = crate::ldap::result_of(content);
                let _ = crate::ldap::read_tlv(content);
            }
        }
        buf = buf.get(used..).unwrap_or_default();
    }
}

/// MySQL: packets split off a buffer; the first as a greeting, all as
/// error and length-encoded fields.
pub fn mysql(data: &[u8]) {
    let _ = crate::mysql::parse_greeting(data);
    let mut buf = data.to_vec();
    let mut first = true;
    while let Some((_, p)) = crate::mysql::take_packet(&mut buf) {
        if first {
            if let Ok(g) = crate::mysql::parse_greeting(&p) {
                let _ = crate::mysql::native_password(b"pw", &g.scramble);
                let _ = crate::mysql::caching_sha2(b"pw", &g.scramble);
            }
            first = false;
        }
        let _ = crate::mysql::err_text(&p);
        let _ = crate::mysql::lenenc(p.get(1..).unwrap_or_default());
    }
}

/// PostgreSQL: backend messages split off a buffer.
pub fn pgsql(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(_)) = crate::pgsql::parse_message(&mut buf) {}
}

/// RADIUS: a reply checked against a fixed request.
pub fn radius(data: &[u8]) {
    let id = data.get(1).copied().unwrap_or(0);
    let _ = crate::radius::check_reply(data, id, &[7; 16], "secret");
}

/// DNS: a reply parsed and judged against a pattern.
pub fn dns(data: &[u8]) {
    static RECEIVE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new("^1").ok());
    if let (Ok(m), Some(re)) = (crate::dns::parse(data), RECEIVE.as_ref()) {
        let _ = crate::dns::judge(&m, re);
    }
}

/// ICMP: an echo reply as each kind of socket delivers it.
pub fn icmp(data: &[u8]) {
    for (raw, v6) in [(true, false), (true, true), (false, false), (false, true)] {
        let _ = crate::ping::parse_echo_reply(data, raw, v6, 0x1234);
    }
}
