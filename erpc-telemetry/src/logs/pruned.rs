//! Rotated log files kept to `max_files`, counting the one being written.
//!
//! tracing-appender's own `max_log_files` prunes to `max_files - 1` to make room for the
//! file it is about to create — also when the program starts again within a period, whose
//! file already exists and is appended to, so each restart keeps one file fewer than asked
//! (tokio-rs/tracing#3496). Here the file being written is never a candidate: at start and
//! at each rotation the newest `max_files - 1` others stay, the rest are deleted.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tracing_appender::rolling::RollingFileAppender;

/// What a directory's rotated files are, and how many to keep.
#[derive(Debug, Clone)]
pub(crate) struct Pruner {
    pub directory: PathBuf,
    pub prefix: String,
    /// Hourly (true) or daily files.
    pub hourly: bool,
    /// At least 1.
    pub max_files: usize,
}

/// The suffix tracing-appender is given (`PREFIX.DATE.log`).
pub(crate) const SUFFIX: &str = "log";

impl Pruner {
    /// The period of `at`, as the file names write it (UTC, as tracing-appender's clock):
    /// `2026-12-02` (daily) or `2026-12-02-14` (hourly).
    fn period(&self, at: SystemTime) -> String {
        let at = time::OffsetDateTime::from(at);
        let day = format!(
            "{:04}-{:02}-{:02}",
            at.year(),
            u8::from(at.month()),
            at.day()
        );
        if self.hourly {
            format!("{day}-{:02}", at.hour())
        } else {
            day
        }
    }

    /// When the period after `now`'s starts.
    pub(crate) fn next_period(&self, now: SystemTime) -> SystemTime {
        let length = if self.hourly { 3600 } else { 86_400 };
        let since = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        SystemTime::UNIX_EPOCH + Duration::from_secs((since / length + 1) * length)
    }

    /// Whether `name` is one of these rotated files: `PREFIX.DATE.log` with a date of this
    /// rotation's shape.
    fn is_ours(&self, name: &str) -> bool {
        let Some(date) = name
            .strip_prefix(&self.prefix)
            .and_then(|n| n.strip_prefix('.'))
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|n| n.strip_suffix('.'))
        else {
            return false;
        };
        let shape = if self.hourly {
            "0000-00-00-00"
        } else {
            "0000-00-00"
        };
        date.len() == shape.len()
            && date.bytes().zip(shape.bytes()).all(|(c, s)| {
                if s == b'-' {
                    c == b'-'
                } else {
                    c.is_ascii_digit()
                }
            })
    }

    /// Delete all but the newest `max_files - 1` files other than the one of `now`'s period
    /// (written now, or about to be). Newest by the date in the name, which does not depend
    /// on a file system's creation times. A file that cannot be listed or deleted is left
    /// (and said on stderr: the logs are what is being set up).
    pub(crate) fn prune(&self, now: SystemTime) {
        let current = format!("{}.{}.{SUFFIX}", self.prefix, self.period(now));
        let entries = match std::fs::read_dir(&self.directory) {
            Ok(entries) => entries,
            Err(e) => {
                eprintln!("erpc logs: cannot list {}: {e}", self.directory.display());
                return;
            }
        };
        let mut others: Vec<String> = entries
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                (e.file_type().ok()?.is_file() && self.is_ours(&name) && name != current)
                    .then_some(name)
            })
            .collect();
        // Newest first: the dates sort as text.
        others.sort_unstable_by(|a, b| b.cmp(a));
        for old in others.iter().skip(self.max_files.saturating_sub(1)) {
            let path = self.directory.join(old);
            if let Err(e) = std::fs::remove_file(&path) {
                eprintln!("erpc logs: cannot delete {}: {e}", path.display());
            }
        }
    }
}

/// tracing-appender's files, pruned by a [`Pruner`] as each period starts.
pub(crate) struct Pruned {
    inner: RollingFileAppender,
    pruner: Pruner,
    /// When the next period starts: the first write after it prunes.
    next: SystemTime,
}

impl Pruned {
    /// `inner` (built without `max_log_files`), pruned now and at each rotation.
    pub(crate) fn new(inner: RollingFileAppender, pruner: Pruner) -> Pruned {
        let now = SystemTime::now();
        pruner.prune(now);
        Pruned {
            inner,
            next: pruner.next_period(now),
            pruner,
        }
    }
}

impl Write for Pruned {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The appender starts the new period's file as it writes; then the old go. On the
        // writer's thread, never a caller's: one clock read per write.
        let written = self.inner.write(buf)?;
        let now = SystemTime::now();
        if now >= self.next {
            self.pruner.prune(now);
            self.next = self.pruner.next_period(now);
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("listed")
            .map(|e| e.expect("entry").file_name().into_string().expect("UTF-8"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_current_file_and_the_newest_others_are_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let pruner = Pruner {
            directory: dir.path().to_owned(),
            prefix: "app".into(),
            hourly: false,
            max_files: 3,
        };
        // 2026-12-02T10:00:00Z.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_205_600);
        assert_eq!(pruner.period(now), "2026-12-02");
        for day in 1..=6 {
            std::fs::write(dir.path().join(format!("app.2026-11-0{day}.log")), "x").expect("w");
        }
        // Not ours: other prefixes, shapes and suffixes stay whatever their age.
        for other in [
            "app.log",
            "app.2026-11-01-03.log",
            "apps.2026-11-01.log",
            "app.2026-11-01.txt",
        ] {
            std::fs::write(dir.path().join(other), "x").expect("w");
        }
        // A restart within the period: today's file exists and is written on.
        std::fs::write(dir.path().join("app.2026-12-02.log"), "x").expect("w");
        pruner.prune(now);
        assert_eq!(
            names(dir.path()),
            [
                "app.2026-11-01-03.log",
                "app.2026-11-01.txt",
                "app.2026-11-05.log",
                "app.2026-11-06.log",
                "app.2026-12-02.log",
                "app.log",
                "apps.2026-11-01.log",
            ]
        );
        // Again (another restart): nothing more goes.
        pruner.prune(now);
        assert_eq!(names(dir.path()).len(), 7);
    }

    #[test]
    fn periods_and_their_ends_are_utc_hours_or_days() {
        let hourly = Pruner {
            directory: PathBuf::new(),
            prefix: "a".into(),
            hourly: true,
            max_files: 2,
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_205_600 + 59 * 60);
        assert_eq!(hourly.period(now), "2026-12-02-10");
        assert_eq!(
            hourly.next_period(now),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_205_600 + 3600)
        );
        assert!(hourly.is_ours("a.2026-12-02-10.log"));
        assert!(!hourly.is_ours("a.2026-12-02.log"));
        let daily = Pruner {
            hourly: false,
            ..hourly
        };
        assert_eq!(
            daily.next_period(now),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_256_000)
        );
    }
}
