//! UDP specifics: address validation (no amplification), duplicate suppression, delivery
//! over a lossy path, malformed datagrams, and streams refused.

use crate::support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use erpc::protocol::{Frame, Kind};
use erpc::{Code, CodecId, ServerConfig};
use support::feed::FeedClient;
use support::udp::*;
use support::*;
use tokio::net::UdpSocket;

#[tokio::test]
async fn an_unvalidated_address_gets_at_most_three_times_what_it_sent() {
    let server = start("udp", ServerConfig::default()).await;
    let s = raw_socket(&server.addr).await;
    // Too short to answer within 3x: nothing.
    s.send(&[HELLO; 8]).await.unwrap();
    assert!(recv(&s, Duration::from_millis(300)).await.is_none());
    // A 16-byte HELLO: a 17-byte cookie.
    let mut hello = [0u8; 16];
    hello[0] = HELLO;
    s.send(&hello).await.unwrap();
    let reply = recv(&s, Duration::from_secs(2)).await.unwrap();
    assert!(reply.len() <= 3 * hello.len(), "{} bytes", reply.len());
    // A request with a forged cookie runs nothing: the answer is a 17-byte cookie only.
    let forged = datagram(&[9u8; 16], &request(1, "sleep", CodecId::MSGPACK, &[0x01]));
    s.send(&forged).await.unwrap();
    let reply = recv(&s, Duration::from_secs(2)).await.unwrap();
    assert_eq!((reply.len(), reply[0]), (17, COOKIE));
    assert!(reply.len() <= 3 * forged.len());
    assert!(recv(&s, Duration::from_millis(300)).await.is_none());
    assert_eq!(*server.probe.started.borrow(), 0);
    // Other datagram types and garbage: nothing.
    for junk in [vec![SERVER_FRAME; 40], vec![0xFF; 100], vec![COOKIE; 17]] {
        s.send(&junk).await.unwrap();
    }
    assert!(recv(&s, Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn a_duplicated_request_runs_once_and_its_response_is_replayed() {
    let server = start("udp", ServerConfig::default()).await;
    let s = raw_socket(&server.addr).await;
    let cookie = cookie(&s).await;
    // msgpack 1: sleep 1 ms.
    let d = datagram(&cookie, &request(5, "sleep", CodecId::MSGPACK, &[0x01]));
    s.send(&d).await.unwrap();
    let first = reply_frame(&s).await.unwrap();
    assert_eq!((first.header.request_id, first.header.status), (5, 0));
    for _ in 0..3 {
        s.send(&d).await.unwrap();
        let again = reply_frame(&s).await.unwrap();
        assert!(again.same_content(&first), "the cached response, replayed");
    }
    assert_eq!(*server.probe.started.borrow(), 1, "the handler ran once");
}

#[tokio::test]
async fn a_malformed_datagram_gets_an_error_and_others_are_still_served() {
    let server = start("udp", ServerConfig::default()).await;
    let bystander = client(&server.addr);
    assert_eq!(bystander.len("abc".into()).await.unwrap(), 3);
    let s = raw_socket(&server.addr).await;
    let cookie = cookie(&s).await;
    // A frame followed by bytes that belong to no frame.
    let mut d = datagram(&cookie, &request(1, "len", CodecId::JSON, b"\"x\""));
    d.extend_from_slice(b"trailing junk");
    s.send(&d).await.unwrap();
    let error = reply_frame(&s).await.expect("an ERROR frame");
    assert_eq!(error.header.kind, Kind::ERROR);
    assert_eq!(error.header.status, Code::InvalidArgument as u8);
    let message = error.head.message.unwrap();
    assert!(
        message.contains("one datagram carries exactly one frame"),
        "{message}"
    );
    assert_eq!(bystander.len("still".into()).await.unwrap(), 5);
}

#[tokio::test]
async fn streaming_calls_are_refused_as_unimplemented() {
    let server = start("udp", ServerConfig::default()).await;
    let feed = FeedClient::new(
        erpc::Client::builder()
            .transport(client_options())
            .build(server.addr.as_str())
            .unwrap(),
    );
    let err = feed.count(3).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err}");
    assert!(
        err.message()
            .contains("udp carries unary and oneway calls only"),
        "{err}"
    );
    // A raw STREAM_OPEN is refused by the server too.
    let s = raw_socket(&server.addr).await;
    let cookie = cookie(&s).await;
    let mut open = Frame::new(Kind::STREAM_OPEN, 3);
    open.head.service = Some("Feed".into());
    open.head.method = Some("count".into());
    s.send(&datagram(&cookie, &open)).await.unwrap();
    let end = reply_frame(&s).await.unwrap();
    assert_eq!(end.header.kind, Kind::STREAM_END);
    assert_eq!(end.header.status, Code::Unimplemented as u8);
}

/// A ONEWAY frame of the Echo service.
fn oneway(id: u64, method: &'static str, body: &[u8]) -> Frame {
    let mut f = request(id, method, CodecId::JSON, body);
    f.header.kind = Kind::ONEWAY;
    f
}

/// A closed client's port is handed to the next socket that binds one (an ephemeral port
/// came back 1 time in ~150 for the 20 clients of `orderly_close`), while the server still
/// serves the closed client's connection: UDP has no close. The new client starts its ids
/// at 1 again; taken for the old one, its request was answered with the old client's cached
/// response and its oneway dropped as a duplicate. A HELLO with another nonce starts a new
/// connection.
#[tokio::test]
async fn a_new_client_at_a_reused_port_gets_a_connection_of_its_own() {
    let server = start("udp", ServerConfig::default()).await;
    let first = raw_socket(&server.addr).await;
    let port = first.local_addr().unwrap();
    let first_cookie = cookie_with_nonce(&first, [1, 1, 1, 1]).await;
    let len = |text: &[u8]| request(1, "len", CodecId::JSON, text);
    first
        .send(&datagram(&first_cookie, &len(b"\"x\"")))
        .await
        .unwrap();
    assert_eq!(&reply_frame(&first).await.unwrap().body[..], b"1");
    first
        .send(&datagram(&first_cookie, &oneway(2, "notify", b"1")))
        .await
        .unwrap();
    wait_for(&server.probe.notified, 1, Duration::from_secs(5)).await;
    drop(first);

    let second = UdpSocket::bind(port).await.expect("the port just freed");
    second.connect(hostport(&server.addr)).await.unwrap();
    let cookie = cookie_with_nonce(&second, [2, 2, 2, 2]).await;
    second
        .send(&datagram(&cookie, &len(b"\"four\"")))
        .await
        .unwrap();
    let answer = reply_frame(&second).await.unwrap();
    assert_eq!(
        &answer.body[..],
        b"4",
        "its own answer, not the first client's"
    );
    second
        .send(&datagram(&cookie, &oneway(2, "notify", b"1")))
        .await
        .unwrap();
    wait_for(&server.probe.notified, 2, Duration::from_secs(5)).await;

    // A late datagram of the first client (its cookie is valid for the address) is
    // dropped: taken for a third client, it would end the second one's connection.
    second
        .send(&datagram(&first_cookie, &len(b"\"late\"")))
        .await
        .unwrap();
    assert!(recv(&second, Duration::from_millis(300)).await.is_none());
    second
        .send(&datagram(&cookie, &len(b"\"four\"")))
        .await
        .unwrap();
    let again = reply_frame(&second).await.unwrap();
    assert!(
        again.same_content(&answer),
        "the second connection's window, kept"
    );
}

/// A relay between a client and a server that drops every `nth` datagram each way.
async fn lossy_relay(server: SocketAddr, nth: u64) -> (SocketAddr, Arc<AtomicU64>) {
    let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    back.connect(server).await.unwrap();
    let addr = front.local_addr().unwrap();
    let dropped = Arc::new(AtomicU64::new(0));
    let client: Arc<std::sync::Mutex<Option<SocketAddr>>> = Arc::default();
    let (f, b, c, d) = (front.clone(), back.clone(), client.clone(), dropped.clone());
    tokio::spawn(async move {
        let mut buf = vec![0u8; 70_000];
        let mut n = 0u64;
        while let Ok((len, from)) = f.recv_from(&mut buf).await {
            *c.lock().unwrap() = Some(from);
            n += 1;
            if n % nth == 0 {
                d.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let _ = b.send(&buf[..len]).await;
        }
    });
    let d = dropped.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 70_000];
        let mut n = 0u64;
        while let Ok(len) = back.recv(&mut buf).await {
            n += 1;
            if n % nth == 0 {
                d.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let to = *client.lock().unwrap();
            if let Some(to) = to {
                let _ = front.send_to(&buf[..len], to).await;
            }
        }
    });
    (addr, dropped)
}

#[tokio::test]
async fn calls_survive_a_lossy_path_and_each_runs_once() {
    let server = start("udp", ServerConfig::default()).await;
    let (relay, dropped) = lossy_relay(hostport(&server.addr), 4).await;
    let client = client(&format!("udp://{relay}"));
    for i in 0..40u64 {
        let got = client
            .sleep(1)
            .timeout(Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert_eq!(got, 1);
    }
    assert!(
        dropped.load(Ordering::Relaxed) >= 10,
        "the relay dropped datagrams"
    );
    assert_eq!(*server.probe.started.borrow(), 40, "no call ran twice");
}
