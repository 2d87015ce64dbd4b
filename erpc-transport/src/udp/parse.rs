//! What a datagram is, decided from its bytes alone (PROTOCOL.md §12.5): the server's and
//! the client's reading of an arriving datagram, kept apart from the sockets so both can be
//! tested — and fuzzed — without I/O.

use std::net::SocketAddr;

use super::cookie::{COOKIE_LEN, Cookie, Cookies, Nonce, nonce_of};
use super::dgram;

/// What a server does with a datagram from an address.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AtServer<'a> {
    /// Answer with a fresh COOKIE (17 bytes): a HELLO of at least [`dgram::MIN_HELLO`]
    /// bytes, or a client FRAME whose cookie is missing, expired or forged. Either is at
    /// least 16 bytes, so the answer is never more than 3× what the sender spent. The cookie
    /// carries `nonce`: the HELLO's, or the one the refused cookie held (so a client whose
    /// cookie expired gets one for the connection it has).
    SendCookie {
        /// The connection nonce the answer carries.
        nonce: Nonce,
    },
    /// A client FRAME whose cookie, made in `epoch`, is valid for the sender: `frame` is
    /// what follows the cookie (whether it is one whole frame is checked next).
    Frame {
        /// The epoch the cookie was made in.
        epoch: u64,
        /// The connection nonce the cookie carries.
        nonce: Nonce,
        /// The bytes after the type and the cookie.
        frame: &'a [u8],
    },
    /// Anything else, or too short to answer within 3×: no answer, no state.
    Ignore,
}

/// Read a datagram that arrived at a server from `from`.
pub(crate) fn at_server<'a>(
    datagram: &'a [u8],
    from: SocketAddr,
    cookies: &Cookies,
) -> AtServer<'a> {
    match datagram.first() {
        Some(&dgram::HELLO) if datagram.len() >= dgram::MIN_HELLO => AtServer::SendCookie {
            nonce: nonce_of(&datagram[1..]),
        },
        Some(&dgram::CLIENT_FRAME) if datagram.len() >= dgram::CLIENT_PREFIX => {
            let cookie = &datagram[1..dgram::CLIENT_PREFIX];
            match cookies.check(from, cookie) {
                Some((epoch, nonce)) => AtServer::Frame {
                    epoch,
                    nonce,
                    frame: &datagram[dgram::CLIENT_PREFIX..],
                },
                None => AtServer::SendCookie {
                    nonce: nonce_of(cookie),
                },
            }
        }
        _ => AtServer::Ignore,
    }
}

/// What a client does with a datagram from its server.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AtClient<'a> {
    /// A COOKIE: use it from now on.
    Cookie(Cookie),
    /// A server FRAME: `frame` is what follows the type byte.
    Frame(&'a [u8]),
    /// Anything else: dropped.
    Ignore,
}

/// Read a datagram that arrived at a client.
pub(crate) fn at_client(datagram: &[u8]) -> AtClient<'_> {
    match datagram.first() {
        Some(&dgram::COOKIE) if datagram.len() == 1 + COOKIE_LEN => {
            let mut cookie = [0u8; COOKIE_LEN];
            cookie.copy_from_slice(&datagram[1..]);
            AtClient::Cookie(cookie)
        }
        Some(&dgram::SERVER_FRAME) => AtClient::Frame(&datagram[1..]),
        _ => AtClient::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_datagram_type_is_read_as_the_protocol_says() {
        let cookies = Cookies::new();
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let nonce = [7, 0, 0, 9];
        let mut hello = [0u8; dgram::MIN_HELLO];
        hello[0] = dgram::HELLO;
        hello[1..5].copy_from_slice(&nonce);
        assert_eq!(
            at_server(&hello, from, &cookies),
            AtServer::SendCookie { nonce }
        );
        assert_eq!(at_server(&hello[..15], from, &cookies), AtServer::Ignore);
        let mut frame = vec![dgram::CLIENT_FRAME];
        frame.extend_from_slice(&cookies.make(from, Cookies::epoch(), nonce));
        frame.extend_from_slice(b"xyz");
        assert_eq!(
            at_server(&frame, from, &cookies),
            AtServer::Frame {
                epoch: Cookies::epoch(),
                nonce,
                frame: b"xyz"
            }
        );
        // A refused cookie is answered with one for the nonce it carried.
        frame[16] ^= 1;
        assert_eq!(
            at_server(&frame, from, &cookies),
            AtServer::SendCookie { nonce }
        );
        assert_eq!(at_server(&frame[..16], from, &cookies), AtServer::Ignore);
        assert_eq!(at_server(&[], from, &cookies), AtServer::Ignore);

        let mut cookie = [dgram::COOKIE; 1 + COOKIE_LEN];
        cookie[1..].copy_from_slice(&[9; COOKIE_LEN]);
        assert_eq!(at_client(&cookie), AtClient::Cookie([9; COOKIE_LEN]));
        assert_eq!(at_client(&cookie[..16]), AtClient::Ignore);
        assert_eq!(
            at_client(&[dgram::SERVER_FRAME, 1, 2]),
            AtClient::Frame(&[1, 2])
        );
        assert_eq!(at_client(&[]), AtClient::Ignore);
    }
}
