//! The few facts about erpc frames that a frame-aware transport needs.
//!
//! Most transports carry a byte stream and know nothing of frames. Two map frames onto
//! something else — QUIC puts each call on its own stream, UDP sends one frame per datagram —
//! so they must find frame boundaries, the request id, and whether a frame ends its sender's
//! part of a call. KCP, which has no close, refuses a session with an ERROR frame
//! ([`error_frame`]). The protocol proper lives in `erpc-core`, which takes the header's
//! constants and these frame kinds from here, so each is defined once (PROTOCOL.md §2 is
//! the definition); its tests check the rest of what this module assumes.

use bytes::{Buf, Bytes, BytesMut};

/// Length of the fixed frame header.
pub const HEADER_LEN: usize = 24;
/// The two bytes every frame starts with.
pub const MAGIC: [u8; 2] = [0xEE, 0x52];
/// The protocol version byte.
pub const VERSION: u8 = 1;

/// The largest frame one UDP datagram carries: the largest IPv4 UDP payload (65,507 bytes)
/// less the 17-byte datagram prefix (type and cookie, PROTOCOL.md §12.5).
pub const UDP_MAX_FRAME: usize = 65_507 - 17;

/// Frame kinds (PROTOCOL.md §3) that matter to transports.
pub mod kind {
    /// A call expecting a response.
    pub const REQUEST: u8 = 0x01;
    /// The answer to a request.
    pub const RESPONSE: u8 = 0x02;
    /// A call expecting no response.
    pub const ONEWAY: u8 = 0x03;
    /// The client gave up on a call.
    pub const CANCEL: u8 = 0x04;
    /// Opens a streaming call.
    pub const STREAM_OPEN: u8 = 0x10;
    /// A stream message.
    pub const STREAM_DATA: u8 = 0x11;
    /// A half-close; from the server, the end of the call.
    pub const STREAM_END: u8 = 0x12;
    /// A connection-level failure; its sender closes the connection after it.
    pub const ERROR: u8 = 0x08;
}

/// Status codes (PROTOCOL.md §7) a transport sends itself.
pub mod status {
    /// The call did not run; it may be retried.
    pub const UNAVAILABLE: u8 = 14;
}

/// The header-block tag of the status message (PROTOCOL.md §2.2).
const TAG_STATUS_MESSAGE: u8 = 0x05;

/// An ERROR frame about the whole connection (request id 0) with status `status` and
/// `message` as its status message, cut to 4,096 bytes on a UTF-8 boundary (PROTOCOL.md §7).
/// For a transport that must tell a peer it is refused but has no close of its own (KCP).
pub fn error_frame(status: u8, message: &str) -> Vec<u8> {
    let mut end = message.len().min(4096);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let message = &message.as_bytes()[..end];
    let head_len = 3 + message.len();
    let mut f = Vec::with_capacity(HEADER_LEN + head_len);
    f.extend_from_slice(&MAGIC);
    // version, kind, flags, codec (any: the frame carries no message), compression, status
    f.extend_from_slice(&[VERSION, kind::ERROR, 0, 1, 0, status]);
    f.extend_from_slice(&0u64.to_be_bytes());
    f.extend_from_slice(&(head_len as u32).to_be_bytes());
    f.extend_from_slice(&0u32.to_be_bytes());
    f.push(TAG_STATUS_MESSAGE);
    f.extend_from_slice(&(message.len() as u16).to_be_bytes());
    f.extend_from_slice(message);
    f
}

/// The parts of a frame header a transport reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// The frame kind.
    pub kind: u8,
    /// The call it belongs to (0: the connection).
    pub request_id: u64,
    /// Header + header block + body, in bytes.
    pub len: u64,
}

impl FrameInfo {
    /// Read a header; `None` if `bytes` is shorter than a header or does not start with the
    /// magic bytes.
    pub fn parse(bytes: &[u8]) -> Option<FrameInfo> {
        let mut b = bytes.get(..HEADER_LEN)?;
        if b[..2] != MAGIC {
            return None;
        }
        let kind = b[3];
        b.advance(8);
        let request_id = b.get_u64();
        let head = b.get_u32() as u64;
        let body = b.get_u32() as u64;
        Some(FrameInfo {
            kind,
            request_id,
            len: HEADER_LEN as u64 + head + body,
        })
    }

    /// Whether this frame opens a call (and so, on QUIC, a stream).
    pub fn opens_call(&self) -> bool {
        matches!(self.kind, kind::REQUEST | kind::ONEWAY | kind::STREAM_OPEN)
    }

    /// Whether, sent by a server, this frame ends the call: nothing more comes for its id.
    pub fn ends_call_from_server(&self) -> bool {
        matches!(self.kind, kind::RESPONSE | kind::STREAM_END)
    }
}

/// Cuts the bytes an engine writes into whole frames. The engine writes whole frames, but an
/// `AsyncWrite` may be handed any split of them, so a partial frame is carried over.
#[derive(Debug, Default)]
pub struct Splitter {
    carry: BytesMut,
}

impl Splitter {
    /// Add written bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.carry.extend_from_slice(bytes);
    }

    /// The next whole frame, if one is buffered. Bytes that are not a frame header are an
    /// error: the writer is not an erpc engine.
    pub fn next_frame(&mut self) -> std::io::Result<Option<(FrameInfo, Bytes)>> {
        if self.carry.len() < HEADER_LEN {
            return Ok(None);
        }
        let info = FrameInfo::parse(&self.carry).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "bytes written to a frame-aware transport are not an erpc frame",
            )
        })?;
        if (self.carry.len() as u64) < info.len {
            return Ok(None);
        }
        Ok(Some((
            info,
            self.carry.split_to(info.len as usize).freeze(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, id: u64, body: usize) -> Vec<u8> {
        let mut f = vec![0xEE, 0x52, 1, kind, 0, 0, 0, 0];
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(&0u32.to_be_bytes());
        f.extend_from_slice(&(body as u32).to_be_bytes());
        f.extend(std::iter::repeat_n(7u8, body));
        f
    }

    #[test]
    fn splits_frames_across_any_write_boundaries() {
        let mut bytes = frame(kind::REQUEST, 5, 10);
        bytes.extend(frame(kind::RESPONSE, 6, 0));
        for cut in 0..bytes.len() {
            let mut s = Splitter::default();
            let mut got = Vec::new();
            for part in [&bytes[..cut], &bytes[cut..]] {
                s.push(part);
                while let Some((info, f)) = s.next_frame().unwrap() {
                    got.push((info.request_id, f.len()));
                }
            }
            assert_eq!(got, vec![(5, 34), (6, 24)], "cut at {cut}");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        let mut s = Splitter::default();
        s.push(&[0u8; 30]);
        assert!(s.next_frame().is_err());
    }
}
