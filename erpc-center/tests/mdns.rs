//! The mDNS registry on this machine's multicast: two responders in one process (one for
//! the providers, one for the consumer) find each other as two hosts on a LAN would.
//! Where multicast does not loop back on this machine the test says so and checks only what
//! needs no network (the TXT encoding, in the unit tests).

mod support;

use std::sync::Arc;
use std::time::Duration;

use erpc_center::mdns::MdnsRegistry;
use erpc_core::ServerHandle;

/// Whether a multicast datagram sent here comes back here.
fn multicast_loops_back() -> bool {
    use std::net::{Ipv4Addr, UdpSocket};
    let group = Ipv4Addr::new(239, 255, 77, 77);
    let Ok(rx) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) else {
        return false;
    };
    let Ok(port) = rx.local_addr().map(|a| a.port()) else {
        return false;
    };
    if rx
        .join_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED)
        .is_err()
        || rx.set_read_timeout(Some(Duration::from_secs(1))).is_err()
    {
        return false;
    }
    let Ok(tx) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) else {
        return false;
    };
    let _ = tx.set_multicast_loop_v4(true);
    if tx.send_to(b"erpc", (group, port)).is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(rx.recv_from(&mut buf), Ok((4, _)))
}

/// A service type of this test run's own, so that parallel runs on one LAN keep apart.
fn private_type() -> String {
    format!("_et{}._tcp.local.", std::process::id() % 1_000_000)
}

async fn provider(registry: &MdnsRegistry, name: &str) -> ServerHandle {
    support::provider(Arc::new(registry.clone()), name).await
}

#[tokio::test]
async fn providers_are_found_by_multicast_and_leave_with_a_goodbye() {
    if !multicast_loops_back() {
        eprintln!(
            "multicast does not loop back on this machine (no multicast interface?): mDNS cannot be exercised here"
        );
        return;
    }
    let ty = private_type();
    let providers = MdnsRegistry::with_type(&ty).unwrap();
    let consumers = MdnsRegistry::with_type(&ty).unwrap();
    let a = provider(&providers, "a").await;
    let b = provider(&providers, "b").await;
    let found = support::list_reaches(&consumers, 2, Duration::from_secs(10)).await;
    eprintln!("two providers found over mDNS after {found:?}");
    let client = support::consumer(&consumers).await;
    let names = support::answering(&client, 4).await;
    assert_eq!(names.len(), 2, "{names:?}");
    // A graceful shutdown says goodbye; receivers may keep the record up to a second (RFC
    // 6762 §10.1, in case the goodbye was a mistake another responder corrects).
    let a_addr = a.local_addrs().to_vec();
    a.shutdown().await;
    let gone = support::list_reaches(&consumers, 1, Duration::from_secs(5)).await;
    eprintln!("a goodbye reached the consumer after {gone:?}");
    // The one left must be b: a goodbye must not take a neighbour's records with it.
    let left: Vec<String> = support::subscribe(&consumers)
        .await
        .borrow()
        .iter()
        .map(|e| e.addr.to_string())
        .collect();
    assert_eq!(left, [b.local_addr().to_string()], "a was {a_addr:?}");
    assert!(gone < Duration::from_secs(3), "{gone:?}");
    for _ in 0..4 {
        assert_eq!(client.name().await.unwrap(), "b");
    }
    b.shutdown().await;
}
