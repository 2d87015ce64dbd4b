"""Every vector of PROTOCOL.md decodes and re-encodes byte for byte, and the ones that carry
a meaning decode to it."""

import struct
import unittest

from erpc_client import MSGPACK, decode_body, decode_frame, encode_frame
from erpc_client.frame import MORE, REQUEST, STREAM_END
from support import protocol_vectors

VECTORS = protocol_vectors()
KNOWN = ["request", "response", "request-accept", "response-gzip", "error", "json-request", "oneway", "cancel",
         "ping", "pong", "goaway", "connection-error", "stream-open", "stream-data", "stream-end",
         "stream-data-more", "stream-data-last", "stream-window", "stream-gap", "stream-end-error"]


class Vectors(unittest.TestCase):
    def test_the_document_has_every_vector_this_test_knows(self):
        for name in KNOWN:
            self.assertIn(name, VECTORS, f"vector {name} is missing from PROTOCOL.md")

    def test_every_vector_round_trips_byte_for_byte(self):
        for name, data in VECTORS.items():
            with self.subTest(name):
                self.assertEqual(encode_frame(decode_frame(data)), data)

    def test_the_vectors_mean_what_the_document_says(self):
        f = decode_frame(VECTORS["request"])
        self.assertEqual((f.kind, f.id, f.codec, f.head.service, f.head.method, f.head.deadline_micros),
                         (REQUEST, 1, MSGPACK, "Greeter", "hello", 1_500_000))
        self.assertEqual(f.head.metadata, [("authorization", b"Bearer t0k3n"), ("trace-id", b"abc")])
        self.assertEqual(decode_body(f.codec, f.body), "ada")
        self.assertEqual(decode_body(MSGPACK, decode_frame(VECTORS["response"]).body), "hello, ada")
        json_request = decode_frame(VECTORS["json-request"])
        self.assertEqual((json_request.head.deadline_micros, decode_body(json_request.codec, json_request.body)), (250_000, "ada"))
        error = decode_frame(VECTORS["error"])
        self.assertEqual((error.status, error.head.message), (5, "no such user"))
        self.assertEqual(decode_frame(VECTORS["request-accept"]).head.accept, [1, 3])
        more, last = decode_frame(VECTORS["stream-data-more"]), decode_frame(VECTORS["stream-data-last"])
        self.assertEqual((more.flags & MORE, last.flags & MORE), (MORE, 0))
        self.assertEqual(decode_body(MSGPACK, more.body + last.body), "hello")
        self.assertEqual(struct.unpack(">I", decode_frame(VECTORS["stream-window"]).body)[0], 65_536)
        self.assertEqual(struct.unpack(">Q", decode_frame(VECTORS["stream-gap"]).body)[0], 42)
        end = decode_frame(VECTORS["stream-end-error"])
        self.assertEqual((end.kind, end.status, end.head.message), (STREAM_END, 10, "feed closed"))
        self.assertEqual(decode_frame(VECTORS["ping"]).id, 42)


if __name__ == "__main__":
    unittest.main()
