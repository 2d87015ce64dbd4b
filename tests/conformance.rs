//! The transport conformance suite: one set of properties, checked on every transport (tcp,
//! unix, mem, tls, ws, wss, quic, udp, kcp). Where a transport cannot offer a property (UDP
//! and bodies larger than a datagram), the test asserts the documented error instead.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use erpc::config::HeartbeatConfig;
use erpc::protocol::{Frame, Header, Kind, Limits};
use erpc::{ClientConfig, Code, CodecId, Proto, Raw, ServerConfig};
use support::*;
use tokio::time::Instant;

/// A client of `addr` that notices a dead peer within about a second.
fn watchful_client(addr: &str) -> EchoClient {
    EchoClient::new(
        erpc::Client::builder()
            .config(ClientConfig {
                heartbeat: HeartbeatConfig {
                    interval: Duration::from_millis(200),
                    misses: 3,
                },
                backoff_initial: Duration::from_millis(20),
                backoff_max: Duration::from_millis(100),
                transport: client_options(),
                ..ClientConfig::default()
            })
            .register_codec(Arc::new(JsonLines))
            .build(addr)
            .expect("address"),
    )
}

#[tokio::test]
async fn unary_and_oneway_calls_with_each_codec() {
    for transport in TRANSPORTS {
        let server = start(transport, ServerConfig::default()).await;
        let client = client(&server.addr);
        for codec in [CodecId::MSGPACK, CodecId::JSON, JSON_LINES] {
            let msg = Msg::new(7, 100);
            let back = client.echo(msg.clone()).codec(codec).await;
            assert_eq!(back.unwrap(), msg, "{transport}/{codec}");
        }
        let back = client.mirror(Proto(Point { x: 1, y: 2 })).await.unwrap();
        assert_eq!(back.0, Point { x: 2, y: 1 }, "{transport}/protobuf");
        let raw = client.raw(Raw(vec![1, 2, 3].into())).await.unwrap();
        assert_eq!(&raw.0[..], &[1, 2, 3], "{transport}/raw");
        for n in 1..=5 {
            client.notify(n).await.unwrap();
        }
        wait_for(&server.probe.notified, 15, Duration::from_secs(5)).await;
        let err = client.fail(5, "nope".into()).await.unwrap_err();
        assert_eq!(
            (err.code(), err.message(), &err.details()[..]),
            (Code::NotFound, "nope", &b"details"[..]),
            "{transport}"
        );
        server.handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls() {
    for transport in TRANSPORTS {
        let server = start(transport, ServerConfig::default()).await;
        let client = client(&server.addr);
        let calls = (0..1000u64).map(|i| {
            let client = client.clone();
            async move {
                client
                    .sleep(20 - i % 20)
                    .timeout(Duration::from_secs(30))
                    .await
            }
        });
        let results = futures_util::future::join_all(calls).await;
        for (i, r) in results.into_iter().enumerate() {
            assert_eq!(
                r.unwrap_or_else(|e| panic!("{transport} call {i}: {e}")),
                20 - i as u64 % 20
            );
        }
        assert_eq!(*server.probe.finished.borrow(), 1000, "{transport}");
        server.handle.shutdown().await;
    }
}

#[tokio::test]
async fn deadline_expiry_and_cancellation_abort_the_handler() {
    for transport in TRANSPORTS {
        let server = start(transport, ServerConfig::default()).await;
        let client = client(&server.addr);
        let started = Instant::now();
        let err = client
            .sleep(10_000)
            .timeout(Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded, "{transport}: {err}");
        assert!(started.elapsed() < Duration::from_secs(2), "{transport}");
        let expired = Instant::now();
        wait_for(&server.probe.aborted, 1, Duration::from_secs(5)).await;
        // RELIABILITY.md row 14: from the caller's `deadline_exceeded` to the handler dropped.
        let expiry_to_abort = expired.elapsed();

        let call = tokio::spawn({
            let client = client.clone();
            async move { client.sleep(10_000).await }
        });
        wait_for(&server.probe.started, 2, Duration::from_secs(5)).await;
        let dropped = Instant::now();
        call.abort();
        wait_for(&server.probe.aborted, 2, Duration::from_secs(5)).await;
        // Row 15: from the call future dropped (CANCEL sent) to the handler dropped.
        let drop_to_abort = dropped.elapsed();
        println!(
            "{transport}: handler aborted {:.1} ms after the caller's deadline_exceeded, {:.1} ms \
             after the call future was dropped",
            expiry_to_abort.as_secs_f64() * 1e3,
            drop_to_abort.as_secs_f64() * 1e3
        );
        // The connection still serves.
        assert_eq!(client.len("ok".into()).await.unwrap(), 2, "{transport}");
        server.handle.shutdown().await;
    }
}

#[tokio::test]
async fn bodies_at_the_limit_minus_one_the_limit_and_plus_one() {
    const LIMIT: usize = 2048;
    let small = ServerConfig {
        limits: Limits {
            max_body: LIMIT as u32,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    for transport in TRANSPORTS {
        let server = start(transport, small.clone()).await;
        let client = client(&server.addr);
        for (size, ok) in [(LIMIT - 1, true), (LIMIT, true), (LIMIT + 1, false)] {
            let result = client.raw_len(Raw(vec![1u8; size].into())).await;
            match (ok, result) {
                (true, Ok(n)) => assert_eq!(n as usize, size, "{transport}"),
                (false, Err(e)) => {
                    assert_eq!(e.code(), Code::ResourceExhausted, "{transport}: {e}");
                    assert!(e.message().contains(&size.to_string()), "{transport}: {e}");
                }
                (want, got) => panic!("{transport} at {size}: wanted ok={want}, got {got:?}"),
            }
            assert_eq!(client.len("x".into()).await.unwrap(), 1, "{transport}");
        }
        server.handle.shutdown().await;
    }
}

/// Every transport but UDP carries erpc's largest body (4 MiB) both ways; UDP refuses a
/// request or a response larger than a datagram with a clear `resource_exhausted`.
#[tokio::test]
async fn the_largest_body_or_the_transports_documented_refusal() {
    let max = Limits::default().max_body as usize;
    for transport in TRANSPORTS {
        let server = start(transport, ServerConfig::default()).await;
        let client = client(&server.addr);
        // The largest raw body: what is left of the limit after MessagePack's bin32 prefix.
        let big = Raw(vec![3u8; max - 5].into());
        // A small call first: the server's first-frame deadline (10 s) counts a whole frame,
        // and a 4 MiB first frame over KCP in a loaded debug build can take longer.
        assert_eq!(client.len("warm".into()).await.unwrap(), 4, "{transport}");
        // KCP moves ~30 MB/s even in release builds (BENCHMARKS.md): a generous deadline.
        let long = Duration::from_secs(60);
        let sent = client.raw_len(big.clone()).timeout(long).await;
        let filled = client.fill(max as u64 - 5).timeout(long).await;
        if transport == "udp" {
            let e = sent.unwrap_err();
            assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
            assert!(e.message().contains("udp's limit of 65490 bytes"), "{e}");
            let e = filled.unwrap_err();
            assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
            assert!(e.message().contains("transport's limit of 65490"), "{e}");
            // Just under the datagram limit still works.
            assert_eq!(client.fill(60_000).await.unwrap().0.len(), 60_000);
        } else {
            assert_eq!(
                sent.unwrap_or_else(|e| panic!("{transport}: {e}")) as usize,
                max - 5
            );
            assert_eq!(
                filled
                    .unwrap_or_else(|e| panic!("{transport}: {e}"))
                    .0
                    .len(),
                max - 5
            );
        }
        server.handle.shutdown().await;
    }
}

/// A REQUEST whose header block claims more bytes than it has.
fn malformed_request(id: u64) -> BytesMut {
    let mut bytes = BytesMut::new();
    Header {
        head_len: 4,
        body_len: 0,
        ..Frame::new(Kind::REQUEST, id).header
    }
    .encode(&mut bytes);
    bytes.extend_from_slice(&[0x01, 0x00, 0x09, b'x']);
    bytes
}

#[tokio::test]
async fn a_malformed_frame_gets_a_clear_error_and_others_keep_working() {
    for transport in TRANSPORTS {
        let server = start(transport, ServerConfig::default()).await;
        let bystander = client(&server.addr);
        assert_eq!(bystander.len("before".into()).await.unwrap(), 6);

        // A frame with a broken header block fails its call only.
        let mut peer = RawPeer::connect(&server.addr).await;
        peer.send_bytes(&malformed_request(1)).await;
        let reply = peer.recv_reply().await.expect("an answer");
        assert_eq!(reply.header.request_id, 1, "{transport}");
        assert_eq!(
            reply.header.status,
            Code::InvalidArgument as u8,
            "{transport}"
        );
        peer.send(&request(2, "len", CodecId::JSON, b"\"abc\""))
            .await;
        let reply = peer.recv_reply().await.expect("an answer");
        assert_eq!(
            (reply.header.request_id, reply.header.status),
            (2, 0),
            "{transport}"
        );

        // Bytes that are not a frame at all: an ERROR frame, then the connection closes.
        // (QUIC and UDP cut frames out of what is written, so garbage cannot be written
        // through their links; tests/suite/udp.rs sends malformed datagrams on a raw socket.)
        if !matches!(transport, "quic" | "udp") {
            let mut peer = RawPeer::connect(&server.addr).await;
            peer.send_bytes(&[0x47; 64]).await;
            let reply = peer.recv_reply().await.expect("an ERROR frame");
            assert_eq!(reply.header.kind, Kind::ERROR, "{transport}");
            assert_eq!(
                reply.header.status,
                Code::InvalidArgument as u8,
                "{transport}"
            );
            // KCP has no close signal: the client learns of it by heartbeats (PROTOCOL.md
            // §12.6), so only the byte-stream transports with a FIN are checked here.
            if transport != "kcp" {
                assert!(
                    peer.recv_reply().await.is_none(),
                    "{transport}: closed after"
                );
            }
        }
        assert_eq!(
            bystander.len("after".into()).await.unwrap(),
            5,
            "{transport}"
        );
        server.handle.shutdown().await;
    }
}

/// A server on a runtime of its own, so the test can kill it outright: no GOAWAY, no close,
/// its sockets simply vanish.
fn doomed_server(transport: &'static str) -> (String, Arc<Probe>, std::sync::mpsc::Sender<()>) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let server = start(transport, ServerConfig::default()).await;
            addr_tx
                .send((server.addr.clone(), server.probe.clone()))
                .expect("test waits");
            tokio::task::spawn_blocking(move || kill_rx.recv())
                .await
                .ok();
            std::mem::forget(server.handle);
        });
        // Dropping the runtime drops every task of the server at once.
    });
    let (addr, probe) = addr_rx.recv().expect("server started");
    (addr, probe, kill_tx)
}

#[tokio::test]
async fn the_peer_dying_mid_call_fails_pending_calls_with_unavailable() {
    for transport in TRANSPORTS {
        let (addr, probe, kill) = doomed_server(transport);
        let client = watchful_client(&addr);
        assert_eq!(client.len("up".into()).await.unwrap(), 2, "{transport}");
        let pending = tokio::spawn({
            let client = client.clone();
            async move { client.sleep(30_000).timeout(Duration::from_secs(60)).await }
        });
        // Killed while the handler runs: the call is in flight, not yet sent or answered.
        wait_for(&probe.started, 1, Duration::from_secs(5)).await;
        let killed = Instant::now();
        kill.send(()).expect("server thread alive");
        let err = pending.await.unwrap().unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{transport}: {err}");
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "{transport}: took {:?}",
            killed.elapsed()
        );
    }
}

/// Serve Echo at `addr` again. A QUIC endpoint keeps its UDP port until its connections
/// have finished closing (up to a couple of seconds): the port is retried meanwhile.
async fn rebind(transport: &str, addr: &str) -> erpc::ServerHandle {
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        let bound = erpc::Server::builder()
            .config(ServerConfig {
                transport: server_options(),
                ..ServerConfig::default()
            })
            .add_service(EchoServer::new(EchoImpl::default()))
            .serve([addr])
            .await;
        match bound {
            Ok(handle) => return handle,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{transport}: rebinding {addr}: {e}"),
        }
    }
}

#[tokio::test]
async fn the_client_reconnects_after_the_server_restarts() {
    for transport in TRANSPORTS {
        let first = start(transport, ServerConfig::default()).await;
        // The same address (port included) for the second server.
        let addr = first.addr.clone();
        let client = watchful_client(&addr);
        assert_eq!(client.len("one".into()).await.unwrap(), 3, "{transport}");
        first.handle.shutdown().await;
        let again = rebind(transport, &addr).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match client
                .len("back".into())
                .timeout(Duration::from_secs(1))
                .await
            {
                Ok(n) => {
                    assert_eq!(n, 4);
                    break;
                }
                Err(e) if Instant::now() < deadline => {
                    assert!(
                        matches!(e.code(), Code::Unavailable | Code::DeadlineExceeded),
                        "{transport}: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("{transport}: no reconnect within 10 s: {e}"),
            }
        }
        again.shutdown().await;
    }
}

#[tokio::test]
async fn one_server_answers_on_every_transport_at_once() {
    let places: Vec<Place> = TRANSPORTS.iter().map(|t| place(t)).collect();
    let server = erpc::Server::builder()
        .config(ServerConfig {
            transport: server_options(),
            ..ServerConfig::default()
        })
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve(places.iter().map(|p| p.addr.as_str()))
        .await
        .expect("binds every transport");
    assert_eq!(server.local_addrs().len(), TRANSPORTS.len());
    for (transport, addr) in TRANSPORTS.iter().zip(server.local_addrs()) {
        let client = client(&addr.to_string());
        let peer = client
            .peer()
            .await
            .unwrap_or_else(|e| panic!("{transport}: {e}"));
        assert!(
            peer.starts_with(&format!("{transport}://")),
            "{transport}: the server saw {peer}"
        );
    }
    server.shutdown().await;
}

/// Stopping a server stops it accepting, never its accepted connections (issue 11): a unary
/// call whose handler is running when shutdown starts gets its real response, a client
/// stream opened before it (every transport but UDP, which carries no streams) finishes
/// sending and gets its result, and the shutdown then completes once they are done, long
/// before its grace period. The server's short heartbeat makes a connection that silently
/// stopped receiving when its listener went away (KCP's sessions, UDP's shared socket) fail
/// within about a second instead of passing by luck.
#[tokio::test]
async fn graceful_shutdown_with_a_response_and_a_client_stream_in_flight() {
    const HANDLER_MS: u64 = 2000;
    let config = ServerConfig {
        heartbeat: HeartbeatConfig {
            interval: Duration::from_millis(250),
            misses: 4,
        },
        shutdown_grace: Duration::from_secs(120),
        ..ServerConfig::default()
    };
    for transport in TRANSPORTS {
        let server = start(transport, config.clone()).await;
        let echo = watchful_client(&server.addr);
        let stream = if STREAM_TRANSPORTS.contains(&transport) {
            let feed = feed::FeedClient::new(
                erpc::Client::builder()
                    .transport(client_options())
                    .build(server.addr.as_str())
                    .expect("address"),
            );
            let (tx, rx) = tokio::sync::mpsc::channel::<u64>(16);
            let numbers = futures_util::stream::unfold(rx, |mut rx| async {
                rx.recv().await.map(|n| (n, rx))
            });
            let call =
                tokio::spawn(
                    async move { feed.sum(numbers).timeout(Duration::from_secs(60)).await },
                );
            tx.send(1).await.expect("the call reads its stream");
            // The server has the stream open: it summed the first number.
            wait_for(&server.feed.summed, 1, Duration::from_secs(10)).await;
            Some((tx, call))
        } else {
            None
        };
        let running = tokio::spawn({
            let echo = echo.clone();
            async move {
                echo.sleep(HANDLER_MS)
                    .timeout(Duration::from_secs(60))
                    .await
            }
        });
        wait_for(&server.probe.started, 1, Duration::from_secs(10)).await;

        let began = Instant::now();
        let mut shutdown = std::pin::pin!(server.handle.shutdown());
        // One poll starts the shutdown (no registry to leave: it cancels at once) and stops
        // at waiting for the connections to drain.
        tokio::select! {
            biased;
            _ = &mut shutdown => panic!("{transport}: shutdown finished with calls running"),
            _ = std::future::ready(()) => {}
        }
        let in_flight = async {
            let answer = running.await.expect("call task");
            assert_eq!(
                answer.unwrap_or_else(|e| panic!("{transport}: the running call: {e}")),
                HANDLER_MS
            );
            if let Some((tx, call)) = stream {
                for n in 2..=100 {
                    tx.send(n).await.expect("the call reads its stream");
                }
                drop(tx);
                let sum = call.await.expect("stream task");
                assert_eq!(
                    sum.unwrap_or_else(|e| panic!("{transport}: the client stream: {e}")),
                    5050
                );
            }
        };
        let drained = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(shutdown, in_flight)
        })
        .await;
        assert!(
            drained.is_ok(),
            "{transport}: shutdown still waiting after 60 s"
        );
        println!("{transport}: drained in {:?}", began.elapsed());
    }
}
