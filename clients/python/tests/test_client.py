"""The client against a real erpc server (erpc-test-server over tcp://): every call shape,
deadlines, cancel by task cancellation, metadata, failures with details, oneway, streams
larger than the 256 KiB window each way, heartbeats, reconnection, and discovery through
the center the server also runs."""

import asyncio
import time
import unittest

import erpc_client
from erpc_client import Code, RpcError
from support import Server, eventually

SERVER = None


def setUpModule():
    global SERVER
    SERVER = Server("--center")


def tearDownModule():
    SERVER.stop()


def blob(k, size):
    """Message k of Feed.blob: byte i is (k + i) % 251."""
    pattern = bytes(range(251))
    return ((pattern[k % 251 :] + pattern[: k % 251]) * (size // 251 + 1))[:size]


def fnv1a(hash_, data):
    for b in data:
        hash_ = ((hash_ ^ b) * 0x01000193) & 0xFFFFFFFF
    return hash_


class Unary(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.client = erpc_client.Client(SERVER.tcp)

    async def asyncTearDown(self):
        self.client.close()

    async def stats(self):
        return await self.client.call("Echo", "stats")

    async def test_unary_in_msgpack_and_json(self):
        self.assertEqual(await self.client.call("Echo", "hello", "ada"), "hello, ada")
        self.assertEqual(await self.client.call("Echo", "hello", "ada", codec="json"), "hello, ada")
        self.assertEqual(await self.client.call("Echo", "add", [2, 3]), 5)
        self.assertEqual(sorted(await self.client.call("Echo", "stats", codec="json")), ["aborted", "finished", "notified", "started"])

    async def test_concurrent_calls_are_answered_to_the_right_callers(self):
        names = [f"n{i}" for i in range(200)]
        replies = await asyncio.gather(*(self.client.call("Echo", "hello", n, codec="json" if i % 2 else "msgpack") for i, n in enumerate(names)))
        self.assertEqual(replies, [f"hello, {n}" for n in names])

    async def test_metadata_reaches_the_handler(self):
        async with erpc_client.Client(SERVER.tcp, metadata={"tenant": "acme"}) as client:
            self.assertEqual(await client.call("Echo", "meta", "tenant"), "acme")
            self.assertEqual(await client.call("Echo", "meta", "authorization", metadata=[("authorization", b"Bearer t0k3n")]), "Bearer t0k3n")
            self.assertIsNone(await client.call("Echo", "meta", "absent"))

    async def test_the_deadline_travels_relative(self):
        left = await self.client.call("Echo", "remaining_ms", timeout=5)
        self.assertTrue(3000 < left <= 5000, f"server saw {left} ms of 5000")

    async def test_a_call_past_its_deadline_fails_and_the_server_stops_it(self):
        before = await self.stats()
        started = time.monotonic()
        with self.assertRaises(RpcError) as caught:
            await self.client.call("Echo", "sleep", 5000, timeout=0.2)
        self.assertEqual((caught.exception.code, caught.exception.name), (Code.DEADLINE_EXCEEDED, "deadline_exceeded"))
        self.assertLess(time.monotonic() - started, 3)
        await eventually(lambda: self._aborted_beyond(before.get("aborted")), 5, "handler aborted")

    async def _aborted_beyond(self, n):
        return (await self.stats())["aborted"] > n

    async def test_cancelling_the_task_sends_cancel(self):
        before = await self.stats()
        task = asyncio.ensure_future(self.client.call("Echo", "sleep", 30_000, timeout=60))

        async def started():
            return (await self.stats())["started"] > before["started"]

        await eventually(started, 5, "handler started")
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        # Only the CANCEL can have stopped it: its deadline is a minute away.
        await eventually(lambda: self._aborted_beyond(before["aborted"]), 5, "the server aborted the handler")
        self.assertEqual((await self.stats())["finished"], before["finished"])

    async def test_a_server_failure_is_an_rpc_error_with_details(self):
        with self.assertRaises(RpcError) as caught:
            await self.client.call("Echo", "fail", [5, "no such user"])
        e = caught.exception
        self.assertEqual((e.code, e.name, e.message, e.details), (Code.NOT_FOUND, "not_found", "no such user", b"details: no such user"))
        with self.assertRaises(RpcError) as caught:
            await self.client.call("Echo", "nope")
        self.assertEqual(caught.exception.code, Code.UNIMPLEMENTED)
        with self.assertRaises(RpcError) as caught:
            await self.client.call("Echo", "add", "not two numbers")
        self.assertEqual(caught.exception.code, Code.INVALID_ARGUMENT)

    async def test_oneway_is_delivered(self):
        before = (await self.stats())["notified"]
        await self.client.oneway("Echo", "notify", 4)

        async def counted():
            return (await self.stats())["notified"] == before + 4

        await eventually(counted, 5, "oneway counted")

    async def test_requests_over_the_limits_are_refused_before_sending(self):
        with self.assertRaisesRegex(RpcError, "max_metadata"):
            await self.client.call("Echo", "hello", "x", metadata=[(f"k{i}", "v") for i in range(65)])
        with self.assertRaisesRegex(RpcError, "max_head"):
            await self.client.call("Echo", "hello", "x", metadata={"big": "x" * 20_000})


class Streams(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.client = erpc_client.Client(SERVER.tcp)

    async def asyncTearDown(self):
        self.client.close()

    async def test_server_client_and_bidi_streams(self):
        self.assertEqual([n async for n in await self.client.server_stream("Feed", "count", 5)], [0, 1, 2, 3, 4])
        self.assertEqual([n async for n in await self.client.server_stream("Feed", "count", 3, codec="json")], [0, 1, 2])
        self.assertEqual(await self.client.client_stream("Feed", "sum", [1, 2, 3, 4]), 10)

        async def numbers():
            for i in range(1, 6):
                await asyncio.sleep(0.005)
                yield i

        self.assertEqual(await self.client.client_stream("Feed", "sum", numbers(), codec="json"), 15)
        self.assertEqual([n async for n in await self.client.bidi_stream("Feed", "double", [1, 2, 3])], [2, 4, 6])
        # Interactive: one message, its answer, the next.
        async with await self.client.stream("Feed", "double") as s:
            for n in (5, 6):
                await s.send(n)
                self.assertEqual(await s.__anext__(), n * 2)
            await s.end()
            self.assertEqual([n async for n in s], [])

    async def test_a_server_stream_of_2_mib_is_flow_controlled(self):
        k = 0
        async for message in await self.client.server_stream("Feed", "blob", [20, 100 * 1024]):
            self.assertEqual(message, blob(k, 100 * 1024), f"message {k}")
            k += 1
        self.assertEqual(k, 20)

    async def test_a_client_stream_of_2_mib_waits_for_credit(self):
        parts = [blob(k, 100 * 1024) for k in range(20)]
        digest = await self.client.client_stream("Feed", "gather", parts)
        expected = await asyncio.to_thread(lambda: fnv1a(0x811C9DC5, b"".join(parts)))
        self.assertEqual((digest["messages"], digest["bytes"], digest["fnv1a"]), (20, 20 * 100 * 1024, expected))

    async def test_bidi_1_mib_each_way_with_a_slow_reader(self):
        parts = [blob(k, 128 * 1024 + k) for k in range(8)]
        got = []
        async for part in await self.client.bidi_stream("Feed", "echo", parts):
            await asyncio.sleep(0.02)  # slow: the server must wait for our credit
            got.append(part)
        self.assertEqual(got, parts)
        self.assertEqual(await self.client.call("Echo", "hello", "still here"), "hello, still here")

    async def test_a_stream_failure_after_some_messages(self):
        got = []
        with self.assertRaises(RpcError) as caught:
            async for n in await self.client.server_stream("Feed", "fail_after", 2):
                got.append(n)
        self.assertEqual(got, [0, 1])
        e = caught.exception
        self.assertEqual((e.code, e.message, e.details), (Code.ABORTED, "failed on purpose", b"\x01\x02\x03"))

    async def test_cancelling_a_stream_stops_the_handler(self):
        before = (await self.client.call("Echo", "stats"))["aborted"]

        async def read_all():
            async for _ in await self.client.server_stream("Feed", "hang"):
                pass

        task = asyncio.ensure_future(read_all())
        await asyncio.sleep(0.3)
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        async with await self.client.server_stream("Feed", "hang") as s:
            self.assertEqual(await s.__anext__(), 7)
        # Leaving the block cancelled the second.

        async def both_aborted():
            return (await self.client.call("Echo", "stats"))["aborted"] >= before + 2

        await eventually(both_aborted, 5, "both handlers aborted")

    async def test_a_stream_timeout_ends_it_deadline_exceeded(self):
        with self.assertRaises(RpcError) as caught:
            async for _ in await self.client.server_stream("Feed", "hang", timeout=0.3):
                pass
        self.assertEqual(caught.exception.code, Code.DEADLINE_EXCEEDED)


class Connection(unittest.IsolatedAsyncioTestCase):
    async def test_the_client_answers_pings_so_a_quiet_connection_stays(self):
        chatty = Server("--heartbeat-ms", "100", "--listen", "tcp://127.0.0.1:0")
        try:
            async with erpc_client.Client(chatty.tcp) as client:
                peer = await client.call("Echo", "peer")
                await asyncio.sleep(1.0)
                # Unanswered PINGs would have closed it; a new connection has another port.
                self.assertEqual(await client.call("Echo", "peer"), peer)
        finally:
            chatty.stop()

    async def test_a_lost_server_fails_calls_and_the_client_reconnects(self):
        first = Server("--listen", "tcp://127.0.0.1:0")
        port = first.tcp.rsplit(":", 1)[1]
        async with erpc_client.Client(first.tcp, backoff_initial=0.05, backoff_max=0.4) as client:
            self.assertEqual(await client.call("Echo", "hello", "a"), "hello, a")
            in_flight = asyncio.ensure_future(client.call("Echo", "sleep", 10_000, timeout=30))

            async def started():
                return (await client.call("Echo", "stats"))["started"] >= 1

            await eventually(started, 5, "sleep started")
            first.stop(kill=True)
            with self.assertRaises(RpcError) as caught:
                await in_flight
            self.assertEqual(caught.exception.code, Code.UNAVAILABLE)
            with self.assertRaises(RpcError) as caught:
                await client.call("Echo", "hello", "b")
            self.assertEqual(caught.exception.code, Code.UNAVAILABLE)
            second = Server("--listen", f"tcp://127.0.0.1:{port}")
            try:
                self.assertEqual(await eventually(lambda: client.call("Echo", "hello", "c"), 10, "reconnected"), "hello, c")
            finally:
                second.stop()


class Discovery(unittest.IsolatedAsyncioTestCase):
    async def test_discover_lists_the_instances(self):
        instances, revision = await erpc_client.discover(SERVER.tcp, "Echo")
        self.assertGreater(revision, 0)
        self.assertEqual(sorted(i.id for i in instances), ["echo-0", "echo-1"])
        live = next(i for i in instances if i.id == "echo-1")
        self.assertEqual(sorted(live.addrs), sorted(SERVER.addrs))
        self.assertEqual(live.weight, 100)
        self.assertEqual((await erpc_client.discover(SERVER.tcp, "Echo", group="canary"))[0], [])

    async def test_connect_picks_an_instance_it_can_reach(self):
        # echo-0 is registered at a port nothing listens on: whatever the random order, the
        # client must end up on echo-1. Several rounds try both orders.
        for _ in range(6):
            async with await erpc_client.connect(SERVER.tcp, "Echo") as client:
                self.assertEqual(client.instance.id, "echo-1")
                self.assertEqual(await client.call("Echo", "hello", "found"), "hello, found")
        with self.assertRaises(RpcError) as caught:
            await erpc_client.connect(SERVER.tcp, "NoSuchService")
        self.assertEqual(caught.exception.code, Code.NOT_FOUND)


if __name__ == "__main__":
    unittest.main()
