//! Connection-level hooks (`ServerBuilder::on_connect`): a connection is served or turned
//! away at accept from who connects, before any frame of it is read; the peer learns why, and
//! the observer sees the denial. (By TLS client certificate: tests/suite/tls.rs.)

use crate::support;

use std::sync::{Arc, Mutex};

use erpc::{Code, PeerAddr, Status};
use support::*;

#[tokio::test]
async fn a_hook_turns_away_peers_by_address_and_the_observer_sees_it() {
    let (tcp, unix) = (place("tcp"), place("unix"));
    let denials = Denials::default();
    let locals = Arc::new(Mutex::new(Vec::new()));
    let echo = EchoImpl::default();
    // Only Unix-socket peers and one TCP address no test client has.
    let allowed: std::net::IpAddr = "192.0.2.7".parse().unwrap();
    let server = erpc::Server::builder()
        .add_service(EchoServer::new(echo))
        .observer(denials.clone())
        .on_connect({
            let locals = locals.clone();
            move |conn| {
                locals.lock().unwrap().push(conn.local.clone());
                match conn.peer {
                    PeerAddr::Unix(_) => Ok(()),
                    PeerAddr::Tcp(at) if at.ip() == allowed => Ok(()),
                    other => Err(Status::permission_denied(format!(
                        "{other} is not on the allow list"
                    ))),
                }
            }
        })
        .serve([tcp.addr.as_str(), unix.addr.as_str()])
        .await
        .unwrap();
    let (tcp_addr, unix_addr) = (&server.local_addrs()[0], &server.local_addrs()[1]);

    let err = client(&tcp_addr.to_string())
        .len("no".into())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");
    assert!(err.message().contains("is not on the allow list"), "{err}");
    let denied = denials.seen();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert!(matches!(denied[0].0, PeerAddr::Tcp(at) if at.ip().is_loopback()));
    assert!(
        denied[0].1.contains("is not on the allow list"),
        "{denied:?}"
    );

    assert_eq!(
        client(&unix_addr.to_string())
            .len("yes".into())
            .await
            .unwrap(),
        3
    );
    assert_eq!(denials.seen().len(), 1);
    // Each hook call saw the listener its peer came to.
    assert_eq!(
        *locals.lock().unwrap(),
        vec![tcp_addr.clone(), unix_addr.clone()]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn hooks_run_in_order_and_the_first_refusal_wins() {
    let place = place("tcp");
    let ran = Arc::new(Mutex::new(Vec::new()));
    let hook = |name: &'static str, verdict: Result<(), Status>| {
        let ran = ran.clone();
        move |_: &erpc::server::Connecting<'_>| {
            ran.lock().unwrap().push(name);
            verdict.clone()
        }
    };
    let server = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .on_connect(hook("first", Ok(())))
        .on_connect(hook(
            "second",
            Err(Status::unauthenticated("second says no")),
        ))
        .on_connect(hook("third", Err(Status::internal("never asked"))))
        .serve([place.addr.as_str()])
        .await
        .unwrap();
    let err = client(&server.local_addr().to_string())
        .len("x".into())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");
    assert!(err.message().contains("second says no"), "{err}");
    assert_eq!(*ran.lock().unwrap(), vec!["first", "second"]);
    server.shutdown().await;
}
