//! What a newcomer reaches for first: addresses taken owned or borrowed, limits raised with a
//! builder method, and limit errors that name the side and the setting.

use crate::support;

use std::sync::Arc;

use erpc::{Address, Code, Raw};
use support::*;

async fn echo_server(max_body: Option<u32>) -> erpc::ServerHandle {
    let mut builder = erpc::Server::builder().add_service(EchoServer::new(EchoImpl::default()));
    if let Some(max) = max_body {
        builder = builder.max_body(max).max_decompressed(max as usize);
    }
    // An owned String address.
    builder.serve([mem_addr()]).await.unwrap()
}

#[tokio::test]
async fn addresses_are_taken_owned_borrowed_or_as_strings() {
    let server = echo_server(None).await;
    let owned: Address = server.local_addr().clone();
    let text: String = owned.to_string();
    let by_owned = erpc::Client::builder().build(owned.clone()).unwrap();
    let by_ref = erpc::Client::builder().build(&owned).unwrap();
    let by_string = erpc::Client::new(text.clone()).unwrap();
    let by_str = erpc::Client::new(text.as_str()).unwrap();
    for client in [by_owned, by_ref, by_string, by_str] {
        let n: u64 = client.call("Echo", "len", "abc".to_string()).await.unwrap();
        assert_eq!(n, 3);
    }
    let typed = EchoClient::connect(owned).await.unwrap();
    assert_eq!(typed.len("ab".into()).await.unwrap(), 2);
    server.shutdown().await;
}

fn five_mib() -> Raw {
    Raw(vec![1u8; 5 << 20].into())
}

#[tokio::test]
async fn a_limit_is_raised_with_one_builder_method_on_each_side() {
    let server = echo_server(Some(8 << 20)).await;
    let client = EchoClient::new(
        erpc::Client::builder()
            .max_body(8 << 20)
            .max_decompressed(8 << 20)
            .register_codec(Arc::new(JsonLines))
            .build(server.local_addr())
            .unwrap(),
    );
    assert_eq!(client.raw_len(five_mib()).await.unwrap(), 5 << 20);
    server.shutdown().await;
}

#[tokio::test]
async fn limit_errors_name_the_side_and_the_setting() {
    // The client's own limit: refused before sending.
    let server = echo_server(None).await;
    let client = EchoClient::new(erpc::Client::new(server.local_addr()).unwrap());
    let own = client.raw_len(five_mib()).await.unwrap_err();
    assert_eq!(own.code(), Code::ResourceExhausted);
    assert!(own.message().starts_with("client: "), "{own}");
    assert!(own.message().contains("limits.max_body"), "{own}");

    // The server's limit: the server says it refused, and which setting.
    let raised = EchoClient::new(
        erpc::Client::builder()
            .max_body(8 << 20)
            .build(server.local_addr())
            .unwrap(),
    );
    let theirs = raised.raw_len(five_mib()).await.unwrap_err();
    assert_eq!(theirs.code(), Code::ResourceExhausted);
    assert!(theirs.message().starts_with("server refused"), "{theirs}");
    assert!(theirs.message().contains("limits.max_body"), "{theirs}");

    // A response over the server's own limit is not sent: the server says so.
    let big = client.fill(5 << 20).await.map(|r| r.0.len()).unwrap_err();
    assert_eq!(big.code(), Code::ResourceExhausted);
    assert!(big.message().starts_with("server: response body"), "{big}");
    assert!(big.message().contains("limits.max_body"), "{big}");
    server.shutdown().await;

    // A response over the client's limit (a server that allows more): the client refuses it.
    let server = echo_server(Some(8 << 20)).await;
    let client = EchoClient::new(erpc::Client::new(server.local_addr()).unwrap());
    let big = client.fill(5 << 20).await.map(|r| r.0.len()).unwrap_err();
    assert_eq!(big.code(), Code::ResourceExhausted);
    assert!(
        big.message().starts_with("client refused the response"),
        "{big}"
    );
    assert!(big.message().contains("limits.max_body"), "{big}");
    server.shutdown().await;
}

#[tokio::test]
async fn registering_a_wildcard_bind_without_addresses_is_refused_clearly() {
    let registry = Arc::new(erpc::discovery::InProcess::default());
    let refused = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .register(registry.clone(), erpc::discovery::Instance::default())
        .serve(["tcp://0.0.0.0:0"])
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("wildcard"), "{refused}");
    assert!(refused.to_string().contains("Instance::addrs"), "{refused}");
    assert!(registry.instances("Echo").is_empty());
    // With the address clients dial, it registers.
    let server = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .register(
            registry.clone(),
            erpc::discovery::Instance {
                addrs: vec!["tcp://127.0.0.1:1".into()],
                ..Default::default()
            },
        )
        .serve(["tcp://0.0.0.0:0"])
        .await
        .unwrap();
    assert_eq!(registry.instances("Echo").len(), 1);
    server.shutdown().await;
}

#[erpc::service]
pub trait Wired {
    /// What the server saw on the wire: codec id, compression id, wire and body sizes.
    async fn seen(
        &self,
        cx: erpc::Context,
        text: String,
    ) -> Result<(u8, u8, u64, u64), erpc::Status>;
}

struct WiredImpl;

impl Wired for WiredImpl {
    async fn seen(
        &self,
        cx: erpc::Context,
        _text: String,
    ) -> Result<(u8, u8, u64, u64), erpc::Status> {
        let w = cx.wire();
        Ok((
            w.codec.0,
            w.compression.0,
            w.wire_len as u64,
            w.body_len as u64,
        ))
    }
}

#[tokio::test]
async fn what_was_on_the_wire_is_visible_on_both_sides() {
    use erpc::{CodecId, CompressionId};
    let server = erpc::Server::builder()
        .add_service(WiredServer::new(WiredImpl))
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = WiredClient::new(erpc::Client::new(server.local_addr()).unwrap());
    let (codec, compression, wire, body) = client
        .seen("a".repeat(8_000))
        .codec(CodecId::JSON)
        .compression(CompressionId::GZIP)
        .await
        .unwrap();
    assert_eq!(codec, CodecId::JSON.0);
    assert_eq!(compression, CompressionId::GZIP.0);
    assert!(wire < body && body > 8_000, "wire {wire}, body {body}");

    // The client side: the response's compression and size on the wire.
    let raw = erpc::Client::builder()
        .accept_compression([CompressionId::GZIP])
        .build(server.local_addr())
        .unwrap();
    let mut request = erpc::ClientRequest::new("Echo", "fill", &[0xcd, 0x27, 0x10][..]); // 10,000
    request.compression = CompressionId::GZIP;
    let response = raw.invoke(request).await.unwrap();
    assert_eq!(response.compression, CompressionId::GZIP);
    assert!(
        response.wire_len < response.body.len(),
        "{}",
        response.wire_len
    );
    server.shutdown().await;
}

/// An address that cannot be bound is named: the system's "Address already in use" alone did
/// not say which of a server's addresses it was.
#[tokio::test]
async fn an_address_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("tcp://{}", taken.local_addr().unwrap());
    let e = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve(["tcp://127.0.0.1:0", addr.as_str()])
        .await
        .expect_err("the port is taken");
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("cannot listen on {addr}: ")),
        "{e}"
    );
}
