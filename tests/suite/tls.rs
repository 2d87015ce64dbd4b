//! TLS (tls://, and the same certificates on wss:// and quic://): server certificates,
//! mutual TLS, clear errors for a wrong CA, an expired certificate or a wrong name, and the
//! handshake deadline.

use crate::support;

use std::time::Duration;

use erpc::transport::{ClientTls, ServerTls};
use erpc::{ClientConfig, Code, ServerConfig, TransportOptions};
use support::ca::{Ca, LOCAL};
use support::*;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

async fn serve(transport: &str, tls: ServerTls) -> (erpc::ServerHandle, Place) {
    let place = place(transport);
    let handle = erpc::Server::builder()
        .config(ServerConfig {
            transport: TransportOptions::default().server_tls(tls),
            ..ServerConfig::default()
        })
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve([place.addr.as_str()])
        .await
        .unwrap();
    (handle, place)
}

fn client_with(addr: &str, tls: ClientTls) -> EchoClient {
    EchoClient::new(
        erpc::Client::builder()
            .config(ClientConfig {
                transport: TransportOptions::default().client_tls(tls),
                ..ClientConfig::default()
            })
            .build(addr)
            .unwrap(),
    )
}

/// The first call's error, which must be `unavailable` naming the failed handshake.
async fn refused(client: &EchoClient) -> String {
    let err = client.len("x".into()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    err.message().to_owned()
}

#[tokio::test]
async fn a_certificate_from_a_trusted_ca_works_on_tls_wss_and_quic() {
    let ca = Ca::new("erpc test CA");
    for transport in ["tls", "wss", "quic"] {
        let (server, _place) = serve(transport, ca.server(&LOCAL, -1, 30)).await;
        let addr = server.local_addr().to_string();
        assert_eq!(
            client_with(&addr, ca.client())
                .len("abc".into())
                .await
                .unwrap(),
            3
        );
        // The certificate names localhost too: dialling by that name verifies against it.
        let by_name = addr.replace("127.0.0.1", "localhost");
        assert_eq!(
            client_with(&by_name, ca.client())
                .len("ab".into())
                .await
                .unwrap(),
            2
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn a_wrong_ca_is_refused_with_a_clear_error_on_every_tls_transport() {
    let ca = Ca::new("the real CA");
    let other = Ca::new("some other CA");
    for transport in ["tls", "wss", "quic"] {
        let (server, _place) = serve(transport, ca.server(&LOCAL, -1, 30)).await;
        let message = refused(&client_with(
            &server.local_addr().to_string(),
            other.client(),
        ))
        .await;
        assert!(
            message.contains("not signed by a CA this side trusts"),
            "{transport}: {message}"
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn an_expired_certificate_is_refused_with_a_clear_error() {
    let ca = Ca::new("erpc test CA");
    for transport in ["tls", "quic"] {
        let (server, _place) = serve(transport, ca.server(&LOCAL, -10, -1)).await;
        let message = refused(&client_with(&server.local_addr().to_string(), ca.client())).await;
        assert!(message.contains("expired"), "{transport}: {message}");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_with_a_clear_error() {
    let ca = Ca::new("erpc test CA");
    for transport in ["tls", "quic"] {
        let (server, _place) = serve(transport, ca.server(&["other.example"], -1, 30)).await;
        let addr = server.local_addr().to_string();
        let message = refused(&client_with(&addr, ca.client())).await;
        assert!(
            message.contains("not valid for the name"),
            "{transport}: {message}"
        );
        // Told which name to expect, the client accepts it.
        let named = client_with(&addr, ca.client().server_name("other.example"));
        assert_eq!(named.len("ok".into()).await.unwrap(), 2, "{transport}");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn mutual_tls_admits_only_clients_with_a_certificate_from_the_client_ca() {
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let stranger_ca = Ca::new("stranger CA");
    for transport in ["tls", "quic"] {
        let tls = server_ca.mutual_server(&client_ca);
        let (server, _place) = serve(transport, tls).await;
        let addr = server.local_addr().to_string();

        let member = server_ca.client_as(&client_ca, &["client-1"], -1, 30);
        assert_eq!(
            client_with(&addr, member).len("in".into()).await.unwrap(),
            2
        );

        // In TLS 1.3 the client finishes its handshake before the server has judged its
        // certificate, so the refusal arrives as the connection closing: `unavailable`.
        let anonymous = client_with(&addr, server_ca.client());
        let err = anonymous.len("x".into()).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{transport}: {err}");

        let stranger = server_ca.client_as(&stranger_ca, &["intruder"], -1, 30);
        let err = client_with(&addr, stranger)
            .len("x".into())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{transport}: {err}");
        server.shutdown().await;
    }
}

/// The subject of a peer's own certificate (the first of its chain), as `CN=…`.
fn subject(chain: &[bytes::Bytes]) -> Option<String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(chain.first()?).ok()?;
    Some(cert.subject().to_string())
}

#[tokio::test]
async fn a_connection_hook_serves_only_the_client_certificate_subject_it_names() {
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    for transport in ["tls", "wss", "quic"] {
        let tls = server_ca.mutual_server(&client_ca);
        let place = place(transport);
        let denials = Denials::default();
        let server = erpc::Server::builder()
            .config(ServerConfig {
                transport: TransportOptions::default().server_tls(tls),
                ..ServerConfig::default()
            })
            .add_service(EchoServer::new(EchoImpl::default()))
            .observer(denials.clone())
            .on_connect(|conn| match subject(conn.peer_certificates).as_deref() {
                Some("CN=alice") => Ok(()),
                other => Err(erpc::Status::permission_denied(format!(
                    "certificate subject {} may not connect",
                    other.unwrap_or("(none)")
                ))),
            })
            .serve([place.addr.as_str()])
            .await
            .unwrap();
        let addr = server.local_addr().to_string();
        let holder =
            |name: &str| client_with(&addr, server_ca.client_as(&client_ca, &[name], -1, 30));

        assert_eq!(
            holder("alice").len("in".into()).await.unwrap(),
            2,
            "{transport}"
        );
        // Bob's certificate is as valid as Alice's (the TLS handshake admits him); the hook
        // turns him away, and he is told why.
        let err = holder("bob").len("x".into()).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{transport}: {err}");
        assert!(
            err.message().contains("CN=bob may not connect"),
            "{transport}: {err}"
        );
        let denied = denials.seen();
        assert_eq!(denied.len(), 1, "{transport}: {denied:?}");
        assert_eq!(denied[0].0.scheme(), transport);
        assert!(denied[0].1.contains("CN=bob"), "{transport}: {denied:?}");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn a_silent_client_is_dropped_at_the_handshake_deadline_and_holds_up_no_one() {
    let ca = Ca::new("erpc test CA");
    for transport in ["tls", "wss"] {
        let place = place(transport);
        let server = erpc::Server::builder()
            .config(ServerConfig {
                transport: TransportOptions::default()
                    .server_tls(ca.server(&LOCAL, -1, 30))
                    .handshake_timeout(Duration::from_millis(300)),
                ..ServerConfig::default()
            })
            .add_service(EchoServer::new(EchoImpl::default()))
            .serve([place.addr.as_str()])
            .await
            .unwrap();
        let addr = server.local_addr().to_string();
        let hostport = server.local_addr().hostport().unwrap().to_owned();
        // Connect and say nothing at all.
        let mut silent: Vec<_> = Vec::new();
        for _ in 0..20 {
            silent.push(tokio::net::TcpStream::connect(&hostport).await.unwrap());
        }
        // Meanwhile others are served at once: with handshakes on the accept path this
        // client would queue behind the 20 silent ones (20 × 300 ms).
        let served = Instant::now();
        assert_eq!(
            client_with(&addr, ca.client())
                .len("ok".into())
                .await
                .unwrap(),
            2
        );
        assert!(
            served.elapsed() < Duration::from_secs(2),
            "{transport}: a good client waited {:?} behind silent ones",
            served.elapsed()
        );
        let started = Instant::now();
        for mut s in silent {
            let mut buf = [0u8; 16];
            let closed = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await;
            assert!(
                matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
                "{transport}: a silent client was not dropped: {closed:?}"
            );
        }
        assert!(started.elapsed() < Duration::from_secs(2), "{transport}");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn a_tls_client_without_roots_or_a_server_without_a_certificate_says_so() {
    let place = place("tls");
    let err = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve([place.addr.as_str()])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("tls:// needs a certificate"),
        "{err}"
    );
    let client = EchoClient::new(erpc::Client::new("tls://127.0.0.1:9").unwrap());
    let message = refused(&client).await;
    assert!(message.contains("tls:// needs TLS settings"), "{message}");
}
