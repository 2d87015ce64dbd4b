//! CENTER.md's wire examples: every method's request and response, as MessagePack hex in the
//! document, decode to the values the document says and encode back to the same bytes — so
//! a client written from CENTER.md alone sends and reads exactly what the center does.

#[path = "../../tests/support/doc_vectors.rs"]
mod doc_vectors;

use std::collections::BTreeMap;
use std::fmt::Debug;

use erpc_center::{Change, ConfigListing, Event, Filter, Instance, Lease, Listing};
use erpc_codec::builtin::MsgPack;
use serde::Serialize;
use serde::de::DeserializeOwned;

const LEASE: u64 = 1_234_567;
const EPOCH: u64 = 4_242_424_242;

/// The instance in the examples, with every field set.
fn instance() -> Instance {
    Instance {
        service: "greeter".into(),
        id: "a".into(),
        addrs: vec!["tcp://10.0.0.5:7001".into()],
        weight: 100,
        version: "1.2".into(),
        group: "".into(),
        tags: vec!["ssd".into()],
        metadata: BTreeMap::from([("zone".into(), "eu-1".into())]),
        location: Some((48.85, 2.35)),
    }
}

/// A vector's check, when its `bytes` are given: they decode to `want`; unless they show a
/// shorter form the center also accepts (`exact` false), `want` encodes to exactly them.
/// Returns `want` encoded.
fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    name: &str,
    bytes: Option<&[u8]>,
    want: T,
    exact: bool,
) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    MsgPack::encode(&want, &mut out).unwrap();
    if let Some(bytes) = bytes {
        let got: T = MsgPack::decode(bytes).unwrap_or_else(|e| panic!("vector {name}: {e}"));
        assert_eq!(got, want, "vector {name} decodes to something else");
        if exact {
            assert_eq!(
                hex(&out),
                hex(bytes),
                "vector {name}: the center encodes it differently"
            );
        }
    }
    out.to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x} ")).collect()
}

/// Checks the vector `name` (if its `bytes` are given) against the value CENTER.md says it
/// is; returns that value encoded.
fn check_vector(name: &str, bytes: Option<&[u8]>) -> Vec<u8> {
    match name {
        "register-request" => check(name, bytes, (instance(), 10_000u64), true),
        "register-request-minimal" => {
            let minimal = Instance::new("greeter", "a", "tcp://10.0.0.5:7001");
            assert_eq!(minimal.weight, 100);
            check(name, bytes, (minimal, 10_000u64), false)
        }
        "register-response" => {
            let lease = Lease {
                id: LEASE,
                ttl_ms: 10_000,
                revision: 7,
            };
            check(name, bytes, lease, true)
        }
        "renew-request" | "release-request" => check(name, bytes, LEASE, true),
        "renew-response" => check(name, bytes, 10_000u64, true),
        "deregister-request" => check(name, bytes, ("greeter".to_owned(), "a".to_owned()), true),
        "deregister-response" | "release-response" => check(name, bytes, 8u64, true),
        "discover-request" => {
            let filter = Filter {
                group: Some("canary".into()),
                version: None,
                tags: vec!["ssd".into()],
            };
            check(name, bytes, ("greeter".to_owned(), filter), true)
        }
        "discover-request-minimal" => check(
            name,
            bytes,
            ("greeter".to_owned(), Filter::default()),
            false,
        ),
        "discover-response" => {
            let listing = Listing {
                instances: vec![instance()],
                revision: 7,
                epoch: EPOCH,
            };
            check(name, bytes, listing, true)
        }
        "watch-request" => check(name, bytes, ("greeter".to_owned(), 7u64, EPOCH), true),
        "watch-response" => {
            let event = Event {
                revision: 8,
                change: Change::Deregistered {
                    service: "greeter".into(),
                    id: "a".into(),
                    reason: "deregistered".into(),
                },
            };
            check(name, bytes, event, true)
        }
        "watch-response-registered" => {
            let event = Event {
                revision: 7,
                change: Change::Registered(Instance::new("greeter", "b", "tcp://10.0.0.6:7001")),
            };
            check(name, bytes, event, true)
        }
        "config_set-request" => check(name, bytes, ("app/limit".to_owned(), "10".to_owned()), true),
        "config_set-response" => check(name, bytes, 9u64, true),
        "config_delete-request" => check(name, bytes, "app/limit".to_owned(), true),
        "config_delete-response" => check(name, bytes, 10u64, true),
        "config_get-request" => check(name, bytes, "app/".to_owned(), true),
        "config_get-response" => {
            let listing = ConfigListing {
                entries: vec![("app/limit".into(), "10".into())],
                revision: 9,
                epoch: EPOCH,
            };
            check(name, bytes, listing, true)
        }
        "config_watch-request" => check(name, bytes, ("app/".to_owned(), 9u64, EPOCH), true),
        "config_watch-response" => {
            let event = Event {
                revision: 9,
                change: Change::ConfigSet {
                    key: "app/limit".into(),
                    value: "10".into(),
                },
            };
            check(name, bytes, event, true)
        }
        "config_watch-response-deleted" => {
            let event = Event {
                revision: 10,
                change: Change::ConfigDeleted {
                    key: "app/limit".into(),
                },
            };
            check(name, bytes, event, true)
        }
        other => panic!("CENTER.md has a vector {other:?} this test does not know"),
    }
}

/// Every method of `erpc.Center`.
const METHODS: [&str; 10] = [
    "register",
    "renew",
    "deregister",
    "release",
    "discover",
    "watch",
    "config_set",
    "config_delete",
    "config_get",
    "config_watch",
];

fn center_md() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../CENTER.md"))
        .expect("CENTER.md at the repository root")
}

#[test]
fn center_md_shows_every_method_on_the_wire_byte_for_byte() {
    let vectors = doc_vectors::vectors(&center_md());
    for method in METHODS {
        for side in ["request", "response"] {
            let name = format!("{method}-{side}");
            assert!(
                vectors.iter().any(|(n, _)| *n == name),
                "CENTER.md lacks the {name} vector"
            );
        }
    }
    for (name, bytes) in &vectors {
        check_vector(name, Some(bytes));
    }
}

/// The bytes of every vector CENTER.md has, as this code encodes them, to paste (and
/// annotate) there: `cargo test -p erpc-center --test wire -- --ignored --nocapture`.
#[test]
#[ignore]
fn print_vectors() {
    for (name, _) in doc_vectors::vectors(&center_md()) {
        println!("{name}: {}", hex(&check_vector(&name, None)));
    }
}

/// "Structs are maps keyed by field name, in any order; unknown keys are ignored"; "numbers
/// … any MessagePack width".
#[test]
fn maps_in_any_order_with_unknown_keys_and_wide_numbers_decode() {
    let hex = |s: &str| {
        s.as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let body = format!(
        "92 84 a5{} 91 b3{} a2{} a1{} a7{} a7{} a5{} c3 cf 00 00 00 00 00 00 27 10",
        hex("addrs"),
        hex("tcp://10.0.0.5:7001"),
        hex("id"),
        hex("a"),
        hex("service"),
        hex("greeter"),
        hex("extra"),
    );
    let bytes: Vec<u8> = body
        .split_whitespace()
        .flat_map(|chunk| {
            (0..chunk.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&chunk[i..i + 2], 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let (instance, ttl): (Instance, u64) = MsgPack::decode(&bytes).unwrap();
    assert_eq!(
        instance,
        Instance::new("greeter", "a", "tcp://10.0.0.5:7001")
    );
    assert_eq!(ttl, 10_000);
}
