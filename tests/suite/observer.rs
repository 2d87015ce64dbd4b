//! Engine events: an observer counting connection closes by reason, with each reason caused
//! for real, and calls and refusals seen as they happen.

use crate::support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use erpc::observe::{
    CallEvent, CloseReason, Direction, Finished, Observer, Refusal, Side, WriteBatch,
};
use erpc::{Code, CodecId, PeerAddr, ServerConfig, Status};
use support::*;

#[derive(Default)]
struct Counts {
    closed: Mutex<HashMap<&'static str, u64>>,
    refused: Mutex<Vec<Refusal>>,
    finished: Mutex<Vec<(String, Code)>>,
    started: Mutex<u64>,
}

#[derive(Clone, Default)]
struct Counting(Arc<Counts>);

impl Observer for Counting {
    fn connection_closed(&self, side: Side, _peer: &PeerAddr, reason: &CloseReason) {
        assert_eq!(side, Side::Server);
        let name = match reason {
            CloseReason::Heartbeat => "heartbeat",
            CloseReason::GoAway => "goaway",
            CloseReason::Protocol(_) => "protocol",
            CloseReason::PeerClosed => "peer closed",
            _ => "other",
        };
        *self.0.closed.lock().unwrap().entry(name).or_default() += 1;
    }
    fn frame_refused(&self, _side: Side, _peer: &PeerAddr, refusal: Refusal) {
        self.0.refused.lock().unwrap().push(refusal);
    }
    fn call_started(&self, _side: Side, _call: &CallEvent<'_>) {
        *self.0.started.lock().unwrap() += 1;
    }
    fn call_finished(&self, _side: Side, call: &CallEvent<'_>, finished: &Finished) {
        let name = format!("{}.{}", call.service, call.method);
        self.0.finished.lock().unwrap().push((name, finished.code));
    }
}

impl Counting {
    fn closed(&self, reason: &str) -> u64 {
        self.0
            .closed
            .lock()
            .unwrap()
            .get(reason)
            .copied()
            .unwrap_or(0)
    }

    async fn wait_closed(&self, reason: &str, n: u64) {
        eventually(
            || self.closed(reason) >= n,
            || format!("no {reason} close: {:?}", self.0.closed.lock().unwrap()),
        )
        .await;
    }
}

#[tokio::test]
async fn closes_are_counted_by_reason_heartbeat_goaway_and_protocol_error() {
    let observer = Counting::default();
    let server = erpc::Server::builder()
        .config(ServerConfig {
            heartbeat: erpc::HeartbeatConfig {
                interval: Duration::from_millis(100),
                misses: 2,
            },
            ..ServerConfig::default()
        })
        .observer(observer.clone())
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    let addr = server.local_addr().to_string();

    // A peer that says one thing and then nothing, not even to PINGs: heartbeat.
    let mut silent = RawPeer::connect(&addr).await;
    silent
        .send(&request(1, "len", CodecId::MSGPACK, &[0xa1, b'x']))
        .await;
    observer.wait_closed("heartbeat", 1).await;

    // Bytes that are not erpc: a protocol error.
    let mut garbage = RawPeer::connect(&addr).await;
    garbage.send_bytes(&[0u8; 64]).await;
    observer.wait_closed("protocol", 1).await;

    // A client connected when the server shuts down: GOAWAY, drained.
    let client = client(&addr);
    assert_eq!(client.len("abc".into()).await.unwrap(), 3);
    server.shutdown().await;
    observer.wait_closed("goaway", 1).await;
    drop((silent, garbage));

    // The calls: the raw one and the client's, both reported with their status.
    let finished = observer.0.finished.lock().unwrap().clone();
    assert_eq!(
        finished,
        vec![
            ("Echo.len".to_string(), Code::Ok),
            ("Echo.len".to_string(), Code::Ok)
        ]
    );
    assert_eq!(*observer.0.started.lock().unwrap(), 2);
}

#[tokio::test]
async fn refusals_and_aborted_calls_are_reported() {
    let observer = Counting::default();
    let server = erpc::Server::builder()
        .observer(observer.clone())
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = client(&server.local_addr().to_string());
    // Unknown service: refused, nothing started.
    let unknown: Result<u64, _> = client.client().call("Nope", "x", 1u8).await;
    assert_eq!(unknown.unwrap_err().code(), Code::Unimplemented);
    // A call that outlives its deadline: aborted, reported as deadline_exceeded.
    let late = client
        .sleep(2_000)
        .timeout(Duration::from_millis(100))
        .await;
    assert_eq!(late.unwrap_err().code(), Code::DeadlineExceeded);
    // The server's own sweeper aborts the handler at its deadline; wait for its report.
    eventually(
        || !observer.0.finished.lock().unwrap().is_empty(),
        || "the aborted call was never reported".into(),
    )
    .await;
    assert_eq!(*observer.0.refused.lock().unwrap(), vec![Refusal::Unknown]);
    assert_eq!(
        *observer.0.finished.lock().unwrap(),
        vec![("Echo.sleep".to_string(), Code::DeadlineExceeded)]
    );
    server.shutdown().await;
}

/// What a client's observer saw, as lines.
#[derive(Clone, Default)]
struct ClientLog(Arc<Mutex<Vec<String>>>);

impl Observer for ClientLog {
    fn connection_opened(&self, side: Side, _peer: &PeerAddr) {
        self.0.lock().unwrap().push(format!("{side:?} opened"));
    }
    fn connection_closed(&self, side: Side, _peer: &PeerAddr, reason: &CloseReason) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{side:?} closed {reason:?}"));
    }
    fn call_started(&self, side: Side, call: &CallEvent<'_>) {
        let line = format!("{side:?} started {}.{}", call.service, call.method);
        self.0.lock().unwrap().push(line);
    }
    fn call_finished(&self, side: Side, call: &CallEvent<'_>, finished: &Finished) {
        let line = format!(
            "{side:?} finished {}.{} {:?}",
            call.service, call.method, finished.code
        );
        self.0.lock().unwrap().push(line);
        assert!(finished.bytes_out > 0, "the request body is counted");
    }
}

#[tokio::test]
async fn a_clients_observer_sees_its_connections_and_calls() {
    let server = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve(["tcp://127.0.0.1:0"])
        .await
        .unwrap();
    let log = ClientLog::default();
    let client = EchoClient::new(
        erpc::Client::builder()
            .observer(log.clone())
            .build(server.local_addr())
            .unwrap(),
    );
    assert_eq!(client.len("abc".into()).await.unwrap(), 3);
    let failed = client.fail(5, "gone".into()).await.unwrap_err();
    assert_eq!(failed.code(), Code::NotFound);
    server.shutdown().await;
    eventually(
        || log.0.lock().unwrap().len() >= 6,
        || format!("{:?}", log.0.lock().unwrap()),
    )
    .await;
    assert_eq!(
        *log.0.lock().unwrap(),
        [
            "Client opened",
            "Client started Echo.len",
            "Client finished Echo.len Ok",
            "Client started Echo.fail",
            "Client finished Echo.fail NotFound",
            "Client closed GoAway",
        ]
    );
}

#[erpc::service]
pub trait Relay {
    /// Each number back, doubled.
    async fn double(
        &self,
        numbers: erpc::Streaming<u32>,
    ) -> Result<erpc::ServerStream<u32>, Status>;
}

struct Doubler;

impl Relay for Doubler {
    async fn double(
        &self,
        numbers: erpc::Streaming<u32>,
    ) -> Result<erpc::ServerStream<u32>, Status> {
        use futures_util::StreamExt;
        Ok(erpc::ServerStream::new(numbers.map(|n| n.map(|n| n * 2))))
    }
}

/// Stream messages by side and direction, and write batches by side.
#[derive(Clone, Default)]
struct StreamCounts(Arc<Mutex<HashMap<String, usize>>>);

impl Observer for StreamCounts {
    fn stream_message(&self, side: Side, call: &CallEvent<'_>, direction: Direction, bytes: usize) {
        assert!(call.stream && call.method == "double" && bytes > 0);
        *self
            .0
            .lock()
            .unwrap()
            .entry(format!("{side:?} {direction:?}"))
            .or_default() += 1;
    }
    fn write_batch(&self, side: Side, _peer: &PeerAddr, batch: &WriteBatch) {
        assert!(batch.frames >= 1 && batch.bytes >= 24 * batch.frames);
        *self
            .0
            .lock()
            .unwrap()
            .entry(format!("{side:?} batch"))
            .or_default() += 1;
    }
}

#[tokio::test]
async fn stream_messages_and_write_batches_are_reported_on_both_sides() {
    use futures_util::StreamExt;
    let server_counts = StreamCounts::default();
    let server = erpc::Server::builder()
        .observer(server_counts.clone())
        .add_service(RelayServer::new(Doubler))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client_counts = StreamCounts::default();
    let client = RelayClient::new(
        erpc::Client::builder()
            .observer(client_counts.clone())
            .build(server.local_addr())
            .unwrap(),
    );
    let mut doubled = client
        .double(futures_util::stream::iter(1..=5u32))
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(n) = doubled.next().await {
        got.push(n.unwrap());
    }
    assert_eq!(got, [2, 4, 6, 8, 10]);
    server.shutdown().await;
    let count = |counts: &StreamCounts, key: &str| counts.0.lock().unwrap().get(key).copied();
    assert_eq!(count(&client_counts, "Client Sent"), Some(5));
    assert_eq!(count(&client_counts, "Client Received"), Some(5));
    assert_eq!(count(&server_counts, "Server Received"), Some(5));
    assert_eq!(count(&server_counts, "Server Sent"), Some(5));
    assert!(count(&client_counts, "Client batch").is_some_and(|n| n >= 1));
    assert!(count(&server_counts, "Server batch").is_some_and(|n| n >= 1));
}

#[tokio::test]
async fn a_call_stopped_by_shutdown_is_reported_as_its_client_is_answered() {
    let observer = Counting::default();
    let server = erpc::Server::builder()
        .config(ServerConfig {
            shutdown_grace: Duration::from_millis(100),
            ..ServerConfig::default()
        })
        .observer(observer.clone())
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = client(&server.local_addr().to_string());
    let slow = tokio::spawn(async move { client.sleep(5_000).await });
    eventually(
        || *observer.0.started.lock().unwrap() > 0,
        || "the slow call never started".into(),
    )
    .await;
    server.shutdown().await;
    let answered = slow.await.unwrap().unwrap_err();
    assert_eq!(answered.code(), Code::Unavailable, "{answered}");
    assert_eq!(
        *observer.0.finished.lock().unwrap(),
        vec![("Echo.sleep".to_string(), Code::Unavailable)]
    );
}

/// Hands out a method observer per (side, service, method) and logs what reaches each,
/// besides what reaches it by name; `observes_write_batches` is false.
#[derive(Clone, Default)]
struct PerMethod(Arc<Mutex<Vec<String>>>);

struct OneMethod {
    log: Arc<Mutex<Vec<String>>>,
    side: Side,
    name: String,
}

impl erpc::observe::MethodObserver for OneMethod {
    fn call_started(&self, call: &CallEvent<'_>) {
        assert_eq!(self.name, format!("{}.{}", call.service, call.method));
        let line = format!("{:?} {} started", self.side, self.name);
        self.log.lock().unwrap().push(line);
    }
    fn call_finished(&self, call: &CallEvent<'_>, finished: &Finished) {
        assert_eq!(self.name, format!("{}.{}", call.service, call.method));
        let line = format!("{:?} {} {:?}", self.side, self.name, finished.code);
        self.log.lock().unwrap().push(line);
    }
}

impl Observer for PerMethod {
    fn method_observer(
        &self,
        side: Side,
        service: &str,
        method: &str,
    ) -> Option<Arc<dyn erpc::observe::MethodObserver>> {
        let name = format!("{service}.{method}");
        self.0
            .lock()
            .unwrap()
            .push(format!("{side:?} {name} asked"));
        Some(Arc::new(OneMethod {
            log: self.0.clone(),
            side,
            name,
        }))
    }
    fn call_started(&self, side: Side, call: &CallEvent<'_>) {
        let line = format!("{side:?} {}.{} started by name", call.service, call.method);
        self.0.lock().unwrap().push(line);
    }
    fn call_finished(&self, side: Side, call: &CallEvent<'_>, _: &Finished) {
        let line = format!("{side:?} {}.{} finished by name", call.service, call.method);
        self.0.lock().unwrap().push(line);
    }
    fn write_batch(&self, _: Side, _: &PeerAddr, _: &WriteBatch) {
        panic!("write batches were declined");
    }
    fn observes_write_batches(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn an_observers_method_observers_get_each_methods_calls_asked_once_per_method() {
    let observer = PerMethod::default();
    let server = erpc::Server::builder()
        .observer(observer.clone())
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve([mem_addr()])
        .await
        .unwrap();
    let client = EchoClient::new(
        erpc::Client::builder()
            .observer(observer.clone())
            .build(server.local_addr())
            .unwrap(),
    );
    for _ in 0..2 {
        assert_eq!(client.len("abc".into()).await.unwrap(), 3);
    }
    let failed = client.fail(5, "gone".into()).await.unwrap_err();
    assert_eq!(failed.code(), Code::NotFound);
    // A name the service lacks: its own method observer, `_unknown`, on the server.
    let unknown: Result<u64, _> = client.client().call("Echo", "nope", 1u8).await;
    assert_eq!(unknown.unwrap_err().code(), Code::Unimplemented);
    // A call that never reaches a connection: started and finished at once, through the
    // method observer asked for it.
    let nowhere = EchoClient::new(
        erpc::Client::builder()
            .observer(observer.clone())
            .timeout(Duration::from_millis(300))
            .build("mem://nobody-listens-here")
            .unwrap(),
    );
    assert!(nowhere.len("x".into()).await.is_err());
    server.shutdown().await;
    let log = observer.0.lock().unwrap().clone();
    let lines = |side: &str| -> Vec<&str> {
        log.iter()
            .map(String::as_str)
            .filter(|l| l.starts_with(side))
            .collect()
    };
    assert_eq!(
        lines("Server"),
        [
            "Server Echo.len asked",
            "Server Echo.len started",
            "Server Echo.len Ok",
            "Server Echo.len started",
            "Server Echo.len Ok",
            "Server Echo.fail asked",
            "Server Echo.fail started",
            "Server Echo.fail NotFound",
            "Server Echo._unknown asked",
            "Server Echo._unknown started",
            "Server Echo._unknown Unimplemented",
        ]
    );
    let client_lines = lines("Client");
    assert_eq!(
        client_lines[..9],
        [
            "Client Echo.len asked",
            "Client Echo.len started",
            "Client Echo.len Ok",
            "Client Echo.len started",
            "Client Echo.len Ok",
            "Client Echo.fail asked",
            "Client Echo.fail started",
            "Client Echo.fail NotFound",
            "Client Echo.nope asked",
        ]
    );
    assert_eq!(
        client_lines[client_lines.len() - 3..][0],
        "Client Echo.len asked"
    );
    assert!(
        client_lines[client_lines.len() - 2].starts_with("Client Echo.len started"),
        "{client_lines:?}"
    );
    assert!(
        !log.iter().any(|l| l.contains("by name")),
        "a call came by name: {log:?}"
    );
}
