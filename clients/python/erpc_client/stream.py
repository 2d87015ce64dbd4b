"""One streaming call (PROTOCOL.md section 13): messages cut into 64 KiB chunks, both
flow-control windows, and the reader's side as an async iterator."""

import asyncio
import collections
import struct

from .codec import decode_body, encode_body
from .frame import MORE, STREAM_DATA, STREAM_END, STREAM_GAP, STREAM_WINDOW, RESPONSE, CANCEL, Frame
from .status import Code, RpcError

#: Both windows start here.
INITIAL_WINDOW = 262_144
#: Largest chunk of a message.
CHUNK = 65_536
#: What each STREAM_DATA costs on top of its body, so empty messages are not free.
FRAME_COST = 32
GAP_COST = 8 + FRAME_COST
#: Credit is granted back once a quarter of the window has been consumed, as erpc does.
GRANT_AT = INITIAL_WINDOW // 4
MAX_WINDOW = 2**31 - 1


class Stream:
    """A streaming call. Send with :meth:`send` (waits for the server's credit) and
    :meth:`end`; read the server's messages with ``async for``, which grants credit as each
    message is taken, so a slow reader holds the server back instead of buffering without
    bound. Cancelling the task that reads or sends, or :meth:`cancel`, sends CANCEL; so does
    leaving an ``async with stream:`` block before the call ended."""

    def __init__(self, conn, rid, name, codec, max_body, on_gap=None):
        self.id = rid
        self.name = name
        self._conn = conn
        self._codec = codec
        self._max_body = max_body
        self._on_gap = on_gap
        #: Messages a pushing server dropped (STREAM_GAP) so far.
        self.dropped = 0
        #: The server's trailing metadata once the call ended successfully.
        self.trailers = []

        self._send_window = INITIAL_WINDOW
        self._credit = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._sent_end = False

        self._recv_window = INITIAL_WINDOW
        self._ungranted = 0
        self._chunks, self._chunk_bytes, self._chunk_cost = [], 0, 0
        self._queue = collections.deque()  # (value, cost, gap)
        self._arrived = asyncio.Event()

        self.done = False
        self.error = None
        self._cancel_timer = None  # the deadline's timer, if the call has one

    # Sending.

    async def send(self, message):
        """Sends one message after the earlier ones. Returns True once written, False if the
        server already ended the call successfully; raises the call's RpcError if it failed."""
        body = encode_body(self._codec, message)
        if len(body) > self._max_body:
            raise RpcError(Code.RESOURCE_EXHAUSTED, f"client refused to send a stream message of {len(body)} bytes: over the limit of {self._max_body} bytes (max_body)")
        async with self._send_lock:
            if self._sent_end:
                raise RpcError(Code.FAILED_PRECONDITION, "send() after end()")
            at = 0
            while True:
                chunk = body[at : at + CHUNK]
                at += len(chunk)
                cost = len(chunk) + FRAME_COST
                try:
                    while not self.done and self._send_window < cost:
                        self._credit.clear()
                        await self._credit.wait()
                except asyncio.CancelledError:
                    self._abandon(RpcError(Code.CANCELLED, f"{self.name}: the sending task was cancelled"))
                    raise
                if self.done:
                    return self._closed_for_sending()
                self._send_window -= cost
                flags = MORE if at < len(body) else 0
                self._conn.write(Frame(STREAM_DATA, self.id, flags, self._codec, body=chunk))
                if at >= len(body):
                    break
            await self._conn.drain()
            return True

    async def end(self):
        """No more messages from this side (STREAM_END); the server may go on sending."""
        async with self._send_lock:
            if self.done:
                return self._closed_for_sending()
            if not self._sent_end:
                self._sent_end = True
                self._conn.write(Frame(STREAM_END, self.id))
            return True

    def cancel(self, reason="cancelled by the caller"):
        """Sends CANCEL: the server stops its handler; readers get ``CANCELLED``."""
        self._abandon(RpcError(Code.CANCELLED, f"{self.name} {reason}"))

    def _closed_for_sending(self):
        if self.error is not None:
            raise self.error
        return False

    # Receiving.

    def _on_frame(self, frame):
        if self.done:
            return  # in flight when we cancelled: expected, ignored
        if frame.kind == STREAM_DATA:
            self._on_data(frame)
        elif frame.kind == STREAM_GAP:
            if len(frame.body) != 8:
                return self._conn.fail(Code.RESOURCE_EXHAUSTED, f"STREAM_GAP with a {len(frame.body)}-byte body (must be 8)")
            if self._spend(GAP_COST):
                self._push((None, GAP_COST, struct.unpack(">Q", frame.body)[0]))
        elif frame.kind == STREAM_WINDOW:
            if len(frame.body) != 4:
                return self._conn.fail(Code.RESOURCE_EXHAUSTED, f"STREAM_WINDOW with a {len(frame.body)}-byte body (must be 4)")
            self._send_window += struct.unpack(">I", frame.body)[0]
            if self._send_window > MAX_WINDOW:
                return self._conn.fail(Code.RESOURCE_EXHAUSTED, f"STREAM_WINDOW grew stream {self.id}'s window past 2^31 - 1")
            self._credit.set()
        elif frame.kind == STREAM_END:
            if frame.status == Code.OK:
                self.trailers = frame.head.metadata
                self._finish(None)
            else:
                self._finish(RpcError(frame.status, frame.head.message or "", frame.head.details or b"", frame.head.metadata))
        elif frame.kind == RESPONSE:
            # A server that does not know the method as a stream may answer like a unary call.
            self._finish(RpcError(frame.status or Code.INTERNAL, frame.head.message or "the server answered a stream with a RESPONSE"))

    def _spend(self, cost):
        """Charges the window we granted; a server past it breaks the protocol."""
        self._recv_window -= cost
        if self._recv_window < 0:
            self._conn.fail(Code.RESOURCE_EXHAUSTED, f"the server sent past stream {self.id}'s window")
            return False
        return True

    def _on_data(self, frame):
        cost = len(frame.body) + FRAME_COST
        if not self._spend(cost):
            return
        if frame.compression != 0:
            # This client accepts no compression, and says so by sending no accept field.
            return self._abandon(RpcError(Code.UNIMPLEMENTED, f"the server compressed a stream message with compression {frame.compression}, which this client did not accept"))
        self._chunks.append(frame.body)
        self._chunk_bytes += len(frame.body)
        self._chunk_cost += cost
        if self._chunk_bytes > self._max_body:
            return self._abandon(RpcError(Code.RESOURCE_EXHAUSTED, f"a stream message of more than {self._max_body} bytes (max_body)"))
        if frame.flags & MORE:
            return
        body = b"".join(self._chunks)
        cost, self._chunks, self._chunk_bytes, self._chunk_cost = self._chunk_cost, [], 0, 0
        try:
            value = decode_body(frame.codec, body)
        except RpcError as e:
            return self._abandon(e)
        self._push((value, cost, None))

    def _push(self, item):
        self._queue.append(item)
        self._arrived.set()

    def _consumed(self, cost, gap):
        if gap is not None:
            self.dropped += gap
            if self._on_gap is not None:
                self._on_gap(gap)
        self._ungranted += cost
        if self._ungranted >= GRANT_AT and not self.done:
            self._recv_window += self._ungranted
            self._conn.write(Frame(STREAM_WINDOW, self.id, body=struct.pack(">I", self._ungranted)))
            self._ungranted = 0

    def __aiter__(self):
        return self

    async def __anext__(self):
        while True:
            if self._queue:
                value, cost, gap = self._queue.popleft()
                self._consumed(cost, gap)
                if gap is None:
                    return value
                continue
            if self.done:
                if self.error is not None:
                    raise self.error
                raise StopAsyncIteration
            self._arrived.clear()
            try:
                await self._arrived.wait()
            except asyncio.CancelledError:
                # The reading task was cancelled: the caller gave up on the call.
                self._abandon(RpcError(Code.CANCELLED, f"{self.name}: the reading task was cancelled"))
                raise

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        if not self.done:
            self.cancel("left before it ended")

    async def aclose(self):
        """Cancels the call if it has not ended."""
        if not self.done:
            self.cancel("closed before it ended")

    # Ending.

    def _abandon(self, error):
        if self.done:
            return
        self._conn.write(Frame(CANCEL, self.id), if_open=True)
        self._queue.clear()  # the caller gave up on what was still unread
        self._finish(error)

    def _finish(self, error):
        if self.done:
            return
        self.done = True
        self.error = error
        if self._cancel_timer is not None:
            self._cancel_timer.cancel()
        self._conn.forget(self.id)
        self._credit.set()
        self._arrived.set()
