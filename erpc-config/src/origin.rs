//! Where loaded settings came from — the file, its text, the environment variables read over
//! it, and the settings' key — kept with the settings so that an error found after loading
//! (a client's per-method key checked against a typed client's methods, an address that
//! cannot be bound when telemetry starts) is named as a load's error is: by its file and
//! line, or by the variable that set it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{self, ConfigError};

/// Where a section of settings was loaded from. Set by [`crate::load`] on `client`, each of
/// `clients`, `center` and `telemetry`; empty for settings made in code. It takes no part in
/// comparisons: two settings with the same values are equal wherever they came from.
#[derive(Clone, Default)]
pub struct Origin(Option<Arc<Loaded>>);

struct Loaded {
    file: PathBuf,
    text: Arc<str>,
    /// The `ERPC_*` variables read over the file (none for a live value).
    env: Option<Arc<HashMap<String, String>>>,
    /// The section's key (`client`, `clients.billing`, `telemetry`).
    at: String,
}

impl Origin {
    /// The section at key `at` of the file `file` whose text is `text`, with the variables
    /// `env` read over it.
    pub(crate) fn file(
        file: PathBuf,
        text: Arc<str>,
        env: Option<Arc<HashMap<String, String>>>,
        at: String,
    ) -> Origin {
        Origin(Some(Arc::new(Loaded {
            file,
            text,
            env,
            at,
        })))
    }

    /// The section's key (`clients.billing`), or `default` for settings made in code.
    pub(crate) fn key_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.0.as_ref().map_or(default, |l| l.at.as_str())
    }

    /// An error at dotted `key` found after loading, named as the load would have named it:
    /// by the variable that set the key, else by the file and the key's line. Without an
    /// origin (settings made in code), by the key alone.
    pub(crate) fn locate(&self, key: String, reason: String) -> ConfigError {
        match &self.0 {
            Some(l) => error::located_in((key, reason), &l.file, &l.text, l.env.as_deref()),
            None => ConfigError::from((key, reason)),
        }
    }

    /// How a message names where the value of dotted `key` (`center.store`) came from, for
    /// a program that checks it after loading (erpc-center's start-up): `ERPC_CENTER__STORE
    /// (center.store)` for a value from a variable, `center.store in erpc.yaml:5` for one
    /// from the file; `None` when neither gave it (the default) or for settings made in code.
    pub fn name_of(&self, key: &str) -> Option<String> {
        let l = self.0.as_ref()?;
        if let Some(var) = error::env_source(l.env.as_deref(), key) {
            return Some(format!("{var} ({key})"));
        }
        let line = error::line_of(&l.text, key)?;
        Some(format!("{key} in {}:{line}", l.file.display()))
    }

    /// The settings loaded again from the same file and variables — to tell whether a
    /// section was changed in code since, in which case neither names its values. `None`
    /// without an origin, or if they no longer load (a file the settings name was changed).
    #[cfg(feature = "telemetry")]
    pub(crate) fn reload(&self) -> Option<crate::Settings> {
        let l = self.0.as_ref()?;
        crate::parse(&l.text, &l.file, l.env.as_deref().cloned()).ok()
    }
}

impl PartialEq for Origin {
    fn eq(&self, _: &Origin) -> bool {
        true
    }
}

impl Eq for Origin {}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(loaded) => write!(f, "{} in {}", loaded.at, loaded.file.display()),
            None => f.write_str("code"),
        }
    }
}
