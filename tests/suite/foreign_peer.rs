//! A client pointed at a port that is not erpc (here an HTTP server) fails its calls
//! `unavailable`, naming what answered — and backs off instead of dialling that port again for
//! every call: its TCP connect succeeds, so without the backoff each call would open, and be
//! refused on, a connection of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use erpc::Code;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP server that answers whatever comes with a 400 and counts its connections.
async fn http_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("tcp://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn calls_to_a_port_that_is_not_erpc_fail_unavailable_and_back_off() {
    let (addr, accepted) = http_server().await;
    let client = erpc::Client::builder()
        .backoff(Duration::from_secs(5), Duration::from_secs(10))
        .connect(addr.as_str())
        .await
        .unwrap();
    for _ in 0..10 {
        let failed = client
            .call::<u32, u32>("Any", "method", 1)
            .await
            .unwrap_err();
        assert_eq!(failed.code(), Code::Unavailable, "{failed}");
        assert!(
            failed.message().contains("is not an erpc server") && failed.message().contains("HTTP"),
            "{failed}"
        );
    }
    // The first connection, and the one that had to prove an erpc server answers: then the
    // client backs off and refuses at once.
    let dialled = accepted.load(Ordering::SeqCst);
    assert!(dialled <= 2, "dialled {dialled} times for 10 calls");
}
