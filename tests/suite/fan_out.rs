//! What a handler's calls inherit crosses task boundaries when carried (erpc::spawn,
//! erpc::in_current_call, Context::scope), and cancellation follows ownership: a fan-out in a
//! JoinSet is cancelled downstream with the call.

use crate::support;

use std::time::Duration;

use erpc::{Context, ServerConfig, Status};
use support::*;

#[erpc::service]
pub trait Front {
    /// The deadlines (ms left) three fanned-out calls to Echo saw, one per way of spawning.
    async fn fan_out(&self, cx: Context) -> Result<Vec<u64>, Status>;
    /// What a plain `tokio::spawn`ed call saw: where inheritance stops.
    async fn detached(&self) -> Result<u64, Status>;
    /// Three slow Echo calls in a JoinSet, awaited.
    async fn fan_sleep(&self) -> Result<(), Status>;
}

struct FrontImpl {
    echo: EchoClient,
}

fn joined<T>(r: Result<T, tokio::task::JoinError>) -> Result<T, Status> {
    r.map_err(|e| Status::internal(e.to_string()))
}

impl Front for FrontImpl {
    async fn fan_out(&self, cx: Context) -> Result<Vec<u64>, Status> {
        let mut set = tokio::task::JoinSet::new();
        let echo = self.echo.clone();
        set.spawn(erpc::in_current_call(
            async move { echo.remaining_ms().await },
        ));
        let echo = self.echo.clone();
        let spawned = erpc::spawn(async move { echo.remaining_ms().await });
        let echo = self.echo.clone();
        let scoped = tokio::spawn(cx.scope(async move { echo.remaining_ms().await }));
        let mut seen = vec![joined(spawned.await)??, joined(scoped.await)??];
        while let Some(r) = set.join_next().await {
            seen.push(joined(r)??);
        }
        Ok(seen)
    }

    async fn detached(&self) -> Result<u64, Status> {
        let echo = self.echo.clone();
        joined(tokio::spawn(async move { echo.remaining_ms().await }).await)?
    }

    async fn fan_sleep(&self) -> Result<(), Status> {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..3 {
            let echo = self.echo.clone();
            set.spawn(erpc::in_current_call(
                async move { echo.sleep(5_000).await },
            ));
        }
        while let Some(r) = set.join_next().await {
            joined(r)??;
        }
        Ok(())
    }
}

async fn front(echo_addr: &str) -> (erpc::ServerHandle, FrontClient) {
    let handle = erpc::Server::builder()
        .add_service(FrontServer::new(FrontImpl {
            echo: client(echo_addr),
        }))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = FrontClient::new(erpc::Client::new(handle.local_addr()).unwrap());
    (handle, client)
}

#[tokio::test]
async fn fanned_out_calls_inherit_the_remaining_deadline() {
    let echo = start("mem", ServerConfig::default()).await;
    let (front_server, front) = front(&echo.addr).await;
    let seen = front
        .fan_out()
        .timeout(Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(seen.len(), 3);
    for ms in seen {
        assert!(ms <= 1_000, "a fanned-out call saw {ms} ms left, not ≤ 1 s");
    }
    // Where inheritance stops, as documented: a plain spawn gets the client's default.
    let ms = front
        .detached()
        .timeout(Duration::from_secs(1))
        .await
        .unwrap();
    assert!(ms > 5_000, "a detached task saw {ms} ms: the default, 10 s");
    front_server.shutdown().await;
    echo.handle.shutdown().await;
}

#[tokio::test]
async fn a_fan_out_is_cancelled_downstream_with_its_call() {
    let echo = start("mem", ServerConfig::default()).await;
    let (front_server, front) = front(&echo.addr).await;
    let started = std::time::Instant::now();
    let result = front.fan_sleep().timeout(Duration::from_millis(300)).await;
    assert_eq!(result.unwrap_err().code(), erpc::Code::DeadlineExceeded);
    // The three downstream handlers were aborted, long before their 5 s sleeps.
    wait_for(&echo.probe.aborted, 3, Duration::from_secs(3)).await;
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(*echo.probe.finished.borrow(), 0);
    front_server.shutdown().await;
    echo.handle.shutdown().await;
}
