//! The registry center a command talks to (`--center ADDR`), with its token.

use erpc_center::CenterClient;
use erpc_core::Client;

use crate::failure::Failure;
use crate::token::TokenArgs;

/// `--center ADDR` and the token it may want, for the commands that only talk to a center.
#[derive(clap::Args)]
pub struct CenterArgs {
    /// The registry center.
    #[arg(long, env = "ERPC_CENTER", default_value = "tcp://127.0.0.1:7070")]
    pub center: String,
    #[command(flatten)]
    pub token: TokenArgs,
}

impl CenterArgs {
    /// A client of the center, sending the token (if given) on every call.
    pub fn client(&self) -> Result<CenterClient, Failure> {
        let addr = &self.center;
        let builder = match self.token.read()? {
            Some(token) => {
                Client::builder().middleware(erpc_core::auth::Credentials::bearer(token))
            }
            None => Client::builder(),
        };
        builder
            .timeout(std::time::Duration::from_secs(5))
            .build(addr.as_str())
            .map(CenterClient::new)
            .map_err(|e| Failure::usage(format!("--center {addr}: {e}")))
    }

    /// Name the center in a failure: "the center at ADDR: …".
    pub fn at(&self) -> impl Fn(erpc_core::Status) -> Failure + '_ {
        move |status| {
            Failure::Call(erpc_core::Status::new(
                status.code(),
                format!("the center at {}: {}", self.center, status.message()),
            ))
        }
    }
}
