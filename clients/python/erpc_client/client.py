"""The client: calls by service and method name over one connection at a time, opened on
first use and again after it is lost, with backoff between failed attempts."""

import asyncio
import random
import time

from .codec import decode_body, encode_body, codec_id
from .connection import Connection
from .frame import MAX_BODY, MAX_HEAD, MAX_METADATA, ONEWAY, REQUEST, STREAM_OPEN, Frame, FrameError, Head, encode_head
from .status import Code, RpcError


def _pairs(metadata):
    if not metadata:
        return []
    if isinstance(metadata, dict):
        return list(metadata.items())
    return list(metadata)


class Client:
    """A client of the erpc server at ``address`` (``tcp://host:port`` or ``unix:///path``).

    Options: ``codec`` (``"msgpack"`` default, ``"json"``, ``"raw"``), ``timeout`` (unary
    deadline in seconds, default 10), ``stream_timeout`` (default None: streams have no
    deadline unless set, as in erpc), ``metadata`` (sent with every call: a dict or
    ``(key, value)`` pairs, values str or bytes), ``connect_timeout`` (5 s), ``heartbeat``
    (15 s) and ``heartbeat_misses`` (3), ``backoff_initial`` (0.1 s) and ``backoff_max`` (5 s),
    ``max_body`` (4 MiB), ``max_head`` (16 KiB), ``max_metadata`` (64).

    Use it as ``async with Client(addr) as client:``, or call :meth:`close`.
    """

    def __init__(self, address, *, codec="msgpack", timeout=10.0, stream_timeout=None, metadata=None,
                 connect_timeout=5.0, heartbeat=15.0, heartbeat_misses=3, backoff_initial=0.1,
                 backoff_max=5.0, max_body=MAX_BODY, max_head=MAX_HEAD, max_metadata=MAX_METADATA):
        if not (address.startswith("tcp://") or address.startswith("unix://")):
            raise ValueError(f"{address}: this client speaks tcp:// and unix://")
        self.address = address
        self._codec = codec_id(codec)
        self._timeout = timeout
        self._stream_timeout = stream_timeout
        self._metadata = _pairs(metadata)
        self._connect_timeout = connect_timeout
        self._conn_options = dict(heartbeat=heartbeat, misses=heartbeat_misses, max_body=max_body,
                                  max_head=max_head, max_metadata=max_metadata)
        self._limits = (max_head, max_metadata)
        self._backoff_initial = self._backoff = backoff_initial
        self._backoff_max = backoff_max
        self._retry_at = 0.0
        self._last_error = None
        self._conn = None
        self._connecting = None
        self._closed = False

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()

    def close(self):
        """Closes the connection; calls in flight fail UNAVAILABLE; later calls are refused."""
        self._closed = True
        if self._conn is not None:
            self._conn.close("the client was closed")
            self._conn = None

    async def call(self, service, method, request=None, *, timeout=None, codec=None, metadata=None):
        """Calls ``service.method(request)`` and returns the decoded result, or raises
        RpcError. Several arguments go as a list, none as None (PROTOCOL.md section 4).
        Cancelling the awaiting task sends CANCEL."""
        codec = self._codec if codec is None else codec_id(codec)
        timeout = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        body = encode_body(codec, request)
        conn = await self._connection()
        left = deadline - time.monotonic()
        name = f"{service}.{method}"
        if left <= 0:
            raise RpcError(Code.DEADLINE_EXCEEDED, f"{name}: deadline exceeded before the call was sent")
        head = self._head(service, method, left, metadata)
        frame = Frame(REQUEST, conn.next_id(), codec=codec, body=body)
        reply_codec, reply_body, _ = await conn.unary(frame, head, name, left)
        return decode_body(reply_codec, reply_body)

    async def oneway(self, service, method, request=None, *, timeout=None, codec=None, metadata=None):
        """A ONEWAY call: returns once the frame is written to the connection; nothing ever
        comes back, not even a failure (section 4)."""
        codec = self._codec if codec is None else codec_id(codec)
        body = encode_body(codec, request)
        conn = await self._connection()
        head = self._head(service, method, self._timeout if timeout is None else timeout, metadata)
        conn.write(Frame(ONEWAY, conn.next_id(), codec=codec, body=body), head)
        await conn.drain()

    async def stream(self, service, method, *, timeout=None, codec=None, metadata=None, on_gap=None):
        """Opens a streaming call (STREAM_OPEN) and returns its :class:`Stream`: ``send``,
        ``end``, ``cancel`` and ``async for``. ``on_gap(n)`` hears of messages a pushing
        server dropped."""
        codec = self._codec if codec is None else codec_id(codec)
        timeout = self._stream_timeout if timeout is None else timeout
        conn = await self._connection()
        rid = conn.next_id()
        name = f"{service}.{method}"
        head = self._head(service, method, timeout, metadata)
        stream = conn.stream(rid, name, codec, on_gap)
        if timeout is not None:
            # Past the deadline the client gives up too: CANCEL, and readers get the status.
            handle = asyncio.get_running_loop().call_later(
                timeout, stream._abandon, RpcError(Code.DEADLINE_EXCEEDED, f"{name}: deadline of {timeout * 1000:.0f} ms exceeded"))
            stream._cancel_timer = handle
        conn.write(Frame(STREAM_OPEN, rid, codec=codec), head)
        return stream

    async def server_stream(self, service, method, request=None, **options):
        """One request; returns the Stream to ``async for`` over the server's messages."""
        stream = await self.stream(service, method, **options)
        await stream.send(request)
        await stream.end()
        return stream

    async def client_stream(self, service, method, messages, **options):
        """Sends every message of ``messages`` (an iterable or async iterable) within the
        server's window, then returns the server's one answer."""
        stream = await self.stream(service, method, **options)
        pump = asyncio.ensure_future(_pump(stream, messages))
        try:
            answer, got = None, False
            async for message in stream:
                if not got:
                    answer, got = message, True
            if not got:
                raise RpcError(Code.INTERNAL, f"{stream.name}: the server ended a client stream without an answer")
            return answer
        finally:
            pump.cancel()
            if not stream.done:
                stream.cancel()

    async def bidi_stream(self, service, method, messages, **options):
        """Sends ``messages`` in the background while the caller reads the returned Stream."""
        stream = await self.stream(service, method, **options)
        task = asyncio.ensure_future(_pump(stream, messages))
        stream._pump = task  # kept alive as long as the stream
        return stream

    def _head(self, service, method, timeout, metadata):
        """The call's header block, refused before sending if over the limits (section 7)."""
        max_head, max_metadata = self._limits
        entries = self._metadata + _pairs(metadata)
        if len(entries) > max_metadata:
            raise RpcError(Code.RESOURCE_EXHAUSTED, f"client refused the call: {len(entries)} metadata entries exceed the limit of {max_metadata} (max_metadata)")
        # Relative: the microseconds left when the frame is written (section 8).
        micros = None if timeout is None else max(0, round(timeout * 1_000_000))
        try:
            head = encode_head(Head(service=service, method=method, deadline_micros=micros, metadata=entries))
        except FrameError as e:
            raise RpcError(e.code, f"client refused the call: {e}") from None
        if len(head) > max_head:
            raise RpcError(Code.RESOURCE_EXHAUSTED, f"client refused the call: header block of {len(head)} bytes exceeds the limit of {max_head} bytes (max_head)")
        return head

    async def _connection(self):
        """The live connection, opening one if needed; fails fast while backing off."""
        if self._closed:
            raise RpcError(Code.UNAVAILABLE, f"the client of {self.address} is closed")
        if self._conn is not None and self._conn.usable:
            return self._conn
        if self._connecting is None:
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                raise RpcError(Code.UNAVAILABLE, f"{self.address} is unreachable ({self._last_error}); next attempt in {wait * 1000:.0f} ms")
            self._connecting = asyncio.ensure_future(self._dial())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done():
                self._connecting = None

    async def _dial(self):
        try:
            conn = await Connection.open(self.address, connect_timeout=self._connect_timeout, **self._conn_options)
        except (OSError, asyncio.TimeoutError, ValueError) as e:
            # Jittered exponential backoff, so many clients of a restarted server spread out.
            self._last_error = str(e) or type(e).__name__
            self._retry_at = time.monotonic() + self._backoff * random.uniform(0.5, 1.0)
            self._backoff = min(self._backoff * 2, self._backoff_max)
            raise RpcError(Code.UNAVAILABLE, f"cannot connect to {self.address}: {self._last_error}") from e
        if self._closed:
            conn.close("the client was closed")
            raise RpcError(Code.UNAVAILABLE, f"the client of {self.address} is closed")
        self._conn = conn
        self._backoff = self._backoff_initial
        self._retry_at = 0.0
        return conn


async def _pump(stream, messages):
    """Sends every message, then ends; a failing source cancels the call."""
    try:
        if hasattr(messages, "__aiter__"):
            async for message in messages:
                if not await stream.send(message):
                    return
        else:
            for message in messages:
                if not await stream.send(message):
                    return
        await stream.end()
    except RpcError:
        pass  # the call failed: its reader sees why
    except asyncio.CancelledError:
        raise
    except Exception as e:  # the caller's iterator failed: so does the call
        stream._abandon(RpcError(Code.CANCELLED, f"the messages to send failed: {e!r}"))
