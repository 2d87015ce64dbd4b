//! What a server serves: [`Service`]s, which take untyped [`Request`]s and give [`Response`]s.
//! `#[erpc::service]` writes the `Service` impl for a trait; hand-written ones are fine too.

use std::future::Future;

use bytes::{Bytes, BytesMut};
use erpc_codec::{Codec, CodecId, Codecs, Message};
use futures_util::future::BoxFuture;
use std::sync::{Arc, Mutex};

use crate::codec_failure::{Site, decode_failed};
use crate::context::Context;
use crate::metadata::Metadata;
use crate::status::Status;
use crate::stream::{Incoming, Outgoing, ResponseStream, ServerStream, Streaming};

/// A call as it reaches a service: its context, the codec the client used and the
/// (decompressed) body, not yet decoded.
#[derive(Debug)]
pub struct Request {
    context: Context,
    codec: CodecId,
    codecs: Arc<Codecs>,
    body: Bytes,
    stream: bool,
    /// A stream's opening: where the layers' bottom hands the context back.
    opening: Option<StreamOpening>,
}

impl Request {
    /// A request for calling a service directly (tests, in-process dispatch).
    pub fn new(context: Context, codec: CodecId, codecs: Arc<Codecs>, body: Bytes) -> Self {
        Request {
            context,
            codec,
            codecs,
            body,
            stream: false,
            opening: None,
        }
    }

    /// The opening of a streaming call, as layers see it: no body (the messages follow once
    /// the layers have passed it on).
    pub(crate) fn stream_open(
        context: Context,
        codec: CodecId,
        codecs: Arc<Codecs>,
        opening: StreamOpening,
    ) -> Self {
        Request {
            stream: true,
            opening: Some(opening),
            ..Request::new(context, codec, codecs, Bytes::new())
        }
    }

    /// A stream opening's slot, taken by the bottom of the layers.
    pub(crate) fn take_opening(&mut self) -> Option<StreamOpening> {
        self.opening.take()
    }

    /// Whether this is the opening of a streaming call. Layers run once per streaming call,
    /// when it opens, with an empty body; whatever they add to the context reaches the
    /// handler, and an error they return ends the call before the handler runs.
    pub fn is_stream(&self) -> bool {
        self.stream
    }

    /// The call's context.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The call's context, mutably (layers add extensions here).
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.context
    }

    /// The method name.
    pub fn method(&self) -> &str {
        self.context.method()
    }

    /// The codec the body is in; the response goes back in it too.
    pub fn codec(&self) -> CodecId {
        self.codec
    }

    /// The encoded body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Decode the body as `T`.
    pub fn decode<T: Message>(&self) -> Result<T, Status> {
        T::decode(self.codec_ref(self.codec)?, self.body.clone()).map_err(|e| {
            decode_failed(
                Site::ServerRequest,
                (self.context.service(), self.context.method()),
                self.codec,
                e,
            )
        })
    }

    /// Encode `value` as the response, in the request's codec (or the type's own).
    pub fn respond<T: Message>(&self, value: &T) -> Result<Response, Status> {
        encode_response(&self.codecs, self.codec, value, self.body.len())
    }

    /// Split into the context and what is needed to answer.
    pub fn into_parts(self) -> (Context, Responder) {
        (
            self.context,
            Responder {
                codec: self.codec,
                codecs: self.codecs,
                size_hint: self.body.len(),
            },
        )
    }

    pub(crate) fn into_context(self) -> Context {
        self.context
    }

    /// The codecs the body can be decoded with (a mock's record decodes it later).
    pub(crate) fn codecs(&self) -> &Arc<Codecs> {
        &self.codecs
    }

    fn codec_ref(&self, id: CodecId) -> Result<&dyn Codec, Status> {
        self.codecs
            .get(id)
            .ok_or_else(|| Status::unimplemented(format!("unknown codec {id}")))
    }
}

/// Encodes a response in the codec its request used.
#[derive(Debug, Clone)]
pub struct Responder {
    codec: CodecId,
    codecs: Arc<Codecs>,
    /// The request's size: responses are often about as large, which makes it a good first
    /// guess for the encode buffer.
    size_hint: usize,
}

impl Responder {
    /// Encode `value` as the response.
    pub fn respond<T: Message>(&self, value: &T) -> Result<Response, Status> {
        encode_response(&self.codecs, self.codec, value, self.size_hint)
    }

    /// [`Responder::respond`] for a stream's next message, encoded through the stream's
    /// `scratch`: the last message's size is the first guess when the value has none, and a
    /// large message reuses the memory of one already written.
    pub(crate) fn respond_in<T: Message>(
        &self,
        value: &T,
        scratch: &mut crate::engine::stream::Scratch,
    ) -> Result<Response, Status> {
        let mut codec = self.codec;
        let body = scratch.encode(value.size_hint(), |body| {
            codec = encode_response_into(&self.codecs, self.codec, value, body)?;
            Ok::<_, Status>(())
        })?;
        Ok(Response {
            codec,
            body,
            metadata: Metadata::new(),
        })
    }
}

/// Encode a response: in the type's own codec if it has one, else in the request's codec;
/// if that codec is bound to other types (raw, protobuf), in MessagePack, the protocol's
/// default. The response header names the codec, so the client always knows.
fn encode_response<T: Message>(
    codecs: &Codecs,
    asked: CodecId,
    value: &T,
    size_hint: usize,
) -> Result<Response, Status> {
    // The value's own hint if it has one, else the request's size (responses are often about
    // as large).
    let guess = match value.size_hint() {
        0 => size_hint + size_hint / 8,
        exact => exact,
    };
    let capacity = guess.clamp(crate::body::ENCODE_CAPACITY, 64 << 20);
    let mut codec = asked;
    let body = crate::engine::encode_arena::encode(capacity, |body| {
        codec = encode_response_into(codecs, asked, value, body)?;
        Ok::<_, Status>(())
    })?;
    Ok(Response {
        codec,
        body,
        metadata: Metadata::new(),
    })
}

/// Append `value` to `body`, encoded as [`encode_response`] says; the codec it is in.
fn encode_response_into<T: Message>(
    codecs: &Codecs,
    asked: CodecId,
    value: &T,
    body: &mut BytesMut,
) -> Result<CodecId, Status> {
    let first = T::native_codec().unwrap_or(asked);
    let start = body.len();
    // Named by codec, not Rust type: the message goes to the caller (codec_failure's docs).
    let failed = |codec: CodecId| {
        move |e| {
            let status = Status::from(e);
            Status::new(
                status.code(),
                format!(
                    "server could not encode the response in {codec}: {}",
                    status.message()
                ),
            )
        }
    };
    match encode_in(codecs, first, value, body) {
        Err(erpc_codec::CodecError::Unsupported { .. }) if first != CodecId::MSGPACK => {
            body.truncate(start);
            encode_in(codecs, CodecId::MSGPACK, value, body).map_err(failed(CodecId::MSGPACK))?;
            Ok(CodecId::MSGPACK)
        }
        other => {
            other.map_err(failed(first))?;
            Ok(first)
        }
    }
}

fn encode_in<T: Message>(
    codecs: &Codecs,
    id: CodecId,
    value: &T,
    out: &mut BytesMut,
) -> Result<(), erpc_codec::CodecError> {
    let codec = codecs
        .get(id)
        .ok_or(erpc_codec::CodecError::UnknownCodec(id.0))?;
    value.encode(codec, out)
}

/// A successful answer: an encoded body and optional metadata.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// Codec of the body.
    pub codec: CodecId,
    /// The encoded body (compressed later, by the engine).
    pub body: Bytes,
    /// Metadata sent back to the caller.
    pub metadata: Metadata,
}

/// A streaming call as it reaches a service: its context and the messages the client sends.
#[derive(Debug)]
pub struct StreamRequest {
    context: Context,
    codec: CodecId,
    codecs: Arc<Codecs>,
    incoming: Incoming,
}

impl StreamRequest {
    pub(crate) fn new(
        context: Context,
        codec: CodecId,
        codecs: Arc<Codecs>,
        incoming: Incoming,
    ) -> Self {
        StreamRequest {
            context,
            codec,
            codecs,
            incoming,
        }
    }

    /// The call's context.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The method name.
    pub fn method(&self) -> &str {
        self.context.method()
    }

    /// Every part, to put back together with [`StreamRequest::new`].
    pub(crate) fn into_raw(self) -> (Context, CodecId, Arc<Codecs>, Incoming) {
        (self.context, self.codec, self.codecs, self.incoming)
    }

    /// Split into the context, the client's messages and what encodes responses (in the
    /// codec the stream was opened with).
    pub fn into_parts(self) -> (Context, Incoming, Responder) {
        (
            self.context,
            self.incoming,
            Responder {
                codec: self.codec,
                codecs: self.codecs,
                size_hint: 0,
            },
        )
    }
}

/// A named set of methods served under one name.
pub trait Service: Send + Sync + 'static {
    /// The name clients call it by.
    fn name(&self) -> &str;
    /// The names of its methods, for listings and tools.
    fn methods(&self) -> &[&'static str];
    /// What it says of itself for reflection (`erpc.Reflection`, PROTOCOL.md §16): each
    /// method's call kind, idempotency and types. `#[erpc::service]` writes one; the default,
    /// `None`, reports the method names alone.
    fn descriptor(&self) -> Option<&'static crate::reflection::ServiceDescriptor> {
        None
    }
    /// Handle one call. An unknown method should answer [`Status::unimplemented`].
    fn call(&self, request: Request) -> BoxFuture<'_, Result<Response, Status>>;
    /// Handle one streaming call: return the stream of responses (an `Err` ends the call at
    /// once). Services without streaming methods keep the default, which answers
    /// `unimplemented`.
    fn stream(&self, request: StreamRequest) -> BoxFuture<'_, Result<ResponseStream, Status>> {
        let status = Status::unimplemented(format!(
            "service {:?} has no streaming method {:?}",
            self.name(),
            request.method()
        ));
        Box::pin(async move { Err(status) })
    }
}

/// Decode, run a typed request-response handler, encode: the body of every generated unary
/// method.
pub async fn unary<Req, Resp, F, Fut>(request: Request, handler: F) -> Result<Response, Status>
where
    Req: Message,
    Resp: Message,
    F: FnOnce(Context, Req) -> Fut,
    Fut: Future<Output = Result<Resp, Status>>,
{
    let input: Req = request.decode()?;
    let (context, responder) = request.into_parts();
    let output = handler(context, input).await?;
    responder.respond(&output)
}

/// Decode and run a typed oneway handler: the body of every generated oneway method.
pub async fn oneway<Req, F, Fut>(request: Request, handler: F) -> Result<Response, Status>
where
    Req: Message,
    F: FnOnce(Context, Req) -> Fut,
    Fut: Future<Output = ()>,
{
    let input: Req = request.decode()?;
    let (context, _) = request.into_parts();
    handler(context, input).await;
    Ok(Response::default())
}

/// Server streaming: decode the one request, run the handler, encode what its stream yields.
pub async fn server_streaming<Req, Resp, F, Fut>(
    request: StreamRequest,
    handler: F,
) -> Result<ResponseStream, Status>
where
    Req: Message,
    Resp: Message,
    F: FnOnce(Context, Req) -> Fut,
    Fut: Future<Output = Result<ServerStream<Resp>, Status>>,
{
    let (context, incoming, responder) = request.into_parts();
    let mut requests = incoming.typed::<Req>();
    let input = requests
        .message()
        .await?
        .ok_or_else(|| Status::invalid_argument("the stream ended before its request"))?;
    // The request side is done; dropping it keeps any late messages from stalling anyone.
    drop(requests);
    Ok(handler(context, input).await?.into_responses(responder))
}

/// Client streaming: hand the handler the request stream, send its one response.
pub async fn client_streaming<Req, Resp, F, Fut>(
    request: StreamRequest,
    handler: F,
) -> Result<ResponseStream, Status>
where
    Req: Message,
    Resp: Message,
    F: FnOnce(Context, Streaming<Req>) -> Fut,
    Fut: Future<Output = Result<Resp, Status>>,
{
    let (context, incoming, responder) = request.into_parts();
    let output = handler(context, incoming.typed()).await?;
    let response = responder.respond(&output).map(Outgoing::Message);
    Ok(Box::pin(futures_util::stream::once(
        async move { response },
    )))
}

/// Bidirectional streaming: hand the handler the request stream, encode what its stream
/// yields.
pub async fn bidi_streaming<Req, Resp, F, Fut>(
    request: StreamRequest,
    handler: F,
) -> Result<ResponseStream, Status>
where
    Req: Message,
    Resp: Message,
    F: FnOnce(Context, Streaming<Req>) -> Fut,
    Fut: Future<Output = Result<ServerStream<Resp>, Status>>,
{
    let (context, incoming, responder) = request.into_parts();
    Ok(handler(context, incoming.typed())
        .await?
        .into_responses(responder))
}

/// The answer for a call made with the wrong shape: a unary method opened as a stream, or a
/// streaming method called as unary.
pub fn wrong_shape(service: &str, method: &str, streaming: bool) -> Status {
    let (is, use_) = if streaming {
        ("a streaming method", "open it as a stream")
    } else {
        ("a unary method", "call it with a request")
    };
    Status::unimplemented(format!("{service}.{method} is {is}; {use_}"))
}

/// The answer for a method name the service does not have.
pub fn unknown_method(service: &str, method: &str) -> Status {
    Status::unimplemented(format!("service {service:?} has no method {method:?}"))
}

/// Where a stream's opening comes back out of the server's layers (see `server::layer`).
#[derive(Clone, Default, Debug)]
pub(crate) struct StreamOpening(Arc<Mutex<Option<Context>>>);

impl StreamOpening {
    pub(crate) fn put(&self, context: Context) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(context);
    }

    pub(crate) fn take(&self) -> Option<Context> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}
