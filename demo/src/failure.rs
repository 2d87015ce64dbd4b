//! How the demo's binaries end when they fail: the failure's message on stderr and exit
//! status 1, as the `erpc` command line prints it — a status as `code: message`
//! (`unavailable: the center at tcp://127.0.0.1:7070: cannot connect …`), anything else after
//! the program's name. Returning an `Err` from `main` would print Rust's `Debug` form
//! instead (`Error: Status { code: Unavailable, … }`), which names types, not the problem.

use std::process::ExitCode;

use erpc_center::env_flags::{self, Sources};

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

/// The arguments of binary `A`, and where their values came from: a failure names a flag
/// its environment variable gave (`ERPC_DEMO_CENTER (--center) …`) by that variable
/// ([`exit_named`]), as clap's own refusals do (a tip naming it).
pub fn parse<A: clap::Parser>() -> (A, Sources) {
    let command = A::command();
    let matches = env_flags::get_matches(command.clone());
    let args = A::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    (args, Sources::of(&command, &matches))
}

/// [`exit`], with each flag the failure names whose value came from a variable named by it.
pub fn exit_named(program: &str, sources: &Sources, outcome: Result<(), Failure>) -> ExitCode {
    exit(
        program,
        outcome.map_err(|error| -> Failure {
            match error.downcast_ref::<erpc::Status>() {
                Some(status) => Box::new(erpc::Status::new(
                    status.code(),
                    sources.named_in(status.message()),
                )),
                None => sources.named_in(&error.to_string()).into(),
            }
        }),
    )
}
