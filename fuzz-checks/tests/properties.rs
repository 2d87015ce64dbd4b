//! Every fuzz target's invariant, in the normal test suite (RELIABILITY.md row 4): the same
//! functions the cargo-fuzz targets in `fuzz/` call, on the checked-in seeds
//! (`fuzz/seeds/TARGET/`, each must pass) and on `CASES` generated inputs per target — random
//! bytes, and seeds with random edits (overwritten, inserted and removed bytes, truncation),
//! which reach past the formats' magic bytes and length fields as a fuzzer's mutations do.
//! Not coverage-guided: `scripts/fuzz.sh` is the search; this keeps what it guards from
//! regressing between its runs. A failing case is shrunk and printed by proptest.

use std::path::PathBuf;

use erpc_fuzz_checks::{
    center_state, codec, decompress, frame_decoder, from_bytes, head_block, stream_flow,
    udp_datagram,
};
use proptest::prelude::*;
use proptest::sample::{Index, select};

/// Generated inputs per target: enough to exercise each format's paths, few enough that all
/// ten targets take a few seconds in a debug build.
const CASES: u32 = 300;

/// A fuzz target's invariant on the fuzzer's bytes.
type Check = fn(&[u8]);

/// Every target, its seed directory and the function its fuzz target calls.
const TARGETS: [(&str, Check); 10] = [
    ("frame_decoder", frame_decoder::check),
    ("head_block", head_block::check),
    ("codec_msgpack", codec::msgpack),
    ("codec_json", codec::json),
    ("decompress_gzip", decompress::gzip),
    ("decompress_zlib", decompress::zlib),
    ("decompress_zstd", decompress::zstd),
    ("stream_flow", typed_stream_flow),
    ("udp_datagram", typed_udp_datagram),
    ("center_state", typed_center_state),
];

fn typed_stream_flow(data: &[u8]) {
    if let Some(input) = from_bytes::<stream_flow::Input>(data) {
        stream_flow::check(input);
    }
}

fn typed_udp_datagram(data: &[u8]) {
    if let Some(input) = from_bytes::<udp_datagram::Input>(data) {
        udp_datagram::check(input);
    }
}

fn typed_center_state(data: &[u8]) {
    if let Some(input) = from_bytes::<center_state::Input>(data) {
        center_state::check(input);
    }
}

/// The checked-in seeds of `target` (`fuzz/seeds/TARGET/*`, sorted by name).
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// One edit of a seed: what to do (`op`), where (`at`) and with which byte.
type Edit = (u8, Index, u8);

fn mutate((mut seed, edits): (Vec<u8>, Vec<Edit>)) -> Vec<u8> {
    for (op, at, byte) in edits {
        let len = seed.len();
        match op {
            0 if len > 0 => seed[at.index(len)] = byte,
            1 => seed.insert(at.index(len + 1), byte),
            2 if len > 0 => {
                seed.remove(at.index(len));
            }
            3 => seed.truncate(at.index(len + 1)),
            _ => {}
        }
    }
    seed
}

/// Random bytes, or one of `target`'s seeds with up to eight random edits.
fn input(target: &str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..1024),
        (
            select(seeds(target)),
            proptest::collection::vec((0u8..4, any::<Index>(), any::<u8>()), 0..8),
        )
            .prop_map(mutate),
    ]
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        ..ProptestConfig::default()
    }
}

fn check_target(target: &str) -> Check {
    TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, check)| *check)
        .unwrap_or_else(|| panic!("no target {target}"))
}

#[test]
fn every_seed_passes_its_targets_invariants() {
    for (target, check) in TARGETS {
        for (i, seed) in seeds(target).iter().enumerate() {
            // Name the seed if it fails.
            eprintln!("{target}: seed {i} ({} bytes)", seed.len());
            check(seed);
        }
    }
}

#[test]
fn every_fuzz_target_has_a_property_test() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(&dir)
        .expect("fuzz/fuzz_targets")
        .map(|e| {
            let path = e.expect("an entry").path();
            let stem = path.file_stem().expect("a file name");
            stem.to_string_lossy().into_owned()
        })
        .collect();
    targets.sort();
    let mut covered: Vec<String> = TARGETS.iter().map(|(t, _)| t.to_string()).collect();
    covered.sort();
    assert_eq!(
        targets, covered,
        "fuzz targets without a property test here"
    );
}

/// A proptest per target, so each reports (and shrinks) on its own.
macro_rules! property {
    ($($name:ident),* $(,)?) => {$(
        proptest! {
            #![proptest_config(config())]
            #[test]
            fn $name(data in input(stringify!($name))) {
                check_target(stringify!($name))(&data);
            }
        }
    )*};
}

property!(
    frame_decoder,
    head_block,
    codec_msgpack,
    codec_json,
    decompress_gzip,
    decompress_zlib,
    decompress_zstd,
    stream_flow,
    udp_datagram,
    center_state,
);
