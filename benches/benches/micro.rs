//! Micro-benches: frame header and whole-frame encode/decode, each codec and compressor on the
//! benchmark message. `cargo bench -p erpc-benches --bench micro`.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use erpc::codec::compression::{self, CompressionId};
use erpc::protocol::{Decoded, Frame, FrameDecoder, HEADER_LEN, Header, Kind, Limits};
use erpc::{CodecId, Codecs, Message, Proto};
use erpc_benches::message::{Msg, PbMsg};

fn request_frame(body: Bytes) -> Frame {
    let mut frame = Frame::new(Kind::REQUEST, 42);
    frame.head.service = Some("Bench".into());
    frame.head.method = Some("echo".into());
    frame.head.deadline_micros = Some(10_000_000);
    frame.body = body;
    frame
}

fn protocol(c: &mut Criterion) {
    let mut g = c.benchmark_group("protocol");
    let header = request_frame(Bytes::new()).header;
    let mut buf = BytesMut::with_capacity(64);
    g.bench_function("header_encode", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&header).encode(&mut buf);
        })
    });
    let mut encoded = BytesMut::new();
    header.encode(&mut encoded);
    g.bench_function("header_decode", |b| {
        b.iter(|| Header::decode(black_box(&encoded[..HEADER_LEN])))
    });
    let frame = request_frame(Bytes::from(vec![7u8; 512]));
    g.throughput(Throughput::Elements(1));
    g.bench_function("frame_encode_512", |b| {
        let mut out = BytesMut::with_capacity(1024);
        b.iter(|| {
            out.clear();
            black_box(&frame).encode(&mut out).unwrap();
        })
    });
    let mut wire = BytesMut::new();
    frame.encode(&mut wire).unwrap();
    let wire = wire.freeze();
    g.bench_function("frame_decode_512", |b| {
        let mut decoder = FrameDecoder::new(Limits::default());
        b.iter(|| {
            let mut buf = BytesMut::from(&wire[..]);
            match decoder.decode(&mut buf) {
                Ok(Some(Decoded::Frame(f))) => black_box(f),
                _ => unreachable!(),
            }
        })
    });
    g.finish();
}

fn codecs(c: &mut Criterion) {
    let codecs = Codecs::default();
    let msg = Msg::new(7, 512);
    let mut g = c.benchmark_group("codec_512");
    for id in [CodecId::MSGPACK, CodecId::JSON] {
        let codec = codecs.get(id).unwrap();
        let mut out = BytesMut::with_capacity(2048);
        g.bench_function(format!("{}_encode", id.name()), |b| {
            b.iter(|| {
                out.clear();
                black_box(&msg).encode(codec, &mut out).unwrap();
            })
        });
        let mut body = BytesMut::new();
        msg.encode(codec, &mut body).unwrap();
        let body = body.freeze();
        g.bench_function(format!("{}_decode", id.name()), |b| {
            b.iter(|| Msg::decode(codec, black_box(body.clone())).unwrap())
        });
    }
    let pb = codecs.get(CodecId::PROTOBUF).unwrap();
    let proto = Proto(PbMsg::from(&msg));
    let mut out = BytesMut::with_capacity(2048);
    g.bench_function("protobuf_encode", |b| {
        b.iter(|| {
            out.clear();
            black_box(&proto).encode(pb, &mut out).unwrap();
        })
    });
    let mut body = BytesMut::new();
    proto.encode(pb, &mut body).unwrap();
    let body = body.freeze();
    g.bench_function("protobuf_decode", |b| {
        b.iter(|| Proto::<PbMsg>::decode(pb, black_box(body.clone())).unwrap())
    });
    g.finish();
}

fn compressors(c: &mut Criterion) {
    for size in [512usize, 64 << 10] {
        let codecs = Codecs::default();
        let mut body = BytesMut::new();
        Msg::new(7, size)
            .encode(codecs.get(CodecId::MSGPACK).unwrap(), &mut body)
            .unwrap();
        let mut g = c.benchmark_group(format!("compression_{size}"));
        g.throughput(Throughput::Bytes(body.len() as u64));
        for id in [
            CompressionId::GZIP,
            CompressionId::ZLIB,
            CompressionId::ZSTD,
        ] {
            g.bench_function(format!("{}_compress", id.name()), |b| {
                b.iter(|| compression::compress(id, black_box(&body)).unwrap())
            });
            let packed = compression::compress(id, &body).unwrap();
            g.bench_function(format!("{}_decompress", id.name()), |b| {
                b.iter(|| compression::decompress(id, black_box(&packed), 1 << 20).unwrap())
            });
        }
        g.finish();
    }
}

criterion_group!(benches, protocol, codecs, compressors);
criterion_main!(benches);
