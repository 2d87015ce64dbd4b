//! Floods get a clear error and a closed connection; everyone else keeps being served, and
//! legitimate heavy use is not mistaken for abuse.

use crate::support;

use std::time::Duration;

use bytes::BytesMut;
use erpc::protocol::{Frame, Kind};
use erpc::{Code, CodecId, ServerConfig};
use support::*;

/// Read every frame until the server closes: how many were of `kind`, and the ERROR frame.
async fn drain(peer: &mut RawPeer, kind: Kind) -> (usize, Option<Frame>) {
    let mut count = 0;
    let mut error = None;
    while let Some(frame) = peer.recv().await {
        if frame.header.kind == kind {
            count += 1;
        } else if frame.header.kind == Kind::ERROR {
            error = Some(frame);
        }
    }
    (count, error)
}

#[tokio::test]
async fn a_ping_flood_is_cut_off() {
    let server = start("tcp", ServerConfig::default()).await;
    let mut peer = RawPeer::connect(&server.addr).await;
    let mut flood = BytesMut::new();
    for i in 0..5_000 {
        Frame::new(Kind::PING, i).encode(&mut flood).unwrap();
    }
    peer.send_bytes(&flood).await;
    let (pongs, error) = drain(&mut peer, Kind::PONG).await;
    let error = error.expect("an ERROR frame before the close");
    assert_eq!(error.header.status, Code::ResourceExhausted as u8);
    assert!(pongs <= 1_001, "answered {pongs} pings");
    println!("pings answered before the close: {pongs} of 5000");
    assert_eq!(client(&server.addr).len("ok".into()).await.unwrap(), 2);
}

/// Every sequence the protocol does not allow, 5,000 frames of it: cut off with ERROR
/// `resource_exhausted` after the junk limit (1,000), everyone else served. (The sequences it
/// does allow, at volume, are in `flood_counters.rs`.)
#[tokio::test]
async fn every_flood_of_frames_the_protocol_does_not_allow_is_cut_off() {
    let server = start("tcp", ServerConfig::default()).await;
    let without_method = |id| {
        let mut frame = request(id, "len", CodecId::JSON, b"\"x\"");
        frame.head.method = None;
        frame
    };
    let unknown_kind = |id| {
        let mut frame = request(id, "len", CodecId::JSON, b"\"x\"");
        frame.header.kind = Kind(0x55);
        frame
    };
    let stream_data = |id| {
        let mut frame = Frame::new(Kind::STREAM_DATA, id);
        frame.body = bytes::Bytes::from_static(&[1]);
        frame
    };
    let oversized_head = |id| {
        let mut frame = request(id, "len", CodecId::JSON, b"\"x\"");
        for i in 0..65 {
            frame.head.metadata.insert(format!("k{i}"), &b"v"[..]);
        }
        frame
    };
    type Case = (&'static str, Option<Frame>, Box<dyn Fn(u64) -> Frame>);
    let cases: Vec<Case> = vec![
        ("calls without a method", None, Box::new(without_method)),
        ("frames of an unknown kind", None, Box::new(unknown_kind)),
        (
            "cancels of calls never made",
            None,
            Box::new(|id| Frame::new(Kind::CANCEL, id)),
        ),
        (
            "stream frames for streams never opened",
            None,
            Box::new(stream_data),
        ),
        (
            "responses from a client",
            None,
            Box::new(|id| Frame::new(Kind::RESPONSE, id)),
        ),
        ("too many metadata entries", None, Box::new(oversized_head)),
        (
            "a running call's id, again and again",
            // msgpack 10000 = cd 27 10: a 10 s sleep under id 1.
            Some(request(1, "sleep", CodecId::MSGPACK, &[0xcd, 0x27, 0x10])),
            Box::new(|_| request(1, "len", CodecId::JSON, b"\"x\"")),
        ),
    ];
    for (what, first, frame) in cases {
        let mut peer = RawPeer::connect(&server.addr).await;
        let mut flood = BytesMut::new();
        if let Some(first) = first {
            first.encode(&mut flood).unwrap();
        }
        for id in 1..=5_000 {
            frame(id).encode(&mut flood).unwrap();
        }
        use tokio::io::AsyncWriteExt;
        // The server may close before it has read everything.
        let _ = peer.stream.write_all(&flood).await;
        let (_, error) = drain(&mut peer, Kind::RESPONSE).await;
        let error = error.unwrap_or_else(|| panic!("{what}: no ERROR frame before the close"));
        assert_eq!(error.header.status, Code::ResourceExhausted as u8, "{what}");
        assert!(
            error.head.message.unwrap().contains("does not allow"),
            "{what}"
        );
    }
    assert_eq!(client(&server.addr).len("ok".into()).await.unwrap(), 2);
}

/// Refused calls are answered, not counted as junk; a client that sends them without
/// reading the answers is closed once the answers waiting for room pass the writer's queue
/// size, instead of the server holding them without end.
#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_cut_off() {
    use tokio::io::AsyncWriteExt;
    let server = start(
        "tcp",
        ServerConfig {
            write_queue: 64,
            ..ServerConfig::default()
        },
    )
    .await;
    let addr = server.addr.trim_start_matches("tcp://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let mut frames = 0u64;
    let mut cut_off = false;
    'flood: for _ in 0..400 {
        let mut batch = BytesMut::new();
        for _ in 0..1_000 {
            frames += 1;
            let mut frame = request(frames, "len", CodecId::JSON, b"\"x\"");
            frame.head.service = Some("NoSuchService".into());
            frame.encode(&mut batch).unwrap();
        }
        // A server that stopped reading leaves the write stuck.
        match tokio::time::timeout(Duration::from_secs(3), stream.write_all(&batch)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => {
                cut_off = true;
                break 'flood;
            }
        }
    }
    assert!(
        cut_off,
        "all {frames} refused calls were read, none of the answers were"
    );
    // The server closes with our flood unread in its socket, so the kernel may reset the
    // connection and discard its ERROR frame with the answers we did not read; if it did
    // arrive, it names the reason.
    let mut peer = RawPeer::from_io(Box::new(stream));
    let (answers, error) = drain(&mut peer, Kind::RESPONSE).await;
    if let Some(error) = error {
        assert_eq!(error.header.status, Code::ResourceExhausted as u8);
        let message = error.head.message.unwrap();
        assert!(message.contains("unread"), "{message}");
    }
    println!("refused calls sent: {frames}; answers read after the cut-off: {answers}");
    assert_eq!(client(&server.addr).len("ok".into()).await.unwrap(), 2);
}

#[tokio::test]
async fn rapid_reset_is_cut_off_and_running_handlers_stay_capped() {
    let cap = 64;
    let server = start(
        "tcp",
        ServerConfig {
            max_in_flight: cap,
            ..ServerConfig::default()
        },
    )
    .await;
    let mut peer = RawPeer::connect(&server.addr).await;
    // Request + cancel pairs: each handler (a 10 s sleep) is cancelled right after it starts.
    let mut sent = 0u64;
    let mut closed = false;
    'flood: for chunk in 0..100u64 {
        let mut pairs = BytesMut::new();
        for i in 0..1_000u64 {
            let id = chunk * 1_000 + i + 1;
            // msgpack 10000 = cd 27 10
            request(id, "sleep", CodecId::MSGPACK, &[0xcd, 0x27, 0x10])
                .encode(&mut pairs)
                .unwrap();
            Frame::new(Kind::CANCEL, id).encode(&mut pairs).unwrap();
        }
        use tokio::io::AsyncWriteExt;
        if peer.stream.write_all(&pairs).await.is_err() {
            closed = true;
            break 'flood;
        }
        sent += 1_000;
    }
    let (_, error) = drain(&mut peer, Kind::RESPONSE).await;
    let error = error.expect("an ERROR frame before the close");
    assert_eq!(error.header.status, Code::ResourceExhausted as u8);
    let message = error.head.message.unwrap();
    assert!(message.contains("cancelled"), "{message}");
    let started = *server.probe.started.borrow();
    println!(
        "pairs sent before the close: {sent} (write failed early: {closed}); handlers started: {started}"
    );
    assert!(
        sent < 100_000,
        "the connection was closed before the flood ended"
    );
    assert!(
        started <= 2_048 + cap as u64 + 1_000,
        "{started} handlers started"
    );
    // Everyone else is fine.
    assert_eq!(client(&server.addr).len("ok".into()).await.unwrap(), 2);
}

#[tokio::test]
async fn a_client_cancelling_many_calls_is_not_mistaken_for_abuse() {
    let server = start("tcp", ServerConfig::default()).await;
    let client = client(&server.addr);
    for round in 0..3 {
        let calls: Vec<_> = (0..500)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.sleep(10_000).await })
            })
            .collect();
        wait_for(
            &server.probe.started,
            500 * (round + 1),
            Duration::from_secs(5),
        )
        .await;
        for call in calls {
            call.abort();
        }
        wait_for(
            &server.probe.aborted,
            500 * (round + 1),
            Duration::from_secs(5),
        )
        .await;
        // Completed calls pay the debt back.
        for _ in 0..500 {
            client.len("x".into()).await.unwrap();
        }
    }
    assert_eq!(client.len("still".into()).await.unwrap(), 5);
}

#[tokio::test]
async fn connections_over_the_cap_are_turned_away_clearly() {
    let server = start(
        "tcp",
        ServerConfig {
            max_connections: 3,
            ..ServerConfig::default()
        },
    )
    .await;
    let held: Vec<_> = (0..3).map(|_| client(&server.addr)).collect();
    for c in &held {
        assert_eq!(c.len("in".into()).await.unwrap(), 2);
    }
    let extra = client(&server.addr);
    let err = extra.len("out".into()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(err.message().contains("limit of 3 connections"), "{err}");
    // A slot frees when a connection closes.
    held[0].client().close();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let again = client(&server.addr);
    loop {
        match again.len("back".into()).await {
            Ok(n) => {
                assert_eq!(n, 4);
                break;
            }
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("slot never freed: {e}"),
        }
    }
}
