#!/usr/bin/env python3
"""Cut heartbeat UDP/694 payloads out of a classic pcap (Ethernet, IPv4).

    pcap-extract.py capture.pcap OUTDIR [--select]

Writes OUTDIR/NNNN.bin per datagram and prints one line per datagram with the
fields that classify it. With --select it keeps only the first datagram of each
distinct (t, st, info, rsc_hold, dest relation, src) kind,
plus every crc datagram whose trailer digest is shorter than 8 hex digits,, named after the kind,
which is how the committed goldens were chosen. Payload bytes are written
untouched: the goldens must be exactly what heartbeat sent.
"""
import os
import re
import struct
import sys


def udp_payloads(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        sys.exit(f"unsupported linktype {linktype}")
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(frame) < 14 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 17 or struct.unpack(">H", ip[6:8])[0] & 0x3FFF:
            continue  # not UDP, or a fragment
        total = struct.unpack(">H", ip[2:4])[0]
        udp = ip[ihl:total]
        sport, dport, ulen = struct.unpack(">HHH", udp[:6])
        if 694 in (sport, dport):
            yield udp[8:ulen]


def fields(payload):
    """Top-level string fields of a netstring datagram (classification only)."""
    out = {}
    if not payload.startswith(b"###\n"):
        return out
    i = 4
    while i < len(payload) and not payload.startswith(b"%%%\n", i):
        m = re.match(rb"(\d+):", payload[i:i + 12])
        if not m:
            break
        n = int(m.group(1))
        item = payload[i + len(m.group(0)):i + len(m.group(0)) + n]
        i += len(m.group(0)) + n + 1
        tm = re.match(rb"\((\d)\)([^=]*)=", item)
        if tm and tm.group(1) == b"0":
            out.setdefault(tm.group(2).decode(), item[tm.end():].decode("latin-1"))
    return out


def kind(f):
    parts = [f.get("t", "?")]
    for k in ("st", "info", "rsc_hold"):
        if k in f:
            parts.append(f[k])
    if "dest" in f:
        parts.append("self" if f["dest"] == f.get("src") else "directed")
    return "-".join(re.sub(r"[^A-Za-z0-9_]+", "", p.replace("-", "_")) or "x" for p in parts)


def main():
    pcap, outdir = sys.argv[1], sys.argv[2]
    select = "--select" in sys.argv
    os.makedirs(outdir, exist_ok=True)
    seen = set()
    for n, p in enumerate(udp_payloads(pcap)):
        f = fields(p)
        k = kind(f) + "-" + re.sub(r"[^A-Za-z0-9]", "", f.get("src", "x"))
        # %lx prints crc without zero padding: keep the short ones on purpose.
        trailer = p.rsplit(b"%%%\n", 1)[-1]
        m = re.match(rb"\d+:\d+ ([0-9a-f]+),", trailer)
        if m and len(m.group(1)) < 8:
            k += "-short_digest"
        print(f"{n:04d} {len(p):4d} {k} src={f.get('src')} seq={f.get('seq')}")
        if select:
            if k in seen:
                continue
            seen.add(k)
            name = f"{k}.bin"
        else:
            name = f"{n:04d}.bin"
        with open(os.path.join(outdir, name), "wb") as out:
            out.write(p)


if __name__ == "__main__":
    main()
