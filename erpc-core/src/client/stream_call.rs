//! Streaming calls from the client: [`StreamCall`] (server-streaming and bidirectional) and
//! [`ClientStreamCall`], awaited like unary calls after the same per-call options.
//!
//! Opening a stream registers it on a connection and queues STREAM_OPEN; a task then feeds
//! the request stream to the server as its window allows, and ends this side with
//! STREAM_END. The responses arrive in a [`Streaming`]; dropping it cancels the call.

use std::future::IntoFuture;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use erpc_codec::Message;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, Stream};

use crate::client::call::{call_codec, call_deadline, check_call_metadata, encode_into};
use crate::client::conn::ClientConn;
use crate::client::{CallOptions, Client, ClientRequest, Opening};
use crate::codec_failure::Site;
use crate::engine::stream::{Scratch, Started};
use crate::engine::task_guard::{OnAbandon, abandoned_how, panic_text};
use crate::observe::{Direction, Side, StreamCallTally, StreamWatch};
use crate::protocol::ByteStr;
use crate::status::Status;
use crate::stream::{Incoming, Streaming};

type Requests<Req> = Pin<Box<dyn Stream<Item = Req> + Send>>;

/// A server-streaming or bidirectional call, ready to be awaited: awaiting opens the stream
/// and gives the [`Streaming`] of responses.
#[must_use = "a call does nothing until it is awaited"]
pub struct StreamCall<Req, Resp> {
    client: Client,
    service: ByteStr,
    method: ByteStr,
    requests: Requests<Req>,
    options: CallOptions,
    _response: PhantomData<fn() -> Resp>,
}

impl<Req: Message, Resp: Message> StreamCall<Req, Resp> {
    pub(crate) fn new(
        client: Client,
        service: ByteStr,
        method: ByteStr,
        requests: Requests<Req>,
    ) -> Self {
        StreamCall {
            client,
            service,
            method,
            requests,
            options: CallOptions::default(),
            _response: PhantomData,
        }
    }

    call_option_methods!();
}

impl<Req: Message, Resp: Message> IntoFuture for StreamCall<Req, Resp> {
    type Output = Result<Streaming<Resp>, Status>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(open(self))
    }
}

/// A client-streaming call, ready to be awaited: awaiting sends the requests and gives the
/// one response.
#[must_use = "a call does nothing until it is awaited"]
pub struct ClientStreamCall<Req, Resp> {
    inner: StreamCall<Req, Resp>,
}

impl<Req: Message, Resp: Message> ClientStreamCall<Req, Resp> {
    pub(crate) fn new(inner: StreamCall<Req, Resp>) -> Self {
        ClientStreamCall { inner }
    }

    fn options_mut(&mut self) -> &mut CallOptions {
        &mut self.inner.options
    }

    option_setters!();

    /// Layer a set of options over this call's.
    pub fn options(mut self, options: CallOptions) -> Self {
        self.inner = self.inner.options(options);
        self
    }
}

impl<Req: Message, Resp: Message> IntoFuture for ClientStreamCall<Req, Resp> {
    type Output = Result<Resp, Status>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { open(self.inner).await?.single().await })
    }
}

/// [`opened`], a failure to open reported as a call of the client's (started and at once
/// finished with the status, as an attempt that never reached a connection is), since the
/// stream's own report starts only once it is open.
async fn open<Req: Message, Resp: Message>(
    call: StreamCall<Req, Resp>,
) -> Result<Streaming<Resp>, Status> {
    let observed = call
        .client
        .observer()
        .map(|o| (o.clone(), call.service.clone(), call.method.clone()));
    let since = std::time::Instant::now();
    opened(call).await.inspect_err(|status| {
        if let Some((observer, service, method)) = observed {
            let event = crate::observe::CallEvent {
                service: &service,
                method: &method,
                stream: true,
            };
            let finished = crate::observe::Finished {
                code: status.code(),
                took: since.elapsed(),
                bytes_in: 0,
                bytes_out: 0,
            };
            crate::observe::started_and_finished(&observer, Side::Client, &event, &finished);
        }
    })
}

async fn opened<Req: Message, Resp: Message>(
    call: StreamCall<Req, Resp>,
) -> Result<Streaming<Resp>, Status> {
    let StreamCall {
        client,
        service,
        method,
        mut requests,
        options,
        ..
    } = call;
    check_call_metadata(&options.metadata)?;
    let codec = call_codec::<Req>(&client, &options)?;
    let config = client.config();
    let call = (service.clone(), method.clone());
    let request = ClientRequest {
        service,
        method,
        deadline: call_deadline(&options, config.stream_timeout)?,
        metadata: options.metadata,
        codec,
        compression: options.compression.unwrap_or(config.compression),
        accept_compression: options
            .accept_compression
            .unwrap_or(config.accept_compression),
        body: Bytes::new(),
        oneway: false,
        stream: true,
        hash_key: options.hash_key,
        idempotent: options.idempotent,
        steer: Default::default(),
        opening: Opening::default(),
    };
    let (request, picked) = if client.is_direct() {
        (request, None)
    } else {
        through_layers(&client, request).await?
    };
    let deadline = request.deadline;
    let compression = request.compression;
    let hash_key = request.hash_key;
    let steer = request.steer.clone();
    let frame = client.frame(request)?;
    // What the server's messages may be compressed with.
    let accept = frame.head.accept_compression;
    let conn = match picked {
        Some(conn) => conn,
        None => {
            let call = crate::client::pick_of(&frame, hash_key, &steer);
            client.target().get(config, deadline, &call).await?
        }
    };
    // Counts the stream in the instance's load until it is over for its reader.
    let in_flight = conn.stream_guard();
    let mut outbound = conn
        .open_stream(frame, deadline, config, compression)
        .await?;
    let id = outbound.id;
    let state = outbound.state.clone();
    let state_of_feeder = state.clone();
    let codecs = client.codecs_shared();
    let feeder_conn = conn.clone();
    let feeder_call = call.clone();
    let watch = client.watches().map(|watches| StreamWatch {
        observer: watches.observer().clone(),
        side: Side::Client,
        service: call.0.clone(),
        method: call.1.clone(),
        call: Some(StreamCallTally::start(watches.get(&call.0, &call.1))),
    });
    let feeder_watch = watch.clone();
    let feeder = tokio::spawn(async move {
        // Dropped before the stream was sent (the task aborted because the call is over —
        // then this does nothing — or its runtime shutting down): the call ends now, and the
        // server is told, rather than both waiting for the deadline.
        let abandoned = OnAbandon::new(|| {
            feeder_conn.cancel_stream(
                id,
                &state_of_feeder,
                Status::cancelled(format!("the request stream's task {}", abandoned_how())),
            )
        });
        let sent = AssertUnwindSafe(async {
            let mut scratch = Scratch::default();
            while let Some(message) = outbound.next_from(&mut requests).await? {
                let names = (&*feeder_call.0, &*feeder_call.1);
                let body = scratch.encode(message.size_hint(), |out| {
                    encode_into(&codecs, codec, &message, names, out)
                })?;
                if let Some(watch) = &feeder_watch {
                    watch.message(Direction::Sent, body.len());
                }
                match outbound.start(codec, body)? {
                    Started::Batched { flush: false } => {}
                    started => outbound.finish(codec, started).await?,
                }
            }
            outbound.end(None).await
        })
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            Err(Status::cancelled(format!(
                "the request stream panicked: {}",
                panic_text(panic.as_ref())
            )))
        });
        abandoned.disarm();
        if let Err(status) = sent {
            // Could not send (an unencodable message, a lost connection, a panic while
            // producing a message): the call fails with that, unless it had already ended
            // for another reason.
            feeder_conn.cancel_stream(id, &outbound.state, status);
        }
    });
    state.set_feeder(feeder.abort_handle());
    let on_drop = {
        let state = state.clone();
        Box::new(move || {
            conn.cancel_stream(id, &state, Status::cancelled("the stream was dropped"))
        })
    };
    let incoming = Incoming::new(
        state,
        client.codecs_shared(),
        config.limits,
        Some(accept),
        on_drop,
        Site::ClientResponse,
        call,
    )
    .watched(watch);
    let incoming = match in_flight {
        Some(in_flight) => incoming.on_end(Box::new(move || drop(in_flight))),
        None => incoming,
    };
    Ok(incoming.typed())
}

/// Run the layers over the stream's opening: the request they passed on and, if
/// attempt-level layers ran, the connection they ran for.
async fn through_layers(
    client: &Client,
    mut request: ClientRequest,
) -> Result<(ClientRequest, Option<Arc<ClientConn>>), Status> {
    let opening = Opening::slot();
    request.opening = opening.clone();
    client.invoke(request).await?;
    opening.take().ok_or_else(|| {
        Status::internal("a client layer answered a streaming call without passing its opening on")
    })
}
