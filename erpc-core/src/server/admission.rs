//! Header-level hooks: decide whether a call may run from its header block alone — before its
//! body is decompressed or decoded and before a task is spawned for it — so that a refusal
//! (auth, ACL, rate limit, concurrency limit, load shedding) costs no decode and no task.
//!
//! Hooks run on the connection's read loop, in the order added, after the server has found
//! the service and checked codec and deadline, and before the connection's running-call cap
//! — except the hooks that cap calls *running* ([`Admission::counts_running`]: concurrency
//! caps, bulkheads, the adaptive limit), which run after all the others.
//! They must be quick and must not block: no I/O, no await. A hook that admits may hand back
//! a guard ([`Admitted::holding`]) that lives as long as the call — a concurrency permit, a
//! bulkhead slot — dropped when the call ends however it ends (answered, cancelled, expired,
//! aborted by shutdown). A hook may also hand values to the call ([`Admitted::with`]: an
//! authenticated principal): they go into the call's extensions (`Context::extensions`), and
//! the hooks after it see them ([`CallHead::extensions`]). A refusal is answered with the
//! hook's status (a ONEWAY's refusal is only logged: nobody waits for it). Authentication
//! and ACLs built this way are in [`crate::auth`].
//!
//! A hook that would rather make a call wait its turn than refuse it (a rate limit with a
//! maximum wait) admits it [`after`](Admitted::after) a future: the call's task waits for
//! it before the body is decoded, within the call's deadline, and a failure then answers
//! the call with that status. Such a wait costs a task, so a hook bounds how many wait.
//! A waiting call is not running: it holds no slot of any cap. The hooks that count running
//! calls, the server's worker limit and the connection's running-call cap are taken only
//! once the wait has ended (whatever order the hooks were added in), and refuse the call
//! then, in its task, if they are full.
//!
//! ```
//! # use erpc_core as erpc;
//! use erpc::server::{Admission, Admitted, CallHead};
//! use erpc::Status;
//!
//! /// Only calls carrying the right API key get as far as a task.
//! struct ApiKey(&'static str);
//!
//! impl Admission for ApiKey {
//!     fn admit(&self, call: &CallHead<'_>) -> Result<Admitted, Status> {
//!         match call.metadata.get_str("x-api-key") {
//!             Some(key) if key == self.0 => Ok(Admitted::now()),
//!             _ => Err(Status::unauthenticated("missing or wrong x-api-key")),
//!         }
//!     }
//! }
//! ```

use crate::engine::task_guard::contained;
use futures_util::future::BoxFuture;
use std::any::Any;

use erpc_transport::PeerAddr;
use tokio::time::Instant;

use crate::auth::{PeerIdentity, Principal};
use crate::context::{Context, Wire};
use crate::extensions::Extensions;
use crate::metadata::Metadata;
use crate::observe::{CallEvent, Observer, RefusedBy, Side};
use crate::status::Status;

/// What a header-level hook sees of a call: everything but its body.
#[derive(Debug, Clone, Copy)]
pub struct CallHead<'a> {
    /// The service name (a service this server has).
    pub service: &'a str,
    /// The method name.
    pub method: &'a str,
    /// The request's metadata (credentials, trace context, ...).
    pub metadata: &'a Metadata,
    /// Who called.
    pub peer: &'a PeerAddr,
    /// The call's kind.
    pub kind: CallKind,
    /// When the call's deadline passes.
    pub deadline: Instant,
    /// Codec, compression and the body's size on the wire (`body_len` is 0: nothing has
    /// been decompressed).
    pub wire: Wire,
    /// The mutual-TLS client certificate's identity, when the connection has one (see
    /// [`PeerIdentity`]).
    pub peer_identity: Option<&'a PeerIdentity>,
    /// What the hooks before this one handed to the call ([`Admitted::with`]), such as the
    /// [`Principal`] of authentication.
    pub extensions: &'a Extensions,
}

impl<'a> CallHead<'a> {
    /// What the hooks see of a call whose task has started, from its context; `None` for a
    /// context without its connection (never a server call's).
    pub(crate) fn of_context(context: &'a Context, kind: CallKind) -> Option<CallHead<'a>> {
        let conn = context.conn.as_deref()?;
        Some(CallHead {
            service: &context.service,
            method: &context.method,
            metadata: &context.metadata,
            peer: &conn.peer,
            kind,
            deadline: context.deadline,
            wire: context.wire,
            peer_identity: conn.identity.as_deref(),
            extensions: &context.extensions,
        })
    }

    /// Who the call was authenticated as by an earlier hook
    /// ([`Authenticate`](crate::auth::Authenticate)), if any.
    pub fn principal(&self) -> Option<&Principal> {
        self.extensions.get::<Principal>()
    }
}

/// What kind of call a frame opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// REQUEST: one request, one response.
    Unary,
    /// ONEWAY: nothing is answered.
    Oneway,
    /// STREAM_OPEN: a streaming call of any shape.
    Stream,
}

/// A hook's yes: nothing more, or a guard held for the call's life, values for the call's
/// extensions, and maybe a wait before the call runs.
#[derive(Default)]
pub struct Admitted {
    guard: Option<Box<dyn Any + Send + Sync>>,
    gate: Option<Gate>,
    extensions: Extensions,
}

/// What a call waits for in its task before its body is decoded: `Err` refuses it, with the
/// status and what it counts as.
pub(crate) type Gate = BoxFuture<'static, Result<(), (Status, RefusedBy)>>;

impl std::fmt::Debug for Admitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitted")
            .field("guard", &self.guard.is_some())
            .field("gate", &self.gate.is_some())
            .field("extensions", &self.extensions)
            .finish()
    }
}

impl Admitted {
    /// Admitted, holding nothing.
    pub fn now() -> Admitted {
        Admitted::default()
    }

    /// Admitted; `guard` is dropped when the call ends (a permit to give back).
    pub fn holding(guard: impl Any + Send + Sync) -> Admitted {
        Admitted {
            guard: Some(Box::new(guard)),
            gate: None,
            extensions: Extensions::new(),
        }
    }

    /// The call runs only once `gate` is `Ok`: its task awaits it before decoding the body,
    /// within the call's deadline (which ends the wait with `deadline_exceeded`); an `Err`
    /// answers the call with that status instead. The gate should hold whatever it counts
    /// (a place in a line) so that a call dropped while waiting gives it back.
    pub fn after(
        self,
        gate: impl std::future::Future<Output = Result<(), Status>> + Send + 'static,
    ) -> Admitted {
        self.then(Box::pin(async move {
            gate.await.map_err(|status| (status, RefusedBy::Hook))
        }))
    }

    /// Wait for `gate` after any gate already set.
    fn then(mut self, gate: Gate) -> Admitted {
        self.gate = Some(match self.gate.take() {
            None => gate,
            Some(first) => Box::pin(async move {
                first.await?;
                gate.await
            }),
        });
        self
    }

    /// The same, handing `value` to the call: into its extensions, one value per type, for
    /// its handler ([`Context::extensions`](crate::Context::extensions)) and the hooks after
    /// this one ([`CallHead::extensions`]).
    pub fn with<T: Send + Sync + 'static>(mut self, value: T) -> Admitted {
        self.extensions.insert(value);
        self
    }

    /// The values handed to the call, taken out.
    pub(crate) fn take_extensions(&mut self) -> Extensions {
        std::mem::take(&mut self.extensions)
    }

    /// Whether it holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.guard.is_none()
    }

    /// The wait before the call runs, taken out (the guard stays).
    pub(crate) fn take_gate(&mut self) -> Option<Gate> {
        self.gate.take()
    }

    /// Keep `other`'s guard too, and wait for its gate after this one's (several hooks
    /// admitting one call).
    pub(crate) fn and(self, other: Admitted) -> Admitted {
        let mut extensions = self.extensions;
        extensions.extend(other.extensions);
        let guard = match (self.guard, other.guard) {
            (None, guard) | (guard, None) => guard,
            (Some(a), Some(b)) => Some(Box::new((a, b)) as Box<dyn Any + Send + Sync>),
        };
        let admitted = Admitted {
            guard,
            gate: self.gate,
            extensions,
        };
        match other.gate {
            Some(gate) => admitted.then(gate),
            None => admitted,
        }
    }

    /// Its gate's refusal counted as `by` (the hook that set the gate).
    fn refused_by(mut self, by: RefusedBy) -> Admitted {
        if by != RefusedBy::Hook {
            if let Some(gate) = self.gate.take() {
                self.gate = Some(Box::pin(async move {
                    gate.await.map_err(|(status, _)| (status, by))
                }));
            }
        }
        self
    }
}

/// Wait for a call's `gate` before it runs, telling `observer` (if any) how long the call
/// waited or that the gate refused it (and why).
pub(crate) async fn pass(
    gate: Gate,
    observer: Option<&std::sync::Arc<dyn Observer>>,
    call: &CallEvent<'_>,
) -> Result<(), (Status, RefusedBy)> {
    let started = Instant::now();
    let passed = gate.await;
    if let Some(observer) = observer {
        match &passed {
            Ok(()) => observer.rate_limit_waited(Side::Server, call, started.elapsed()),
            Err((_, by)) => observer.call_refused(Side::Server, call, *by),
        }
    }
    passed
}

/// Wait for a call's `gate`, then take the slots of the hooks that count running calls
/// (skipped at its arrival, [`admit_all`]): what they hand back is the call's to hold while
/// it runs. Refusals are told to `observer` (if any), and returned with what they count as.
pub(crate) async fn wait_then_admit(
    gate: Gate,
    hooks: &[std::sync::Arc<dyn Admission>],
    observer: Option<&std::sync::Arc<dyn Observer>>,
    call: &CallEvent<'_>,
    head: CallHead<'_>,
) -> Result<Admitted, (Status, RefusedBy)> {
    pass(gate, observer, call).await?;
    let mut admitted = admit_caps(hooks, &head)
        .map_err(|(status, by)| (refused(observer, call, by, status), by))?;
    // A cap that makes its call wait too (an application's own): that wait, and then it runs.
    if let Some(gate) = admitted.take_gate() {
        pass(gate, observer, call).await?;
    }
    Ok(admitted)
}

/// `status`, a refusal counted as `by`, told to `observer` (if any).
pub(crate) fn refused(
    observer: Option<&std::sync::Arc<dyn Observer>>,
    call: &CallEvent<'_>,
    by: RefusedBy,
    status: Status,
) -> Status {
    if let Some(observer) = observer {
        observer.call_refused(Side::Server, call, by);
    }
    status
}

/// A header-level hook. See the module docs.
pub trait Admission: Send + Sync + 'static {
    /// Admit `call` (maybe holding a guard for its life), or refuse it with a status.
    fn admit(&self, call: &CallHead<'_>) -> Result<Admitted, Status>;

    /// What this hook's refusals are counted as ([`Observer::call_refused`]'s reason, the
    /// `reason` label of `erpc_refused_calls_total`). Default: [`RefusedBy::Hook`]; erpc's
    /// own hooks name themselves.
    ///
    /// [`Observer::call_refused`]: crate::observe::Observer::call_refused
    fn refused_by(&self) -> RefusedBy {
        RefusedBy::Hook
    }

    /// Whether this hook caps calls *running* — a concurrency cap, a bulkhead, an adaptive
    /// limit: its guard is a slot that a call holds while it runs. Such hooks are asked after
    /// every other hook and, for a call that must first wait for its turn
    /// ([`Admitted::after`]: a rate limit's line), only once that wait has ended — whatever
    /// order the hooks were added in — so a waiting call holds none of their slots and their
    /// counts are of running calls only. Default: `false` (asked in the order added); erpc's
    /// `ConcurrencyLimit`, `MethodConcurrencyLimit` and `AdaptiveLimit` say `true`.
    fn counts_running(&self) -> bool {
        false
    }

    /// The services and methods this hook's per-method settings name
    /// ([`PerMethod::named`](crate::per_method::PerMethod::named)). `ServerBuilder::serve`
    /// refuses a server whose hooks name a service it does not serve, or a method its
    /// service does not have — a setting that would silently apply to nothing (`"erpc.Health"`
    /// read as service `erpc`, method `Health`). Default: none.
    fn names(&self) -> Vec<crate::per_method::Named> {
        Vec::new()
    }

    /// What the server serves, told once it starts (`ServerBuilder::serve`): a hook whose
    /// per-method settings can change later checks new names against it, as the server
    /// checked [`Admission::names`] at start (`RateLimit::set_rates` does). A hook on two
    /// servers is told twice. Default: ignored.
    fn serving(&self, served: &super::ServedMethods) {
        let _ = served;
    }
}

impl CallKind {
    /// The kind of call a frame of `kind` opens.
    pub(crate) fn of(kind: crate::protocol::Kind) -> CallKind {
        match kind {
            crate::protocol::Kind::ONEWAY => CallKind::Oneway,
            crate::protocol::Kind::STREAM_OPEN => CallKind::Stream,
            _ => CallKind::Unary,
        }
    }
}

/// Run every hook in order — the hooks that count running calls last, and only if no hook
/// made the call wait (then [`admit_caps`] runs them once the wait is over); the first
/// refusal wins (with the hook's [`Admission::refused_by`], or [`RefusedBy::Hook`] for a hook
/// that panicked), and the guards already taken are dropped with it.
pub(crate) fn admit_all(
    hooks: &[std::sync::Arc<dyn Admission>],
    call: &CallHead<'_>,
) -> Result<Admitted, (Status, RefusedBy)> {
    let admitted = admit_stage(hooks, call, false, Admitted::now())?;
    if admitted.gate.is_some() {
        return Ok(admitted);
    }
    admit_stage(hooks, call, true, admitted)
}

/// The hooks that count running calls, for a call whose wait ([`admit_all`]) has ended.
pub(crate) fn admit_caps(
    hooks: &[std::sync::Arc<dyn Admission>],
    call: &CallHead<'_>,
) -> Result<Admitted, (Status, RefusedBy)> {
    admit_stage(hooks, call, true, Admitted::now())
}

/// The hooks whose [`Admission::counts_running`] is `caps`, in order, after `admitted`.
fn admit_stage(
    hooks: &[std::sync::Arc<dyn Admission>],
    call: &CallHead<'_>,
    caps: bool,
    mut admitted: Admitted,
) -> Result<Admitted, (Status, RefusedBy)> {
    for hook in hooks.iter().filter(|hook| hook.counts_running() == caps) {
        // Each hook sees what the hooks before it handed over (the principal, for an ACL).
        let call = CallHead {
            extensions: &admitted.extensions,
            ..*call
        };
        // A panicking hook refuses its call, not every call on the connection's read loop.
        let next = match contained("a header-level hook (Admission)", || hook.admit(&call)) {
            Ok(Ok(next)) => next.refused_by(hook.refused_by()),
            Ok(Err(status)) => return Err((status, hook.refused_by())),
            Err(panicked) => return Err((panicked, RefusedBy::Hook)),
        };
        admitted = admitted.and(next);
    }
    Ok(admitted)
}
