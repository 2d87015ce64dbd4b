//! Helpers of the config tests: a YAML file written to a temporary path, and the error its
//! load gives.

#![allow(dead_code)]

use erpc_config::{ConfigError, load_with_env};

pub fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

pub fn written(yaml: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("tmp");
    std::fs::write(file.path(), yaml).expect("written");
    file
}

/// The error loading `yaml` gives, as (key, line, message).
pub fn error_of(yaml: &str, env: Vec<(String, String)>) -> (String, Option<usize>, String) {
    let file = written(yaml);
    match load_with_env(file.path(), env) {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(e @ ConfigError::Key { .. }) => {
            let message = e.to_string();
            let ConfigError::Key {
                key, line, file: f, ..
            } = e
            else {
                unreachable!()
            };
            if line.is_some() {
                assert_eq!(f.as_deref(), Some(file.path()), "{message}");
                assert!(
                    message.contains(&file.path().display().to_string()),
                    "{message}"
                );
            }
            (key, line, message)
        }
        Err(e) => panic!("not a key error: {e}"),
    }
}
