//! How the demo's binaries end when they fail: the failure's message on stderr and exit
//! status 1, as the `erpc` command line prints it — a status as `code: message`
//! (`unavailable: the center at tcp://127.0.0.1:7070: cannot connect …`), anything else after
//! the program's name. Returning an `Err` from `main` would print Rust's `Debug` form
//! instead (`Error: Status { code: Unavailable, … }`), which names types, not the problem.

use std::process::ExitCode;

/// What a demo binary's work fails with.
pub type Failure = Box<dyn std::error::Error>;

/// Exit status 0 after `outcome` succeeded; else its message on stderr and status 1. A
/// status prints as `code: message`; another error as `program: message`.
pub fn exit(program: &str, outcome: Result<(), Failure>) -> ExitCode {
    let Err(error) = outcome else {
        return ExitCode::SUCCESS;
    };
    match error.downcast_ref::<erpc::Status>() {
        Some(status) => eprintln!("{status}"),
        None => eprintln!("{program}: {error}"),
    }
    ExitCode::FAILURE
}
