//! The W3C `traceparent` value (Trace Context level 1), read and written without allocating:
//! the head-sampling decision needs the caller's trace id and sampled flag before anything
//! is built, and an unsampled call forwards them at the cost of one small buffer.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId};

/// The metadata key.
pub(crate) const TRACEPARENT: &str = "traceparent";

/// `version-traceid-spanid-flags`: 2 + 1 + 32 + 1 + 16 + 1 + 2 characters.
const LEN: usize = 55;

/// What a `traceparent` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Traceparent {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) sampled: bool,
}

impl Traceparent {
    /// Parse `value` as the W3C spec says a receiver must: lowercase hex only; version `ff`
    /// invalid; version `00` exactly 55 characters; a later version at least 55, and what
    /// follows them starts with `-`; all-zero trace or span ids invalid. Flags other than
    /// sampled are ignored. `None` for anything else (the call then has no parent). Bytes, not
    /// a `str`: the hex check is the only validation the value needs.
    pub(crate) fn parse(value: &[u8]) -> Option<Traceparent> {
        let value = value.trim_ascii();
        if value.len() < LEN || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let version = hex(&value[0..2])?;
        match version {
            0xff => return None,
            0 if value.len() != LEN => return None,
            _ if value.len() > LEN && value[LEN] != b'-' => return None,
            _ => {}
        }
        let trace_id = u128::from(hex16(&value[3..19])?) << 64 | u128::from(hex16(&value[19..35])?);
        let span_id = hex16(&value[36..52])?;
        let flags = hex(&value[53..55])?;
        if trace_id == 0 || span_id == 0 {
            return None;
        }
        Some(Traceparent {
            trace_id: TraceId::from(trace_id),
            span_id: SpanId::from(span_id),
            sampled: flags & 1 == 1,
        })
    }

    /// The parent a span context makes (its sampled flag as it is).
    pub(crate) fn of(cx: &SpanContext) -> Traceparent {
        Traceparent {
            trace_id: cx.trace_id(),
            span_id: cx.span_id(),
            sampled: cx.is_sampled(),
        }
    }

    /// As a span context (`remote`: it came from another process).
    pub(crate) fn span_context(self, remote: bool) -> SpanContext {
        let flags = if self.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        SpanContext::new(
            self.trace_id,
            self.span_id,
            flags,
            remote,
            Default::default(),
        )
    }

    /// The header value, version `00`: written on the stack, then copied into the one
    /// allocation it costs (a `Vec` of exactly 55 bytes, which becomes a `Bytes` in metadata
    /// without another).
    pub(crate) fn header(self) -> Vec<u8> {
        let mut out = [0u8; LEN];
        out[..3].copy_from_slice(b"00-");
        let trace_id = u128::from_be_bytes(self.trace_id.to_bytes());
        out[3..19].copy_from_slice(&to_hex16((trace_id >> 64) as u64));
        out[19..35].copy_from_slice(&to_hex16(trace_id as u64));
        out[35] = b'-';
        out[36..52].copy_from_slice(&to_hex16(u64::from_be_bytes(self.span_id.to_bytes())));
        out[52..].copy_from_slice(if self.sampled { b"-01" } else { b"-00" });
        out.to_vec()
    }
}

/// A byte repeated in every byte of a `u128`.
const fn each(byte: u8) -> u128 {
    u128::from_ne_bytes([byte; 16])
}

/// `n` as 16 lowercase hex digits, most significant first: every nibble spread into a byte of
/// its own, then turned into its digit — all 16 at once, in a few register operations.
fn to_hex16(n: u64) -> [u8; 16] {
    let x = u128::from(n);
    let x = (x & 0xffff_ffff_0000_0000) << 32 | (x & 0xffff_ffff);
    let x = (x & 0x0000_0000_ffff_0000_0000_0000_ffff_0000) << 16
        | (x & 0x0000_0000_0000_ffff_0000_0000_0000_ffff);
    let x = (x & 0x0000_ff00_0000_ff00_0000_ff00_0000_ff00) << 8
        | (x & 0x0000_00ff_0000_00ff_0000_00ff_0000_00ff);
    let nibbles = (x & each(0xf0)) << 4 | (x & each(0x0f));
    // A nibble of 10 or more has bit 4 set once 6 is added: those become `a`–`f`.
    let letters = ((nibbles + each(6)) >> 4) & each(1);
    (nibbles + each(b'0') + letters * u128::from(b'a' - b'0' - 10)).to_be_bytes()
}

/// 16 lowercase hex digits as a number, all at once: each byte checked to be `0`–`9` or
/// `a`–`f` by comparisons done in its high bit, then the nibbles packed back together.
/// `None` if `digits` is not 16 such bytes.
fn hex16(digits: &[u8]) -> Option<u64> {
    let v = u128::from_be_bytes(digits.try_into().ok()?);
    let high = each(0x80);
    if v & high != 0 {
        return None;
    }
    // Every byte is below 0x80 now, so adding up to 0x7f carries into no other byte; a byte's
    // high bit then says whether it was at least `0x80 - added`.
    let at_least = |byte: u8| (v + each(0x80 - byte)) & high;
    let digit = at_least(b'0') & !at_least(b'9' + 1);
    let letter = at_least(b'a') & !at_least(b'f' + 1);
    if (digit | letter) != high {
        return None;
    }
    // `0`–`9` end in their value; `a`–`f` in 1–6, nine short of theirs.
    let x = (v & each(0x0f)) + (letter >> 7) * 9;
    let x = (x | x >> 4) & 0x00ff_00ff_00ff_00ff_00ff_00ff_00ff_00ff;
    let x = (x | x >> 8) & 0x0000_ffff_0000_ffff_0000_ffff_0000_ffff;
    let x = (x | x >> 16) & 0x0000_0000_ffff_ffff_0000_0000_ffff_ffff;
    Some(((x | x >> 32) & 0xffff_ffff_ffff_ffff) as u64)
}

/// Each byte's value as a lowercase hex digit, `INVALID` for any other byte.
const NIBBLES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut d = 0;
    while d < 10 {
        table[b'0' as usize + d] = d as u8;
        d += 1;
    }
    let mut d = 0;
    while d < 6 {
        table[b'a' as usize + d] = 10 + d as u8;
        d += 1;
    }
    table
};
const INVALID: u8 = 0xff;

/// Lowercase hex digits as a number (at most 16 of them): one table lookup a digit, one
/// check for them all.
fn hex(digits: &[u8]) -> Option<u64> {
    let mut n = 0u64;
    let mut bad = 0u8;
    for &d in digits {
        let v = NIBBLES[usize::from(d)];
        bad |= v;
        n = n << 4 | u64::from(v & 0xf);
    }
    // Only INVALID has the high bit set.
    (bad & 0x80 == 0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_w3c_example_round_trips() {
        let tp = Traceparent::parse(EXAMPLE.as_bytes()).expect("valid");
        assert_eq!(
            tp.trace_id,
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex")
        );
        assert_eq!(
            tp.span_id,
            SpanId::from_hex("00f067aa0ba902b7").expect("hex")
        );
        assert!(tp.sampled);
        assert_eq!(tp.header(), EXAMPLE.as_bytes());
        let unsampled =
            Traceparent::parse(EXAMPLE.replace("-01", "-00").as_bytes()).expect("valid");
        assert!(!unsampled.sampled);
        assert_eq!(unsampled.header(), EXAMPLE.replace("-01", "-00").as_bytes());
    }

    #[test]
    fn only_the_sampled_flag_counts_and_later_versions_may_grow() {
        assert!(
            Traceparent::parse(EXAMPLE.replace("-01", "-03").as_bytes())
                .expect("valid")
                .sampled
        );
        assert!(
            !Traceparent::parse(EXAMPLE.replace("-01", "-02").as_bytes())
                .expect("valid")
                .sampled
        );
        let v1 = format!("01{}-what-comes-next", &EXAMPLE[2..]);
        assert!(Traceparent::parse(v1.as_bytes()).is_some());
    }

    #[test]
    fn sixteen_digits_at_once_agree_with_one_at_a_time() {
        for _ in 0..10_000 {
            let n = fastrand::u64(..) >> fastrand::u32(0..64);
            let text = format!("{n:016x}");
            assert_eq!(to_hex16(n), text.as_bytes(), "{n}");
            assert_eq!(hex16(text.as_bytes()), Some(n), "{text}");
            assert_eq!(hex(text.as_bytes()), Some(n), "{text}");
            // Any one byte changed to a non-digit is refused.
            let mut bad = text.into_bytes();
            let at = fastrand::usize(..16);
            bad[at] = loop {
                let b = fastrand::u8(..);
                if !b.is_ascii_digit() && !(b'a'..=b'f').contains(&b) {
                    break b;
                }
            };
            assert_eq!(hex16(&bad), None, "{bad:?}");
        }
        for edge in [0, 9, 10, 15, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(to_hex16(edge), format!("{edge:016x}").as_bytes());
        }
        for b in 0..=255u8 {
            let ok = b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
            assert_eq!(hex16(&[b; 16]).is_some(), ok, "{b}");
        }
    }

    #[test]
    fn malformed_values_are_no_parent() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-1-2-01",
        ] {
            assert_eq!(Traceparent::parse(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
