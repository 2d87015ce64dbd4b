"""One connection to an erpc server over a byte stream (tcp:// or unix://, PROTOCOL.md
section 12.1): frames back to back. It owns the calls in flight on it, answers PINGs, pings
a silent server and gives it up after missed heartbeats (section 10), and handles GOAWAY and
ERROR."""

import asyncio
import struct

from .frame import (
    CANCEL, ERROR, GOAWAY, HEADER_LEN, MAX_BODY, MAX_DISCARD, MAX_HEAD, MAX_METADATA, PING, PONG,
    RESPONSE, STREAM_DATA, STREAM_END, STREAM_GAP, STREAM_WINDOW, Frame, FrameError, Head,
    decode_head, decode_header, encode_frame,
)
from .status import Code, RpcError
from .stream import Stream


async def open_stream(address, timeout):
    """``(reader, writer)`` of a byte stream to ``tcp://host:port`` or ``unix:///path``."""
    if address.startswith("tcp://"):
        host, sep, port = address[len("tcp://") :].rstrip("/").rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"{address}: a tcp address is tcp://host:port")
        connect = asyncio.open_connection(host.strip("[]"), int(port))
    elif address.startswith("unix://"):
        connect = asyncio.open_unix_connection(address[len("unix://") :])
    else:
        raise ValueError(f"{address}: this client speaks tcp:// and unix:// (see the README for the others)")
    return await asyncio.wait_for(connect, timeout)


class Connection:
    """A live connection. Made by :meth:`open`; the Client uses it."""

    def __init__(self, address, reader, writer, *, heartbeat, misses, max_body=MAX_BODY, max_head=MAX_HEAD, max_metadata=MAX_METADATA):
        self.address = address
        self._reader = reader
        self._writer = writer
        self._max_body, self._max_head, self._max_metadata = max_body, max_head, max_metadata
        self._next_id = 1
        self._calls = {}  # id -> Future (unary) or Stream
        self.closed = False
        #: Set by GOAWAY: running calls finish here, new ones go to a new connection.
        self.draining = False
        self._heard = False
        self._tasks = [
            asyncio.ensure_future(self._read_loop()),
            asyncio.ensure_future(self._heartbeat(heartbeat, misses)),
        ]

    @classmethod
    async def open(cls, address, *, connect_timeout, **options):
        reader, writer = await open_stream(address, connect_timeout)
        sock = writer.get_extra_info("socket")
        if sock is not None and address.startswith("tcp://"):
            import socket

            # Frames are written whole; Nagle's delay would only hold small calls back.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(address, reader, writer, **options)

    @property
    def usable(self):
        return not self.closed and not self.draining

    def next_id(self):
        """A fresh request id: counts up from 1 (section 3)."""
        rid = self._next_id
        self._next_id += 1
        return rid

    def write(self, frame, head_bytes=None, if_open=False):
        """Queues a frame. Raises UNAVAILABLE when closed unless ``if_open`` (best-effort
        frames: CANCEL, PONG, PING)."""
        if self.closed:
            if if_open:
                return
            raise RpcError(Code.UNAVAILABLE, f"connection to {self.address} is closed")
        self._writer.write(encode_frame(frame, head_bytes))

    async def drain(self):
        """Waits while the socket's buffer is full (backpressure on large writes)."""
        if not self.closed:
            try:
                await self._writer.drain()
            except ConnectionError as e:
                self.close(f"writing failed: {e}")

    async def unary(self, frame, head_bytes, name, timeout):
        """Sends a REQUEST and waits for its RESPONSE: ``(codec, body, metadata)``. A timeout
        or a cancelled task sends CANCEL, so the server stops the handler at once."""
        future = asyncio.get_running_loop().create_future()
        self._calls[frame.id] = future
        try:
            self.write(frame, head_bytes)
            await self.drain()
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            self.write(Frame(CANCEL, frame.id), if_open=True)
            raise RpcError(Code.DEADLINE_EXCEEDED, f"{name}: deadline of {timeout * 1000:.0f} ms exceeded") from None
        except asyncio.CancelledError:
            self.write(Frame(CANCEL, frame.id), if_open=True)
            raise
        finally:
            self.forget(frame.id)

    def stream(self, rid, name, codec, on_gap=None):
        stream = Stream(self, rid, name, codec, self._max_body, on_gap)
        self._calls[rid] = stream
        return stream

    def forget(self, rid):
        """A call is over: frames still arriving for it are ignored."""
        self._calls.pop(rid, None)
        if self.draining and not self._calls:
            self.close("the server went away (GOAWAY)")

    async def _read_loop(self):
        reason = "the server closed the connection"
        try:
            while True:
                header = await self._reader.readexactly(HEADER_LEN)
                self._heard = True
                kind, flags, codec, compression, status, rid, head_len, body_len = decode_header(header)
                # Checked before anything is read or allocated for the rest (section 2.1).
                if head_len > self._max_head or body_len > self._max_body:
                    if head_len + body_len > MAX_DISCARD:
                        return self.fail(Code.RESOURCE_EXHAUSTED, f"the server sent a frame of {HEADER_LEN + head_len + body_len} bytes, over the discard limit")
                    what = (f"header block of {head_len} bytes exceeds the limit of {self._max_head} bytes (max_head)"
                            if head_len > self._max_head else
                            f"body of {body_len} bytes exceeds the limit of {self._max_body} bytes (max_body)")
                    self._fail_call(rid, RpcError(Code.RESOURCE_EXHAUSTED, f"client refused the frame: {what}"))
                    remaining = head_len + body_len
                    while remaining:  # skipped unread, in pieces: never held whole
                        piece = min(remaining, 1 << 16)
                        await self._reader.readexactly(piece)
                        remaining -= piece
                    continue
                head_bytes = await self._reader.readexactly(head_len)
                body = await self._reader.readexactly(body_len)
                self._heard = True
                try:
                    head = decode_head(head_bytes, self._max_metadata)
                except FrameError as e:
                    self._fail_call(rid, RpcError(e.code, f"the server's header block: {e}"))
                    continue
                self._dispatch(Frame(kind, rid, flags, codec, compression, status, head, body))
                if self.closed:
                    return None
        except FrameError as e:
            return self.fail(e.code, f"the server's bytes: {e}")
        except asyncio.IncompleteReadError:
            reason = "the server closed the connection"
        except ConnectionError as e:
            reason = f"connection lost: {e}"
        except asyncio.CancelledError:
            return None
        self.close(reason)
        return None

    def _dispatch(self, frame):
        kind = frame.kind
        if kind == RESPONSE:
            call = self._calls.get(frame.id)
            if isinstance(call, Stream):
                call._on_frame(frame)
            elif call is not None and not call.done():  # else cancelled: ignored (section 3)
                if frame.status != Code.OK:
                    call.set_exception(RpcError(frame.status, frame.head.message or "", frame.head.details or b"", frame.head.metadata))
                elif frame.compression != 0:
                    call.set_exception(RpcError(Code.UNIMPLEMENTED, f"the server compressed the response with compression {frame.compression}, which this client did not accept (it accepts none)"))
                else:
                    call.set_result((frame.codec, frame.body, frame.head.metadata))
        elif kind in (STREAM_DATA, STREAM_END, STREAM_WINDOW, STREAM_GAP):
            call = self._calls.get(frame.id)
            if isinstance(call, Stream):
                call._on_frame(frame)
        elif kind == PING:
            self.write(Frame(PONG, frame.id), if_open=True)
        elif kind == GOAWAY:
            self.draining = True
            # Calls above the last accepted id did not run: safe to retry elsewhere.
            for rid in [r for r in self._calls if r > frame.id]:
                self._fail_call(rid, RpcError(Code.UNAVAILABLE, f"the server is going away and did not accept this call: {frame.head.message or ''}"))
            if not self._calls:
                self.close("the server went away (GOAWAY) and no call is left")
        elif kind == ERROR:
            message = f"the server closed the connection: {frame.head.message or 'ERROR'} (status {frame.status})"
            if frame.id:
                self._fail_call(frame.id, RpcError(frame.status, message))
            self.close(message)
        # PONG and kinds this client does not know are ignored (section 3).

    def _fail_call(self, rid, error):
        call = self._calls.pop(rid, None)
        if isinstance(call, Stream):
            call._finish(error)
        elif call is not None and not call.done():
            call.set_exception(error)

    async def _heartbeat(self, interval, misses):
        """Any traffic is a sign of life; after ``misses`` silent intervals the server is taken
        for dead, so a vanished peer never leaves calls hanging."""
        silent = 0
        while not self.closed:
            await asyncio.sleep(interval)
            if self._heard:
                self._heard, silent = False, 0
                continue
            silent += 1
            if silent >= misses:
                self.close(f"no frame from the server in {silent} heartbeat intervals of {interval} s")
                return
            self.write(Frame(PING, 0), if_open=True)

    def fail(self, code, message):
        """Closes over a protocol violation, telling the server why (ERROR)."""
        self.write(Frame(ERROR, 0, status=code, head=Head(message=message)), if_open=True)
        self.close(message)

    def close(self, reason="closed by the client"):
        """Closes; every call still on it fails UNAVAILABLE with ``reason``."""
        if self.closed:
            return
        self.closed = True
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._writer.close()
        calls, self._calls = list(self._calls.items()), {}
        for _, call in calls:
            error = RpcError(Code.UNAVAILABLE, f"{reason}; the call's outcome is unknown")
            if isinstance(call, Stream):
                call._finish(error)
            elif not call.done():
                call.set_exception(error)
