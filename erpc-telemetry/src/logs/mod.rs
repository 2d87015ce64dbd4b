//! Structured logs: human-readable or JSON lines, a level per module (`EnvFilter`
//! directives), to stderr or to files rotated hourly or daily with the number kept bounded,
//! written by a background thread so a call never waits on the disk; and the access log, a
//! line per call.
//!
//! ```no_run
//! use erpc_telemetry::logs::{self, LogConfig, LogFormat, LogOutput, Rotation};
//!
//! let _guard = logs::init(&LogConfig {
//!     format: LogFormat::Json,
//!     filter: "info,erpc_core=debug".into(),
//!     output: LogOutput::Files {
//!         directory: "/var/log/checkout".into(),
//!         prefix: "checkout".into(),
//!         rotation: Rotation::Daily,
//!         max_files: 7,
//!     },
//! })
//! .expect("logging set up");
//! ```

mod access;
mod dropped_lines;
mod pruned;
#[cfg(feature = "otel")]
mod trace_ids;

pub use access::{AccessLog, AccessLogService};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

/// How each line looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `2026-11-30T14:00:00.000000Z  INFO erpc::access: ...` (default); coloured only when
    /// written to stderr and stderr is a terminal.
    #[default]
    Human,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (the message and
    /// the event's fields), and `spans` (the spans it happened in). With the `otel` feature,
    /// also `trace_id` and `span_id` (W3C hex) when the event happened in an OpenTelemetry
    /// context: inside a traced call's span (or a span of its handler's), the nearest such
    /// span's ids; inside an unsampled call (no span: its handler runs in the caller's
    /// context), the trace id and the caller's span id. Lines outside any call have neither.
    Json,
}

/// How often a log file is closed and a new one started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rotation {
    /// A file per hour: `PREFIX.YYYY-MM-DD-HH.log`.
    Hourly,
    /// A file per day: `PREFIX.YYYY-MM-DD.log` (default).
    #[default]
    Daily,
    /// One file, `PREFIX.log`, never rotated.
    Never,
}

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LogOutput {
    /// Standard error (default).
    #[default]
    Stderr,
    /// Files in `directory` (created if missing), named from `prefix`, rotated by `rotation`
    /// (by time only: there is no rotation by size); at most `max_files` are kept, counting
    /// the one being written — the oldest (by the date in the name) deleted at start-up and
    /// as a new one starts, a restart within a period keeping as many (0 = keep all).
    Files {
        /// Where the files are written: not empty (`"."` for the current directory).
        directory: PathBuf,
        /// The start of each file's name: not empty, no `/`, `\` or NUL.
        prefix: String,
        /// When a new file starts.
        rotation: Rotation,
        /// How many files to keep.
        max_files: usize,
    },
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Human or JSON lines.
    pub format: LogFormat,
    /// Which events to keep: `EnvFilter` directives, e.g. `"info"` (the default),
    /// `"warn,erpc_core=debug,erpc::access=info"`, under [`crate::log_rules`]: not empty
    /// (`"off"` for no logs), and a bare word must be a level (`"debg"` is refused, where
    /// `EnvFilter` would take it as a target and turn every other line off).
    pub filter: String,
    /// Stderr or rotated files.
    pub output: LogOutput,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            filter: "info".to_owned(),
            output: LogOutput::Stderr,
        }
    }
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogSetupError {
    /// The filter is empty, has a bare word that is not a level, or a directive that does
    /// not parse ([`crate::log_rules::parse_filter`]).
    #[error("log filter {filter:?}: {reason}")]
    Filter {
        /// The filter as given.
        filter: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The log directory is empty or could not be created or written, or the prefix is
    /// empty or holds a path separator (the reason says which).
    #[error("log files in {directory:?}: {reason}")]
    Files {
        /// The directory as given.
        directory: PathBuf,
        /// The error.
        reason: String,
    },
    /// A global `tracing` subscriber was already installed.
    #[error("a global tracing subscriber is already set: {0}")]
    SubscriberSet(String),
}

/// Keeps the background writer running; dropping it flushes what is buffered. Keep it until
/// the end of `main`. It also changes the filter while the program runs
/// ([`LogGuard::set_filter`], [`LogGuard::follow_filter`]).
pub struct LogGuard {
    // Dropped first: its last report reads the writer's count before the writer goes.
    _dropped: dropped_lines::DroppedLines,
    _worker: WorkerGuard,
    reload: Arc<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGuard").finish_non_exhaustive()
    }
}

impl LogGuard {
    /// Replace the filter (`EnvFilter` directives, as [`LogConfig::filter`], under the same
    /// rules) from now on.
    ///
    /// # Errors
    /// [`LogSetupError::Filter`] for an empty filter, a bare word that is not a level, or a
    /// directive that does not parse, naming it; the old filter stays.
    pub fn set_filter(&self, filter: &str) -> Result<(), LogSetupError> {
        let parsed = parse_filter(filter)?;
        (self.reload)(parsed).map_err(|reason| LogSetupError::Filter {
            filter: filter.to_owned(),
            reason,
        })
    }

    /// Follow `key` in a live configuration map — the center's, from
    /// `CenterRegistry::follow_config(prefix)`, or any `watch` of a key-value map: each new
    /// value becomes the filter. A value [`LogConfig::filter`]'s rules refuse — empty or
    /// blank, a bare word that is not a level (`debg`), a directive that does not parse — is
    /// refused and logged (WARN on target `erpc_telemetry::logs`, naming the key, the value
    /// and why, once per value); the filter in force stays, so the warning shows unless that
    /// filter hides WARN. A key that disappears leaves the filter as it is. Runs until the
    /// map's sender is dropped; needs a Tokio runtime.
    pub fn follow_filter(
        &self,
        mut config: tokio::sync::watch::Receiver<Arc<BTreeMap<String, String>>>,
        key: impl Into<String>,
    ) -> tokio::task::JoinHandle<()> {
        let key = key.into();
        let reload = self.reload.clone();
        tokio::spawn(async move {
            let mut applied: Option<String> = None;
            // The last value refused: a change to another key of the map does not repeat its
            // warning.
            let mut refused: Option<String> = None;
            loop {
                let value = config.borrow_and_update().get(&key).cloned();
                if let Some(value) =
                    value.filter(|v| applied.as_ref() != Some(v) && refused.as_ref() != Some(v))
                {
                    match crate::log_rules::parse_filter(&value) {
                        Ok(parsed) => match reload(parsed) {
                            Ok(()) => {
                                tracing::info!(%key, filter = %value, "log filter changed");
                                applied = Some(value);
                                refused = None;
                            }
                            Err(e) => tracing::warn!(%key, "log filter not changed: {e}"),
                        },
                        Err(reason) => {
                            tracing::warn!(
                                %key,
                                value = ?value,
                                "log filter refused, the one in force stays: {reason}"
                            );
                            refused = Some(value);
                        }
                    }
                }
                if config.changed().await.is_err() {
                    return;
                }
            }
        })
    }
}

/// The `tracing` layer `config` describes (format, filter, output) and the guard of its
/// writer: add the layer to your own `tracing_subscriber::registry()` — next to
/// [`crate::trace::otlp::layer`], for example.
///
/// # Errors
/// [`LogSetupError::Filter`] for a filter [`LogConfig::filter`]'s rules refuse, naming the
/// directive; [`LogSetupError::Files`] for an empty directory, an empty prefix or one with a
/// path separator, or a directory that cannot be created.
pub fn layer<S>(
    config: &LogConfig,
) -> Result<(Box<dyn Layer<S> + Send + Sync + 'static>, LogGuard), LogSetupError>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    let filter = parse_filter(&config.filter)?;
    let (writer, worker) = match &config.output {
        LogOutput::Stderr => tracing_appender::non_blocking(std::io::stderr()),
        LogOutput::Files {
            directory,
            prefix,
            rotation,
            max_files,
        } => {
            // Refused before anything is created: an empty directory wrote to the current
            // one (and tracing-appender's pruning failed on it, printing a raw OS error); a
            // prefix with a separator made a subdirectory, an empty one date-only names.
            let bad_files = |reason: String| LogSetupError::Files {
                directory: directory.clone(),
                reason,
            };
            crate::log_rules::check_directory(directory).map_err(bad_files)?;
            crate::log_rules::check_prefix(prefix)
                .map_err(|reason| bad_files(format!("prefix {reason}")))?;
            let builder = tracing_appender::rolling::Builder::new()
                .rotation(match rotation {
                    Rotation::Hourly => tracing_appender::rolling::Rotation::HOURLY,
                    Rotation::Daily => tracing_appender::rolling::Rotation::DAILY,
                    Rotation::Never => tracing_appender::rolling::Rotation::NEVER,
                })
                .filename_prefix(prefix.clone())
                .filename_suffix(pruned::SUFFIX);
            // Created here first: tracing-appender prunes old files before it creates the
            // directory, and prints a stray "Error reading the log directory" to stderr
            // when it is missing (and again before the real error for a bad directory).
            std::fs::create_dir_all(directory).map_err(|e| LogSetupError::Files {
                directory: directory.clone(),
                reason: format!("cannot create the directory: {e}"),
            })?;
            let files = builder.build(directory).map_err(|e| LogSetupError::Files {
                directory: directory.clone(),
                reason: e.to_string(),
            })?;
            // Kept to `max_files` here, not by tracing-appender's `max_log_files` (one file
            // too few after a restart within a period: see `pruned`).
            let hourly = match rotation {
                Rotation::Hourly => Some(true),
                Rotation::Daily => Some(false),
                Rotation::Never => None,
            };
            match hourly.filter(|_| *max_files > 0) {
                Some(hourly) => tracing_appender::non_blocking(pruned::Pruned::new(
                    files,
                    pruned::Pruner {
                        directory: directory.clone(),
                        prefix: prefix.clone(),
                        hourly,
                        max_files: *max_files,
                    },
                )),
                None => tracing_appender::non_blocking(files),
            }
        }
    };
    // Lines dropped at a full queue are counted by the writer: said, not lost in silence.
    let dropped = dropped_lines::DroppedLines::watch(writer.error_counter());
    // Colours only for a person reading a terminal: not in files, nor in a redirected stderr.
    let ansi = matches!(config.output, LogOutput::Stderr)
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    // The filter is reloadable, so it can change while the program runs.
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let reload = Arc::new(move |new: EnvFilter| handle.reload(new).map_err(|e| e.to_string()));
    let layer = match config.format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => {
            let json = tracing_subscriber::fmt::layer().json();
            // The call's trace and span ids on each line logged inside one.
            #[cfg(feature = "otel")]
            let json = json.event_format(trace_ids::WithTraceIds(
                tracing_subscriber::fmt::format().json(),
            ));
            json.with_writer(writer).with_filter(filter).boxed()
        }
    };
    Ok((
        layer,
        LogGuard {
            _dropped: dropped,
            _worker: worker,
            reload,
        },
    ))
}

/// [`LogConfig::filter`]'s rules applied, as a setup error naming the filter.
fn parse_filter(filter: &str) -> Result<EnvFilter, LogSetupError> {
    crate::log_rules::parse_filter(filter).map_err(|reason| LogSetupError::Filter {
        filter: filter.to_owned(),
        reason,
    })
}

/// [`layer`] installed as the global subscriber: logging alone, in one line.
///
/// # Errors
/// As [`layer`]; [`LogSetupError::SubscriberSet`] if a global subscriber exists.
pub fn init(config: &LogConfig) -> Result<LogGuard, LogSetupError> {
    let (layer, guard) = layer(config)?;
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .map_err(|e| LogSetupError::SubscriberSet(e.to_string()))?;
    Ok(guard)
}
