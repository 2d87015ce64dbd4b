//! Size limits: exact boundaries, the connection stays usable, caps on metadata and on
//! running handlers.

use crate::support;

use std::time::Duration;

use bytes::BytesMut;
use erpc::protocol::Limits;
use erpc::{ClientConfig, Code, CodecId, CompressionId, Message, Raw, ServerConfig};
use support::*;

const LIMIT: u32 = 2048;

fn small_server() -> ServerConfig {
    ServerConfig {
        limits: Limits {
            max_body: LIMIT,
            max_decompressed: LIMIT as usize,
            ..Limits::default()
        },
        ..ServerConfig::default()
    }
}

/// A string whose encoding in `codec` is exactly `target` bytes.
fn string_encoded_as(codec: CodecId, target: usize) -> String {
    let codecs = erpc::Codecs::default();
    let codec = codecs.get(codec).unwrap();
    let mut n = target;
    loop {
        let s = "a".repeat(n);
        let mut out = BytesMut::new();
        s.encode(codec, &mut out).unwrap();
        if out.len() == target {
            return s;
        }
        n = n + target - out.len();
    }
}

#[tokio::test]
async fn body_at_limit_minus_one_limit_and_plus_one() {
    let server = start("tcp", small_server()).await;
    let client = EchoClient::new(
        erpc::Client::builder()
            .connections(1)
            .build(server.addr.as_str())
            .unwrap(),
    );
    let limit = LIMIT as usize;
    for codec in [CodecId::MSGPACK, CodecId::JSON] {
        for (size, ok) in [(limit - 1, true), (limit, true), (limit + 1, false)] {
            let text = string_encoded_as(codec, size);
            let result = client.len(text.clone()).codec(codec).await;
            match (ok, result) {
                (true, Ok(n)) => assert_eq!(n as usize, text.len()),
                (false, Err(e)) => {
                    assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
                    assert!(e.message().contains(&format!("{size}")), "{e}");
                }
                (want, got) => panic!("{codec} at {size}: wanted ok={want}, got {got:?}"),
            }
            // The connection stays usable after a refusal.
            assert_eq!(client.len("x".into()).await.unwrap(), 1);
        }
    }
    for (size, ok) in [(limit - 1, true), (limit, true), (limit + 1, false)] {
        let result = client.raw_len(Raw(vec![1u8; size].into())).await;
        assert_eq!(result.is_ok(), ok, "raw at {size}: {result:?}");
        if let Err(e) = result {
            assert_eq!(e.code(), Code::ResourceExhausted);
        }
    }
}

#[tokio::test]
async fn a_decompression_bomb_is_stopped_at_the_limit() {
    let server = start("tcp", ServerConfig::default()).await;
    let other = client(&server.addr);
    let client = client(&server.addr);
    for compression in [
        CompressionId::GZIP,
        CompressionId::ZLIB,
        CompressionId::ZSTD,
    ] {
        // 16 MiB of zeros compress to a few KiB; the server's decompressed limit is 4 MiB.
        let bomb = Raw(vec![0u8; 16 << 20].into());
        let err = client
            .raw_len(bomb)
            .compression(compression)
            .timeout(Duration::from_secs(20))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{compression}: {err}");
        assert_eq!(other.len("fine".into()).await.unwrap(), 4);
        assert_eq!(client.len("fine".into()).await.unwrap(), 4);
    }
}

#[tokio::test]
async fn the_client_refuses_to_send_an_oversized_body() {
    let client = EchoClient::new(
        erpc::Client::builder()
            .config(ClientConfig {
                limits: Limits {
                    max_body: 100,
                    ..Limits::default()
                },
                ..ClientConfig::default()
            })
            .build("tcp://127.0.0.1:9")
            .unwrap(),
    );
    let err = client.raw_len(Raw(vec![0; 101].into())).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn metadata_is_capped_by_count_and_size() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    // 65 entries: one over the default count cap.
    let mut frame = request(1, "len", CodecId::JSON, b"\"a\"");
    for i in 0..65 {
        frame.head.metadata.insert(format!("k{i}"), "v");
    }
    peer.send(&frame).await;
    let reply = peer.recv_reply().await.unwrap();
    assert_eq!(reply.header.status, Code::ResourceExhausted as u8);
    // 20 KiB of metadata: over the 16 KiB header-block cap.
    let mut frame = request(2, "len", CodecId::JSON, b"\"a\"");
    for i in 0..4 {
        frame
            .head
            .metadata
            .insert(format!("big{i}"), vec![b'x'; 5000]);
    }
    peer.send(&frame).await;
    let reply = peer.recv_reply().await.unwrap();
    assert_eq!(reply.header.request_id, 2);
    assert_eq!(reply.header.status, Code::ResourceExhausted as u8);
    // Still usable.
    peer.send(&request(3, "len", CodecId::JSON, b"\"abc\""))
        .await;
    let reply = peer.recv_reply().await.unwrap();
    assert_eq!((reply.header.request_id, reply.header.status), (3, 0));
    assert_eq!(&reply.body[..], b"3");
}

#[tokio::test]
async fn running_handlers_per_connection_are_capped() {
    let server = start(
        "tcp",
        ServerConfig {
            max_in_flight: 8,
            ..ServerConfig::default()
        },
    )
    .await;
    let client = EchoClient::new(
        erpc::Client::builder()
            .connections(1)
            .build(server.addr.as_str())
            .unwrap(),
    );
    let slow: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.sleep(300).await })
        })
        .collect();
    wait_for(&server.probe.started, 8, Duration::from_secs(2)).await;
    let err = client.len("x".into()).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    for call in slow {
        assert_eq!(call.await.unwrap().unwrap(), 300);
    }
    assert_eq!(client.len("x".into()).await.unwrap(), 1);
}

/// A stream message over the server's `max_body` fails its stream `resource_exhausted`,
/// naming the side and the limit, and the connection goes on. Before, the message was
/// skipped and the stream went on without it: a client stream was gathered without a part
/// (or a server-streaming request read as missing: "the stream ended before its request").
#[tokio::test]
async fn a_stream_message_over_the_servers_limit_fails_its_stream_naming_the_limit() {
    let server = start("tcp", small_server()).await;
    let feed = support::feed::FeedClient::new(
        erpc::Client::builder()
            .connections(1)
            .build(server.addr.as_str())
            .unwrap(),
    );
    let parts = futures_util::stream::iter([
        Raw("a".into()),
        Raw(vec![b'b'; 2 * LIMIT as usize].into()),
        Raw("c".into()),
    ]);
    let refused = feed
        .gather(parts)
        .await
        .expect_err("refused, not gathered without it");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
    assert!(
        refused
            .message()
            .contains("server refused a stream message")
            && refused.message().contains("limits.max_body"),
        "{refused}"
    );
    assert_eq!(feed.ping(3).await.unwrap(), 3, "the connection goes on");
}

/// A stream message over this side's own `max_body` is refused before it is sent, saying
/// whose limit it is.
#[tokio::test]
async fn a_stream_message_over_the_clients_limit_names_the_side_and_the_limit() {
    let server = start("tcp", ServerConfig::default()).await;
    let feed = support::feed::FeedClient::new(
        erpc::Client::builder()
            .connections(1)
            .max_body(LIMIT)
            .build(server.addr.as_str())
            .unwrap(),
    );
    let parts = futures_util::stream::iter([Raw(vec![b'b'; 2 * LIMIT as usize].into())]);
    let refused = feed.gather(parts).await.expect_err("refused");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
    assert!(
        refused.message().contains("client: stream message of")
            && refused.message().contains("(limits.max_body)"),
        "{refused}"
    );
}
