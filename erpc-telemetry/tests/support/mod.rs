//! Shared parts of the telemetry tests.

pub mod captured;
pub mod otlp;
