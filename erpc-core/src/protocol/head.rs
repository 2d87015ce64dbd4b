//! The header block: a sequence of tag-length-value fields.
//!
//! Each field is `tag: u8`, `len: u16` (big-endian), then `len` bytes. Tags below 0x80 that a
//! receiver does not know are skipped, so new optional fields need no version bump; tags from
//! 0x80 up are *critical* and a receiver that does not know one refuses the frame.

use bytes::{BufMut, Bytes};

use crate::metadata::Metadata;
use crate::protocol::{ByteStr, CompressionList};

/// The header-block field tags.
pub mod tag {
    /// UTF-8 service name (requests, oneways).
    pub const SERVICE: u8 = 0x01;
    /// UTF-8 method name (requests, oneways).
    pub const METHOD: u8 = 0x02;
    /// Relative deadline: u64 big-endian microseconds left when the frame was written.
    pub const DEADLINE: u8 = 0x03;
    /// One metadata entry: `key_len: u8`, key (UTF-8), value (the rest).
    pub const METADATA: u8 = 0x04;
    /// UTF-8 status message (responses with a non-zero status, goaway, error).
    pub const STATUS_MESSAGE: u8 = 0x05;
    /// Opaque status details.
    pub const STATUS_DETAILS: u8 = 0x06;
    /// The compressions a call accepts in what it receives, one id per byte, what it asks
    /// for first (`00`: nothing); 1 to 16 bytes (requests, stream opens).
    pub const ACCEPT_COMPRESSION: u8 = 0x07;
    /// Tags from here up must be understood or the frame is refused.
    pub const FIRST_CRITICAL: u8 = 0x80;
}

/// The parsed header block. Every field is optional; which ones a frame kind uses is in
/// PROTOCOL.md.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// Service name.
    pub service: Option<ByteStr>,
    /// Method name.
    pub method: Option<ByteStr>,
    /// Microseconds left until the call's deadline, when it was written.
    pub deadline_micros: Option<u64>,
    /// Metadata entries.
    pub metadata: Metadata,
    /// Status message.
    pub message: Option<ByteStr>,
    /// Status details.
    pub details: Option<Bytes>,
    /// What the call asks for and accepts as compression of what it receives (PROTOCOL.md
    /// §6); empty when the field is absent.
    pub accept_compression: CompressionList,
}

/// Why a header block was refused. The frame itself was well delimited, so only its call
/// fails; the connection goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// A field runs past the end of the block.
    #[error("header block truncated in a field with tag 0x{0:02x}")]
    Truncated(u8),
    /// A name, key or message is not UTF-8.
    #[error("field with tag 0x{0:02x} is not valid UTF-8")]
    NotUtf8(u8),
    /// A field that may appear once appears again.
    #[error("field with tag 0x{0:02x} appears more than once")]
    Duplicate(u8),
    /// A field has the wrong length for its type.
    #[error("field with tag 0x{tag:02x} has length {len}, expected {expected}")]
    BadLength {
        /// The tag.
        tag: u8,
        /// Its length.
        len: usize,
        /// What it must be.
        expected: &'static str,
    },
    /// More metadata entries than allowed.
    #[error("more than {0} metadata entries (limits.max_metadata_entries)")]
    TooManyMetadata(usize),
    /// A critical tag this peer does not know.
    #[error("unknown critical header field 0x{0:02x}")]
    UnknownCritical(u8),
}

impl Head {
    /// The encoded length of this block.
    pub fn encoded_len(&self) -> usize {
        let str_field = |s: &Option<ByteStr>| s.as_ref().map_or(0, |s| 3 + s.len());
        str_field(&self.service)
            + str_field(&self.method)
            + self.deadline_micros.map_or(0, |_| 3 + 8)
            + self
                .metadata
                .iter()
                .map(|(k, v)| 3 + 1 + k.len() + v.len())
                .sum::<usize>()
            + str_field(&self.message)
            + self.details.as_ref().map_or(0, |d| 3 + d.len())
            + accept_len(&self.accept_compression)
    }

    /// Whether every field fits its 16-bit length and every key its 8-bit one.
    pub fn fits(&self) -> bool {
        let short = |n: usize| n <= u16::MAX as usize;
        let s = |f: &Option<ByteStr>| f.as_ref().is_none_or(|s| short(s.len()));
        s(&self.service)
            && s(&self.method)
            && s(&self.message)
            && self.details.as_ref().is_none_or(|d| short(d.len()))
            && self.metadata.iter().all(|(k, v)| {
                !k.is_empty() && k.len() <= u8::MAX as usize && short(1 + k.len() + v.len())
            })
    }

    /// Append the block. Call [`Head::fits`] first; oversized fields are written truncated.
    pub fn encode(&self, out: &mut impl BufMut) {
        fn field(out: &mut impl BufMut, tag: u8, parts: &[&[u8]]) {
            let len: usize = parts.iter().map(|p| p.len()).sum();
            let [hi, lo] = (len.min(u16::MAX as usize) as u16).to_be_bytes();
            out.put_slice(&[tag, hi, lo]);
            let mut left = u16::MAX as usize;
            for p in parts {
                let take = p.len().min(left);
                out.put_slice(&p[..take]);
                left -= take;
            }
        }
        if let Some(s) = &self.service {
            field(out, tag::SERVICE, &[s.as_bytes()]);
        }
        if let Some(m) = &self.method {
            field(out, tag::METHOD, &[m.as_bytes()]);
        }
        if let Some(d) = self.deadline_micros {
            field(out, tag::DEADLINE, &[&d.to_be_bytes()]);
        }
        for (k, v) in self.metadata.iter() {
            let key = &k.as_bytes()[..k.len().min(u8::MAX as usize)];
            field(out, tag::METADATA, &[&[key.len() as u8], key, v]);
        }
        if let Some(m) = &self.message {
            field(out, tag::STATUS_MESSAGE, &[m.as_bytes()]);
        }
        if let Some(d) = &self.details {
            field(out, tag::STATUS_DETAILS, &[d]);
        }
        if !self.accept_compression.is_empty() {
            field(
                out,
                tag::ACCEPT_COMPRESSION,
                &[self.accept_compression.as_bytes()],
            );
        }
    }

    /// Parse a whole header block. `block` is a slice of the received buffer, so names and
    /// values share its memory.
    pub fn decode(block: Bytes, max_metadata: usize) -> Result<Head, HeadError> {
        let mut head = Head::default();
        let mut at = 0usize;
        let utf8 = |tag, b: Bytes| ByteStr::from_utf8(b).map_err(|_| HeadError::NotUtf8(tag));
        while at < block.len() {
            let tag = block[at];
            if block.len() - at < 3 {
                return Err(HeadError::Truncated(tag));
            }
            let len = u16::from_be_bytes([block[at + 1], block[at + 2]]) as usize;
            let start = at + 3;
            let end = start + len;
            if end > block.len() {
                return Err(HeadError::Truncated(tag));
            }
            let value = block.slice(start..end);
            at = end;
            let once = |slot_is_some: bool| {
                if slot_is_some {
                    Err(HeadError::Duplicate(tag))
                } else {
                    Ok(())
                }
            };
            match tag {
                tag::SERVICE => {
                    once(head.service.is_some())?;
                    head.service = Some(utf8(tag, value)?);
                }
                tag::METHOD => {
                    once(head.method.is_some())?;
                    head.method = Some(utf8(tag, value)?);
                }
                tag::DEADLINE => {
                    once(head.deadline_micros.is_some())?;
                    let raw: [u8; 8] = value[..].try_into().map_err(|_| HeadError::BadLength {
                        tag,
                        len,
                        expected: "8",
                    })?;
                    head.deadline_micros = Some(u64::from_be_bytes(raw));
                }
                tag::METADATA => {
                    if head.metadata.len() >= max_metadata {
                        return Err(HeadError::TooManyMetadata(max_metadata));
                    }
                    let key_len = *value.first().ok_or(HeadError::BadLength {
                        tag,
                        len,
                        expected: "at least 2",
                    })? as usize;
                    if key_len == 0 || 1 + key_len > value.len() {
                        return Err(HeadError::BadLength {
                            tag,
                            len,
                            expected: "1 + key_len (key_len >= 1) or more",
                        });
                    }
                    let key = utf8(tag, value.slice(1..1 + key_len))?;
                    head.metadata.push_raw(key, value.slice(1 + key_len..));
                }
                tag::STATUS_MESSAGE => {
                    once(head.message.is_some())?;
                    head.message = Some(utf8(tag, value)?);
                }
                tag::STATUS_DETAILS => {
                    once(head.details.is_some())?;
                    head.details = Some(value);
                }
                tag::ACCEPT_COMPRESSION => {
                    once(!head.accept_compression.is_empty())?;
                    head.accept_compression =
                        CompressionList::from_wire(&value).ok_or(HeadError::BadLength {
                            tag,
                            len,
                            expected: "1 to 16",
                        })?;
                }
                t if t >= tag::FIRST_CRITICAL => return Err(HeadError::UnknownCritical(t)),
                _ => {} // unknown optional field: skipped
            }
        }
        Ok(head)
    }
}

/// The encoded length of an accept-compression field: nothing when the list is empty.
fn accept_len(list: &CompressionList) -> usize {
    if list.is_empty() { 0 } else { 3 + list.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Head {
        let mut head = Head {
            service: Some("svc".into()),
            method: Some("m".into()),
            deadline_micros: Some(1_500_000),
            message: Some("boom".into()),
            details: Some(Bytes::from_static(b"\x01\x02")),
            accept_compression: CompressionList::from_wire(&[3, 1]).unwrap(),
            ..Head::default()
        };
        head.metadata
            .insert("k", "v")
            .insert("k", "")
            .insert("auth", "t");
        head
    }

    #[test]
    fn round_trips_and_length_matches() {
        let head = full();
        let mut out = Vec::new();
        head.encode(&mut out);
        assert_eq!(out.len(), head.encoded_len());
        assert_eq!(Head::decode(out.into(), 64).unwrap(), head);
    }

    #[test]
    fn unknown_optional_tags_are_skipped_and_critical_ones_refused() {
        let mut block = vec![0x40, 0x00, 0x02, 0xAA, 0xBB];
        Head {
            method: Some("x".into()),
            ..Head::default()
        }
        .encode(&mut block);
        assert_eq!(Head::decode(block.into(), 64).unwrap().method.unwrap(), "x");
        let err = Head::decode(Bytes::from_static(&[0x80, 0, 0]), 64).unwrap_err();
        assert_eq!(err, HeadError::UnknownCritical(0x80));
    }

    #[test]
    fn malformed_blocks_are_errors() {
        let cases: &[(&[u8], HeadError)] = &[
            (&[0x01, 0x00], HeadError::Truncated(1)),
            (&[0x01, 0x00, 0x05, b'a'], HeadError::Truncated(1)),
            (&[0x01, 0x00, 0x01, 0xFF], HeadError::NotUtf8(1)),
            (
                &[0x01, 0x00, 0x01, b'a', 0x01, 0x00, 0x01, b'b'],
                HeadError::Duplicate(1),
            ),
            (
                &[0x03, 0x00, 0x01, 0x00],
                HeadError::BadLength {
                    tag: 3,
                    len: 1,
                    expected: "8",
                },
            ),
            (
                &[0x07, 0x00, 0x00],
                HeadError::BadLength {
                    tag: 7,
                    len: 0,
                    expected: "1 to 16",
                },
            ),
            (
                &[
                    0x07, 0x00, 0x11, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                ],
                HeadError::BadLength {
                    tag: 7,
                    len: 17,
                    expected: "1 to 16",
                },
            ),
            (
                &[0x07, 0x00, 0x01, 1, 0x07, 0x00, 0x01, 3],
                HeadError::Duplicate(7),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                &Head::decode(Bytes::from_static(bytes), 64).unwrap_err(),
                want
            );
        }
    }

    #[test]
    fn metadata_count_is_capped() {
        let mut head = Head::default();
        for _ in 0..65 {
            head.metadata.insert("k", "v");
        }
        let mut out = Vec::new();
        head.encode(&mut out);
        assert_eq!(
            Head::decode(out.into(), 64).unwrap_err(),
            HeadError::TooManyMetadata(64)
        );
    }
}
