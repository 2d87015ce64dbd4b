//! The test vectors of PROTOCOL.md: each hex dump decodes to the frame the spec describes and
//! re-encodes to the same bytes.

#[path = "../support/doc_vectors.rs"]
mod doc_vectors;

use bytes::{Bytes, BytesMut};
use doc_vectors::vectors;
use erpc::protocol::{CompressionList, Decoded, Frame, FrameDecoder, Header, Kind, Limits};
use erpc::{Code, CodecId, CompressionId};

/// The gzip body of the response-gzip vector: any gzip stream of the same content would do,
/// so the test also inflates it.
const GZIP_HELLO_ADA: &[u8] = &[
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x5b, 0x95, 0x91, 0x9a, 0x93, 0x93,
    0xaf, 0xa3, 0x90, 0x98, 0x92, 0x08, 0x00, 0xe4, 0xce, 0x53, 0x48, 0x0b, 0x00, 0x00, 0x00,
];

/// The frames PROTOCOL.md's vectors describe, by name.
fn expected(name: &str) -> Frame {
    match name {
        "request" => {
            let mut f = Frame::new(Kind::REQUEST, 1);
            f.head.service = Some("Greeter".into());
            f.head.method = Some("hello".into());
            f.head.deadline_micros = Some(1_500_000);
            f.head.metadata.insert("authorization", "Bearer t0k3n");
            f.head.metadata.insert("trace-id", "abc");
            f.body = Bytes::from_static(b"\xa3ada");
            f
        }
        "response" => {
            let mut f = Frame::new(Kind::RESPONSE, 1);
            f.body = Bytes::from_static(b"\xaahello, ada");
            f
        }
        "request-accept" => {
            let mut f = Frame::new(Kind::REQUEST, 8);
            f.head.service = Some("Greeter".into());
            f.head.method = Some("hello".into());
            f.head.accept_compression = CompressionList::from_wire(&[1, 3]).unwrap();
            f.body = Bytes::from_static(b"\xa3ada");
            f
        }
        "response-gzip" => {
            let mut f = Frame::new(Kind::RESPONSE, 8);
            f.header.compression = CompressionId::GZIP;
            f.body = Bytes::from_static(GZIP_HELLO_ADA);
            f
        }
        "error" => {
            let mut f = Frame::new(Kind::RESPONSE, 2);
            f.header.status = Code::NotFound as u8;
            f.head.message = Some("no such user".into());
            f
        }
        "json-request" => {
            let mut f = Frame::new(Kind::REQUEST, 7);
            f.header.codec = CodecId::JSON;
            f.head.service = Some("Greeter".into());
            f.head.method = Some("hello".into());
            f.head.deadline_micros = Some(250_000);
            f.body = Bytes::from_static(b"\"ada\"");
            f
        }
        "oneway" => {
            let mut f = Frame::new(Kind::ONEWAY, 4);
            f.head.service = Some("Log".into());
            f.head.method = Some("line".into());
            f.body = Bytes::from_static(b"\xa2hi");
            f
        }
        "cancel" => Frame::new(Kind::CANCEL, 3),
        "ping" => Frame::new(Kind::PING, 42),
        "pong" => Frame::new(Kind::PONG, 42),
        "goaway" => {
            let mut f = Frame::new(Kind::GOAWAY, 9);
            f.head.message = Some("server is shutting down".into());
            f
        }
        "connection-error" => {
            let mut f = Frame::new(Kind::ERROR, 0);
            f.header.status = Code::InvalidArgument as u8;
            f.head.message = Some("bad magic".into());
            f
        }
        "stream-open" => {
            let mut f = Frame::new(Kind::STREAM_OPEN, 5);
            f.head.service = Some("Numbers".into());
            f.head.method = Some("count".into());
            f.head.deadline_micros = Some(30_000_000);
            f
        }
        "stream-data" => {
            let mut f = Frame::new(Kind::STREAM_DATA, 5);
            f.body = Bytes::from_static(b"\x03");
            f
        }
        "stream-data-more" => {
            let mut f = Frame::new(Kind::STREAM_DATA, 5);
            f.header.flags = Header::MORE;
            f.body = Bytes::from_static(b"\xa5hel");
            f
        }
        "stream-data-last" => {
            let mut f = Frame::new(Kind::STREAM_DATA, 5);
            f.body = Bytes::from_static(b"lo");
            f
        }
        "stream-window" => {
            let mut f = Frame::new(Kind::STREAM_WINDOW, 5);
            f.body = Bytes::from_static(b"\x00\x01\x00\x00");
            f
        }
        "stream-gap" => {
            let mut f = Frame::new(Kind::STREAM_GAP, 5);
            f.body = Bytes::from_static(b"\x00\x00\x00\x00\x00\x00\x00\x2a");
            f
        }
        "stream-end" => Frame::new(Kind::STREAM_END, 5),
        "stream-end-error" => {
            let mut f = Frame::new(Kind::STREAM_END, 5);
            f.header.status = Code::Aborted as u8;
            f.head.message = Some("feed closed".into());
            f
        }
        other => panic!("PROTOCOL.md has a vector {other:?} this test does not know"),
    }
}

#[test]
fn protocol_md_vectors_decode_and_reencode_byte_for_byte() {
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/PROTOCOL.md"))
        .expect("PROTOCOL.md at the repository root");
    let vectors = vectors(&spec);
    let names: Vec<&str> = vectors.iter().map(|(n, _)| n.as_str()).collect();
    for required in [
        "request",
        "response",
        "request-accept",
        "response-gzip",
        "error",
        "cancel",
        "ping",
        "stream-open",
        "stream-data",
        "stream-data-more",
        "stream-window",
        "stream-gap",
        "stream-end",
        "stream-end-error",
    ] {
        assert!(
            names.contains(&required),
            "PROTOCOL.md lacks the {required} vector"
        );
    }
    for (name, bytes) in vectors {
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = FrameDecoder::new(Limits::default());
        let frame = match decoder.decode(&mut buf) {
            Ok(Some(Decoded::Frame(frame))) => frame,
            other => panic!("vector {name} does not decode: {other:?}"),
        };
        assert!(
            buf.is_empty(),
            "vector {name} has {} trailing bytes",
            buf.len()
        );
        let want = expected(&name);
        assert!(
            frame.same_content(&want),
            "vector {name}:\n got {frame:?}\nwant {want:?}"
        );
        let mut again = BytesMut::new();
        frame.encode(&mut again).unwrap();
        assert_eq!(
            &again[..],
            &bytes[..],
            "vector {name} re-encodes differently"
        );
    }
}

/// The compressed vector's body inflates to what the spec says.
#[test]
fn the_gzip_vector_inflates_to_the_response() {
    let inflated =
        erpc::codec::compression::decompress(CompressionId::GZIP, GZIP_HELLO_ADA, 64).unwrap();
    assert_eq!(&inflated[..], b"\xaahello, ada");
}
