//! The sizes a peer accepts, checked before anything is allocated.

/// Credit each side of a stream starts with, per direction, in bytes (PROTOCOL.md §13): a
/// protocol constant, and the least `stream_window` either side may configure.
pub const INITIAL_WINDOW: u32 = 256 * 1024;

/// Size limits for decoding frames. Defaults follow ARCHITECTURE.md (gRPC's 4 MiB body,
/// hyper's 16 KiB header list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body accepted on the wire (compressed or not). Default 4 MiB.
    pub max_body: u32,
    /// Largest body after decompression. Default 4 MiB.
    pub max_decompressed: usize,
    /// Largest header block (names, deadline, metadata, status message). Default 16 KiB.
    pub max_head: u32,
    /// Most metadata entries in one header block. Default 64.
    pub max_metadata_entries: usize,
    /// A frame over the limits but no larger than this is skipped without storing it and the
    /// call alone is refused with `resource_exhausted`; a larger one closes the connection.
    /// Default 64 MiB.
    pub max_discard: u64,
}

impl Limits {
    /// Whether these limits can work: every body and header size above zero (a zero one
    /// refuses every call). The counts may be zero: no metadata, no bytes skipped.
    ///
    /// # Errors
    /// The limit at fault (`"limits.max_body"`) and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        use crate::config::above_zero;
        above_zero("limits.max_body", self.max_body == 0)?;
        above_zero("limits.max_decompressed", self.max_decompressed == 0)?;
        above_zero("limits.max_head", self.max_head == 0)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 4 << 20,
            max_decompressed: 4 << 20,
            max_head: 16 << 10,
            max_metadata_entries: 64,
            max_discard: 64 << 20,
        }
    }
}
