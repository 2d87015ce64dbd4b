//! The signals that ask a server process to stop, for binaries to wait on before their
//! graceful shutdown (deregistration, GOAWAY, drain): SIGINT (Ctrl-C) and SIGTERM (what
//! `kill`, systemd and container runtimes send) — Ctrl-C alone where there are no Unix
//! signals.

use std::io;

/// SIGINT and SIGTERM, caught from the moment [`ShutdownSignals::listen`] returns: a signal
/// that comes while the server is still starting waits here instead of killing the process.
///
/// ```no_run
/// # use erpc_core as erpc;
/// # async fn run(server: erpc::ServerHandle) -> std::io::Result<()> {
/// let mut stop = erpc::ShutdownSignals::listen()?; // before serving
/// // … serve …
/// let which = stop.recv().await;
/// eprintln!("{which}: shutting down");
/// server.shutdown().await; // deregisters, sends GOAWAY, drains
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Start catching the signals (needs a tokio runtime). Fails only if the process cannot
    /// install signal handlers.
    pub fn listen() -> io::Result<ShutdownSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignals {})
    }

    /// Wait for the next signal; its name (`"SIGINT"`, `"SIGTERM"`, or `"Ctrl-C"` off Unix).
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            // A failed Ctrl-C handler would never fire: treat it as the signal, not a hang.
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
