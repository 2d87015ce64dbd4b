//! Why a command failed, and the exit code a script sees for it.

use erpc_core::Status;

/// A failed command: printed on stderr as one line a person can act on.
#[derive(Debug)]
pub enum Failure {
    /// Bad input: arguments, JSON, an unknown service or method. Exit code 2.
    Usage(String),
    /// The call (or the center, or the connection) failed with this status. Exit code 1;
    /// stderr says `CODE: message` (`unavailable: connection refused by tcp://…`).
    Call(Status),
    /// A command with exit codes of its own (`erpc health`, as `grpc_health_probe`):
    /// this code, and this line on stderr (none if empty).
    Exit(u8, String),
}

impl Failure {
    /// Exit code 2 with `message`.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::Usage(message.into())
    }

    /// The process exit code: 1 for a failed call, 2 for bad input, or the command's own.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Call(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Exit(code, _) => *code,
        }
    }

    /// The line printed on stderr (empty: none): a failed call's status without the redial
    /// note a long-lived client's would carry (`Status::message_without_redial_note`).
    pub fn line(&self) -> String {
        match self {
            Failure::Usage(message) => format!("erpc: {message}"),
            // Without the client's "; retrying in 236 ms": this process exits now.
            Failure::Call(status) => format!(
                "{}: {}",
                status.code(),
                status.message_without_redial_note()
            ),
            Failure::Exit(_, line) => line.clone(),
        }
    }

    /// The same failure, exiting with `code` (its line unchanged).
    pub fn with_code(self, code: u8) -> Failure {
        let line = self.line();
        Failure::Exit(code, line)
    }
}

impl From<Status> for Failure {
    fn from(status: Status) -> Failure {
        Failure::Call(status)
    }
}

/// Parse `text` as JSON, saying where it is not: `what` names the input (`the request`,
/// `stdin line 3`).
pub fn parse_json(text: &str, what: &str) -> Result<serde_json::Value, Failure> {
    // serde_json's message ends with the position: "… at line 1 column 10".
    serde_json::from_str(text).map_err(|e| Failure::usage(format!("{what} is not JSON: {e}")))
}

/// [`parse_json`] for one line of a JSON-lines input (`what`: `stdin line 2`): the position is
/// given as a column only, since serde_json's "line 1" would contradict the line `what` names.
pub fn parse_json_line(line: &str, what: &str) -> Result<serde_json::Value, Failure> {
    serde_json::from_str(line).map_err(|e| {
        let message = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let reason = message.strip_suffix(&suffix).unwrap_or(&message);
        Failure::usage(format!(
            "{what} is not JSON: {reason} at column {}",
            e.column()
        ))
    })
}
