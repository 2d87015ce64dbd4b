//! `erpc`: the command line for any erpc service, without its code.
//!
//! ```text
//! erpc list     --center tcp://127.0.0.1:7070 [SERVICE] [--center-token T]
//! erpc list     tcp://127.0.0.1:7000 [SERVICE]           (as grpcurl ADDR list)
//! erpc watch    --center tcp://127.0.0.1:7070 [SERVICE]
//! erpc describe tcp://127.0.0.1:7000 [SERVICE]
//! erpc call     tcp://127.0.0.1:7000 Greeter.hello '"world"'
//! erpc call     tls://host:7443 Greeter.hello '"world"' --cacert ca.pem -H 'authorization: Bearer …'
//! erpc bench    tcp://127.0.0.1:7000 Greeter.hello '"world"' -c 64 -z 10s
//! erpc routes   show --center tcp://127.0.0.1:7070 Greeter
//! erpc routes   set  --center tcp://127.0.0.1:7070 Greeter rules.json
//! erpc config   set  --center tcp://127.0.0.1:7070 Greeter server.weight 40
//! erpc config   list --center tcp://127.0.0.1:7070 Greeter
//! ```
//!
//! Calls are made in JSON, or in MessagePack with `--codec msgpack` (the JSON request is
//! converted, and the answer back; servers answer in the codec they were asked in); the method's
//! call kind comes from the server's reflection (`erpc.Reflection`, PROTOCOL.md §16).
//! Exit codes: 0 done; 1 the call, the connection or the center failed (stderr:
//! `CODE: message`); 2 bad input (arguments, JSON, an unknown service or method). `erpc
//! health` uses grpc_health_probe's instead (`health::exit`).

mod bench;
mod call;
mod center;
mod config;
mod deadline;
mod describe;
mod events;
mod failure;
mod health;
mod hints;
mod reflect;
mod registry;
mod routes;
mod target;
mod tls;
mod token;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use erpc_core::CodecId;
use erpc_core::reflection::MethodKind;

use center::CenterArgs;
use deadline::Deadline;
use failure::Failure;
use target::Target;
use tls::TlsArgs;
use token::TokenArgs;

#[derive(Parser)]
#[command(
    name = "erpc",
    version,
    about = "Call, describe, list, watch and bench erpc services, and set their routing rules and live settings"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a call goes.
#[derive(clap::Args)]
struct TargetArgs {
    /// An address (tcp://HOST:PORT, unix:///PATH, …), or a service name with --center.
    target: String,
    /// The registry center to resolve a service name through.
    #[arg(long, env = "ERPC_CENTER")]
    center: Option<String>,
    /// The center's token, for resolving a name through a protected center.
    #[command(flatten)]
    token: TokenArgs,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    tls: TlsArgs,
}

/// What every call to a server carries, whatever the command.
#[derive(clap::Args, Clone)]
struct ServerArgs {
    /// Metadata sent with every call to the target (reflection and health included, so a
    /// server that authenticates every call can be reached), `key:value`; repeatable.
    #[arg(short = 'H', long = "header", value_name = "KEY:VALUE")]
    headers: Vec<String>,
}

impl TargetArgs {
    /// The `-H` metadata, or why a header is bad input.
    fn metadata(&self) -> Result<erpc_core::Metadata, Failure> {
        call::metadata(&self.server.headers)
    }
}

/// A method to call, where, with what: shared by `call` and `bench`.
#[derive(clap::Args)]
struct Invocation {
    #[command(flatten)]
    target: TargetArgs,
    /// SERVICE.METHOD
    method: String,
    /// The request as JSON (stdin if absent or `-`); for client and bidirectional streams,
    /// JSON lines.
    request: Option<String>,
    #[command(flatten)]
    call: CallArgs,
}

impl Invocation {
    /// The service, the method and the call options, or why they are bad input.
    fn parts(&self) -> Result<(&str, &str, erpc_core::CallOptions), Failure> {
        let (service, method) = call::split_method(&self.method)?;
        let metadata = self.target.metadata()?;
        let options = call::options(metadata, self.call.timeout, self.call.codec);
        Ok((service, method, options))
    }
}

/// What every call carries.
#[derive(clap::Args)]
struct CallArgs {
    /// The time the whole command has (`500ms`, `2s`, `1m`), more than zero: the dial, the
    /// reflection lookup made first and the call share it. Default: the client's, for each
    /// call (10 s; streams none).
    #[arg(long, value_parser = parse_timeout)]
    timeout: Option<Duration>,
    /// The codec the call is made in: `json` (default) or `msgpack`. The JSON request is
    /// converted to it and the answer back to JSON; the server answers in the codec asked.
    #[arg(long, value_parser = call::parse_codec, default_value = "json")]
    codec: CodecId,
}

/// `--timeout` of the commands that make one lookup (`describe`, `list`, `health`), as
/// grpc_health_probe's `-rpc-timeout`.
#[derive(clap::Args)]
struct TimeoutArg {
    /// The time the whole command has (`500ms`, `2s`, `1m`), more than zero: the dial and
    /// the lookup share it. Default: the client's (10 s).
    #[arg(long, value_parser = parse_timeout)]
    timeout: Option<Duration>,
}

#[derive(Subcommand)]
enum Command {
    /// The services registered at a center and their instances (address, weight, version,
    /// zone, metadata).
    ///
    /// `erpc list ADDR [SERVICE]` (an address, with a scheme) lists that server's services
    /// instead, or SERVICE's methods, from its reflection (as `grpcurl ADDR list`).
    #[command(
        override_usage = "erpc list [OPTIONS] ADDR [SERVICE]\n       erpc list [OPTIONS] [--center ADDR] [SERVICE]"
    )]
    List {
        /// An address (tcp://HOST:PORT, …): that server's services; or, with --center (the
        /// default center if not given), only the instances of this service.
        #[arg(value_name = "ADDR|SERVICE")]
        service: Option<String>,
        /// After an address: the service whose methods to list.
        #[arg(value_name = "SERVICE")]
        methods_of: Option<String>,
        #[command(flatten)]
        center: CenterArgs,
        #[command(flatten)]
        server: ServerArgs,
        /// One JSON object per instance; after an address, the names as a JSON array.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        timeout: TimeoutArg,
    },
    /// Registry changes as they happen (until interrupted).
    #[command(mut_arg("timeout", |a| a.help("The time the watch has to start (`500ms`, `2s`, `1m`), more than zero: the center's listing and the opening of the watch share it; once watching, it runs until interrupted. Default: the center client's (5 s)")))]
    Watch {
        /// Only this service.
        service: Option<String>,
        #[command(flatten)]
        center: CenterArgs,
        /// One JSON event per line: {"event":"register"|"update"|"deregister", "revision",
        /// "service", "id", and "instance" or "reason"} (README, "Tooling").
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        timeout: TimeoutArg,
    },
    /// A server's services and methods (call kinds, idempotency, types, schemas), from its
    /// reflection.
    Describe {
        #[command(flatten)]
        target: TargetArgs,
        /// Only this service.
        service: Option<String>,
        /// The reflection answer as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        timeout: TimeoutArg,
    },
    /// Call a method with a JSON request (argument, or stdin if absent or `-`); streams are
    /// JSON lines both ways.
    Call {
        #[command(flatten)]
        invocation: Invocation,
        /// The method's kind, for servers without reflection: unary, oneway,
        /// server_stream, client_stream, bidi_stream.
        #[arg(long, value_parser = parse_kind)]
        kind: Option<MethodKind>,
    },
    /// Load a unary method and report rate, latency percentiles, a latency histogram and
    /// status codes. Exits 1 (after the report) if no call succeeded.
    #[command(mut_arg("request", |a| a.help("The request every call sends, as JSON (stdin if absent or `-`)")))]
    #[command(mut_arg("timeout", |a| a.help("Each call's timeout (`500ms`, `2s`, `1m`), more than zero; the dial and the reflection lookup made first have as much. Default: the client's (10 s)")))]
    Bench {
        #[command(flatten)]
        invocation: Invocation,
        /// Concurrent callers.
        #[arg(short = 'c', long, default_value_t = 50)]
        concurrency: usize,
        /// How long to run (`10s`, `500ms`, `1m`).
        #[arg(short = 'z', long, value_parser = parse_duration, default_value = "10s")]
        duration: Duration,
        /// Stop after this many calls, if that comes first.
        #[arg(short = 'n', long)]
        total: Option<u64>,
        /// Connections to the target.
        #[arg(long, default_value_t = 1)]
        connections: usize,
        /// The report as JSON on stdout (no progress bar).
        #[arg(long)]
        json: bool,
    },
    /// A server's health from its built-in `erpc.Health` service, with grpc_health_probe's
    /// exit codes: prints `NAME: STATUS`; exits 0 SERVING, 1 bad arguments, 2 connection
    /// failed, 3 the check call failed, 4 not SERVING (NOT_SERVING, SERVICE_UNKNOWN).
    Health {
        #[command(flatten)]
        target: TargetArgs,
        /// Only this service (default: the service TARGET names, or the whole server at an
        /// address).
        service: Option<String>,
        #[command(flatten)]
        timeout: TimeoutArg,
    },
    /// A service's routing rules at a center (CENTER.md, "Routing rules"): show, set or
    /// delete the entry `erpc/routes/SERVICE`.
    Routes {
        #[command(subcommand)]
        action: RoutesAction,
    },
    /// A service's live settings at a center (CENTER.md, "Live settings"): get, set, list
    /// or delete the entries `erpc/config/SERVICE/SETTING` its running programs follow.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    // The HTTP/JSON gateway and the dashboard will be separate binaries.
}

#[derive(Subcommand)]
enum ConfigAction {
    /// The setting's value as stored. Exits 1 (not_found) if the center has none.
    Get {
        service: String,
        /// One of client.rate_limit, server.rate_limit, client.breaker.instance,
        /// client.breaker.method, server.weight, log_filter.
        setting: String,
        #[command(flatten)]
        center: CenterArgs,
    },
    /// Set a value (argument, or stdin if absent or `-`): YAML or JSON in the shape of the
    /// same key in a config file. Checked here as the service's programs will check it
    /// (exit 2 with their message) and by the center (exit 1).
    Set {
        service: String,
        /// One of client.rate_limit, server.rate_limit, client.breaker.instance,
        /// client.breaker.method, server.weight, log_filter.
        setting: String,
        /// The value, e.g. '{default: {rate: 100}}' or 40.
        // A negative number is a value to check (and refuse), not an unknown flag.
        #[arg(allow_negative_numbers = true)]
        value: Option<String>,
        /// Skip this command's check (the center's still applies): for settings a newer
        /// erpc knows and this one does not.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        center: CenterArgs,
    },
    /// The settings of SERVICE (of every service if absent), `KEY: VALUE` each.
    List {
        service: Option<String>,
        /// The entries as one JSON object, the center's keys to their values.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        center: CenterArgs,
    },
    /// Remove a setting: running programs keep the value in force until they restart.
    /// Exits 1 (not_found) if it is not there.
    Delete {
        service: String,
        setting: String,
        #[command(flatten)]
        center: CenterArgs,
    },
}

#[derive(Subcommand)]
enum RoutesAction {
    /// The rules as JSON, or a line saying there are none.
    Show {
        service: String,
        #[command(flatten)]
        center: CenterArgs,
    },
    /// Replace the rules with a JSON table (argument, or stdin if absent or `-`). Checked
    /// here (exit 2) and by the center against the registered instances (exit 1).
    Set {
        service: String,
        /// The table, e.g. '{"default":[{"subset":{"version":"1"},"weight":95},
        /// {"subset":{"version":"2"},"weight":5}]}'.
        rules: Option<String>,
        #[command(flatten)]
        center: CenterArgs,
    },
    /// Remove the rules: calls go to every instance again.
    Delete {
        service: String,
        #[command(flatten)]
        center: CenterArgs,
    },
}

/// [`parse_duration`], refusing zero: a call with no time at all fails `deadline_exceeded`
/// before it is sent, as the gateway refuses `x-erpc-timeout: 0`.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let timeout = parse_duration(text)?;
    if timeout.is_zero() {
        return Err(format!(
            "{text:?} leaves a call no time: give a timeout above zero, like 500ms"
        ));
    }
    Ok(timeout)
}

/// A duration in humantime's forms, as erpc's config files take them (`500ms`, `2s`, `1m`,
/// `1h`, `1.5s`, `1m30s`), or bare seconds (`5`, `0.5`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration like 500ms, 10s, 1m: {e}"))
}

fn parse_kind(text: &str) -> Result<MethodKind, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        format!("{text:?}: one of unary, oneway, server_stream, client_stream, bidi_stream")
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return bad_arguments(&error),
    };
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let failure = hints::for_cli(failure);
            let line = failure.line();
            if !line.is_empty() {
                eprintln!("{line}");
            }
            ExitCode::from(failure.exit_code())
        }
    }
}

/// Print clap's message (help and version on stdout, errors on stderr) and exit: 0 for help
/// and version, else 2 — or 1 for `erpc health`, whose exit codes are grpc_health_probe's.
fn bad_arguments(error: &clap::Error) -> ExitCode {
    let _ = error.print();
    if !error.use_stderr() {
        return ExitCode::SUCCESS;
    }
    let health = std::env::args()
        .nth(1)
        .is_some_and(|command| command == "health");
    ExitCode::from(if health {
        health::exit::BAD_ARGUMENTS
    } else {
        2
    })
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::List {
            service,
            methods_of,
            center,
            server,
            json,
            timeout,
        } => {
            let deadline = Deadline::new(timeout.timeout);
            match service {
                // An address, as grpcurl users write it: that server's services, by reflection.
                Some(addr) if Target::is_address(&addr) => {
                    let target = TargetArgs {
                        target: addr,
                        center: None,
                        token: TokenArgs::default(),
                        server,
                        tls: center.tls,
                    };
                    let metadata = target.metadata()?;
                    let client = deadline
                        .step(&connecting(&target), connect(&target, 1))
                        .await?;
                    let of = methods_of.as_deref().unwrap_or("");
                    deadline
                        .step(
                            &looking_up(of),
                            describe::list(&client, of, &metadata, json),
                        )
                        .await
                }
                service => {
                    if !server.headers.is_empty() {
                        return Err(Failure::usage(
                            "-H goes to a server (`erpc list ADDR -H …`); a center takes --center-token",
                        ));
                    }
                    if let Some(extra) = methods_of {
                        return Err(Failure::usage(format!(
                            "unexpected {extra:?}: `erpc list [SERVICE] --center ADDR` lists a center's instances, `erpc list ADDR [SERVICE]` a server's services or methods"
                        )));
                    }
                    deadline
                        .step(
                            &format!("listing the instances at the center {}", center.center),
                            registry::list(&center, service.as_deref().unwrap_or(""), json),
                        )
                        .await
                }
            }
        }
        Command::Watch {
            service,
            center,
            json,
            timeout,
        } => {
            // Without --timeout the center client's own 5 s bound the start, and say so.
            let deadline = timeout.timeout.map(|t| Deadline::new(Some(t)));
            registry::watch(&center, service.as_deref().unwrap_or(""), json, deadline).await
        }
        Command::Describe {
            target,
            service,
            json,
            timeout,
        } => {
            let deadline = Deadline::new(timeout.timeout);
            let metadata = target.metadata()?;
            let client = deadline
                .step(&connecting(&target), connect(&target, 1))
                .await?;
            let service = service.as_deref().unwrap_or("");
            deadline
                .step(
                    &looking_up(service),
                    describe::run(&client, service, &metadata, json),
                )
                .await
        }
        Command::Routes { action } => match action {
            RoutesAction::Show { service, center } => routes::show(&center, &service).await,
            RoutesAction::Set {
                service,
                rules,
                center,
            } => routes::set(&center, &service, rules.as_deref()).await,
            RoutesAction::Delete { service, center } => routes::delete(&center, &service).await,
        },
        Command::Config { action } => match action {
            ConfigAction::Get {
                service,
                setting,
                center,
            } => config::get(&center, &service, &setting).await,
            ConfigAction::Set {
                service,
                setting,
                value,
                force,
                center,
            } => config::set(&center, &service, &setting, value.as_deref(), force).await,
            ConfigAction::List {
                service,
                json,
                center,
            } => config::list(&center, service.as_deref(), json).await,
            ConfigAction::Delete {
                service,
                setting,
                center,
            } => config::delete(&center, &service, &setting).await,
        },
        Command::Health {
            target,
            service,
            timeout,
        } => {
            let deadline = Deadline::new(timeout.timeout);
            let setup = async {
                let metadata = target.metadata()?;
                let client = deadline
                    .step(&connecting(&target), connect(&target, 1))
                    .await?;
                Ok::<_, Failure>((client, metadata))
            };
            // Translated first, so an unknown scheme is bad arguments (1), not a failed connection.
            let (client, metadata) = setup
                .await
                .map_err(|f| health::setup_failure(hints::for_cli(f)))?;
            // A service called by name is the one checked (README: `erpc health --center
            // ADDR Shop` prints `Shop: SERVING`); an address alone checks the whole server.
            let service = match service.as_deref() {
                Some(service) => service,
                None if !Target::is_address(&target.target) => &target.target,
                None => "",
            };
            health::run(&client, service, metadata, &deadline).await
        }
        Command::Call { invocation, kind } => {
            let (service, method, mut options) = invocation.parts()?;
            // --timeout bounds the whole command: the dial, the reflection lookup, the call.
            let deadline = Deadline::new(invocation.call.timeout);
            let client = deadline
                .step(
                    &connecting(&invocation.target),
                    connect(&invocation.target, 1),
                )
                .await?;
            let kind = deadline
                .step(
                    &format!("looking up {service}'s methods by reflection"),
                    call::kind(&client, service, method, &options.metadata, kind),
                )
                .await?;
            if let Some(left) = deadline.left() {
                options.timeout = Some(left);
            }
            let request = invocation.request.as_deref();
            call::run(&client, service, method, kind, request, options)
                .await
                .map_err(|f| deadline.name(f, &format!("calling {service}.{method}")))
        }
        Command::Bench {
            invocation,
            concurrency,
            duration,
            total,
            connections,
            json,
        } => {
            // Zero of any of these would run nothing and print an empty report: refused, as
            // bad input, before dialling.
            let zero = [
                ("-c/--concurrency", concurrency == 0, "at least 1"),
                ("-z/--duration", duration.is_zero(), "longer than 0s"),
                ("-n/--total", total == Some(0), "at least 1"),
                ("--connections", connections == 0, "at least 1"),
            ];
            if let Some((flag, _, rule)) = zero.iter().find(|(_, zero, _)| *zero) {
                return Err(Failure::usage(format!("{flag} must be {rule}")));
            }
            let (service, method, options) = invocation.parts()?;
            let request = call::request(invocation.request.as_deref()).await?;
            // The dial and the lookup have what one call has (--timeout).
            let deadline = Deadline::new(invocation.call.timeout);
            let client = deadline
                .step(
                    &connecting(&invocation.target),
                    connect(&invocation.target, connections),
                )
                .await?;
            let kind = deadline
                .step(
                    &format!("looking up {service}'s methods by reflection"),
                    call::kind(&client, service, method, &options.metadata, None),
                )
                .await?;
            if kind != MethodKind::Unary {
                return Err(Failure::usage(format!(
                    "{service}.{method} is {kind}; erpc bench loads unary methods"
                )));
            }
            let load = bench::Load {
                concurrency,
                duration,
                total,
            };
            let report = bench::run(&client, service, method, request, options, load, json).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                bench::print(&report);
            }
            report.verdict()
        }
    }
}

/// The step of dialling `args`' target, for a deadline's message.
fn connecting(args: &TargetArgs) -> String {
    match &args.center {
        Some(center) if !Target::is_address(&args.target) => {
            format!("finding {}'s instances at the center {center}", args.target)
        }
        _ => format!("connecting to {}", args.target),
    }
}

/// The step of a reflection lookup of `service` (`""`: every service).
fn looking_up(service: &str) -> String {
    if service.is_empty() {
        "looking up the server's services by reflection".to_owned()
    } else {
        format!("looking up {service}'s methods by reflection")
    }
}

async fn connect(args: &TargetArgs, connections: usize) -> Result<erpc_core::Client, Failure> {
    Target {
        target: &args.target,
        center: args.center.as_deref(),
        token: token::read(&args.token)?,
        transport: tls::options(&args.tls, &args.target)?,
    }
    .connect(connections)
    .await
}
