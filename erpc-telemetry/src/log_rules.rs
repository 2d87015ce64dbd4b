//! What a log filter and a log file's directory and prefix may be: the one set of rules
//! `logs::layer`/`logs::init`, `LogGuard::set_filter`/`follow_filter` and erpc-config's
//! `telemetry.logging` check apply, so a value refused live is refused at start-up too, with
//! the same words.
//!
//! **Filter.** `EnvFilter` directives separated by commas: `LEVEL` (the default level),
//! `TARGET=LEVEL` (`erpc_core=debug`, `erpc::access=off`), or a span form
//! (`[span{field=value}]=LEVEL`). The levels are `trace`, `debug`, `info`, `warn`, `error` and
//! `off`, in any case. Stricter than `EnvFilter` in two ways, for two mistakes it takes
//! silently:
//!
//! - an empty or blank filter is refused (`EnvFilter` reads it as "nothing at all": every
//!   line off, the refusal of a later bad value included); write `off` to turn logs off;
//! - a bare word must be a level: `EnvFilter` reads any other bare word (`debg`, `infoo`,
//!   `LOUD`) as a *target* to log at every level, with no default level — so a misspelt level
//!   turns every other line off. A target is written `TARGET=LEVEL`; a bare module path with
//!   `::` (`my_app::db`, every level of that module) is still taken, a typo is unlikely there.
//!
//! Spaces around each directive are dropped (`"warn, erpc_core=debug"`; `EnvFilter` would
//! take `" erpc_core"`, with its space, as the target and match nothing).
//!
//! **Files.** The directory must be given (`"."` for the current one); the prefix must be a
//! non-empty file-name start, without `/`, `\` or NUL (it cannot reach another directory).

use std::path::Path;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{Directive, LevelFilter};

/// The level names a bare directive may be.
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// `filter` parsed under the rules above (the module's documentation), or why not: a
/// sentence naming the directive at fault, e.g. `"debg" is not a level (did you mean
/// debug?) …`.
///
/// # Errors
/// The reason, to be shown after the filter and the key it came from.
pub fn parse_filter(filter: &str) -> Result<EnvFilter, String> {
    let directives: Vec<&str> = filter
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if directives.is_empty() {
        return Err(
            "it is empty: write a level (trace, debug, info, warn, error; off for no logs), \
             optionally followed by TARGET=LEVEL directives, e.g. \"info,erpc_core=debug\""
                .to_owned(),
        );
    }
    if let Some(word) = directives.iter().find(|d| !is_directive_shaped(d)) {
        // A level in quotes (`'"info"'` from a shell or a YAML value quoted twice): say so,
        // rather than suggest a target named with its quotes.
        let bare = word.trim_matches(['"', '\'']);
        if bare != *word && LEVELS.contains(&bare.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "{word:?} is a level in quotes: write {bare} without them"
            ));
        }
        let hint = nearest_level(word).map_or(String::new(), |l| format!(" (did you mean {l}?)"));
        return Err(format!(
            "{word:?} is not a level{hint}: a bare word must be one of trace, debug, info, \
             warn, error, off; a module is written TARGET=LEVEL, e.g. \"{word}=debug\""
        ));
    }
    // Each directive alone first, so the error names the one at fault (EnvFilter's own
    // error does not say which).
    for directive in &directives {
        if let Err(e) = directive.parse::<Directive>() {
            return Err(format!("{directive:?} does not parse: {e}"));
        }
    }
    EnvFilter::try_new(directives.join(",")).map_err(|e| e.to_string())
}

/// [`parse_filter`] without keeping the result (a configuration check).
///
/// # Errors
/// As [`parse_filter`].
pub fn check_filter(filter: &str) -> Result<(), String> {
    parse_filter(filter).map(drop)
}

/// A log file directory, or why not: it must be given (an empty one wrote to the current
/// directory and broke the pruning of old files).
///
/// # Errors
/// The reason.
pub fn check_directory(directory: &Path) -> Result<(), String> {
    if directory.as_os_str().is_empty() || directory.to_string_lossy().trim().is_empty() {
        return Err("is empty: name the directory (\".\" for the current one)".to_owned());
    }
    Ok(())
}

/// A log file prefix, or why not: non-empty, and a plain file-name start — no `/`, `\` or NUL
/// (a separator made a subdirectory; an empty prefix named files by their date alone).
///
/// # Errors
/// The reason.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.trim().is_empty() {
        return Err(format!(
            "{prefix:?} is empty: files are named PREFIX.DATE.log, e.g. \"app\""
        ));
    }
    if prefix.contains(['/', '\\', '\0']) {
        return Err(format!(
            "{prefix:?} is not a file name start (no /, \\ or NUL): put the path in directory"
        ));
    }
    Ok(())
}

/// A level, `TARGET=LEVEL`, a span form (`[...]`), or a module path (`a::b`): anything but a
/// bare word that is not a level.
fn is_directive_shaped(directive: &str) -> bool {
    directive.contains(['=', '['])
        || directive.contains("::")
        || directive.parse::<LevelFilter>().is_ok()
}

/// The level `word` most likely meant: within two edits, or one's start of the other
/// (`warning`, `err`).
fn nearest_level(word: &str) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    if word.len() >= 3 {
        if let Some(level) = LEVELS
            .iter()
            .find(|l| word.starts_with(**l) || l.starts_with(word.as_str()))
        {
            return Some(level);
        }
    }
    LEVELS
        .iter()
        .map(|l| (strsim::levenshtein(&word, l), *l))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, l)| l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_level_is_named_as_one() {
        let reason = parse_filter("\"info\"").expect_err("quoted");
        assert_eq!(
            reason,
            "\"\\\"info\\\"\" is a level in quotes: write info without them"
        );
    }

    #[test]
    fn levels_targets_and_module_paths_are_taken() {
        for ok in [
            "info",
            "INFO",
            "off",
            "warn,erpc_core=debug,erpc::access=off",
            "warn, erpc_core=debug",
            "info,",
            "my_app::db",
            "[call]=debug",
            "info,[call{id=1}]=trace",
        ] {
            assert!(
                parse_filter(ok).is_ok(),
                "{ok}: {:?}",
                parse_filter(ok).err()
            );
        }
    }

    /// Each value EnvFilter took silently and that turned logging off or did nothing.
    #[test]
    fn empty_and_bare_non_level_words_are_refused_naming_them() {
        let refused = |f: &str| parse_filter(f).expect_err(f);
        for empty in ["", "   ", ",", " , "] {
            assert!(refused(empty).starts_with("it is empty"), "{empty:?}");
        }
        let e = refused("debg");
        assert!(
            e.contains("\"debg\" is not a level (did you mean debug?)"),
            "{e}"
        );
        assert!(refused("infoo").contains("did you mean info?"));
        assert!(refused("warning").contains("did you mean warn?"));
        assert!(refused("info,erpc_core").contains("\"erpc_core=debug\""));
        let e = refused("LOUD");
        assert!(e.contains("\"LOUD\" is not a level:"), "{e}");
        // Left to EnvFilter, which refuses them itself.
        let e = refused("info,erpc_core=loud");
        assert!(e.starts_with("\"erpc_core=loud\" does not parse"), "{e}");
        assert!(parse_filter("info,[").is_err());
    }

    #[test]
    fn file_directory_and_prefix_must_be_plain() {
        assert!(check_directory(Path::new("")).is_err());
        assert!(check_directory(Path::new("  ")).is_err());
        assert!(check_directory(Path::new(".")).is_ok());
        assert!(check_prefix("").is_err());
        assert!(check_prefix("a/b").unwrap_err().contains("\"a/b\""));
        assert!(check_prefix("a\\b").is_err());
        assert!(check_prefix("app").is_ok());
    }
}
