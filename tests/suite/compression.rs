//! Compression on the wire (PROTOCOL.md §6): a frame's compression byte says what was applied
//! to that frame's body and nothing else; what a call wants travels in its accept-compression
//! field, and the server compresses every response and stream message above its threshold
//! with the compression it chooses from that field. Each frame's byte is checked, both ways:
//! a raw peer against a real server, and a real client against a raw socket.

use crate::support;

use std::future::IntoFuture;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use erpc::codec::compression::{compress, decompress};
use erpc::protocol::{CompressionList, Frame, Header, Kind};
use erpc::{Code, CodecId, CompressionId, Message, Raw, ServerConfig, Status};
use futures_util::StreamExt;
use support::feed::FeedClient;
use support::*;

const NONE: CompressionId = CompressionId::NONE;
const GZIP: CompressionId = CompressionId::GZIP;
const ZSTD: CompressionId = CompressionId::ZSTD;
/// An id no build supports.
const UNKNOWN: CompressionId = CompressionId(0x7f);

/// An accept-compression field with these ids; none when empty.
fn field(ids: &[u8]) -> CompressionList {
    CompressionList::from_wire(ids).unwrap_or_default()
}

fn msgpack<T: Message>(value: &T) -> Vec<u8> {
    let codecs = erpc::Codecs::default();
    let mut out = BytesMut::new();
    value
        .encode(codecs.get(CodecId::MSGPACK).unwrap(), &mut out)
        .unwrap();
    out.to_vec()
}

/// A frame's body as sent, after undoing what its byte says was applied.
fn inflate(frame: &Frame) -> Bytes {
    decompress(frame.header.compression, &frame.body, 8 << 20).expect("the body inflates")
}

/// A frame of `kind` whose body is `body` compressed with `applied`.
fn framed(kind: Kind, id: u64, codec: CodecId, applied: CompressionId, body: &[u8]) -> Frame {
    let mut frame = Frame::new(kind, id);
    frame.header.codec = codec;
    frame.header.compression = applied;
    frame.body = compress(applied, body).unwrap();
    frame
}

/// An opening for a Feed stream carrying `accept` as its field.
fn open(id: u64, method: &'static str, codec: CodecId, accept: &[u8]) -> Frame {
    let mut frame = Frame::new(Kind::STREAM_OPEN, id);
    frame.header.codec = codec;
    frame.head.service = Some("Feed".into());
    frame.head.method = Some(method.into());
    frame.head.deadline_micros = Some(10_000_000);
    frame.head.accept_compression = field(accept);
    frame
}

/// The server's STREAM_DATA frames for stream `id`, and its STREAM_END.
async fn until_end(peer: &mut RawPeer, id: u64) -> (Vec<Frame>, Frame) {
    let mut messages = Vec::new();
    loop {
        let frame = peer.recv_reply().await.expect("the stream's frames");
        assert_eq!(frame.header.request_id, id, "{frame:?}");
        match frame.header.kind {
            Kind::STREAM_DATA => messages.push(frame),
            Kind::STREAM_END => return (messages, frame),
            Kind::STREAM_WINDOW => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Send `call` with `accept` as its field, and check that its successful response is
/// compressed with `expected` and inflates to `content`.
async fn answered_as(
    peer: &mut RawPeer,
    mut call: Frame,
    accept: &[u8],
    expected: CompressionId,
    content: &[u8],
) {
    let case = format!(
        "request {} (body {}) asking {accept:?}",
        call.header.request_id, call.header.compression
    );
    call.head.accept_compression = field(accept);
    peer.send(&call).await;
    let reply = peer.recv_reply().await.expect("a response");
    assert_eq!(reply.header.status, 0, "{case}: {:?}", reply.head.message);
    assert_eq!(reply.header.compression, expected, "{case}");
    assert!(inflate(&reply) == content, "{case}: wrong content");
}

#[tokio::test]
async fn a_unary_response_is_compressed_as_the_call_asks_whatever_its_request_body() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let mut id = 0;
    // Echo.fill(n): a small request (a frame of about 68 bytes) for an n-byte response.
    for (n, accept, expected) in [
        // Asks gzip: the response is compressed though the request was too small to be.
        (314_159, &[1u8][..], GZIP),
        // Below the threshold the response goes as is.
        (10, &[1], NONE),
        // Accepts none: uncompressed.
        (314_159, &[], NONE),
        // Asks zstd, accepts zstd and gzip: zstd.
        (314_159, &[3, 1], ZSTD),
        // An id the server lacks is skipped.
        (314_159, &[0x7f, 1], GZIP),
    ] {
        id += 1;
        let call = request(id, "fill", CodecId::MSGPACK, &msgpack(&(n as u64)));
        answered_as(&mut peer, call, accept, expected, &vec![7u8; n]).await;
    }
    // Echo.raw(b) with a large b: the response follows the field, never the request body's
    // byte.
    let big = vec![b'z'; 3000];
    for (applied, accept, expected) in [
        (NONE, &[1u8][..], GZIP),
        (GZIP, &[], NONE),
        (ZSTD, &[1], GZIP),
    ] {
        id += 1;
        let mut call = framed(Kind::REQUEST, id, CodecId::RAW, applied, &big);
        call.head = request(id, "raw", CodecId::RAW, &[]).head;
        answered_as(&mut peer, call, accept, expected, &big).await;
    }
    server.handle.shutdown().await;
}

#[tokio::test]
async fn an_empty_or_overlong_accept_field_fails_only_its_call() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    for (id, value) in [(1u64, vec![]), (2, vec![1u8; 17])] {
        let call = request(id, "len", CodecId::JSON, b"\"abc\"");
        let mut block = BytesMut::new();
        call.head.encode(&mut block);
        block.extend_from_slice(&[0x07, 0, value.len() as u8]);
        block.extend_from_slice(&value);
        let mut bytes = BytesMut::new();
        Header {
            head_len: block.len() as u32,
            body_len: call.body.len() as u32,
            ..call.header
        }
        .encode(&mut bytes);
        bytes.extend_from_slice(&block);
        bytes.extend_from_slice(&call.body);
        peer.send_bytes(&bytes).await;
        let reply = peer.recv_reply().await.expect("a response");
        assert_eq!(reply.header.request_id, id);
        assert_eq!(Code::from_u8(reply.header.status), Code::InvalidArgument);
        let message = reply.head.message.expect("a status message");
        assert!(message.as_str().contains("0x07"), "{}", message.as_str());
    }
    peer.send(&request(3, "len", CodecId::JSON, b"\"abc\""))
        .await;
    let reply = peer.recv_reply().await.expect("a response");
    assert_eq!((reply.header.request_id, reply.header.status), (3, 0));
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_servers_preference_serves_only_calls_that_ask_for_none_but_accept_it() {
    let config = ServerConfig {
        response_compression: ZSTD,
        ..ServerConfig::default()
    };
    let server = start("tcp", config).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    for (id, accept, expected) in [
        (1, &[0u8, 3, 1][..], ZSTD),
        (2, &[0, 1], NONE),
        (3, &[1, 3], GZIP),
        (4, &[], NONE),
    ] {
        let call = request(id, "fill", CodecId::MSGPACK, &msgpack(&5000u64));
        answered_as(&mut peer, call, accept, expected, &[7u8; 5000]).await;
    }
    server.handle.shutdown().await;

    match erpc::Server::builder()
        .response_compression(UNKNOWN)
        .serve(["tcp://127.0.0.1:0"])
        .await
    {
        Err(e) => {
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("response_compression"), "{e}");
        }
        Ok(_) => panic!("a response compression this build lacks was accepted"),
    }
}

#[tokio::test]
async fn server_stream_messages_are_compressed_as_the_opening_asks() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    for (id, accept, count, size, expected) in [
        (1, &[1u8][..], 2, 31_415, GZIP),
        (2, &[1], 2, 10, NONE),
        (3, &[], 1, 31_415, NONE),
        (4, &[3, 1], 1, 31_415, ZSTD),
    ] {
        peer.send(&open(id, "blob", CodecId::MSGPACK, accept)).await;
        let request = msgpack(&(count as u64, size as u64));
        peer.send(&framed(
            Kind::STREAM_DATA,
            id,
            CodecId::MSGPACK,
            NONE,
            &request,
        ))
        .await;
        peer.send(&Frame::new(Kind::STREAM_END, id)).await;
        let (messages, end) = until_end(&mut peer, id).await;
        assert_eq!(end.header.status, 0, "{:?}", end.head.message);
        assert_eq!(messages.len(), count, "stream {id}");
        for message in &messages {
            assert_eq!(message.header.compression, expected, "stream {id}");
            assert!(inflate(message) == vec![0x5a; size], "stream {id}");
        }
    }
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_client_streams_one_response_is_compressed_as_the_opening_asks() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    for (id, accept, parts, applied, expected) in [
        (1, &[1u8][..], [3000, 3000], NONE, GZIP),
        (2, &[1], [10, 10], NONE, NONE),
        // The client compressed its messages but asked for nothing back.
        (3, &[], [3000, 3000], GZIP, NONE),
    ] {
        peer.send(&open(id, "gather", CodecId::RAW, accept)).await;
        for size in parts {
            let part = vec![b'p'; size];
            peer.send(&framed(Kind::STREAM_DATA, id, CodecId::RAW, applied, &part))
                .await;
        }
        peer.send(&Frame::new(Kind::STREAM_END, id)).await;
        let (messages, end) = until_end(&mut peer, id).await;
        assert_eq!(end.header.status, 0, "{:?}", end.head.message);
        assert_eq!(messages.len(), 1, "stream {id}");
        assert_eq!(messages[0].header.compression, expected, "stream {id}");
        assert_eq!(inflate(&messages[0]).len(), parts.iter().sum::<usize>());
    }
    // A message compressed with something the server does not support fails the stream,
    // saying so.
    peer.send(&open(4, "gather", CodecId::RAW, &[])).await;
    let mut odd = framed(Kind::STREAM_DATA, 4, CodecId::RAW, NONE, b"part");
    odd.header.compression = UNKNOWN;
    peer.send(&odd).await;
    let (_, end) = until_end(&mut peer, 4).await;
    assert_eq!(Code::from_u8(end.header.status), Code::Unimplemented);
    let message = end.head.message.expect("a status message");
    assert!(
        message.as_str().contains("compression"),
        "{}",
        message.as_str()
    );
    server.handle.shutdown().await;
}

#[tokio::test]
async fn bidi_replies_are_compressed_as_the_opening_asks() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    peer.send(&open(1, "echo", CodecId::MSGPACK, &[1])).await;
    let sent = [Msg::new(1, 8), Msg::new(2, 4000)];
    for msg in &sent {
        peer.send(&framed(
            Kind::STREAM_DATA,
            1,
            CodecId::MSGPACK,
            NONE,
            &msgpack(msg),
        ))
        .await;
    }
    peer.send(&Frame::new(Kind::STREAM_END, 1)).await;
    let (messages, end) = until_end(&mut peer, 1).await;
    assert_eq!(end.header.status, 0, "{:?}", end.head.message);
    let bytes: Vec<CompressionId> = messages.iter().map(|m| m.header.compression).collect();
    assert_eq!(bytes, [NONE, GZIP], "a small reply, then a large one");
    let codecs = erpc::Codecs::default();
    for (message, msg) in messages.iter().zip(&sent) {
        let back = Msg::decode(codecs.get(CodecId::MSGPACK).unwrap(), inflate(message)).unwrap();
        assert_eq!(&back, msg);
    }
    server.handle.shutdown().await;
}

/// A socket a real client connects to, read as raw frames: what the client puts on the wire.
struct FakeServer {
    listener: tokio::net::TcpListener,
    addr: String,
}

impl FakeServer {
    async fn new() -> FakeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("tcp://{}", listener.local_addr().unwrap());
        FakeServer { listener, addr }
    }

    async fn accept(&self) -> RawPeer {
        let (socket, _) = tokio::time::timeout(Duration::from_secs(10), self.listener.accept())
            .await
            .expect("the client connects")
            .unwrap();
        RawPeer::over(Box::new(socket))
    }
}

/// Answer `request` with a RESPONSE whose raw body is `body` compressed with `applied`.
async fn answer(peer: &mut RawPeer, request: &Frame, applied: CompressionId, body: &[u8]) {
    let id = request.header.request_id;
    peer.send(&framed(Kind::RESPONSE, id, CodecId::RAW, applied, body))
        .await;
}

type Outcome = tokio::task::JoinHandle<Result<Raw, Status>>;

async fn outcome(call: Outcome) -> Result<Raw, Status> {
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the call ends")
        .unwrap()
}

#[tokio::test]
async fn a_client_asks_in_the_field_applies_in_the_byte_and_refuses_the_unaccepted() {
    let fake = FakeServer::new().await;
    let echo = EchoClient::new(erpc::Client::new(fake.addr.as_str()).unwrap());
    let small = Raw(Bytes::from_static(b"0123456789"));
    let big = Raw(vec![b'b'; 3000].into());
    let reply = vec![b'r'; 5000];

    // Asks gzip with a small request: `00` in the byte, gzip in the field, and a gzip
    // response is taken.
    let call: Outcome = tokio::spawn(echo.raw(small.clone()).compression(GZIP).into_future());
    let mut peer = fake.accept().await;
    let request = peer.recv_reply().await.unwrap();
    assert_eq!(request.header.compression, NONE);
    assert_eq!(request.head.accept_compression.as_bytes(), &[1]);
    answer(&mut peer, &request, GZIP, &reply).await;
    assert_eq!(outcome(call).await.unwrap().0.len(), 5000);

    // A large request asking gzip and accepting zstd: gzip applied, both listed, a zstd
    // response taken.
    let call: Outcome = tokio::spawn(
        echo.raw(big.clone())
            .compression(GZIP)
            .accept_compression([ZSTD])
            .into_future(),
    );
    let request = peer.recv_reply().await.unwrap();
    assert_eq!(request.header.compression, GZIP);
    assert_eq!(request.head.accept_compression.as_bytes(), &[1, 3]);
    assert!(inflate(&request) == big.0);
    answer(&mut peer, &request, ZSTD, &reply).await;
    assert_eq!(outcome(call).await.unwrap().0.len(), 5000);

    // Asking for nothing sends no field, and a compressed response is refused by name.
    let call: Outcome = tokio::spawn(echo.raw(small.clone()).into_future());
    let request = peer.recv_reply().await.unwrap();
    assert!(request.head.accept_compression.is_empty());
    assert_eq!(request.header.compression, NONE);
    answer(&mut peer, &request, GZIP, &reply).await;
    let err = outcome(call).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err}");
    assert!(err.message().contains("gzip"), "{err}");

    // Asking gzip, answered in zstd: refused.
    let call: Outcome = tokio::spawn(echo.raw(small.clone()).compression(GZIP).into_future());
    let request = peer.recv_reply().await.unwrap();
    answer(&mut peer, &request, ZSTD, &reply).await;
    let err = outcome(call).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err}");
    assert!(err.message().contains("zstd"), "{err}");

    // Accepting gzip without asking for it: `00` leads the field.
    let call: Outcome = tokio::spawn(
        echo.raw(small.clone())
            .accept_compression([GZIP, NONE, GZIP])
            .into_future(),
    );
    let request = peer.recv_reply().await.unwrap();
    assert_eq!(request.head.accept_compression.as_bytes(), &[0, 1]);
    answer(&mut peer, &request, GZIP, &reply).await;
    assert_eq!(outcome(call).await.unwrap().0.len(), 5000);

    // Compressions this build lacks fail the call before anything is sent.
    for err in [
        echo.raw(small.clone()).compression(UNKNOWN).await,
        echo.raw(small.clone()).accept_compression([UNKNOWN]).await,
    ] {
        let err = err.unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented, "{err}");
        assert!(err.message().contains("not supported"), "{err}");
    }

    // A oneway call receives nothing, so it sends no field; its body's byte still says
    // what was applied.
    echo.notify(3).compression(GZIP).await.unwrap();
    let oneway = peer.recv_reply().await.unwrap();
    assert_eq!(
        oneway.header.kind,
        Kind::ONEWAY,
        "nothing was sent before it"
    );
    assert!(oneway.head.accept_compression.is_empty());
    assert_eq!(oneway.header.compression, NONE);

    // The client-wide setting: every call accepts it.
    let accepting = EchoClient::new(
        erpc::Client::builder()
            .accept_compression([ZSTD])
            .build(fake.addr.as_str())
            .unwrap(),
    );
    let call: Outcome = tokio::spawn(accepting.raw(small).into_future());
    let mut peer = fake.accept().await;
    let request = peer.recv_reply().await.unwrap();
    assert_eq!(request.head.accept_compression.as_bytes(), &[0, 3]);
    answer(&mut peer, &request, ZSTD, &reply).await;
    assert_eq!(outcome(call).await.unwrap().0.len(), 5000);
}

#[tokio::test]
async fn a_client_stream_asks_in_its_opening_and_compresses_its_own_messages() {
    let fake = FakeServer::new().await;
    let feed = FeedClient::new(erpc::Client::new(fake.addr.as_str()).unwrap());

    // Server streaming: the opening carries the ask (its byte `00`, its body empty), the
    // request message is too small to compress; of the server's messages, gzip and plain
    // ones are taken and zstd is refused.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let blobs = feed.blob(3, 31_415).compression(GZIP);
    tokio::spawn(async move {
        let got: Vec<Result<Raw, Status>> = match blobs.await {
            Ok(stream) => stream.collect().await,
            Err(status) => vec![Err(status)],
        };
        let _ = tx.send(got);
    });
    let mut peer = fake.accept().await;
    let opening = peer.recv_reply().await.unwrap();
    assert_eq!(opening.header.kind, Kind::STREAM_OPEN);
    assert_eq!(opening.header.compression, NONE);
    assert_eq!(opening.head.accept_compression.as_bytes(), &[1]);
    let id = opening.header.request_id;
    let request = peer.recv_reply().await.unwrap();
    assert_eq!(
        (request.header.kind, request.header.compression),
        (Kind::STREAM_DATA, NONE)
    );
    assert_eq!(
        peer.recv_reply().await.unwrap().header.kind,
        Kind::STREAM_END
    );
    let big = vec![0x5a; 31_415];
    for (applied, body) in [(GZIP, &big[..]), (NONE, b"tiny"), (ZSTD, &big[..])] {
        peer.send(&framed(Kind::STREAM_DATA, id, CodecId::RAW, applied, body))
            .await;
    }
    let got = tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .expect("the stream ends")
        .unwrap();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].as_ref().unwrap().0.len(), 31_415);
    assert_eq!(&got[1].as_ref().unwrap().0[..], b"tiny");
    let err = got[2].as_ref().unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err}");
    assert!(err.message().contains("zstd"), "{err}");
    // The client gave up on the stream the server had not ended.
    let cancel = peer.recv_reply().await.unwrap();
    assert_eq!(
        (cancel.header.kind, cancel.header.request_id),
        (Kind::CANCEL, id)
    );

    // Client streaming: each of the client's messages says what was applied to it.
    let parts = futures_util::stream::iter([Raw(vec![b'p'; 3000].into()), Raw("p".into())]);
    let call: Outcome = tokio::spawn(feed.gather(parts).compression(GZIP).into_future());
    let opening = peer.recv_reply().await.unwrap();
    assert_eq!(opening.head.accept_compression.as_bytes(), &[1]);
    let id2 = opening.header.request_id;
    let first = peer.recv_reply().await.unwrap();
    let second = peer.recv_reply().await.unwrap();
    assert_eq!(
        [first.header.compression, second.header.compression],
        [GZIP, NONE]
    );
    assert_eq!(inflate(&first).len(), 3000);
    assert_eq!(
        peer.recv_reply().await.unwrap().header.kind,
        Kind::STREAM_END
    );
    let whole = vec![b'p'; 3001];
    peer.send(&framed(Kind::STREAM_DATA, id2, CodecId::RAW, GZIP, &whole))
        .await;
    peer.send(&Frame::new(Kind::STREAM_END, id2)).await;
    assert_eq!(outcome(call).await.unwrap().0.len(), 3001);

    // Bidirectional: the opening asks, the replies may use it.
    let messages = futures_util::stream::iter([Msg::new(1, 4000)]);
    let echo = feed.echo(messages).compression(GZIP);
    let call = tokio::spawn(async move {
        let mut replies = echo.await?;
        replies.next().await.expect("a reply")
    });
    let opening = peer.recv_reply().await.unwrap();
    assert_eq!(opening.head.accept_compression.as_bytes(), &[1]);
    let id3 = opening.header.request_id;
    let message = peer.recv_reply().await.unwrap();
    assert_eq!(message.header.compression, GZIP);
    let reply = msgpack(&Msg::new(1, 4000));
    peer.send(&framed(
        Kind::STREAM_DATA,
        id3,
        CodecId::MSGPACK,
        GZIP,
        &reply,
    ))
    .await;
    let back = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("a reply arrives")
        .unwrap()
        .unwrap();
    assert_eq!(back, Msg::new(1, 4000));
}
