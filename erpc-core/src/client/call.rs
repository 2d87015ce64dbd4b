//! Typed calls with per-call options, awaited directly:
//! `client.call(...).timeout(d).metadata("k", "v").codec(CodecId::JSON).await`.

use std::future::IntoFuture;
use std::marker::PhantomData;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use erpc_codec::compression::CompressionId;
use erpc_codec::{CodecId, Message};
use futures_util::future::BoxFuture;
use tokio::time::Instant;

use crate::client::{Client, ClientRequest};
use crate::deadline;
use crate::metadata::Metadata;
use crate::protocol::ByteStr;
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
    /// The compression (bodies below the client's threshold are never compressed).
    pub compression: Option<CompressionId>,
}

/// The per-call setters, shared by [`CallOptions`], [`Call`] and [`Oneway`] through their
/// `options_mut` accessor.
macro_rules! option_setters {
    () => {
        /// Time allowed from the start of the call.
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.options_mut().timeout = Some(timeout);
            self
        }

        /// An absolute deadline (the earlier of this and the timeout wins).
        pub fn deadline(mut self, deadline: Instant) -> Self {
            self.options_mut().deadline = Some(deadline);
            self
        }

        /// Add a metadata entry.
        pub fn metadata(mut self, key: impl Into<ByteStr>, value: impl Into<Bytes>) -> Self {
            self.options_mut().metadata.insert(key, value);
            self
        }

        /// The codec (types bound to one codec, like `Proto` and `Raw`, ignore this).
        pub fn codec(mut self, codec: CodecId) -> Self {
            self.options_mut().codec = Some(codec);
            self
        }

        /// The compression (bodies below the client's threshold are never compressed).
        pub fn compression(mut self, compression: CompressionId) -> Self {
            self.options_mut().compression = Some(compression);
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

impl<Req: Message, Resp: Message> IntoFuture for Call<Req, Resp> {
    type Output = Result<Resp, Status>;
    type IntoFuture = BoxFuture<'static, Result<Resp, Status>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let request = prepare(
                &self.client,
                self.service,
                self.method,
                &self.request,
                self.options,
                false,
            )?;
            // Straight to the wire when there is no middleware: one less future to move.
            let response = if self.client.is_direct() {
                self.client.send(request).await?
            } else {
                self.client.invoke(request).await?
            };
            let codec = self.client.codecs().get(response.codec).ok_or_else(|| {
                Status::unimplemented(format!(
                    "server answered in unknown codec {}",
                    response.codec
                ))
            })?;
            Ok(Resp::decode(codec, response.body)?)
        })
    }
}

/// A oneway call: sent, never answered. Awaiting it waits until the request is queued on
/// the connection.
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
            let request = prepare(
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

/// Starting size of an encode buffer. Large enough that a typical message (the 512-byte
/// benchmark payload included) is encoded without reallocating and copying; growing from
/// 256 bytes cost two reallocations per call (profiled).
pub(crate) const ENCODE_CAPACITY: usize = 1024;

/// Stands in for "no deadline" when a caller asks for `Duration::MAX`.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Encode a typed request into the untyped form every call goes through.
fn prepare<Req: Message>(
    client: &Client,
    service: ByteStr,
    method: ByteStr,
    request: &Req,
    options: CallOptions,
    oneway: bool,
) -> Result<ClientRequest, Status> {
    let config = client.config();
    let codec_id = Req::native_codec()
        .or(options.codec)
        .unwrap_or(config.codec);
    let codec = client.codecs().get(codec_id).ok_or_else(|| {
        Status::unimplemented(format!("codec {codec_id} is not registered on this client"))
    })?;
    let mut body = BytesMut::with_capacity(ENCODE_CAPACITY);
    request.encode(codec, &mut body)?;
    let now = Instant::now();
    let after = |t: Duration| now.checked_add(t).unwrap_or(now + FAR_FUTURE);
    let deadline = match (options.timeout, options.deadline) {
        (None, None) => after(config.timeout),
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
    Ok(ClientRequest {
        service,
        method,
        metadata: options.metadata,
        deadline,
        codec: codec_id,
        compression: options.compression.unwrap_or(config.compression),
        body: body.freeze(),
        oneway,
    })
}
