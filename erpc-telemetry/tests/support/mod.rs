//! Shared parts of the telemetry tests.

pub mod otlp;
