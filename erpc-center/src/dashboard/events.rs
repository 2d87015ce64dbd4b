//! `/api/events` and `/api/config/events`: the center's watches as server-sent events.
//!
//! A stream opens with a `snapshot` event (the same JSON as `/api/services` or
//! `/api/config`), then sends each change after it; every event's `id` is its revision. A
//! client that reconnects with `Last-Event-ID: R` (what `EventSource` does) gets the changes
//! after revision R instead, when the center still keeps them; when it does not (too old,
//! or from another history: `?epoch=E` makes the center check), the stream opens with a
//! fresh snapshot. A watch that fails (the watcher fell behind, the store broke) sends an
//! `interrupted` event and ends: reconnect with the last id. Shapes: CENTER.md, "Dashboard".

use std::collections::HashSet;
use std::convert::Infallible;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use erpc_core::{Code, ServerStream, Status};
use futures_util::{StreamExt, stream};
use serde::Serialize;
use serde_json::json;

use super::views::{self, InstanceView};
use super::{ApiRequest, Failure, Shared};
use crate::backend::{Backend, Scope};
use crate::model::{Change, Event};

/// The `Last-Event-ID` request header (`EventSource` sends it when it reconnects).
const LAST_EVENT_ID: &str = "last-event-id";

/// Which watch a stream follows.
enum Feed {
    /// Instance changes of every service.
    Instances,
    /// Config changes under a prefix.
    Config(String),
}

impl Feed {
    fn scope(&self) -> Scope {
        match self {
            Feed::Instances => Scope::Service(String::new()),
            Feed::Config(prefix) => Scope::Config(prefix.clone()),
        }
    }

    /// The snapshot event, with its revision and epoch, and the instances it holds.
    async fn snapshot(
        &self,
        backend: &dyn Backend,
    ) -> Result<(SseEvent, u64, u64, HashSet<(String, String)>), Status> {
        match self {
            Feed::Instances => {
                let s = views::snapshot(backend).await?;
                let known = s
                    .services
                    .iter()
                    .flat_map(|service| service.keys())
                    .collect();
                Ok((sse("snapshot", s.revision, &s), s.revision, s.epoch, known))
            }
            Feed::Config(prefix) => {
                let c = views::config_snapshot(backend, prefix).await?;
                Ok((
                    sse("snapshot", c.revision, &c),
                    c.revision,
                    c.epoch,
                    HashSet::new(),
                ))
            }
        }
    }
}

/// One event: `event: NAME`, `id: REVISION`, `data: JSON`.
fn sse(name: &str, revision: u64, data: &impl Serialize) -> SseEvent {
    // serde_json writes no raw newline, so the data is one `data:` line.
    let data = serde_json::to_string(data)
        .unwrap_or_else(|e| json!({ "error": format!("encoding: {e}") }).to_string());
    SseEvent::default()
        .event(name)
        .id(revision.to_string())
        .data(data)
}

/// `GET /api/events[?epoch=E]`: instance changes; read as the center's `watch` is.
pub(super) async fn instances(State(shared): State<Shared>, request: ApiRequest) -> Response {
    match request.admit(&shared, "watch", &["epoch"]) {
        Ok(q) => follow(shared, Feed::Instances, &request.headers, q.get("epoch")).await,
        Err(refused) => refused.into_response(),
    }
}

/// `GET /api/config/events[?prefix=P][&epoch=E]`: config changes; read as the center's
/// `config_watch` is.
pub(super) async fn config(State(shared): State<Shared>, request: ApiRequest) -> Response {
    match request.admit(&shared, "config_watch", &["prefix", "epoch"]) {
        Ok(mut q) => {
            let feed = Feed::Config(q.remove("prefix").unwrap_or_default());
            follow(shared, feed, &request.headers, q.get("epoch")).await
        }
        Err(refused) => refused.into_response(),
    }
}

/// A number from the request, or the answer naming what is wrong with it.
fn number(what: &str, value: Option<&str>) -> Result<Option<u64>, Failure> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                format!("{what} {v:?} is not a revision number (a whole number)"),
            )
        }),
    }
}

async fn follow(
    shared: Shared,
    feed: Feed,
    headers: &HeaderMap,
    epoch: Option<&String>,
) -> Response {
    let last = headers
        .get(LAST_EVENT_ID)
        .map(|v| v.to_str().unwrap_or("not UTF-8"));
    let (resume, epoch) = match (
        number("Last-Event-ID", last),
        number("epoch", epoch.map(String::as_str)),
    ) {
        (Ok(resume), Ok(epoch)) => (resume, epoch.unwrap_or(0)),
        (Err(bad), _) | (_, Err(bad)) => return bad.into_response(),
    };
    let (snapshot, watch, known) = match open(shared.backend.as_ref(), &feed, resume, epoch).await {
        Ok(opened) => opened,
        Err(e) => return Failure::center(&e).into_response(),
    };
    let changes = stream::unfold(
        Following {
            watch,
            known,
            done: false,
        },
        |mut following| async move {
            let event = following.next().await?;
            Some((Ok::<_, Infallible>(event), following))
        },
    );
    let mut stopping = shared.stopping;
    let events = stream::iter(snapshot.map(Ok))
        .chain(changes)
        // The dashboard is stopping: end the stream, or it would hold the shutdown.
        .take_until(async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The watch to follow, from `resume` if the center can replay from it, else from a fresh
/// snapshot (returned, to send first) with the instances it holds.
async fn open(
    backend: &dyn Backend,
    feed: &Feed,
    resume: Option<u64>,
    epoch: u64,
) -> Result<
    (
        Option<SseEvent>,
        ServerStream<Event>,
        HashSet<(String, String)>,
    ),
    Status,
> {
    if let Some(from) = resume {
        match backend.watch(feed.scope(), from, epoch).await {
            Ok(watch) => return Ok((None, watch, HashSet::new())),
            // Not replayable: a fresh snapshot below.
            Err(e) if e.code() == Code::OutOfRange => {}
            Err(e) => return Err(e),
        }
    }
    // The snapshot's revision can only be refused if the history moved past it in between
    // (a history shorter than the changes of that instant): take another.
    let mut tries = 3;
    loop {
        let (event, revision, epoch, known) = feed.snapshot(backend).await?;
        match backend.watch(feed.scope(), revision, epoch).await {
            Ok(watch) => return Ok((Some(event), watch, known)),
            Err(e) if e.code() == Code::OutOfRange && tries > 1 => tries -= 1,
            Err(e) => return Err(e),
        }
    }
}

/// A watch being turned into events.
struct Following {
    watch: ServerStream<Event>,
    /// The instances this stream has reported (`register`, or in its snapshot): a
    /// registration of one of them is an `update`.
    known: HashSet<(String, String)>,
    done: bool,
}

impl Following {
    /// The next event; `None` once the watch ended (after an `interrupted` event if it
    /// failed).
    async fn next(&mut self) -> Option<SseEvent> {
        if self.done {
            return None;
        }
        let event = match self.watch.next().await? {
            Ok(event) => event,
            Err(status) => {
                self.done = true;
                let data = json!({ "error": status.message() });
                return Some(
                    SseEvent::default()
                        .event("interrupted")
                        .data(data.to_string()),
                );
            }
        };
        let revision = event.revision;
        let (name, data) = match event.change {
            Change::Registered(instance) => {
                let key = (instance.service.clone(), instance.id.clone());
                let name = if self.known.insert(key) {
                    "register"
                } else {
                    "update"
                };
                // Without a lease: the watch does not carry it (`/api/services` has it).
                let instance = InstanceView::new(instance, None);
                (name, json!({ "revision": revision, "instance": instance }))
            }
            Change::Deregistered {
                service,
                id,
                reason,
            } => {
                self.known.remove(&(service.clone(), id.clone()));
                let data = json!({
                    "revision": revision, "service": service, "id": id, "reason": reason,
                });
                ("deregister", data)
            }
            Change::ConfigSet { key, value } => (
                "set",
                json!({ "revision": revision, "key": key, "value": value }),
            ),
            Change::ConfigDeleted { key } => {
                ("delete", json!({ "revision": revision, "key": key }))
            }
        };
        Some(sse(name, revision, &data))
    }
}
