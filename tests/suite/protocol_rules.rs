//! PROTOCOL.md, rule by rule: each normative sentence with a number or a behaviour that no
//! other test covered has a test here, citing its section. The others are covered where
//! they live:
//!
//! - §1 no handshake, §4 mapping (several arguments as an array), §8 cancel sends nothing
//!   back, §10 PONG carries the PING's id, §13 a stream's frames: `python/client.py` (a
//!   client written from the document alone), run by `python_client.rs`.
//! - §2 every frame shape and test vector, byte for byte: `protocol_vectors.rs`; lengths
//!   checked before allocating: `erpc-core` `protocol::decoder` tests; the metadata count and
//!   header-block size: `limits.rs` `metadata_is_capped_by_count_and_size`; a field running
//!   past `head_len`: `malformed.rs`.
//! - §3 duplicate ids, unknown kinds answered `unimplemented`: `malformed.rs`; RESPONSEs for
//!   unknown ids ignored: `flood_counters.rs`.
//! - §5 unknown codec, undecodable body: `malformed.rs`; nesting caps: `erpc-codec` tests.
//! - §6 compression: `limits.rs` (bombs), `malformed.rs` (corrupt, unknown id).
//! - §7 unknown codes map to `unknown`: `erpc-core` `status` tests.
//! - §8 relative deadlines, default, zero, clamping: `deadline.rs`; abort at the deadline:
//!   `conformance.rs`; the limits table: `limits.rs`, `abuse.rs`, `flood_counters.rs`,
//!   `stream_malformed.rs`, `streaming.rs`.
//! - §9 bad magic, version, malformed block, panics: `malformed.rs`; first-frame deadline:
//!   `heartbeat.rs`, `flood_counters.rs`.
//! - §10 heartbeats: `heartbeat.rs`; grace period: `shutdown.rs`.
//! - §12 transports: `conformance.rs`, `tls.rs`, `websocket.rs`, `quic.rs`, `udp.rs`.
//! - §13 streams: `streaming.rs`, `stream_malformed.rs`, `stream_memory.rs`.

use crate::support;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use erpc::protocol::{Frame, Header, Kind};
use erpc::{ClientConfig, Code, CodecId, HeartbeatConfig, ServerConfig};
use support::*;

/// A frame with a hand-written header block (fields in any order, or malformed).
fn with_head(kind: Kind, id: u64, head: &[u8], body: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    Header {
        codec: CodecId::JSON,
        head_len: head.len() as u32,
        body_len: body.len() as u32,
        ..Frame::new(kind, id).header
    }
    .encode(&mut out);
    out.extend_from_slice(head);
    out.extend_from_slice(body);
    out
}

fn field(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.put_u16(value.len() as u16);
    out.extend_from_slice(value);
    out
}

/// The next RESPONSE for `id`, skipping everything else.
async fn response(peer: &mut RawPeer, id: u64) -> Frame {
    loop {
        let frame = peer.recv_reply().await.expect("a response");
        if frame.header.kind == Kind::RESPONSE && frame.header.request_id == id {
            return frame;
        }
        assert_ne!(frame.header.kind, Kind::ERROR, "{frame:?}");
    }
}

/// §1, §2.2, §8, §10, §13: every default the document states is the default in code.
#[test]
fn the_documented_defaults_are_the_defaults() {
    let server = ServerConfig::default();
    assert_eq!(server.first_frame_timeout, Duration::from_secs(10), "§1");
    assert_eq!(server.default_deadline, Duration::from_secs(10), "§8");
    assert_eq!(server.max_deadline, Duration::from_secs(3600), "§8");
    assert_eq!(server.max_in_flight, 1_024, "§8");
    assert_eq!(server.max_junk_frames, 1_000, "§8");
    assert_eq!(server.max_cancel_debt, 2_048, "§8");
    assert_eq!(server.write_queue, 4_096, "§8 unread answers");
    assert_eq!(server.max_connections, 10_000, "§8");
    assert_eq!(server.stream_window, 262_144, "§8, §13");
    assert_eq!(server.shutdown_grace, Duration::from_secs(10), "§10");
    assert_eq!(server.compression_threshold, 1_024, "§4, §6");
    let limits = server.limits;
    assert_eq!(limits.max_body, 4 << 20, "§8 body");
    assert_eq!(limits.max_head, 16 << 10, "§8 header block");
    assert_eq!(limits.max_metadata_entries, 64, "§2.2, §8");
    assert_eq!(limits.max_decompressed, 4 << 20, "§6, §8");
    assert_eq!(limits.max_discard, 64 << 20, "§8");
    assert_eq!(
        HeartbeatConfig::default(),
        HeartbeatConfig {
            interval: Duration::from_secs(15),
            misses: 3
        },
        "§10"
    );
    let client = ClientConfig::default();
    assert_eq!(
        client.limits, limits,
        "§8: the client's limits are the same"
    );
    assert_eq!(client.stream_window, 262_144, "§13");
    assert_eq!(client.heartbeat, HeartbeatConfig::default(), "§10");
}

/// §1: one connection carries concurrent calls; responses may arrive in any order.
#[tokio::test]
async fn responses_come_in_the_order_calls_finish() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    // msgpack 300 = cd 01 2c
    peer.send(&request(1, "sleep", CodecId::MSGPACK, &[0xcd, 0x01, 0x2c]))
        .await;
    peer.send(&request(2, "len", CodecId::JSON, b"\"ab\""))
        .await;
    let first = peer.recv_reply().await.unwrap();
    let second = peer.recv_reply().await.unwrap();
    assert_eq!((first.header.request_id, second.header.request_id), (2, 1));
}

/// §2.1: receivers ignore flag bits they do not know, and the codec byte of a frame without
/// a body.
#[tokio::test]
async fn unknown_flag_bits_and_the_codec_of_bodyless_frames_are_ignored() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let mut call = request(1, "len", CodecId::JSON, b"\"abc\"");
    call.header.flags = 0xff;
    peer.send(&call).await;
    let reply = response(&mut peer, 1).await;
    assert_eq!((reply.header.status, &reply.body[..]), (0, &b"3"[..]));
    let mut ping = Frame::new(Kind::PING, 77);
    ping.header.flags = 0xfe;
    ping.header.codec = CodecId(0xee);
    peer.send(&ping).await;
    let pong = peer.recv().await.unwrap();
    assert_eq!((pong.header.kind, pong.header.request_id), (Kind::PONG, 77));
}

/// §2.1: status is `00` outside RESPONSE, STREAM_END and ERROR; flags are `00` except MORE
/// on STREAM_DATA; erpc writes codec `01` on frames without a message.
#[tokio::test]
async fn erpc_writes_zero_flags_and_status_where_they_mean_nothing() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    peer.send(&Frame::new(Kind::PING, 5)).await;
    let pong = peer.recv().await.unwrap();
    assert_eq!(
        (pong.header.flags, pong.header.status, pong.header.codec),
        (0, 0, CodecId::MSGPACK),
        "PONG"
    );
    let mut open = Frame::new(Kind::STREAM_OPEN, 1);
    open.head.service = Some("Feed".into());
    open.head.method = Some("count".into());
    peer.send(&open).await;
    let mut three = Frame::new(Kind::STREAM_DATA, 1);
    three.body = Bytes::from_static(&[0x03]);
    peer.send(&three).await;
    peer.send(&Frame::new(Kind::STREAM_END, 1)).await;
    loop {
        let frame = peer.recv_reply().await.unwrap();
        assert_eq!(frame.header.flags, 0, "{frame:?}");
        assert_eq!(frame.header.status, 0, "{frame:?}");
        if frame.header.kind == Kind::STREAM_END {
            assert!(frame.head.message.is_none(), "{frame:?}");
            break;
        }
        assert_eq!(frame.header.kind, Kind::STREAM_DATA, "{frame:?}");
    }
}

/// §2.2: fields may come in any order.
#[tokio::test]
async fn header_fields_in_any_order_are_accepted() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let mut head = field(3, &2_000_000u64.to_be_bytes());
    head.extend(field(2, b"len"));
    head.extend(field(1, b"Echo"));
    peer.send_bytes(&with_head(Kind::REQUEST, 1, &head, b"\"abcd\""))
        .await;
    let reply = response(&mut peer, 1).await;
    assert_eq!((reply.header.status, &reply.body[..]), (0, &b"4"[..]));
}

/// §2.2: an unknown tag below `80` is skipped; from `80` up the frame is refused with
/// `unimplemented`.
#[tokio::test]
async fn unknown_tags_are_skipped_below_0x80_and_refused_from_it() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    for (id, tag) in [(1, 0x20u8), (2, 0x7f), (3, 0x80), (4, 0xff)] {
        let mut head = field(1, b"Echo");
        head.extend(field(tag, b"future"));
        head.extend(field(2, b"len"));
        peer.send_bytes(&with_head(Kind::REQUEST, id, &head, b"\"ab\""))
            .await;
        let reply = response(&mut peer, id).await;
        if tag < 0x80 {
            assert_eq!(reply.header.status, 0, "tag {tag:#x}");
        } else {
            assert_eq!(
                reply.header.status,
                Code::Unimplemented as u8,
                "tag {tag:#x}"
            );
            let message = reply.head.message.unwrap();
            assert!(message.contains("critical"), "{}", message.as_str());
        }
    }
}

/// §2.2, §9: each kind of malformed header block fails only its call, `invalid_argument`.
#[tokio::test]
async fn each_kind_of_malformed_header_block_fails_only_its_call() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let method = field(2, b"len");
    let cases: [(&str, Vec<u8>); 6] = [
        (
            "a string that is not UTF-8",
            [field(1, b"\xffEcho"), method.clone()].concat(),
        ),
        (
            "a once-only field twice",
            [field(1, b"Echo"), field(1, b"Echo"), method.clone()].concat(),
        ),
        (
            "a deadline that is not 8 bytes",
            [field(1, b"Echo"), method.clone(), field(3, &[0; 7])].concat(),
        ),
        (
            "a metadata key of length 0",
            [field(1, b"Echo"), method.clone(), field(4, b"\x00value")].concat(),
        ),
        (
            "a metadata key longer than its field",
            [field(1, b"Echo"), method.clone(), field(4, b"\x09key")].concat(),
        ),
        (
            "an empty metadata field",
            [field(1, b"Echo"), method.clone(), field(4, b"")].concat(),
        ),
    ];
    for (id, (what, head)) in (1..).zip(cases) {
        peer.send_bytes(&with_head(Kind::REQUEST, id, &head, b"\"ab\""))
            .await;
        let reply = response(&mut peer, id).await;
        assert_eq!(reply.header.status, Code::InvalidArgument as u8, "{what}");
        // The connection goes on.
        peer.send(&request(100 + id, "len", CodecId::JSON, b"\"ab\""))
            .await;
        assert_eq!(
            response(&mut peer, 100 + id).await.header.status,
            0,
            "{what}"
        );
    }
}

/// §3: request ids of calls are non-zero; a call with id 0 names no call anyone could
/// answer, so it is a protocol error: ERROR `invalid_argument`, close.
#[tokio::test]
async fn a_call_with_request_id_zero_is_a_protocol_error() {
    let server = start("tcp", ServerConfig::default()).await;
    for kind in [Kind::REQUEST, Kind::ONEWAY, Kind::STREAM_OPEN] {
        let mut peer = RawPeer::connect(&server.addr).await;
        let mut call = request(0, "len", CodecId::JSON, b"\"ab\"");
        call.header.kind = kind;
        peer.send(&call).await;
        let error = peer.recv_reply().await.expect("an ERROR frame");
        assert_eq!(error.header.kind, Kind::ERROR, "{kind:?}: {error:?}");
        assert_eq!(error.header.status, Code::InvalidArgument as u8, "{kind:?}");
        let message = error.head.message.unwrap();
        assert!(message.contains("request id 0"), "{}", message.as_str());
        assert!(peer.recv().await.is_none(), "{kind:?}: closed");
    }
    assert_eq!(client(&server.addr).len("ok".into()).await.unwrap(), 2);
}

/// §3: a client ignores frames of unknown kind.
#[tokio::test]
async fn a_client_ignores_frames_of_unknown_kind() {
    // Every call is answered after two frames of a kind from the future, one with the
    // call's id and one with id 0.
    let (addr, server) = scripted_server(|call| {
        let id = call.header.request_id;
        let unknown = |id| {
            let mut frame = Frame::new(Kind(0x55), id);
            frame.body = Bytes::from_static(b"future");
            frame
        };
        let mut reply = Frame::new(Kind::RESPONSE, id);
        reply.header.codec = CodecId::MSGPACK;
        reply.body = Bytes::from_static(&[0x02]);
        vec![unknown(0), unknown(id), reply]
    })
    .await;
    let client = client(&addr);
    assert_eq!(client.len("ab".into()).await.unwrap(), 2);
    assert_eq!(client.len("cd".into()).await.unwrap(), 2);
    drop(client);
    server.abort();
}

/// §4: a failed RESPONSE has a non-zero status, a status message, the details if any, and
/// an empty body.
#[tokio::test]
async fn a_failed_response_carries_message_and_details_and_no_body() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    peer.send(&request(1, "fail", CodecId::JSON, b"[5, \"gone\"]"))
        .await;
    let reply = response(&mut peer, 1).await;
    assert_eq!(reply.header.status, Code::NotFound as u8);
    assert_eq!(reply.head.message.unwrap().as_str(), "gone");
    assert_eq!(&reply.head.details.unwrap()[..], b"details");
    assert!(reply.body.is_empty());
}

/// §4, §9: a ONEWAY is never answered, not even on failure.
#[tokio::test]
async fn a_oneway_is_never_answered_even_when_it_fails() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let oneway = |id, method: &'static str, body: &[u8]| {
        let mut frame = request(id, method, CodecId::JSON, body);
        frame.header.kind = Kind::ONEWAY;
        frame
    };
    let mut unknown_service = oneway(1, "notify", b"1");
    unknown_service.head.service = Some("Nope".into());
    let mut unknown_codec = oneway(4, "notify", b"1");
    unknown_codec.header.codec = CodecId(99);
    for frame in [
        unknown_service,
        oneway(2, "nope", b"1"),
        oneway(3, "notify", b"{not json"),
        unknown_codec,
        oneway(5, "boom", b"null"),
    ] {
        peer.send(&frame).await;
    }
    peer.send(&request(6, "len", CodecId::JSON, b"\"ab\""))
        .await;
    let next = peer.recv_reply().await.unwrap();
    assert_eq!(
        (next.header.kind, next.header.request_id),
        (Kind::RESPONSE, 6),
        "a failed oneway was answered"
    );
}

/// §4: with no argument the request body is the unit value: MessagePack nil, JSON null.
#[tokio::test]
async fn no_argument_is_the_unit_value_in_each_codec() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    peer.send(&request(1, "remaining_ms", CodecId::MSGPACK, &[0xc0]))
        .await;
    peer.send(&request(2, "remaining_ms", CodecId::JSON, b"null"))
        .await;
    for id in [1, 2] {
        assert_eq!(response(&mut peer, id).await.header.status, 0, "{id}");
    }
}

/// §8: a request without a deadline field gets the server's default (10 s).
#[tokio::test]
async fn a_request_without_a_deadline_gets_the_servers_default() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let mut call = request(1, "remaining_ms", CodecId::JSON, b"null");
    call.head.deadline_micros = None;
    peer.send(&call).await;
    let reply = response(&mut peer, 1).await;
    let left: u64 = std::str::from_utf8(&reply.body).unwrap().parse().unwrap();
    assert!((9_000..=10_000).contains(&left), "{left} ms left");
}

/// §8, §9: a frame beyond the discard limit closes the connection with ERROR
/// `resource_exhausted` naming the size and the limit.
#[tokio::test]
async fn a_frame_beyond_the_discard_limit_closes_with_resource_exhausted() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let mut bytes = BytesMut::new();
    Header {
        body_len: (64 << 20) + 1,
        ..Frame::new(Kind::REQUEST, 1).header
    }
    .encode(&mut bytes);
    peer.send_bytes(&bytes).await;
    let error = peer.recv_reply().await.expect("an ERROR frame");
    assert_eq!(error.header.kind, Kind::ERROR);
    assert_eq!(error.header.status, Code::ResourceExhausted as u8);
    let message = error.head.message.unwrap();
    assert!(
        message.contains("67108865") && message.contains("discard limit"),
        "{}",
        message.as_str()
    );
    assert!(peer.recv().await.is_none(), "closed");
}

/// §7, §9: status messages are at most 4,096 bytes, cut on a character boundary and marked.
#[tokio::test]
async fn status_messages_are_cut_to_4096_bytes() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let long = "é".repeat(5_000);
    let body = serde_json::to_vec(&(13, &long)).unwrap();
    peer.send(&request(1, "fail", CodecId::JSON, &body)).await;
    let message = response(&mut peer, 1).await.head.message.unwrap();
    assert!(message.len() <= 4_096, "{} bytes", message.len());
    let kept = message
        .as_str()
        .strip_suffix(" [cut from 10000 bytes]")
        .expect("marked as cut");
    assert!(long.starts_with(kept) && kept.len() > 4_000);
}

/// §10: every PING is answered with a PONG carrying its id — also when the writer's queue is
/// full of responses the client has not read yet.
#[tokio::test]
async fn every_ping_is_answered_even_behind_a_full_write_queue() {
    let server = start(
        "tcp",
        ServerConfig {
            write_queue: 16,
            ..ServerConfig::default()
        },
    )
    .await;
    let mut peer = RawPeer::connect(&server.addr).await;
    // 60 responses of 512 KiB: far more than the socket buffers and the queue hold.
    let mut calls = BytesMut::new();
    for id in 1..=60 {
        // msgpack 524288 = ce 00 08 00 00
        request(
            id,
            "fill",
            CodecId::MSGPACK,
            &[0xce, 0x00, 0x08, 0x00, 0x00],
        )
        .encode(&mut calls)
        .unwrap();
    }
    peer.send_bytes(&calls).await;
    // Time for the handlers to answer and fill the queue. Nothing outside shows the queue
    // full; if it is not yet, the PONGs pass anyway, so this wait can only make the test
    // weaker, never flaky.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut pings = BytesMut::new();
    for id in 1_000..1_010 {
        Frame::new(Kind::PING, id).encode(&mut pings).unwrap();
    }
    peer.send_bytes(&pings).await;
    let (mut pongs, mut responses) = (Vec::new(), 0);
    while responses < 60 {
        let frame = peer.recv().await.expect("the connection stays open");
        match frame.header.kind {
            Kind::PONG => pongs.push(frame.header.request_id),
            Kind::RESPONSE => responses += 1,
            _ => {}
        }
    }
    // The last PONGs may come after the last response.
    while pongs.len() < 10 {
        let frame = tokio::time::timeout(Duration::from_secs(2), peer.recv())
            .await
            .unwrap_or_else(|_| panic!("PONGs for only {pongs:?}"))
            .unwrap();
        if frame.header.kind == Kind::PONG {
            pongs.push(frame.header.request_id);
        }
    }
    assert_eq!(pongs, (1_000..1_010).collect::<Vec<_>>());
}

/// §10: after GOAWAY (its id the highest call accepted) later calls are answered
/// `unavailable` without running, and running ones finish.
#[tokio::test]
async fn after_goaway_running_calls_finish_and_new_ones_are_refused_unavailable() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    // msgpack 300 = cd 01 2c
    peer.send(&request(5, "sleep", CodecId::MSGPACK, &[0xcd, 0x01, 0x2c]))
        .await;
    wait_for(&server.probe.started, 1, Duration::from_secs(5)).await;
    let shutdown = tokio::spawn(server.handle.shutdown());
    let goaway = peer.recv_reply().await.unwrap();
    assert_eq!(
        (goaway.header.kind, goaway.header.request_id),
        (Kind::GOAWAY, 5)
    );
    assert!(goaway.head.message.is_some());
    peer.send(&request(6, "len", CodecId::JSON, b"\"ab\""))
        .await;
    let refused = response(&mut peer, 6).await;
    assert_eq!(refused.header.status, Code::Unavailable as u8);
    assert_eq!(
        *server.probe.started.borrow(),
        1,
        "the refused call did not run"
    );
    let finished = response(&mut peer, 5).await;
    assert_eq!(finished.header.status, 0);
    shutdown.await.unwrap();
}

/// §13: a message over 65,536 bytes (after compression) is cut into chunks of at most
/// 65,536 bytes, every chunk but the last flagged MORE.
#[tokio::test]
async fn a_large_stream_message_is_cut_into_65536_byte_chunks() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let mut open = Frame::new(Kind::STREAM_OPEN, 1);
    open.head.service = Some("Feed".into());
    open.head.method = Some("blob".into());
    peer.send(&open).await;
    let mut args = Frame::new(Kind::STREAM_DATA, 1);
    // msgpack [1, 131073]: one message of 2 × 65,536 + 1 bytes.
    args.body = Bytes::from_static(&[0x92, 0x01, 0xce, 0x00, 0x02, 0x00, 0x01]);
    peer.send(&args).await;
    peer.send(&Frame::new(Kind::STREAM_END, 1)).await;
    let mut chunks = Vec::new();
    loop {
        let frame = peer.recv_reply().await.unwrap();
        match frame.header.kind {
            Kind::STREAM_DATA => chunks.push((frame.body.len(), frame.header.flags)),
            Kind::STREAM_END => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        chunks,
        [(65_536, Header::MORE), (65_536, Header::MORE), (1, 0)]
    );
}
