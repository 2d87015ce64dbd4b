//! The end-to-end comparison of erpc with tonic, tarpc and a raw multiplexed ceiling, as
//! described in `../shared/BENCHMARKS.md`; run it with `benches/e2e.sh`.
//!
//! # Layout
//! - [`message`]: the benchmark message in each stack's form.
//! - [`load`]: the closed-loop load generator and its report.
//! - [`stacks`]: one module per stack, each with a server and a caller.

pub mod load;
pub mod message;
pub mod stacks;
