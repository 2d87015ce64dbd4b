//! Bad input gets a clear error and loses nothing: other calls and connections carry on.

use crate::support;

use erpc::protocol::{Frame, Header, Kind};
use erpc::{Code, CodecId, ServerConfig};
use support::*;

async fn others_still_served(addr: &str) {
    assert_eq!(client(addr).len("still here".into()).await.unwrap(), 10);
}

#[tokio::test]
async fn bad_magic_gets_an_error_frame_and_a_close() {
    let server = start("tcp", ServerConfig::default()).await;
    let healthy = client(&server.addr);
    assert_eq!(healthy.len("a".into()).await.unwrap(), 1);
    let mut peer = RawPeer::connect(&server.addr).await;
    peer.send_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let error = peer.recv_reply().await.expect("an ERROR frame");
    assert_eq!(error.header.kind, Kind::ERROR);
    assert_eq!(error.header.status, Code::InvalidArgument as u8);
    let message = error.head.message.unwrap();
    assert!(message.contains("magic"), "{message}");
    assert!(peer.recv().await.is_none());
    // The healthy client's existing connection is untouched.
    assert_eq!(healthy.len("ab".into()).await.unwrap(), 2);
    others_still_served(&server.addr).await;
}

#[tokio::test]
async fn unsupported_version_is_refused_with_a_clear_error() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let mut bytes = bytes::BytesMut::new();
    request(1, "len", CodecId::JSON, b"\"a\"")
        .encode(&mut bytes)
        .unwrap();
    bytes[2] = 9;
    peer.send_bytes(&bytes).await;
    let error = peer.recv_reply().await.unwrap();
    assert_eq!(error.header.kind, Kind::ERROR);
    assert!(error.head.message.unwrap().contains("version 9"));
    others_still_served(&server.addr).await;
}

#[tokio::test]
async fn a_truncated_frame_then_hangup_harms_no_one() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let mut bytes = bytes::BytesMut::new();
    request(1, "len", CodecId::JSON, b"\"abcdef\"")
        .encode(&mut bytes)
        .unwrap();
    peer.send_bytes(&bytes[..bytes.len() - 3]).await;
    drop(peer);
    others_still_served(&server.addr).await;
}

#[tokio::test]
async fn unknown_codec_compression_kind_service_and_method_get_statuses() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;

    let mut unknown_codec = request(1, "len", CodecId(99), b"\"a\"");
    unknown_codec.header.codec = CodecId(99);
    let mut unknown_compression = request(2, "len", CodecId::JSON, b"\"a\"");
    unknown_compression.header.compression = erpc::CompressionId(77);
    let mut unknown_kind = request(3, "len", CodecId::JSON, b"\"a\"");
    unknown_kind.header.kind = Kind(0x55);
    let mut unknown_service = request(4, "len", CodecId::JSON, b"\"a\"");
    unknown_service.head.service = Some("Nope".into());
    let unknown_method = request(5, "nope", CodecId::JSON, b"\"a\"");
    let undecodable = request(6, "len", CodecId::JSON, b"{not json");
    let mut corrupt_gzip = request(7, "len", CodecId::JSON, b"not gzip at all");
    corrupt_gzip.header.compression = erpc::CompressionId::GZIP;

    let cases = [
        (unknown_codec, Code::Unimplemented, "codec"),
        (unknown_compression, Code::Unimplemented, "compression"),
        (unknown_kind, Code::Unimplemented, "kind"),
        (unknown_service, Code::Unimplemented, "Nope"),
        (unknown_method, Code::Unimplemented, "nope"),
        (undecodable, Code::InvalidArgument, "decode"),
        (corrupt_gzip, Code::InvalidArgument, "corrupt"),
    ];
    for (frame, code, needle) in &cases {
        peer.send(frame).await;
        let reply = peer.recv_reply().await.unwrap();
        assert_eq!(reply.header.kind, Kind::RESPONSE);
        assert_eq!(reply.header.request_id, frame.header.request_id);
        assert_eq!(Code::from_u8(reply.header.status), *code, "{needle}");
        let message = reply.head.message.unwrap();
        assert!(message.contains(needle), "{needle}: {message}");
    }
    // Same connection, a good call.
    peer.send(&request(9, "len", CodecId::JSON, b"\"abcd\""))
        .await;
    let reply = peer.recv_reply().await.unwrap();
    assert_eq!((reply.header.request_id, reply.header.status), (9, 0));
}

#[tokio::test]
async fn a_malformed_header_block_fails_only_its_call() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let mut bytes = bytes::BytesMut::new();
    Header {
        head_len: 4,
        body_len: 0,
        ..Frame::new(Kind::REQUEST, 1).header
    }
    .encode(&mut bytes);
    bytes.extend_from_slice(&[0x01, 0x00, 0x09, b'x']); // service field claims 9 bytes, has 1
    peer.send_bytes(&bytes).await;
    let reply = peer.recv_reply().await.unwrap();
    assert_eq!(reply.header.status, Code::InvalidArgument as u8);
    assert!(reply.head.message.unwrap().contains("truncated"));
    peer.send(&request(2, "len", CodecId::JSON, b"\"ab\""))
        .await;
    let reply = peer.recv_reply().await.unwrap();
    assert_eq!((reply.header.request_id, reply.header.status), (2, 0));
}

/// RELIABILITY.md row 8: duplicates of a running call's id (PROTOCOL.md §3) start nothing and
/// get no answer; the original gets its own. Fewer than the junk limit (§8), so the connection
/// stays open and serves the next id.
#[tokio::test]
async fn a_duplicate_request_id_leaves_the_original_call_alone() {
    const DUPLICATES: u64 = 100;
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    // msgpack 500 (0xcd 0x01 0xf4): sleep 500 ms, long enough for every duplicate to land
    // while it runs.
    let original = request(7, "sleep", CodecId::MSGPACK, &[0xcd, 0x01, 0xf4]);
    let sent = std::time::Instant::now();
    peer.send(&original).await;
    wait_for(&server.probe.started, 1, std::time::Duration::from_secs(2)).await;
    // Duplicates that would run a handler (a `sleep` of 1 ms) and one of another method and
    // codec, written at once.
    let mut dups = bytes::BytesMut::new();
    for _ in 0..DUPLICATES - 1 {
        request(7, "sleep", CodecId::MSGPACK, &[0x01])
            .encode(&mut dups)
            .unwrap();
    }
    request(7, "len", CodecId::JSON, b"\"dup\"")
        .encode(&mut dups)
        .unwrap();
    peer.send_bytes(&dups).await;
    let reply = peer.recv_reply().await.unwrap();
    let took = sent.elapsed();
    assert_eq!(reply.header.request_id, 7);
    assert_eq!(reply.header.status, 0);
    assert_eq!(
        &reply.body[..],
        &[0xcd, 0x01, 0xf4],
        "the original sleep's answer"
    );
    // The next frame on the connection answers the next call: no duplicate was answered.
    peer.send(&request(8, "len", CodecId::JSON, b"\"next\""))
        .await;
    let next = peer.recv_reply().await.unwrap();
    assert_eq!((next.header.request_id, next.header.status), (8, 0));
    let started = *server.probe.started.borrow();
    println!(
        "{DUPLICATES} duplicates of a running call's id: {} handlers started for them, 0 \
         answered; the original answered with its own result after {} ms (it sleeps 500)",
        started - 1,
        took.as_millis()
    );
    assert_eq!(started, 1, "a duplicate started a handler");
}

#[tokio::test]
async fn a_panicking_handler_fails_only_its_call() {
    let server = start("mem", ServerConfig::default()).await;
    let client = client(&server.addr);
    let err = client.boom().await.unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert!(err.message().contains("panicked"));
    assert_eq!(client.len("ok".into()).await.unwrap(), 2);
}

#[tokio::test]
async fn handler_statuses_reach_the_caller_with_details() {
    let server = start("mem", ServerConfig::default()).await;
    let client = client(&server.addr);
    let err = client
        .fail(Code::NotFound as u8, "no such thing".into())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), "no such thing");
    assert_eq!(&err.details()[..], b"details");
}
