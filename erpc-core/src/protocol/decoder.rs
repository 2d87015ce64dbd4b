//! [`FrameDecoder`]: cuts frames out of a byte buffer, bounding every length first.

use bytes::{Buf, BytesMut};

use crate::protocol::{Frame, HEADER_LEN, Head, HeadError, Header, Limits, ProtocolError};

/// What [`FrameDecoder::decode`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A well-formed frame.
    Frame(Frame),
    /// A frame whose header block or body is over the limits. Its bytes are being skipped
    /// without being stored; only this call should fail (`resource_exhausted`).
    Oversized {
        /// The frame's header.
        header: Header,
        /// Which limit, for the error message.
        reason: String,
    },
    /// A frame whose header block is malformed. The frame was consumed whole; only this call
    /// should fail.
    BadHead {
        /// The frame's header.
        header: Header,
        /// What is wrong.
        error: HeadError,
    },
}

/// The sans-IO frame decoder. Feed it the read buffer; it takes whole frames off the front.
///
/// Call [`FrameDecoder::decode`] after every read until it returns `Ok(None)` (it needs more
/// bytes). It never allocates more than the limits allow: the header is checked before the
/// frame's bytes are awaited, and an oversized frame is skipped as it arrives.
#[derive(Debug)]
pub struct FrameDecoder {
    limits: Limits,
    /// Bytes of an oversized frame still to skip.
    discarding: u64,
}

impl FrameDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        FrameDecoder {
            limits,
            discarding: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many more bytes the current frame needs, as a hint for the read buffer's size:
    /// never more than a frame within the limits (an oversized frame is skipped as it
    /// arrives, so it needs no room).
    pub fn wanted(&self, buf: &BytesMut) -> usize {
        if self.discarding > 0 || buf.len() < HEADER_LEN {
            return 0;
        }
        match Header::decode(&buf[..HEADER_LEN]) {
            Ok(h) if h.head_len > self.limits.max_head || h.body_len > self.limits.max_body => 0,
            Ok(h) => {
                (HEADER_LEN + h.head_len as usize + h.body_len as usize).saturating_sub(buf.len())
            }
            Err(_) => 0,
        }
    }

    /// Take the next frame off the front of `buf`, if it is complete.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, ProtocolError> {
        if self.discarding > 0 {
            let skip = self.discarding.min(buf.len() as u64);
            buf.advance(skip as usize);
            self.discarding -= skip;
            if self.discarding > 0 {
                return Ok(None);
            }
        }
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let header = Header::decode(&buf[..HEADER_LEN])?;
        let rest = header.head_len as u64 + header.body_len as u64;
        if header.head_len > self.limits.max_head || header.body_len > self.limits.max_body {
            if rest > self.limits.max_discard {
                return Err(ProtocolError::FrameTooLarge {
                    declared: rest,
                    limit: self.limits.max_discard,
                });
            }
            let reason = if header.head_len > self.limits.max_head {
                format!(
                    "header block of {} bytes exceeds the limit of {} bytes (limits.max_head)",
                    header.head_len, self.limits.max_head
                )
            } else {
                format!(
                    "body of {} bytes exceeds the limit of {} bytes (limits.max_body)",
                    header.body_len, self.limits.max_body
                )
            };
            buf.advance(HEADER_LEN);
            self.discarding = rest;
            // Skip what is already here; later calls skip the rest as it arrives.
            let skip = self.discarding.min(buf.len() as u64);
            buf.advance(skip as usize);
            self.discarding -= skip;
            return Ok(Some(Decoded::Oversized { header, reason }));
        }
        let total = HEADER_LEN + rest as usize;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let mut frame = buf.split_to(total).freeze();
        frame.advance(HEADER_LEN);
        let body = frame.split_off(header.head_len as usize);
        match Head::decode(frame, self.limits.max_metadata_entries) {
            Ok(head) => Ok(Some(Decoded::Frame(Frame { header, head, body }))),
            Err(error) => Ok(Some(Decoded::BadHead { header, error })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Kind;
    use bytes::Bytes;

    fn request(body: &[u8]) -> Frame {
        let mut f = Frame::new(Kind::REQUEST, 7);
        f.head.service = Some("s".into());
        f.head.method = Some("m".into());
        f.body = Bytes::copy_from_slice(body);
        f
    }

    fn wire(frames: &[Frame]) -> BytesMut {
        let mut out = BytesMut::new();
        for f in frames {
            f.encode(&mut out).unwrap();
        }
        out
    }

    fn small_limits() -> Limits {
        Limits {
            max_body: 100,
            max_head: 64,
            max_discard: 1000,
            ..Limits::default()
        }
    }

    /// Found by the `frame_decoder` fuzz target: with an oversized frame's header read but
    /// not yet decoded, the size hint was the whole declared frame (up to `max_discard`,
    /// 64 MiB by default), which a caller reserving it would have allocated for bytes the
    /// decoder only skips.
    #[test]
    fn an_oversized_frame_asks_for_no_room() {
        let decoder = FrameDecoder::new(small_limits());
        let mut header_only = wire(&[request(&[0; 500])]);
        header_only.truncate(HEADER_LEN);
        assert_eq!(decoder.wanted(&header_only), 0);
        let mut within = wire(&[request(&[0; 50])]);
        within.truncate(HEADER_LEN);
        let full = request(&[0; 50]).encoded_len();
        assert_eq!(decoder.wanted(&within), full - HEADER_LEN);
    }

    /// KCP refuses a session with `erpc_transport::frames::error_frame`, built without this
    /// crate: it must decode as the ERROR frame it claims to be, message and all.
    #[test]
    fn the_transports_error_frame_is_an_error_frame() {
        use erpc_transport::frames;
        let long = "é".repeat(3000);
        for message in ["server is shutting down; the call was not run", &long] {
            let bytes = frames::error_frame(frames::status::UNAVAILABLE, message);
            let mut buf = BytesMut::from(&bytes[..]);
            let mut dec = FrameDecoder::new(Limits::default());
            let Ok(Some(Decoded::Frame(f))) = dec.decode(&mut buf) else {
                panic!("not a frame: {bytes:?}");
            };
            assert!(buf.is_empty(), "the frame is all the bytes");
            assert_eq!(
                (f.header.kind, f.header.status, f.header.request_id),
                (Kind::ERROR, crate::status::Code::Unavailable as u8, 0)
            );
            let got = f.head.message.as_ref().map(|m| m.as_str()).unwrap_or("");
            if message.len() <= 4096 {
                assert_eq!(got, message);
            } else {
                // Cut to at most 4,096 bytes, on a character boundary.
                assert!(message.starts_with(got) && (4095..=4096).contains(&got.len()));
            }
        }
    }

    #[test]
    fn decodes_byte_by_byte() {
        let frames = [request(b"one"), request(b""), Frame::new(Kind::PING, 9)];
        let all = wire(&frames);
        let mut dec = FrameDecoder::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for b in all.iter() {
            buf.extend_from_slice(&[*b]);
            while let Some(Decoded::Frame(f)) = dec.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        assert_eq!(out.len(), frames.len());
        assert!(out.iter().zip(&frames).all(|(a, b)| a.same_content(b)));
        assert!(buf.is_empty());
    }

    #[test]
    fn body_at_limit_passes_and_over_is_skipped_then_stream_continues() {
        let mut dec = FrameDecoder::new(small_limits());
        let mut buf = wire(&[request(&[1; 100]), request(&[2; 101]), request(b"after")]);
        assert!(matches!(dec.decode(&mut buf), Ok(Some(Decoded::Frame(_)))));
        match dec.decode(&mut buf).unwrap() {
            Some(Decoded::Oversized { header, reason }) => {
                assert_eq!(header.request_id, 7);
                assert!(reason.contains("101"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        match dec.decode(&mut buf).unwrap() {
            Some(Decoded::Frame(f)) => assert_eq!(f.body, &b"after"[..]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oversized_frame_is_skipped_as_it_arrives_without_buffering() {
        let mut dec = FrameDecoder::new(small_limits());
        let all = wire(&[request(&[2; 500]), request(b"next")]);
        let mut buf = BytesMut::new();
        let mut seen = Vec::new();
        for chunk in all.chunks(37) {
            buf.extend_from_slice(chunk);
            while let Some(d) = dec.decode(&mut buf).unwrap() {
                seen.push(d);
            }
            assert!(buf.len() < 37 + HEADER_LEN + 64, "buffered {}", buf.len());
        }
        assert!(matches!(seen[0], Decoded::Oversized { .. }));
        assert!(matches!(&seen[1], Decoded::Frame(f) if f.body == b"next"[..]));
    }

    #[test]
    fn huge_declared_length_is_fatal_before_any_allocation() {
        let mut dec = FrameDecoder::new(Limits::default());
        let mut header = BytesMut::new();
        Header {
            body_len: u32::MAX,
            ..request(b"").header
        }
        .encode(&mut header);
        let err = dec.decode(&mut header).unwrap_err();
        assert!(matches!(err, ProtocolError::FrameTooLarge { .. }));
        assert!(header.capacity() < 1024);
    }

    #[test]
    fn bad_magic_and_version_are_fatal() {
        let mut dec = FrameDecoder::new(Limits::default());
        let mut buf = wire(&[request(b"x")]);
        buf[0] = b'G';
        assert_eq!(
            dec.decode(&mut buf).unwrap_err(),
            ProtocolError::BadMagic([b'G', 0x52])
        );
        let mut buf = wire(&[request(b"x")]);
        buf[2] = 2;
        assert_eq!(
            dec.decode(&mut buf).unwrap_err(),
            ProtocolError::UnsupportedVersion(2)
        );
    }

    #[test]
    fn bad_head_fails_only_that_frame() {
        let mut dec = FrameDecoder::new(Limits::default());
        let mut buf = BytesMut::new();
        Header {
            head_len: 2,
            body_len: 0,
            ..request(b"").header
        }
        .encode(&mut buf);
        buf.extend_from_slice(&[0x01, 0x00]);
        request(b"ok").encode(&mut buf).unwrap();
        assert!(matches!(
            dec.decode(&mut buf).unwrap(),
            Some(Decoded::BadHead {
                error: HeadError::Truncated(1),
                ..
            })
        ));
        assert!(matches!(
            dec.decode(&mut buf).unwrap(),
            Some(Decoded::Frame(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let mut dec = FrameDecoder::new(small_limits());
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = dec.decode(&mut buf) {}
        }

        #[test]
        fn arbitrary_frames_round_trip(
            id in proptest::num::u64::ANY,
            kind in 1u8..=8,
            status in proptest::num::u8::ANY,
            service in "[a-z.]{0,20}",
            deadline in proptest::option::of(proptest::num::u64::ANY),
            meta in proptest::collection::vec(("[a-z-]{1,10}", proptest::collection::vec(proptest::num::u8::ANY, 0..20)), 0..8),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let mut f = Frame::new(Kind(kind), id);
            f.header.status = status;
            f.head.service = Some(service.into());
            f.head.deadline_micros = deadline;
            for (k, v) in meta { f.head.metadata.insert(k, v); }
            f.body = body.into();
            let mut buf = wire(std::slice::from_ref(&f));
            let mut dec = FrameDecoder::new(Limits::default());
            let back = dec.decode(&mut buf).unwrap();
            match back {
                Some(Decoded::Frame(back)) => proptest::prop_assert!(back.same_content(&f)),
                other => proptest::prop_assert!(false, "{:?}", other),
            }
        }
    }
}
