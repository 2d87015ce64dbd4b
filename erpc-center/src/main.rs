//! `erpc-center`: the registry center as a process. `erpc-center --help` lists the options;
//! each may also come from the environment variable it names.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use erpc_center::auth::read_token_from;
use erpc_center::env_flags::{self, Sources};
use erpc_center::store::Store;
use erpc_center::store::memory::MemoryStore;
use erpc_center::store::redb::{self, RedbStore};
use erpc_center::{CenterConfig, CenterImpl, CenterServer};

/// erpc's registry center: services register under leases, clients discover and watch them,
/// and both read and follow configuration (CENTER.md). Stops gracefully on SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "erpc-center", version)]
struct Args {
    /// Address to serve on: tcp://, unix://, tls://, quic:// (the last two with --cert and
    /// --key); repeat the flag, or separate with commas in the variable, for several.
    #[arg(
        long,
        env = "ERPC_CENTER_LISTEN",
        value_delimiter = ',',
        default_value = "tcp://127.0.0.1:7070"
    )]
    listen: Vec<String>,
    /// Serve Prometheus metrics of the center's calls at http://ADDR/metrics (e.g.
    /// `127.0.0.1:9464`; port 0 for a free one). Off when not given.
    #[arg(long, env = "ERPC_CENTER_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// Serve the web dashboard at http://ADDR/ (e.g. `127.0.0.1:8080`; port 0 for a free
    /// one): services, instances and their changes live, config, and the center's call
    /// rates with --metrics-listen; its JSON/SSE API is in CENTER.md, "Dashboard". It asks
    /// for the token wherever the center does (--protect-reads). Off when not given.
    #[arg(long, env = "ERPC_CENTER_HTTP")]
    http: Option<String>,
    /// Where state lives: `redb` (a file in --data-dir, durable), `memory` (lost on exit), or
    /// `etcd://host:2379[,host:2379…][/prefix]` (shared by every center on that etcd; needs
    /// the `etcd` feature).
    #[arg(long, env = "ERPC_CENTER_STORE", default_value = "redb")]
    store: String,
    /// Directory of the redb store [default: erpc-center in the per-user data directory,
    /// e.g. $XDG_DATA_HOME/erpc-center or ~/.local/share/erpc-center].
    #[arg(long, env = "ERPC_CENTER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Shortest lease granted, in milliseconds.
    #[arg(long, env = "ERPC_CENTER_MIN_TTL_MS", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    min_ttl_ms: u64,
    /// Longest lease granted, in milliseconds (at least --min-ttl-ms).
    #[arg(long, env = "ERPC_CENTER_MAX_TTL_MS", default_value_t = 300_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_ttl_ms: u64,
    /// How often expired leases are removed, in milliseconds.
    #[arg(long, env = "ERPC_CENTER_SWEEP_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..))]
    sweep_ms: u64,
    /// Changes kept for watchers to resume from.
    #[arg(long, env = "ERPC_CENTER_HISTORY", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    history: u64,
    /// A YAML file whose `center:` section gives these options (erpc-config's format, with
    /// `ERPC_CENTER__KEY` variables over it); a flag or `ERPC_CENTER_*` variable given
    /// explicitly wins over the file.
    #[arg(long, env = "ERPC_CENTER_CONFIG")]
    config: Option<PathBuf>,
    /// Require metadata `authorization: Bearer <TOKEN>` on registrations, lease calls and
    /// configuration writes (CENTER.md, "Access"). Prefer the variable or --token-file: a
    /// flag shows in the process list.
    #[arg(
        long,
        env = "ERPC_CENTER_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    token: Option<String>,
    /// Read the token from this file (its first line, surrounding whitespace ignored).
    #[arg(long, env = "ERPC_CENTER_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Require the token on reads too (discover, watch, config_get, config_watch).
    /// (The variable takes true/false, 1/0, yes/no, on/off.)
    #[arg(long, env = "ERPC_CENTER_PROTECT_READS",
          value_parser = clap::builder::BoolishValueParser::new())]
    protect_reads: bool,
    /// This center's data center: stamped as metadata `dc` on registrations that name none
    /// (CENTER.md, "Federation").
    #[arg(long, env = "ERPC_CENTER_DC")]
    dc: Option<String>,
    /// A peer data center's center to mirror, read-only (its own registrations, through its
    /// watch): repeat the flag, or separate with commas in the variable, for several (a
    /// second spelling of one peer is followed once, with a warning). Not with the etcd
    /// store.
    #[arg(long, env = "ERPC_CENTER_FOLLOW", value_delimiter = ',')]
    follow: Vec<String>,
    /// How long a peer's instances are kept, marked stale, once the peer is unreachable, in
    /// milliseconds; then they are dropped until it answers again.
    #[arg(long, env = "ERPC_CENTER_REMOTE_STALE_AFTER_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    remote_stale_after_ms: u64,
    /// The token to send to followed peers started with --protect-reads (metadata
    /// `authorization: Bearer <TOKEN>` on their discover and watch). Prefer the variable or
    /// --follow-token-file.
    #[arg(
        long,
        env = "ERPC_CENTER_FOLLOW_TOKEN",
        hide_env_values = true,
        conflicts_with = "follow_token_file"
    )]
    follow_token: Option<String>,
    /// Read the followed peers' token from this file (its first line).
    #[arg(long, env = "ERPC_CENTER_FOLLOW_TOKEN_FILE")]
    follow_token_file: Option<PathBuf>,
    /// The certificate chain (PEM, leaf first) the center's tls:// and quic:// addresses
    /// present; with --key. Needed when --listen has such an address.
    #[arg(long, env = "ERPC_CENTER_CERT", value_name = "PEM")]
    cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, env = "ERPC_CENTER_KEY", value_name = "PEM")]
    key: Option<PathBuf>,
    /// The CA (PEM) that tls:// and quic:// --follow peers' certificates must chain to
    /// (or a peer's self-signed end-entity certificate). Needed by such a peer.
    #[arg(long, env = "ERPC_CENTER_FOLLOW_CA", value_name = "PEM")]
    follow_ca: Option<PathBuf>,
    /// Mutual TLS: clients of the tls:// and quic:// addresses must present a certificate
    /// that chains to a CA in this PEM file. Needs --cert and --key.
    #[arg(long, env = "ERPC_CENTER_CLIENT_CA", value_name = "PEM")]
    client_ca: Option<PathBuf>,
    /// Where each option's value came from, for the messages about it.
    #[arg(skip)]
    sources: Sources,
}

impl Args {
    /// The token writes need, if one was given; an error for an unreadable or empty one.
    fn token(&self) -> Result<Option<String>, String> {
        let labels = [
            self.sources.name("token", "token"),
            self.sources.name("token_file", "token-file"),
        ];
        read_token_from(
            &self.token,
            &self.token_file,
            [&labels[0], &labels[1]],
            "center token",
        )
    }

    /// The token sent to followed peers, if one was given; an error for an unreadable or
    /// empty one.
    fn follow_token(&self) -> Result<Option<String>, String> {
        let labels = [
            self.sources.name("follow_token", "follow-token"),
            self.sources.name("follow_token_file", "follow-token-file"),
        ];
        read_token_from(
            &self.follow_token,
            &self.follow_token_file,
            [&labels[0], &labels[1]],
            "token for followed peers",
        )
    }
}

/// The arguments, with those left at their defaults taken from `--config`'s file.
fn args() -> Result<Args, String> {
    #[cfg(feature = "config")]
    use clap::parser::ValueSource;
    use clap::{CommandFactory, FromArgMatches};
    // A bad value from an `ERPC_CENTER_*` variable is refused naming the variable too.
    let command = Args::command();
    let matches = env_flags::get_matches(command.clone());
    let mut args = Args::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    args.sources = Sources::of(&command, &matches);
    dc_checked(&args, &args.sources.name("dc", "dc"))?;
    let Some(path) = args.config.clone() else {
        return Ok(args);
    };
    #[cfg(not(feature = "config"))]
    return Err(format!(
        "--config {}: this erpc-center was built without the config feature",
        path.display()
    ));
    #[cfg(feature = "config")]
    {
        let file = erpc_config::load(&path)
            .map_err(|e| {
                args.sources
                    .named_in(&format!("--config {}: {e}", path.display()))
            })?
            .center;
        let defaulted = |id: &str| {
            !matches!(
                matches.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        };
        apply_file(&mut args, file, defaulted);
        dc_checked(&args, &args.sources.name("dc", "dc"))?;
        Ok(args)
    }
}

/// `--dc` (or the config file's `center.dc`, named by `from`) can name a data center: its
/// name ends up in every registration's metadata, so one with a `/`, a newline or nothing
/// but blanks is refused at start, naming where it came from.
fn dc_checked(args: &Args, from: &str) -> Result<(), String> {
    erpc_center::service::check_dc_option(args.dc.as_deref(), from)
}

/// The file's settings, for the options `defaulted` says were not given explicitly. Each
/// value taken is recorded as coming from its key — `center.store in erpc.yaml:5`, or
/// `ERPC_CENTER__STORE (center.store)` for one a variable set over the file — so a start-up
/// error names that, not a flag the user never gave (`Sources::named_in`).
#[cfg(feature = "config")]
fn apply_file(
    args: &mut Args,
    file: erpc_config::CenterSettings,
    defaulted: impl Fn(&str) -> bool,
) {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let origin = file.origin.clone();
    // `id` (the option) takes the file's `center.<key>`: record where its value came from.
    // (A key the file leaves out gives the default, as the flag would: named by the flag.)
    let took = |args: &mut Args, id: &str, key: &str| {
        if let Some(source) = origin.name_of(&format!("center.{key}")) {
            args.sources.set(id, source);
        }
    };
    if defaulted("listen") {
        args.listen = file.listen;
        took(args, "listen", "listen");
    }
    if defaulted("metrics_listen") && file.metrics_listen.is_some() {
        args.metrics_listen = file.metrics_listen;
        took(args, "metrics_listen", "metrics_listen");
    }
    if defaulted("http") && file.http.is_some() {
        args.http = file.http;
        took(args, "http", "http");
    }
    if defaulted("store") {
        args.store = file.store;
        took(args, "store", "store");
    }
    if defaulted("data_dir") && file.data_dir.is_some() {
        args.data_dir = file.data_dir;
        took(args, "data_dir", "data_dir");
    }
    if defaulted("min_ttl_ms") {
        args.min_ttl_ms = millis(file.min_ttl);
        took(args, "min_ttl_ms", "min_ttl");
    }
    if defaulted("max_ttl_ms") {
        args.max_ttl_ms = millis(file.max_ttl);
        took(args, "max_ttl_ms", "max_ttl");
    }
    if defaulted("sweep_ms") {
        args.sweep_ms = millis(file.sweep);
        took(args, "sweep_ms", "sweep");
    }
    if defaulted("history") {
        args.history = file.history;
        took(args, "history", "history");
    }
    if defaulted("dc") && file.dc.is_some() {
        args.dc = file.dc;
        took(args, "dc", "dc");
    }
    if defaulted("follow") {
        args.follow = file.follow;
        took(args, "follow", "follow");
    }
    if defaulted("follow_ca") && file.follow_ca.is_some() {
        args.follow_ca = file.follow_ca;
        took(args, "follow_ca", "follow_ca");
    }
    if defaulted("remote_stale_after_ms") {
        args.remote_stale_after_ms = millis(file.remote_stale_after);
        took(args, "remote_stale_after_ms", "remote_stale_after");
    }
    // A token given as a flag or variable (either kind) wins over the file's token file.
    if defaulted("token") && defaulted("token_file") && file.token_file.is_some() {
        args.token_file = file.token_file;
        took(args, "token_file", "token_file");
    }
    if defaulted("protect_reads") && file.protect_reads {
        args.protect_reads = true;
        took(args, "protect_reads", "protect_reads");
    }
    // Each of --cert, --key and --client-ca wins over its own key of `center.tls`.
    if let Some(tls) = file.tls {
        if defaulted("cert") {
            args.cert = Some(tls.cert);
            took(args, "cert", "tls.cert");
        }
        if defaulted("key") {
            args.key = Some(tls.key);
            took(args, "key", "tls.key");
        }
        if defaulted("client_ca") && tls.client_ca.is_some() {
            args.client_ca = tls.client_ca;
            took(args, "client_ca", "tls.client_ca");
        }
    }
}

/// The center the arguments describe.
async fn open_center(args: &Args, config: CenterConfig) -> Result<CenterImpl, String> {
    if args.store.starts_with("etcd://") {
        return on_etcd(&args.store, config).await;
    }
    let store = open_store(args)?;
    CenterImpl::open(store, config).map_err(|e| e.to_string())
}

#[cfg(feature = "etcd")]
async fn on_etcd(url: &str, config: CenterConfig) -> Result<CenterImpl, String> {
    let (endpoints, prefix) = erpc_center::backend::etcd::parse_url(url)?;
    let center = CenterImpl::on_etcd(&endpoints, &prefix, config)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    tracing::info!(?endpoints, %prefix, "using etcd: every center on it serves the same registry");
    Ok(center)
}

#[cfg(not(feature = "etcd"))]
async fn on_etcd(url: &str, _: CenterConfig) -> Result<CenterImpl, String> {
    Err(format!(
        "{url}: this erpc-center was built without etcd support (build it with --features etcd)"
    ))
}

fn open_store(args: &Args) -> Result<Box<dyn Store>, String> {
    match args.store.as_str() {
        "redb" => {
            let dir = match &args.data_dir {
                Some(dir) => dir.clone(),
                None => redb::default_dir("erpc-center")
                    .ok_or("this platform names no per-user data directory: give --data-dir")?,
            };
            let path = dir.join(redb::FILE_NAME);
            // Named by --data-dir when it gave the directory (its variable, once rewritten).
            let flag = match &args.data_dir {
                Some(dir) => format!("--data-dir {}: ", dir.display()),
                None => String::new(),
            };
            let store =
                RedbStore::open(&path).map_err(|e| format!("{flag}{}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "using the redb store");
            Ok(Box::new(store))
        }
        "memory" => {
            tracing::warn!("using the memory store: registrations are lost when the center exits");
            Ok(Box::new(MemoryStore))
        }
        other => Err(format!(
            "--store {other:?} is not a store: expected redb, memory or etcd://host:2379"
        )),
    }
}

/// `--listen`'s tcp:// addresses, `--http` and `--metrics-listen` must not share a port:
/// the second to bind would fail with a bare "Address already in use", which says nothing
/// of the two flags that collide. (Port 0 is a free port each time: never a collision.)
fn ports_apart(args: &Args) -> Result<(), String> {
    use std::net::SocketAddr;
    let mut taken: Vec<(SocketAddr, String)> = Vec::new();
    let listens = args
        .listen
        .iter()
        .filter_map(|a| Some((a.strip_prefix("tcp://")?, format!("--listen {a}"))));
    let http = args
        .http
        .iter()
        .map(|a| (a.as_str(), format!("--http {a}")));
    let metrics = args
        .metrics_listen
        .iter()
        .map(|a| (a.as_str(), format!("--metrics-listen {a}")));
    for (text, flag) in listens.chain(http).chain(metrics) {
        let Ok(addr) = text.parse::<SocketAddr>() else {
            // A host name (`localhost:8080`) is resolved when bound; a port that is no port
            // is refused now, before the store is opened.
            if !flag.starts_with("--listen") && !has_port(text) {
                return Err(format!(
                    "{flag}: expected HOST:PORT with a port of 0 to 65535 (127.0.0.1:8080)"
                ));
            }
            continue;
        };
        if addr.port() == 0 {
            continue;
        }
        if let Some((_, other)) = taken.iter().find(|(a, _)| *a == addr) {
            return Err(format!(
                "{other} and {flag} are the same address: give each its own port"
            ));
        }
        taken.push((addr, flag));
    }
    Ok(())
}

/// Whether `text` ends in `:PORT`, a port of 0 to 65535.
fn has_port(text: &str) -> bool {
    text.rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

mod http;
mod metrics;
mod tls;

/// A line on stdout for a launcher. A launcher that stopped reading (it read the first line
/// and closed the pipe) must not stop the center, as `println!` would by panicking.
fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Logs go to stderr; stdout carries only the "listening on" lines a launcher reads.
    // Colour only for a person at a terminal: redirected logs and CI output stay plain text.
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = match args() {
        Ok(args) => args,
        Err(e) => {
            tracing::error!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Every refusal at start-up names a flag whose value came from a variable by that
    // variable (env_flags::Sources::named_in), whichever check made it.
    let refuse = |e: &dyn std::fmt::Display| {
        tracing::error!("{}", args.sources.named_in(&e.to_string()));
        std::process::ExitCode::FAILURE
    };
    if args.min_ttl_ms > args.max_ttl_ms {
        return refuse(&format!(
            "--min-ttl-ms {} is above --max-ttl-ms {}",
            args.min_ttl_ms, args.max_ttl_ms
        ));
    }
    if let Err(e) = ports_apart(&args) {
        return refuse(&e);
    }
    // Caught from now on: a signal during start-up waits for the graceful shutdown below.
    let mut stop = match erpc_core::ShutdownSignals::listen() {
        Ok(stop) => stop,
        Err(e) => return refuse(&format!("cannot catch SIGINT/SIGTERM: {e}")),
    };
    let config = CenterConfig {
        min_ttl: Duration::from_millis(args.min_ttl_ms),
        max_ttl: Duration::from_millis(args.max_ttl_ms),
        sweep: Duration::from_millis(args.sweep_ms),
        history: usize::try_from(args.history).unwrap_or(usize::MAX),
        dc: args.dc.clone(),
        follow: args.follow.clone(),
        listen: args.listen.clone(),
        remote_stale_after: Duration::from_millis(args.remote_stale_after_ms),
        ..CenterConfig::default()
    };
    let token = match args.token() {
        Ok(token) => token,
        Err(e) => return refuse(&e),
    };
    let config = match args.follow_token() {
        Ok(follow_token) => CenterConfig {
            follow_token,
            ..config
        },
        Err(e) => return refuse(&e),
    };
    if token.is_none() && args.protect_reads {
        return refuse(&"--protect-reads needs a token: give --token or --token-file");
    }
    let transport = tls::Files {
        cert: args.cert.as_deref(),
        key: args.key.as_deref(),
        client_ca: args.client_ca.as_deref(),
    };
    let transport = match tls::options(&args.listen, &transport) {
        Ok(transport) => transport,
        Err(e) => return refuse(&e),
    };
    let config = match tls::follow_options(&args.follow, args.follow_ca.as_deref()) {
        Ok(follow_transport) => CenterConfig {
            follow_transport,
            ..config
        },
        Err(e) => return refuse(&e),
    };
    let center = match open_center(&args, config).await {
        Ok(center) => center,
        Err(e) => return refuse(&e),
    };
    let mut builder = erpc_core::Server::builder()
        // Watches never end by themselves: on shutdown they get 2 s, then `unavailable`, and
        // their clients resume from their last revision on another center.
        .config(erpc_core::ServerConfig {
            shutdown_grace: Duration::from_secs(2),
            // The certificate of tls:// and quic:// addresses (--cert, --key, --client-ca).
            transport,
            ..erpc_core::ServerConfig::default()
        })
        .add_service(CenterServer::new(center.clone()));
    let dashboard_token = token.clone().map(|token| (token, args.protect_reads));
    if let Some(token) = token {
        tracing::info!(
            protect_reads = args.protect_reads,
            "the center requires a token for writes"
        );
        builder = builder.admission(erpc_center::auth::require_token(token, args.protect_reads));
    }
    let metrics = match metrics::listen(args.metrics_listen.as_deref(), &mut builder, &center).await
    {
        Ok(metrics) => metrics,
        Err(e) => return refuse(&e),
    };
    let dashboard = http::Options {
        token: dashboard_token,
        metrics: metrics.as_ref().and_then(|m| m.text()),
    };
    let dashboard = match http::listen(args.http.as_deref(), &center, dashboard).await {
        Ok(dashboard) => dashboard,
        Err(e) => return refuse(&e),
    };
    let server = match builder.serve(args.listen.iter().map(String::as_str)).await {
        Ok(server) => server,
        Err(e) => return refuse(&format!("--listen {}: {e}", args.listen.join(","))),
    };
    for addr in server.local_addrs() {
        // The first line a launcher can wait for.
        announce(&format!("erpc-center listening on {addr}"));
    }
    if let Some(url) = metrics.as_ref().and_then(|m| m.url()) {
        announce(&format!("erpc-center metrics on {url}"));
    }
    if let Some(dashboard) = &dashboard {
        announce(&format!("erpc-center dashboard on {}", dashboard.url()));
    }
    let signal = stop.recv().await;
    tracing::info!("{signal}: shutting down");
    if let Some(dashboard) = dashboard {
        dashboard.shutdown().await;
    }
    server.shutdown().await;
    tracing::info!("stopped");
    std::process::ExitCode::SUCCESS
}
