//! Every codec × compression × transport, end to end.

use crate::support;

use std::time::Duration;

use erpc::{CodecId, CompressionId, Proto, Raw, ServerConfig};
use support::*;

const CODECS: [CodecId; 3] = [CodecId::MSGPACK, CodecId::JSON, JSON_LINES];
const COMPRESSIONS: [CompressionId; 4] = [
    CompressionId::NONE,
    CompressionId::GZIP,
    CompressionId::ZLIB,
    CompressionId::ZSTD,
];

#[tokio::test]
async fn every_codec_compression_and_transport_round_trips() {
    for transport in TRANSPORTS {
        let server = start(transport, ServerConfig::default()).await;
        let client = client(&server.addr);
        for codec in CODECS {
            for compression in COMPRESSIONS {
                // Large enough to pass the 1 KiB compression threshold both ways.
                let msg = Msg::new(42, 4096);
                let back = client
                    .echo(msg.clone())
                    .codec(codec)
                    .compression(compression)
                    .await
                    .unwrap_or_else(|e| panic!("{transport}/{codec}/{compression}: {e}"));
                assert_eq!(back, msg, "{transport}/{codec}/{compression}");
            }
        }
        for compression in COMPRESSIONS {
            let data = Raw(vec![7u8; 3000].into());
            let back = client
                .raw(data.clone())
                .compression(compression)
                .await
                .unwrap();
            assert_eq!(back, data, "{transport}/raw/{compression}");
            let point = Proto(Point { x: 1, y: -2 });
            let back = client.mirror(point).compression(compression).await.unwrap();
            assert_eq!(
                back.0,
                Point { x: -2, y: 1 },
                "{transport}/protobuf/{compression}"
            );
        }
        server.handle.shutdown().await;
    }
}

#[tokio::test]
async fn responses_are_compressed_only_above_the_threshold() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    for (id, size, expected) in [(1, 10, CompressionId::NONE), (2, 3000, CompressionId::GZIP)] {
        let body = vec![b'z'; size];
        let mut frame = request(id, "raw", CodecId::RAW, &[]);
        frame.header.compression = CompressionId::GZIP;
        frame.head.accept_compression = [CompressionId::GZIP].into_iter().collect();
        frame.body = erpc::codec::compression::compress(CompressionId::GZIP, &body).unwrap();
        peer.send(&frame).await;
        let reply = peer.recv_reply().await.unwrap();
        assert_eq!(reply.header.status, 0, "{:?}", reply.head.message);
        assert_eq!(reply.header.compression, expected, "{size}-byte response");
        let back =
            erpc::codec::compression::decompress(reply.header.compression, &reply.body, 1 << 20)
                .unwrap();
        assert_eq!(back, body);
    }
    // And through a typed client, small bodies asked for zstd still arrive intact.
    let msg = Msg::new(1, 8);
    let client = client(&server.addr);
    assert_eq!(
        client
            .echo(msg.clone())
            .compression(CompressionId::ZSTD)
            .await
            .unwrap(),
        msg
    );
}

#[tokio::test]
async fn untyped_calls_by_name_work_for_tools() {
    let server = start("tcp", ServerConfig::default()).await;
    let client = erpc::Client::connect(server.addr.as_str()).await.unwrap();
    let reply: serde_json::Value = client
        .call("Echo", "len", serde_json::json!("four"))
        .codec(CodecId::JSON)
        .await
        .unwrap();
    assert_eq!(reply, serde_json::json!(4));
    let response = client
        .invoke(erpc::ClientRequest {
            deadline: tokio::time::Instant::now() + Duration::from_secs(5),
            codec: CodecId::JSON,
            compression: CompressionId::NONE,
            ..erpc::ClientRequest::new("Echo", "len", &b"\"abc\""[..])
        })
        .await
        .unwrap();
    assert_eq!(&response.body[..], b"3");
    assert_eq!(response.codec, CodecId::JSON);
}

#[tokio::test]
async fn metadata_travels_to_the_handler() {
    let server = start("mem", ServerConfig::default()).await;
    let client = client(&server.addr);
    let value = client
        .meta("tenant".into())
        .metadata("tenant", "acme")
        .metadata("other", "x")
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("acme"));
    let missing = client.meta("nope".into()).await.unwrap();
    assert_eq!(missing, None);
    // A key outside the rule would travel and never match what the server reads: the
    // call fails before it is sent, naming the key.
    for bad in ["Tenant", "bad key", ""] {
        let refused = client
            .meta("tenant".into())
            .metadata(bad, "acme")
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            erpc::Code::InvalidArgument,
            "{bad:?}: {refused}"
        );
        assert!(
            refused
                .message()
                .contains(&format!("{bad:?} is not a valid metadata key")),
            "{refused}"
        );
    }
}

#[tokio::test]
async fn one_server_serves_several_transports_at_once() {
    let unix = place("unix");
    let mem = mem_addr();
    let server = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve(["tcp://127.0.0.1:0", unix.addr.as_str(), mem.as_str()])
        .await
        .unwrap();
    assert_eq!(server.local_addrs().len(), 3);
    for addr in server.local_addrs() {
        let client = EchoClient::connect(addr).await.unwrap();
        assert_eq!(client.len("abc".into()).await.unwrap(), 3, "{addr}");
    }
    server.shutdown().await;
}

#[test]
fn blocking_client_works_from_sync_code() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(start("tcp", ServerConfig::default()));
    let blocking = erpc::blocking::Blocking::new(client(&server.addr)).unwrap();
    assert_eq!(blocking.call(|c| c.len("sync".into())).unwrap(), 4);
    let msg = Msg::new(3, 10);
    assert_eq!(blocking.call(|c| c.echo(msg.clone())).unwrap(), msg);
    drop(blocking);
    runtime.block_on(server.handle.shutdown());
}
