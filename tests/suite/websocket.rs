//! WebSocket specifics: the configured path, message limits aligned with erpc's, and
//! messages that are not erpc's.

use crate::support;

use std::time::Duration;

use erpc::{Code, ServerConfig};
use futures_util::{SinkExt, StreamExt};
use support::*;
use tokio_tungstenite::tungstenite::Message;

async fn raw_ws(addr: &str) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let hostport = addr
        .strip_prefix("ws://")
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(hostport).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(addr, tcp).await.unwrap();
    ws
}

/// Whether the server ends the WebSocket within a few seconds.
async fn closes(ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>) -> bool {
    let end = async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), end)
        .await
        .unwrap_or(false)
}

#[tokio::test]
async fn only_the_configured_path_is_served() {
    let server = start("ws", ServerConfig::default()).await;
    assert!(server.addr.ends_with("/erpc"), "{}", server.addr);
    assert_eq!(client(&server.addr).len("ok".into()).await.unwrap(), 2);
    let elsewhere = server.addr.replace("/erpc", "/other");
    let err = client(&elsewhere).len("x".into()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(err.message().contains("404"), "{err}");
}

#[tokio::test]
async fn a_message_over_the_limit_closes_only_its_connection() {
    let server = start("ws", ServerConfig::default()).await;
    let bystander = client(&server.addr);
    assert_eq!(bystander.len("a".into()).await.unwrap(), 1);
    let mut ws = raw_ws(&server.addr).await;
    let too_big = vec![0u8; erpc::transport::options::DEFAULT_MAX_FRAME + 1];
    let _ = ws.send(Message::Binary(too_big.into())).await;
    assert!(
        closes(&mut ws).await,
        "the oversized message closed the connection"
    );
    assert_eq!(bystander.len("still".into()).await.unwrap(), 5);
}

#[tokio::test]
async fn a_text_message_is_a_protocol_error() {
    let server = start("ws", ServerConfig::default()).await;
    let mut ws = raw_ws(&server.addr).await;
    ws.send(Message::Text("hello".into())).await.unwrap();
    assert!(closes(&mut ws).await);
}
