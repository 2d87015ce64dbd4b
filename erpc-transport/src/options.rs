//! What a transport needs beyond the address: certificates, the handshake deadline and the
//! largest frame, shared by every transport that has a handshake or messages of its own.

use std::time::Duration;

/// The default [`Options::max_frame`]: erpc's default limits (4 MiB body, 16 KiB header
/// block, 24-byte header) rounded up to a 64 KiB boundary.
pub const DEFAULT_MAX_FRAME: usize = (4 << 20) + (64 << 10);

/// Transport settings for binding and dialing.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Certificate and key of a listener (`tls://`, `wss://`, `quic://`), and whether it
    /// asks clients for certificates.
    #[cfg(feature = "tls")]
    pub server_tls: Option<crate::tls::ServerTls>,
    /// The roots a client trusts (and its own certificate for mTLS). Without it a client
    /// trusts nothing, so TLS connections fail with a clear error.
    #[cfg(feature = "tls")]
    pub client_tls: Option<crate::tls::ClientTls>,
    /// A peer must finish its handshake (TLS, WebSocket upgrade, QUIC, UDP cookie) within
    /// this, or it is dropped: a silent client cannot hold a slot. Default 10 s.
    pub handshake_timeout: Duration,
    /// The largest WebSocket message, and the largest frame a QUIC stream buffers whole.
    /// Keep it at least the engine's largest frame (body + header block + 24). Default
    /// [`DEFAULT_MAX_FRAME`].
    pub max_frame: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            #[cfg(feature = "tls")]
            server_tls: None,
            #[cfg(feature = "tls")]
            client_tls: None,
            handshake_timeout: Duration::from_secs(10),
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}

impl Options {
    /// Set the listener's certificate.
    #[cfg(feature = "tls")]
    pub fn server_tls(mut self, tls: crate::tls::ServerTls) -> Self {
        self.server_tls = Some(tls);
        self
    }

    /// Set the roots (and identity) a client uses.
    #[cfg(feature = "tls")]
    pub fn client_tls(mut self, tls: crate::tls::ClientTls) -> Self {
        self.client_tls = Some(tls);
        self
    }

    /// Set the handshake deadline.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }
}
