#!/usr/bin/env python3
"""An erpc client written from PROTOCOL.md alone (standard library only, JSON codec).

Usage: client.py HOST PORT. Exits 0 when every check passes; prints what it did.
"""
import gzip
import json
import socket
import struct
import sys

MAGIC, VERSION = b"\xee\x52", 1
REQUEST, RESPONSE, ONEWAY, CANCEL, PING, PONG, GOAWAY, ERROR = range(1, 9)
STREAM_OPEN, STREAM_DATA, STREAM_END, STREAM_WINDOW, STREAM_GAP = range(0x10, 0x15)
RAW, JSON = 0, 2
NO_COMPRESSION, GZIP = 0, 1
TAG_SERVICE, TAG_METHOD, TAG_DEADLINE, TAG_METADATA, TAG_MESSAGE, TAG_DETAILS = range(1, 7)
TAG_ACCEPT_COMPRESSION = 7


def field(tag, value):
    return struct.pack(">BH", tag, len(value)) + value


def frame(kind, request_id, head=b"", body=b"", codec=JSON, compression=0, status=0):
    header = MAGIC + struct.pack(
        ">BBBBBBQII", VERSION, kind, 0, codec, compression, status, request_id, len(head), len(body)
    )
    return header + head + body


def call_head(service, method, deadline_us=2_000_000, metadata=(), accept=()):
    head = field(TAG_SERVICE, service.encode()) + field(TAG_METHOD, method.encode())
    head += field(TAG_DEADLINE, struct.pack(">Q", deadline_us))
    for key, value in metadata:
        head += field(TAG_METADATA, bytes([len(key)]) + key.encode() + value.encode())
    if accept:
        # Section 6: what the call asks for first, then what else it accepts.
        head += field(TAG_ACCEPT_COMPRESSION, bytes(accept))
    return head


def request(kind, request_id, service, method, arg, deadline_us=2_000_000, metadata=(), accept=()):
    head = call_head(service, method, deadline_us, metadata, accept)
    return frame(kind, request_id, head, json.dumps(arg).encode())


def stream_open(request_id, service, method):
    """STREAM_OPEN: a request's header block and no body (section 13)."""
    return frame(STREAM_OPEN, request_id, call_head(service, method))


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("server closed the connection")
        data += chunk
    return data


def read_frame(sock):
    header = read_exact(sock, 24)
    assert header[:2] == MAGIC, header
    version, kind, _flags, codec, compression, status, request_id, head_len, body_len = struct.unpack(
        ">BBBBBBQII", header[2:]
    )
    assert version == VERSION
    head = read_exact(sock, head_len)
    body = read_exact(sock, body_len)
    fields, at = {}, 0
    while at < len(head):
        tag, length = struct.unpack(">BH", head[at : at + 3])
        fields.setdefault(tag, []).append(head[at + 3 : at + 3 + length])
        at += 3 + length
    return dict(
        kind=kind, codec=codec, compression=compression, status=status, id=request_id,
        fields=fields, body=body,
    )


def read_reply(sock):
    """The next frame that is not a heartbeat; answers pings on the way."""
    while True:
        f = read_frame(sock)
        if f["kind"] == PING:
            sock.sendall(frame(PONG, f["id"]))
            continue
        return f


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    sock = socket.create_connection((host, port), timeout=10)

    # A unary call: Echo.len("hello") -> 5
    sock.sendall(request(REQUEST, 1, "Echo", "len", "hello"))
    reply = read_reply(sock)
    assert (reply["kind"], reply["id"], reply["status"]) == (RESPONSE, 1, 0), reply
    assert reply["codec"] == JSON and json.loads(reply["body"]) == 5, reply
    print("len('hello') =", json.loads(reply["body"]))

    # Metadata reaches the handler: Echo.meta("tenant") -> "acme"
    sock.sendall(request(REQUEST, 2, "Echo", "meta", "tenant", metadata=[("tenant", "acme")]))
    reply = read_reply(sock)
    assert json.loads(reply["body"]) == "acme", reply
    print("meta('tenant') =", json.loads(reply["body"]))

    # Several arguments travel as an array: Echo.fail(5, "gone") -> status 5 with message
    sock.sendall(request(REQUEST, 3, "Echo", "fail", [5, "gone"]))
    reply = read_reply(sock)
    assert reply["status"] == 5 and reply["fields"][TAG_MESSAGE] == [b"gone"], reply
    print("fail(5, 'gone') -> status", reply["status"], reply["fields"][TAG_MESSAGE][0].decode())

    # Compression (section 6): a small request asking for gzip gets a large response gzipped;
    # the same call asking for nothing gets it as is.
    sock.sendall(request(REQUEST, 10, "Echo", "fill", 5000, accept=[GZIP]))
    reply = read_reply(sock)
    assert (reply["id"], reply["status"], reply["codec"]) == (10, 0, RAW), reply
    assert reply["compression"] == GZIP and gzip.decompress(reply["body"]) == b"\x07" * 5000
    gzipped = len(reply["body"])
    sock.sendall(request(REQUEST, 11, "Echo", "fill", 5000))
    reply = read_reply(sock)
    assert reply["compression"] == NO_COMPRESSION and reply["body"] == b"\x07" * 5000
    print("fill(5000): asking gzip ->", gzipped, "bytes; asking nothing ->", len(reply["body"]))

    # Unknown method -> unimplemented (12)
    sock.sendall(request(REQUEST, 4, "Echo", "nope", None))
    reply = read_reply(sock)
    assert reply["status"] == 12, reply
    print("nope() -> status", reply["status"])

    # Oneway: no answer; the next call's answer is the next frame.
    sock.sendall(request(ONEWAY, 5, "Echo", "notify", 1))
    # Cancel a slow call, then a ping: the pong comes back, the cancelled call never does.
    sock.sendall(request(REQUEST, 6, "Echo", "sleep", 5000))
    sock.sendall(frame(CANCEL, 6))
    sock.sendall(frame(PING, 99))
    reply = read_frame(sock)
    while reply["kind"] == PING:
        sock.sendall(frame(PONG, reply["id"]))
        reply = read_frame(sock)
    assert (reply["kind"], reply["id"]) == (PONG, 99), reply
    print("ping 99 -> pong", reply["id"])

    # Deadline: 50 ms against a 2 s sleep -> deadline_exceeded (4)
    sock.sendall(request(REQUEST, 7, "Echo", "sleep", 2000, deadline_us=50_000))
    reply = read_reply(sock)
    assert (reply["id"], reply["status"]) == (7, 4), reply
    print("sleep(2000) with 50 ms -> status", reply["status"])

    # Client streaming (section 13): open, three messages, end; one message and an end back.
    sock.sendall(stream_open(8, "Feed", "sum"))
    for n in (1, 2, 3):
        sock.sendall(frame(STREAM_DATA, 8, body=json.dumps(n).encode()))
    sock.sendall(frame(STREAM_END, 8))
    reply = read_reply(sock)
    assert (reply["kind"], reply["id"], json.loads(reply["body"])) == (STREAM_DATA, 8, 6), reply
    reply = read_reply(sock)
    assert (reply["kind"], reply["status"]) == (STREAM_END, 0), reply
    print("sum(stream 1, 2, 3) =", 6)

    # Server streaming: count(3) -> 0, 1, 2, then a successful end.
    sock.sendall(stream_open(9, "Feed", "count"))
    sock.sendall(frame(STREAM_DATA, 9, body=b"3") + frame(STREAM_END, 9))
    got = []
    while True:
        reply = read_reply(sock)
        assert reply["id"] == 9, reply
        if reply["kind"] == STREAM_WINDOW:
            continue
        if reply["kind"] == STREAM_END:
            assert reply["status"] == 0, reply
            break
        got.append(json.loads(reply["body"]))
    assert got == [0, 1, 2], got
    print("count(3) ->", got)

    # Bad magic: an ERROR frame, then the server closes.
    sock.sendall(b"XX" + b"\x00" * 22)
    reply = read_reply(sock)
    assert reply["kind"] == ERROR, reply
    print("bad magic ->", reply["fields"][TAG_MESSAGE][0].decode())
    sock.close()
    print("ok")


if __name__ == "__main__":
    main()
