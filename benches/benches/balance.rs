//! The cost of one pick of each balancing policy over 3, 10 and 100 instances (BENCHMARKS.md
//! "Load balancing"): what every call to a discovered service pays before it is sent. The
//! candidate list is built once, as a client keeps it, so cached state (a hash ring, the
//! instances' ranks) is built once too, as in a client.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use erpc::Metadata;
use erpc::discovery::balance::{NO_STEER, hash_key};
use erpc::discovery::{
    Balancer, Candidates, ConsistentHash, Endpoint, Instance, LeastOutstanding, Load, Locality,
    Nearest, NetworkQuality, P2c, Pick, Random, RoundRobin, Weighted,
};

/// `n` instances spread over three zones, with positions.
fn fleet(n: usize) -> (Vec<Endpoint>, Vec<Arc<Load>>) {
    let endpoints = (0..n)
        .map(|i| {
            let mut instance = Instance::new(
                "bench",
                format!("i{i}"),
                format!("tcp://10.0.0.{}:7000", i % 250),
            );
            instance
                .metadata
                .insert("zone".into(), format!("z{}", i % 3));
            instance.location = Some((40.0 + (i % 10) as f64, (i % 7) as f64));
            instance.endpoint().expect("a valid address")
        })
        .collect::<Vec<_>>();
    let loads = endpoints.iter().map(|_| Arc::default()).collect();
    (endpoints, loads)
}

fn policies() -> Vec<(&'static str, Arc<dyn Balancer>)> {
    vec![
        ("round_robin", Arc::new(RoundRobin::default())),
        ("weighted", Arc::new(Weighted::default())),
        ("random", Arc::new(Random)),
        ("least_outstanding", Arc::new(LeastOutstanding::default())),
        ("p2c", Arc::new(P2c)),
        ("consistent_hash", Arc::new(ConsistentHash::default())),
        ("network_quality", Arc::new(NetworkQuality::default())),
        (
            "nearest",
            Arc::new(Nearest::new(Locality {
                zone: Some("z1".into()),
                region: None,
                dc: None,
                position: Some((48.85, 2.35)),
            })),
        ),
    ]
}

fn pick(c: &mut Criterion) {
    let metadata = Metadata::new();
    let mut group = c.benchmark_group("balance_pick");
    for n in [3, 10, 100] {
        let (endpoints, loads) = fleet(n);
        let candidates = Candidates::new(&endpoints, &loads);
        for (name, balancer) in policies() {
            let mut key = 0u64;
            group.bench_with_input(BenchmarkId::new(name, n), &candidates, |b, candidates| {
                b.iter(|| {
                    key = key.wrapping_add(1);
                    let call = Pick {
                        service: "bench",
                        method: "m",
                        metadata: &metadata,
                        hash_key: Some(hash_key(&key.to_le_bytes())),
                        steer: &NO_STEER,
                        retry: false,
                    };
                    black_box(balancer.pick(&call, candidates))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, pick);
criterion_main!(benches);
