//! UDP datagrams as a server and a client read them (cookies, one frame per datagram), and a
//! peer's duplicate window driven by arbitrary calls and responses.
//!
//! Invariants: a server answers only with a 17-byte COOKIE, and only to a datagram of at
//! least 16 bytes (never more than 3× what was sent); a frame is accepted only behind the
//! cookie this server made for this address, and only if the datagram holds exactly one
//! whole frame; a client takes a cookie only from a 17-byte COOKIE; the duplicate window
//! runs each id once while it is remembered and stays within its bounds. erpc does not
//! fragment (PROTOCOL.md §12.5), so there is no reassembly to fuzz.

use arbitrary::Arbitrary;
use bytes::Bytes;
use erpc_transport::__fuzz::{
    COOKIE, ClientRead, DedupeWindow, Dup, MAX_CACHE_BYTES, MAX_IDS, MIN_HELLO, ServerRead,
    ServerReader, client_read,
};

static ZEROS: [u8; MAX_CACHE_BYTES + 1] = [0; MAX_CACHE_BYTES + 1];

#[derive(Arbitrary, Debug)]
enum Call {
    Call(u16),
    Response { id: u16, len: u32 },
}

/// The fuzzer's input, built by `arbitrary` from its bytes (as libFuzzer hands them).
#[derive(Arbitrary, Debug)]
pub struct Input {
    /// Put this server's real cookie for the sender after the first byte (the fuzzer cannot
    /// forge one, and the frame path lies behind it).
    with_cookie: bool,
    datagram: Vec<u8>,
    calls: Vec<Call>,
}

fn frame_is_whole(frame: &[u8], read: &Result<erpc_transport::frames::FrameInfo, String>) {
    let parsed = erpc_transport::frames::FrameInfo::parse(frame);
    match read {
        Ok(info) => {
            assert_eq!(
                info.len,
                frame.len() as u64,
                "accepted a partial or padded frame"
            );
            assert_eq!(parsed.as_ref(), Some(info));
        }
        Err(_) => assert!(parsed.is_none_or(|p| p.len != frame.len() as u64)),
    }
}

/// Drive the code under test with `input` and assert the invariants above; panics on a
/// violation.
pub fn check(input: Input) {
    let from = "192.0.2.7:4000".parse().expect("an address");
    let server = ServerReader::new(from);
    let mut datagram = input.datagram;
    if input.with_cookie && !datagram.is_empty() {
        let end = datagram.len().min(1 + COOKIE);
        let cookie = server.cookie();
        datagram[1..end].copy_from_slice(&cookie[..end - 1]);
    }
    match server.read(&datagram) {
        ServerRead::SendCookie => {
            assert!(
                datagram.len() >= MIN_HELLO,
                "a 17-byte answer to {} bytes",
                datagram.len()
            );
            assert!(17 <= 3 * datagram.len());
            assert!(matches!(datagram[0], 1 | 3));
        }
        ServerRead::Frame(read) => {
            assert_eq!(datagram[0], 3);
            assert!(
                server.is_valid(&datagram[1..1 + COOKIE]),
                "a frame behind a bad cookie"
            );
            frame_is_whole(&datagram[1 + COOKIE..], &read);
        }
        ServerRead::Ignore => {
            let answerable = match datagram.first() {
                Some(1) => datagram.len() >= MIN_HELLO,
                Some(3) => datagram.len() > COOKIE,
                _ => false,
            };
            assert!(!answerable, "ignored a datagram it should answer");
        }
    }
    match client_read(&datagram) {
        ClientRead::Cookie(c) => {
            assert_eq!(datagram.len(), 1 + COOKIE);
            assert_eq!(datagram[0], 2);
            assert_eq!(&c[..], &datagram[1..]);
        }
        ClientRead::Frame(read) => {
            assert_eq!(datagram[0], 4);
            frame_is_whole(&datagram[1..], &read);
        }
        ClientRead::Ignore => assert!(
            !(datagram.first() == Some(&4)
                || (datagram.first() == Some(&2) && datagram.len() == 17))
        ),
    }

    let mut window = DedupeWindow::default();
    let mut seen = std::collections::HashSet::new();
    for call in input.calls {
        match call {
            Call::Call(id) => {
                let first = seen.insert(id);
                let got = window.on_call(id.into());
                // Fewer ids than the window remembers: nothing is forgotten here.
                assert_eq!(first, got == Dup::New, "id {id}: {got:?}");
            }
            Call::Response { id, len } => {
                let len = (len as usize) % (MAX_CACHE_BYTES + 2);
                window.on_response(id.into(), Bytes::from_static(&ZEROS[..len]));
                if seen.contains(&id) && len <= MAX_CACHE_BYTES {
                    match window.on_call(id.into()) {
                        Dup::Replay(b) => assert_eq!(b.len(), len),
                        other => panic!("the response just cached was not replayed: {other:?}"),
                    }
                }
            }
        }
        let (bytes, ids, queued) = window.sizes();
        assert!(bytes <= MAX_CACHE_BYTES && ids <= MAX_IDS && queued <= 2 * ids + 65);
    }
}
