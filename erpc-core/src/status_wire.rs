//! A [`Status`] on the wire, both ways, in one place: the failure fields of RESPONSE and
//! STREAM_END (status byte, `status message`, `status details`; PROTOCOL.md §2.2, §7) written
//! by [`status_frame`] and read by [`status_of`]. Public for peers that carry frames outside a
//! connection (the queue bridge of `erpc-queue` answers a queued request with a RESPONSE frame).
//!
//! **An answer fits what every peer accepts.** A receiver refuses a header block over its
//! limits (§8; 16 KiB and 64 metadata entries by default), and a refused answer turns the
//! handler's status into a different error (`resource_exhausted: header block …`). So the
//! sender keeps each answer within the protocol's default limits, keeping the code and saying
//! what it left out: a message over 4 KiB is cut and marked, details that would not fit are
//! dropped with a note in the message, and response metadata over the limits fails the call
//! `internal` naming them (a handler bug the developer must see, not data to lose quietly).

use crate::protocol::{Frame, Kind, Limits};
use crate::status::{Code, Status};

/// Status messages are cut to this many bytes: enough to explain, too short to amplify.
pub(crate) const MAX_MESSAGE: usize = 4096;

/// The header block and metadata count every peer accepts: the protocol's default limits.
pub(crate) fn answer_budget() -> (usize, usize) {
    let limits = Limits::default();
    (limits.max_head as usize, limits.max_metadata_entries)
}

/// A RESPONSE frame carrying a failure, within the answer budget (`answer_budget`).
pub fn status_frame(id: u64, status: &Status) -> Frame {
    let mut frame = Frame::new(Kind::RESPONSE, id);
    frame.header.status = status.code() as u8;
    let mut message = truncate(status.message());
    let details = status.details();
    if !details.is_empty() {
        let (max_head, _) = answer_budget();
        // Each field costs its 3-byte tag and length.
        if 3 + message.len() + 3 + details.len() <= max_head {
            frame.head.details = Some(details.clone());
        } else {
            message.push_str(&format!(
                " [status details of {} bytes dropped: over the {max_head}-byte header block every peer accepts]",
                details.len()
            ));
        }
    }
    frame.head.message = Some(message.into());
    frame
}

/// Check a successful answer's header block (its metadata) against the answer
/// budget (`answer_budget`); the failure to send instead when it is over.
pub fn check_answer(frame: &Frame) -> Result<(), Status> {
    let (max_head, max_entries) = answer_budget();
    let (len, entries) = (frame.head.encoded_len(), frame.head.metadata.len());
    if len > max_head || entries > max_entries || !frame.head.fits() {
        return Err(Status::internal(format!(
            "response metadata ({entries} entries, a {len}-byte header block) exceeds what every peer accepts ({max_entries} entries, {max_head} bytes; entries up to 65,000 bytes); not sent"
        )));
    }
    Ok(())
}

/// The status a RESPONSE or STREAM_END carries: `Ok(())` for status `00`.
pub fn status_of(frame: &Frame) -> Result<(), Status> {
    if frame.header.status == Code::Ok as u8 {
        return Ok(());
    }
    let message = frame.head.message.as_ref().map_or("", |m| m.as_str());
    let mut status = Status::new(Code::from_u8(frame.header.status), message);
    if let Some(details) = &frame.head.details {
        status = status.with_details(details.clone());
    }
    Err(status)
}

/// `message` cut to [`MAX_MESSAGE`] bytes (on a character boundary), marked when cut.
pub(crate) fn truncate(message: &str) -> String {
    if message.len() <= MAX_MESSAGE {
        return message.to_owned();
    }
    let mark = format!(" [cut from {} bytes]", message.len());
    let mut cut = MAX_MESSAGE - mark.len();
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(MAX_MESSAGE);
    out.push_str(&message[..cut]);
    out.push_str(&mark);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FrameDecoder;

    /// An answer round-trips through a decoder with the default limits.
    fn through_default_peer(frame: &Frame) -> Result<(), Status> {
        let mut bytes = bytes::BytesMut::new();
        frame.encode(&mut bytes).unwrap();
        match FrameDecoder::new(Limits::default())
            .decode(&mut bytes)
            .unwrap()
        {
            Some(crate::protocol::Decoded::Frame(f)) => status_of(&f),
            other => panic!("a default peer refused the answer: {other:?}"),
        }
    }

    #[test]
    fn details_that_fit_travel_whole() {
        let status = Status::not_found("x").with_details(vec![1u8; 12_000]);
        let back = through_default_peer(&status_frame(1, &status)).unwrap_err();
        assert_eq!(back.code(), Code::NotFound);
        assert_eq!(back.details().len(), 12_000);
        assert_eq!(back.message(), "x");
    }

    #[test]
    fn details_too_large_are_dropped_keeping_the_code_and_saying_so() {
        for size in [20_000usize, 70_000] {
            let status = Status::not_found("x").with_details(vec![0u8; size]);
            let back = through_default_peer(&status_frame(1, &status)).unwrap_err();
            assert_eq!(back.code(), Code::NotFound, "{size}");
            assert!(back.details().is_empty());
            assert!(
                back.message()
                    .contains(&format!("status details of {size} bytes dropped")),
                "{}",
                back.message()
            );
        }
    }

    #[test]
    fn a_long_message_is_cut_and_marked_on_a_char_boundary() {
        let status = Status::internal("é".repeat(5_000)).with_details(vec![0u8; 16_000]);
        let back = through_default_peer(&status_frame(1, &status)).unwrap_err();
        assert!(back.message().len() <= MAX_MESSAGE + 200);
        assert!(back.message().contains("[cut from 10000 bytes]"));
        assert_eq!(back.code(), Code::Internal);
    }

    #[test]
    fn response_metadata_over_the_limits_is_refused_by_the_sender() {
        let mut frame = Frame::new(Kind::RESPONSE, 1);
        frame.head.metadata.insert("big", vec![0u8; 17_000]);
        assert_eq!(check_answer(&frame).unwrap_err().code(), Code::Internal);
        let mut frame = Frame::new(Kind::RESPONSE, 1);
        for i in 0..65 {
            frame.head.metadata.insert(format!("k{i}"), "v");
        }
        assert!(
            check_answer(&frame)
                .unwrap_err()
                .message()
                .contains("65 entries")
        );
        let mut frame = Frame::new(Kind::RESPONSE, 1);
        frame.head.metadata.insert("ok", "v");
        assert!(check_answer(&frame).is_ok());
    }
}
