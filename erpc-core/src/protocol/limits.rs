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
