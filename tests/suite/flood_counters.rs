//! The flood counters count only what the protocol does not allow: each sequence PROTOCOL.md
//! permits is sent here at several times the limit that would close the connection if it
//! were counted, and the connection must stay open and keep serving. (The abusive
//! sequences, which must still close it, are in `abuse.rs`.)
//!
//! The limits are lowered (100 frames that do no work per heartbeat interval, a cancel debt
//! of 50) so that ten times the limit is quick to send.

use crate::support;

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use erpc::protocol::{Frame, Kind};
use erpc::{ClientConfig, Code, CodecId, ServerConfig};
use support::feed::open;
use support::*;

const JUNK_LIMIT: u32 = 100;
const DEBT_LIMIT: u64 = 50;

fn strict(config: ServerConfig) -> ServerConfig {
    ServerConfig {
        max_junk_frames: JUNK_LIMIT,
        max_cancel_debt: DEBT_LIMIT,
        ..config
    }
}

fn data(id: u64, body: &'static [u8]) -> Frame {
    let mut frame = Frame::new(Kind::STREAM_DATA, id);
    frame.body = Bytes::from_static(body);
    frame
}

fn window(id: u64) -> Frame {
    let mut frame = Frame::new(Kind::STREAM_WINDOW, id);
    frame.body = Bytes::copy_from_slice(&65_536u32.to_be_bytes());
    frame
}

fn encode(frames: impl IntoIterator<Item = Frame>) -> BytesMut {
    let mut out = BytesMut::new();
    for frame in frames {
        frame.encode(&mut out).unwrap();
    }
    out
}

/// The next frame that is not a PING; a closed connection or an ERROR fails the test.
async fn next(peer: &mut RawPeer) -> Frame {
    let frame = peer.recv_reply().await.expect("the connection was closed");
    assert_ne!(
        frame.header.kind,
        Kind::ERROR,
        "the connection was closed: {:?}",
        frame.head.message
    );
    frame
}

/// Read until `count` frames of `kind` with status `status` have arrived.
async fn expect_many(peer: &mut RawPeer, kind: Kind, status: Code, count: usize) {
    let mut seen = 0;
    while seen < count {
        let frame = next(peer).await;
        if frame.header.kind == kind {
            assert_eq!(Code::from_u8(frame.header.status), status, "{frame:?}");
            seen += 1;
        }
    }
}

/// The connection still serves calls: a request with a fresh id is answered.
async fn still_open(peer: &mut RawPeer, id: u64) {
    peer.send(&request(id, "len", CodecId::JSON, b"\"abc\""))
        .await;
    loop {
        let frame = next(peer).await;
        if frame.header.kind == Kind::RESPONSE && frame.header.request_id == id {
            assert_eq!(frame.header.status, 0, "{frame:?}");
            return;
        }
    }
}

/// A server running one call per connection, and a peer whose one slot holds a 10 s sleep
/// (id 1).
async fn one_busy_slot() -> (TestServer, RawPeer) {
    let server = start(
        "tcp",
        strict(ServerConfig {
            max_in_flight: 1,
            ..ServerConfig::default()
        }),
    )
    .await;
    let mut peer = RawPeer::connect(&server.addr).await;
    // msgpack 10000 = cd 27 10
    peer.send(&request(1, "sleep", CodecId::MSGPACK, &[0xcd, 0x27, 0x10]))
        .await;
    wait_for(&server.probe.started, 1, Duration::from_secs(5)).await;
    (server, peer)
}

/// §13: a client may follow STREAM_OPEN with STREAM_DATA at once. Refused streams' DATA and
/// END are expected (§9), not junk.
#[tokio::test]
async fn pipelined_streams_refused_at_the_cap_are_not_junk() {
    let (_server, mut peer) = one_busy_slot().await;
    let streams = 10 * JUNK_LIMIT as u64;
    peer.send_bytes(&encode((2..2 + streams).flat_map(|id| {
        [
            open(id, "count"),
            data(id, &[0x03]),
            Frame::new(Kind::STREAM_END, id),
        ]
    })))
    .await;
    expect_many(
        &mut peer,
        Kind::STREAM_END,
        Code::ResourceExhausted,
        streams as usize,
    )
    .await;
    peer.send(&Frame::new(Kind::CANCEL, 1)).await;
    still_open(&mut peer, 5_000).await;
}

/// §8/§9: a refused call is answered (or, for ONEWAY, dropped); the client could not know
/// it would be refused — the server's cap, its services, a deadline spent in transit.
#[tokio::test]
async fn refused_calls_and_oneways_at_volume_are_not_junk() {
    let (_server, mut peer) = one_busy_slot().await;
    let n = 10 * JUNK_LIMIT as u64;
    let unknown_service = |kind: Kind, id: u64| {
        let mut frame = request(id, "len", CodecId::JSON, b"\"x\"");
        frame.header.kind = kind;
        frame.head.service = Some("NoSuchService".into());
        frame
    };
    let expired = |id: u64| {
        let mut frame = request(id, "len", CodecId::JSON, b"\"x\"");
        frame.head.deadline_micros = Some(0);
        frame
    };
    let at_cap = |kind: Kind, id: u64| {
        let mut frame = request(id, "len", CodecId::JSON, b"\"x\"");
        frame.header.kind = kind;
        frame
    };
    let flood = encode((0..n).flat_map(|i| {
        let id = 10 + 5 * i;
        [
            at_cap(Kind::REQUEST, id),
            at_cap(Kind::ONEWAY, id + 1),
            unknown_service(Kind::REQUEST, id + 2),
            unknown_service(Kind::ONEWAY, id + 3),
            expired(id + 4),
        ]
    }));
    peer.send_bytes(&flood).await;
    let (mut exhausted, mut unimplemented, mut late) = (0, 0, 0);
    while exhausted + unimplemented + late < 3 * n {
        let frame = next(&mut peer).await;
        match Code::from_u8(frame.header.status) {
            Code::ResourceExhausted => exhausted += 1,
            Code::Unimplemented => unimplemented += 1,
            Code::DeadlineExceeded => late += 1,
            other => panic!("unexpected {other:?}: {frame:?}"),
        }
    }
    assert_eq!((exhausted, unimplemented, late), (n, n, n));
    peer.send(&Frame::new(Kind::CANCEL, 1)).await;
    still_open(&mut peer, 50_000).await;
}

/// §8: a CANCEL may cross its call's RESPONSE on the wire (a normal race): ignored, not junk.
#[tokio::test]
async fn cancels_of_calls_that_just_finished_are_not_junk() {
    let server = start("tcp", strict(ServerConfig::default())).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let n = 10 * JUNK_LIMIT as u64;
    peer.send_bytes(&encode(
        (1..=n).map(|id| request(id, "len", CodecId::JSON, b"\"x\"")),
    ))
    .await;
    expect_many(&mut peer, Kind::RESPONSE, Code::Ok, n as usize).await;
    peer.send_bytes(&encode((1..=n).map(|id| Frame::new(Kind::CANCEL, id))))
        .await;
    still_open(&mut peer, n + 1).await;
}

/// §9/§13: frames of a stream that just ended are expected — the client's credit grants and
/// its CANCEL crossing the server's STREAM_END — however many streams ended.
#[tokio::test]
async fn frames_crossing_the_end_of_many_streams_are_not_junk() {
    let server = start("tcp", strict(ServerConfig::default())).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let n = 10 * JUNK_LIMIT as u64;
    peer.send_bytes(&encode((1..=n).flat_map(|id| {
        [
            open(id, "count"),
            data(id, &[0x01]),
            Frame::new(Kind::STREAM_END, id),
        ]
    })))
    .await;
    expect_many(&mut peer, Kind::STREAM_END, Code::Ok, n as usize).await;
    peer.send_bytes(&encode(
        (1..=n).flat_map(|id| [window(id), Frame::new(Kind::CANCEL, id)]),
    ))
    .await;
    still_open(&mut peer, n + 1).await;
}

/// §8/§13: a client ends a subscription by cancelling it. Cancelling streams that are
/// delivering is not a rapid reset, however many.
#[tokio::test]
async fn cancelling_many_delivering_streams_is_not_a_rapid_reset() {
    let server = start("tcp", strict(ServerConfig::default())).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let n = 3 * DEBT_LIMIT;
    for id in 1..=n {
        // `hang` sends 7, then nothing until cancelled.
        peer.send_bytes(&encode([
            open(id, "hang"),
            data(id, &[0xc0]),
            Frame::new(Kind::STREAM_END, id),
        ]))
        .await;
        loop {
            let frame = next(&mut peer).await;
            if frame.header.kind == Kind::STREAM_DATA && frame.header.request_id == id {
                break;
            }
        }
        peer.send(&Frame::new(Kind::CANCEL, id)).await;
    }
    still_open(&mut peer, n + 1).await;
}

/// §8: a client cancels a call when its deadline passes, about when the server's own
/// deadline for it passes: not a rapid reset, however many.
#[tokio::test]
async fn cancels_at_the_deadline_are_not_a_rapid_reset() {
    let server = start("tcp", strict(ServerConfig::default())).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let per_round = DEBT_LIMIT + 10;
    let mut id = 0;
    for round in 1..=3 {
        let first = id + 1;
        let sent = Instant::now();
        peer.send_bytes(&encode((0..per_round).map(|_| {
            id += 1;
            let mut frame = request(id, "sleep", CodecId::MSGPACK, &[0xcd, 0x27, 0x10]);
            frame.head.deadline_micros = Some(1_000_000);
            frame
        })))
        .await;
        wait_for(
            &server.probe.started,
            per_round * round,
            Duration::from_secs(5),
        )
        .await;
        // The client's deadline: a little before the server's, which counts from arrival.
        tokio::time::sleep_until((sent + Duration::from_millis(930)).into()).await;
        peer.send_bytes(&encode((first..=id).map(|id| Frame::new(Kind::CANCEL, id))))
            .await;
        wait_for(
            &server.probe.aborted,
            per_round * round,
            Duration::from_secs(5),
        )
        .await;
    }
    still_open(&mut peer, id + 1).await;
}

/// §8/§13: a subscription that has delivered nothing yet, cancelled after it has been open a
/// while (the client lost interest in a quiet feed), is not a rapid reset, however many.
#[tokio::test]
async fn cancelling_quiet_subscriptions_after_a_while_is_not_a_rapid_reset() {
    let server = start("tcp", strict(ServerConfig::default())).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let n = 3 * DEBT_LIMIT;
    // `subscribe` with Block and capacity 1: msgpack [nil, 1].
    peer.send_bytes(&encode((1..=n).flat_map(|id| {
        [
            open(id, "subscribe"),
            data(id, &[0x92, 0xc0, 0x01]),
            Frame::new(Kind::STREAM_END, id),
        ]
    })))
    .await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    peer.send_bytes(&encode((1..=n).map(|id| Frame::new(Kind::CANCEL, id))))
        .await;
    still_open(&mut peer, n + 1).await;
}

/// §1: the first-frame deadline is about a peer that never speaks erpc, not about a first
/// frame too large to arrive in time: once its header is in, the rest may take longer.
#[tokio::test]
async fn a_large_first_frame_arriving_slowly_is_served() {
    let server = start(
        "tcp",
        ServerConfig {
            first_frame_timeout: Duration::from_millis(300),
            ..ServerConfig::default()
        },
    )
    .await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let text = "x".repeat(64 * 1024);
    let body = format!("\"{text}\"");
    let bytes = encode([request(1, "len", CodecId::JSON, body.as_bytes())]);
    // The header at once, the rest in pieces over twice the deadline.
    let (head, rest) = bytes.split_at(64);
    peer.send_bytes(head).await;
    for piece in rest.chunks(rest.len() / 6 + 1) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peer.send_bytes(piece).await;
    }
    let reply = next(&mut peer).await;
    assert_eq!((reply.header.request_id, reply.header.status), (1, 0));
    assert_eq!(&reply.body[..], text.len().to_string().as_bytes());
}

/// §3: a client ignores RESPONSEs for calls it gave up on; they are expected, not junk.
#[tokio::test]
async fn responses_to_calls_the_client_gave_up_on_are_not_junk() {
    let n = 10 * JUNK_LIMIT as u64;
    // A server that answers nothing until the call named "last", then answers every call it
    // was sent, long given up on, and that one.
    let mut ids = Vec::new();
    let (addr, server) = scripted_server(move |frame| {
        if frame.header.kind != Kind::REQUEST {
            return vec![];
        }
        ids.push(frame.header.request_id);
        if frame.head.method.as_ref().unwrap().as_str() == "len" {
            return vec![];
        }
        ids.iter()
            .map(|id| {
                let mut reply = Frame::new(Kind::RESPONSE, *id);
                reply.header.codec = CodecId::MSGPACK;
                reply.body = Bytes::from_static(&[0x07]);
                reply
            })
            .collect()
    })
    .await;
    let client = EchoClient::new(
        erpc::Client::builder()
            .config(ClientConfig {
                max_junk_frames: JUNK_LIMIT,
                ..ClientConfig::default()
            })
            .build(addr.as_str())
            .unwrap(),
    );
    let gave_up = futures_util::future::join_all((0..n).map(|_| {
        client
            .len("x".into())
            .timeout(Duration::from_millis(200))
            .into_future()
    }))
    .await;
    assert!(
        gave_up
            .iter()
            .all(|r| r.as_ref().unwrap_err().code() == Code::DeadlineExceeded)
    );
    // The same connection (the server accepts only one) takes the answer after 1,000 stale
    // ones.
    let last: u64 = client
        .client()
        .call("Echo", "last", ())
        .timeout(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(last, 7);
    drop(client);
    server.abort();
}
