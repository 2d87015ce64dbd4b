//! The envelope around an erpc frame on the queue (QUEUE.md §2): what a queued call needs
//! beyond the frame — where to answer, how to pair the answer with its call, until when the
//! call is worth making, and how to recognise a repeat.
//!
//! ```text
//! magic "EQ" (2) | version 01 (1) | kind (1) | correlation id (8) | deadline, Unix ms (8)
//! | reply_to len (2) | reply_to | key len (2) | key | reason len (2) | reason | the erpc frame
//! ```
//! All integers big-endian. The frame runs to the end of the message.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The envelope's first two bytes: `EQ`.
pub const MAGIC: [u8; 2] = *b"EQ";
/// The envelope version this implementation writes and reads.
pub const VERSION: u8 = 1;
/// Bytes before the first variable field: magic, version, kind, correlation id, deadline.
const FIXED_LEN: usize = 2 + 1 + 1 + 8 + 8;
/// The shortest envelope (QUEUE.md §2): the fixed part and the three 2-byte lengths of
/// reply_to, key and reason, each empty, and no frame.
const MIN_LEN: usize = FIXED_LEN + 3 * 2;

/// What a queued message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A call: the frame is a REQUEST (answered on `reply_to`, if any) or a ONEWAY.
    Request = 1,
    /// An answer: the frame is a RESPONSE, published on the request's `reply_to`.
    Response = 2,
    /// A request the bridge gave up on: `reason` says why; the frame field holds the original
    /// message's bytes whole (which may not even be an envelope).
    DeadLetter = 3,
}

impl Kind {
    /// The kind's name, for messages: `request`, `response`, `dead letter`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Response => "response",
            Kind::DeadLetter => "dead letter",
        }
    }
}

/// One queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// What the message is.
    pub kind: Kind,
    /// Chosen by the caller, unique among its calls awaiting an answer; copied into the
    /// response so the caller can pair them. 0 when nothing awaits an answer.
    pub correlation: u64,
    /// Unix time in milliseconds after which the request must not be delivered (the call's
    /// deadline); 0: none. The erpc frame's own relative deadline (tag `03`) is ignored: time
    /// spent in the queue would not count against it.
    pub deadline_ms: u64,
    /// The subject (NATS) or queue (RabbitMQ) the response is published on; empty: no
    /// response is wanted (fire and forget). At most 65,535 bytes.
    pub reply_to: String,
    /// The idempotency key: requests with the same non-empty key are one call, run once
    /// within the bridge's window. At most 65,535 bytes.
    pub key: Bytes,
    /// Why a dead letter died; empty otherwise. At most 65,535 bytes (longer is cut).
    pub reason: String,
    /// The erpc frame (PROTOCOL.md §2), or for a dead letter the original message.
    pub frame: Bytes,
}

/// Why bytes are not an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Shorter than the fixed part or a field's declared length.
    #[error("envelope truncated: {0}")]
    Truncated(&'static str),
    /// The first two bytes are not `EQ`.
    #[error("not an erpc queue envelope: magic {0:02x?}, expected 45 51 (\"EQ\")")]
    BadMagic([u8; 2]),
    /// A version this implementation does not read.
    #[error("envelope version {0} is not supported (this bridge reads version {VERSION})")]
    Version(u8),
    /// A kind byte outside 1–3.
    #[error("unknown envelope kind {0} (1 request, 2 response, 3 dead letter)")]
    Kind(u8),
    /// `reply_to` or `reason` is not UTF-8.
    #[error("envelope field {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// A field longer than its 2-byte length allows.
    #[error("envelope field {0} is {1} bytes; at most 65535")]
    TooLong(&'static str, usize),
}

impl Envelope {
    /// A request envelope around `frame`, with no deadline, reply subject, key or reason.
    pub fn request(correlation: u64, frame: Bytes) -> Envelope {
        Envelope {
            kind: Kind::Request,
            correlation,
            deadline_ms: 0,
            reply_to: String::new(),
            key: Bytes::new(),
            reason: String::new(),
            frame,
        }
    }

    /// The envelope as bytes. Fails only when a variable field is over 65,535 bytes.
    pub fn encode(&self) -> Result<Bytes, EnvelopeError> {
        let fields: [(&'static str, &[u8]); 3] = [
            ("reply_to", self.reply_to.as_bytes()),
            ("key", &self.key),
            ("reason", self.reason.as_bytes()),
        ];
        let mut out = BytesMut::with_capacity(
            FIXED_LEN + 6 + fields.iter().map(|f| f.1.len()).sum::<usize>() + self.frame.len(),
        );
        out.put_slice(&MAGIC);
        out.put_u8(VERSION);
        out.put_u8(self.kind as u8);
        out.put_u64(self.correlation);
        out.put_u64(self.deadline_ms);
        for (name, value) in fields {
            let len = u16::try_from(value.len())
                .map_err(|_| EnvelopeError::TooLong(name, value.len()))?;
            out.put_u16(len);
            out.put_slice(value);
        }
        out.put_slice(&self.frame);
        Ok(out.freeze())
    }

    /// Read an envelope; the frame (the rest) is not looked into.
    pub fn decode(mut bytes: Bytes) -> Result<Envelope, EnvelopeError> {
        // The magic first, when there is one: a short message of another kind (`{"a": 1}`)
        // is better told "not an envelope" than "truncated".
        if bytes.len() >= MAGIC.len() && bytes[..MAGIC.len()] != MAGIC {
            return Err(EnvelopeError::BadMagic([bytes[0], bytes[1]]));
        }
        if bytes.len() < MIN_LEN {
            // The number must be MIN_LEN's (a test checks): the message is a static str.
            return Err(EnvelopeError::Truncated(
                "shorter than the 26 bytes of the shortest envelope (every variable field empty, no frame: QUEUE.md §2)",
            ));
        }
        bytes.advance(2);
        let version = bytes.get_u8();
        if version != VERSION {
            return Err(EnvelopeError::Version(version));
        }
        let kind = match bytes.get_u8() {
            1 => Kind::Request,
            2 => Kind::Response,
            3 => Kind::DeadLetter,
            other => return Err(EnvelopeError::Kind(other)),
        };
        let correlation = bytes.get_u64();
        let deadline_ms = bytes.get_u64();
        let reply_to = utf8(field(&mut bytes, "reply_to")?, "reply_to")?;
        let key = field(&mut bytes, "key")?;
        let reason = utf8(field(&mut bytes, "reason")?, "reason")?;
        Ok(Envelope {
            kind,
            correlation,
            deadline_ms,
            reply_to,
            key,
            reason,
            frame: bytes,
        })
    }
}

/// A length-prefixed field off the front of `bytes`.
fn field(bytes: &mut Bytes, name: &'static str) -> Result<Bytes, EnvelopeError> {
    if bytes.len() < 2 {
        return Err(EnvelopeError::Truncated(name));
    }
    let len = bytes.get_u16() as usize;
    if bytes.len() < len {
        return Err(EnvelopeError::Truncated(name));
    }
    Ok(bytes.split_to(len))
}

fn utf8(bytes: Bytes, name: &'static str) -> Result<String, EnvelopeError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| EnvelopeError::NotUtf8(name))
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_the_documented_layout() {
        let envelope = Envelope {
            // 2026-11-30T12:00:00Z.
            deadline_ms: 1_796_040_000_000,
            reply_to: "r".into(),
            key: Bytes::from_static(b"k1"),
            ..Envelope::request(7, Bytes::from_static(b"FRAME"))
        };
        let bytes = envelope.encode().unwrap();
        // QUEUE.md §2's example, byte for byte, read from the document itself.
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../QUEUE.md"))
            .expect("QUEUE.md at the repository root");
        let example = doc
            .lines()
            .find(|line| line.starts_with("45 51 01 01 |"))
            .expect("QUEUE.md §2 shows an example envelope");
        let documented: Vec<u8> = example
            .split_whitespace()
            .filter(|token| *token != "|")
            .map(|hex| u8::from_str_radix(hex, 16).expect("hex bytes"))
            .collect();
        assert_eq!(&bytes[..], &documented[..], "{example}");
        assert_eq!(Envelope::decode(bytes).unwrap(), envelope);
    }

    #[test]
    fn refuses_what_is_not_an_envelope_naming_the_problem() {
        let good = Envelope::request(1, Bytes::new()).encode().unwrap();
        let cases: [(&[u8], &str); 4] = [
            (b"EQ\x01", "truncated"),
            (b"{\"json\": \"not an envelope at all\"}", "magic"),
            (&[b"EQ\x02".as_slice(), &good[3..]].concat(), "version 2"),
            (&good[..FIXED_LEN + 3], "truncated"),
        ];
        for (bytes, says) in cases {
            let err = Envelope::decode(Bytes::copy_from_slice(bytes)).unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
        }
    }

    /// The shortest envelope is what the refusal of a shorter one says (fu16 #6: it said
    /// 20 bytes, QUEUE.md's table gives 22 before reply_to and 26 in all).
    #[test]
    fn a_truncated_envelope_is_refused_naming_the_shortest_length() {
        let shortest = Envelope::request(0, Bytes::new()).encode().unwrap();
        assert_eq!(shortest.len(), MIN_LEN);
        assert_eq!(Envelope::decode(shortest.clone()).unwrap().frame.len(), 0);
        let err = Envelope::decode(shortest.slice(..MIN_LEN - 1)).unwrap_err();
        assert!(
            err.to_string().contains(&format!("the {MIN_LEN} bytes")),
            "{err}"
        );
    }
}
