#!/usr/bin/env python3
"""Write the fuzz targets' seed corpus (fuzz/seeds/TARGET/*): a few well-formed inputs per
target, so the fuzzer starts inside each format instead of searching for its magic bytes.
Rerun after changing a target's input layout; keep the seeds small (kilobytes)."""
import gzip, json, os, struct, subprocess, zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def tlv(tag, value):
    return bytes([tag]) + struct.pack(">H", len(value)) + value


def frame(kind, rid, head=b"", body=b"", flags=0, codec=1, comp=0, status=0):
    hdr = b"\xee\x52\x01" + bytes([kind, flags, codec, comp, status])
    return hdr + struct.pack(">QII", rid, len(head), len(body)) + head + body


REQUEST_HEAD = (tlv(1, b"Greeter") + tlv(2, b"hello") + tlv(3, struct.pack(">Q", 1500000))
                + tlv(4, b"\x0dauthorizationBearer t0k3n") + tlv(4, b"\x08trace-idabc")
                + tlv(7, b"\x01\x03"))
STATUS_HEAD = tlv(5, b"no such thing") + tlv(6, b"\x00\x01details")
STREAM = b"".join([
    frame(0x01, 1, REQUEST_HEAD, b"\xa3ada"),
    frame(0x05, 9),
    frame(0x02, 1, STATUS_HEAD, status=5),
    frame(0x11, 3, b"", b"chunk", flags=1),
    frame(0x14, 3, b"", struct.pack(">Q", 7)),
    frame(0x01, 2, tlv(0x30, b"skip me") + REQUEST_HEAD, b""),
    frame(0x01, 4, tlv(0x80, b"critical"), b""),
    frame(0x03, 5, REQUEST_HEAD, b"\x00" * 300),  # over a 256-byte body limit
    frame(0x12, 3, b"", b""),
])
# max_body, max_head, max_metadata, max_discard (3 bytes), read sizes, stream
LIMITS = struct.pack(">HHB", 256, 1024, 8) + (4096).to_bytes(3, "big")
put("frame_decoder", "stream-whole", LIMITS + b"\x00" + STREAM)
put("frame_decoder", "stream-chunked", LIMITS + b"\x03" + struct.pack(">HHH", 1, 7, 24) + STREAM)
put("frame_decoder", "stream-tiny-limits",
    struct.pack(">HHB", 4, 16, 1) + (64).to_bytes(3, "big") + b"\x01\x00\x05" + STREAM)

put("head_block", "request", b"\x08" + REQUEST_HEAD)
put("head_block", "status", b"\x08" + STATUS_HEAD)
put("head_block", "unknown-and-critical", b"\x08" + tlv(0x30, b"x") + tlv(0x81, b"y"))


def mp(v):
    """A minimal MessagePack encoder: enough for the seeds."""
    if v is None:
        return b"\xc0"
    if isinstance(v, bool):
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        return bytes([v]) if 0 <= v < 128 else b"\xcf" + struct.pack(">Q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xA0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, (list, tuple)):
        return bytes([0x90 | len(v)]) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


INSTANCE = {"service": "greeter", "id": "node-1", "addrs": ["tcp://10.0.0.5:7001"], "weight": 100,
            "version": "2", "group": "canary", "tags": ["ssd"], "metadata": {"zone": "eu"},
            "location": [48.85, 2.35]}
VALUES = {
    "register": [INSTANCE, 10000],
    "discover": ["greeter", {"group": "canary", "version": None, "tags": ["ssd"]}],
    "watch": ["greeter", 12, 7],
    "lease": {"id": 3, "ttl_ms": 10000, "revision": 4},
    "listing": {"instances": [INSTANCE], "revision": 9, "epoch": 7},
    "config": {"entries": [["k", "v"]], "revision": 9, "epoch": 7},
    "event-registered": {"revision": 5, "change": {"Registered": INSTANCE}},
    "event-gone": {"revision": 6, "change": {"Deregistered": {"service": "greeter", "id": "node-1",
                                                             "reason": "lease expired"}}},
}
for name, v in VALUES.items():
    put("codec_json", name, json.dumps(v).encode())
    put("codec_msgpack", name, mp(v))

TEXT = b"".join(b"instance %d greeter tcp://10.0.0.%d:7001\n" % (i, i) for i in range(40))
put("decompress_gzip", "text", struct.pack(">H", 4096) + gzip.compress(TEXT))
put("decompress_gzip", "over-limit", struct.pack(">H", 100) + gzip.compress(TEXT))
put("decompress_zlib", "text", struct.pack(">H", 4096) + zlib.compress(TEXT))
put("decompress_zlib", "over-limit", struct.pack(">H", 100) + zlib.compress(TEXT))
zst = subprocess.run(["zstd", "-q", "-c"], input=TEXT, capture_output=True, check=True).stdout
put("decompress_zstd", "text", struct.pack(">H", 4096) + zst)
put("decompress_zstd", "over-limit", struct.pack(">H", 100) + zst)

# The structured targets (arbitrary's layout) start from plain bytes, each with a
# well-formed request frame inside for the UDP reader to find.
for t in ("stream_flow", "center_state", "udp_datagram"):
    put(t, "bytes", bytes(range(256)))
put("udp_datagram", "client-frame", b"\x01\x03" + b"\x00" * 16 + frame(0x01, 1, REQUEST_HEAD, b"\xa3ada"))
