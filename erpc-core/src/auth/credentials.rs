//! [`Credentials`]: a client's bearer token, attached to every call it makes and refreshed
//! from a [`TokenSource`] before it expires or after the server refuses it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::auth::AUTHORIZATION;
use crate::client::{ClientRequest, ClientResponse};
use crate::middleware::{ClientMiddleware, ClientNext};
use crate::status::{Code, Status};

/// A bearer token and when it stops being valid.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The token, sent as `authorization: Bearer <value>`.
    pub value: String,
    /// When it expires (`None`: never, as far as the client knows).
    pub expires_at: Option<SystemTime>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A secret: never in a log.
        f.debug_struct("Token")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// `value`, valid until `expires_at` (`None`: with no known end).
    pub fn new(value: impl Into<String>, expires_at: Option<SystemTime>) -> Token {
        Token {
            value: value.into(),
            expires_at,
        }
    }
}

/// Where a client's tokens come from (a login call, a token service, a file a sidecar
/// renews): the refresh hook, called for the first call, when the token held is within
/// [`Credentials::refresh_before`] of its expiry, and after a call is refused
/// `unauthenticated`. Any `Fn() -> impl Future<Output = Result<Token, Status>>` is one.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync + 'static {
    /// A fresh token, or why there is none (the calls waiting for it fail with it).
    async fn token(&self) -> Result<Token, Status>;
}

#[async_trait::async_trait]
impl<F, Fut> TokenSource for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Token, Status>> + Send,
{
    async fn token(&self) -> Result<Token, Status> {
        self().await
    }
}

/// Client credentials: a [`ClientMiddleware`] (add it with
/// [`ClientBuilder::middleware`](crate::ClientBuilder::middleware)) that sends metadata
/// `authorization: Bearer <token>` on every call.
///
/// - **Per call**: a call that already carries `authorization` (set with
///   `.bearer_token(t)` or `.metadata("authorization", …)` on the call) is sent as it is.
/// - **Refresh**: the token is fetched from the [`TokenSource`] once and shared by every
///   call; it is fetched again when it is within `refresh_before` (default 30 s) of its
///   `expires_at`, and when the server answers `unauthenticated` — then a unary call is
///   sent once more with the new token (only if the source gave a different one). Calls
///   that need a token while one is being fetched wait for that fetch (one at a time),
///   each within its own deadline (`deadline_exceeded` naming the token source).
/// - A failing source fails the calls that wait for it with its status, its message
///   prefixed `token source: `.
pub struct Credentials {
    source: Arc<dyn TokenSource>,
    held: tokio::sync::Mutex<Option<Token>>,
    refresh_before: Duration,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("refresh_before", &self.refresh_before)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Tokens from `source`, refreshed 30 s before they expire.
    pub fn new(source: impl TokenSource) -> Credentials {
        Credentials {
            source: Arc::new(source),
            held: tokio::sync::Mutex::new(None),
            refresh_before: Duration::from_secs(30),
        }
    }

    /// One fixed token (an API key) for every call.
    pub fn bearer(token: impl Into<String>) -> Credentials {
        let token = Token::new(token, None);
        Credentials::new(move || std::future::ready(Ok(token.clone())))
    }

    /// Fetch a new token when the one held expires within `margin`. Default 30 s.
    pub fn refresh_before(mut self, margin: Duration) -> Credentials {
        self.refresh_before = margin;
        self
    }

    /// The token to send: the one held, unless it is `refused` or about to expire.
    async fn current(&self, refused: Option<&str>) -> Result<String, Status> {
        let mut held = self.held.lock().await;
        if let Some(token) = held.as_ref() {
            let expiring = token.expires_at.is_some_and(|at| {
                at.duration_since(SystemTime::now())
                    .map_or(true, |left| left <= self.refresh_before)
            });
            if !expiring && refused != Some(token.value.as_str()) {
                return Ok(token.value.clone());
            }
        }
        let fresh = self
            .source
            .token()
            .await
            .map_err(|e| Status::new(e.code(), format!("token source: {}", e.message())))?;
        let value = fresh.value.clone();
        *held = Some(fresh);
        Ok(value)
    }

    /// [`Credentials::current`] within the call's deadline.
    async fn current_by(
        &self,
        request: &ClientRequest,
        refused: Option<&str>,
    ) -> Result<String, Status> {
        tokio::time::timeout_at(request.deadline, self.current(refused))
            .await
            .map_err(|_| {
                Status::deadline_exceeded(
                    "deadline passed waiting for the token source (Credentials)",
                )
            })?
    }
}

fn authorize(request: &mut ClientRequest, token: &str) {
    request
        .metadata
        .set(AUTHORIZATION, format!("Bearer {token}"));
}

#[async_trait::async_trait]
impl ClientMiddleware for Credentials {
    async fn call(
        &self,
        mut request: ClientRequest,
        next: ClientNext<'_>,
    ) -> Result<ClientResponse, Status> {
        if request.metadata.get(AUTHORIZATION).is_some() {
            return next.run(request).await;
        }
        let token = self.current_by(&request, None).await?;
        authorize(&mut request, &token);
        // A stream's refusal arrives as its first item, and nobody hears a oneway's: only
        // unary calls can be sent again.
        if request.stream || request.oneway {
            return next.run(request).await;
        }
        let mut again = request.clone();
        match next.clone().run(request).await {
            Err(refused) if refused.code() == Code::Unauthenticated => {
                let fresh = self.current_by(&again, Some(&token)).await?;
                if fresh == token {
                    return Err(refused);
                }
                authorize(&mut again, &fresh);
                next.run(again).await
            }
            answered => answered,
        }
    }
}
