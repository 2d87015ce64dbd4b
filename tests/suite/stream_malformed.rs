//! Bad stream frames from a raw peer: each gets a clear outcome and the server keeps
//! serving everyone else.

use crate::support;

use bytes::Bytes;
use erpc::protocol::{Frame, Kind};
use erpc::{Code, ServerConfig};
use support::RawPeer;
use support::feed::{FeedClient, open, start_feed};

fn data(id: u64, body: Vec<u8>) -> Frame {
    let mut frame = Frame::new(Kind::STREAM_DATA, id);
    frame.body = Bytes::from(body);
    frame
}

async fn still_served(addr: &str) {
    let client = FeedClient::new(erpc::Client::new(addr).unwrap());
    assert_eq!(client.ping(9).await.unwrap(), 9);
}

#[tokio::test]
async fn sending_past_the_window_closes_only_that_connection() {
    let (server, addr, _) = start_feed("tcp://127.0.0.1:0", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&addr).await;
    peer.send(&open(1, "echo")).await;
    // The echo handler consumes as fast as it can send back, and this peer grants no credit
    // for the echoes: after 256 KiB out and 256 KiB queued in, the next message overruns.
    let codecs = erpc::Codecs::default();
    let msgpack = codecs.get(erpc::CodecId::MSGPACK).unwrap();
    for i in 0..12 {
        let mut body = bytes::BytesMut::new();
        erpc::Message::encode(&support::Msg::new(i, 60_000), msgpack, &mut body).unwrap();
        peer.send(&data(1, body.to_vec())).await;
    }
    let mut error = None;
    while let Some(frame) = peer.recv_reply().await {
        if frame.header.kind == Kind::ERROR {
            error = Some(frame);
        }
    }
    let error = error.expect("an ERROR frame before the close");
    assert_eq!(error.header.status, Code::ResourceExhausted as u8);
    let message = error.head.message.unwrap();
    assert!(message.as_str().contains("credit"), "{}", message.as_str());
    still_served(&addr).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_malformed_window_frame_closes_the_connection_with_a_reason() {
    let (server, addr, _) = start_feed("tcp://127.0.0.1:0", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&addr).await;
    peer.send(&open(1, "hang")).await;
    let mut window = Frame::new(Kind::STREAM_WINDOW, 1);
    window.body = Bytes::from_static(b"\x00\x01");
    peer.send(&window).await;
    let mut reason = None;
    while let Some(frame) = peer.recv_reply().await {
        if frame.header.kind == Kind::ERROR {
            reason = frame.head.message.map(|m| m.as_str().to_owned());
        }
    }
    assert!(reason.expect("an ERROR frame").contains("STREAM_WINDOW"));
    still_served(&addr).await;
    server.shutdown().await;
}

#[tokio::test]
async fn frames_for_streams_that_never_existed_are_ignored() {
    let (server, addr, _) = start_feed("tcp://127.0.0.1:0", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&addr).await;
    peer.send(&data(77, vec![1])).await;
    peer.send(&Frame::new(Kind::STREAM_END, 78)).await;
    // Then a real stream on the same connection works: open, request, end.
    peer.send(&open(2, "count")).await;
    peer.send(&data(2, vec![0x03])).await;
    peer.send(&Frame::new(Kind::STREAM_END, 2)).await;
    let mut got = Vec::new();
    loop {
        let frame = peer.recv_reply().await.expect("the stream's frames");
        assert_eq!(frame.header.request_id, 2, "{frame:?}");
        match frame.header.kind {
            Kind::STREAM_DATA => got.push(frame.body[0]),
            Kind::STREAM_WINDOW => {}
            Kind::STREAM_END => {
                assert_eq!(frame.header.status, 0);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, [0, 1, 2]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_stream_open_without_a_request_before_its_end_is_refused() {
    let (server, addr, _) = start_feed("tcp://127.0.0.1:0", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&addr).await;
    peer.send(&open(3, "count")).await;
    peer.send(&Frame::new(Kind::STREAM_END, 3)).await;
    let end = peer.recv_reply().await.unwrap();
    assert_eq!(end.header.kind, Kind::STREAM_END);
    assert_eq!(end.header.status, Code::InvalidArgument as u8);
    still_served(&addr).await;
    server.shutdown().await;
}
