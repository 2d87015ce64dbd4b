//! What several fuzz targets share: the codec and decompressor checks, run per codec and per
//! compression by their own targets so each reports its own figures.

use bytes::{Bytes, BytesMut};
use erpc_center::{Change, ConfigListing, Event, Filter, Instance, Lease, Listing};
use erpc_codec::compression::{CompressionId, compress, decompress};
use erpc_codec::{Codec, CompressionError, Message};

/// Decode `body` with `codec` into every type a center reads or answers with; whatever
/// decodes must encode again and decode again to something that encodes to the same bytes;
/// and whatever the center would carry (see [`carried`]) must travel in `other` too (a
/// center serves MessagePack and JSON clients alike).
pub fn check_codec(codec: &dyn Codec, other: &dyn Codec, body: &[u8]) {
    // The center's requests (several arguments travel as a tuple)…
    round_trip::<(Instance, u64)>(codec, other, body, |(i, _)| carried(i));
    round_trip::<u64>(codec, other, body, |_| true);
    round_trip::<(String, String)>(codec, other, body, |_| true);
    round_trip::<(String, Filter)>(codec, other, body, |_| true);
    round_trip::<(String, u64, u64)>(codec, other, body, |_| true);
    round_trip::<String>(codec, other, body, |_| true);
    // …and its answers.
    round_trip::<Lease>(codec, other, body, |_| true);
    round_trip::<Listing>(codec, other, body, |l| l.instances.iter().all(carried));
    round_trip::<ConfigListing>(codec, other, body, |_| true);
    round_trip::<Event>(codec, other, body, |e| match &e.change {
        Change::Registered(i) => carried(i),
        _ => true,
    });
}

/// Whether the center would store and send `instance`: it refuses a location off the globe
/// at registration (NaN and infinities included), and JSON has no NaN or infinity, so
/// such a value decoded from MessagePack cannot travel in JSON — which is why it is refused.
fn carried(instance: &Instance) -> bool {
    instance
        .location
        .is_none_or(|(lat, lon)| lat.is_finite() && lon.is_finite())
}

fn round_trip<T: Message>(
    codec: &dyn Codec,
    other: &dyn Codec,
    body: &[u8],
    carried: fn(&T) -> bool,
) {
    let Ok(value) = T::decode(codec, Bytes::copy_from_slice(body)) else {
        return;
    };
    let mut first = BytesMut::new();
    value
        .encode(codec, &mut first)
        .expect("a decoded value encodes");
    let again = T::decode(codec, first.clone().freeze()).expect("a re-encoded value decodes");
    let mut second = BytesMut::new();
    again
        .encode(codec, &mut second)
        .expect("a decoded value encodes");
    assert_eq!(first, second, "encoding is not stable across a round trip");
    if !carried(&value) {
        return;
    }
    let mut across = BytesMut::new();
    value
        .encode(other, &mut across)
        .expect("a decoded value encodes in the other codec");
    T::decode(other, across.freeze()).expect("a value encoded in the other codec decodes");
}

/// Decompress the input (after a two-byte limit) with `id`: the output never exceeds the
/// limit, a refusal names it; and the input compressed by us comes back whole if it is
/// within the limit and is refused as too large otherwise.
pub fn check_decompress(id: CompressionId, data: &[u8]) {
    let Some((limit, input)) = data.split_first_chunk::<2>() else {
        return;
    };
    let limit = usize::from(u16::from_be_bytes(*limit));
    match decompress(id, input, limit) {
        Ok(out) => assert!(out.len() <= limit, "{} bytes out, limit {limit}", out.len()),
        Err(CompressionError::TooLarge { limit: said }) => assert_eq!(said, limit),
        Err(_) => {}
    }
    let packed = compress(id, input).expect("compressing never fails");
    match decompress(id, &packed, limit) {
        Ok(out) => {
            assert!(input.len() <= limit);
            assert_eq!(&out[..], input);
        }
        Err(CompressionError::TooLarge { .. }) => assert!(input.len() > limit),
        Err(e) => panic!("our own {} output refused: {e}", id.name()),
    }
}
