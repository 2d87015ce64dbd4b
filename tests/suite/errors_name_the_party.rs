//! Failures name the side that failed, the direction, the call, the codec and what was
//! expected, so a client that cannot read a response is not mistaken for a server refusing
//! its arguments — in the schema's words, never a Rust path (`alloc::string::String`): the
//! messages reach callers that know the method by its wire shape (tools, other languages).

use crate::support;

use erpc::{Code, ServerStream, Status};
use futures_util::StreamExt;
use support::mem_addr;

#[erpc::service(name = "Shapes")]
pub trait Old {
    async fn get(&self, id: u64) -> Result<String, Status>;
    async fn list(&self, n: u64) -> Result<ServerStream<String>, Status>;
}

/// The same service after its types changed on the server only.
#[erpc::service(name = "Shapes")]
pub trait New {
    async fn get(&self, id: String) -> Result<Vec<u64>, Status>;
    async fn list(&self, n: u64) -> Result<ServerStream<Vec<u64>>, Status>;
}

struct NewImpl;

impl New for NewImpl {
    async fn get(&self, _id: String) -> Result<Vec<u64>, Status> {
        Ok(vec![1, 2, 3])
    }
    async fn list(&self, _n: u64) -> Result<ServerStream<Vec<u64>>, Status> {
        Ok(ServerStream::iter([vec![1u64]]))
    }
}

#[tokio::test]
async fn a_changed_type_names_side_direction_call_and_codec() {
    let server = erpc::Server::builder()
        .add_service(NewServer::new(NewImpl))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = OldClient::new(erpc::Client::new(server.local_addr()).unwrap());

    // The server cannot read the argument: it says so, as invalid_argument.
    let refused = client.get(7).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused}");
    assert!(
        refused
            .message()
            .contains("server could not decode the request of Shapes.get in msgpack: "),
        "{refused}"
    );
    assert!(!refused.message().contains("::"), "{refused}");

    // The client cannot read the stream's messages: internal, naming the client.
    let mut stream = client.list(1).await.unwrap();
    let unread = stream.next().await.unwrap().unwrap_err();
    assert_eq!(unread.code(), Code::Internal, "{unread}");
    assert!(
        unread
            .message()
            .contains("client could not decode the response of Shapes.list in msgpack: "),
        "{unread}"
    );
    assert!(!unread.message().contains("::"), "{unread}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_response_of_another_type_is_the_clients_failure() {
    #[erpc::service(name = "Shapes")]
    pub trait Reader {
        async fn get(&self, id: String) -> Result<String, Status>;
    }
    let server = erpc::Server::builder()
        .add_service(NewServer::new(NewImpl))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = ReaderClient::new(erpc::Client::new(server.local_addr()).unwrap());
    let unread = client.get("x".into()).await.unwrap_err();
    assert_eq!(unread.code(), Code::Internal, "{unread}");
    assert!(
        unread
            .message()
            .contains("client could not decode the response of Shapes.get in msgpack: "),
        "{unread}"
    );
    assert!(!unread.message().contains("::"), "{unread}");
    assert!(unread.message().contains("return another type"), "{unread}");
    server.shutdown().await;
}
