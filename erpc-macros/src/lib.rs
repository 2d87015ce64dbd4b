//! `#[erpc::service]`: turns a trait of async methods into a server dispatch and a typed
//! client. Use it through the `erpc` crate; see its docs for the full example.
//!
//! ```ignore
//! #[erpc::service]
//! pub trait Greeter {
//!     /// Request-response: the argument is the request, `Result<T, Status>` the response.
//!     async fn hello(&self, name: String) -> Result<String, erpc::Status>;
//!     /// Several arguments travel as a tuple; a first `Context` argument is the call's.
//!     async fn add(&self, cx: erpc::Context, a: i64, b: i64) -> Result<i64, erpc::Status>;
//!     /// Oneway: no response, no return type.
//!     #[oneway]
//!     async fn log(&self, line: String);
//! }
//! ```
//!
//! generates
//! - the trait, with each `async fn` turned into `fn ... -> impl Future<Output = _> + Send`
//!   so handlers can run on any runtime thread (implement it with plain `async fn`);
//! - `GreeterServer<__ErpcImpl: Greeter>`, an `erpc::Service` to add to a server;
//! - `GreeterClient`, with one method per trait method returning an awaitable `erpc::Call`
//!   (or `erpc::Oneway`) that takes per-call options;
//! - `MockGreeter`, a service from one closure per method that records every call (tests).
//!
//! # Layout
//! - [`service`]: the attribute entry point.
//! - `model`: the parsed trait and its checks.
//! - `expand`: the generated code.
//! - `mock`: the generated mock (`MockGreeter`).

mod expand;
mod mock;
mod model;

use proc_macro::TokenStream;

/// Generate a server dispatch and a typed client for a trait.
///
/// For `trait Greeter`, it generates `GreeterServer<__ErpcImpl: Greeter>` (an `erpc::Service`: pass it
/// to `Server::builder().add_service`) and `GreeterClient` (one method per trait method,
/// returning an awaitable call that takes per-call options: `.timeout(d)`, `.metadata(k, v)`,
/// `.codec(id)`, ...; `GreeterClient::connect(addr)` or `GreeterClient::new(client)`), and
/// `MockGreeter` (one closure per method, every call recorded: see `erpc::testing`; not
/// generated for a trait with supertraits; a trait method named `new` or `recorder`, or both
/// `m` and `expect_m`, clashes with the mock's own methods).
///
/// Methods (each `async fn`, taking `&self`):
/// - `async fn m(&self, a: A) -> Result<T, Status>`: request-response. Several arguments
///   travel as a tuple (a MessagePack/JSON array), none as the unit value.
/// - a first argument of type `Context` receives the call's context (deadline, metadata,
///   peer, extensions); it is not sent, and the client method does not take it.
/// - `#[oneway] async fn m(&self, a: A)` (no return type): sent, never answered; the client's
///   await returns once the request is queued on a live connection.
/// - `#[idempotent] async fn m(&self, a: A) -> Result<T, Status>`: the method is safe to run
///   more than once (a read, a put of a whole value), so the client's fail modes
///   (`erpc::client::FailModes`) may resend a call of it that was sent and failed
///   `unavailable`, and hedge it; the generated client marks every call of it
///   (`.idempotent()`). Request-response methods only.
/// - a `Streaming<T>` argument (alone, after an optional `Context`) makes it client
///   streaming; a `Result<ServerStream<T>, Status>` return makes it server streaming; both
///   make it bidirectional.
///
/// Options:
/// - `#[erpc::service(name = "pkg.Greeter")]`: the name clients call the service by
///   (default: the trait's name).
/// - `#[erpc::service(crate = "erpc_core")]`: the crate the generated code refers to
///   (default `::erpc`), for crates that depend on `erpc-core` but not on the facade.
///
/// Mistakes (a generic method, `&mut self`, a missing `Result`, a oneway with a return type,
/// a pattern argument, ...) are compile errors that say what to write instead.
#[proc_macro_attribute]
pub fn service(args: TokenStream, input: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let item = proc_macro2::TokenStream::from(input);
    match model::Service::parse(args, item) {
        Ok(service) => expand::expand(&service).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
