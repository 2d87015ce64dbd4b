//! The registry center a command talks to (`--center ADDR`), with its token.

use std::collections::BTreeSet;

use erpc_center::token_flags::GIVE_TOKEN;
use erpc_center::{CenterClient, Filter, Instance};
use erpc_core::Client;

use crate::failure::Failure;
use crate::tls::TlsArgs;
use crate::token::TokenArgs;

/// `--center ADDR` and the token it may want, for the commands that only talk to a center.
#[derive(clap::Args)]
pub struct CenterArgs {
    /// The registry center.
    #[arg(long, env = "ERPC_CENTER", default_value = "tcp://127.0.0.1:7070")]
    pub center: String,
    #[command(flatten)]
    pub token: TokenArgs,
    /// TLS to the center (or, for `erpc list ADDR`, to that server).
    #[command(flatten)]
    pub tls: TlsArgs,
}

impl CenterArgs {
    /// A client of the center, sending the token (if given) on every call.
    pub fn client(&self) -> Result<CenterClient, Failure> {
        client(
            &self.center,
            crate::token::read(&self.token)?,
            crate::tls::options(&self.tls, &self.center)?,
        )
    }

    /// Name the center in a failure: "the center at ADDR: …".
    pub fn at(&self) -> impl Fn(erpc_core::Status) -> Failure + '_ {
        at(&self.center)
    }

    /// [`CenterArgs::at`] for a lookup of a service name the user gave: the center's
    /// `invalid_argument` (a name with a `/`) is bad input, exit 2.
    pub fn asked(&self) -> impl Fn(erpc_core::Status) -> Failure + '_ {
        asked(&self.center)
    }
}

/// A client of the center at `addr`, sending `token` (if any) on every call, over
/// `transport`.
pub fn client(
    addr: &str,
    token: Option<String>,
    transport: erpc_transport::Options,
) -> Result<CenterClient, Failure> {
    crate::tls::require_settings(addr, &transport)?;
    // A mem:// center is in-process: refused as bad input, as a mem:// target is.
    if addr.starts_with("mem://") {
        crate::target::parse_address(addr).map_err(|f| {
            Failure::usage(format!(
                "--center {}",
                f.line().trim_start_matches("erpc: ")
            ))
        })?;
    }
    let builder = match token {
        Some(token) => Client::builder().middleware(erpc_core::auth::Credentials::bearer(token)),
        None => Client::builder(),
    };
    builder
        .timeout(std::time::Duration::from_secs(5))
        .transport(transport)
        .build(addr)
        .map(CenterClient::new)
        .map_err(|e| Failure::usage(format!("--center {addr}: {e}")))
}

/// Name the center at `addr` in a failure: "the center at ADDR: …". A refusal for want of
/// a token (or a wrong one) says how to give it: the center's own words speak of metadata,
/// which `-H` would send only to a server.
pub fn at(addr: &str) -> impl Fn(erpc_core::Status) -> Failure + '_ {
    move |status| {
        let hint = match status.code() {
            erpc_core::Code::Unauthenticated | erpc_core::Code::PermissionDenied => {
                format!(" (the center's token: {GIVE_TOKEN})")
            }
            // A server that is not a center (README: `erpc list ADDR` lists its services).
            erpc_core::Code::Unimplemented if status.message().contains("\"erpc.Center\"") => {
                format!(
                    " — {addr} is not a registry center (is it a server? `erpc list {addr}` lists its services)"
                )
            }
            _ => String::new(),
        };
        Failure::Call(erpc_core::Status::new(
            status.code(),
            format!(
                "the center at {addr}: {}{hint}",
                status.message_without_redial_note()
            ),
        ))
    }
}

/// [`at`] for a lookup of a service name the user gave: the center refusing the name
/// (`invalid_argument`: "service name "a/b" contains '/'") is bad input, exit 2.
pub fn asked(addr: &str) -> impl Fn(erpc_core::Status) -> Failure + '_ {
    move |status| match at(addr)(status) {
        Failure::Call(status) if status.code() == erpc_core::Code::InvalidArgument => {
            Failure::Usage(status.message().to_owned())
        }
        other => other,
    }
}

/// `service`'s instances registered at the center; bad input (exit 2, as an unknown service
/// at an address is) if it has none, listing the services that have.
pub async fn require_registered(
    center: &CenterClient,
    addr: &str,
    service: &str,
) -> Result<Vec<Instance>, Failure> {
    let found = center
        .discover(service.to_owned(), Filter::default())
        .await
        .map_err(asked(addr))?;
    if !found.instances.is_empty() {
        return Ok(found.instances);
    }
    let all = center
        .discover(String::new(), Filter::default())
        .await
        .map_err(at(addr))?;
    let names: BTreeSet<&str> = all.instances.iter().map(|i| i.service.as_str()).collect();
    let there = if names.is_empty() {
        "nothing is registered there".to_owned()
    } else {
        let names: Vec<&str> = names.into_iter().collect();
        format!("registered there: {}", names.join(", "))
    };
    Err(Failure::usage(format!(
        "no instance of service {service:?} registered at {addr}; {there}"
    )))
}
