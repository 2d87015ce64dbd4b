//! Middleware on both sides: an auth check in a few lines, client metadata injection,
//! extensions handed to handlers, ordering.

use crate::support;

use std::sync::{Arc, Mutex};

use erpc::{
    ClientMiddleware, ClientNext, ClientRequest, ClientResponse, Code, Context, Middleware, Next,
    Request, Response, Status,
};
use support::*;

/// Refuses calls without the right token, before the body is decoded.
struct RequireToken(&'static str);

#[async_trait::async_trait]
impl Middleware for RequireToken {
    async fn call(&self, mut request: Request, next: Next<'_>) -> Result<Response, Status> {
        match request.context().metadata().get_str("authorization") {
            Some(token) if token == self.0 => {
                request.context_mut().extensions_mut().insert(User("ada"));
                next.run(request).await
            }
            _ => Err(Status::unauthenticated("missing or wrong token")),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct User(&'static str);

/// Records the order middleware ran in.
struct Trace(&'static str, Arc<Mutex<Vec<&'static str>>>);

#[async_trait::async_trait]
impl Middleware for Trace {
    async fn call(&self, request: Request, next: Next<'_>) -> Result<Response, Status> {
        self.1.lock().unwrap().push(self.0);
        next.run(request).await
    }
}

struct AddToken(&'static str);

#[async_trait::async_trait]
impl ClientMiddleware for AddToken {
    async fn call(
        &self,
        mut request: ClientRequest,
        next: ClientNext<'_>,
    ) -> Result<ClientResponse, Status> {
        request.metadata.set("authorization", self.0);
        next.run(request).await
    }
}

#[erpc::service]
trait Whoami {
    async fn whoami(&self, cx: Context) -> Result<String, Status>;
}

struct WhoamiImpl;

impl Whoami for WhoamiImpl {
    async fn whoami(&self, cx: Context) -> Result<String, Status> {
        Ok(cx
            .extensions()
            .get::<User>()
            .map_or("nobody", |u| u.0)
            .to_owned())
    }
}

#[tokio::test]
async fn server_and_client_middleware_compose() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let server = erpc::Server::builder()
        .middleware(Trace("outer", order.clone()))
        .middleware(RequireToken("s3cret"))
        .middleware(Trace("inner", order.clone()))
        .add_service(WhoamiServer::new(WhoamiImpl))
        .add_service(EchoServer::new(EchoImpl::default()));
    let authed = erpc::Client::builder().middleware(AddToken("s3cret"));
    let (authed, server) = erpc::testing::pair_with::<erpc::Client>(server, authed).await;

    let anonymous: WhoamiClient = server.client().await;
    let err = anonymous.whoami().await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(*order.lock().unwrap(), ["outer"]);

    assert_eq!(
        WhoamiClient::new(authed.clone()).whoami().await.unwrap(),
        "ada"
    );
    assert_eq!(*order.lock().unwrap(), ["outer", "outer", "inner"]);
    // Several services on one server share the chain.
    assert_eq!(EchoClient::new(authed).len("abc".into()).await.unwrap(), 3);

    // A per-call token works too.
    let ok = anonymous.whoami().metadata("authorization", "s3cret").await;
    assert_eq!(ok.unwrap(), "ada");
}
