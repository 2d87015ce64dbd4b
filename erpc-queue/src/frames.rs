//! The erpc frames a queued call carries inside its envelope (QUEUE.md §3): a REQUEST or
//! ONEWAY going to the bridge, a RESPONSE coming back. Built and read with erpc-core's
//! sans-IO protocol, so codecs, compression, metadata and status travel exactly as on a
//! connection.

use bytes::{Bytes, BytesMut};
use erpc_core::protocol::{Decoded, Frame, FrameDecoder, Kind, Limits};
use erpc_core::{ClientRequest, ClientResponse, Code, Status};

/// The request id written into queued frames: the protocol wants one ≠ 0, and on a queue it
/// names nothing (the envelope's correlation id pairs the answer).
const QUEUED_ID: u64 = 1;

/// The REQUEST (or, for `request.oneway`, ONEWAY) frame for `request`, as bytes: its codec,
/// metadata and body (uncompressed: the queue's own limits apply, not erpc's threshold). The
/// deadline is not in the frame but in the envelope (absolute, so time queued counts).
pub fn request_frame(request: &ClientRequest) -> Result<Bytes, Status> {
    let kind = if request.oneway {
        Kind::ONEWAY
    } else {
        Kind::REQUEST
    };
    let mut frame = Frame::new(kind, QUEUED_ID);
    frame.header.codec = request.codec;
    frame.head.service = Some(request.service.clone());
    frame.head.method = Some(request.method.clone());
    frame.head.metadata = request.metadata.clone();
    frame.body = request.body.clone();
    encode(&frame)
}

/// A queued request frame read back into the request to forward: service, method, codec,
/// metadata, the decompressed body, and whether it is a oneway. `deadline` is the call's.
/// Errors name what is wrong: a request that fails here can never succeed (dead letter).
pub fn read_request(
    bytes: &Bytes,
    deadline: tokio::time::Instant,
) -> Result<ClientRequest, String> {
    let frame = decode(bytes)?;
    let oneway = match frame.header.kind {
        Kind::REQUEST => false,
        Kind::ONEWAY => true,
        other => {
            return Err(format!(
                "a queued request carries a REQUEST or ONEWAY frame, not {}",
                other.name()
            ));
        }
    };
    let (Some(service), Some(method)) = (frame.head.service, frame.head.method) else {
        return Err("the request frame names no service or no method (tags 01, 02)".into());
    };
    // Empty is as missing: no service is named "" (a `*` target would otherwise forward it,
    // and the service would answer `unimplemented` for a request that was never valid).
    for (tag, name, value) in [("01", "service", &service), ("02", "method", &method)] {
        if value.is_empty() {
            return Err(format!("the request frame's {name} (tag {tag}) is empty"));
        }
    }
    let body = erpc_codec::compression::decompress(
        frame.header.compression,
        &frame.body,
        Limits::default().max_decompressed,
    )
    .map_err(|e| format!("the request body does not decompress: {e}"))?;
    Ok(ClientRequest {
        metadata: frame.head.metadata,
        deadline,
        codec: frame.header.codec,
        oneway,
        ..ClientRequest::new(service, method, body)
    })
}

/// The RESPONSE frame answering with `result`, as bytes: the body uncompressed, in the codec
/// the service answered in, with its metadata; a failure within the answer budget every peer
/// accepts (PROTOCOL.md §7).
pub fn response_frame(result: &Result<ClientResponse, Status>) -> Bytes {
    let frame = match result {
        Ok(response) => {
            let mut frame = Frame::new(Kind::RESPONSE, QUEUED_ID);
            frame.header.codec = response.codec;
            frame.head.metadata = response.metadata.clone();
            frame.body = response.body.clone();
            match erpc_core::status_wire::check_answer(&frame) {
                Ok(()) => frame,
                Err(status) => erpc_core::status_wire::status_frame(QUEUED_ID, &status),
            }
        }
        Err(status) => erpc_core::status_wire::status_frame(QUEUED_ID, status),
    };
    // Within the answer budget and a body that came through erpc's limits: it encodes.
    encode(&frame).unwrap_or_else(|status| {
        encode(&erpc_core::status_wire::status_frame(QUEUED_ID, &status)).unwrap_or_default()
    })
}

/// A queued RESPONSE frame read back into the call's result.
pub fn read_response(bytes: &Bytes) -> Result<ClientResponse, Status> {
    let frame = decode(bytes).map_err(|e| Status::internal(format!("queued response: {e}")))?;
    if frame.header.kind != Kind::RESPONSE {
        return Err(Status::internal(format!(
            "queued response carries a {} frame, not RESPONSE",
            frame.header.kind.name()
        )));
    }
    erpc_core::status_wire::status_of(&frame)?;
    let body = erpc_codec::compression::decompress(
        frame.header.compression,
        &frame.body,
        Limits::default().max_decompressed,
    )
    .map_err(|e| Status::new(Code::InvalidArgument, format!("queued response body: {e}")))?;
    Ok(ClientResponse {
        codec: frame.header.codec,
        compression: frame.header.compression,
        wire_len: frame.body.len(),
        metadata: frame.head.metadata,
        body,
    })
}

fn encode(frame: &Frame) -> Result<Bytes, Status> {
    let mut out = BytesMut::with_capacity(frame.encoded_len());
    frame
        .encode(&mut out)
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    Ok(out.freeze())
}

/// Exactly one well-formed frame within erpc's default limits, and nothing after it.
fn decode(bytes: &Bytes) -> Result<Frame, String> {
    let mut buf = BytesMut::from(&bytes[..]);
    let decoded = FrameDecoder::new(Limits::default())
        .decode(&mut buf)
        .map_err(|e| format!("not an erpc frame: {e}"))?;
    let frame = match decoded {
        Some(Decoded::Frame(frame)) => frame,
        Some(Decoded::Oversized { reason, .. }) => {
            return Err(format!("frame over the limits: {reason}"));
        }
        Some(Decoded::BadHead { error, .. }) => {
            return Err(format!("malformed header block: {error}"));
        }
        None => {
            return Err(format!(
                "truncated erpc frame ({} bytes, shorter than its header's lengths)",
                bytes.len()
            ));
        }
    };
    if !buf.is_empty() {
        return Err(format!("{} bytes after the erpc frame", buf.len()));
    }
    Ok(frame)
}
