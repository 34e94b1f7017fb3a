//! The hashing schedulers: ip_vs_sh (source hashing, 256 buckets filled by
//! weight), ip_vs_dh (destination hashing, 256 buckets, one per destination
//! in turn) and ip_vs_mh (Maglev, a 4093-slot table from per-destination
//! permutations, slots per destination proportional to weight).

use std::net::IpAddr;

use super::{addr_fold, ConnInfo, DestView, Flags};

const TAB_BITS: u32 = 8;
const TAB_SIZE: usize = 1 << TAB_BITS;

/// The kernel's `hash_32`: multiply by the golden ratio, keep the top bits.
fn hash_32(val: u32, bits: u32) -> u32 {
    val.wrapping_mul(0x61C8_8647) >> (32 - bits)
}

/// sh/mh treat a quiesced or overloaded destination as unavailable.
fn unavailable(d: &DestView) -> bool {
    d.weight == 0 || d.overloaded
}

#[derive(Debug)]
pub(super) struct ShTable {
    buckets: Vec<Option<usize>>,
}

impl ShTable {
    /// ip_vs_sh_reassign: walk the list, each destination taking `weight`
    /// consecutive buckets (at least one), wrapping until all 256 are taken.
    pub(super) fn new(dests: &[DestView]) -> Self {
        let mut buckets = vec![None; TAB_SIZE];
        if !dests.is_empty() {
            let (mut p, mut count) = (0usize, 0u32);
            for b in buckets.iter_mut() {
                *b = Some(p);
                count += 1;
                if count >= dests[p].weight {
                    p = (p + 1) % dests.len();
                    count = 0;
                }
            }
        }
        ShTable { buckets }
    }

    fn key(addr: &IpAddr, port: u16, offset: u32) -> usize {
        let h = hash_32(u32::from(port).wrapping_add(addr_fold(addr)), TAB_BITS);
        (offset.wrapping_add(h) as usize) & (TAB_SIZE - 1)
    }

    pub(super) fn schedule(
        &self,
        dests: &[DestView],
        conn: &ConnInfo,
        flags: Flags,
    ) -> Option<usize> {
        let addr = conn.client.ip();
        let port = if flags.port { conn.client.port() } else { 0 };
        let get =
            |offset: u32| -> Option<usize> { *self.buckets.get(Self::key(&addr, port, offset))? };
        let first = get(0)?;
        let d = dests.get(first)?;
        if !unavailable(d) {
            return Some(first);
        }
        if !flags.fallback {
            return None;
        }
        // Walk the table from the original bucket, deterministically.
        let ihash = Self::key(&addr, port, 0) as u32;
        for offset in 0..TAB_SIZE as u32 {
            let roffset = (offset + ihash) % TAB_SIZE as u32;
            let i = get(roffset)?;
            if !unavailable(dests.get(i)?) {
                return Some(i);
            }
        }
        None
    }
}

#[derive(Debug)]
pub(super) struct DhTable {
    buckets: Vec<Option<usize>>,
}

impl DhTable {
    pub(super) fn new(dests: &[DestView]) -> Self {
        let buckets = (0..TAB_SIZE)
            .map(|i| (!dests.is_empty()).then(|| i % dests.len()))
            .collect();
        DhTable { buckets }
    }

    pub(super) fn schedule(&self, dests: &[DestView], conn: &ConnInfo) -> Option<usize> {
        let h = hash_32(addr_fold(&conn.vip.ip()), TAB_BITS) as usize;
        let i = (*self.buckets.get(h)?)?;
        let d = dests.get(i)?;
        (d.weight > 0 && !d.overloaded).then_some(i)
    }
}

/// IPVS's default `CONFIG_IP_VS_MH_TAB_INDEX` 12: the 5th prime, 4093.
pub const MH_TAB_SIZE: usize = 4093;
/// `IP_VS_MH_TAB_BITS` (index / 2): weights are shifted to fit this many bits.
const MH_TAB_BITS: i32 = 6;
const MH_KEY1: (u64, u64) = (2654435761, 2654435761);
const MH_KEY2: (u64, u64) = (2654446892, 2654446892);

#[derive(Debug)]
pub(super) struct MhTable {
    lookup: Vec<Option<usize>>,
}

fn mh_hashkey(addr: &IpAddr, port: u16, key: (u64, u64), offset: u32) -> u32 {
    let v = offset
        .wrapping_add(u32::from(port))
        .wrapping_add(addr_fold(addr));
    // hsiphash on 64-bit kernels is SipHash-1-3 truncated to 32 bits.
    siphash(1, 3, key, &v.to_le_bytes()) as u32
}

fn fls(x: i64) -> i32 {
    64 - x.leading_zeros() as i32
}

impl MhTable {
    /// ip_vs_mh_permutate + ip_vs_mh_populate.
    pub(super) fn new(dests: &[DestView]) -> Self {
        let mut lookup = vec![None; MH_TAB_SIZE];
        let lw: Vec<i64> = dests.iter().map(|d| i64::from(d.last_weight)).collect();
        let g = lw
            .iter()
            .copied()
            .filter(|&w| w > 0)
            .fold(0, |g, w| if g > 0 { gcd(w, g) } else { w });
        if g < 1 || dests.len() > MH_TAB_SIZE {
            return MhTable { lookup };
        }
        let mw = lw.iter().copied().max().unwrap_or(0) / g;
        let rshift = (fls(mw) - MH_TAB_BITS).max(0);
        let size = MH_TAB_SIZE as u32;
        struct Setup {
            perm: u32,
            skip: u32,
            turns: i64,
        }
        let mut setup: Vec<Setup> = dests
            .iter()
            .zip(&lw)
            .map(|(d, &w)| {
                let ip = d.addr.ip();
                let offset = mh_hashkey(&ip, d.addr.port(), MH_KEY1, 0) % size;
                let skip = mh_hashkey(&ip, d.addr.port(), MH_KEY2, 0) % (size - 1) + 1;
                let t = (w / g) >> rshift;
                Setup {
                    perm: offset,
                    skip,
                    turns: if t != 0 { t } else { i64::from(w != 0) },
                }
            })
            .collect();
        let mut taken = vec![false; MH_TAB_SIZE];
        let mut n = 0usize;
        let mut dt_count = 0i64;
        'fill: while n < MH_TAB_SIZE {
            let mut p = 0usize;
            while p < setup.len() {
                let ds = &mut setup[p];
                if ds.turns < 1 {
                    p += 1;
                    continue;
                }
                while taken[ds.perm as usize] {
                    ds.perm += ds.skip;
                    if ds.perm >= size {
                        ds.perm -= size;
                    }
                }
                taken[ds.perm as usize] = true;
                lookup[ds.perm as usize] = Some(p);
                n += 1;
                if n == MH_TAB_SIZE {
                    break 'fill;
                }
                dt_count += 1;
                if dt_count >= ds.turns {
                    dt_count = 0;
                    p += 1;
                }
            }
        }
        MhTable { lookup }
    }

    fn slot(addr: &IpAddr, port: u16, offset: u32) -> usize {
        mh_hashkey(addr, port, MH_KEY1, offset) as usize % MH_TAB_SIZE
    }

    pub(super) fn schedule(
        &self,
        dests: &[DestView],
        conn: &ConnInfo,
        flags: Flags,
    ) -> Option<usize> {
        let addr = conn.client.ip();
        let port = if flags.port { conn.client.port() } else { 0 };
        let ihash = Self::slot(&addr, port, 0);
        let first = (*self.lookup.get(ihash)?)?;
        if !unavailable(dests.get(first)?) {
            return Some(first);
        }
        if !flags.fallback {
            return None;
        }
        for offset in 0..MH_TAB_SIZE {
            let roffset = ((offset + ihash) % MH_TAB_SIZE) as u32;
            let i = (*self.lookup.get(Self::slot(&addr, port, roffset))?)?;
            if !unavailable(dests.get(i)?) {
                return Some(i);
            }
        }
        None
    }

    /// Slots per destination index.
    #[cfg(test)]
    fn slots(&self, n: usize) -> Vec<usize> {
        let mut v = vec![0; n];
        for i in self.lookup.iter().flatten() {
            if let Some(c) = v.get_mut(*i) {
                *c += 1;
            }
        }
        v
    }
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// SipHash-c-d of `msg` with key (k0, k1), 64-bit output.
pub(super) fn siphash(c: usize, d: usize, key: (u64, u64), msg: &[u8]) -> u64 {
    let mut v = [
        key.0 ^ 0x736f_6d65_7073_6575,
        key.1 ^ 0x646f_7261_6e64_6f6d,
        key.0 ^ 0x6c79_6765_6e65_7261,
        key.1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13);
        v[1] ^= v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16);
        v[3] ^= v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21);
        v[3] ^= v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17);
        v[1] ^= v[2];
        v[2] = v[2].rotate_left(32);
    }
    let compress = |m: u64, v: &mut [u64; 4]| {
        v[3] ^= m;
        for _ in 0..c {
            round(v);
        }
        v[0] ^= m;
    };
    let chunks = msg.chunks_exact(8);
    let rest = chunks.remainder();
    for ch in chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(ch);
        compress(u64::from_le_bytes(b), &mut v);
    }
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    last[7] = msg.len() as u8;
    compress(u64::from_le_bytes(last), &mut v);
    v[2] ^= 0xff;
    for _ in 0..d {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    #[allow(deprecated)]
    fn siphash_2_4_matches_std() {
        use std::hash::{Hasher, SipHasher};
        for msg in [&b""[..], b"abc", b"12345678", b"0123456789abcdef!"] {
            let mut h = SipHasher::new_with_keys(7, 9);
            h.write(msg);
            assert_eq!(siphash(2, 4, (7, 9), msg), h.finish());
        }
    }

    #[test]
    fn mh_slots_follow_weights() {
        let dests: Vec<DestView> = [(1, 1), (2, 2), (3, 3)]
            .iter()
            .map(|&(n, w)| DestView::new(SocketAddr::from(([10, 0, 0, n], 80)), w))
            .collect();
        let t = MhTable::new(&dests);
        let slots = t.slots(3);
        assert_eq!(slots.iter().sum::<usize>(), MH_TAB_SIZE);
        // Filled round-robin by turns 1:2:3 until the table is full.
        for (i, s) in slots.iter().enumerate() {
            let expect = MH_TAB_SIZE * (i + 1) / 6;
            assert!(s.abs_diff(expect) <= 3, "dest {i}: {s} slots, ~{expect}");
        }
    }

    #[test]
    fn sh_buckets_follow_weights() {
        let dests: Vec<DestView> = [(1, 3), (2, 1), (3, 0)]
            .iter()
            .map(|&(n, w)| DestView::new(SocketAddr::from(([10, 0, 0, n], 80)), w))
            .collect();
        let t = ShTable::new(&dests);
        let mut count = [0; 3];
        for b in t.buckets.iter().flatten() {
            count[*b] += 1;
        }
        // Cycles of 3 + 1 + 1 (a zero weight still takes one bucket).
        assert_eq!(count, [154, 51, 51]);
    }
}
