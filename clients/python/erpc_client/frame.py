"""erpc frames (PROTOCOL.md sections 2 and 3): a 24-byte header, a tag-length-value header
block and a body. Pure functions over bytes, so the spec's vectors can test them alone."""

import struct
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from .status import Code

MAGIC = b"\xee\x52"
VERSION = 1
HEADER = struct.Struct(">2sBBBBBBQII")
HEADER_LEN = HEADER.size  # 24

# Frame kinds (section 3).
REQUEST, RESPONSE, ONEWAY, CANCEL, PING, PONG, GOAWAY, ERROR = range(0x01, 0x09)
STREAM_OPEN, STREAM_DATA, STREAM_END, STREAM_WINDOW, STREAM_GAP = range(0x10, 0x15)

# Header-block tags (section 2.2).
TAG_SERVICE, TAG_METHOD, TAG_DEADLINE, TAG_METADATA, TAG_MESSAGE, TAG_DETAILS, TAG_ACCEPT = range(1, 8)

#: STREAM_DATA flag: more chunks of this message follow (section 13).
MORE = 0x01

#: The receiver's default limits (section 8), checked before a frame's rest is read.
MAX_BODY = 4 << 20
MAX_HEAD = 16 << 10
MAX_METADATA = 64
#: Frames larger than this are not worth skipping: the connection is closed.
MAX_DISCARD = 64 << 20


class FrameError(Exception):
    """Bytes a peer sent that break the spec, with the status the spec gives them (section 9)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = Code(code)


@dataclass
class Head:
    """A parsed header block. ``metadata`` keeps order and repeats: ``[(key, bytes)]``."""

    service: Optional[str] = None
    method: Optional[str] = None
    deadline_micros: Optional[int] = None
    metadata: List[Tuple[str, bytes]] = field(default_factory=list)
    message: Optional[str] = None
    details: Optional[bytes] = None
    accept: Optional[List[int]] = None


@dataclass
class Frame:
    kind: int
    id: int = 0
    flags: int = 0
    codec: int = 1  # frames carrying no message write 01, as erpc does (section 2.1)
    compression: int = 0
    status: int = 0
    head: Head = field(default_factory=Head)
    body: bytes = b""


def decode_header(data):
    """``(kind, flags, codec, compression, status, id, head_len, body_len)`` of the first 24
    bytes. Raises FrameError for bad magic or another version (the connection must close)."""
    magic, version, kind, flags, codec, compression, status, rid, head_len, body_len = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FrameError(Code.INVALID_ARGUMENT, "bad magic: the peer is not speaking erpc")
    if version != VERSION:
        raise FrameError(Code.INVALID_ARGUMENT, f"unsupported protocol version {version} (this peer speaks {VERSION})")
    return kind, flags, codec, compression, status, rid, head_len, body_len


def _text(value, what):
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(Code.INVALID_ARGUMENT, f"header block: {what} is not UTF-8") from None


def decode_head(data, max_metadata=MAX_METADATA):
    """Parses a header block; raises FrameError for a malformed one (section 2.2)."""
    head, seen, at = Head(), set(), 0
    data = memoryview(data)
    while at < len(data):
        if len(data) - at < 3:
            raise FrameError(Code.INVALID_ARGUMENT, "header block: a field header runs past head_len")
        tag, length = struct.unpack_from(">BH", data, at)
        value = data[at + 3 : at + 3 + length]
        if len(value) != length:
            raise FrameError(Code.INVALID_ARGUMENT, f"header block: field {tag} runs past head_len")
        at += 3 + length
        if tag != TAG_METADATA:
            if tag in seen:
                raise FrameError(Code.INVALID_ARGUMENT, f"header block: field {tag} repeats")
            seen.add(tag)
        if tag == TAG_SERVICE:
            head.service = _text(value, "service")
        elif tag == TAG_METHOD:
            head.method = _text(value, "method")
        elif tag == TAG_DEADLINE:
            if length != 8:
                raise FrameError(Code.INVALID_ARGUMENT, f"header block: deadline of {length} bytes (must be 8)")
            head.deadline_micros = struct.unpack(">Q", value)[0]
        elif tag == TAG_METADATA:
            if len(head.metadata) >= max_metadata:
                raise FrameError(Code.RESOURCE_EXHAUSTED, f"more than {max_metadata} metadata entries (max_metadata)")
            key_len = value[0] if length else 0
            if key_len == 0 or key_len + 1 > length:
                raise FrameError(Code.INVALID_ARGUMENT, "header block: metadata key_len is 0 or longer than its field")
            head.metadata.append((_text(value[1 : 1 + key_len], "metadata key"), bytes(value[1 + key_len :])))
        elif tag == TAG_MESSAGE:
            head.message = _text(value, "status message")
        elif tag == TAG_DETAILS:
            head.details = bytes(value)
        elif tag == TAG_ACCEPT:
            if not 1 <= length <= 16:
                raise FrameError(Code.INVALID_ARGUMENT, f"header block: accept-compression of {length} bytes (1 to 16)")
            head.accept = list(value)
        elif tag >= 0x80:
            # Critical tags must be understood; others are skipped, so the protocol can grow.
            raise FrameError(Code.UNIMPLEMENTED, f"header block: unknown critical tag {tag}")
    return head


def encode_head(head):
    """Encodes a header block, fields in tag order as erpc writes them."""
    fields = []

    def put(tag, value):
        if len(value) > 0xFFFF:
            raise FrameError(Code.RESOURCE_EXHAUSTED, f"header field {tag} of {len(value)} bytes is over 65,535")
        fields.append(struct.pack(">BH", tag, len(value)) + value)

    if head.service is not None:
        put(TAG_SERVICE, head.service.encode())
    if head.method is not None:
        put(TAG_METHOD, head.method.encode())
    if head.deadline_micros is not None:
        put(TAG_DEADLINE, struct.pack(">Q", max(0, int(head.deadline_micros))))
    for key, value in head.metadata:
        k = key.encode()
        if not 1 <= len(k) <= 255:
            raise FrameError(Code.INVALID_ARGUMENT, f"metadata key {key!r} is {len(k)} bytes (1 to 255)")
        put(TAG_METADATA, bytes([len(k)]) + k + (value.encode() if isinstance(value, str) else bytes(value)))
    if head.message is not None:
        put(TAG_MESSAGE, head.message.encode())
    if head.details is not None:
        put(TAG_DETAILS, bytes(head.details))
    if head.accept is not None:
        put(TAG_ACCEPT, bytes(head.accept))
    return b"".join(fields)


def encode_frame(frame, head_bytes=None):
    """The bytes of ``frame`` (``head_bytes``: its header block already encoded)."""
    head = encode_head(frame.head) if head_bytes is None else head_bytes
    header = HEADER.pack(
        MAGIC, VERSION, frame.kind, frame.flags, frame.codec, frame.compression, frame.status,
        frame.id, len(head), len(frame.body),
    )
    return header + head + bytes(frame.body)


def decode_frame(data, max_metadata=MAX_METADATA):
    """Decodes exactly one whole frame."""
    kind, flags, codec, compression, status, rid, head_len, body_len = decode_header(data)
    if len(data) != HEADER_LEN + head_len + body_len:
        raise FrameError(Code.INVALID_ARGUMENT, f"not one whole frame: {len(data)} bytes")
    head = decode_head(data[HEADER_LEN : HEADER_LEN + head_len], max_metadata)
    return Frame(kind, rid, flags, codec, compression, status, head, bytes(data[HEADER_LEN + head_len :]))
