//! `erpc-gateway`: the HTTP/JSON gateway as a process.
//!
//! ```text
//! erpc-gateway --target tcp://127.0.0.1:7000 --listen 127.0.0.1:8080
//! erpc-gateway --center tcp://127.0.0.1:7070 -H x-user --cors-origin https://app.example
//! erpc-gateway --center tcp://10.0.0.5:7070 --center-token-file /run/secrets/center --dc eu
//! erpc-gateway --target tls://shop.internal:7443 --cacert ca.pem --max-body 4MiB
//! ```
//!
//! Stops on Ctrl-C or SIGTERM, letting requests in flight finish (for `--drain`, default
//! 30 s; then streams still open end with their final error). Exit code 2 for bad
//! arguments, 1 if it cannot listen.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderName;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use erpc_center::env_flags::{self, Sources};
use erpc_center::service::{check_dc_option, check_zone_option};
use erpc_center::token_flags::CenterTokenFlags;
use erpc_core::client::{BreakerSettings, FailMode, FailModes, InstanceBreakers};
use erpc_core::discovery::{
    Balancer, LeastOutstanding, Locality, P2c, Random, RoundRobin, Weighted,
};
use erpc_core::per_method::PerMethod;
use erpc_gateway::cors::{AllowOrigin, CorsLayer};
use erpc_gateway::{CENTER_TOKEN_HINT, Drained, Gateway, TIMEOUT_HEADER, Upstream};
use erpc_transport::tls_flags::{self, TlsFlags};

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
    /// The center's token (for a center started with --token --protect-reads).
    #[command(flatten)]
    center_token: CenterTokenFlags,
    /// TLS to the services (`tls://`, `wss://`, `quic://` addresses).
    #[command(flatten)]
    tls: TlsFlags,
    /// The gateway's data center, for routing rules matching on `dc` (with --center).
    #[arg(long, env = "ERPC_GATEWAY_DC")]
    dc: Option<String>,
    /// The gateway's zone, for routing rules matching on `zone` (with --center).
    #[arg(long, env = "ERPC_GATEWAY_ZONE")]
    zone: Option<String>,
    /// A request header sent as call metadata (none is, unless named); repeatable. Its
    /// lower-case name is the metadata key, so it must be one (a-z, 0-9, '-', '_', '.').
    #[arg(short = 'H', long = "allow-header", value_name = "NAME", value_parser = metadata_header)]
    allow_headers: Vec<HeaderName>,
    /// The header a caller sets a call's timeout with (`250ms`, `2s`).
    #[arg(long, default_value = TIMEOUT_HEADER, value_parser = header_name)]
    timeout_header: HeaderName,
    /// The longest timeout a caller may ask for; more than zero.
    #[arg(long, value_parser = positive_duration, default_value = "5m")]
    max_timeout: Duration,
    /// The largest request body accepted (larger: 413): bytes, or with a unit — 1048576,
    /// 64KiB, 1MiB (B, KiB, MiB, GiB).
    #[arg(long, value_name = "SIZE", value_parser = size, default_value = "1MiB")]
    max_body: usize,
    /// An origin browsers may call from (`https://app.example`, or `*` for any); repeatable.
    /// Default none: no CORS headers.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Retries of a failed call on another instance (erpc's `failover` fail mode: only calls
    /// never sent, or idempotent methods' calls the server did not do). 0: none.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// On SIGTERM or Ctrl-C, how long requests in flight (streams too) may take to finish;
    /// 0s: no drain, those still open end at once with their final error.
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
    // A bad value from a variable (ERPC_GATEWAY_DC, …) is refused naming the variable too.
    let command = Args::command();
    let matches = env_flags::get_matches(command.clone());
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let sources = Sources::of(&command, &matches);
    // The data center is matched against routing rules' `dc`: named as the center names
    // one, or refused as the center refuses its own --dc.
    // Every refusal at start-up names a flag whose value came from a variable by that
    // variable (erpc_center::env_flags::Sources::named_in), whichever check made it.
    let refuse = |message: &str| {
        eprintln!("erpc-gateway: {}", sources.named_in(message));
        ExitCode::from(2)
    };
    if let Err(message) = check_dc_option(args.dc.as_deref(), &sources.name("dc", "dc")) {
        return refuse(&message);
    }
    // The zone is matched and stamped as the data center is: refused as a dc would be.
    if let Err(message) = check_zone_option(args.zone.as_deref(), &sources.name("zone", "zone")) {
        return refuse(&message);
    }
    let cors = match cors(&args) {
        Ok(cors) => cors,
        Err(message) => return refuse(&message),
    };
    let center_token = match center_token(&args, &matches, &sources) {
        Ok(token) => token,
        Err(message) => return refuse(&message),
    };
    let transport = match transport(&args) {
        Ok(transport) => transport,
        Err(message) => return refuse(&message),
    };
    let upstream = match (&args.target, &args.center) {
        (Some(addr), _) => Upstream::Address(addr.clone()),
        (None, Some(center)) => Upstream::Center(center.clone()),
        // clap's group requires one.
        (None, None) => return ExitCode::from(2),
    };
    // An address this process could never dial (no scheme, mem://: only the process serving
    // it reaches it) is refused as `erpc` refuses it, before anything is built.
    let (flag, addr) = match &upstream {
        Upstream::Address(addr) => ("--target", addr),
        Upstream::Center(center) => ("--center", center),
    };
    if let Err(message) = tls_flags::dialled_address(addr) {
        return refuse(&format!("{flag} {addr}: {message}"));
    }
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
        .explain(in_flag_words)
        .transport(transport)
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
        // The only address build() parses is the upstream's: name its flag (or variable).
        Err(e) => return refuse(&format!("{flag} {addr}: {}", in_flag_words(&e.to_string()))),
    };
    let server = match gateway.serve(args.listen.as_str()).await {
        Ok(server) => server,
        Err(e) => {
            let from = match sources.name("listen", "listen").as_str() {
                "--listen" => String::new(),
                variable => format!(" (from {variable})"),
            };
            eprintln!("erpc-gateway: cannot listen on {}{from}: {e}", args.listen);
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
    // After the line above: scripts read the address from the first line.
    // As `erpc`: not for a --target without TLS, where --insecure changes nothing (the
    // services of a center may be on TLS whatever its own address).
    let plain_target = args
        .target
        .as_deref()
        .is_some_and(|t| !tls_flags::is_tls(t));
    if args.tls.insecure && !plain_target {
        eprintln!("erpc-gateway: {}", tls_flags::INSECURE_WARNING);
    }
    // Once at start-up: a center that refuses the gateway's token (or wants one it was not
    // given) is said on stderr, not only in every call's 503. Silent if the center cannot be
    // reached (yet).
    tokio::spawn(async move {
        if let Some(refusal) = gateway.center_refusal().await {
            eprintln!("erpc-gateway: {refusal}; until then every call is answered 503");
        }
    });
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

/// The center's token from --center-token or --center-token-file (erpc-center's
/// `CenterTokenFlags`, as the `erpc` command line reads it: the same flags and variables); an
/// error naming the option for an unreadable file or an empty token, or for a center-only
/// option given on the command line without --center (a variable is not: the token
/// variables are shared with `erpc`, and may be set for it).
fn center_token(
    args: &Args,
    matches: &clap::ArgMatches,
    sources: &Sources,
) -> Result<Option<String>, String> {
    // Options of the center only: with --target they would be silently unused.
    if args.center.is_none() {
        let typed = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
        let given = [
            ("--center-token".to_owned(), typed("center_token")),
            ("--center-token-file".to_owned(), typed("center_token_file")),
            (sources.name("dc", "dc"), args.dc.is_some()),
            (sources.name("zone", "zone"), args.zone.is_some()),
        ];
        if let Some((name, _)) = given.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{name} is an option of --center, and there is none"
            ));
        }
        return Ok(None);
    }
    args.center_token.read()
}

/// The transport options of the connections to the services and the center (TLS:
/// `--cacert`, …); an error saying what to give for a `--target` or `--center` that is a TLS
/// address with no CA given.
fn transport(args: &Args) -> Result<erpc_transport::Options, String> {
    let transport = args.tls.options()?;
    for (flag, addr) in [("--target", &args.target), ("--center", &args.center)] {
        if let Some(addr) = addr {
            tls_flags::require(addr, &transport).map_err(|why| format!("{flag} {why}"))?;
        }
    }
    Ok(transport)
}

/// A failure's message in the binary's words: the Rust APIs the engine and the gateway
/// library name become this binary's flags.
fn in_flag_words(message: &str) -> String {
    tls_flags::in_flag_words(message).replace(CENTER_TOKEN_HINT, CENTER_TOKEN_FLAGS)
}

/// How this binary is given the center's token (the words `erpc` uses too).
const CENTER_TOKEN_FLAGS: &str = erpc_center::token_flags::GIVE_TOKEN;

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
            if !is_origin(origin) {
                return Err(format!(
                    "--cors-origin {origin:?} is not an origin: give SCHEME://HOST[:PORT] (https://app.example), or * for any"
                ));
            }
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

/// Whether `text` is a browser origin as the `Origin` header sends it: a scheme, `://` and a
/// host (with a port, perhaps), nothing else — no user, no path (not even `/`), no query.
fn is_origin(text: &str) -> bool {
    let Ok(uri) = text.parse::<axum::http::Uri>() else {
        return false;
    };
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return false;
    };
    // `Uri` takes an empty scheme (`://host`); a browser's starts with a letter.
    if !scheme.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return false;
    }
    // Nothing after the authority: `Uri` reads a path of `/` whether or not one was written.
    text.len() == scheme.len() + "://".len() + authority.as_str().len()
        && !authority.host().is_empty()
        && !authority.as_str().contains('@')
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    // HeaderName lower-cases: `X-User` and `x-user` are the same header.
    HeaderName::try_from(name).map_err(|_| format!("{name:?} is not a header name"))
}

/// A header whose lower-case name is a valid metadata key (it becomes one).
fn metadata_header(name: &str) -> Result<HeaderName, String> {
    // The metadata rule first: it is the stricter one, and says what a name may hold.
    erpc_core::metadata::check_key(&name.to_ascii_lowercase())
        .map_err(|why| format!("{name:?} cannot be sent as call metadata: {why}"))?;
    header_name(name)
}

/// `--max-timeout`: a duration (`250ms`, `2s`, `5m`) more than zero — zero would refuse
/// every `x-erpc-timeout` a caller sends.
fn positive_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be more than zero (0 would refuse every caller's timeout)".to_owned());
    }
    Ok(duration)
}

/// `--max-body`: erpc-core's sizes (`1048576`, `1MiB`).
fn size(text: &str) -> Result<usize, String> {
    let bytes = erpc_core::human::parse_size(text)?;
    if bytes == 0 {
        // Every request would be refused (413): never what was meant.
        return Err("must be at least 1 byte (0 would refuse every body)".to_owned());
    }
    usize::try_from(bytes).map_err(|_| format!("{text:?} is more bytes than this machine can hold"))
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

#[cfg(test)]
mod tests {
    use super::is_origin;

    #[test]
    fn origins_are_a_scheme_and_a_host_only() {
        for origin in [
            "https://app.example",
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
            "app+x://host",
        ] {
            assert!(is_origin(origin), "{origin}");
        }
        for not in [
            "not a url",
            "app.example",
            "https://",
            "https://app.example/",
            "https://app.example/path",
            "https://app.example?x=1",
            "https://user@app.example",
            "https://app .example",
            "://app.example",
        ] {
            assert!(!is_origin(not), "{not}");
        }
    }
}
