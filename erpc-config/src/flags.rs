//! `true` and `false` only where an on/off key goes. The `config` crate reads `true` as 1
//! and `false` as 0 where a number goes, so `max_in_flight: true` (or
//! `ERPC_SERVER__MAX_IN_FLIGHT=true`, or a live `{rate: true}`) loaded as 1 without a word.
//!
//! Which keys take a flag is asked of the settings types (`probe.rs`), as for lists: the
//! flag is replaced by a text that is no flag and the settings read again — an on/off key
//! refuses it for not being a boolean, a text key takes it; any other key is a number's.

use std::path::Path;

use config::{Value, ValueKind};

use crate::Settings;
use crate::error::ConfigError;
use crate::probe;

/// The first `true`/`false` (by key) at a key that takes a number, as (key, reason), after
/// `root` was read (`read`; nothing is looked for when it failed: its own error stands).
pub(crate) fn misplaced(
    root: &Value,
    read: &Result<Settings, ConfigError>,
    path: &Path,
    text: &str,
) -> Option<(String, String)> {
    read.as_ref().ok()?;
    let flags = probe::nodes(root, |v| matches!(v.kind, ValueKind::Boolean(_)));
    flags.into_iter().find_map(|flag| {
        let reason = probe::refusal(
            root,
            &flag,
            ValueKind::String("an erpc probe, not a flag".into()),
            path,
            text,
        )?;
        (!reason.contains("boolean")).then(|| {
            (
                flag.key,
                "expected a number, found a boolean (true and false are for on/off keys)"
                    .to_owned(),
            )
        })
    })
}
