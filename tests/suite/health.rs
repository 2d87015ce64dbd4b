//! The built-in health service `erpc.Health` on a real server, called by a real client:
//! check and watch, per service and overall, fed by user code and by custom checks.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use erpc::server::health::check::HealthCheck;
use erpc::server::health::service::{HealthCheckRequest, HealthCheckResponse};
use erpc::server::{Health, ServingStatus};
use erpc::{Client, Code, ServerHandle, Streaming};
use futures_util::StreamExt;
use support::*;

use ServingStatus::*;

/// A server of Echo and Feed on tcp, with `build` applied to its builder.
async fn serve(
    build: impl FnOnce(erpc::ServerBuilder) -> erpc::ServerBuilder,
) -> (ServerHandle, Client) {
    let builder = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .add_service(feed::FeedServer::new(feed::FeedImpl::default()));
    let handle = build(builder).serve(["tcp://127.0.0.1:0"]).await.unwrap();
    let client = Client::new(handle.local_addr().clone()).unwrap();
    (handle, client)
}

async fn check(client: &Client, service: &str) -> Result<ServingStatus, erpc::Status> {
    let asked = HealthCheckRequest {
        service: service.into(),
    };
    let answer: HealthCheckResponse = client.call("erpc.Health", "check", asked).await?;
    Ok(answer.status)
}

async fn watch(client: &Client, service: &str) -> Streaming<HealthCheckResponse> {
    let asked = HealthCheckRequest {
        service: service.into(),
    };
    client
        .server_stream::<_, HealthCheckResponse>("erpc.Health", "watch", asked)
        .await
        .expect("the watch opens")
}

/// The next status on `watch`, within 5 s.
async fn next(watch: &mut Streaming<HealthCheckResponse>) -> ServingStatus {
    tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("a status within 5 s")
        .expect("the watch goes on")
        .expect("a status")
        .status
}

/// Wait until `service`'s status, as `check` answers it, is `want`.
async fn until_checked(client: &Client, service: &str, want: ServingStatus) {
    let by = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = check(client, service).await.unwrap();
        if now == want {
            return;
        }
        assert!(
            std::time::Instant::now() < by,
            "{service:?} stayed {now}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn check_answers_each_service_the_whole_server_and_unknown_names() {
    let (server, client) = serve(|b| b).await;
    assert_eq!(check(&client, "").await.unwrap(), Serving);
    assert_eq!(check(&client, "Echo").await.unwrap(), Serving);
    assert_eq!(check(&client, "Feed").await.unwrap(), Serving);
    assert_eq!(check(&client, "Nope").await.unwrap(), ServiceUnknown);
    assert_eq!(check(&client, "erpc.Health").await.unwrap(), Serving);
    // `watch` is a stream: called as unary it is refused, naming why.
    let asked = HealthCheckRequest::default();
    let wrong = client
        .call::<_, HealthCheckResponse>("erpc.Health", "watch", asked)
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unimplemented);
    assert!(wrong.message().contains("streaming"), "{wrong}");
    server.health().set("Echo", NotServing);
    assert_eq!(check(&client, "Echo").await.unwrap(), NotServing);
    assert_eq!(check(&client, "Feed").await.unwrap(), Serving);
    assert_eq!(
        check(&client, "").await.unwrap(),
        NotServing,
        "the whole server follows its worst service"
    );
    server.health().set("Echo", Serving);
    assert_eq!(check(&client, "").await.unwrap(), Serving);
    server.shutdown().await;
}

#[tokio::test]
async fn watch_sends_the_status_now_and_each_change_until_shutdown() {
    let (server, client) = serve(|b| b).await;
    let health: Health = server.health();
    let mut echo = watch(&client, "Echo").await;
    let mut overall = watch(&client, "").await;
    let mut unknown = watch(&client, "Later").await;
    assert_eq!(next(&mut echo).await, Serving);
    assert_eq!(next(&mut overall).await, Serving);
    assert_eq!(next(&mut unknown).await, ServiceUnknown);
    health.set("Echo", NotServing);
    assert_eq!(next(&mut echo).await, NotServing);
    assert_eq!(next(&mut overall).await, NotServing);
    health.set("Echo", Serving);
    assert_eq!(next(&mut echo).await, Serving);
    assert_eq!(next(&mut overall).await, Serving);
    // A name set by user code becomes known (and counts towards the whole server).
    health.set("Later", Serving);
    assert_eq!(next(&mut unknown).await, Serving);
    // Shutting down: NOT_SERVING, then the stream ends `unavailable`, not after the grace.
    let started = std::time::Instant::now();
    let shutdown = tokio::spawn(server.shutdown());
    assert_eq!(next(&mut echo).await, NotServing);
    let end = tokio::time::timeout(Duration::from_secs(5), echo.next())
        .await
        .unwrap();
    assert!(
        matches!(&end, Some(Err(s)) if s.code() == Code::Unavailable),
        "{end:?}"
    );
    shutdown.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_failing_check_makes_what_it_covers_not_serving_until_it_passes() {
    let db_up = Arc::new(AtomicBool::new(true));
    let up = db_up.clone();
    let check_db = HealthCheck::new("database", move || {
        let up = up.load(Ordering::Relaxed);
        async move {
            if up {
                Ok(())
            } else {
                Err("connection refused".into())
            }
        }
    })
    .interval(Duration::from_millis(20))
    .covers(["Echo"]);
    let (server, client) = serve(|b| b.health_check_with(check_db)).await;
    let mut echo = watch(&client, "Echo").await;
    assert_eq!(next(&mut echo).await, Serving);
    db_up.store(false, Ordering::Relaxed);
    assert_eq!(next(&mut echo).await, NotServing);
    assert_eq!(
        check(&client, "Feed").await.unwrap(),
        Serving,
        "not covered"
    );
    assert_eq!(check(&client, "").await.unwrap(), NotServing);
    // User code cannot override a failing check.
    server.health().set("Echo", Serving);
    assert_eq!(check(&client, "Echo").await.unwrap(), NotServing);
    db_up.store(true, Ordering::Relaxed);
    assert_eq!(next(&mut echo).await, Serving);
    assert_eq!(check(&client, "").await.unwrap(), Serving);
    server.shutdown().await;
}

#[tokio::test]
async fn a_check_that_overruns_its_timeout_or_panics_is_failing() {
    let slow = Arc::new(AtomicBool::new(false));
    let s = slow.clone();
    let hangs = HealthCheck::new("disk", move || {
        let slow = s.load(Ordering::Relaxed);
        async move {
            if slow {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            Ok(())
        }
    })
    .interval(Duration::from_millis(20))
    .timeout(Duration::from_millis(50));
    let (server, client) = serve(|b| b.health_check_with(hangs)).await;
    until_checked(&client, "", Serving).await;
    slow.store(true, Ordering::Relaxed);
    // Covers every service by default.
    until_checked(&client, "Feed", NotServing).await;
    slow.store(false, Ordering::Relaxed);
    until_checked(&client, "Feed", Serving).await;
    server.shutdown().await;

    let (server, client) =
        serve(|b| b.health_check("panics", || async { panic!("the check's own bug") })).await;
    until_checked(&client, "", NotServing).await;
    assert_eq!(check(&client, "Echo").await.unwrap(), NotServing);
    server.shutdown().await;
}

#[tokio::test]
async fn the_health_service_can_be_turned_off() {
    let (server, client) = serve(|b| b.health(false)).await;
    let refused = check(&client, "").await.unwrap_err();
    assert_eq!(refused.code(), Code::Unimplemented);
    assert!(refused.message().contains("erpc.Health"), "{refused}");
    // Health is still kept.
    assert_eq!(server.health().status("Echo"), Serving);
    server.shutdown().await;
}

/// PROTOCOL.md §15's bodies, byte for byte: a client in another language sends and reads
/// exactly these.
#[test]
fn the_wire_shapes_are_protocol_md_s() {
    use erpc::codec::builtin::MsgPack;
    let mut request = bytes::BytesMut::new();
    MsgPack::encode(
        &HealthCheckRequest {
            service: "Echo".into(),
        },
        &mut request,
    )
    .unwrap();
    // {"service": "Echo"}
    assert_eq!(hex(&request), "81 a7 73 65 72 76 69 63 65 a4 45 63 68 6f");
    let mut response = bytes::BytesMut::new();
    MsgPack::encode(&HealthCheckResponse { status: NotServing }, &mut response).unwrap();
    // {"status": "NOT_SERVING"}
    assert_eq!(
        hex(&response),
        "81 a6 73 74 61 74 75 73 ab 4e 4f 54 5f 53 45 52 56 49 4e 47"
    );
    // The service may be left out: the whole server.
    // A status this build does not know reads as UNKNOWN: values may be added.
    let newer: HealthCheckResponse = serde_json::from_str(r#"{"status":"DRAINING"}"#).unwrap();
    assert_eq!(newer.status, Unknown);
    let empty: HealthCheckRequest = MsgPack::decode(&[0x80]).unwrap();
    assert_eq!(empty.service, "");
    for (status, text) in [
        (Unknown, "UNKNOWN"),
        (Serving, "SERVING"),
        (NotServing, "NOT_SERVING"),
        (ServiceUnknown, "SERVICE_UNKNOWN"),
    ] {
        assert_eq!(serde_json::to_string(&status).unwrap(), format!("{text:?}"));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
