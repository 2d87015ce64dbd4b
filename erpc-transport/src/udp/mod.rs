//! UDP (`udp://host:port`): one erpc frame per datagram, with address validation.
//!
//! Every datagram starts with a type byte (PROTOCOL.md §12.5):
//!
//! | type | name    | direction        | rest                               |
//! |------|---------|------------------|------------------------------------|
//! | 0x01 | HELLO   | client → server  | 4-byte nonce, padding to 16 bytes  |
//! | 0x02 | COOKIE  | server → client  | the 16-byte cookie (nonce first)   |
//! | 0x03 | FRAME   | client → server  | the cookie, then one erpc frame    |
//! | 0x04 | FRAME   | server → client  | one erpc frame                     |
//!
//! A server answers an address it has not validated with at most one COOKIE (17 bytes) per
//! datagram of at least 16 bytes, so it can never reflect more than 3× what a spoofed sender
//! spent; it keeps no state for such an address. A FRAME with a valid cookie proves the
//! sender receives at its address, and only then does the server create a connection. The
//! client's per-connection nonce, echoed in the cookie, tells apart clients that use one
//! address (port) one after the other: each gets a connection of its own.
//!
//! Delivery: datagrams may be lost, duplicated or reordered. The client retransmits each
//! request until its response arrives, its deadline passes or it has tried
//! 8 times (`retransmit::MAX_TRIES`); the server runs a request id once (duplicates within its
//! window are dropped, or answered from its response cache; see `dedupe`). Streaming
//! calls are refused: they need ordered, reliable delivery (use kcp:// or quic://).

pub(crate) mod client;
pub(crate) mod cookie;
pub(crate) mod dedupe;
pub(crate) mod io;
pub(crate) mod parse;
pub(crate) mod receive;
pub(crate) mod retransmit;
pub(crate) mod server;

pub use server::UdpListener;

pub(crate) use client::connect;

/// Datagram type bytes.
pub(crate) mod dgram {
    pub const HELLO: u8 = 0x01;
    pub const COOKIE: u8 = 0x02;
    pub const CLIENT_FRAME: u8 = 0x03;
    pub const SERVER_FRAME: u8 = 0x04;
    /// The smallest HELLO: one type byte and 15 of padding. Its COOKIE answer is 17 bytes.
    pub const MIN_HELLO: usize = 16;
    /// Bytes before the frame in a client FRAME: type and cookie.
    pub const CLIENT_PREFIX: usize = 1 + super::cookie::COOKIE_LEN;
}

/// The largest datagram read: the largest UDP payload.
pub(crate) const MAX_DATAGRAM: usize = 65_535;

/// Check that `frame` is exactly one erpc frame.
pub(crate) fn whole_frame(frame: &[u8]) -> std::io::Result<crate::frames::FrameInfo> {
    match crate::frames::FrameInfo::parse(frame) {
        Some(info) if info.len == frame.len() as u64 => Ok(info),
        Some(info) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "a datagram of {} bytes holds a frame of {} bytes: one datagram carries exactly one frame",
                frame.len(),
                info.len
            ),
        )),
        None => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a datagram does not start with an erpc frame header",
        )),
    }
}
