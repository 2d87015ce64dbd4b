//! Numbers as people read them in messages: durations (`2.0 s`, `235 ms`) and counts with
//! their noun (`1 call`, `3 calls`). Every user-facing message of erpc (errors, refusals,
//! logs) says durations and counts through these, never with `{:?}` (`1.999914621s`) or a
//! fixed plural (`1 calls`). Public so the crates built on erpc-core (gateway, center, CLI)
//! word theirs the same way.

use std::fmt;
use std::time::Duration;

/// A duration for a message: whole milliseconds below ten seconds, with a thousands
/// separator past 999 (`0 ms`, `235 ms`, `1,999 ms`), seconds with one decimal from ten
/// seconds on (`12.5 s`), whole minutes and seconds from ten minutes on (`12 min 5 s`).
/// Sub-millisecond durations read `0.4 ms` (one decimal), so a short wait is not `0 ms`.
///
/// ```
/// use std::time::Duration;
/// use erpc_core::human::duration;
///
/// assert_eq!(duration(Duration::from_micros(1_999_914)).to_string(), "1,999 ms");
/// assert_eq!(duration(Duration::from_millis(235)).to_string(), "235 ms");
/// assert_eq!(duration(Duration::from_millis(12_460)).to_string(), "12.5 s");
/// assert_eq!(duration(Duration::from_secs(725)).to_string(), "12 min 5 s");
/// ```
pub fn duration(d: Duration) -> impl fmt::Display {
    Human(d)
}

struct Human(Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return write!(f, "0 ms");
        }
        if d < Duration::from_millis(1) {
            let tenths = (d.as_micros() as f64 / 100.0).round() / 10.0;
            return write!(f, "{tenths:.1} ms");
        }
        if d < Duration::from_secs(10) {
            let ms = d.as_millis();
            return match ms {
                0..=999 => write!(f, "{ms} ms"),
                _ => write!(f, "{},{:03} ms", ms / 1000, ms % 1000),
            };
        }
        if d < Duration::from_secs(600) {
            return write!(f, "{:.1} s", d.as_secs_f64());
        }
        let secs = d.as_secs();
        write!(f, "{} min {} s", secs / 60, secs % 60)
    }
}

/// `n` and its noun, singular for one: `count(1, "call")` is `1 call`, `count(3, "call")`
/// `3 calls`. For nouns whose plural is not an added `s`, see [`count_as`].
pub fn count<N: fmt::Display + PartialEq + From<u8>>(n: N, noun: &str) -> String {
    let s = if n == N::from(1) { "" } else { "s" };
    format!("{n} {noun}{s}")
}

/// `n` with `one` or `many`: `count_as(2, "entry", "entries")` is `2 entries`.
pub fn count_as<N: fmt::Display + PartialEq + From<u8>>(n: N, one: &str, many: &str) -> String {
    let noun = if n == N::from(1) { one } else { many };
    format!("{n} {noun}")
}

#[cfg(test)]
mod tests {
    use super::{count, duration};
    use std::time::Duration;

    #[test]
    fn durations_read_as_people_write_them() {
        let cases = [
            (Duration::ZERO, "0 ms"),
            (Duration::from_micros(420), "0.4 ms"),
            (Duration::from_micros(235_761), "235 ms"),
            (Duration::from_millis(1_000), "1,000 ms"),
            (Duration::from_micros(1_999_914), "1,999 ms"),
            (Duration::from_millis(9_999), "9,999 ms"),
            (Duration::from_secs(10), "10.0 s"),
            (Duration::from_secs(599), "599.0 s"),
            (Duration::from_secs(3_600), "60 min 0 s"),
        ];
        for (d, want) in cases {
            assert_eq!(duration(d).to_string(), want, "{d:?}");
        }
    }

    #[test]
    fn one_is_singular() {
        assert_eq!(count(1u32, "call"), "1 call");
        assert_eq!(count(0u32, "call"), "0 calls");
        assert_eq!(count(2usize, "worker"), "2 workers");
    }
}
