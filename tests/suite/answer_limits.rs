//! Whatever a server answers, a client with default limits accepts (PROTOCOL.md §7, §8): a
//! status keeps its code when its details or message are too large for the header block,
//! and says what was left out — on unary calls and at the end of a stream alike.

use crate::support;

use erpc::{Code, ServerStream, Status};
use futures_util::StreamExt;
use support::mem_addr;

#[erpc::service]
pub trait Failing {
    /// Fails `not_found` with `size` bytes of details.
    async fn unary(&self, size: u64) -> Result<(), Status>;
    /// One message, then ends `not_found` with `size` bytes of details.
    async fn stream(&self, size: u64) -> Result<ServerStream<u64>, Status>;
}

struct Impl;

fn failure(size: u64) -> Status {
    Status::not_found("x").with_details(vec![0u8; size as usize])
}

impl Failing for Impl {
    async fn unary(&self, size: u64) -> Result<(), Status> {
        Err(failure(size))
    }

    async fn stream(&self, size: u64) -> Result<ServerStream<u64>, Status> {
        let items = futures_util::stream::iter([Ok(1), Err(failure(size))]);
        Ok(ServerStream::new(items))
    }
}

async fn serve() -> (erpc::ServerHandle, FailingClient) {
    let handle = erpc::Server::builder()
        .add_service(FailingServer::new(Impl))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = FailingClient::new(erpc::Client::new(handle.local_addr()).unwrap());
    (handle, client)
}

fn check(status: Status, size: u64) {
    assert_eq!(status.code(), Code::NotFound, "{size}: {status}");
    if size <= 10_000 {
        assert_eq!(status.details().len(), size as usize);
        assert_eq!(status.message(), "x");
    } else {
        assert!(status.details().is_empty());
        assert!(
            status
                .message()
                .contains(&format!("status details of {size} bytes dropped")),
            "{size}: {}",
            status.message()
        );
    }
}

#[tokio::test]
async fn a_status_too_large_for_the_header_block_keeps_its_code() {
    let (server, client) = serve().await;
    for size in [10_000, 20_000, 70_000] {
        check(client.unary(size).await.unwrap_err(), size);
        let mut stream = client.stream(size).await.unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap(), 1);
        check(stream.next().await.unwrap().unwrap_err(), size);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_request_over_the_metadata_count_is_refused_before_sending() {
    let (server, client) = serve().await;
    let mut call = client.unary(1);
    for i in 0..65 {
        call = call.metadata(format!("k{i}"), "v");
    }
    let refused = call.await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("65 metadata entries"),
        "{refused}"
    );
    server.shutdown().await;
}
