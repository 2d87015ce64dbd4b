"""erpc-client: an asyncio client for erpc servers, written from erpc's PROTOCOL.md.

    async with erpc_client.Client("tcp://127.0.0.1:7001") as client:
        print(await client.call("Echo", "hello", "ada"))
"""

from .client import Client
from .codec import JSON, MSGPACK, RAW, decode_body, encode_body
from .discovery import Instance, connect, discover
from .frame import Frame, FrameError, Head, decode_frame, decode_head, encode_frame, encode_head
from .status import Code, RpcError
from .stream import Stream

__all__ = [
    "Client", "Code", "RpcError", "Stream", "Instance", "connect", "discover",
    "Frame", "FrameError", "Head", "decode_frame", "decode_head", "encode_frame", "encode_head",
    "encode_body", "decode_body", "RAW", "MSGPACK", "JSON",
]
__version__ = "0.1.0"
