//! The wire protocol, sans-IO: frames as bytes in, frames as bytes out. No sockets, no clock.
//!
//! PROTOCOL.md at the repository root is the normative description; this module implements it.
//! A frame is a fixed 24-byte [`Header`], a header block ([`Head`]: service, method, deadline,
//! metadata, status message, accepted compressions) and a body. [`FrameDecoder`] cuts frames
//! out of a byte buffer, checking every length against [`Limits`] before it allocates.
//!
//! ```
//! # use erpc_core as erpc;
//! use erpc::protocol::{Frame, FrameDecoder, Decoded, Kind, Limits};
//! use bytes::{Bytes, BytesMut};
//!
//! let mut frame = Frame::new(Kind::REQUEST, 1);
//! frame.head.service = Some("greeter".into());
//! frame.head.method = Some("hello".into());
//! frame.body = Bytes::from_static(b"\xa3ada");
//! let mut wire = BytesMut::new();
//! frame.encode(&mut wire).unwrap();
//!
//! let mut decoder = FrameDecoder::new(Limits::default());
//! match decoder.decode(&mut wire).unwrap() {
//!     Some(Decoded::Frame(back)) => assert!(back.same_content(&frame)),
//!     other => panic!("{other:?}"),
//! }
//! ```

mod bytestr;
mod compression_list;
mod decoder;
mod frame;
mod head;
mod header;
mod limits;

pub use bytestr::ByteStr;
pub use compression_list::CompressionList;
pub use decoder::{Decoded, FrameDecoder};
pub use frame::{EncodeError, Frame};
pub use head::{Head, HeadError, tag};
pub use header::{HEADER_LEN, Header, Kind, MAGIC, VERSION};
pub use limits::{INITIAL_WINDOW, Limits};

/// A violation that ends the connection: after it the byte stream cannot be trusted to be in
/// step, so the peer gets an `ERROR` frame and the connection closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The first two bytes of a frame are not the magic.
    #[error("bad magic {0:02x?}: not an erpc peer, or the stream is out of step")]
    BadMagic([u8; 2]),
    /// Fewer than [`HEADER_LEN`] bytes were given to [`Header::decode`].
    #[error("a frame header is {HEADER_LEN} bytes; got {0}")]
    ShortHeader(usize),
    /// A protocol version this peer does not speak.
    #[error("unsupported protocol version {0} (this peer speaks {VERSION})")]
    UnsupportedVersion(u8),
    /// A frame so large that not even discarding it is reasonable.
    #[error("frame of {declared} bytes exceeds the discard limit of {limit} bytes")]
    FrameTooLarge {
        /// Header block plus body length, as declared.
        declared: u64,
        /// The configured discard limit.
        limit: u64,
    },
}
