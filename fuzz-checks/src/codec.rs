//! MessagePack and JSON bodies decoded into the types the center reads and answers with
//! (targets `codec_msgpack` and `codec_json`, one per codec so each reports its own figures).
//!
//! Invariants: whatever decodes encodes again, and stably (encode → decode → encode gives the
//! same bytes); whatever the center would carry also crosses to the other codec.

use bytes::{Bytes, BytesMut};
use erpc_center::{Change, ConfigListing, Event, Filter, Instance, Lease, Listing};
use erpc_codec::builtin::{Json, MsgPack};
use erpc_codec::{Codec, Message};

/// A MessagePack body (target `codec_msgpack`); panics on a violation.
pub fn msgpack(body: &[u8]) {
    check_codec(&MsgPack, &Json, body);
}

/// A JSON body (target `codec_json`); panics on a violation.
pub fn json(body: &[u8]) {
    check_codec(&Json, &MsgPack, body);
}

/// Decode `body` with `codec` into every type a center reads or answers with; whatever
/// decodes must encode again and decode again to something that encodes to the same bytes;
/// and whatever the center would carry (see [`carried`]) must travel in `other` too (a
/// center serves MessagePack and JSON clients alike).
fn check_codec(codec: &dyn Codec, other: &dyn Codec, body: &[u8]) {
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
