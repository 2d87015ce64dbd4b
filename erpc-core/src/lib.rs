//! placeholder
pub mod metadata;
pub mod protocol;
pub mod status;
