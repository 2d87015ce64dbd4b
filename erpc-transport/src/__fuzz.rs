//! UDP internals the fuzz targets in `fuzz/` (through `fuzz-checks/`) drive. Not part of the
//! API: wrappers over the datagram readers and the duplicate window, which stay
//! crate-private.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::frames::FrameInfo;
use crate::udp::cookie::{COOKIE_LEN, Cookies};
use crate::udp::dedupe::{Dedupe, Seen};
use crate::udp::parse::{AtClient, AtServer, at_client, at_server};
use crate::udp::{dgram, whole_frame};

/// Bytes of responses a window caches.
pub const MAX_CACHE_BYTES: usize = crate::udp::dedupe::MAX_CACHE_BYTES;
/// Call ids a window remembers.
pub const MAX_IDS: usize = crate::udp::dedupe::MAX_IDS;

/// The length of a cookie.
pub const COOKIE: usize = COOKIE_LEN;
/// The smallest HELLO a server answers.
pub const MIN_HELLO: usize = dgram::MIN_HELLO;

/// What a server made of a datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerRead {
    /// It answers with a 17-byte COOKIE.
    SendCookie,
    /// A validated frame datagram: the frame after the cookie, whole or refused.
    Frame(Result<FrameInfo, String>),
    /// Nothing.
    Ignore,
}

/// What a client made of a datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientRead {
    /// A new cookie.
    Cookie([u8; COOKIE_LEN]),
    /// A server frame, whole or refused.
    Frame(Result<FrameInfo, String>),
    /// Nothing.
    Ignore,
}

/// A server's reading of datagrams from one address, with its cookie key.
pub struct ServerReader {
    cookies: Cookies,
    from: SocketAddr,
}

impl ServerReader {
    /// A fresh key, reading datagrams from `from`.
    pub fn new(from: SocketAddr) -> ServerReader {
        ServerReader {
            cookies: Cookies::new(),
            from,
        }
    }

    /// The cookie this server hands `from` now.
    pub fn cookie(&self) -> [u8; COOKIE_LEN] {
        self.cookies.make(self.from, Cookies::epoch(), [0; 4])
    }

    /// Whether `cookie` is valid for `from` now.
    pub fn is_valid(&self, cookie: &[u8]) -> bool {
        self.cookies.check(self.from, cookie).is_some()
    }

    /// Read one datagram.
    pub fn read(&self, datagram: &[u8]) -> ServerRead {
        match at_server(datagram, self.from, &self.cookies) {
            AtServer::SendCookie { .. } => ServerRead::SendCookie,
            AtServer::Frame { frame, .. } => {
                ServerRead::Frame(whole_frame(frame).map_err(|e| e.to_string()))
            }
            AtServer::Ignore => ServerRead::Ignore,
        }
    }
}

/// Read one datagram at a client.
pub fn client_read(datagram: &[u8]) -> ClientRead {
    match at_client(datagram) {
        AtClient::Cookie(c) => ClientRead::Cookie(c),
        AtClient::Frame(frame) => ClientRead::Frame(whole_frame(frame).map_err(|e| e.to_string())),
        AtClient::Ignore => ClientRead::Ignore,
    }
}

/// What the duplicate window said of a call.
#[derive(Debug, PartialEq, Eq)]
pub enum Dup {
    /// Run it.
    New,
    /// Send this cached response again.
    Replay(Bytes),
    /// Drop it.
    Drop,
}

/// One peer's duplicate window, at a fixed instant (nothing expires).
pub struct DedupeWindow(Dedupe, tokio::time::Instant);

impl Default for DedupeWindow {
    fn default() -> Self {
        DedupeWindow(Dedupe::default(), tokio::time::Instant::now())
    }
}

impl DedupeWindow {
    /// A call arrived.
    pub fn on_call(&mut self, id: u64) -> Dup {
        match self.0.on_call(id, self.1) {
            Seen::New => Dup::New,
            Seen::Replay(b) => Dup::Replay(b),
            Seen::Drop => Dup::Drop,
        }
    }
    /// Its response was sent.
    pub fn on_response(&mut self, id: u64, datagram: Bytes) {
        self.0.on_response(id, datagram, self.1);
    }
    /// Bytes of responses cached, ids remembered, and ids queued for the cache's eviction.
    pub fn sizes(&self) -> (usize, usize, usize) {
        self.0.sizes()
    }
}
