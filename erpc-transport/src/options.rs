//! What a transport needs beyond the address: certificates, the handshake deadline, the
//! largest frame and the listen backlog, shared by every transport that has a handshake,
//! messages or a queue of its own.

use std::sync::OnceLock;
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
    /// Connections a listener holds before the server accepts them; a burst beyond it waits
    /// out a retransmission (TCP's SYN retry is one second) or is refused. Per transport:
    /// - tcp, tls, ws, wss: the kernel's accept queue (`listen(2)` backlog). The kernel
    ///   caps it at `net.core.somaxconn`. TLS and WebSocket handshakes then run at most 256
    ///   at once per listener; further connections wait in this queue, not refused.
    /// - unix: the same, for the Unix socket.
    /// - udp: validated peers waiting to be accepted; a peer beyond it is not taken on
    ///   and its client's retransmission tries again.
    /// - kcp: sessions waiting to be accepted, beyond the 1,024 tokio_kcp queues itself.
    /// - quic: unused; quinn queues up to 65,536 connection attempts (its `max_incoming`)
    ///   and erpc runs 256 handshakes at once per listener.
    /// - mem: unused (1,024 pending links).
    ///
    /// Default [`default_backlog`]: the system's largest, so a burst of connections is
    /// bounded by the machine's setting, not by a library's default (tokio's 128 made
    /// some of a burst of 1,000 connects wait a second: issue 23).
    pub backlog: u32,
    /// Dialers of transports from outside this crate, by URL scheme (see
    /// [`crate::custom`]); a client's addresses with such a scheme parse as
    /// [`Address::Other`](crate::Address::Other). Default: none.
    pub connectors: crate::custom::Connectors,
}

/// The backlog used where [`Options::backlog`] is not set: Linux's
/// `/proc/sys/net/core/somaxconn` (the largest backlog the kernel grants; 4,096 by default
/// since Linux 5.4), read once, or 4,096 where it cannot be read (other systems; the kernel
/// still caps it at its own limit).
pub fn default_backlog() -> u32 {
    static BACKLOG: OnceLock<u32> = OnceLock::new();
    *BACKLOG.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(FALLBACK_BACKLOG)
    })
}

/// [`default_backlog`] where the system's maximum cannot be read.
pub const FALLBACK_BACKLOG: u32 = 4096;

impl Default for Options {
    fn default() -> Self {
        Options {
            #[cfg(feature = "tls")]
            server_tls: None,
            #[cfg(feature = "tls")]
            client_tls: None,
            handshake_timeout: Duration::from_secs(10),
            max_frame: DEFAULT_MAX_FRAME,
            backlog: default_backlog(),
            connectors: crate::custom::Connectors::default(),
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

    /// Dial `scheme://…` addresses with `connector`, a transport from outside this crate (or
    /// a replacement for a built-in one). See [`crate::custom`].
    pub fn connector(
        mut self,
        scheme: impl Into<String>,
        connector: impl crate::custom::Connector,
    ) -> Self {
        self.connectors
            .insert(scheme, std::sync::Arc::new(connector));
        self
    }

    /// Set the listen backlog ([`Options::backlog`]); 0 is taken as 1.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog.max(1);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_backlog_is_the_systems_maximum() {
        let system = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok());
        assert_eq!(
            Options::default().backlog,
            system.unwrap_or(FALLBACK_BACKLOG)
        );
        assert_eq!(Options::default().backlog(0).backlog, 1);
    }
}
