//! `radius`: an Access-Request for `login`/`passwd` signed with `secret`
//! (Authen::Radius `check_pwd`). Like ldirectord any reply is up, an
//! Access-Reject too: only no answer (or one that fails the response
//! authenticator, i.e. a wrong secret) is down.

use md5::{Digest, Md5};

use ldirector::negotiate::Verdict;

use crate::net;
use crate::{CheckError, CheckOut, Ctx};

const ACCESS_REQUEST: u8 = 1;
const USER_NAME: u8 = 1;
const USER_PASSWORD: u8 = 2;
const NAS_IP_ADDRESS: u8 = 4;

/// RFC 2865 §5.2 password hiding.
fn hide_password(passwd: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Vec<u8> {
    let mut padded = passwd.to_vec();
    let len = padded.len().div_ceil(16).max(1) * 16;
    padded.resize(len.min(128), 0);
    let mut out = Vec::with_capacity(padded.len());
    let mut prev: Vec<u8> = authenticator.to_vec();
    for block in padded.chunks(16) {
        let mut h = Md5::new();
        h.update(secret);
        h.update(&prev);
        let key = h.finalize();
        let c: Vec<u8> = block.iter().zip(key.iter()).map(|(p, k)| p ^ k).collect();
        out.extend_from_slice(&c);
        prev = c;
    }
    out
}

fn attr(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    let value = value.get(..253).unwrap_or(value);
    out.push(kind);
    // ≤ 255 by the truncation above.
    out.push((value.len() + 2) as u8);
    out.extend_from_slice(value);
}

pub(crate) fn access_request(
    id: u8,
    authenticator: &[u8; 16],
    login: &str,
    passwd: &str,
    secret: &str,
    nas: Option<std::net::Ipv4Addr>,
) -> Vec<u8> {
    let mut attrs = Vec::new();
    attr(&mut attrs, USER_NAME, login.as_bytes());
    attr(
        &mut attrs,
        USER_PASSWORD,
        &hide_password(passwd.as_bytes(), secret.as_bytes(), authenticator),
    );
    if let Some(nas) = nas {
        attr(&mut attrs, NAS_IP_ADDRESS, &nas.octets());
    }
    let len = 20 + attrs.len();
    let mut p = vec![ACCESS_REQUEST, id];
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p.extend_from_slice(authenticator);
    p.extend_from_slice(&attrs);
    p
}

/// `Some(true)` for a reply to `id` with a valid authenticator,
/// `Some(false)` for one with a bad authenticator, `None` if not ours.
pub(crate) fn check_reply(
    reply: &[u8],
    id: u8,
    request_auth: &[u8; 16],
    secret: &str,
) -> Option<bool> {
    if reply.len() < 20 || reply.get(1) != Some(&id) {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*reply.get(2)?, *reply.get(3)?]));
    let packet = reply.get(..len)?;
    let mut h = Md5::new();
    h.update(packet.get(..4)?);
    h.update(request_auth);
    h.update(packet.get(20..)?);
    h.update(secret.as_bytes());
    Some(h.finalize().as_slice() == packet.get(4..20)?)
}

pub async fn check(ctx: &Ctx<'_>) -> CheckOut {
    let mut rnd = [0u8; 17];
    getrandom::getrandom(&mut rnd).map_err(|e| CheckError::Protocol(e.to_string()))?;
    let id = rnd[0];
    let mut auth = [0u8; 16];
    auth.copy_from_slice(&rnd[1..]);
    let s = net::udp_connect(ctx.target).await?;
    let nas = match s.local_addr()?.ip() {
        std::net::IpAddr::V4(a) => Some(a),
        std::net::IpAddr::V6(_) => None,
    };
    let n = ctx.n;
    let req = access_request(id, &auth, &n.login, &n.passwd, &n.secret, nas);
    s.send(&req).await?;
    let mut buf = vec![0u8; 4096];
    loop {
        let got = s.recv(&mut buf).await?;
        match check_reply(buf.get(..got).unwrap_or_default(), id, &auth, &n.secret) {
            Some(true) => {
                let code = buf.first().copied().unwrap_or(0);
                return Ok(Verdict::Up(format!("RADIUS reply code {code}")));
            }
            Some(false) => {
                return Ok(Verdict::Down(
                    "RADIUS reply with a bad authenticator (wrong secret?)".into(),
                ))
            }
            None => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hiding_roundtrips_and_replies_verify() {
        let auth = [7u8; 16];
        let hidden = hide_password(b"secretpassword-longer-than-16", b"s3cr3t", &auth);
        assert_eq!(hidden.len(), 32);
        // Unhide as a server does.
        let mut prev = auth.to_vec();
        let mut plain = Vec::new();
        for c in hidden.chunks(16) {
            let mut h = Md5::new();
            h.update(b"s3cr3t");
            h.update(&prev);
            plain.extend(c.iter().zip(h.finalize().iter()).map(|(a, b)| a ^ b));
            prev = c.to_vec();
        }
        assert!(plain.starts_with(b"secretpassword-longer-than-16\0"));

        let req = access_request(9, &auth, "u", "p", "s3cr3t", Some([127, 0, 0, 1].into()));
        assert_eq!(req[0], ACCESS_REQUEST);
        assert_eq!(usize::from(u16::from_be_bytes([req[2], req[3]])), req.len());
        let mut reply = vec![3u8, 9, 0, 20];
        let mut h = Md5::new();
        h.update(&reply[..4]);
        h.update(auth);
        h.update(b"s3cr3t");
        reply.extend_from_slice(&h.finalize());
        assert_eq!(check_reply(&reply, 9, &auth, "s3cr3t"), Some(true));
        assert_eq!(check_reply(&reply, 9, &auth, "wrong"), Some(false));
        assert_eq!(check_reply(&reply, 10, &auth, "s3cr3t"), None);
        assert_eq!(check_reply(&reply[..10], 9, &auth, "s3cr3t"), None);
    }
}
