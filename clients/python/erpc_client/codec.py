"""Body codecs (PROTOCOL.md section 5). Structs travel as maps keyed by field name in both
MessagePack and JSON, so dicts are the natural Python shape; no argument (the unit value) is
None."""

import json

import msgpack

from .status import Code, RpcError

RAW, MSGPACK, JSON = 0x00, 0x01, 0x02
_BY_NAME = {"raw": RAW, "msgpack": MSGPACK, "json": JSON}
_NAMES = {RAW: "raw", MSGPACK: "MessagePack", JSON: "JSON"}


def codec_id(codec):
    """The id of a codec given by name (``"msgpack"``, ``"json"``, ``"raw"``) or id."""
    if codec in _NAMES:
        return codec
    try:
        return _BY_NAME[codec]
    except (KeyError, TypeError):
        raise ValueError(f"unknown codec {codec!r}: use 'msgpack', 'json' or 'raw'") from None


def encode_body(codec, value):
    if codec == MSGPACK:
        # bytes travel as bin, str as str: what serde_bytes and String expect.
        return msgpack.packb(value, use_bin_type=True)
    if codec == JSON:
        return json.dumps(value, separators=(",", ":")).encode()
    if codec == RAW:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"the raw codec sends bytes as they are; got {type(value).__name__}")
        return bytes(value)
    raise ValueError(f"cannot encode codec {codec}")


def decode_body(codec, body):
    """Decodes a body in the codec its frame names (a client must use the frame's, section 4)."""
    try:
        if codec == MSGPACK:
            # strict_map_key=False: maps keyed by numbers (Rust HashMap<u64, _>) are fine.
            return msgpack.unpackb(body, raw=False, strict_map_key=False)
        if codec == JSON:
            return json.loads(bytes(body).decode("utf-8"))
        if codec == RAW:
            return bytes(body)
    except (ValueError, msgpack.UnpackException) as e:
        raise RpcError(Code.INVALID_ARGUMENT, f"the server's {_NAMES[codec]} body does not decode: {e}") from e
    raise RpcError(Code.UNIMPLEMENTED, f"the server answered in codec {codec}, which this client does not speak (raw, msgpack, json)")
