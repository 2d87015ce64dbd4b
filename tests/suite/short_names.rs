//! `#[erpc::service]` on a trait and types with short names (`T`, `S`, `F`, `A`): the code the
//! macro generates must not clash with them (its generic parameters are `__Erpc…`).

use std::sync::atomic::{AtomicU64, Ordering};

/// A request type with the name a mock's handler generic could have.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct F(pub u32);

/// A response type with the name a client's address generic could have.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct A(pub u32);

#[erpc::service]
pub trait T {
    async fn double(&self, f: F) -> Result<A, erpc::Status>;
}

#[erpc::service]
pub trait S {
    async fn add(&self, a: A, f: F) -> Result<u32, erpc::Status>;
}

struct Both;

impl T for Both {
    async fn double(&self, f: F) -> Result<A, erpc::Status> {
        Ok(A(f.0 * 2))
    }
}

impl S for Both {
    async fn add(&self, a: A, f: F) -> Result<u32, erpc::Status> {
        Ok(a.0 + f.0)
    }
}

fn mem_addr() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "mem://short-names-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[tokio::test]
async fn services_named_t_and_s_compile_and_serve() {
    let server = erpc::Server::builder()
        .add_service(TServer::new(Both))
        .add_service(SServer::new(Both))
        .serve([mem_addr()])
        .await
        .unwrap();
    let t = TClient::new(erpc::Client::new(server.local_addr()).unwrap());
    assert_eq!(t.double(F(21)).await.unwrap(), A(42));
    let s = SClient::new(erpc::Client::new(server.local_addr()).unwrap());
    assert_eq!(s.add(A(40), F(2)).await.unwrap(), 42);
    server.shutdown().await;
}

#[tokio::test]
async fn the_mock_of_a_service_with_short_type_names_serves() {
    let mock = MockT::new().double(|f| Ok(A(f.0 + 1)));
    let (client, _server) = erpc::testing::pair::<TClient>(mock.clone()).await;
    assert_eq!(client.double(F(1)).await.unwrap(), A(2));
}
