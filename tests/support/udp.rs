//! Raw UDP datagrams to an erpc server: the HELLO/COOKIE exchange and frames behind the
//! cookie (PROTOCOL.md §12), for tests that speak the datagram layer themselves.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use erpc::protocol::{Decoded, Frame, FrameDecoder, Kind};
use tokio::net::UdpSocket;

pub const HELLO: u8 = 0x01;
pub const COOKIE: u8 = 0x02;
pub const CLIENT_FRAME: u8 = 0x03;
pub const SERVER_FRAME: u8 = 0x04;

pub fn hostport(addr: &str) -> SocketAddr {
    addr.strip_prefix("udp://").unwrap().parse().unwrap()
}

pub async fn raw_socket(server: &str) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.connect(hostport(server)).await.unwrap();
    s
}

/// The next datagram, or None within `wait`.
pub async fn recv(s: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 70_000];
    let n = tokio::time::timeout(wait, s.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

/// HELLO, then the cookie.
pub async fn cookie(s: &UdpSocket) -> [u8; 16] {
    cookie_with_nonce(s, [0; 4]).await
}

/// HELLO with `nonce` as its connection nonce (bytes 1 to 4), then the cookie.
pub async fn cookie_with_nonce(s: &UdpSocket, nonce: [u8; 4]) -> [u8; 16] {
    let mut hello = [0u8; 16];
    hello[0] = HELLO;
    hello[1..5].copy_from_slice(&nonce);
    s.send(&hello).await.unwrap();
    let reply = recv(s, Duration::from_secs(2)).await.expect("a cookie");
    assert_eq!((reply.len(), reply[0]), (17, COOKIE));
    reply[1..].try_into().unwrap()
}

pub fn datagram(cookie: &[u8; 16], frame: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    out.extend_from_slice(&[CLIENT_FRAME]);
    out.extend_from_slice(cookie);
    frame.encode(&mut out).unwrap();
    out.to_vec()
}

/// The frame a server datagram carries (skipping PINGs).
pub async fn reply_frame(s: &UdpSocket) -> Option<Frame> {
    loop {
        let d = recv(s, Duration::from_secs(3)).await?;
        assert_eq!(d[0], SERVER_FRAME);
        let mut buf = BytesMut::from(&d[1..]);
        match FrameDecoder::new(Default::default())
            .decode(&mut buf)
            .unwrap()
        {
            Some(Decoded::Frame(f)) if f.header.kind == Kind::PING => continue,
            Some(Decoded::Frame(f)) => return Some(f),
            other => panic!("not a frame: {other:?}"),
        }
    }
}
