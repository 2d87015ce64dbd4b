//! Typed calls with per-call options, awaited directly:
//! `client.call(...).timeout(d).metadata("k", "v").codec(CodecId::JSON).await`.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use erpc_codec::compression::CompressionId;
use erpc_codec::{CodecId, Message};
use futures_util::future::BoxFuture;
use tokio::time::Instant;

use crate::body::ENCODE_CAPACITY;
use crate::client::fail_mode::{FirstAttempt, Launch};
use crate::client::in_flight::PendingCall;
use crate::client::{Client, ClientRequest, ClientResponse, Started};
use crate::codec_failure::{Site, decode_failed, encode_failed};
use crate::deadline;
use crate::metadata::Metadata;
use crate::protocol::{ByteStr, CompressionList};
use crate::status::Status;

/// Options of one call; unset ones fall back to the client's [`crate::ClientConfig`].
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Time allowed from the start of the call.
    pub timeout: Option<Duration>,
    /// An absolute deadline (the earlier of this and `timeout` wins).
    pub deadline: Option<Instant>,
    /// Metadata sent with the request.
    pub metadata: Metadata,
    /// The codec (types bound to one codec, like `Proto` and `Raw`, ignore this).
    pub codec: Option<CodecId>,
    /// The compression: applied to request bodies of at least the client's threshold, and
    /// asked of the server for the response whatever the request's size.
    pub compression: Option<CompressionId>,
    /// The balancer's hash key (see [`crate::discovery::Pick::hash_key`]).
    pub hash_key: Option<u64>,
    /// Compressions accepted in the response besides `compression`, most preferred first;
    /// replaces the client's [`crate::ClientConfig::accept_compression`].
    pub accept_compression: Option<CompressionList>,
    /// Whether the method is safe to run more than once, so that a fail mode may resend the
    /// call after it was sent (see [`crate::ClientRequest::idempotent`]). Default `false`.
    pub idempotent: bool,
}

/// The per-call setters, shared by [`CallOptions`], [`Call`] and [`Oneway`] through their
/// `options_mut` accessor.
macro_rules! option_setters {
    () => {
        /// Time allowed from the start of the call.
        pub fn timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.options_mut().timeout = Some(timeout);
            self
        }

        /// An absolute deadline (the earlier of this and the timeout wins).
        pub fn deadline(mut self, deadline: ::tokio::time::Instant) -> Self {
            self.options_mut().deadline = Some(deadline);
            self
        }

        /// Add a metadata entry. The key follows the metadata key rule
        /// ([`$crate::metadata::check_key`]: lowercase `a-z`, digits, `-`, `_`, `.`): a call
        /// with another fails `invalid_argument` naming it, unsent — `Tenant` would never
        /// match the `tenant` a server or a layer reads.
        pub fn metadata(
            mut self,
            key: impl Into<$crate::protocol::ByteStr>,
            value: impl Into<::bytes::Bytes>,
        ) -> Self {
            self.options_mut().metadata.insert(key, value);
            self
        }

        /// Send `token` as this call's credential: metadata `authorization: Bearer <token>`,
        /// replacing any set before (a client's `auth::Credentials`
        /// leaves such a call's credential as it is).
        pub fn bearer_token(mut self, token: impl ::std::fmt::Display) -> Self {
            self.options_mut()
                .metadata
                .set($crate::auth::AUTHORIZATION, format!("Bearer {token}"));
            self
        }

        /// The codec (types bound to one codec, like `Proto` and `Raw`, ignore this).
        pub fn codec(mut self, codec: $crate::CodecId) -> Self {
            self.options_mut().codec = Some(codec);
            self
        }

        /// The compression: applied to request bodies (stream messages included) of at
        /// least the client's threshold, and asked of the server for the response and its
        /// stream messages whatever the request's size (PROTOCOL.md §6).
        pub fn compression(mut self, compression: $crate::CompressionId) -> Self {
            self.options_mut().compression = Some(compression);
            self
        }

        /// The call's hash key (a user id, a shard key), hashed with 64-bit FNV-1a and
        /// handed to the balancer as [`crate::discovery::Pick::hash_key`]: a
        /// consistent-hashing balancer sends calls with the same key to the same instance.
        /// [`ConsistentHash`](crate::discovery::ConsistentHash) reads it; the other balancers
        /// erpc ships ignore it.
        pub fn hash_key(mut self, key: impl AsRef<[u8]>) -> Self {
            self.options_mut().hash_key = Some($crate::discovery::balance::hash_key(key.as_ref()));
            self
        }

        /// Compressions accepted in the response besides the one asked for with
        /// `compression`, most preferred first (`none` is always accepted and need not be
        /// listed; at most 16). Replaces the client's
        /// [`crate::ClientConfig::accept_compression`] for this call. A server compresses
        /// with one of these when the call asks for none only if configured to
        /// ([`crate::ServerConfig::response_compression`]). The call fails with
        /// `unimplemented` if an id is not supported by this build.
        pub fn accept_compression(
            mut self,
            ids: impl IntoIterator<Item = $crate::CompressionId>,
        ) -> Self {
            self.options_mut().accept_compression = Some(ids.into_iter().collect());
            self
        }

        /// Mark the call safe to run more than once (a read, a put of a whole value): a
        /// fail mode ([`crate::client::fail_mode`]) may then resend it after it was sent,
        /// when it failed `unavailable` (or `resource_exhausted` with a retry hint), and a
        /// hedge may send a second copy. Methods marked `#[idempotent]` in
        /// `#[erpc::service]` set it on every call. Without it only a call never sent is
        /// resent.
        pub fn idempotent(mut self) -> Self {
            self.options_mut().idempotent = true;
            self
        }
    };
}

/// What [`Call`] and [`Oneway`] add to the setters: access to their `options` field and
/// layering a whole [`CallOptions`] over it.
macro_rules! call_option_methods {
    () => {
        fn options_mut(&mut self) -> &mut CallOptions {
            &mut self.options
        }

        option_setters!();

        /// Layer a set of options over this call's.
        pub fn options(mut self, options: CallOptions) -> Self {
            self.options = self.options.merge(options);
            self
        }
    };
}

impl CallOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    fn options_mut(&mut self) -> &mut CallOptions {
        self
    }

    option_setters!();

    /// Layer `other` over these options: its set fields win, metadata is appended.
    pub fn merge(mut self, other: CallOptions) -> Self {
        self.timeout = other.timeout.or(self.timeout);
        self.deadline = other.deadline.or(self.deadline);
        self.metadata.extend(&other.metadata);
        self.codec = other.codec.or(self.codec);
        self.compression = other.compression.or(self.compression);
        self.hash_key = other.hash_key.or(self.hash_key);
        self.accept_compression = other.accept_compression.or(self.accept_compression);
        self.idempotent |= other.idempotent;
        self
    }
}

/// A request-response call, ready to be awaited.
#[must_use = "a call does nothing until it is awaited"]
pub struct Call<Req, Resp> {
    client: Client,
    service: ByteStr,
    method: ByteStr,
    request: Req,
    options: CallOptions,
    _response: PhantomData<fn() -> Resp>,
}

impl<Req: Message, Resp: Message> Call<Req, Resp> {
    pub(crate) fn new(client: Client, service: ByteStr, method: ByteStr, request: Req) -> Self {
        Call {
            client,
            service,
            method,
            request,
            options: CallOptions::default(),
            _response: PhantomData,
        }
    }

    call_option_methods!();
}

impl<Req: Message, Resp: Message> Call<Req, Resp> {
    /// Encode, frame and queue the request (the synchronous part of a call).
    fn begin(self) -> Result<CallState<Req, Resp>, Status> {
        // Kept for the rare message that must name the call (a response that does not
        // decode); names from generated code are static, so this clone is free.
        let call = (self.service.clone(), self.method.clone());
        let (request, began) = prepare(
            &self.client,
            self.service,
            self.method,
            &self.request,
            self.options,
            false,
        )?;
        let client = self.client;
        if let Some(modes) = client.fail_modes() {
            // A lone fail mode over the pick: its first attempt is held here, unboxed.
            return Ok(match modes.start(request, Some(&client), Some(began)) {
                Launch::First(first) => CallState::Governed {
                    first,
                    client,
                    call,
                },
                Launch::Boxed(future) => CallState::Boxed {
                    future,
                    client,
                    call,
                },
            });
        }
        if !client.is_direct() {
            let future = client.through_layers(request);
            return Ok(CallState::Boxed {
                future,
                client,
                call,
            });
        }
        Ok(match client.start(request, Some(began))? {
            Started::Sent { pending, accept } => CallState::Sent {
                pending,
                accept,
                client,
                call,
            },
            Started::Dialing(future) => CallState::Boxed {
                future,
                client,
                call,
            },
        })
    }
}

impl<Req: Message, Resp: Message> IntoFuture for Call<Req, Resp> {
    type Output = Result<Resp, Status>;
    type IntoFuture = CallFuture<Req, Resp>;

    fn into_future(self) -> Self::IntoFuture {
        CallFuture {
            state: CallState::Start(self),
        }
    }
}

/// The future of an awaited [`Call`].
///
/// On its first poll it encodes the request and queues it on a connection, then it waits on
/// the response directly: no boxed future per call (the common path allocates nothing for
/// the future itself). Middleware and dialling, which are async all the way, are boxed.
/// Dropping it before it completes cancels the call on the server.
#[must_use = "a call does nothing until it is awaited"]
pub struct CallFuture<Req, Resp> {
    state: CallState<Req, Resp>,
}

// The governed state is the largest (~350 bytes: the first attempt's answer and the request
// kept for a retry) and makes every call's future that large; it is built in place and not
// moved while awaited, and a plain call measured no dearer for it (BENCHMARKS.md, "the
// governed client's common path, fifth pass"), where boxing it cost a governed call an
// allocation.
#[allow(clippy::large_enum_variant)]
enum CallState<Req, Resp> {
    /// Not polled yet.
    Start(Call<Req, Resp>),
    /// Queued; waiting for the response.
    Sent {
        pending: PendingCall,
        /// The accept-compression list the request carried: what the response may use.
        accept: CompressionList,
        client: Client,
        call: (ByteStr, ByteStr),
    },
    /// Going through middleware or a dial.
    Boxed {
        future: BoxFuture<'static, Result<ClientResponse, Status>>,
        client: Client,
        call: (ByteStr, ByteStr),
    },
    /// Under a lone fail mode: its first attempt, and what a retry needs.
    Governed {
        first: FirstAttempt,
        client: Client,
        call: (ByteStr, ByteStr),
    },
    /// Finished (or failed to start).
    Done,
}

// No field is ever pinned structurally: the request is moved out by value on the first poll,
// and the other states are `Unpin`. So the future can be `Unpin` whatever `Req` is.
impl<Req, Resp> Unpin for CallFuture<Req, Resp> {}

impl<Req: Message, Resp: Message> Future for CallFuture<Req, Resp> {
    type Output = Result<Resp, Status>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let CallState::Start(_) = this.state {
            if let CallState::Start(call) = std::mem::replace(&mut this.state, CallState::Done) {
                match call.begin() {
                    Ok(state) => this.state = state,
                    Err(status) => return Poll::Ready(Err(status)),
                }
            }
        }
        let response = match &mut this.state {
            CallState::Sent {
                pending,
                accept,
                client,
                ..
            } => ready!(pending.poll_response(cx)).and_then(|frame| client.unpack(frame, accept)),
            CallState::Boxed { future, .. } => ready!(future.as_mut().poll(cx)),
            CallState::Governed { first, .. } => ready!(Pin::new(first).poll(cx)),
            CallState::Start(_) | CallState::Done => {
                return Poll::Ready(Err(Status::internal("call polled after it completed")));
            }
        };
        match std::mem::replace(&mut this.state, CallState::Done) {
            CallState::Sent { client, call, .. }
            | CallState::Boxed { client, call, .. }
            | CallState::Governed { client, call, .. } => {
                Poll::Ready(response.and_then(|r| decode(&client, r, &call)))
            }
            CallState::Start(_) | CallState::Done => {
                Poll::Ready(Err(Status::internal("call polled after it completed")))
            }
        }
    }
}

/// Decode the response body of `call` in the codec its header named.
pub(crate) fn decode<Resp: Message>(
    client: &Client,
    response: ClientResponse,
    call: &(ByteStr, ByteStr),
) -> Result<Resp, Status> {
    let codec = client.codecs().get(response.codec).ok_or_else(|| {
        Status::unimplemented(format!(
            "server answered {}.{} in codec {}, which this client has not registered (ClientBuilder::register_codec)",
            call.0, call.1, response.codec
        ))
    })?;
    Resp::decode(codec, response.body)
        .map_err(|e| decode_failed(Site::ClientResponse, (&call.0, &call.1), response.codec, e))
}

/// A oneway call: sent, never answered. Awaiting it waits until the request is queued on
/// the connection; from then on it is written even if the client is dropped (call
/// [`Client::shutdown`] before a process exits, to wait for that). `Ok` does not mean the
/// server ran it: a oneway the server refuses (unknown method, its running-call cap reached —
/// oneways do not count towards the client's `max_concurrent_calls`, nothing waits for them
/// — or shutting down) is dropped and logged there.
#[must_use = "a call does nothing until it is awaited"]
pub struct Oneway<Req> {
    client: Client,
    service: ByteStr,
    method: ByteStr,
    request: Req,
    options: CallOptions,
}

impl<Req: Message> Oneway<Req> {
    pub(crate) fn new(client: Client, service: ByteStr, method: ByteStr, request: Req) -> Self {
        Oneway {
            client,
            service,
            method,
            request,
            options: CallOptions::default(),
        }
    }

    call_option_methods!();
}

impl<Req: Message> IntoFuture for Oneway<Req> {
    type Output = Result<(), Status>;
    type IntoFuture = BoxFuture<'static, Result<(), Status>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let (request, _) = prepare(
                &self.client,
                self.service,
                self.method,
                &self.request,
                self.options,
                true,
            )?;
            self.client.invoke(request).await.map(drop)
        })
    }
}

/// The metadata a caller set on a call (`.metadata(key, value)`), checked against the key
/// rule ([`crate::metadata::check_key`]): `Tenant` would travel, and never match the
/// `tenant` a server, a layer or a response cache reads — refused here, before it is sent,
/// as tonic's `MetadataKey` refuses it.
///
/// # Errors
/// `invalid_argument` naming the key and the rule.
pub(crate) fn check_call_metadata(metadata: &crate::metadata::Metadata) -> Result<(), Status> {
    for (key, _) in metadata.iter() {
        crate::metadata::check_key(key)
            .map_err(|why| Status::invalid_argument(format!("this call's metadata: {why}")))?;
    }
    Ok(())
}

/// The codec a call of `Req` uses: the type's own, else the call's, else the client's.
pub(crate) fn call_codec<Req: Message>(
    client: &Client,
    options: &CallOptions,
) -> Result<CodecId, Status> {
    let codec_id = Req::native_codec()
        .or(options.codec)
        .unwrap_or(client.config().codec);
    match client.codecs().get(codec_id) {
        Some(_) => Ok(codec_id),
        None => Err(Status::unimplemented(format!(
            "codec {codec_id} is not registered on this client (ClientBuilder::register_codec)"
        ))),
    }
}

/// A call's absolute deadline from its options, the default (`None`: no deadline, for
/// streams — see [`deadline::NO_DEADLINE`]) and an inherited one.
pub(crate) fn call_deadline(
    options: &CallOptions,
    default: Option<Duration>,
) -> Result<Instant, Status> {
    call_deadline_at(options, default, Instant::now())
}

/// [`call_deadline`] as of `now`, a clock read just made.
fn call_deadline_at(
    options: &CallOptions,
    default: Option<Duration>,
    now: Instant,
) -> Result<Instant, Status> {
    let after = |t: Duration| deadline::after(now, t);
    let deadline = match (options.timeout, options.deadline) {
        (None, None) => after(default.unwrap_or(deadline::NO_DEADLINE)),
        (Some(t), None) => after(t),
        (None, Some(d)) => d,
        (Some(t), Some(d)) => d.min(after(t)),
    };
    let deadline = deadline::effective(deadline);
    if deadline <= now {
        return Err(Status::deadline_exceeded(
            "deadline passed before the call was sent",
        ));
    }
    Ok(deadline)
}

/// Encode a request (or a request stream's message) of `call` in codec `id`.
pub(crate) fn encode_message<M: Message>(
    codecs: &erpc_codec::Codecs,
    id: CodecId,
    message: &M,
    call: (&str, &str),
) -> Result<Bytes, Status> {
    crate::engine::encode_arena::encode(message.size_hint().max(ENCODE_CAPACITY), |body| {
        encode_into(codecs, id, message, call, body)
    })
}

/// Append `message`, encoded with codec `id`, to `out` (a stream's reused buffer).
pub(crate) fn encode_into<M: Message>(
    codecs: &erpc_codec::Codecs,
    id: CodecId,
    message: &M,
    call: (&str, &str),
    out: &mut bytes::BytesMut,
) -> Result<(), Status> {
    let codec = codecs
        .get(id)
        .ok_or_else(|| Status::unimplemented(format!("codec {id} is not registered")))?;
    message
        .encode(codec, out)
        .map_err(|e| encode_failed(Site::ClientRequest, call, e))
}

/// Encode a typed request into the untyped form every call goes through; with the clock
/// read its deadline was computed from, the moment the call began (its first attempt's
/// breaker admission and latency sample start from it rather than read the clock again:
/// a read costs ~25 ns on a virtual machine, BENCHMARKS.md 2026-12-03).
pub(crate) fn prepare<Req: Message>(
    client: &Client,
    service: ByteStr,
    method: ByteStr,
    request: &Req,
    options: CallOptions,
    oneway: bool,
) -> Result<(ClientRequest, Instant), Status> {
    check_call_metadata(&options.metadata)?;
    let codec = call_codec::<Req>(client, &options)?;
    let body = encode_message(client.codecs(), codec, request, (&service, &method))?;
    let began = Instant::now();
    let deadline = call_deadline_at(&options, Some(client.config().timeout), began)?;
    let request = ClientRequest {
        service,
        method,
        metadata: options.metadata,
        deadline,
        codec,
        compression: options.compression.unwrap_or(client.config().compression),
        accept_compression: options
            .accept_compression
            .unwrap_or(client.config().accept_compression),
        body,
        oneway,
        stream: false,
        hash_key: options.hash_key,
        idempotent: options.idempotent,
        steer: Default::default(),
        opening: crate::client::Opening::default(),
    };
    Ok((request, began))
}
