//! Log lines the non-blocking writer dropped, counted and said. The writer never makes a
//! caller wait: when its queue (128,000 lines) is full — a slow disk, a stderr nobody reads
//! — tracing-appender drops the line and only counts it. A thread looks at that count every
//! [`EVERY`] and logs a WARN when it grew (through the process's global subscriber, the one
//! `logs::init` and `TelemetrySettings::start` install), and the guard's drop says the
//! total not yet said on stderr, as the writer is gone by then.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_appender::non_blocking::ErrorCounter;

/// How often the count is looked at.
const EVERY: Duration = Duration::from_secs(10);

/// The watching thread; stopped (and the rest said) when dropped.
pub(crate) struct DroppedLines {
    counter: ErrorCounter,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<usize>>,
}

impl DroppedLines {
    /// Watch `counter` (the writer's), saying what it drops with a WARN every [`EVERY`].
    pub(crate) fn watch(counter: ErrorCounter) -> DroppedLines {
        DroppedLines::watch_with(counter, EVERY, |dropped| {
            tracing::warn!(
                dropped,
                "{dropped} log line{} dropped in the last {}s: the log writer's queue was full \
                 (a slow disk, or a stderr nobody reads fast enough)",
                if dropped == 1 { "" } else { "s" },
                EVERY.as_secs()
            );
        })
    }

    /// Watch `counter`, telling `say` the lines dropped since it was last told, every
    /// `every`.
    fn watch_with(
        counter: ErrorCounter,
        every: Duration,
        say: impl Fn(usize) + Send + 'static,
    ) -> DroppedLines {
        let (stop, stopped) = mpsc::channel::<()>();
        let watched = counter.clone();
        let thread = std::thread::Builder::new()
            .name("erpc-log-drops".into())
            .spawn(move || {
                let mut said = 0;
                // Until the guard drops the sender.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let dropped = watched.dropped_lines();
                    if dropped > said {
                        say(dropped - said);
                        said = dropped;
                    }
                }
                said
            })
            .ok();
        DroppedLines {
            counter,
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for DroppedLines {
    fn drop(&mut self) {
        drop(self.stop.take());
        let said = self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0);
        let dropped = self.counter.dropped_lines();
        if dropped > said {
            eprintln!(
                "erpc logs: {} log line{} dropped and not yet reported: the log writer's queue \
                 was full",
                dropped - said,
                if dropped - said == 1 { "" } else { "s" }
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A writer that never finishes a write: the disk that does not keep up.
    struct Stuck;

    impl Write for Stuck {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(0)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_dropped_at_a_full_queue_are_said() {
        let (mut writer, _guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .buffered_lines_limit(4)
            .finish(Stuck);
        let told = Arc::new(Mutex::new(Vec::new()));
        let sink = told.clone();
        let watch = DroppedLines::watch_with(
            writer.error_counter(),
            Duration::from_millis(20),
            move |n| sink.lock().expect("not poisoned").push(n),
        );
        for _ in 0..100 {
            let _ = writer.write_all(b"a line\n");
        }
        let dropped = writer.error_counter().dropped_lines();
        assert!(dropped >= 90, "{dropped}");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while told.lock().expect("not poisoned").iter().sum::<usize>() < dropped {
            assert!(std::time::Instant::now() < deadline, "never said");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(watch);
        assert_eq!(
            told.lock().expect("not poisoned").iter().sum::<usize>(),
            dropped
        );
    }
}
