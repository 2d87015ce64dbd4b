//! `erpc.Reflection` over a real TCP server: typed services describe every call kind, their
//! idempotency, types and (feature `schema`) JSON Schemas; hand-written services report
//! their method names; the service answers in the codec it was asked in, names the services
//! there are when asked for one that is not, and is gone when turned off.

use erpc::reflection::{
    DESCRIBE, DescribeRequest, DescribeResponse, LIST, ListResponse, MethodKind, SERVICE,
    ServiceInfo,
};
use erpc::{Code, CodecId, ServerStream, Status, Streaming};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, erpc::schemars::JsonSchema)]
#[schemars(crate = "erpc::schemars")]
pub struct Order {
    item: String,
    qty: u32,
}

/// No `JsonSchema`: reflection names it and reports no schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Opaque(u8);

#[erpc::service]
pub trait Shop {
    #[idempotent]
    async fn price(&self, order: Order) -> Result<u64, Status>;
    async fn note(&self, text: String, times: u32) -> Result<Opaque, Status>;
    #[oneway]
    async fn ping(&self, n: u32);
    async fn count(&self, n: u64) -> Result<ServerStream<u64>, Status>;
    async fn sum(&self, numbers: Streaming<u64>) -> Result<u64, Status>;
    async fn echo(&self, orders: Streaming<Order>) -> Result<ServerStream<Order>, Status>;
}

struct ShopImpl;

impl Shop for ShopImpl {
    async fn price(&self, order: Order) -> Result<u64, Status> {
        Ok(u64::from(order.qty) * 3)
    }
    async fn note(&self, _text: String, times: u32) -> Result<Opaque, Status> {
        Ok(Opaque(times as u8))
    }
    async fn ping(&self, _n: u32) {}
    async fn count(&self, n: u64) -> Result<ServerStream<u64>, Status> {
        Ok(ServerStream::new(futures_util::stream::iter(
            (0..n).map(Ok),
        )))
    }
    async fn sum(&self, numbers: Streaming<u64>) -> Result<u64, Status> {
        let all: Vec<Result<u64, Status>> = numbers.collect().await;
        all.into_iter().sum()
    }
    async fn echo(&self, orders: Streaming<Order>) -> Result<ServerStream<Order>, Status> {
        Ok(ServerStream::new(orders))
    }
}

/// A hand-written service that does not describe itself.
struct Untyped;

impl erpc::Service for Untyped {
    fn name(&self) -> &str {
        "raw.Blob"
    }
    fn methods(&self) -> &[&'static str] {
        &["put", "get"]
    }
    fn call(&self, request: erpc::Request) -> BoxFuture<'_, Result<erpc::Response, Status>> {
        let status = erpc::server::unknown_method("raw.Blob", request.method());
        Box::pin(async move { Err(status) })
    }
}

async fn serve(builder: erpc::ServerBuilder) -> (erpc::ServerHandle, erpc::Client) {
    let server = builder
        .add_service(ShopServer::new(ShopImpl))
        .add_service(Untyped)
        .serve(["tcp://127.0.0.1:0"])
        .await
        .expect("serves");
    let client = erpc::Client::connect(server.local_addr().to_string())
        .await
        .expect("connects");
    (server, client)
}

async fn describe(
    client: &erpc::Client,
    service: &str,
    codec: CodecId,
) -> Result<Vec<ServiceInfo>, Status> {
    let asked = DescribeRequest {
        service: service.to_owned(),
    };
    let answer: DescribeResponse = client.call(SERVICE, DESCRIBE, asked).codec(codec).await?;
    Ok(answer.services)
}

#[tokio::test]
async fn a_typed_service_describes_every_call_kind_idempotency_and_types() {
    let (server, client) = serve(erpc::Server::builder()).await;
    for codec in [CodecId::MSGPACK, CodecId::JSON] {
        let services = describe(&client, "Shop", codec).await.expect("described");
        assert_eq!(services.len(), 1);
        let shop = &services[0];
        assert!(shop.described);
        let method = |name: &str| {
            shop.methods
                .iter()
                .find(|m| m.name == name)
                .unwrap_or_else(|| panic!("{name} listed"))
        };
        let expect = [
            ("price", MethodKind::Unary, true, "Order", "u64"),
            ("note", MethodKind::Unary, false, "(String, u32)", "Opaque"),
            ("ping", MethodKind::Oneway, false, "u32", "()"),
            ("count", MethodKind::ServerStream, false, "u64", "u64"),
            ("sum", MethodKind::ClientStream, false, "u64", "u64"),
            ("echo", MethodKind::BidiStream, false, "Order", "Order"),
        ];
        let names: Vec<&str> = shop.methods.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, expect.map(|e| e.0), "declaration order");
        for (name, kind, idempotent, argument, result) in expect {
            let m = method(name);
            assert_eq!(m.kind, Some(kind), "{name}");
            assert_eq!(m.idempotent, Some(idempotent), "{name}");
            assert_eq!(
                m.argument.as_ref().map(|t| t.name.as_str()),
                Some(argument),
                "{name}"
            );
            assert_eq!(
                m.result.as_ref().map(|t| t.name.as_str()),
                Some(result),
                "{name}"
            );
        }
        // Schemas: where the type derives JsonSchema (Order, u64, String), not where it
        // does not (Opaque).
        let schema = |t: &Option<erpc::reflection::TypeInfo>| -> Option<serde_json::Value> {
            let text = t.as_ref()?.schema.as_ref()?;
            Some(serde_json::from_str(text).expect("a schema is JSON"))
        };
        let order = schema(&method("price").argument).expect("Order has a schema");
        assert_eq!(order["title"], "Order");
        assert_eq!(order["properties"]["qty"]["type"], "integer");
        assert_eq!(order["required"], serde_json::json!(["item", "qty"]));
        assert!(
            schema(&method("price").result).is_some(),
            "u64 has a schema"
        );
        assert!(schema(&method("note").result).is_none(), "Opaque has none");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn every_service_is_listed_built_in_and_hand_written_ones_too() {
    let (server, client) = serve(erpc::Server::builder()).await;
    let listed: ListResponse = client
        .call(SERVICE, LIST, serde_json::json!({}))
        .codec(CodecId::JSON)
        .await
        .expect("listed");
    assert!(listed.services.contains(&"Shop".to_owned()));
    assert!(listed.services.contains(&"raw.Blob".to_owned()));
    assert!(listed.services.contains(&SERVICE.to_owned()));
    let mut sorted = listed.services.clone();
    sorted.sort();
    assert_eq!(listed.services, sorted, "sorted");

    // A hand-written service: its method names, nothing it did not say.
    let blob = describe(&client, "raw.Blob", CodecId::MSGPACK)
        .await
        .expect("described");
    assert!(!blob[0].described);
    let names: Vec<&str> = blob[0].methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["put", "get"]);
    assert!(
        blob[0]
            .methods
            .iter()
            .all(|m| m.kind.is_none() && m.argument.is_none())
    );

    // Reflection describes itself; "" describes everything.
    let all = describe(&client, "", CodecId::JSON).await.expect("all");
    assert_eq!(all.len(), listed.services.len());
    let itself = all.iter().find(|s| s.name == SERVICE).expect("itself");
    assert!(itself.described);
    // So does the built-in health service: a tool (the gateway, `erpc call`) learns from it
    // that `watch` is a server stream.
    let health = all
        .iter()
        .find(|s| s.name == "erpc.Health")
        .expect("health");
    assert!(health.described, "{health:?}");
    let kinds: Vec<_> = health
        .methods
        .iter()
        .map(|m| (m.name.as_str(), m.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("check", Some(MethodKind::Unary)),
            ("watch", Some(MethodKind::ServerStream))
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_unknown_service_is_not_found_naming_those_there_are() {
    let (server, client) = serve(erpc::Server::builder()).await;
    let err = describe(&client, "Shp", CodecId::JSON)
        .await
        .expect_err("no such service");
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("\"Shp\""), "{err}");
    assert!(
        err.message().contains("Shop") && err.message().contains("raw.Blob"),
        "{err}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn reflection_can_be_turned_off() {
    let (server, client) = serve(erpc::Server::builder().reflection(false)).await;
    let err = describe(&client, "", CodecId::MSGPACK)
        .await
        .expect_err("not served");
    assert_eq!(err.code(), Code::Unimplemented, "{err}");
    server.shutdown().await;
}

#[tokio::test]
async fn the_generated_service_still_answers_every_call_kind() {
    // The descriptor is beside dispatch, not in its way: a smoke call of each shape.
    let (server, client) = serve(erpc::Server::builder()).await;
    let shop = ShopClient::new(client);
    assert_eq!(
        shop.price(Order {
            item: "a".into(),
            qty: 2
        })
        .await
        .expect("price"),
        6
    );
    let counted: Vec<u64> = shop
        .count(3)
        .await
        .expect("open")
        .map(|n| n.expect("n"))
        .collect()
        .await;
    assert_eq!(counted, [0, 1, 2]);
    assert_eq!(
        shop.sum(futures_util::stream::iter([1u64, 2, 3]))
            .await
            .expect("sum"),
        6
    );
    server.shutdown().await;
}
