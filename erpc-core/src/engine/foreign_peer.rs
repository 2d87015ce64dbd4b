//! A peer that does not speak erpc, known by the first bytes of its connection: another
//! protocol at the port dialled (an HTTP server — a gateway's, a dashboard's, a metrics
//! endpoint's — or a TLS server dialled as `tcp://`), or a client of another protocol at a
//! server's port. Only the start of a connection says this: a wrong magic later means the
//! byte stream is out of step ([`ProtocolError::BadMagic`](crate::protocol::ProtocolError)),
//! a fault of an erpc peer.

use std::fmt;

use crate::protocol::MAGIC;

/// The first bytes a peer sent, which do not begin with the erpc magic (PROTOCOL.md §2.1).
#[derive(Debug)]
pub(crate) struct ForeignPeer {
    /// At most [`ForeignPeer::KEPT`] of them.
    first: Vec<u8>,
}

impl ForeignPeer {
    /// How many of the first bytes are kept: enough for an HTTP status or request line.
    const KEPT: usize = 64;
    /// How many are shown in hex when they are not text.
    const SHOWN_HEX: usize = 8;

    /// `Some` if `first` — all a connection has received so far, however few bytes —
    /// cannot begin an erpc frame.
    pub fn check(first: &[u8]) -> Option<ForeignPeer> {
        let n = first.len().min(MAGIC.len());
        (first[..n] != MAGIC[..n]).then(|| ForeignPeer {
            first: first[..first.len().min(Self::KEPT)].to_vec(),
        })
    }

    /// The bytes as text for a person, if they are: quoted, up to the first line break, when
    /// that much is printable ASCII (`"HTTP/1.1 400 Bad Request"`), `…` after it when more
    /// was cut.
    fn text(&self) -> Option<String> {
        let line_end = self
            .first
            .iter()
            .position(|b| matches!(b, b'\r' | b'\n'))
            .unwrap_or(self.first.len());
        let line = &self.first[..line_end];
        if line.is_empty() || !line.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return None;
        }
        let cut = if line_end == Self::KEPT { "…" } else { "" };
        // Printable ASCII: one char per byte.
        let line: String = line.iter().map(|&b| char::from(b)).collect();
        Some(format!("{line:?}{cut}"))
    }

    /// The first bytes in hex, as PROTOCOL.md writes frames (`15 03 03 00 02 02 32`), `…`
    /// after them when there are more.
    fn hex(&self) -> String {
        let shown = &self.first[..self.first.len().min(Self::SHOWN_HEX)];
        let mut hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
        if self.first.len() > shown.len() {
            hex.push("…".to_owned());
        }
        hex.join(" ")
    }

    /// The protocol these bytes start, if it is one of the few a wrong port often speaks:
    /// `HTTP` (a status line, or a request line) or `TLS` (a TLS record: an alert or a
    /// handshake).
    pub fn protocol(&self) -> Option<&'static str> {
        const METHODS: [&[u8]; 9] = [
            b"GET ",
            b"POST ",
            b"PUT ",
            b"HEAD ",
            b"DELETE ",
            b"OPTIONS ",
            b"PATCH ",
            b"CONNECT ",
            b"PRI * HTTP/2",
        ];
        let first = self.first.as_slice();
        if first.starts_with(b"HTTP/") || METHODS.iter().any(|m| first.starts_with(m)) {
            return Some("HTTP");
        }
        // A TLS record: content type 20–23, then protocol version major 3.
        match first {
            [0x14..=0x17, 0x03, ..] => Some("TLS"),
            _ => None,
        }
    }

    /// A client's account of a server at `addr` that answered with these bytes: what it
    /// answered, and what it seems to be, with the likely mistake.
    pub fn server_answered(&self, addr: &impl fmt::Display) -> String {
        let guess = match self.protocol() {
            Some("HTTP") => " (an HTTP server: a gateway's, a dashboard's or a metrics port?)",
            Some("TLS") => " (a TLS server: dial it as tls://…)",
            _ => "",
        };
        let answer = match self.text() {
            Some(text) => text,
            None => format!("the bytes {}", self.hex()),
        };
        format!("{addr} is not an erpc server: it answered {answer}{guess}")
    }
}

/// The peer's first bytes and their protocol if known, from either side: `not an erpc peer
/// (bad magic): its first bytes are "GET / HTTP/1.1" (HTTP)`.
impl fmt::Display for ForeignPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.text().unwrap_or_else(|| self.hex());
        write!(
            f,
            "not an erpc peer (bad magic): its first bytes are {first}"
        )?;
        match self.protocol() {
            Some(protocol) => write!(f, " ({protocol})"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_magic_or_a_prefix_of_it_is_not_foreign() {
        assert!(ForeignPeer::check(&[]).is_none());
        assert!(ForeignPeer::check(&MAGIC[..1]).is_none());
        assert!(ForeignPeer::check(&[MAGIC[0], MAGIC[1], 1, 2, 3]).is_none());
        assert!(ForeignPeer::check(b"H").is_some());
        assert!(ForeignPeer::check(&[MAGIC[0], 0]).is_some());
    }

    #[test]
    fn text_is_shown_as_its_first_line_and_other_bytes_in_hex() {
        let http = ForeignPeer::check(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .expect("foreign");
        assert_eq!(http.text().as_deref(), Some("\"HTTP/1.1 400 Bad Request\""));
        assert_eq!(http.protocol(), Some("HTTP"));
        assert_eq!(
            http.server_answered(&"tcp://127.0.0.1:8080"),
            "tcp://127.0.0.1:8080 is not an erpc server: it answered \"HTTP/1.1 400 Bad Request\" (an HTTP server: a gateway's, a dashboard's or a metrics port?)"
        );
        let long = ForeignPeer::check(&[b'x'; 100]).expect("foreign");
        assert_eq!(long.text(), Some(format!("\"{}\"…", "x".repeat(64))));
        let alert = ForeignPeer::check(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]).expect("TLS");
        assert_eq!(alert.text(), None);
        assert_eq!(
            alert.server_answered(&"tcp://127.0.0.1:7443"),
            "tcp://127.0.0.1:7443 is not an erpc server: it answered the bytes 15 03 03 00 02 02 32 (a TLS server: dial it as tls://…)"
        );
        assert_eq!(alert.protocol(), Some("TLS"));
        let binary = ForeignPeer::check(&[0; 20]).expect("foreign");
        assert_eq!(
            binary.to_string(),
            "not an erpc peer (bad magic): its first bytes are 00 00 00 00 00 00 00 00 …"
        );
        assert_eq!(binary.protocol(), None);
        let request = ForeignPeer::check(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").expect("foreign");
        assert_eq!(
            request.to_string(),
            "not an erpc peer (bad magic): its first bytes are \"GET / HTTP/1.1\" (HTTP)"
        );
    }
}
