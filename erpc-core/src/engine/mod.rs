//! The connection engine shared by client and server: one writer task per connection that
//! coalesces every ready frame into one write, and a read loop that decodes frames, answers
//! pings and watches liveness.

pub(crate) mod deadlines;
pub(crate) mod heartbeat;
pub(crate) mod reader;
pub(crate) mod signal;
pub(crate) mod writer;

use tokio::time::Instant;

use crate::protocol::Frame;

/// A frame on its way to the writer. The deadline is kept absolute until the moment of
/// writing, so the relative deadline on the wire is as fresh as it can be.
#[derive(Debug)]
pub(crate) struct OutFrame {
    pub frame: Frame,
    pub deadline: Option<Instant>,
}

impl From<Frame> for OutFrame {
    fn from(frame: Frame) -> Self {
        OutFrame {
            frame,
            deadline: None,
        }
    }
}

/// A frame to send without a header block: ping, pong, cancel, goaway, error.
pub(crate) fn control(kind: crate::protocol::Kind, request_id: u64) -> OutFrame {
    Frame::new(kind, request_id).into()
}
