//! `erpc-gateway`: the HTTP/JSON gateway as a process.
//!
//! ```text
//! erpc-gateway --target tcp://127.0.0.1:7000 --listen 127.0.0.1:8080
//! erpc-gateway --center tcp://127.0.0.1:7070 -H x-user --cors-origin https://app.example
//! erpc-gateway --center tcp://10.0.0.5:7070 --center-token-file /run/secrets/center --dc eu
//! ```
//!
//! Stops on Ctrl-C or SIGTERM, letting requests in flight finish (for `--drain`, default
//! 30 s; then streams still open end with their final error). Exit code 2 for bad
//! arguments, 1 if it cannot listen.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderName;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use clap::Parser;
use erpc_core::client::{BreakerSettings, FailMode, FailModes, InstanceBreakers};
use erpc_core::discovery::{
    Balancer, LeastOutstanding, Locality, P2c, Random, RoundRobin, Weighted,
};
use erpc_core::per_method::PerMethod;
use erpc_gateway::cors::{AllowOrigin, CorsLayer};
use erpc_gateway::{Drained, Gateway, TIMEOUT_HEADER, Upstream};

#[derive(Parser)]
#[command(
    name = "erpc-gateway",
    version,
    about = "An HTTP/JSON gateway to erpc services: POST /{service}/{method} with a JSON body"
)]
#[command(group(clap::ArgGroup::new("upstream").required(true).args(["target", "center"])))]
struct Args {
    /// Where the gateway listens (HTTP/1.1).
    #[arg(long, env = "ERPC_GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// One server for every service: tcp://HOST:PORT, unix:///PATH, …
    #[arg(long)]
    target: Option<String>,
    /// A registry center: each service's instances are found through it.
    #[arg(long, env = "ERPC_CENTER")]
    center: Option<String>,
    /// The token to send the center (metadata `authorization: Bearer <TOKEN>`), for a center
    /// started with --token --protect-reads. Prefer the variable or --center-token-file: a
    /// flag shows in the process list.
    #[arg(
        long,
        env = "ERPC_CENTER_TOKEN",
        hide_env_values = true,
        conflicts_with = "center_token_file"
    )]
    center_token: Option<String>,
    /// Read the center's token from this file (its first line, surrounding whitespace
    /// ignored).
    #[arg(long, env = "ERPC_CENTER_TOKEN_FILE")]
    center_token_file: Option<PathBuf>,
    /// The gateway's data center, for routing rules matching on `dc` (with --center).
    #[arg(long, env = "ERPC_GATEWAY_DC")]
    dc: Option<String>,
    /// The gateway's zone, for routing rules matching on `zone` (with --center).
    #[arg(long, env = "ERPC_GATEWAY_ZONE")]
    zone: Option<String>,
    /// A request header sent as call metadata (none is, unless named); repeatable.
    #[arg(short = 'H', long = "allow-header", value_name = "NAME", value_parser = header_name)]
    allow_headers: Vec<HeaderName>,
    /// The header a caller sets a call's timeout with (`250ms`, `2s`).
    #[arg(long, default_value = TIMEOUT_HEADER, value_parser = header_name)]
    timeout_header: HeaderName,
    /// The longest timeout a caller may ask for.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
    max_timeout: Duration,
    /// The largest request body accepted, in bytes (larger: 413).
    #[arg(long, default_value_t = 1 << 20)]
    max_body: usize,
    /// An origin browsers may call from (`https://app.example`, or `*` for any); repeatable.
    /// Default none: no CORS headers.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Retries of a failed call on another instance (erpc's `failover` fail mode: only calls
    /// never sent, or idempotent methods' calls the server did not do). 0: none.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// On SIGTERM or Ctrl-C, how long requests in flight (streams too) may take to finish.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    drain: Duration,
    /// How a service's calls are spread over its instances (with --center).
    #[arg(long, value_enum, default_value_t = Balance::RoundRobin)]
    balance: Balance,
    /// No circuit breaker per instance (default: one, opening after 5 failures in a row for
    /// 5 s, so the balancer skips the instance).
    #[arg(long)]
    no_breakers: bool,
}

/// erpc-core's balancers, by name.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Balance {
    /// In turn.
    RoundRobin,
    /// At random.
    Random,
    /// In proportion to the instances' registered weights (smooth weighted round-robin).
    Weighted,
    /// The less loaded of two picked at random.
    P2c,
    /// The one with the fewest calls outstanding.
    LeastOutstanding,
}

impl Balance {
    fn make(self) -> Arc<dyn Balancer> {
        match self {
            Balance::RoundRobin => Arc::new(RoundRobin::default()),
            Balance::Random => Arc::new(Random),
            Balance::Weighted => Arc::new(Weighted::default()),
            Balance::P2c => Arc::new(P2c),
            Balance::LeastOutstanding => Arc::new(LeastOutstanding::default()),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let cors = match cors(&args) {
        Ok(cors) => cors,
        Err(message) => {
            eprintln!("erpc-gateway: {message}");
            return ExitCode::from(2);
        }
    };
    let center_token = match center_token(&args) {
        Ok(token) => token,
        Err(message) => {
            eprintln!("erpc-gateway: {message}");
            return ExitCode::from(2);
        }
    };
    let upstream = match (&args.target, &args.center) {
        (Some(addr), _) => Upstream::Address(addr.clone()),
        (None, Some(center)) => Upstream::Center(center.clone()),
        // clap's group requires one.
        (None, None) => return ExitCode::from(2),
    };
    let (retries, breakers, balance) = (args.retries, !args.no_breakers, args.balance);
    let mut builder = Gateway::builder(upstream.clone())
        .client(move || {
            // Each client its own retry budget and breakers (FailModes' budget is per client).
            let mut builder = erpc_core::Client::builder();
            if retries > 0 {
                let modes = PerMethod::new(FailMode::Failover { retries });
                builder = builder.layer(FailModes::new(modes));
            }
            if breakers {
                builder = builder.attempt_layer(InstanceBreakers::new(BreakerSettings::default()));
            }
            builder
        })
        .balancer(move || balance.make())
        .timeout_header(args.timeout_header.clone())
        .max_timeout(args.max_timeout)
        .max_body(args.max_body)
        .locality(Locality {
            dc: args.dc.clone(),
            zone: args.zone.clone(),
            ..Locality::default()
        });
    if let Some(token) = center_token {
        builder = builder.center_token(token);
    }
    for name in &args.allow_headers {
        builder = builder.allow_header(name.clone());
    }
    if let Some(cors) = cors {
        builder = builder.cors(cors);
    }
    let gateway = match builder.build() {
        Ok(gateway) => gateway,
        Err(e) => {
            eprintln!("erpc-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match gateway.serve(args.listen.as_str()).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("erpc-gateway: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    let to = match &upstream {
        Upstream::Address(addr) => addr.clone(),
        Upstream::Center(center) => format!("the services registered at {center}"),
    };
    eprintln!(
        "erpc-gateway on http://{}, calling {to}",
        server.local_addr()
    );
    if let Err(e) = shutdown_signal().await {
        eprintln!("erpc-gateway: waiting for a signal: {e}");
    }
    match server.drain(args.drain).await {
        Ok(Drained::Finished) => {}
        // Long streams would hold the stop forever: they end with their final error.
        Ok(Drained::Cut) => eprintln!(
            "erpc-gateway: requests still open after {}; stopping",
            humantime::format_duration(args.drain)
        ),
        Err(e) => {
            eprintln!("erpc-gateway: {e}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

/// The center's token from --center-token or --center-token-file (its first line, trimmed;
/// erpc-center's `read_token`, so a token file means the same to the center, the `erpc`
/// command line and the gateway); an error naming the option for an unreadable file or an
/// empty token, or for a center-only option given without --center.
fn center_token(args: &Args) -> Result<Option<String>, String> {
    // Options of the center only: with --target they would be silently unused.
    if args.center.is_none() {
        let given = [
            ("--center-token", args.center_token.is_some()),
            ("--center-token-file", args.center_token_file.is_some()),
            ("--dc", args.dc.is_some()),
            ("--zone", args.zone.is_some()),
        ];
        if let Some((name, _)) = given.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{name} is an option of --center, and there is none"
            ));
        }
    }
    erpc_center::auth::read_token(
        &args.center_token,
        &args.center_token_file,
        "center-token",
        "center's token",
    )
}

/// The CORS layer `--cors-origin` asks for: POST from those origins, with the headers a
/// call may carry; `Retry-After` readable by the page.
fn cors(args: &Args) -> Result<Option<CorsLayer>, String> {
    if args.cors_origins.is_empty() {
        return Ok(None);
    }
    let origin = if args.cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let mut origins = Vec::new();
        for origin in &args.cors_origins {
            origins.push(
                origin
                    .parse()
                    .map_err(|_| format!("--cors-origin {origin:?} is not a header value"))?,
            );
        }
        AllowOrigin::list(origins)
    };
    let mut headers = vec![CONTENT_TYPE, ACCEPT, args.timeout_header.clone()];
    headers.extend(args.allow_headers.iter().cloned());
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([axum::http::Method::POST])
            .allow_headers(headers)
            .expose_headers([axum::http::header::RETRY_AFTER])
            .max_age(Duration::from_secs(600)),
    ))
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    // HeaderName lower-cases: `X-User` and `x-user` are the same header.
    HeaderName::try_from(name).map_err(|_| format!("{name:?} is not a header name"))
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}
