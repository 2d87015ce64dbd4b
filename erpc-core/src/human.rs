//! Numbers as people read them in messages: durations (`236 ms`, `1.5 s`) and counts with
//! their noun (`1 call`, `3 calls`). Every user-facing message of erpc (errors, refusals,
//! logs) says durations and counts through these, never with `{:?}` (`1.999914621s`) or a
//! fixed plural (`1 calls`). Public so the crates built on erpc-core (gateway, center, CLI)
//! word theirs the same way.

use std::fmt;
use std::time::Duration;

/// A duration for a message, as a person reads it: whole milliseconds below a second
/// (`236 ms`), tenths of a second from there (`1.5 s`, `5 s`, `61 s`) — rounded up, so a
/// wait is never understated and never `0 ms` (at least `1 ms`). Not `Duration`'s `Debug`
/// (`235.761349ms`), which says more than anyone can use.
///
/// ```
/// use std::time::Duration;
/// use erpc_core::human::duration;
///
/// assert_eq!(duration(Duration::from_nanos(235_761_349)).to_string(), "236 ms");
/// assert_eq!(duration(Duration::from_micros(1_999_914)).to_string(), "2 s");
/// assert_eq!(duration(Duration::from_millis(1_500)).to_string(), "1.5 s");
/// ```
pub fn duration(d: Duration) -> impl fmt::Display {
    Human(d)
}

struct Human(Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_nanos().div_ceil(1_000_000).max(1);
        if ms < 1000 {
            return write!(f, "{ms} ms");
        }
        let tenths = ms.div_ceil(100);
        match tenths % 10 {
            0 => write!(f, "{} s", tenths / 10),
            rest => write!(f, "{}.{rest} s", tenths / 10),
        }
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

/// A size people type, in bytes: a number of bytes (`1048576`), or a whole number with a
/// binary unit as erpc's docs write sizes — `B`, `KiB`, `MiB`, `GiB` (`64KiB`, `1 MiB`). The
/// parsing counterpart of how sizes are said, for options such as the gateway's
/// `--max-body`.
///
/// ```
/// use erpc_core::human::parse_size;
///
/// assert_eq!(parse_size("1048576"), Ok(1 << 20));
/// assert_eq!(parse_size("1MiB"), Ok(1 << 20));
/// assert_eq!(parse_size("64 KiB"), Ok(64 << 10));
/// assert!(parse_size("1x").unwrap_err().contains("e.g. 1048576 or 1MiB"));
/// ```
///
/// # Errors
/// Not such a size, or more than `u64` holds: a message naming the text and what is
/// expected.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let expected = || {
        format!(
            "{text:?} is not a size: give a size in bytes, e.g. 1048576 or 1MiB (units B, KiB, MiB, GiB)"
        )
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let shift = match unit.trim_start() {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => return Err(expected()),
    };
    let number: u64 = number.parse().map_err(|_| expected())?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is more bytes than this machine can count"))
}

#[cfg(test)]
mod tests {
    use super::{count, duration};
    use std::time::Duration;

    #[test]
    fn waits_read_as_milliseconds_or_tenths_of_seconds() {
        let text = |nanos: u64| duration(Duration::from_nanos(nanos)).to_string();
        assert_eq!(text(235_761_349), "236 ms");
        assert_eq!(text(0), "1 ms");
        assert_eq!(text(1), "1 ms");
        assert_eq!(text(999_000_000), "999 ms");
        assert_eq!(text(999_000_001), "1 s");
        assert_eq!(text(1_500_000_000), "1.5 s");
        assert_eq!(text(1_500_000_001), "1.6 s");
        assert_eq!(text(5_000_000_000), "5 s");
        assert_eq!(text(61_000_000_000), "61 s");
    }

    #[test]
    fn one_is_singular() {
        assert_eq!(count(1u32, "call"), "1 call");
        assert_eq!(count(0u32, "call"), "0 calls");
        assert_eq!(count(2usize, "worker"), "2 workers");
    }
}
