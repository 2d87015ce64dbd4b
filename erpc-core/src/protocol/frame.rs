//! A whole frame: header, header block and body.

use bytes::{BufMut, Bytes, BytesMut};
use erpc_codec::CodecId;
use erpc_codec::compression::CompressionId;

use crate::protocol::{HEADER_LEN, Head, Header, Kind};

/// One protocol frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The fixed header. Its `head_len` and `body_len` are recomputed by [`Frame::encode`].
    pub header: Header,
    /// The header block.
    pub head: Head,
    /// The body, as it travels (encoded by `header.codec`, compressed by
    /// `header.compression`).
    pub body: Bytes,
}

/// A frame that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A header-block field is longer than its length prefix allows.
    #[error(
        "a header-block field is too long (names, messages and metadata entries are capped at 65535 bytes, keys at 255)"
    )]
    FieldTooLong,
    /// The body does not fit the 32-bit length.
    #[error("body of {0} bytes does not fit in a frame")]
    BodyTooLong(usize),
}

impl Frame {
    /// An empty frame of `kind` for `request_id`, in MessagePack, uncompressed.
    pub fn new(kind: Kind, request_id: u64) -> Frame {
        Frame {
            header: Header {
                kind,
                flags: 0,
                codec: CodecId::MSGPACK,
                compression: CompressionId::NONE,
                status: 0,
                request_id,
                head_len: 0,
                body_len: 0,
            },
            head: Head::default(),
            body: Bytes::new(),
        }
    }

    /// Whether two frames carry the same content, ignoring the derived length fields.
    pub fn same_content(&self, other: &Frame) -> bool {
        let lengths_free = |h: &Header| Header {
            head_len: 0,
            body_len: 0,
            ..*h
        };
        lengths_free(&self.header) == lengths_free(&other.header)
            && self.head == other.head
            && self.body == other.body
    }

    /// The encoded size of this frame.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.head.encoded_len() + self.body.len()
    }

    /// Append the frame to `out`.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        if !self.head.fits() {
            return Err(EncodeError::FieldTooLong);
        }
        let body_len = u32::try_from(self.body.len())
            .map_err(|_| EncodeError::BodyTooLong(self.body.len()))?;
        let head_len = self.head.encoded_len();
        let head_len = u32::try_from(head_len).map_err(|_| EncodeError::FieldTooLong)?;
        out.reserve(HEADER_LEN + head_len as usize + body_len as usize);
        Header {
            head_len,
            body_len,
            ..self.header
        }
        .encode(out);
        self.head.encode(out);
        out.put_slice(&self.body);
        Ok(())
    }
}
